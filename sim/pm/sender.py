"""The sender's side: accepting an orchestrator's params, nonce sessions and ticket batches
(docs/tickets.md#what-the-signer-checks-in-the-params, docs/tickets.md#nonces). Error messages are go-livepeer's
``pm/sender.go`` texts.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction

from sim.pm.money import float_string
from sim.pm.params import TicketParams
from sim.pm.crypto import keccak, sign_personal
from sim.pm.ticket import Ticket

__all__ = [
    "SenderInfo", "TicketParamsError", "TicketParamsExpired", "SenderLimits", "validate_ticket_params",
    "validate_sender", "NonceSessions", "SignedTicket", "create_ticket_batch", "PARAMS_EXPIRY_BUFFER",
    "MAX_NONCE",
]

PARAMS_EXPIRY_BUFFER = 1
MAX_NONCE = 2**32 - 1


@dataclass(frozen=True)
class SenderInfo:
    """``TicketBroker.getSenderInfo``: deposit, withdrawRound, reserve remaining and claimed this round."""

    deposit: int = 0
    withdraw_round: int = 0
    reserve: int = 0
    claimed_in_current_round: int = 0


class TicketParamsError(Exception):
    """The sender refuses the params; ``str(e)`` is Go's message."""


class TicketParamsExpired(TicketParamsError):
    def __init__(self) -> None:
        super().__init__("TicketParams expired")


@dataclass(frozen=True)
class SenderLimits:
    max_ticket_ev: Fraction = Fraction(3_000_000_000_000)
    max_total_ev: Fraction = Fraction(20_000_000_000_000)
    deposit_multiplier: int = 1


def validate_sender(info: SenderInfo, last_initialized_round: int) -> None:
    """``ValidateSender`` (both sides): unlock soon, no reserve, no deposit."""
    if info.withdraw_round != 0 and info.withdraw_round <= last_initialized_round + 1:
        raise TicketParamsError("unable to validate sender: deposit and reserve is set to unlock soon")
    if info.reserve == 0:
        raise TicketParamsError("no sender reserve")
    if info.deposit == 0:
        raise TicketParamsError("no sender deposit")


def validate_ticket_params(params: TicketParams | None, n: int, *, last_block: int, limits: SenderLimits,
                           sender_info, last_initialized_round: int) -> None:
    """``validateTicketParams(params, n)`` in Go's order. ``sender_info`` is a :class:`SenderInfo` or a
    zero-argument callable returning one (looked up only when the checks get that far, like Go)."""
    if params is None:
        raise TicketParamsError("ticketParams is nil")
    if params.expiration_block == 0:
        raise TicketParamsError("ticketParams expiration block is 0")
    if params.expiration_block - last_block <= PARAMS_EXPIRY_BUFFER:
        raise TicketParamsExpired()
    ev = params.ev
    if ev <= 0:
        return
    if ev >= params.face_value:
        raise TicketParamsError(f"ticket faceValue too low faceValue={params.face_value}")
    if ev > limits.max_ticket_ev:
        raise TicketParamsError(
            f"ticket EV {float_string(ev, 5)} > max ticket EV {float_string(limits.max_ticket_ev, 5)}")
    info = sender_info() if callable(sender_info) else sender_info
    validate_sender(info, last_initialized_round)
    total = ev * n
    if total > limits.max_total_ev:
        raise TicketParamsError(
            f"total ticket EV {float_string(total, 5)} for {n} tickets > max total ticket EV "
            f"{float_string(limits.max_total_ev, 5)}")
    max_fv = info.deposit // limits.deposit_multiplier
    if params.face_value > max_fv:
        raise TicketParamsError(f"ticket faceValue {params.face_value} > max faceValue {max_fv}")


class NonceSessions:
    """Sender nonce per session (keyed by ``recipientRandHash.Hex()``). Thread-safe.

    Each ticket does ``nonce += 1`` before use, so a fresh session's first ticket has nonce 1.
    """

    def __init__(self) -> None:
        self._nonces: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self, session_id: str, nonce: int = 0) -> None:
        with self._lock:
            self._nonces[session_id] = nonce

    def nonce(self, session_id: str) -> int:
        with self._lock:
            if session_id not in self._nonces:
                raise KeyError(f"error loading session: {session_id}")
            return self._nonces[session_id]

    def reserve(self, session_id: str, count: int) -> range:
        """Atomically take ``count`` nonces; returns them (s+1 … s+count)."""
        with self._lock:
            if session_id not in self._nonces:
                raise KeyError(f"error loading session: {session_id}")
            start = self._nonces[session_id]
            end = start + count
            if end > MAX_NONCE:
                raise OverflowError(f"sender nonce overflow: {end} > {MAX_NONCE}")
            self._nonces[session_id] = end
            return range(start + 1, end + 1)


@dataclass(frozen=True)
class SignedTicket:
    ticket: Ticket
    sig: bytes

    @property
    def nonce(self) -> int:
        return self.ticket.sender_nonce


def create_ticket_batch(priv: bytes, sender: bytes, params: TicketParams, nonces: range | list[int]) -> list[SignedTicket]:
    """Sign one ticket per nonce over the given params (the sender's ``CreateTicketBatch``)."""
    base = Ticket(recipient=params.recipient, sender=bytes(sender), face_value=params.face_value,
                  win_prob=params.win_prob, sender_nonce=0, recipient_rand_hash=params.recipient_rand_hash,
                  creation_round=params.creation_round,
                  creation_round_block_hash=params.creation_round_block_hash)
    # Everything but the nonce is the same for the batch: flatten once, splice each nonce in
    # (docs/tickets.md#the-ticket-hash-and-the-signatures).
    flat = base.flatten()
    head, tail = flat[:104], flat[136:]
    out = []
    for n in nonces:
        t = Ticket(base.recipient, base.sender, base.face_value, base.win_prob, n, base.recipient_rand_hash,
                   base.creation_round, base.creation_round_block_hash)
        h = keccak(head + n.to_bytes(32, "big") + tail)
        out.append(SignedTicket(t, sign_personal(priv, h)))
    return out
