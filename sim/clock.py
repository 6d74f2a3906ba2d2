"""Clocks and seeded randomness: deterministic when asked
(README.md#scenarios-lpdev-scenario-and-lpdev-bench-scenario).

Protocol code never calls ``time.time()`` or ``os.urandom`` directly: it takes a :class:`Clock` and a
:class:`Rng`. :class:`VirtualClock` + ``Rng(seed)`` make a scenario replay byte-identically.
"""
from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timezone

__all__ = ["Clock", "RealClock", "VirtualClock", "ScaledClock", "Rng"]


class Clock:
    """Seconds since the Unix epoch as float; ``now_ns`` for RFC3339Nano timestamps."""

    def now(self) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def now_ns(self) -> int:
        return int(round(self.now() * 1e9))

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RealClock(Clock):
    def now(self) -> float:
        return time.time()

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)


class VirtualClock(Clock):
    """Time moves only when told to. ``sleep`` advances it instantly."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self._ns = int(round(start * 1e9))
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._ns / 1e9

    def now_ns(self) -> int:
        return self._ns

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._ns += int(round(seconds * 1e9))

    def set(self, t: float) -> None:
        with self._lock:
            self._ns = int(round(t * 1e9))

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class ScaledClock(VirtualClock):
    """A virtual clock that runs by itself, ``speed`` virtual seconds per wall second (the TUI demo's pace);
    ``advance`` still jumps it. ``sleep`` waits the scaled wall time."""

    def __init__(self, start: float = 1_780_000_000.0, speed: float = 10.0) -> None:
        super().__init__(start)
        self.speed = float(speed)
        self._t0 = time.monotonic()

    def _running_ns(self) -> int:
        return int((time.monotonic() - self._t0) * self.speed * 1e9)

    def now_ns(self) -> int:
        return self._ns + self._running_ns()

    def now(self) -> float:
        return self.now_ns() / 1e9

    def set(self, t: float) -> None:
        with self._lock:
            self._ns = int(round(t * 1e9)) - self._running_ns()

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(max(0.0, seconds) / self.speed)


class Rng:
    """Random bytes and ids. Seeded: deterministic. Unseeded: the OS's CSPRNG."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._r = random.Random(seed) if seed is not None else None
        self._lock = threading.Lock()

    def bytes(self, n: int) -> bytes:
        if self._r is None:
            return os.urandom(n)
        with self._lock:
            return self._r.getrandbits(8 * n).to_bytes(n, "big") if n else b""

    def hex_id(self, nbytes: int = 4) -> str:
        """go-livepeer ``RandomManifestID``-style id: 4 random bytes as 8 lowercase hex chars."""
        return self.bytes(nbytes).hex()

    def int(self, bits: int = 256) -> int:
        return int.from_bytes(self.bytes(bits // 8), "big")

    def child(self, label: str) -> "Rng":
        """An independent stream for one actor, still deterministic under a seed."""
        if self.seed is None:
            return Rng(None)
        import hashlib

        h = hashlib.sha256(f"{self.seed}:{label}".encode()).digest()
        return Rng(int.from_bytes(h[:8], "big"))
