"""HTTP adapter for :class:`~sim.signer.core.SignerCore` (docs/remote-signer.md#endpoints), on aiohttp.

Routing like go-livepeer's ``http.ServeMux`` with method patterns: a known path with the wrong method is 405 with
``Allow``; anything else is 404. Every error is the profile's JSON envelope + ``Content-Type: application/json``
+ a trailing newline: go-livepeer's ``{"error":{"message":…}}``, livepeer-node's ``{"error":"…"}`` (the 404/405
bodies of both are plain text; lpdev answers JSON everywhere).

    async with SignerServer(core, host="127.0.0.1", port=0, tls=False) as s:
        s.url          # http://127.0.0.1:PORT
        s.metrics_url  # livepeer-node profile: http://127.0.0.1:PORT2 (/healthz, /readyz, /metrics); else None

With ``tls=True`` it serves HTTPS with a throwaway self-signed certificate (:mod:`sim.tls`), so a bare
``host:port`` works with the livepeer-gateway SDK (which defaults to https and does not verify).

Both listeners serve within :class:`sim.serving.ServerLimits` (``SignerServer(..., limits=ServerLimits(...))``,
:func:`sim.serving.aiohttp_runner`): a connection that has not sent a complete request head within 10 s is closed,
a body that has not arrived within 30 s gets 408, an idle kept-alive connection is closed after 30 s, beyond 256
open connections each request gets 503 ``too many connections…`` (beyond 512 they are dropped); a request aiohttp
cannot parse (a NUL byte in a header) is a one-line 400 in the profile's envelope, never a traceback. Bodies are
not decompressed (Go's net/http does not either): ``Content-Encoding: gzip`` on a plain JSON body is ignored, a
gzip body is refused as such by the bounded parser (400).

What the profile changes here: the envelope; the body limit (go profiles: lpdev's 413; livepeer-node: 400
``payment request too large``); livepeer-node's 64-request busy limit (503 ``signer busy``, every route);
``/discover-orchestrators`` always routed for livepeer-node (503 ``no orchestrator discovery source configured``
without one); and the metrics listener with ``/healthz`` (alive), ``/readyz`` (chain readable, deposit and reserve
> 0, no withdrawal unlocking by the next round, a usable ETH/USD rate when USD ceilings apply) and ``/metrics``
(Prometheus text: payments, rejections, tickets, webhook calls, requests in flight). With ``announce=True`` the
server emits ``signer.started`` (URL, address, profile, metrics URL) so a viewer can show each signer's dialect.
"""
from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from sim.serving import DEFAULT_LIMITS, ServerLimits, aiohttp_runner
from sim.signer.core import Response, SignerCore
from sim.signer.discovery import Discovery
from sim.signer.webhook import WebhookCall, WebhookOutcome
from sim.wire import bounded

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


def _payload_problem(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = getattr(cause, "message", None) or str(cause) or type(cause).__name__
    return " ".join(str(text).split())[:200]


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
    def __init__(self, core: SignerCore, discovery: Discovery | None, limits: ServerLimits = DEFAULT_LIMITS) -> None:
        self.core = core
        self.limits = limits
        self.profile = core.profile
        self.discovery = discovery
        self.session: aiohttp.ClientSession | None = None
        self.inflight = 0
        self.busy_rejections = 0
        self.routes = {
            "/sign-orchestrator-info": ("POST", self.sign_orchestrator_info),
            "/generate-live-payment": ("POST", self.generate_live_payment),
        }
        if discovery is not None or self.profile.discovery_always:
            self.routes["/discover-orchestrators"] = ("GET", self.discover_orchestrators)

    def error(self, status: int, message: str, headers: dict | None = None) -> web.Response:
        return _to_web(self.core.error(status, message, headers))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        limit = self.profile.busy_limit
        if limit is not None and self.inflight >= limit:  # livepeer-node: a slot per request, on every route
            self.busy_rejections += 1
            return self.error(503, self.profile.msg("busy"))
        self.inflight += 1
        try:
            return await self._route(request)
        finally:
            self.inflight -= 1

    async def _route(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return self.error(404, self.profile.msg("not_found", path=request.path))
        method, handler = route
        allowed = (method, "HEAD") if method == "GET" else (method,)
        if request.method not in allowed:
            allow = ", ".join(allowed)
            return self.error(405, f"method {request.method} not allowed on {request.path}; use {method}",
                              {"Allow": allow})
        try:
            return await handler(request)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:  # never aiohttp's plain-text 500: the JSON envelope with the cause
            return self.error(500, f"internal error: {type(exc).__name__}: {exc}")

    async def sign_orchestrator_info(self, request: web.Request) -> web.StreamResponse:
        return _to_web(self.core.sign_orchestrator_info())

    def _too_large(self, detail: str) -> web.Response:
        if self.profile.body_limit_status == 413:
            return self.error(413, f"request body too large: {detail}")
        return self.error(self.profile.body_limit_status, self.profile.msg("too_large"))

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        """The whole body within the size limit (413, or the profile's), the body timeout (408) and HTTP's framing
        (400); the raw bytes, never decompressed."""
        limit = min(self.core.config.request_limits.body, self.profile.body_limit)
        if request.content_length is not None and request.content_length > limit:
            return self._too_large(f"{request.content_length} bytes (limit {limit})")
        chunks: list[bytes] = []
        total = 0
        timeout = self.limits.body_timeout_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    chunk = await request.content.read(64 * 1024)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > limit:
                        return self._too_large(f"more than {limit} bytes (limit {limit})")
                    chunks.append(chunk)
        except TimeoutError:
            resp = self.error(408, f"request body not received within {timeout:g} s ({total} bytes arrived)")
            resp.force_close()
            return resp
        except (RequestPayloadError, HttpProcessingError) as exc:  # e.g. bad chunked framing
            resp = self.error(400, f"bad request body: {_payload_problem(exc)}")
            resp.force_close()
            return resp
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
        if self.core.usd.due() and self._uses_usd():
            await asyncio.to_thread(self.core.usd.refresh)  # the feed read off the loop too (every 30 s)
        headers = [(k, v) for k, v in request.headers.items()]
        resp = await self.core.generate_live_payment(headers, body, self.call_webhook)
        return _to_web(resp)

    async def call_webhook(self, call: WebhookCall) -> WebhookOutcome:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
        # the core refuses a reply over the profile's limit: read one byte more than the larger limit, no further
        limit = max(self.core.config.request_limits.webhook_response, self.profile.webhook_response_limit)
        try:
            async with self.session.post(call.url, data=call.body, headers=call.headers,
                                         timeout=aiohttp.ClientTimeout(total=call.timeout_s)) as r:
                return WebhookOutcome(http_status=r.status, body=await bounded.read_reply(r, limit))
        except asyncio.TimeoutError:
            return WebhookOutcome(error=f"Post {call.url!r}: timed out after {call.timeout_s} s")
        except aiohttp.ClientError as exc:
            return WebhookOutcome(error=f"Post {call.url!r}: {type(exc).__name__}: {exc}")

    def _uses_usd(self) -> bool:
        p, cfg = self.profile, self.core.config
        return p.usd_ceilings or p.usd_fees or cfg.max_price_usd is not None

    async def discover_orchestrators(self, request: web.Request) -> web.StreamResponse:
        caps = request.query.getall("caps", [])
        t0 = time.monotonic()
        if self.discovery is None:  # livepeer-node: the route exists, the source does not
            resp = self.core.error(503, self.profile.msg("no_discovery"))
        else:
            status, body = await self.discovery.answer(caps, apps=request.query.getall("app", []),
                                                       gpus=request.query.getall("gpu", []))
            resp = Response(status, body)
            if status != 200:  # the discovery module answers go-livepeer's envelope
                resp = self.core.error(status, resp.message)
        body = resp.body
        n = len(body) if isinstance(body, list) else 0
        self.core._emit("signer.discovery", status=resp.status, caps=caps, orchestrators=n,
                        ms=round((time.monotonic() - t0) * 1000, 3), message=resp.message)
        return _to_web(resp)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def make_app(core: SignerCore, discovery: Discovery | None = None,
             limits: ServerLimits = DEFAULT_LIMITS) -> tuple[web.Application, _Adapter]:
    adapter = _Adapter(core, discovery, limits)
    app = web.Application(client_max_size=max(core.config.request_limits.body, core.profile.body_limit) + 1)
    app.router.add_route("*", "/{tail:.*}", adapter.dispatch)

    async def _cleanup(_app: web.Application) -> None:
        await adapter.close()

    app.on_cleanup.append(_cleanup)
    return app, adapter


def readiness(core: SignerCore) -> str:
    """Why the signer is not ready (``""``: ready): livepeer-node's ``/readyz`` conditions."""
    try:
        snap = core.chain.get()
    except Exception as exc:  # noqa: BLE001
        return f"chain unavailable: {type(exc).__name__}: {exc}"
    info = snap.sender_info
    if info.deposit <= 0 or info.reserve <= 0:
        return f"signer funds unavailable: deposit {info.deposit} wei, reserve {info.reserve} wei"
    if info.withdraw_round != 0 and info.withdraw_round <= snap.last_initialized_round + 1:
        return f"signer deposit unlocks for withdrawal in round {info.withdraw_round}"
    if core.profile.usd_ceilings:
        rate, why = core.usd.rate()
        if rate is None:
            return why
    return ""


def metrics_text(core: SignerCore, adapter: "_Adapter") -> str:
    st = core.stats
    rows = [("lpdev_signer_payments_total", "counter", "payments answered 200", st["payments"]),
            ("lpdev_signer_rejected_total", "counter", "payment requests answered an error", st["rejected"]),
            ("lpdev_signer_tickets_total", "counter", "tickets signed", st["tickets"]),
            ("lpdev_signer_webhook_calls_total", "counter", "auth webhook calls", st["webhook_calls"]),
            ("lpdev_signer_busy_total", "counter", "requests refused with 503 signer busy", adapter.busy_rejections),
            ("lpdev_signer_inflight", "gauge", "requests being served", adapter.inflight)]
    out = []
    for name, kind, help_, value in rows:
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(out) + "\n"


def make_metrics_app(core: SignerCore, adapter: "_Adapter") -> web.Application:
    """livepeer-node's metrics listener: ``/healthz``, ``/readyz``, ``/metrics``."""

    bodies = core.profile.health_bodies or {"healthz": {"status": "ok"}, "readyz": {"status": "ready"}}

    async def healthz(_request: web.Request) -> web.StreamResponse:
        return _to_web(Response(200, dict(bodies["healthz"])))

    async def readyz(_request: web.Request) -> web.StreamResponse:
        why = await asyncio.to_thread(readiness, core)
        return _to_web(core.error(503, why) if why else Response(200, dict(bodies["readyz"])))

    async def metrics(_request: web.Request) -> web.StreamResponse:
        return web.Response(text=metrics_text(core, adapter), content_type="text/plain", charset="utf-8")

    routes = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics}

    async def dispatch(request: web.Request) -> web.StreamResponse:
        handler = routes.get(request.path)
        if handler is None:
            return _to_web(core.error(404, core.profile.msg("not_found", path=request.path)))
        if request.method not in ("GET", "HEAD"):
            return _to_web(core.error(405, f"method {request.method} not allowed on {request.path}; use GET",
                                      {"Allow": "GET, HEAD"}))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class SignerServer:
    """Runs a signer on ``host:port`` (port 0: a free one) in the current event loop.

    ``metrics_port``: where the profile's health/metrics listener goes (livepeer-node only; plain HTTP on
    ``metrics_host``, default ``host``); ``None`` = a free port when the profile has one, ``False`` = none.
    ``announce``: emit ``signer.started`` (URL, address, profile, metrics URL) once listening — what a viewer
    needs to show each signer's dialect (``lpdev signer`` does; a stack turns it on when it shows profiles).
    ``limits``: header/body/idle timeouts and the connection cap of both listeners (:class:`ServerLimits`)."""

    def __init__(self, core: SignerCore, *, host: str = "127.0.0.1", port: int = 0, tls: bool = False,
                 discovery: Discovery | None = None, cert=None, metrics_host: str | None = None,
                 metrics_port: int | None | bool = None, announce: bool = False,
                 limits: ServerLimits = DEFAULT_LIMITS) -> None:
        self.core = core
        self.limits = limits
        self.host = host
        self.port = port
        self.tls = tls
        self.discovery = discovery
        self.cert = cert
        self.metrics_host = metrics_host or host
        self.metrics_port = metrics_port if metrics_port is not False else None
        self.has_metrics = core.profile.health_endpoints and metrics_port is not False
        self.announce = announce
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self.app, self.adapter = make_app(core, discovery, limits)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        if not self.has_metrics or self._metrics_runner is None:
            return None
        host = f"[{self.metrics_host}]" if ":" in self.metrics_host else self.metrics_host
        return f"http://{host}:{self.metrics_port}"

    def _make_runner(self, app: web.Application) -> web.AppRunner:
        core = self.core
        return aiohttp_runner(app, limits=self.limits, error=lambda status, message: _to_web(core.error(status, message)))

    @staticmethod
    async def _site(runner: web.AppRunner, host: str, port: int, ssl_ctx) -> int:
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, reuse_address=True)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if port == 0 and server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> "SignerServer":
        ssl_ctx = None
        if self.tls:
            from sim import tls as _tls

            self.cert = self.cert or _tls.make_self_signed(self.host if self.host not in ("0.0.0.0", "::")
                                                           else "127.0.0.1")
            ssl_ctx = _tls.server_context(self.cert, alpn=("http/1.1",))
        try:  # a port in use (either listener): clean up what was set up, then raise
            self._runner = self._make_runner(self.app)
            self.port = await self._site(self._runner, self.host, self.port, ssl_ctx)
            if self.has_metrics:
                self._metrics_runner = self._make_runner(make_metrics_app(self.core, self.adapter))
                self.metrics_port = await self._site(self._metrics_runner, self.metrics_host,
                                                     self.metrics_port or 0, None)
        except BaseException:
            await self.stop()
            raise
        if self.announce:
            self.core._emit("signer.started", url=self.url, address=self.core.address_hex,
                            profile=self.core.profile.name, metrics_url=self.metrics_url, tls=self.tls)
        return self

    async def stop(self) -> None:
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "SignerServer":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
