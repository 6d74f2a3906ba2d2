"""The orchestrator's reverse proxy to Live Runners (go-livepeer ``server/ai_http.go`` ``proxyLiveRunner``, a Go
``httputil.ReverseProxy`` with a ``Rewrite``), as ASGI in / aiohttp out.

Per request: the target is the runner URL (or a proxy's target), parsed as go's ``url.Parse`` does (a fragment split
off, the path unescaped), its path joined to the app path (go ``url.JoinPath("/", target.Path, appPath)``: cleaned, a
trailing slash kept) and escaped as go escapes a path (``! ' ( ) *`` become ``%21 %27 %28 %29 %2A``), with the
client's query string; ``Host`` is the target's (any userinfo in the target is dropped, as go's ``Rewrite`` does). Headers pass through except the hop-by-hop ones (and those named in ``Connection``),
``Forwarded`` / ``X-Forwarded-*`` (a ``Rewrite`` proxy drops them); the four Live Runner headers are set:
``Livepeer-Runner-Route``, ``Livepeer-Session-Id``, ``Livepeer-Session-Token``, ``Livepeer-Session-Control``.

Bodies stream both ways with backpressure (a chunk at a time; nothing is buffered whole), so SSE and chunked
responses reach the client as the runner writes them and a 1 GiB upload never sits in memory. WebSocket upgrades
are proxied message by message (go copies the bytes; lpdev holds one message at a time, so a message larger than
``sim.serving.WS_MAX_MESSAGE``, Hypercorn's bound, closes the proxied connection with 1009 on the side that sent it;
each send waits for the other side to take it, so a fast sender meets backpressure). A runner that cannot be
reached gives 502 with the dial error (``dial tcp 127.0.0.1:8989: connect: connection refused``), as go's
``ErrorHandler`` does.
"""
from __future__ import annotations

import asyncio
import errno
import functools
import posixpath
from dataclasses import dataclass
import aiohttp
from multidict import CIMultiDict
from yarl import URL

from sim.orchestrator.gourl import escape_path, parse_url
from sim.serving import WS_MAX_MESSAGE

__all__ = ["ProxyResult", "ReverseProxy", "join_path", "HOP_BY_HOP"]

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade"})
_WS_HANDSHAKE = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                           "sec-websocket-protocol", "sec-websocket-accept"})
_CHUNK = 256 * 1024
_WHOLE_BODY = 256 * 1024  # sized responses up to this are read whole and sent in one message
_WATCH_ABOVE = 1 << 20  # responses up to this size with a Content-Length are sent without a disconnect watcher
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")  # a proxy adds no headers of its own


@dataclass
class ProxyResult:
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None
    websocket: bool = False
    messages_in: int = 0
    messages_out: int = 0


class _ClientGone(Exception):
    pass


def join_path(*elems: str) -> str:
    """go ``url.JoinPath("/", elems...)`` path: joined, cleaned (``.``, ``..``, ``//``), a trailing slash kept."""
    parts = ["/"] + [e for e in elems if e]
    p = posixpath.normpath("/".join(parts))
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    if elems and elems[-1].endswith("/") and not p.endswith("/"):
        p += "/"
    return p


def _dial_error(exc: BaseException, host: str, port: int | None) -> str:
    """The text go's transport would give for a failed dial, else the exception's own words."""
    os_err = getattr(exc, "os_error", None) or (exc if isinstance(exc, OSError) else None)
    code = getattr(os_err, "errno", None)
    where = f"{host}:{port}" if port is not None else host
    if code == errno.ECONNREFUSED:
        return f"dial tcp {where}: connect: connection refused"
    if isinstance(exc, asyncio.TimeoutError):
        return f"dial tcp {where}: i/o timeout"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


@functools.lru_cache(maxsize=1024)
def _canonical(name: str) -> str:
    """go ``textproto.CanonicalMIMEHeaderKey``: ``x-keep-alive`` -> ``X-Keep-Alive`` (Go's header map form)."""
    if not all(c.isalnum() or c == "-" for c in name):
        return name
    return "-".join(p[:1].upper() + p[1:] for p in name.split("-"))


def _headers(scope, extra: dict[str, str], *, websocket: bool = False) -> CIMultiDict:
    raw = scope.get("headers", ())
    drop = set(HOP_BY_HOP)
    for k, v in raw:
        if k.lower() == b"connection":
            drop.update(t.strip().lower() for t in v.decode("latin-1").split(",") if t.strip())
    out: CIMultiDict = CIMultiDict()
    for k, v in raw:
        name = k.decode("latin-1").lower()
        if name in drop or name == "host" or name == "forwarded" or name.startswith("x-forwarded-"):
            continue
        if websocket and name in _WS_HANDSHAKE:
            continue
        out.add(_canonical(name), v.decode("latin-1"))
    for k, v in extra.items():
        out[k] = v
    return out


class ReverseProxy:
    """One pooled aiohttp client for every proxied request of an orchestrator."""

    def __init__(self, *, connect_timeout_s: float = 10.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self._http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s),
                auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    @staticmethod
    def target_url(target: str, app_path: str, query: bytes, *, websocket: bool = False) -> URL:
        """go ``proxyLiveRunner``: ``url.Parse(endpoint)``, then scheme, host and the joined path of the target
        with the client's raw query. ValueError when go's ``url.Parse`` fails (answered 502)."""
        t = parse_url(target)
        if t is None:
            raise ValueError(f"parse {target!r}: invalid URL")
        scheme = t.scheme
        if websocket:
            scheme = "wss" if scheme == "https" else "ws"
        path = escape_path(join_path(t.path, app_path))
        q = ("?" + query.decode("latin-1")) if query else ""
        return URL(f"{scheme}://{t.host}{path}{q}", encoded=True)

    # ------------------------------------------------------------------------------------------- HTTP
    async def http(self, scope, receive, send, target: str, app_path: str, extra: dict[str, str]) -> ProxyResult:
        """Forward one HTTP request and stream the answer back. Never raises for upstream trouble (502)."""
        res = ProxyResult()
        try:
            url = self.target_url(target, app_path, scope.get("query_string", b""))
        except ValueError as exc:  # go: url.Parse(endpoint) failed -> 502 with its error
            res.status, res.error = 502, str(exc)
            await _drain_http(receive)
            await _send_text(send, 502, res.error)
            return res
        headers = _headers(scope, extra)
        has_body = "content-length" in headers or any(k.lower() == b"transfer-encoding" for k, _ in
                                                      scope.get("headers", ()))
        body_done = asyncio.Event()
        main = asyncio.current_task()

        async def body():
            try:
                while True:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        raise _ClientGone()
                    chunk = msg.get("body", b"")
                    if chunk:
                        res.bytes_in += len(chunk)
                        yield chunk
                    if not msg.get("more_body", False):
                        return
            finally:
                body_done.set()

        async def watch_disconnect():
            await body_done.wait()
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    if main is not None:
                        main.cancel()
                    return

        if not has_body:
            # drain the (empty) request body so the disconnect watcher owns receive() from now on
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    res.error = "client went away"
                    return res
                if not msg.get("more_body", False):
                    break
            body_done.set()
        watcher: asyncio.Task | None = None
        started = False
        try:
            try:
                resp = await self.session().request(
                    scope["method"], url, headers=headers, data=body() if has_body else None,
                    allow_redirects=False, skip_auto_headers=_SKIP_AUTO)
            except _ClientGone:
                res.error = "client went away"
                return res
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                res.status, res.error = 502, _dial_error(exc, url.host or "", url.port)
                await _send_text(send, 502, res.error)
                return res
            try:
                res.status = resp.status
                if resp.content_length is None or resp.content_length > _WATCH_ABOVE:
                    # a stream (SSE, chunked) or a long body: stop reading the runner if the client goes away
                    watcher = asyncio.create_task(watch_disconnect())
                out_headers = [(k, v) for k, v in resp.raw_headers if k.decode("latin-1").lower() not in HOP_BY_HOP]
                await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
                started = True
                if scope["method"] == "HEAD":
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                elif resp.content_length is not None and resp.content_length <= _WHOLE_BODY:
                    body = await resp.read()  # small and sized: one message, one write to the client
                    res.bytes_out += len(body)
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                else:
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        res.bytes_out += len(chunk)
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                res.error = f"upstream: {exc or type(exc).__name__}"  # mid-body: the client sees a cut stream
            finally:
                resp.release()
        except asyncio.CancelledError:
            if watcher is not None and watcher.done():  # the client went away: stop reading the runner, carry on
                asyncio.current_task().uncancel()
                res.error = "client went away"
                return res
            res.error = "context canceled"  # go: the request's context was cancelled (e.g. a failed debit)
            if not started:
                res.status = 502
                try:
                    await _send_text(send, 502, res.error)
                except Exception:  # noqa: BLE001
                    pass
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
        return res

    # ------------------------------------------------------------------------------------------- WebSocket
    async def websocket(self, scope, receive, send, target: str, app_path: str,
                        extra: dict[str, str]) -> ProxyResult:
        """Proxy a WebSocket upgrade: connect to the runner first (its refusal or a dial error is answered as an
        HTTP response, like go), then pump messages both ways until either side closes."""
        res = ProxyResult(websocket=True)
        msg = await receive()
        if msg["type"] != "websocket.connect":
            return res
        try:
            url = self.target_url(target, app_path, scope.get("query_string", b""), websocket=True)
        except ValueError as exc:
            res.status, res.error = 502, str(exc)
            await deny(scope, send, 502, res.error)
            return res
        headers = _headers(scope, extra, websocket=True)
        protocols = tuple(scope.get("subprotocols") or ())
        try:
            ws = await self.session().ws_connect(url, headers=headers, protocols=protocols,
                                                 max_msg_size=WS_MAX_MESSAGE + 1, autoclose=False, autoping=True,
                                                 compress=0, timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        except aiohttp.WSServerHandshakeError as exc:
            res.status, res.error = exc.status, f"runner refused the WebSocket upgrade: {exc.message}"
            await deny(scope, send, exc.status or 502, res.error)
            return res
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            res.status, res.error = 502, _dial_error(exc, url.host or "", url.port)
            await deny(scope, send, 502, res.error)
            return res
        res.status = 101
        await send({"type": "websocket.accept", "subprotocol": ws.protocol})

        close_code = [1000]

        async def client_to_runner():
            while True:
                m = await receive()
                if m["type"] == "websocket.disconnect":
                    close_code[0] = m.get("code", 1000) or 1000
                    return  # closed below, once the runner reader is stopped (one reader at a time)
                if m.get("text") is not None:
                    res.bytes_in += len(m["text"].encode())
                    res.messages_in += 1
                    await ws.send_str(m["text"])
                elif m.get("bytes") is not None:
                    res.bytes_in += len(m["bytes"])
                    res.messages_in += 1
                    await ws.send_bytes(m["bytes"])

        async def runner_to_client():
            async for m in ws:
                if m.type == aiohttp.WSMsgType.TEXT:
                    res.bytes_out += len(m.data.encode())
                    res.messages_out += 1
                    await send({"type": "websocket.send", "text": m.data})
                elif m.type == aiohttp.WSMsgType.BINARY:
                    res.bytes_out += len(m.data)
                    res.messages_out += 1
                    await send({"type": "websocket.send", "bytes": m.data})
                elif m.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                    break
            code = ws.close_code or 1000
            try:
                await send({"type": "websocket.close", "code": code if 1000 <= code < 5000 else 1000})
            except Exception:  # noqa: BLE001 - the client is gone already
                pass

        tasks = [asyncio.create_task(client_to_runner()), asyncio.create_task(runner_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not ws.closed:
                code = close_code[0]
                await ws.close(code=code if 1000 <= code < 5000 and code not in (1005, 1006) else 1000)
        return res


async def _drain_http(receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
            return


async def _send_text(send, status: int, message: str) -> None:
    body = (message + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def deny(scope, send, status: int, message: str, content_type: str = "text/plain; charset=utf-8",
               body: bytes | None = None) -> None:
    """Refuse a WebSocket upgrade with an HTTP response (ASGI ``websocket.http.response``), else a close."""
    data = body if body is not None else (message + "\n").encode()
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]})
        await send({"type": "websocket.http.response.body", "body": data})
    else:
        await send({"type": "websocket.close", "code": 1008})
