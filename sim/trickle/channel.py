"""Trickle channels in memory: segments, channels, the hub, and in-process publishers/subscribers.

Semantics follow go-livepeer ``trickle/trickle_server.go`` (docs/orchestrator.md#trickle-channels):

* A channel keeps a ring of the last ``retained_segments`` segments (go: ``maxSegmentsPerStream = 5``), indexed by
  ``seq % N``; a slot holding another seq counts as "not there" (a subscriber that asks for it fell behind: 470).
* ``next_write`` is the seq after the last segment that received bytes; ``-1`` reads/writes resolve to it, ``-2``
  reads resolve to ``next_write - 1`` (the segment being written), a read of ``next_write`` pre-creates that segment
  so the subscriber waits for it (go also allows ``1`` while nothing was written yet).
* A segment is readable while it is being written: readers get what is there and then every new chunk.
* A publisher reset (``Lp-Trickle-Reset``) closes every older segment so hanging subscribers wake up.
* Closing a channel closes every segment (waiters wake) and removes it; readers then see end of stream.

lpdev bounds memory where go-livepeer does not: a per-segment byte cap (an oversized segment is *dropped*: its bytes
are freed and readers mid-stream are cut off), a channel-count cap, and an idle sweep (go: 5 min) so no channel, no
pre-connected request and no waiting subscriber lives forever.

Everything here runs on one asyncio event loop; :meth:`TrickleHub.close` may also be called from another thread
(it wakes waiters thread-safely).
"""
from __future__ import annotations

import asyncio
import threading
import time
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

from sim.events import register_kinds

__all__ = [
    "TrickleConfig", "Segment", "Channel", "TrickleHub", "LocalPublisher", "LocalSubscriber", "LocalSegment",
    "SegmentDropped", "BudgetExceeded", "TooManyChannels", "MemoryBudget", "MIME_MPEGTS", "MIME_JSON",
]

MIME_MPEGTS = "video/MP2T"  # what go-livepeer's StartLiveVideoToVideo creates the media channels with
MIME_JSON = "application/json"

register_kinds({
    "trickle.channel.created": "a trickle channel was created (name, mime)",
    "trickle.channel.closed": "a trickle channel was closed and removed (name, reason, next_seq)",
    "trickle.segment.published": "a publisher finished a segment (channel, seq, bytes)",
    "trickle.segment.dropped": "a segment was dropped or cut short (channel, seq, bytes, reason)",
    "trickle.publisher.reset": "a publisher sent Lp-Trickle-Reset; older segments were closed (channel, seq)",
    "trickle.subscribed": "a subscriber was given a segment (channel, requested, seq, latest)",
    "trickle.fell_behind": "a subscriber asked for a segment no longer retained: 470 (channel, requested, latest)",
})


@dataclass(frozen=True)
class TrickleConfig:
    """Limits. Defaults: go-livepeer's retention (5) and idle timeout (5 min, swept every minute)."""

    retained_segments: int = 5
    max_segment_bytes: int = 16 * 1024 * 1024
    max_channels: int = 1024
    # all retained segment bytes of the hub together (a write beyond it drops that segment: 413)
    max_total_bytes: int = 512 * 1024 * 1024
    idle_timeout_s: float = 300.0
    sweep_interval_s: float = 60.0
    # After a publisher's first body byte, the longest pause between chunks before the segment is ended (408).
    # Before the first byte a pre-connected POST waits as long as its channel lives (go sends 100 Continue).
    body_idle_timeout_s: float = 30.0
    autocreate: bool = False

    def __post_init__(self) -> None:
        if self.retained_segments < 2:
            raise ValueError("retained_segments must be >= 2")
        if self.max_segment_bytes < 1:
            raise ValueError("max_segment_bytes must be >= 1")


class SegmentDropped(Exception):
    """The segment was dropped (too large) after the reader started: its bytes are gone."""


class BudgetExceeded(SegmentDropped):
    """A write would take the hub past ``max_total_bytes``."""


class TooManyChannels(Exception):
    pass


class MemoryBudget:
    """Bytes held by retained segments, across the hub (each chunk also pays for its bookkeeping)."""

    TRIM_EVERY = 16 << 20  # give freed memory back to the system after this much was released

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n
            self._freed += n

    def maybe_trim(self) -> None:
        """Call where released segments became garbage: after enough was freed, return the heap's free pages to
        the system, so a burst does not leave the process holding its peak (glibc keeps freed memory otherwise)."""
        with self._lock:
            if self._freed < self.TRIM_EVERY:
                return
            self._freed = 0
        _malloc_trim()


def _load_malloc_trim():
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _load_malloc_trim()


def _malloc_trim() -> None:
    if _TRIM is not None:
        _TRIM(0)


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class _Signal:
    """Wakes every waiter on ``fire()``; safe to fire from another thread."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future] = []

    def future(self) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def fire(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if fut.done():
                continue
            loop = fut.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                fut.set_result(None)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, fut)


CHUNK_OVERHEAD = 96  # a bytes object, its list slot and its offset: what each chunk costs beyond its bytes


class Segment:
    """One segment: an append-only list of immutable chunks that readers follow while it grows. Chunks are kept as
    they arrived and handed to readers as they are (no copy, no buffer that grows by reallocation), so the memory
    a segment takes is its bytes plus a small cost per chunk — both counted in the hub's budget."""

    __slots__ = ("idx", "_chunks", "_ends", "_size", "closed", "dropped", "_signal", "created_at", "_budget",
                 "_held")

    def __init__(self, idx: int, budget: Optional[MemoryBudget] = None) -> None:
        self.idx = idx
        self._budget = budget
        self._held = 0  # bytes counted in the budget
        self._chunks: list[bytes] = []
        self._ends = array("q")  # end offset of each chunk
        self._size = 0
        self.closed = False
        self.dropped = False
        self._signal = _Signal()
        self.created_at = time.monotonic()

    def __len__(self) -> int:
        return self._size

    @property
    def fresh(self) -> bool:
        """Not written to yet and still open (go ``isFresh``)."""
        return not self.closed and not self._size

    def write(self, data: bytes) -> None:
        if self.closed:
            raise RuntimeError(f"segment {self.idx} is closed")
        if data:
            cost = len(data) + CHUNK_OVERHEAD
            if self._budget is not None:
                if not self._budget.take(cost):
                    raise BudgetExceeded(f"trickle memory budget of {self._budget.limit} bytes exhausted")
                self._held += cost
            self._chunks.append(data if type(data) is bytes else bytes(data))
            self._size += len(data)
            self._ends.append(self._size)
            self._signal.fire()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._signal.fire()

    def drop(self) -> None:
        """Free the bytes and close; readers that already got bytes see :class:`SegmentDropped`."""
        self.dropped = True
        self._chunks = []
        self._ends = array("q")
        self._size = 0
        self.release()
        self.closed = True
        self._signal.fire()
        if self._budget is not None:
            self._budget.maybe_trim()

    def release(self) -> None:
        """No longer retained by its channel: give its bytes back to the budget (readers may still hold them)."""
        if self._budget is not None and self._held:
            self._budget.give(self._held)
            self._held = 0

    def changed(self) -> asyncio.Future:
        """A future resolved at the next write/close."""
        return self._signal.future()

    async def read(self, pos: int) -> tuple[bytes, bool]:
        """The bytes from ``pos`` to the end of the chunk holding it (waiting for some if none yet), and whether
        the segment is complete after them. A reader that reads on from where it stopped gets whole chunks."""
        while True:
            if self.dropped:
                raise SegmentDropped(f"segment {self.idx} was dropped")
            if self._size > pos:
                i = bisect_right(self._ends, pos)
                chunk = self._chunks[i]
                start = self._ends[i] - len(chunk)
                data = chunk if pos == start else chunk[pos - start:]
                return data, self.closed and pos + len(data) == self._size
            if self.closed:
                return b"", True
            await self.changed()

    def snapshot(self) -> bytes:
        return b"".join(self._chunks)


class Channel:
    """A named stream of segments (go ``Stream``)."""

    def __init__(self, name: str, mime: str, retained: int, budget: Optional[MemoryBudget] = None) -> None:
        self.name = name
        self._budget = budget
        self.mime = mime
        self._n = retained
        self.ring: list[Optional[Segment]] = [None] * retained
        self.next_write = 0
        self.write_time = time.monotonic()
        self.closed = False
        self.segments_published = 0
        self.bytes_published = 0

    def _slot(self, idx: int) -> Optional[Segment]:
        seg = self.ring[idx % self._n]
        return seg if seg is not None and seg.idx == idx else None

    def get_for_write(self, idx: int) -> Segment:
        """The segment a publisher writes ``idx`` into (``-1`` = next write). A completed segment with the same seq
        is replaced by a fresh one (a repeated POST); a different seq in the slot is an old segment: closed."""
        if idx == -1:
            idx = self.next_write
        pos = idx % self._n
        seg = self.ring[pos]
        if seg is not None:
            if seg.idx == idx and not seg.closed:
                return seg
            seg.close()
            seg.release()
        seg = Segment(idx, self._budget)
        self.ring[pos] = seg
        if self._budget is not None:
            self._budget.maybe_trim()
        return seg

    def resolve_read(self, idx: int) -> int:
        if idx == -1:
            return self.next_write
        if idx == -2:
            return self.next_write - 1 if self.next_write > 0 else 0
        return idx

    def get_for_read(self, idx: int) -> tuple[Optional[Segment], int]:
        """(segment or None, latest) for a subscriber's ``idx`` (go ``getForRead``); ``latest`` = next_write."""
        idx = self.resolve_read(idx)
        seg = self._slot(idx)
        if seg is None and not self.closed and (idx == self.next_write or (self.next_write == 0 and idx == 1)):
            # the read is just ahead of the write head: pre-create so the subscriber waits for it
            old = self.ring[idx % self._n]
            if old is not None:
                old.close()
                old.release()
            seg = Segment(idx, self._budget)
            self.ring[idx % self._n] = seg
        return seg, self.next_write

    def mark_started(self, seg: Segment) -> None:
        """First byte of ``seg`` arrived (or an empty POST completed): it becomes the live edge."""
        self.next_write = seg.idx + 1
        self.write_time = time.monotonic()

    def reset_before(self, idx: int) -> list[int]:
        closed = []
        for seg in self.ring:
            if seg is not None and seg.idx < idx and not seg.closed:
                seg.close()
                closed.append(seg.idx)
        return closed

    def close(self) -> None:
        for seg in self.ring:
            if seg is not None:
                seg.close()
                seg.release()
        self.ring = [None] * self._n
        self.closed = True

    def retained_bytes(self) -> int:
        return sum(len(s) for s in self.ring if s is not None)


class TrickleHub:
    """All channels of one server. Create/close channels here; serve them with :class:`sim.trickle.server.TrickleApp`.

    ``bus`` (a :class:`sim.events.EventBus`) receives ``trickle.*`` events under ``actor``.
    """

    def __init__(self, config: Optional[TrickleConfig] = None, *, bus=None, actor: str = "orch") -> None:
        self.config = config or TrickleConfig()
        self.bus = bus
        self.actor = actor
        self._channels: dict[str, Channel] = {}
        self._lock = threading.RLock()
        self._sweeper: Optional[asyncio.Task] = None
        self.budget = MemoryBudget(self.config.max_total_bytes)

    # -- events -------------------------------------------------------------------------------------------------
    def emit(self, kind: str, **data: Any) -> None:
        if self.bus is not None:
            self.bus.emit(self.actor, kind, **data)

    # -- channels -----------------------------------------------------------------------------------------------
    def create(self, name: str, mime: str = MIME_MPEGTS) -> Channel:
        """Create ``name`` (idempotent, like go ``getOrCreateStream(..., forceCreate=true)``)."""
        if not name or "/" in name:
            raise ValueError(f"invalid trickle channel name {name!r}")
        with self._lock:
            ch = self._channels.get(name)
            if ch is not None:
                return ch
            if len(self._channels) >= self.config.max_channels:
                raise TooManyChannels(f"too many trickle channels (max {self.config.max_channels})")
            ch = Channel(name, mime, self.config.retained_segments, self.budget)
            self._channels[name] = ch
        self.emit("trickle.channel.created", name=name, mime=mime)
        return ch

    def get(self, name: str) -> Optional[Channel]:
        with self._lock:
            return self._channels.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._channels)

    def close(self, name: str, reason: str = "closed") -> bool:
        """Close and remove ``name``; False if it does not exist."""
        with self._lock:
            ch = self._channels.pop(name, None)
        if ch is None:
            return False
        ch.close()
        self.budget.maybe_trim()
        self.emit("trickle.channel.closed", name=name, reason=reason, next_seq=ch.next_write)
        return True

    def close_all(self, reason: str = "shutdown") -> None:
        for name in self.names():
            self.close(name, reason)

    def retained_bytes(self) -> int:
        with self._lock:
            chans = list(self._channels.values())
        return sum(c.retained_bytes() for c in chans)

    # -- idle sweep ---------------------------------------------------------------------------------------------
    def sweep(self, now: Optional[float] = None) -> list[str]:
        """Close channels with no new segment for ``idle_timeout_s`` (go ``sweepIdleChannels``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [c.name for c in self._channels.values()
                    if not c.name.startswith("_") and now - c.write_time > self.config.idle_timeout_s]
        for name in idle:
            self.close(name, "idle")
        return idle

    def start(self) -> None:
        """Start the idle sweeper on the running loop (idempotent; the ASGI app calls it on first request)."""
        if self._sweeper is not None and not self._sweeper.done():
            return
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            self.sweep()

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except BaseException:
                pass
            self._sweeper = None
        self.close_all("shutdown")

    # -- in-process clients (go TrickleLocalPublisher / TrickleLocalSubscriber) ---------------------------------
    def local_publisher(self, name: str) -> "LocalPublisher":
        return LocalPublisher(self, name)

    def local_subscriber(self, name: str, start_seq: int = -1) -> "LocalSubscriber":
        return LocalSubscriber(self, name, start_seq)

    def record_published(self, ch: Channel, seg: Segment) -> None:
        ch.segments_published += 1
        ch.bytes_published += len(seg)
        self.emit("trickle.segment.published", channel=ch.name, seq=seg.idx, bytes=len(seg))


class LocalSegmentWriter:
    def __init__(self, hub: TrickleHub, ch: Channel, seg: Segment) -> None:
        self._hub, self._ch, self._seg = hub, ch, seg
        self.seq = seg.idx
        self._started = False

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._seg.closed:
            raise SegmentDropped(f"segment {self.seq} of {self._ch.name} is closed")
        if len(self._seg) + len(data) > self._hub.config.max_segment_bytes:
            n = len(self._seg) + len(data)
            self._seg.drop()
            self._hub.emit("trickle.segment.dropped", channel=self._ch.name, seq=self.seq, bytes=n,
                           reason=f"exceeds max_segment_bytes {self._hub.config.max_segment_bytes}")
            raise SegmentDropped(f"segment {self.seq} exceeds {self._hub.config.max_segment_bytes} bytes")
        if not self._started:
            self._started = True
            self._ch.mark_started(self._seg)
        try:
            self._seg.write(data)
        except BudgetExceeded as e:
            self.drop(str(e))
            raise

    async def close(self) -> None:
        if not self._seg.closed:
            self._seg.close()
            if self._started:
                self._hub.record_published(self._ch, self._seg)

    def drop(self, reason: str) -> None:
        """Abandon this segment: free its bytes; readers mid-stream are cut off."""
        if not self._seg.dropped:
            n = len(self._seg)
            self._seg.drop()
            self._hub.emit("trickle.segment.dropped", channel=self._ch.name, seq=self.seq, bytes=n, reason=reason)

    async def __aenter__(self) -> "LocalSegmentWriter":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class LocalPublisher:
    """Writes segments seq 0, 1, 2, ... into a channel without HTTP."""

    def __init__(self, hub: TrickleHub, name: str) -> None:
        self.hub, self.name = hub, name
        self.seq = 0

    def next(self) -> LocalSegmentWriter:
        ch = self.hub.get(self.name)
        if ch is None or ch.closed:
            raise KeyError(f"trickle channel {self.name!r} does not exist")
        seg = ch.get_for_write(self.seq)
        ch.get_for_write(self.seq + 1)  # pre-create the next one so subscribers can wait on it (go does too)
        self.seq += 1
        return LocalSegmentWriter(self.hub, ch, seg)

    async def write(self, data: bytes) -> int:
        async with self.next() as w:
            await w.write(data)
        return w.seq


class LocalSegment:
    def __init__(self, seg: Segment, latest: int, mime: str) -> None:
        self._seg = seg
        self.seq = seg.idx
        self.latest = latest
        self.mime = mime

    async def chunks(self) -> AsyncIterator[bytes]:
        pos = 0
        while True:
            data, eof = await self._seg.read(pos)
            pos += len(data)
            if data:
                yield data
            if eof:
                return

    async def read_all(self, limit: Optional[int] = None) -> bytes:
        out = bytearray()
        async for c in self.chunks():
            out += c
            if limit is not None and len(out) > limit:
                raise SegmentDropped(f"segment {self.seq} exceeds {limit} bytes")
        return bytes(out)


class LocalSubscriber:
    """Follows a channel segment by segment; resyncs to the live edge when it falls behind."""

    def __init__(self, hub: TrickleHub, name: str, start_seq: int = -1) -> None:
        self.hub, self.name = hub, name
        self.seq = start_seq
        self.fell_behind = 0

    async def next(self) -> Optional[LocalSegment]:
        """The next segment, or None at end of stream (channel closed or gone)."""
        while True:
            ch = self.hub.get(self.name)
            if ch is None or ch.closed:
                return None
            seg, latest = ch.get_for_read(self.seq)
            if seg is not None:
                self.seq = seg.idx + 1
                return LocalSegment(seg, latest, ch.mime)
            if latest < self.seq:  # ahead of the live edge: wait for the publisher
                await asyncio.sleep(0.05)
                continue
            self.fell_behind += 1
            self.hub.emit("trickle.fell_behind", channel=self.name, requested=self.seq, latest=latest)
            self.seq = latest
