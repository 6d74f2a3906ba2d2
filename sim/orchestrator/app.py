"""The orchestrator's ASGI app: one port for gRPC and HTTP, like go-livepeer's ``lphttp.ServeHTTP``
(docs/wire.md#transport).

Routing, in order:

1. HTTP/2 with ``content-type: application/grpc…`` → the unary gRPC handler (``net.Orchestrator``);
2. ``/admin/…`` → loopback-only admin API (status, fault knobs, redeem now, rotate certificate), which also refuses
   what a web page could send it (a foreign ``Origin`` or ``Host`` — DNS rebinding — or a write that is not
   ``Content-Type: application/json``);
3. the fault knobs ``delay_s`` / ``drop_connection`` apply to everything below;
4. exact routes: ``/payment`` (any method), ``POST /refresh-payment``;
5. mounted sub-apps by path prefix (:meth:`OrchestratorApp.mount`), longest prefix first — e.g. the trickle
   server at ``/ai/trickle/``, the LV2V job route at ``/live-video-to-video`` and the Live Runner routes. A sub-app
   gets the scope unchanged (full path);
6. else ``404 page not found`` (Go's mux text).

Request bodies are read with :func:`sim.serving.read_body` (size and time bounded: 413 / 408) and JSON bodies parsed
with :mod:`sim.wire.bounded` (400 naming the problem).
WebSocket upgrades go to the mounted sub-apps that take them (``accepts_websocket = True``: the Live Runner
proxy); any other upgrade is refused with ``404 page not found``.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from sim.orchestrator.faults import FaultError
from sim.orchestrator.grpc_asgi import UNKNOWN, GrpcStatus, serve_unary
from sim.orchestrator.node import HttpReply, Orchestrator, RpcError
from sim.events import jsonable
from sim.pm.money import format_wei
from sim.serving import BodyTimeout
from sim.serving import read_body as _read_body
from sim.wire import bounded
from sim.wire import lp_rpc_pb2 as pb

__all__ = ["OrchestratorApp", "MAX_BODY", "read_body", "parse_json_body"]

MAX_BODY = bounded.MAX_BYTES
LOOPBACK = ("127.0.0.1", "::1", "localhost")
ADMIN_MAX_BODY = 64 * 1024

Handler = Callable[[dict, bytes], Awaitable[HttpReply]]


def header(scope, name: bytes) -> str | None:
    """First value of a request header (Go ``Header.Get``), latin-1 decoded."""
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


async def read_body(receive, limit: int = MAX_BODY) -> bytes | None:
    """The request body, or None if it is larger than ``limit``; :class:`sim.serving.BodyTimeout` (answered 408
    by the app) when it does not arrive within the server's body timeout."""
    return await _read_body(receive, limit)


def parse_json_body(body: bytes, what: str = "body"):
    """A route's JSON request body through the one bounded parser: (value, None) or (None, the problem)."""
    try:
        return bounded.loads_json(body, what=what), None
    except bounded.BoundedInputError as exc:
        return None, str(exc)


async def respond(send, reply: HttpReply, extra_headers: list | None = None) -> None:
    headers = [(b"content-length", str(len(reply.body)).encode())]
    if reply.content_type:
        headers.append((b"content-type", reply.content_type.encode()))
    headers.extend(extra_headers or [])
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


class OrchestratorApp:
    def __init__(self, orch: Orchestrator, *, on_rotate_certificate: Callable[[], dict] | None = None,
                 on_redeem: Callable[[], Awaitable[dict]] | None = None) -> None:
        self.orch = orch
        self.on_rotate_certificate = on_rotate_certificate
        self.on_redeem = on_redeem
        self._mounts: list[tuple[str, Callable]] = []
        self.grpc_methods = {
            "/net.Orchestrator/GetOrchestrator": (pb.OrchestratorRequest, self._rpc(orch.get_orchestrator)),
            "/net.Orchestrator/Ping": (pb.PingPong, self._rpc(orch.ping)),
            "/net.Orchestrator/EndTranscodingSession": (pb.EndTranscodingSessionRequest,
                                                        self._rpc(orch.end_transcoding_session)),
        }

    # ------------------------------------------------------------------ extension point
    def mount(self, prefix: str, app) -> None:
        """Serve every path starting with ``prefix`` by the ASGI ``app`` (longest prefix wins)."""
        self._mounts.append((prefix, app))
        self._mounts.sort(key=lambda m: -len(m[0]))

    @staticmethod
    def _rpc(fn):
        async def call(req):
            try:
                return await asyncio.to_thread(fn, req)
            except RpcError as exc:
                raise GrpcStatus(UNKNOWN, str(exc)) from None
            except Exception as exc:  # e.g. the chain is unreachable: a Go error would surface as UNKNOWN too
                raise GrpcStatus(UNKNOWN, f"{type(exc).__name__}: {exc}") from None
        return call

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        try:
            if path.startswith("/admin/"):
                await self._admin(scope, receive, send)
                return
            ctype = header(scope, b"content-type") or ""
            is_grpc = scope.get("http_version") == "2" and ctype.startswith("application/grpc")
            faults = self.orch.faults
            if faults.delay_s > 0:
                await asyncio.sleep(faults.delay_s)
            if faults.drop_connection:
                await self._drop(send)
                return
            if is_grpc:
                await serve_unary(scope, receive, send, self.grpc_methods)
                return
            await self._http(scope, receive, send)
        except ConnectionError:
            return
        except BodyTimeout as exc:
            await respond(send, HttpReply.text(408, str(exc)), [(b"connection", b"close")]
                          if scope.get("http_version") in ("1.0", "1.1") else None)

    async def _websocket(self, scope, receive, send) -> None:
        for prefix, app in self._mounts:
            if scope["path"].startswith(prefix) and getattr(app, "accepts_websocket", False):
                try:
                    await app(scope, receive, send)
                except ConnectionError:
                    pass
                return
        await receive()  # websocket.connect
        if "websocket.http.response" in (scope.get("extensions") or {}):
            body = b"404 page not found\n"
            await send({"type": "websocket.http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def _drop(self, send) -> None:
        # Start a response that promises more than it sends, then abort: the client sees the connection
        # (HTTP/1.1) or stream (HTTP/2) cut mid-response.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        # returning now, with the body unsent, makes Hypercorn close the stream / connection

    async def _http(self, scope, receive, send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/payment":
            await read_body(receive)  # ignored, like Go
            reject = self.orch.faults.reject_payments
            if reject:
                await respond(send, HttpReply.text(reject["status"], reject["message"]))
                return
            reply, _, _ = await asyncio.to_thread(
                self.orch.payment_from_headers, header(scope, b"livepeer-payment"),
                header(scope, b"livepeer-segment"))
            await respond(send, reply)
            return
        if path == "/refresh-payment":
            if method != "POST":
                await respond(send, HttpReply.text(405, "Method Not Allowed"), [(b"allow", b"POST")])
                return
            body = await read_body(receive)
            if body is None:
                await respond(send, HttpReply.text(413, "request body too large"), [(b"connection", b"close")]
                              if scope.get("http_version") in ("1.0", "1.1") else None)
                return
            await respond(send, await asyncio.to_thread(self.orch.refresh_payment, body))
            return
        for prefix, app in self._mounts:
            if path.startswith(prefix):
                await app(scope, receive, send)
                return
        await read_body(receive)
        await respond(send, HttpReply.text(404, "404 page not found"))

    # ------------------------------------------------------------------ admin
    async def _admin(self, scope, receive, send) -> None:
        client = (scope.get("client") or ("",))[0]
        if client not in LOOPBACK:
            await respond(send, HttpReply.text(403, "admin API is loopback-only"))
            return
        path, method = scope["path"], scope["method"]
        refused = admin_refusal(scope)
        if refused is not None:
            await respond(send, refused)
            return
        body = await read_body(receive, ADMIN_MAX_BODY)
        if body is None:
            await respond(send, HttpReply.text(413, "request body too large"))
            return
        if path == "/admin/status" and method == "GET":
            status = await asyncio.to_thread(self.orch.status)
            await respond(send, HttpReply.json(200, jsonable(readable_status(status))))
        elif path == "/admin/faults" and method == "GET":
            await respond(send, HttpReply.json(200, self.orch.faults.to_dict()))
        elif path == "/admin/faults" and method == "POST":
            await respond(send, self._set_faults(body))
        elif path == "/admin/redeem" and method == "POST":
            result = await self.on_redeem() if self.on_redeem else {}
            await respond(send, HttpReply.json(200, result))
        else:
            await respond(send, HttpReply.text(404, "unknown admin endpoint; try GET /admin/status, "
                                                    "GET|POST /admin/faults, POST /admin/redeem"))

    def _set_faults(self, body: bytes) -> HttpReply:
        obj, problem = parse_json_body(body or b"{}")
        if problem is not None:
            return HttpReply.text(400, problem)
        if not isinstance(obj, dict):
            return HttpReply.text(400, "faults must be a JSON object")
        rotate = obj.pop("rotate_certificate", False)
        if not isinstance(rotate, bool):
            return HttpReply.text(400, "rotate_certificate must be true or false")
        if rotate and self.on_rotate_certificate is None:
            return HttpReply.text(400, "rotate_certificate: this server has no TLS certificate (http://)")
        try:
            changed = self.orch.faults.update(obj)
        except FaultError as exc:
            return HttpReply.text(400, str(exc))
        out = {"faults": self.orch.faults.to_dict(), "changed": changed}
        if rotate:
            out["certificate"] = self.on_rotate_certificate()
        self.orch.emit("orch.faults", changed=changed, faults=self.orch.faults.to_dict(), rotated=rotate)
        return HttpReply.json(200, out)


def readable_status(status: dict) -> dict:
    """``/admin/status`` for a person as well: beside each exact wei amount (``balance``: a RatString such as
    ``"199065600000000000/7"``; ``face_value``: an int) its ``…_eth`` reading (``"≈0.02844 ETH"``)."""
    out = dict(status)
    out["balances"] = [{**b, "balance_eth": format_wei(b["balance"])} if b.get("balance") is not None else b
                       for b in status.get("balances", [])]
    out["redemptions"] = [{**r, "face_value_eth": format_wei(r["face_value"])} if r.get("face_value") is not None
                          else r for r in status.get("redemptions", [])]
    return out
def _host_port(value: str) -> tuple[str, str]:
    """(host, port) of a ``Host`` header or an origin's authority; IPv6 brackets kept off, port '' when absent."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host.lower(), rest[1:] if rest.startswith(":") else ""
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return host.lower(), port


def admin_refusal(scope) -> HttpReply | None:
    """Refuse what a web page in the developer's browser could send the admin API (DNS rebinding, CSRF): a ``Host``
    that is not a loopback name for this port, an ``Origin`` (or ``Sec-Fetch-Site``) that is not this service, or a
    write whose body is not declared ``application/json`` (a page can only send text/plain, form or multipart
    bodies without a CORS preflight, which this API never grants)."""
    port = str((scope.get("server") or ("", ""))[1] or "")
    host = header(scope, b"host")
    if host:
        name, hport = _host_port(host.strip())
        if name not in LOOPBACK or (hport and port and hport != port):
            return HttpReply.text(403, f"admin API: Host {host!r} is not this loopback service "
                                       f"(use 127.0.0.1:{port}); refused to stop DNS rebinding")
    origin = header(scope, b"origin")
    if origin is not None:
        scheme, _, authority = origin.partition("://")
        name, oport = _host_port(authority.rstrip("/"))
        if origin == "null" or name not in LOOPBACK or (port and oport != port):
            return HttpReply.text(403, f"admin API: requests from web pages are refused (Origin {origin!r})")
    site = header(scope, b"sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return HttpReply.text(403, f"admin API: requests from web pages are refused (Sec-Fetch-Site {site!r})")
    if scope["method"] not in ("GET", "HEAD"):
        ctype = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return HttpReply.text(415, "admin API: writes must be Content-Type: application/json, got "
                                       f"{ctype or 'none'!r}")
    return None
