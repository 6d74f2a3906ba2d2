"""The ``noop`` live-video-to-video pipeline: echo each input segment to the output channel, byte for byte.

go-livepeer's orchestrator (``server/ai_http.go:StartLiveVideoToVideo``) creates four channels for a job with
manifest id ``mid`` and hands them to the AI runner:

* ``{mid}``          (``video/MP2T``)        the gateway publishes input here (the job's ``publish_url``)
* ``{mid}-out``      (``video/MP2T``)        the runner publishes output here (``subscribe_url``)
* ``{mid}-control``  (``application/json``)  the gateway publishes control messages, one JSON object per segment
* ``{mid}-events``   (``application/json``)  the runner publishes status events, one JSON object per segment

and closes all four when the job ends (``closeSession``). Here the runner is in-process: :class:`NoopJob` follows the
input channel, and for every non-empty input segment calls ``on_segment`` (where the orchestrator debits the session,
docs/orchestrator.md#credit-and-debit — go calls its payment processor once per input segment) *before* the first output
byte, then streams the bytes into the next output segment as they arrive.

``on_segment(job, info)`` may be sync or async. Returning a string (or raising :class:`StopJob`) stops the job with
that reason: the output segment is not written, an ``{"type": "error"}`` event goes to the events channel, and all
four channels are closed. Event payloads on ``-events`` are lpdev's own (the AI runner's format is not a protocol).
"""
from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional, Union

from sim.events import register_kinds
from sim.trickle.channel import MIME_JSON, MIME_MPEGTS, SegmentDropped, TrickleHub
from sim.wire import bounded

__all__ = ["NoopJob", "SegmentInfo", "StopJob", "channel_names", "debit_hook", "MAX_CONTROL_MESSAGE_BYTES"]

MAX_CONTROL_MESSAGE_BYTES = 1024 * 1024

register_kinds({
    "trickle.job.started": "a noop live-video-to-video job started (manifest_id, channels)",
    "trickle.job.segment": "the noop job echoed an input segment to its output (manifest_id, in_seq, out_seq, bytes)",
    "trickle.job.control": "the job received a control message (manifest_id, seq, message or error)",
    "trickle.job.stopped": "a noop job stopped (manifest_id, reason, segments)",
})


def channel_names(manifest_id: str) -> dict[str, str]:
    return {"publish": manifest_id, "subscribe": manifest_id + "-out", "control": manifest_id + "-control",
            "events": manifest_id + "-events"}


class StopJob(Exception):
    """Raise from ``on_segment`` to stop the job; the message is the reason."""


@dataclass(frozen=True)
class SegmentInfo:
    in_seq: int     # seq of the input segment on the publish channel
    out_seq: int    # seq the echo will get on the output channel
    index: int      # 0-based count of echoed segments in this job
    at: float       # time.time() when the input segment's first bytes arrived


SegmentHook = Callable[["NoopJob", SegmentInfo], Union[None, str, Awaitable[Optional[str]]]]


def debit_hook(tick: Callable[[], object], *stop_on: type[BaseException]) -> SegmentHook:
    """An ``on_segment`` hook that calls ``tick()`` once per segment (e.g. the orchestrator's ``LiveDebit.tick``,
    docs/orchestrator.md#credit-and-debit) and stops the job with ``str(exc)`` — go's ``insufficient balance, mid=…``
    text — when it raises one of ``stop_on`` (any exception if none given)."""
    catch = stop_on or (Exception,)

    def hook(job: "NoopJob", info: SegmentInfo) -> Optional[str]:
        try:
            tick()
        except catch as e:
            return str(e) or type(e).__name__
        return None

    return hook


@dataclass
class JobStats:
    segments: int = 0
    bytes: int = 0
    control_messages: int = 0
    fell_behind: int = 0
    started_at: float = field(default_factory=time.time)


class NoopJob:
    """One running noop job. ``start()`` creates the channels and the tasks; ``stop(reason)`` ends it."""

    def __init__(self, hub: TrickleHub, manifest_id: str, *, on_segment: Optional[SegmentHook] = None,
                 on_stop: Optional[Callable[["NoopJob", str], None]] = None, params: Optional[dict] = None,
                 max_control_messages: int = 100) -> None:
        self.hub = hub
        self.manifest_id = manifest_id
        self.names = channel_names(manifest_id)
        self.on_segment = on_segment
        self.on_stop = on_stop  # called once, after the channels are closed, with the reason
        self.params = dict(params or {})
        self.stats = JobStats()
        self.control_messages: deque[dict] = deque(maxlen=max_control_messages)
        self.stop_reason: Optional[str] = None
        self._tasks: list[asyncio.Task] = []
        self._events_pub = None
        self._done: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> "NoopJob":
        """Create the four channels (before replying to the gateway, as go does) and start echoing. Needs a loop."""
        h, n = self.hub, self.names
        h.create(n["publish"], MIME_MPEGTS)
        h.create(n["subscribe"], MIME_MPEGTS)
        h.create(n["control"], MIME_JSON)
        h.create(n["events"], MIME_JSON)
        self._events_pub = h.local_publisher(n["events"])
        self._done = asyncio.Event()
        loop = self._loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._echo(), name=f"noop-echo-{self.manifest_id}"),
                       loop.create_task(self._control(), name=f"noop-control-{self.manifest_id}")]
        h.emit("trickle.job.started", manifest_id=self.manifest_id, channels=list(n.values()))
        self._tasks.append(loop.create_task(self._event({"type": "status", "state": "ONLINE", "pipeline": "noop",
                                                         "manifest_id": self.manifest_id})))
        return self

    @property
    def running(self) -> bool:
        return self._done is not None and not self._done.is_set()

    async def wait(self, timeout: Optional[float] = None) -> Optional[str]:
        """Wait until the job stops; returns the reason."""
        assert self._done is not None, "job not started"
        await asyncio.wait_for(self._done.wait(), timeout)
        return self.stop_reason

    async def stop(self, reason: str = "stopped") -> None:
        """Stop once: publish an event, close the four channels (go ``closeSession``), cancel the tasks."""
        if self._done is None or self._done.is_set():
            return
        self.stop_reason = reason
        self._done.set()
        error = reason not in ("stopped", "input closed")
        try:
            await self._event({"type": "error" if error else "status", "state": "OFFLINE", "reason": reason,
                               "manifest_id": self.manifest_id, "segments": self.stats.segments})
        except Exception:
            pass
        for name in self.names.values():
            self.hub.close(name, reason)
        me = asyncio.current_task()
        for t in self._tasks:
            if t is not me and not t.done():
                t.cancel()
        self.hub.emit("trickle.job.stopped", manifest_id=self.manifest_id, reason=reason,
                      segments=self.stats.segments, bytes=self.stats.bytes)
        if self.on_stop is not None:
            try:
                self.on_stop(self, reason)
            except Exception:  # a failing observer must not break the stop
                pass

    def info(self) -> dict:
        """A JSON-able summary (status pages, the TUI)."""
        return {"manifest_id": self.manifest_id, "pipeline": "noop", "running": self.running,
                "stop_reason": self.stop_reason, "segments": self.stats.segments, "bytes": self.stats.bytes,
                "control_messages": self.stats.control_messages, "fell_behind": self.stats.fell_behind,
                "channels": dict(self.names), "params": dict(self.params)}

    def request_stop(self, reason: str) -> None:
        """Stop from any thread (e.g. an admin handler or a chain watcher); returns at once."""
        if self._loop is None or self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.stop(reason), self._loop)

    async def _event(self, obj: dict) -> None:
        if self._events_pub is None or self.hub.get(self.names["events"]) is None:
            return
        try:
            await self._events_pub.write(json.dumps(obj, separators=(",", ":")).encode())
        except (KeyError, SegmentDropped):
            pass

    # -- the pipeline -------------------------------------------------------------------------------------------
    async def _call_hook(self, info: SegmentInfo) -> Optional[str]:
        if self.on_segment is None:
            return None
        try:
            r = self.on_segment(self, info)
            if inspect.isawaitable(r):
                r = await r
        except StopJob as e:
            return str(e) or "stopped by segment hook"
        except Exception as e:  # a broken hook must not leave the job running unpaid
            return f"segment hook failed: {type(e).__name__}: {e}"
        return r if isinstance(r, str) and r else None

    async def _echo(self) -> None:
        sub = self.hub.local_subscriber(self.names["publish"], start_seq=0)  # channels are new: from the start
        pub = self.hub.local_publisher(self.names["subscribe"])
        try:
            while True:
                seg = await sub.next()
                if seg is None:
                    await self.stop("input closed")
                    return
                self.stats.fell_behind = sub.fell_behind
                chunks = seg.chunks()
                try:
                    first = await chunks.__anext__()
                except StopAsyncIteration:
                    continue  # empty input segment (a publisher's pre-connect closed): nothing to echo
                except SegmentDropped:
                    continue
                info = SegmentInfo(in_seq=seg.seq, out_seq=pub.seq, index=self.stats.segments, at=time.time())
                reason = await self._call_hook(info)
                if reason is not None:
                    await self.stop(reason)
                    return
                n = 0
                try:
                    out = pub.next()
                except KeyError:
                    await self.stop("output channel closed")
                    return
                try:
                    await out.write(first)
                    n += len(first)
                    async for chunk in chunks:
                        await out.write(chunk)
                        n += len(chunk)
                except SegmentDropped as e:
                    # input or output segment dropped (too large): drop the echo too, keep the job
                    out.drop(f"noop: {e}")
                    continue
                await out.close()
                self.stats.segments += 1
                self.stats.bytes += n
                self.hub.emit("trickle.job.segment", manifest_id=self.manifest_id, in_seq=info.in_seq,
                              out_seq=info.out_seq, bytes=n)
        except asyncio.CancelledError:
            raise

    async def _control(self) -> None:
        sub = self.hub.local_subscriber(self.names["control"], start_seq=0)
        while True:
            seg = await sub.next()
            if seg is None:
                return
            try:
                raw = await seg.read_all(limit=MAX_CONTROL_MESSAGE_BYTES)
            except SegmentDropped as e:
                self.hub.emit("trickle.job.control", manifest_id=self.manifest_id, seq=seg.seq, error=str(e))
                continue
            if not raw:
                continue
            try:
                msg = bounded.loads_json(raw, what="control message", max_bytes=MAX_CONTROL_MESSAGE_BYTES)
                if not isinstance(msg, dict):
                    raise ValueError("control message must be a JSON object")
            except ValueError as e:  # BoundedInputError included
                e = getattr(e, "problem", e)
                self.hub.emit("trickle.job.control", manifest_id=self.manifest_id, seq=seg.seq,
                              error=f"bad control message: {e}")
                await self._event({"type": "error", "message": f"bad control message at seq {seg.seq}: {e}"})
                continue
            self.stats.control_messages += 1
            self.control_messages.append(msg)
            self.hub.emit("trickle.job.control", manifest_id=self.manifest_id, seq=seg.seq, message=msg)
            if msg.get("keep") == "alive":
                continue
            if isinstance(msg.get("params"), dict):
                self.params.update(msg["params"])
            await self._event({"type": "params_updated", "manifest_id": self.manifest_id, "control_seq": seg.seq,
                               "params": self.params})
