"""HTTP adapter for :class:`~sim.signer.core.SignerCore` (protocol.md §3.1, §3.2), on aiohttp.

Routing like go-livepeer's ``http.ServeMux`` with method patterns: a known path with the wrong method is 405 with
``Allow``; anything else is 404. Every error is ``{"error":{"message":…}}`` + ``Content-Type: application/json``
+ a trailing newline (go-livepeer's 404/405 bodies are plain text; lpdev answers JSON everywhere).

    async with SignerServer(core, host="127.0.0.1", port=0, tls=False) as s:
        s.url   # http://127.0.0.1:PORT

With ``tls=True`` it serves HTTPS with a throwaway self-signed certificate (:mod:`sim.tls`), so a bare
``host:port`` works with the livepeer-gateway SDK (which defaults to https and does not verify).
"""
from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

import aiohttp
from aiohttp import web

from sim.signer.core import Response, SignerCore
from sim.signer.discovery import Discovery
from sim.signer.webhook import WebhookCall, WebhookOutcome

__all__ = ["SignerServer", "make_app", "is_loopback"]

_JSON = "application/json"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status code {status}"  # what Go's net/http writes for codes it has no text for


def _to_web(resp: Response) -> web.Response:
    headers = {"Content-Type": _JSON, **resp.headers}
    return web.Response(status=resp.status, reason=_reason(resp.status), body=resp.body_bytes(), headers=headers)


def _error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return _to_web(Response.error(status, message, headers))


def is_loopback(host: str) -> bool:
    import ipaddress

    h = host.strip("[]")
    if h in ("localhost", ""):
        return h == "localhost"
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


class _Adapter:
    def __init__(self, core: SignerCore, discovery: Discovery | None) -> None:
        self.core = core
        self.discovery = discovery
        self.session: aiohttp.ClientSession | None = None
        self.routes = {
            "/sign-orchestrator-info": ("POST", self.sign_orchestrator_info),
            "/generate-live-payment": ("POST", self.generate_live_payment),
        }
        if discovery is not None:
            self.routes["/discover-orchestrators"] = ("GET", self.discover_orchestrators)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return _error(404, f"404 page not found: {request.path}")
        method, handler = route
        allowed = (method, "HEAD") if method == "GET" else (method,)
        if request.method not in allowed:
            allow = ", ".join(allowed)
            return _error(405, f"method {request.method} not allowed on {request.path}; use {method}",
                          {"Allow": allow})
        try:
            return await handler(request)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:  # never aiohttp's plain-text 500: the JSON envelope with the cause
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    async def sign_orchestrator_info(self, request: web.Request) -> web.StreamResponse:
        return _to_web(self.core.sign_orchestrator_info())

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        limit = self.core.config.request_limits.body
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"request body too large: {request.content_length} bytes (limit {limit})")
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = await request.content.read(64 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                return _error(413, f"request body too large: more than {limit} bytes (limit {limit})")
            chunks.append(chunk)
        return b"".join(chunks)

    async def generate_live_payment(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        if self.core.chain.stale():
            # refresh the chain snapshot off the event loop (an external chain is several RPCs), at most
            # every chain_max_age_s; the core then reads the cached snapshot without blocking
            try:
                await asyncio.to_thread(self.core.chain.get)
            except Exception:  # noqa: BLE001 - the core re-reads and reports the failure as a 500
                pass
        headers = [(k, v) for k, v in request.headers.items()]
        resp = await self.core.generate_live_payment(headers, body, self.call_webhook)
        return _to_web(resp)

    async def call_webhook(self, call: WebhookCall) -> WebhookOutcome:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        limit = self.core.config.request_limits.webhook_response
        try:
            async with self.session.post(call.url, data=call.body, headers=call.headers,
                                         timeout=aiohttp.ClientTimeout(total=call.timeout_s)) as r:
                body = await r.content.read(limit + 1)
                return WebhookOutcome(http_status=r.status, body=body)
        except asyncio.TimeoutError:
            return WebhookOutcome(error=f"Post {call.url!r}: timed out after {call.timeout_s} s")
        except aiohttp.ClientError as exc:
            return WebhookOutcome(error=f"Post {call.url!r}: {type(exc).__name__}: {exc}")

    async def discover_orchestrators(self, request: web.Request) -> web.StreamResponse:
        assert self.discovery is not None
        caps = request.query.getall("caps", [])
        t0 = time.monotonic()
        status, body = await self.discovery.answer(caps)
        n = len(body) if isinstance(body, list) else 0
        self.core._emit("signer.discovery", status=status, caps=caps, orchestrators=n,
                        ms=round((time.monotonic() - t0) * 1000, 3),
                        message=body["error"]["message"] if isinstance(body, dict) else "")
        return _to_web(Response(status, body))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def make_app(core: SignerCore, discovery: Discovery | None = None) -> tuple[web.Application, _Adapter]:
    adapter = _Adapter(core, discovery)
    app = web.Application(client_max_size=core.config.request_limits.body + 1)
    app.router.add_route("*", "/{tail:.*}", adapter.dispatch)

    async def _cleanup(_app: web.Application) -> None:
        await adapter.close()

    app.on_cleanup.append(_cleanup)
    return app, adapter


class SignerServer:
    """Runs a signer on ``host:port`` (port 0: a free one) in the current event loop."""

    def __init__(self, core: SignerCore, *, host: str = "127.0.0.1", port: int = 0, tls: bool = False,
                 discovery: Discovery | None = None, cert=None) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.tls = tls
        self.discovery = discovery
        self.cert = cert
        self._runner: web.AppRunner | None = None
        self.app, self.adapter = make_app(core, discovery)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> "SignerServer":
        ssl_ctx = None
        if self.tls:
            from sim import tls as _tls

            self.cert = self.cert or _tls.make_self_signed(self.host if self.host not in ("0.0.0.0", "::")
                                                           else "127.0.0.1")
            ssl_ctx = _tls.server_context(self.cert, alpn=("http/1.1",))
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_ctx, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SignerServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
