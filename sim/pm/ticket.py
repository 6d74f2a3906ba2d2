"""The PM ticket: fields, hash with auxData, EV, and the win test (docs/tickets.md).

``ticketHash = keccak(recipient ‖ sender ‖ u256(faceValue) ‖ u256(winProb) ‖ u256(senderNonce) ‖
recipientRandHash ‖ auxData)`` — the same bytes as Solidity ``abi.encodePacked`` in
``TicketBroker.getTicketHash``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from fractions import Fraction

from sim.pm.crypto import keccak, sign_personal, recover_personal, SignatureError

__all__ = [
    "MAX_WIN_PROB", "ZERO_HASH", "u256", "minbytes", "from_minbytes", "aux_data", "Ticket", "ticket_ev",
    "win_prob_rat", "win_value", "is_winning_ticket",
]

MAX_WIN_PROB = 2**256 - 1
ZERO_HASH = b"\x00" * 32


def u256(n: int) -> bytes:
    """Go ``LeftPadBytes(x.Bytes(), 32)`` (absolute value, like ``big.Int.Bytes``). Like ``LeftPadBytes``, a
    value wider than 32 bytes is kept whole (a Payment can carry a 33-byte ``face_value``: its hash is then
    longer input, and its recipientRand check fails, docs/orchestrator.md#the-payment-endpoint)."""
    n = abs(int(n))
    return n.to_bytes(max(32, (n.bit_length() + 7) // 8), "big")


def minbytes(n: int) -> bytes:
    """Go ``big.Int.Bytes()``: big-endian, no leading zeros, empty for 0, absolute value."""
    n = abs(int(n))
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def from_minbytes(b: bytes) -> int:
    return int.from_bytes(b or b"", "big")


def aux_data(creation_round: int, creation_round_block_hash: bytes) -> bytes:
    """Empty when round and hash are both zero; else ``u256(round) ‖ hash`` (64 bytes)."""
    h = bytes(creation_round_block_hash or b"").rjust(32, b"\x00")[-32:]
    if creation_round == 0 and h == ZERO_HASH:
        return b""
    return u256(creation_round) + h


def ticket_ev(face_value: int, win_prob: int) -> Fraction:
    """``faceValue × winProb / (2^256 − 1)``, exact."""
    return Fraction(face_value * win_prob, MAX_WIN_PROB)


def win_prob_rat(win_prob: int) -> Fraction:
    return Fraction(win_prob, MAX_WIN_PROB)


def win_value(sig: bytes, recipient_rand: int) -> int:
    """``int(keccak(sig ‖ u256(recipientRand)))``, compared with winProb."""
    return int.from_bytes(keccak(bytes(sig) + u256(recipient_rand)), "big")


def is_winning_ticket(sig: bytes, recipient_rand: int, win_prob: int) -> bool:
    return win_value(sig, recipient_rand) < win_prob


@dataclass(frozen=True)
class Ticket:
    recipient: bytes
    sender: bytes
    face_value: int
    win_prob: int
    sender_nonce: int
    recipient_rand_hash: bytes
    creation_round: int = 0
    creation_round_block_hash: bytes = field(default=ZERO_HASH)

    @property
    def aux_data(self) -> bytes:
        return aux_data(self.creation_round, self.creation_round_block_hash)

    def flatten(self) -> bytes:
        return (
            bytes(self.recipient).rjust(20, b"\x00")[-20:]
            + bytes(self.sender).rjust(20, b"\x00")[-20:]
            + u256(self.face_value)
            + u256(self.win_prob)
            + u256(self.sender_nonce)
            + bytes(self.recipient_rand_hash).rjust(32, b"\x00")[-32:]
            + self.aux_data
        )

    def hash(self) -> bytes:
        return self._hash

    @cached_property
    def _hash(self) -> bytes:
        # A ticket is immutable, and its hash is needed several times on the orchestrator's hot path
        # (signature check, events, the winner store): compute it once.
        return keccak(self.flatten())

    @property
    def ev(self) -> Fraction:
        return ticket_ev(self.face_value, self.win_prob)

    def sign(self, priv: bytes) -> bytes:
        """The sender's signature: personal_sign over the 32-byte hash (``Eth.Sign(ticketHash)``)."""
        return sign_personal(priv, self.hash())

    def recover_signer(self, sig: bytes) -> bytes:
        """Address behind ``sig``; raises :class:`~sim.pm.crypto.SignatureError` with Go's message."""
        return recover_personal(self.hash(), sig)

    def with_nonce(self, nonce: int) -> "Ticket":
        return replace(self, sender_nonce=nonce)


__all__.append("SignatureError")
