"""A small trickle client over HTTP (aiohttp): lpdev's own publisher and subscriber, no SDK needed.

The protocol as the livepeer-gateway SDK speaks it (docs/orchestrator.md#trickle-channels;
go-livepeer ``trickle/README.md``), in the subset a scripted gateway needs:

* :class:`TricklePublisher`: ``GET {ch}/next`` -> ``Lp-Trickle-Latest`` is the first seq; then one
  ``POST {ch}/{seq}`` per segment (the first with ``Lp-Trickle-Reset: 1``); 404 on a POST = the channel is gone
  (:class:`ChannelGone`); ``close()`` sends ``DELETE {ch}`` (the job's input ends: "input closed").
* :class:`TrickleSubscriber`: ``GET {ch}/{seq}`` from ``start_seq``; 200 = the segment (``Lp-Trickle-Seq``);
  a 200 with ``Lp-Trickle-Closed: terminated`` (no segment) or a 404 = end of stream; 470 = fell behind, resync to
  ``Lp-Trickle-Latest``; an empty 200 without ``Lp-Trickle-Closed`` = a skipped segment, move on.

Segments are sent and read whole (lpdev's generated segments are small); the server side streams them anyway.
Certificates are never verified (the orchestrator's certificate is self-signed; the SDK does the same,
docs/wire.md#transport).
"""
from __future__ import annotations

import asyncio
from typing import Optional

import aiohttp

__all__ = ["ChannelGone", "TrickleError", "TricklePublisher", "TrickleSubscriber", "STATUS_FELL_BEHIND"]

STATUS_FELL_BEHIND = 470


class TrickleError(Exception):
    """An unexpected trickle answer: status and body text."""


class ChannelGone(TrickleError):
    """404 on a POST or GET: the channel no longer exists (the job ended)."""


def _new_http() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))


class TricklePublisher:
    """Publishes whole segments to ``url`` (a channel URL such as a job's ``publish_url``)."""

    def __init__(self, url: str, mime: str = "video/mp2t", *, http: Optional[aiohttp.ClientSession] = None,
                 timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.mime = mime
        self._http = http
        self._own_http = http is None
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.seq: Optional[int] = None  # the next seq to write; None until start()
        self.published = 0
        self.closed = False

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = _new_http()
        return self._http

    async def start(self) -> int:
        """``GET {ch}/next``: the seq the first segment gets."""
        http = await self._session()
        async with http.get(self.url + "/next", timeout=self.timeout) as r:
            text = await r.text()
            if r.status == 404:
                raise ChannelGone(f"trickle GET next: 404 {text.strip()}")
            if r.status != 200:
                raise TrickleError(f"trickle GET next: {r.status} {text.strip()}")
            self.seq = int(r.headers.get("Lp-Trickle-Latest", text.strip() or "0"))
        return self.seq

    async def publish(self, data: bytes) -> int:
        """``POST {ch}/{seq}`` with the whole segment; returns its seq."""
        if self.closed:
            raise ChannelGone("publisher closed")
        if self.seq is None:
            await self.start()
        seq = self.seq
        headers = {"Content-Type": self.mime}
        if self.published == 0:
            headers["Lp-Trickle-Reset"] = "1"
        http = await self._session()
        async with http.post(f"{self.url}/{seq}", data=data, headers=headers, timeout=self.timeout) as r:
            text = await r.text()
            if r.status == 404:
                raise ChannelGone(f"trickle POST {seq}: 404 {text.strip()}")
            if r.status != 200:
                raise TrickleError(f"trickle POST {seq}: {r.status} {text.strip()}")
        self.seq = seq + 1
        self.published += 1
        return seq

    async def close(self) -> int | None:
        """``DELETE {ch}``: end the stream. Returns the status (None if the request failed); idempotent."""
        if self.closed:
            return None
        self.closed = True
        status = None
        try:
            http = await self._session()
            async with http.delete(self.url, timeout=self.timeout) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass
        finally:
            if self._own_http and self._http is not None:
                await self._http.close()
                self._http = None
        return status


class TrickleSubscriber:
    """Reads whole segments from ``url`` (e.g. a job's ``subscribe_url``) until the end of the stream."""

    def __init__(self, url: str, *, start_seq: int = 0, http: Optional[aiohttp.ClientSession] = None,
                 timeout_s: Optional[float] = None, max_resyncs: int = 100) -> None:
        self.url = url.rstrip("/")
        self.seq = start_seq
        self._http = http
        self._own_http = http is None
        # no total timeout by default: a pre-connected GET waits for the publisher's next segment
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=10)
        self.fell_behind = 0
        self.max_resyncs = max_resyncs
        self.ended = False

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = _new_http()
        return self._http

    async def next(self) -> Optional[tuple[int, bytes]]:
        """``(seq, body)`` of the next segment, or None at the end of the stream."""
        if self.ended:
            return None
        http = await self._session()
        resyncs = 0
        while True:
            async with http.get(f"{self.url}/{self.seq}", timeout=self.timeout) as r:
                body = await r.read()
                h = r.headers
                if r.status == 404:
                    self.ended = True
                    return None
                if r.status == STATUS_FELL_BEHIND:
                    self.fell_behind += 1
                    resyncs += 1
                    if resyncs > self.max_resyncs:
                        raise TrickleError(f"trickle GET {self.seq}: fell behind {resyncs} times in a row")
                    self.seq = int(h.get("Lp-Trickle-Latest", self.seq + 1))
                    continue
                if r.status != 200:
                    raise TrickleError(f"trickle GET {self.seq}: {r.status} {body.decode('utf-8', 'replace').strip()}")
                seq = int(h.get("Lp-Trickle-Seq", self.seq))
                if h.get("Lp-Trickle-Closed"):  # only on answers without a segment ("Entry not found" / empty)
                    self.ended = True
                    return None
                if not body:
                    self.seq = seq + 1  # an empty (skipped) segment
                    continue
                self.seq = seq + 1
                return seq, body

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> "TrickleSubscriber":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
