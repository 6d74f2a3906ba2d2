"""One event vocabulary for every actor (README.md#where-each-protocol-concept-lives).

Each protocol step emits an :class:`Event`: who (``actor``), what (``kind``), when (the actor's clock) and the
numbers (``data``). The TUI, traces, scenario assertions and ``--json`` outputs all read these events.

Kinds are namespaced by actor family (``signer.*``, ``orch.*``, ``gateway.*``, ``chain.*``, ``scenario.*``)
and registered with :func:`register_kinds` by the module that emits them, so a typo fails loudly.

Traces are JSONL: a header line ``{"trace": "lpdev", "schema": SCHEMA_VERSION, ...}`` then one event per
line. Serialisation is canonical (sorted keys, no spaces; Fractions as Go ``RatString``; bytes as ``0x``
hex), so the same run gives the same bytes.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from sim.pm.money import rat_string
from sim.wire import bounded

__all__ = [
    "SCHEMA_VERSION", "Event", "EventBus", "KINDS", "register_kinds", "jsonable", "TraceWriter",
    "read_trace", "TraceError", "dumps",
]

SCHEMA_VERSION = 1

KINDS: dict[str, str] = {
    "scenario.step": "a scenario step starts",
    "scenario.expectation": "an expectation or invariant was checked",
    "scenario.note": "free-form explanation for a human",
    "stack.ready": "every service of a stack answers",
    "stack.stopped": "a stack was stopped",
}


def register_kinds(kinds: dict[str, str]) -> None:
    """Add event kinds (name -> one-line meaning). Idempotent."""
    KINDS.update(kinds)


def jsonable(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, Fraction):
        return rat_string(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "0x" + bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset, range)):
        return [jsonable(x) for x in v]
    if hasattr(v, "to_dict"):
        return jsonable(v.to_dict())
    return str(v)


def dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Event:
    seq: int
    t: float
    actor: str
    kind: str
    data: dict

    def to_dict(self) -> dict:
        return {"seq": self.seq, "t": self.t, "actor": self.actor, "kind": self.kind, "data": self.data}

    def to_json(self) -> str:
        return dumps(self.to_dict())

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


class EventBus:
    """Fan-out of events to subscribers, with a bounded memory of recent events.

    ``clock`` is any object with ``now()``; one bus per stack so ``seq`` orders events across actors.
    """

    def __init__(self, clock=None, *, keep: int = 10_000, strict: bool = True) -> None:
        """``strict=False`` accepts kinds nobody registered (a demo with its own vocabulary); the real actors'
        buses stay strict so a typo in a kind fails loudly."""
        self._clock = clock
        self._strict = strict
        self._seq = 0
        self._lock = threading.Lock()
        self._subs: list[Callable[[Event], None]] = []
        self.recent: deque[Event] = deque(maxlen=keep)

    def emit(self, actor: str, kind: str, **data: Any) -> Event:
        if self._strict and kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}: register it with sim.events.register_kinds")
        with self._lock:
            self._seq += 1
            t = float(self._clock.now()) if self._clock is not None else 0.0
            ev = Event(self._seq, round(t, 6), actor, kind, jsonable(data))
            self.recent.append(ev)
            subs = list(self._subs)
        for fn in subs:
            fn(ev)
        return ev

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def of_kind(self, *kinds: str) -> list[Event]:
        return [e for e in self.recent if e.kind in kinds]


class TraceError(ValueError):
    pass


class TraceWriter:
    """Writes a JSONL trace: a header then one event per line, flushed as it goes."""

    def __init__(self, path: str | Path, **meta: Any) -> None:
        """Raises :class:`TraceError` (one line naming the path) when the file cannot be written."""
        self.path = Path(path)
        try:
            self._f = open(self.path, "w", encoding="utf-8")
        except IsADirectoryError:
            raise TraceError(f"{self.path}: is a directory; --trace wants a file name") from None
        except OSError as exc:
            raise TraceError(f"{self.path}: cannot write the trace: {exc.strerror or exc}") from None
        self._lock = threading.Lock()
        header = {"trace": "lpdev", "schema": SCHEMA_VERSION, **meta}
        self._f.write(dumps(header) + "\n")

    def __call__(self, ev: Event) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.write(ev.to_json() + "\n")

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()


MAX_TRACE_LINE = 4 << 20  # one event line


def read_trace(path: str | Path) -> tuple[dict, Iterator[Event]]:
    """Header and a lazy iterator of events. Every problem (not a file, not UTF-8 text, a line that is not bounded
    JSON, a bad event) is a :class:`TraceError` naming the file and line."""
    path = Path(path)
    try:
        f = open(path, "rb")
        first = f.readline(MAX_TRACE_LINE + 1)
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        header = bounded.loads_json(first.rstrip(b"\r\n") or b" ", what=str(path), line=1,
                                    max_bytes=MAX_TRACE_LINE)
    except bounded.BoundedInputError as exc:
        f.close()
        raise TraceError(f"{path}:1: not an lpdev trace ({exc.problem})") from None
    if not isinstance(header, dict) or header.get("trace") != "lpdev":
        f.close()
        raise TraceError(f"{path}:1: not an lpdev trace (missing \"trace\": \"lpdev\" header)")
    if header.get("schema") != SCHEMA_VERSION:
        f.close()
        raise TraceError(f"{path}:1: trace schema {header.get('schema')!r}, this lpdev reads {SCHEMA_VERSION}")

    def events() -> Iterator[Event]:
        with f:
            lines = bounded.iter_jsonl(f, what=str(path), first_line=2, max_line_bytes=MAX_TRACE_LINE)
            while True:
                try:
                    lineno, d = next(lines)
                except StopIteration:
                    return
                except (bounded.BoundedInputError, OSError) as exc:
                    raise TraceError(f"{getattr(exc, 'what', path)}:{getattr(exc, 'line', '?')}: bad event line "
                                     f"({getattr(exc, 'problem', exc)})") from None
                try:
                    if not isinstance(d, dict) or not isinstance(d.get("data"), dict):
                        raise ValueError("want an object with seq, t, actor, kind and data{}")
                    t = bounded.parse_float(d["t"], what="t")
                    yield Event(bounded.parse_int(d["seq"], what="seq"), t, str(d["actor"]), str(d["kind"]),
                                d["data"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise TraceError(f"{path}:{lineno}: bad event line ({getattr(exc, 'problem', exc)})") from None

    return header, events()


def write_events(path: str | Path, events: Iterable[Event], **meta: Any) -> None:
    w = TraceWriter(path, **meta)
    try:
        for e in events:
            w(e)
    finally:
        w.close()


__all__.append("write_events")
