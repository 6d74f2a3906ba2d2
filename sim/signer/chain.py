"""Cached chain reads for the signer (docs/tickets.md#what-the-signer-checks-in-the-params).

go-livepeer's sender never asks the chain inside a request: the block watcher keeps ``LastSeenL1Block`` and the
round, the sender monitor keeps ``SenderInfo``. lpdev does the same with a small cache over any
:class:`~sim.chainview.ChainView`: one snapshot (last block, last initialized round and its block hash, the
signer's own sender info) is reused for ``max_age_s`` (0.5 s by default) so a request costs no RPC, and can be
refreshed on demand when a check fails on possibly stale data (e.g. a deposit funded a moment ago).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sim.pm.sender import SenderInfo

__all__ = ["ChainSnapshot", "ChainCache"]


@dataclass(frozen=True)
class ChainSnapshot:
    last_block: int
    last_initialized_round: int
    round_block_hash: bytes  # blockHashForRound(last_initialized_round)
    sender_info: SenderInfo
    taken_at: float  # clock time of the reads


class ChainCache:
    def __init__(self, view, sender: bytes, clock, *, max_age_s: float = 0.5) -> None:
        self.view = view
        self.sender = bytes(sender)
        self.clock = clock
        self.max_age_s = max_age_s
        self._snap: ChainSnapshot | None = None
        self._lock = threading.Lock()
        self.reads = 0  # number of refreshes (each is ~4 chain calls)

    def _read(self) -> ChainSnapshot:
        rnd = int(self.view.last_initialized_round())
        return ChainSnapshot(
            last_block=int(self.view.last_block()),
            last_initialized_round=rnd,
            round_block_hash=bytes(self.view.block_hash_for_round(rnd) or b"\x00" * 32),
            sender_info=self.view.sender_info(self.sender),
            taken_at=self.clock.now(),
        )

    def stale(self) -> bool:
        s = self._snap
        if s is None or self.max_age_s <= 0:
            return True
        age = self.clock.now() - s.taken_at
        return age > self.max_age_s or age < 0

    def get(self, *, force: bool = False) -> ChainSnapshot:
        """The current snapshot, re-read if older than ``max_age_s`` (or ``force``)."""
        if not force and not self.stale():
            return self._snap  # type: ignore[return-value]
        with self._lock:
            if force or self.stale():
                self._snap = self._read()
                self.reads += 1
            return self._snap  # type: ignore[return-value]

    def age(self) -> float:
        s = self._snap
        return float("inf") if s is None else self.clock.now() - s.taken_at
