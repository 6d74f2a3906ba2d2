"""Serve an ASGI app with Hypercorn on sockets we bound, with the limits every lpdev HTTP server needs.

Hypercorn's defaults are made for a server behind a proxy; lpdev's servers face the SDK, go-livepeer and whoever
else can reach the port, so :func:`serve` adds what a hostile or broken client needs to meet (:class:`ServerLimits`):

* **header timeout**: a connection that has not finished its first request's headers after ``header_timeout_s``
  is dropped (later requests on a kept-alive connection get ``idle_timeout_s``, Hypercorn's keep-alive timeout);
* **body timeout**: routes read bodies with :func:`read_body`, which answers ``None``/raises :class:`BodyTimeout`
  (→ 408) when the whole body has not arrived within ``body_timeout_s``;
* **idle timeout**: an idle kept-alive connection is closed after ``idle_timeout_s``;
* **bounded connections**: beyond ``max_connections`` open connections, each request is answered
  ``503 too many connections`` and the connection closed; beyond twice that, new connections are dropped at once;
* **no request cap per connection**: Hypercorn closes a connection after 1000 requests by default, which hangs a
  gRPC client's call 1001 on one channel; go-livepeer has no such cap and neither do we;
* **quiet, bounded close**: a TLS close that the peer does not complete (it keeps sending after a 413, or stops
  reading) is aborted after ``close_timeout_s`` instead of hanging, and a connection that ends in a protocol error
  (Hypercorn's HTTP/2 stream bookkeeping, ``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``) is logged as one debug line,
  not as an "Unhandled exception" traceback.

The same limits for lpdev's aiohttp servers (the remote signer, the events feed): :func:`aiohttp_runner` is an
``AppRunner`` whose connections get the header watchdog, the idle timeout (aiohttp's keep-alive timeout, which also
starts at connect), the connection cap (503, then dropped) and a bounded lingering close; a request aiohttp cannot
parse (a NUL byte in a header, a bad request line) is answered with one line (``error(status, message)``: the
server's own envelope) and logged as one debug line, not a traceback; request bodies are not decompressed (Go's
net/http does not either: a ``Content-Encoding: gzip`` header is just a header). Routes bound their body reads with
``limits.body_timeout_s`` themselves (408).
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable

from hypercorn.asyncio.lifespan import Lifespan
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.asyncio.worker_context import WorkerContext
from hypercorn.config import Config
from hypercorn.utils import wrap_app

__all__ = ["ServerLimits", "serve", "read_body", "drain_body", "BodyTimeout", "current_limits", "aiohttp_runner",
           "too_many_connections", "WS_MAX_MESSAGE", "WS_QUEUE"]

log = logging.getLogger("lpdev.serving")


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    max_connections: int = 256
    tls_handshake_timeout_s: float = 10.0
    close_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("header_timeout_s", "body_timeout_s", "idle_timeout_s", "tls_handshake_timeout_s",
                     "close_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < float("inf")):
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        if not isinstance(self.max_connections, int) or self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections!r}")


DEFAULT_LIMITS = ServerLimits()

# WebSockets, as Hypercorn serves them (its defaults, which the TLS entry uses): a message larger than this (aiohttp's
# max_msg_size refuses a message of that size: give it one more) closes
# the connection with 1009 (message too big), and at most this many received messages wait for the app to read
# them (then the server stops reading the socket: a fast sender meets TCP backpressure, not a growing queue)
WS_MAX_MESSAGE = 16 << 20
WS_QUEUE = 10


def too_many_connections(limits: ServerLimits) -> str:
    """The 503's message on a connection over ``limits.max_connections``."""
    return f"too many connections to this server (at most {limits.max_connections}); retry later"


@dataclass
class _Connection:
    limits: ServerLimits
    over_limit: bool
    task: asyncio.Task
    transport: asyncio.BaseTransport
    requests: int = 0

    def kill(self) -> None:
        """Drop the connection now (a client that will not finish its request body)."""
        self.transport.abort()
        self.task.cancel()


_CONNECTION: contextvars.ContextVar[_Connection | None] = contextvars.ContextVar("lpdev_connection", default=None)


# the limits of the aiohttp server (:func:`aiohttp_runner`) handling the current request: set per request, so an
# ASGI app bridged onto aiohttp (sim.orchestrator.aiohttp_asgi) reads its bodies within that server's limits
_AIOHTTP_LIMITS: contextvars.ContextVar[ServerLimits | None] = contextvars.ContextVar("lpdev_aiohttp_limits",
                                                                                      default=None)


def current_limits() -> ServerLimits:
    """The limits of the server handling the current request (defaults outside :func:`serve` and
    :func:`aiohttp_runner`)."""
    conn = _CONNECTION.get()
    if conn is not None:
        return conn.limits
    return _AIOHTTP_LIMITS.get() or DEFAULT_LIMITS


class BodyTimeout(Exception):
    """The request body did not arrive within the body timeout."""


async def read_body(receive, limit: int, *, timeout: float | None = None) -> bytes | None:
    """The whole request body, or None when it is larger than ``limit`` (what was sent beyond the limit is read and
    dropped, up to a bound, so the client can read the 413). Raises :class:`BodyTimeout` when the body takes longer
    than ``timeout`` (default: the server's ``body_timeout_s``) and :class:`ConnectionError` when the client goes
    away."""
    timeout = current_limits().body_timeout_s if timeout is None else timeout
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise ConnectionError("client went away")
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
                elif size > 4 * limit + (1 << 20):
                    return None  # far too large: stop reading, the connection will be closed
                if not msg.get("more_body", False):
                    return b"".join(chunks) if size <= limit else None
    except TimeoutError:
        raise BodyTimeout(f"request body not received within {timeout:g}s") from None


async def drain_body(receive, *, max_bytes: int = 16 << 20, timeout: float = 2.0) -> bool:
    """After an early answer (413): read and drop what the client still sends, within bounds, so it sees the answer
    instead of a reset (go's net/http does the same, up to 256 KiB). True when the body ended within the bounds."""
    seen = 0
    try:
        async with asyncio.timeout(timeout):
            while seen <= max_bytes:
                msg = await receive()
                if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                    return True
                seen += len(msg.get("body", b""))
    except TimeoutError:
        pass
    return False


class _Guard:
    """Per request: counts requests per connection (the header watchdog), answers 503 on connections over the
    limit, and never finishes a response before the request body was consumed. Hypercorn closes the stream when the
    response ends and queues a disconnect behind the unread body; with the (bounded) queue full, that blocks the
    route's last ``send`` forever and the connection with it. So an early answer (413, 400 before reading…) is
    sent, the rest of the body read and dropped within bounds (the client sees the answer, not a reset, as with
    go's net/http), and only then ended; a body that does not end within bounds gets the connection closed."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        conn = _CONNECTION.get()
        if scope["type"] != "http" or conn is None:
            return await self.app(scope, receive, send)
        conn.requests += 1
        ended = killed = False

        async def tracked():
            nonlocal ended
            msg = await receive()
            if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                ended = True
            return msg

        async def finish() -> None:
            nonlocal killed
            if not ended and not killed and not await drain_body(tracked, timeout=conn.limits.close_timeout_s):
                killed = True
                conn.kill()
                raise _BodyNeverEnded("the request body did not end after an early answer; connection closed")

        async def guarded_send(msg) -> None:
            if killed:
                return  # the connection is gone: nothing more reaches the client
            if msg["type"] == "http.response.body" and not msg.get("more_body", False) and not ended:
                if msg.get("body"):
                    await send({"type": "http.response.body", "body": msg["body"], "more_body": True})
                await finish()
                msg = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(msg)

        if conn.over_limit:
            body = (too_many_connections(conn.limits) + "\n").encode()
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                       (b"retry-after", b"1")]
            if scope.get("http_version", "1.1") in ("1.0", "1.1"):
                headers.append((b"connection", b"close"))
            await guarded_send({"type": "http.response.start", "status": 503, "headers": headers})
            await guarded_send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, tracked, guarded_send)
            await finish()
        except _BodyNeverEnded as exc:  # raised in the app's send; one debug line, not "Error in ASGI Framework"
            log.debug("connection %s: %s", scope.get("client"), exc)


class _BodyNeverEnded(ConnectionError):
    """The client kept sending after an early answer, past the drain's bounds: its connection was closed."""


class _BoundedCloseWriter:
    """A StreamWriter whose ``wait_closed`` gives up (and aborts the transport) after a timeout or a TLS error."""

    def __init__(self, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._writer = writer
        self._timeout = timeout

    def __getattr__(self, name):
        return getattr(self._writer, name)

    async def wait_closed(self) -> None:
        waiter = asyncio.ensure_future(self._writer.wait_closed())
        waiter.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self._timeout)
        except (TimeoutError, ssl.SSLError, OSError):
            self._writer.transport.abort()


class _TCPServer(TCPServer):
    async def _read_data(self) -> None:
        await super()._read_data()
        # The peer is gone. Hypercorn's HTTP/2 side does not stop the keep-alive timer then, so the connection (and
        # its buffers) would wait out the idle timeout before its task group can finish.
        await self.idle_task.stop()


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _config(limits: ServerLimits, errorlog: logging.Logger | None) -> Config:
    cfg = Config()
    cfg.accesslog = None
    cfg.errorlog = errorlog or log
    cfg.keep_alive_timeout = limits.idle_timeout_s
    cfg.keep_alive_max_requests = 1 << 62  # Hypercorn's default (1000) hangs gRPC call 1001 on one channel
    cfg.ssl_handshake_timeout = limits.tls_handshake_timeout_s
    cfg.graceful_timeout = 1.0
    return cfg


async def serve(app, sockets: list[socket.socket], *, ssl_context: ssl.SSLContext | None = None,
                limits: ServerLimits = DEFAULT_LIMITS, shutdown_trigger: Callable[[], Awaitable[object]],
                errorlog: logging.Logger | None = None) -> None:
    """Serve ``app`` (ASGI) on the listening ``sockets`` (TLS with ``ssl_context``, whose ALPN decides h2 /
    http/1.1; else cleartext h2c + HTTP/1.1) until ``shutdown_trigger()`` returns."""
    loop = asyncio.get_running_loop()
    config = _config(limits, errorlog)
    wrapped = wrap_app(_Guard(app), config.wsgi_max_body_size, "asgi")
    lifespan_state: dict = {}
    lifespan = Lifespan(wrapped, config, loop, lifespan_state)
    lifespan_task = loop.create_task(lifespan.handle_lifespan())
    await lifespan.wait_for_startup()
    if lifespan_task.done() and lifespan_task.exception() is not None:
        raise lifespan_task.exception()
    context = WorkerContext(None)
    tasks: set[asyncio.Task] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        tasks.add(task)
        try:
            if len(tasks) > 2 * limits.max_connections:
                writer.transport.abort()
                return
            conn = _Connection(limits, len(tasks) > limits.max_connections, task, writer.transport)
            _CONNECTION.set(conn)

            def headers_overdue() -> None:
                if conn.requests == 0:
                    writer.transport.abort()

            watchdog = loop.call_later(limits.header_timeout_s, headers_overdue)
            try:
                await _TCPServer(wrapped, loop, config, context, lifespan_state, reader,
                                _BoundedCloseWriter(writer, limits.close_timeout_s))
            except asyncio.CancelledError:  # the server is stopping: end quietly (3.11 logs a cancelled callback)
                writer.transport.abort()
                return
            except BaseException as exc:  # noqa: BLE001 - one connection's protocol error ends that connection only
                if not isinstance(exc, Exception):
                    raise
                log.debug("connection %s ended: %s", writer.get_extra_info("peername"), _describe(exc))
                writer.transport.abort()
            finally:
                watchdog.cancel()
        finally:
            tasks.discard(task)

    servers = [await asyncio.start_server(connected, sock=s, ssl=ssl_context, backlog=config.backlog,
                                          ssl_handshake_timeout=limits.tls_handshake_timeout_s if ssl_context else None)
               for s in sockets]
    try:
        await shutdown_trigger()
    finally:
        await context.terminated.set()
        for s in servers:
            s.close()
            await s.wait_closed()
        if tasks:
            await asyncio.wait(list(tasks), timeout=config.graceful_timeout)
        left = list(tasks)
        for t in left:
            t.cancel()
        if left:
            await asyncio.wait(left, timeout=1.0)
        await lifespan.wait_for_shutdown()
        lifespan_task.cancel()
        try:
            await lifespan_task
        except asyncio.CancelledError:
            pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


# ================================================================================================ aiohttp servers
def _plain_error(status: int, message: str):
    from aiohttp import web

    return web.Response(status=status, text=message + "\n")


def _one_line(text: str) -> str:
    """aiohttp's parser errors span lines (the bad line, then a caret under it): keep the words and the line."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip() and set(p.strip()) != {"^"}]
    return " ".join(parts)[:300]


def aiohttp_runner(app, *, limits: ServerLimits = DEFAULT_LIMITS,
                   error: Callable[[int, str], object] | None = None, **kwargs):
    """An ``aiohttp.web.AppRunner`` for ``app`` serving within ``limits`` (module docstring). ``error(status,
    message) -> web.Response`` answers the 503 and unparsable requests in the server's own envelope (default:
    ``text/plain``). Start it as usual: ``await runner.setup(); await web.TCPSite(runner, host, port).start()``."""
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    answer = error or _plain_error

    class Handler(RequestHandler):
        over_limit = False
        _watchdog: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._watchdog = asyncio.get_running_loop().call_later(limits.header_timeout_s, self._headers_overdue)

        def _headers_overdue(self) -> None:
            if self._request_count == 0:  # not one complete request head since the connection opened
                self.force_close()

        def connection_lost(self, exc) -> None:
            if self._watchdog is not None:
                self._watchdog.cancel()
            super().connection_lost(exc)

        def handle_error(self, request, status: int = 500, exc=None, message=None):
            if status >= 500:  # a bug in a route: keep aiohttp's logging (traceback) and answer
                return super().handle_error(request, status, exc, message)
            log.debug("bad request from %s: %s", request.remote, _one_line(message or exc))
            if request.writer.output_size > 0:
                raise ConnectionError("response already started; cannot answer the bad request")
            resp = answer(status, f"bad HTTP request: {_one_line(message or exc or status)}")
            resp.force_close()
            return resp

    class Server(web.Server):
        def __call__(self):
            n = len(self._connections)
            if n >= 2 * limits.max_connections:
                return _Dropped()
            h = Handler(self, loop=self._loop, **self._kwargs)
            h.over_limit = n >= limits.max_connections
            return h

    def capped(handle):
        async def handle_within_cap(request):  # a plain wrapper: an app middleware costs more per request
            _AIOHTTP_LIMITS.set(limits)
            if request.protocol.over_limit:
                resp = answer(503, too_many_connections(limits))
                resp.headers["Retry-After"] = "1"
                resp.force_close()
                return resp
            return await handle(request)
        return handle_within_cap

    class Runner(web.AppRunner):
        async def _make_server(self):
            server = await super()._make_server()
            server.__class__ = Server  # the same server, making limited handlers
            server.request_handler = capped(server.request_handler)
            return server

    kwargs.setdefault("access_log", None)
    kwargs.setdefault("handle_signals", False)
    return Runner(app, keepalive_timeout=limits.idle_timeout_s, lingering_time=limits.close_timeout_s,
                  auto_decompress=False, **kwargs)


class _Dropped(asyncio.Protocol):
    """A connection beyond twice the cap: closed at once."""

    def connection_made(self, transport) -> None:
        transport.abort()
