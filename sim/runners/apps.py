"""lpdev's built-in dev runner apps (aiohttp), one per kind. They need no GPU and behave like the SDK examples:

* ``noop`` (persistent): any path answers JSON ``{runner_route, session_id, method, path, query, echo,
  livepeer_headers}`` — the request as the runner saw it, with the four ``Livepeer-*`` headers the orchestrator
  added; ``POST /bytes`` streams the request body straight back (the proxy benchmark uses it); ``GET /ws`` is a
  WebSocket that answers each message with ``echo:<message>``.
* ``echo`` (persistent, capacity 1 like the SDK's echo example): ``POST /echo`` opens two trickle channels
  ``in`` / ``out`` through the session callback (``Livepeer-Session-Control`` + ``Livepeer-Session-Token``) and
  copies every ``in`` segment to ``out`` byte for byte until ``in`` ends; answers ``{session, in, out}`` (public
  URLs); a second session while one runs gets 409.
* ``text`` (single-shot, like the SDK's text example): ``GET /text`` streams a story in chunks, ``GET /sse`` one
  ``data:`` event per line.

Every kind answers ``GET /healthz`` (a static runner's ``health_url``): 200 ``{"ok":true}``, or 503 ``{"ok":false}``
after :func:`set_healthy` ``(app, False)`` -- a runner that is up but reports itself unhealthy.
"""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

from sim.trickle.client import ChannelGone, TrickleError, TricklePublisher, TrickleSubscriber
from sim.wire import bounded

__all__ = ["KINDS", "make_app", "set_healthy", "STORY"]

log = logging.getLogger("lpdev.runners")

STORY = ("The runner woke at 2 a.m. to a failing payment. It read the orchestrator's answer twice: 402, then a "
         "challenge with fresh ticket params. It asked the signer for a payment, retried, and the session was "
         "reserved. The proxy carried every byte, and the tickets that won were redeemed on chain.\n") * 3

_LP_HEADERS = ("Livepeer-Runner-Route", "Livepeer-Session-Id", "Livepeer-Session-Token", "Livepeer-Session-Control")


def _session_headers(request: web.Request) -> dict[str, str]:
    return {h: request.headers.get(h, "") for h in _LP_HEADERS}


# ------------------------------------------------------------------------------------------------ noop
async def _noop(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    try:
        echo = json.loads(body) if body else None
    except ValueError:
        echo = body.decode("utf-8", "replace")
    h = _session_headers(request)
    return web.json_response({"runner_route": h["Livepeer-Runner-Route"], "session_id": h["Livepeer-Session-Id"],
                              "method": request.method, "path": request.path, "query": request.query_string,
                              "echo": echo, "livepeer_headers": sorted(k for k, v in h.items() if v)})


async def _bytes(request: web.Request) -> web.StreamResponse:
    """Stream the request body back as it arrives (no buffering)."""
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if request.content_length is not None:
        resp.content_length = request.content_length
    await resp.prepare(request)
    async for chunk in request.content.iter_chunked(256 * 1024):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def _ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str("echo:" + msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def _noop_app() -> web.Application:
    app = web.Application(client_max_size=0)
    app.router.add_post("/bytes", _bytes)
    app.router.add_get("/ws", _ws)
    app.router.add_route("*", "/{tail:.*}", _noop)
    return app


# ------------------------------------------------------------------------------------------------ echo
_CALLBACK_TIMEOUT_S = 30.0  # the session callback (POST {control}/channels)


class _Echo:
    def __init__(self) -> None:
        self.session: str | None = None
        self.task: asyncio.Task | None = None
        self.urls: dict = {}
        self.segments = 0
        self._starting = asyncio.Lock()

    async def start(self, request: web.Request) -> web.StreamResponse:
        h = _session_headers(request)
        sid, token, control = h["Livepeer-Session-Id"], h["Livepeer-Session-Token"], h["Livepeer-Session-Control"]
        if not sid or not token or not control:
            raise web.HTTPBadRequest(text="missing Livepeer-Session-Id/-Token/-Control headers "
                                          "(call this runner through the orchestrator's proxy)")
        await request.read()
        # one start at a time: two sessions starting at once used to both pass the "already running" check while
        # their channels were being opened, and the second replaced the first's pump (left running, untracked)
        async with self._starting:
            if self.session is not None and self.task is not None and not self.task.done():
                if self.session != sid:
                    raise web.HTTPConflict(text="echo runner already has an active session")
                return web.json_response(self.urls)
            urls, src, dst = await self._open_channels(control, token)
            self.session, self.segments, self.urls = sid, 0, {"session": sid, **urls}
            self.task = asyncio.get_running_loop().create_task(self._pump(sid, src, dst), name=f"echo-{sid}")
        log.info("started echo session %s", sid)
        return web.json_response(self.urls)

    @staticmethod
    async def _open_channels(control: str, token: str) -> tuple[dict, str, str]:
        """``in`` / ``out`` through the session callback: (public URLs, the URL to read ``in``, to write ``out``);
        the orchestrator's answer is read bounded, and a refusal or an unusable answer is a 502 naming it."""
        what = "the orchestrator's channels answer"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                         timeout=aiohttp.ClientTimeout(total=_CALLBACK_TIMEOUT_S)) as http:
            async with http.post(control.rstrip("/") + "/channels", headers={"Livepeer-Session-Token": token},
                                 json={"channels": [{"name": "in", "mime_type": "video/mp2t"},
                                                    {"name": "out", "mime_type": "video/mp2t"}]}) as r:
                try:
                    status, raw = r.status, await bounded.read_reply(r, what=what)
                except bounded.BoundedInputError as exc:
                    raise web.HTTPBadGateway(text=str(exc)) from None
        if status != 200:
            raise web.HTTPBadGateway(text=f"orchestrator refused the channels: {status} "
                                          f"{raw.decode('utf-8', 'replace').strip()}")
        try:
            chans = {c["name"]: c for c in bounded.loads_json(raw, what=what)["channels"]}
            ins, out = chans["in"], chans["out"]
            urls = {"in": ins["url"], "out": out["url"]}
            return urls, ins.get("internal_url") or ins["url"], out.get("internal_url") or out["url"]
        except (bounded.BoundedInputError, KeyError, TypeError, AttributeError) as exc:
            raise web.HTTPBadGateway(text=f"{what} is unusable: {exc!r}") from None

    async def _pump(self, sid: str, src: str, dst: str) -> None:
        pub = TricklePublisher(dst)
        try:
            async with TrickleSubscriber(src, start_seq=0) as sub:
                while True:
                    got = await sub.next()
                    if got is None:
                        return
                    await pub.publish(got[1])
                    self.segments += 1
        except (ChannelGone, TrickleError, aiohttp.ClientError, OSError) as exc:
            log.info("echo session %s ended: %s", sid, exc)
        finally:
            await pub.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except BaseException:  # noqa: BLE001
                pass


ECHO_KEY = web.AppKey("echo", _Echo)


def _echo_app() -> web.Application:
    app = web.Application()
    echo = _Echo()
    app[ECHO_KEY] = echo
    app.router.add_post("/echo", echo.start)

    async def cleanup(_app):
        await echo.stop()

    app.on_cleanup.append(cleanup)
    return app


# ------------------------------------------------------------------------------------------------ text
def _text_app(char_delay_s: float = 0.002, line_delay_s: float = 0.05) -> web.Application:
    async def text(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for i in range(0, len(STORY), 16):
            await resp.write(STORY[i:i + 16].encode())
            await asyncio.sleep(char_delay_s * 16)
        await resp.write_eof()
        return resp

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for line in STORY.split(". "):
            await resp.write(f"data: {line.strip()}\n\n".encode())
            await asyncio.sleep(line_delay_s)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/text", text)
    app.router.add_get("/sse", sse)
    return app


# kind -> (app factory, default app id, mode, default capacity)
KINDS = {
    "noop": (_noop_app, "lpdev/noop", "persistent", 4),
    "echo": (_echo_app, "lpdev/echo", "persistent", 1),
    "text": (_text_app, "lpdev/text", "single-shot", 10),
}


HEALTH_KEY = web.AppKey("health", dict)


@web.middleware
async def _health(request: web.Request, handler):
    """``GET /healthz`` on every kind, before its own routes (noop answers every other path itself)."""
    if request.path == "/healthz" and request.method in ("GET", "HEAD"):
        ok = request.app[HEALTH_KEY]["ok"]
        return web.json_response({"ok": ok}, status=200 if ok else 503)
    return await handler(request)


def make_app(kind: str) -> web.Application:
    if kind not in KINDS:
        raise ValueError(f"unknown dev runner {kind!r}: choose one of {', '.join(sorted(KINDS))}")
    app = KINDS[kind][0]()
    app.middlewares.append(_health)
    app[HEALTH_KEY] = {"ok": True}  # a mutable cell: the app is frozen once served
    return app


def set_healthy(app: web.Application, ok: bool) -> None:
    """What the app's ``GET /healthz`` answers from now on: 200 (``ok``) or 503."""
    app[HEALTH_KEY]["ok"] = bool(ok)
