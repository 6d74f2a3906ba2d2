"""Trickle over HTTP: a plain ASGI application serving a :class:`TrickleHub` (go-livepeer ``trickle_server.go``).

Routes, relative to the mount prefix (go-livepeer mounts at ``/ai/trickle/``, docs/orchestrator.md#trickle-channels):

======================  ==============================================================================================
``POST   {ch}``           create-if-exists check (go ``handleCreate``, no autocreate): 200, else 404 ``Stream not found``
``GET    {ch}/next``      200, body and ``Lp-Trickle-Latest`` = next seq; ``Lp-Trickle-Closed: terminated`` if closed
``POST   {ch}/{seq}``     streaming body -> segment; 200 with ``Lp-Trickle-Seq`` when done; ``Lp-Trickle-Reset``
                          closes older segments; 404 unknown channel; 413 oversized (segment dropped); 408 stalled body
``GET    {ch}/{seq}``     streams the segment (``-1`` next, ``-2`` current) with ``Lp-Trickle-Seq``,
                          ``Lp-Trickle-Latest`` (when not the latest) and the channel mime; 470 ``Entry not found`` when
                          the seq is not retained (resync to ``Lp-Trickle-Latest``); 404 unknown / deleted channel
``DELETE {ch}``           close and remove (400 ``Invalid stream`` if unknown, as go)
``DELETE {ch}/{seq}``     close one segment (404 / 400 ``Invalid idx`` / 400 ``Nonexistent segment``)
======================  ==============================================================================================

Response headers are sent with the first byte of the segment (or at its end if it stays empty), exactly like go: a
pre-connected subscriber's GET blocks until the publisher starts writing. Error bodies are go ``http.Error`` style
(``text/plain; charset=utf-8``, message + newline).
"""
from __future__ import annotations

import asyncio
from typing import Optional

from sim.trickle.channel import BudgetExceeded, Channel, Segment, SegmentDropped, TrickleHub

__all__ = ["TrickleApp", "TRICKLE_HTTP_PATH", "STATUS_FELL_BEHIND", "trickle_urls"]

TRICKLE_HTTP_PATH = "/ai/trickle/"  # go-livepeer server/ai_http.go TrickleHTTPPath
STATUS_FELL_BEHIND = 470


def trickle_urls(service_uri: str, manifest_id: str, prefix: str = TRICKLE_HTTP_PATH) -> dict[str, str]:
    """The four LV2V channel URLs as go-livepeer's StartLiveVideoToVideo builds them (publish = the job's input)."""
    base = service_uri.rstrip("/") + "/" + prefix.strip("/") + "/" + manifest_id
    return {"publish_url": base, "subscribe_url": base + "-out", "control_url": base + "-control",
            "events_url": base + "-events"}


def _h(name: str, value) -> tuple[bytes, bytes]:
    # Go's canonical header case on HTTP/1.1 (h2 lowercases on the way out)
    name = "-".join(p[:1].upper() + p[1:] for p in name.split("-"))
    return name.encode("latin-1"), str(value).encode("latin-1")


async def _send_error(send, status: int, message: str, extra: Optional[list] = None) -> None:
    body = (message + "\n").encode()
    headers = [_h("content-type", "text/plain; charset=utf-8"), _h("x-content-type-options", "nosniff"),
               _h("content-length", len(body))] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_plain(send, status: int, body: bytes, headers: list) -> None:
    headers = headers + [_h("content-length", len(body))]
    if body:
        headers.append(_h("content-type", "text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _parse_idx(s: str) -> Optional[int]:
    """Go ``strconv.Atoi``: optional sign, decimal digits only."""
    t = s[1:] if s[:1] in "+-" else s
    if not t or not t.isascii() or not t.isdigit():
        return None
    return int(s)


class TrickleApp:
    """ASGI app. ``prefix`` is stripped from ``scope['path']`` (pass ``""`` if the mount already strips it)."""

    def __init__(self, hub: TrickleHub, prefix: str = TRICKLE_HTTP_PATH) -> None:
        self.hub = hub
        self.prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    self.hub.start()
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await self.hub.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.hub.start()
        if scope.get("http_version", "1.1").startswith("2"):
            send = _h2_send(send)
        path = scope["path"]
        if not path.startswith(self.prefix):
            await _send_error(send, 404, "404 page not found")
            return
        parts = path[len(self.prefix):].split("/")
        method = scope["method"]
        if len(parts) == 1 and parts[0]:
            name = parts[0]
            if method == "POST":
                return await self._create(name, send)
            if method == "DELETE":
                return await self._delete(name, send)
            return await _send_error(send, 405, "Method Not Allowed", [_h("allow", "DELETE, POST")])
        if len(parts) == 2 and parts[0] and parts[1]:
            name, seq = parts
            if seq == "next" and method in ("GET", "HEAD"):
                return await self._next(name, send)
            if method in ("GET", "HEAD"):
                return await self._get(name, seq, scope, receive, send)
            if method == "POST":
                return await self._post(name, seq, scope, receive, send)
            if method == "DELETE":
                return await self._close_seq(name, seq, send)
            return await _send_error(send, 405, "Method Not Allowed", [_h("allow", "DELETE, GET, HEAD, POST")])
        await _send_error(send, 404, "404 page not found")

    # -- channel-level ------------------------------------------------------------------------------------------
    async def _create(self, name: str, send) -> None:
        ch = self.hub.get(name)
        if ch is None and self.hub.config.autocreate:
            ch = self.hub.create(name)
        if ch is None:
            return await _send_error(send, 404, "Stream not found")
        await _send_plain(send, 200, b"", [])

    async def _delete(self, name: str, send) -> None:
        if not self.hub.close(name, "deleted"):
            return await _send_error(send, 400, "Invalid stream")
        await _send_plain(send, 200, b"", [])

    async def _next(self, name: str, send) -> None:
        ch = self.hub.get(name)
        if ch is None:
            return await _send_error(send, 404, "Stream not found")
        headers = [_h("lp-trickle-latest", ch.next_write)]
        if ch.closed:
            headers.append(_h("lp-trickle-closed", "terminated"))
        await _send_plain(send, 200, str(ch.next_write).encode(), headers)

    async def _close_seq(self, name: str, seq: str, send) -> None:
        ch = self.hub.get(name)
        if ch is None:
            return await _send_error(send, 404, "Stream not found")
        idx = _parse_idx(seq)
        if idx is None or idx < 0:
            return await _send_error(send, 400, "Invalid idx")
        seg = ch.ring[idx % len(ch.ring)]
        if seg is None or seg.idx != idx:
            return await _send_error(send, 400, "Nonexistent segment")
        seg.close()
        await _send_plain(send, 200, b"", [])

    # -- subscribe ----------------------------------------------------------------------------------------------
    async def _get(self, name: str, seq: str, scope, receive, send) -> None:
        ch = self.hub.get(name)
        if ch is None:
            return await _send_error(send, 404, "Stream not found")
        idx = _parse_idx(seq)
        if idx is None or idx < -2:
            return await _send_error(send, 400, "Invalid idx")
        seg, latest = ch.get_for_read(idx)
        if seg is None:
            headers = [_h("lp-trickle-latest", latest), _h("lp-trickle-seq", idx)]
            if ch.closed:
                headers.append(_h("lp-trickle-closed", "terminated"))
                await _send_plain(send, 200, b"Entry not found", headers)
                return
            self.hub.emit("trickle.fell_behind", channel=name, requested=idx, latest=latest)
            await _send_plain(send, STATUS_FELL_BEHIND, b"Entry not found", headers)
            return
        self.hub.emit("trickle.subscribed", channel=name, requested=idx, seq=seg.idx, latest=latest)
        head_only = scope["method"] == "HEAD"
        await _until_disconnect(receive, self._stream(ch, seg, latest, send, head_only))

    async def _stream(self, ch: Channel, seg: Segment, latest: int, send, head_only: bool) -> None:
        pos = 0
        started = False
        while True:
            try:
                data, eof = await seg.read(pos)
            except SegmentDropped:
                if started:
                    # end without the final chunk: the server closes the connection and the client sees an
                    # incomplete body, never a complete-looking segment
                    return
                data, eof = b"", True
            if data and not started:
                started = True
                headers = [_h("lp-trickle-seq", seg.idx), _h("content-type", ch.mime)]
                if seg.idx != latest:
                    headers.insert(0, _h("lp-trickle-latest", latest))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
            if data and not head_only:
                await send({"type": "http.response.body", "body": data, "more_body": True})
            pos += len(data)
            if eof:
                break
        if not started:
            # the segment ended without bytes (dropped, skipped, or the channel closed): go answers 200, empty
            headers = [_h("lp-trickle-seq", seg.idx), _h("lp-trickle-latest", ch.next_write),
                       _h("content-length", 0)]
            if ch.closed:
                headers.append(_h("lp-trickle-closed", "terminated"))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- publish ------------------------------------------------------------------------------------------------
    async def _post(self, name: str, seq: str, scope, receive, send) -> None:
        hub, cfg = self.hub, self.hub.config
        ch = hub.get(name)
        if ch is None and cfg.autocreate:
            ch = hub.create(name, _header(scope, b"content-type") or "application/octet-stream")
        if ch is None:
            # go sets Connection: close to wake pre-connected clients
            return await _send_error(send, 404, "Stream not found", [_h("connection", "close")])
        idx = _parse_idx(seq)
        if idx is None or idx < -1:
            return await _send_error(send, 400, "Invalid idx")
        seg = ch.get_for_write(idx)
        if _header(scope, b"lp-trickle-reset") is not None:
            closed = ch.reset_before(seg.idx)
            hub.emit("trickle.publisher.reset", channel=name, seq=seg.idx, closed=closed)

        total = 0
        recv: Optional[asyncio.Task] = None
        try:
            while True:
                if recv is None:
                    recv = asyncio.ensure_future(receive())
                waiters = {recv}
                closed_fut = None
                if total == 0:
                    if seg.closed:
                        break
                    closed_fut = seg.changed()
                    waiters.add(closed_fut)
                    timeout = None
                else:
                    timeout = cfg.body_idle_timeout_s
                done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if closed_fut is not None and not closed_fut.done():
                    closed_fut.cancel()
                if recv not in done:
                    if total == 0:
                        continue  # segment state changed before the first byte: re-check closed
                    # stalled body after the first byte: end the segment where it is
                    seg.close()
                    hub.emit("trickle.segment.dropped", channel=name, seq=seg.idx, bytes=total,
                             reason=f"no body bytes for {cfg.body_idle_timeout_s:g}s")
                    hub.record_published(ch, seg)
                    return await _send_error(
                        send, 408, f"no request body bytes for {cfg.body_idle_timeout_s:g}s; segment {seg.idx} ended",
                        [_h("connection", "close"), _h("lp-trickle-seq", seg.idx)])
                msg = recv.result()
                recv = None
                if msg["type"] == "http.disconnect":
                    if not seg.closed:
                        seg.close()
                    if total:
                        hub.emit("trickle.segment.dropped", channel=name, seq=seg.idx, bytes=total,
                                 reason="publisher disconnected mid-segment")
                    return
                body = msg.get("body", b"")
                if body:
                    if seg.closed:
                        # closed under us (reset by a newer publish, DELETE of the seq, channel closed): stop reading
                        break
                    if total + len(body) > cfg.max_segment_bytes:
                        seg.drop()
                        hub.emit("trickle.segment.dropped", channel=name, seq=seg.idx, bytes=total + len(body),
                                 reason=f"exceeds max_segment_bytes {cfg.max_segment_bytes}")
                        return await _send_error(
                            send, 413, f"segment {seg.idx} exceeds the maximum of {cfg.max_segment_bytes} bytes; "
                                       "segment dropped", [_h("connection", "close")])
                    if total == 0:
                        ch.mark_started(seg)
                    try:
                        seg.write(body)
                    except BudgetExceeded as e:
                        seg.drop()
                        hub.emit("trickle.segment.dropped", channel=name, seq=seg.idx, bytes=total + len(body),
                                 reason=str(e))
                        return await _send_error(send, 413, f"segment {seg.idx} dropped: {e}",
                                                 [_h("connection", "close")])
                    total += len(body)
                if not msg.get("more_body", False):
                    break
        finally:
            if recv is not None and not recv.done():
                recv.cancel()

        headers = [_h("lp-trickle-seq", seg.idx)]
        if total == 0:
            # nothing read: a pre-connect woken by a close, or an empty body; go still advances the write head
            ch.mark_started(seg)
            if ch.closed:
                headers.append(_h("lp-trickle-closed", "terminated"))
            headers.append(_h("connection", "close"))
        was_open = not seg.closed
        seg.close()
        if was_open and total:
            hub.record_published(ch, seg)
        await _send_plain(send, 200, b"", headers)


def _h2_send(send):
    """HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2): drop ``Connection: close`` there."""
    async def wrapped(msg):
        if msg["type"] == "http.response.start":
            msg = dict(msg, headers=[(k, v) for k, v in msg["headers"] if k.lower() != b"connection"])
        await send(msg)
    return wrapped


def _header(scope, name: bytes) -> Optional[str]:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _consume_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


async def _until_disconnect(receive, coro) -> None:
    """Run ``coro`` (a response stream) but stop it when the client goes away."""
    task = asyncio.ensure_future(coro)

    async def watch() -> None:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return

    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The server cancelled us (the connection closed): stop the stream too, and retrieve its outcome so a
        # late "response.start on a closed stream" is not logged as a never-retrieved task exception.
        task.cancel()
        task.add_done_callback(_consume_outcome)
        raise
    finally:
        if not watcher.done():
            watcher.cancel()
    if task not in done:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
        return
    task.result()
