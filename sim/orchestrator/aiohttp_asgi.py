"""Serve an ASGI app (HTTP and WebSocket) on aiohttp's server: the orchestrator's plain-HTTP entry.

The TLS port stays on Hypercorn (gRPC needs HTTP/2); the cleartext HTTP/1.1 entry runs on aiohttp, whose C HTTP
parser carries about twice Hypercorn's requests per second, which the Live Runner proxy needs (``lpdev bench
runner``). The app sees ordinary ASGI scopes (``scheme`` ``http`` / ``ws``), so every route is the same code on
both entries.

Mapping: request body chunks become ``http.request`` messages as they arrive (backpressure: the next chunk is read
when the app asks); ``http.response.start`` / ``body`` become a streamed response (``Content-Length`` when the app
gives one, else chunked). A client that goes away is an ``http.disconnect`` / ``websocket.disconnect`` for the app,
as Hypercorn reports it (aiohttp cancels the handler; the app itself is shielded from that cancellation, told, and
given a few seconds to finish), and sends after it are dropped. WebSocket: the app's ``websocket.accept`` completes
the upgrade; ``websocket.http.response.*`` (denial) answers plain HTTP; messages are bounded as Hypercorn bounds
them (``sim.serving.WS_MAX_MESSAGE``, else 1009) and at most ``WS_QUEUE`` wait for the app, then the socket is not
read (backpressure).
"""
from __future__ import annotations

import asyncio
import socket

from aiohttp import WSMsgType, web

from sim.serving import DEFAULT_LIMITS, WS_MAX_MESSAGE, WS_QUEUE, ServerLimits, aiohttp_runner

__all__ = ["AsgiBridge", "serve"]

_GRACE_S = 5.0  # how long an app may take to finish after its client left
_WHOLE_BODY = 256 * 1024  # request bodies up to this size (with a Content-Length) are handed over in one message


class AsgiBridge:
    def __init__(self, app) -> None:
        self.app = app

    @staticmethod
    def _scope(request: web.Request, kind: str, scheme: str) -> dict:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        sock = transport.get_extra_info("sockname") if transport else None
        raw_path, _, query = request.raw_path.partition("?")
        return {
            "type": kind, "asgi": {"version": "3.0"},
            "http_version": f"{request.version.major}.{request.version.minor}",
            "method": request.method, "scheme": scheme, "path": request.path,
            "raw_path": raw_path.encode("latin-1", "replace"), "query_string": query.encode("latin-1", "replace"),
            "root_path": "", "headers": [(k.lower(), v) for k, v in request.raw_headers],
            "client": tuple(peer[:2]) if peer else None, "server": tuple(sock[:2]) if sock else None,
            "extensions": {"websocket.http.response": {}} if kind == "websocket" else {},
        }

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._http(request)

    @staticmethod
    async def _run(app_coro, on_gone) -> None:
        """Run the app shielded from aiohttp's handler cancellation: on a lost client, ``on_gone()`` tells the app
        (a disconnect message) and it gets a few seconds to clean up before the handler ends."""
        task = asyncio.ensure_future(app_coro)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                on_gone()
                try:
                    await asyncio.wait_for(asyncio.shield(task), _GRACE_S)
                except BaseException:  # noqa: BLE001 - out of time: take it down
                    task.cancel()
            raise

    async def _http(self, request: web.Request) -> web.StreamResponse:
        scope = self._scope(request, "http", "http")
        body_done = False
        gone = asyncio.get_running_loop().create_future()
        resp: web.StreamResponse | None = None
        pending: dict = {}
        finished = False

        async def receive():
            nonlocal body_done
            if gone.done():
                return {"type": "http.disconnect"}
            if body_done:
                await asyncio.shield(gone)  # nothing more to read: the next message is the client leaving
                return {"type": "http.disconnect"}
            if request.content_length is not None and request.content_length <= _WHOLE_BODY:
                body_done = True  # a small body: one message (one write upstream)
                return {"type": "http.request", "body": await request.read(), "more_body": False}
            chunk = await request.content.readany()
            if not chunk or request.content.at_eof():
                body_done = True
                return {"type": "http.request", "body": chunk, "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(msg):
            nonlocal resp, finished
            if gone.done():
                return  # the client left: drop it, as Hypercorn does
            t = msg["type"]
            if t == "http.response.start":
                pending["status"] = msg["status"]
                pending["headers"] = msg.get("headers") or []
                return
            if t != "http.response.body":
                return
            body, more = msg.get("body", b""), msg.get("more_body", False)
            if resp is None and not more:  # the whole answer in one message: headers and body in one write
                resp = web.Response(status=pending.get("status", 200), body=body)
                for k, v in pending.get("headers", ()):
                    if k.lower() != b"content-length":
                        resp.headers.add(k.decode("latin-1"), v.decode("latin-1"))
                if "Content-Type" not in resp.headers:
                    resp.headers["Content-Type"] = "application/octet-stream"
                finished = True
                return
            if resp is None:
                resp = web.StreamResponse(status=pending.get("status", 200))
                length = None
                for k, v in pending.get("headers", ()):
                    name = k.decode("latin-1")
                    value = v.decode("latin-1")
                    if name.lower() == "content-length":
                        length = int(value)
                        continue
                    resp.headers.add(name, value)
                if length is not None:
                    resp.content_length = length
                elif not more:
                    resp.content_length = len(body)
                await resp.prepare(request)
            try:
                if body:
                    await resp.write(body)
                if not more:
                    await resp.write_eof()
                    finished = True
            except ConnectionError:
                if not gone.done():
                    gone.set_result(None)

        def on_gone():
            if not gone.done():
                gone.set_result(None)

        await self._run(self.app(scope, receive, send), on_gone)
        if resp is not None and not finished:
            # the app ended mid-body (e.g. a proxied request cancelled): cut the connection so the client sees an
            # incomplete response, never a complete-looking one (go: http.ErrAbortHandler; Hypercorn does the same)
            request.protocol.force_close()
        if resp is None:  # the app answered nothing (should not happen): an empty 500 like an ASGI server
            resp = web.Response(status=500)
        return resp

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        scope = self._scope(request, "websocket", "ws")
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        scope["subprotocols"] = protocols
        state: dict = {"connected": False, "ws": None, "denial": None}
        queue: asyncio.Queue = asyncio.Queue(WS_QUEUE)  # bounded: a full queue stops the pump reading the socket
        queue.put_nowait({"type": "websocket.connect"})

        def client_gone() -> None:
            while queue.full():  # the client is gone: make room for the news (what it sent last goes nowhere)
                queue.get_nowait()
            queue.put_nowait({"type": "websocket.disconnect", "code": 1006})

        async def pump(ws: web.WebSocketResponse):
            async for m in ws:
                if m.type == WSMsgType.TEXT:
                    await queue.put({"type": "websocket.receive", "text": m.data})
                elif m.type == WSMsgType.BINARY:
                    await queue.put({"type": "websocket.receive", "bytes": m.data})
            await queue.put({"type": "websocket.disconnect", "code": ws.close_code or 1000})

        async def receive():
            return await queue.get()

        async def send(msg):
            t = msg["type"]
            if t == "websocket.accept":
                ws = web.WebSocketResponse(protocols=[msg["subprotocol"]] if msg.get("subprotocol") else (),
                                           autoping=True, max_msg_size=WS_MAX_MESSAGE + 1)  # aiohttp: < limit
                await ws.prepare(request)
                state["ws"] = ws
                state["pump"] = asyncio.ensure_future(pump(ws))
            elif t == "websocket.send" and state["ws"] is not None:
                if msg.get("text") is not None:
                    await state["ws"].send_str(msg["text"])
                else:
                    await state["ws"].send_bytes(msg.get("bytes") or b"")
            elif t == "websocket.close":
                if state["ws"] is not None:
                    await state["ws"].close(code=msg.get("code", 1000))
                else:
                    state["denial"] = web.Response(status=403)
            elif t == "websocket.http.response.start":
                state["denial"] = web.StreamResponse(status=msg["status"])
                for k, v in msg.get("headers") or ():
                    if k.lower() != b"content-length":
                        state["denial"].headers.add(k.decode("latin-1"), v.decode("latin-1"))
                state["denial_body"] = b""
            elif t == "websocket.http.response.body":
                state["denial_body"] = state.get("denial_body", b"") + msg.get("body", b"")

        try:
            await self._run(self.app(scope, receive, send), client_gone)
        finally:
            if state.get("pump") is not None:
                state["pump"].cancel()
        if state["ws"] is not None:
            if not state["ws"].closed:
                await state["ws"].close()
            return state["ws"]
        denial = state["denial"]
        if isinstance(denial, web.StreamResponse) and not isinstance(denial, web.Response):
            body = state.get("denial_body", b"")
            denial.content_length = len(body)
            await denial.prepare(request)
            await denial.write(body)
            await denial.write_eof()
            return denial
        return denial or web.Response(status=500)


async def serve(app, sock: socket.socket, *, limits: ServerLimits = DEFAULT_LIMITS) -> web.AppRunner:
    """Serve ``app`` on the listening ``sock`` (HTTP/1.1, WebSocket) within ``limits`` (header, body and idle
    timeouts, the connection cap: :func:`sim.serving.aiohttp_runner`; the app's body reads see ``limits`` through
    :func:`sim.serving.current_limits`); returns the runner (``await r.cleanup()``)."""
    bridge = AsgiBridge(app)
    aio = web.Application(client_max_size=0)
    aio.router.add_route("*", "/{tail:.*}", bridge.__call__)
    runner = aiohttp_runner(aio, limits=limits, handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner
