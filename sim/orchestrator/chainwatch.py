"""What the orchestrator knows about the chain, cached per block (go-livepeer's watchers + sender monitor).

go-livepeer never asks the chain on the request path: block number, gas price and round come from watchers,
sender info from a cache. :class:`ChainWatch` does the same: ``refresh()`` (called by the server's block poll)
reads the chain once; requests read the snapshot. Sender info and claimed reserve are cached until the next new
block.

Also here, because it is chain arithmetic: the sender monitor's ``maxFloat``, ``availableFunds`` and
``ValidateSender`` (docs/chain.md#redeeming-a-winning-ticket, docs/orchestrator.md#the-payment-endpoint).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sim.pm.crypto import to_checksum_address
from sim.pm.sender import SenderInfo
from sim.pm.ticket import ZERO_HASH

__all__ = ["ChainSnapshot", "ChainWatch", "MIN_DEPOSIT_PENDING_RATIO"]

MIN_DEPOSIT_PENDING_RATIO = 3  # pm/sendermonitor.go


@dataclass(frozen=True)
class ChainSnapshot:
    last_block: int
    gas_price: int
    current_round: int
    last_initialized_round: int
    creation_round: int  # lastInitializedRound, or round-1 when its block hash is zero (docs/tickets.md#ticket-params)
    creation_round_block_hash: bytes
    pool_size: int
    active: bool  # is the orchestrator an active transcoder this round

    def to_dict(self) -> dict:
        return {"last_block": self.last_block, "gas_price": self.gas_price, "current_round": self.current_round,
                "last_initialized_round": self.last_initialized_round, "creation_round": self.creation_round,
                "creation_round_block_hash": "0x" + self.creation_round_block_hash.hex(),
                "pool_size": self.pool_size, "active": self.active}


class ChainWatch:
    def __init__(self, chain, orchestrator: bytes, on_sender=None) -> None:
        self.chain = chain
        self.orchestrator = bytes(orchestrator)
        self.on_sender = on_sender  # called with (sender, SenderInfo, claimed reserve) on each fresh read
        self.lock = threading.RLock()  # every chain call of this orchestrator goes through it
        self._snap: ChainSnapshot | None = None
        self._senders: dict[bytes, tuple[SenderInfo, int]] = {}
        self.pending: dict[bytes, int] = {}  # face value of redemptions in flight, per sender
        self.last_error: str | None = None

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> tuple[ChainSnapshot, bool]:
        """Read the chain; returns (snapshot, whether the block number moved)."""
        with self.lock:
            c = self.chain
            block = c.last_block()
            lir = c.last_initialized_round()
            rnd, h = lir, bytes(c.block_hash_for_round(lir) or b"")
            if h.rjust(32, b"\x00") == ZERO_HASH and lir > 0:  # Arbitrum-bug fallback (docs/tickets.md#ticket-params)
                rnd = lir - 1
                h = bytes(c.block_hash_for_round(rnd) or b"")
            snap = ChainSnapshot(
                last_block=block, gas_price=c.gas_price(), current_round=c.current_round(),
                last_initialized_round=lir, creation_round=rnd,
                creation_round_block_hash=h.rjust(32, b"\x00")[-32:], pool_size=c.transcoder_pool_size(),
                active=bool(c.is_active_transcoder(self.orchestrator)))
            moved = self._snap is None or snap.last_block != self._snap.last_block
            if moved or snap != self._snap:
                self._senders.clear()
            self._snap = snap
            self.last_error = None
            return snap, moved

    @property
    def snapshot(self) -> ChainSnapshot:
        if self._snap is None:
            return self.refresh()[0]
        return self._snap

    def forget_sender(self, sender: bytes) -> None:
        with self.lock:
            self._senders.pop(bytes(sender), None)

    # ------------------------------------------------------------------ sender monitor
    def sender(self, sender: bytes) -> tuple[SenderInfo, int]:
        """(getSenderInfo, claimedReserve(sender, orchestrator)), cached until the next block."""
        sender = bytes(sender)
        with self.lock:
            hit = self._senders.get(sender)
            if hit is None:
                hit = (self.chain.sender_info(sender), int(self.chain.claimed_reserve(sender, self.orchestrator)))
                self._senders[sender] = hit
                if self.on_sender is not None:
                    self.on_sender(sender, *hit)
            return hit

    def reserve_alloc(self, sender: bytes) -> int:
        info, claimed = self.sender(sender)
        pool = self.snapshot.pool_size
        if pool == 0:
            return 0
        return (info.reserve + info.claimed_in_current_round) // pool - claimed

    def max_float(self, sender: bytes) -> int:
        """``reserveAlloc − pending``, or ``reserveAlloc`` when deposit/pending ≥ 3."""
        info, _ = self.sender(sender)
        alloc = self.reserve_alloc(sender)
        pending = self.pending.get(bytes(sender), 0)
        if pending > 0 and info.deposit >= MIN_DEPOSIT_PENDING_RATIO * pending:
            return alloc
        return alloc - pending

    def available_funds(self, sender: bytes) -> int:
        info, _ = self.sender(sender)
        return self.reserve_alloc(sender) + info.deposit - self.pending.get(bytes(sender), 0)

    def validate_sender(self, sender: bytes) -> None:
        """``ValidateSender``: raises with go-livepeer's message when the sender's unlock ends too soon."""
        try:
            info, _ = self.sender(sender)
        except Exception as exc:
            raise RuntimeError(f"could not get sender info for {to_checksum_address(sender)}: {exc}") from exc
        lir = self.snapshot.last_initialized_round
        if info.withdraw_round != 0 and info.withdraw_round <= lir + 1:
            raise RuntimeError(f"deposit and reserve for sender {to_checksum_address(sender)} is set to unlock soon")
