"""The signer's auth webhook answering from a script (scenarios' ``webhook:`` replies), on a loopback port."""
from __future__ import annotations

import json

from aiohttp import web

from sim.events import EventBus
from sim.wire import bounded

__all__ = ["ScriptedWebhook"]


class ScriptedWebhook:
    """The signer's auth webhook (docs/remote-signer.md#auth-webhook-and-caller-identity) answering from a script: reply
    i for call i, the last reply repeats. A reply is the JSON body, plus optional ``http_status`` (transport status,
    default 200) and ``expiry_in`` (seconds from now on the stack's clock, becomes ``expiry``)."""

    def __init__(self, name: str, replies: list[dict], bus: EventBus, clock) -> None:
        self.name, self.replies, self.bus, self.clock = name, list(replies), bus, clock
        self.calls = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        i = min(self.calls, len(self.replies) - 1)
        self.calls += 1
        reply = dict(self.replies[i]) if self.replies else {"status": 200}
        http_status = int(reply.pop("http_status", 200))
        if "expiry_in" in reply:
            reply["expiry"] = int(self.clock.now()) + int(reply.pop("expiry_in"))
        try:
            state = bounded.loads_json(body, what="webhook request").get("state", {})
        except (bounded.BoundedInputError, AttributeError):
            state = {}
        self.bus.emit(self.name, "stack.webhook", call=self.calls, reply=reply, http_status=http_status,
                      state_seq=state.get("SequenceNumber"))
        return web.Response(status=http_status, body=json.dumps(reply).encode(),
                            content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}/webhook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
