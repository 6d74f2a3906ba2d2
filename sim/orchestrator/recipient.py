"""The orchestrator's ticket receipt, sans-IO (go-livepeer ``ReceiveTicket``;
docs/orchestrator.md#the-payment-endpoint).

The recipient keeps no per-params state: every ticket's recipientRand is recomputed from the ticket's own fields, the
payment's expected price and expiration params, and the process secret (docs/tickets.md#ticket-params). The only state
is the nonce set per recipientRand (docs/tickets.md#nonces), cleaned up when its params expire.

Fatal errors stop a payment; non-fatal errors are "sticky" (the ticket and every later ticket of the payment are
not credited) but a winning ticket is still reported as won (docs/orchestrator.md#the-payment-endpoint).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from sim.pm.crypto import SignatureError, bytes_to_address, recover_personal, to_checksum_address
from sim.pm.params import recipient_rand, recipient_rand_hash
from sim.pm.ticket import Ticket, is_winning_ticket

__all__ = [
    "ReceiveError", "Receipt", "Recipient", "MAX_SENDER_NONCES",
    "ERR_RECIPIENT", "ERR_SENDER", "ERR_RECIPIENT_RAND", "ERR_SIGNATURE", "ERR_EXPIRED",
]

MAX_SENDER_NONCES = 600  # pm/recipient.go maxSenderNonces

ERR_RECIPIENT = "invalid ticket recipient"
ERR_SENDER = "invalid ticket sender"
ERR_RECIPIENT_RAND = "invalid recipientRand for ticket recipientRandHash"
ERR_SIGNATURE = "invalid ticket signature"
ERR_EXPIRED = "TicketParams expired"


class ReceiveError(Exception):
    """A ticket was refused; ``fatal`` stops the whole payment (docs/orchestrator.md#the-payment-endpoint)."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True)
class Receipt:
    """Outcome of one ticket: ``won`` is set even when a non-fatal ``error`` is returned."""

    ticket: Ticket
    sig: bytes
    recipient_rand: int | None
    won: bool
    error: ReceiveError | None = None


@dataclass
class _NonceSet:
    seen: set[int] = field(default_factory=set)
    expiration_block: int = 0


class Recipient:
    """One orchestrator's receiving side: ``address`` is the ticket recipient, ``secret`` the HMAC key."""

    def __init__(self, address: bytes, secret: bytes) -> None:
        self.address = bytes_to_address(address)
        self.secret = bytes(secret)
        self._nonces: dict[int, _NonceSet] = {}

    # ---------------------------------------------------------------- recipientRand (docs/tickets.md#ticket-params)
    def rand_for(self, ticket: Ticket, *, seed: int, expiration_block: int, price: Fraction) -> int:
        return recipient_rand(self.secret, seed, ticket.sender, ticket.face_value, ticket.win_prob,
                              expiration_block, Fraction(price), ticket.creation_round,
                              ticket.creation_round_block_hash)

    # ---------------------------------------------------------------- ReceiveTicket
    # (docs/orchestrator.md#the-payment-endpoint)
    def receive_ticket(self, ticket: Ticket, sig: bytes, *, seed: int, expiration_block: int, price: Fraction,
                       last_block: int, validate_sender=None) -> Receipt:
        """Check one ticket in go-livepeer's order.

        ``validate_sender``: callable raising with the sender monitor's message (fatal), or None.
        ``last_block``: the last seen L1 block (expiry check).
        """
        rand = self.rand_for(ticket, seed=seed, expiration_block=expiration_block, price=price)
        if validate_sender is not None:
            try:
                validate_sender(ticket.sender)
            except Exception as exc:  # the monitor's own message, passed through
                return Receipt(ticket, sig, rand, False, ReceiveError(str(exc), fatal=True))
        if bytes_to_address(ticket.recipient) != self.address:
            return Receipt(ticket, sig, rand, False, ReceiveError(ERR_RECIPIENT, fatal=True))
        if bytes_to_address(ticket.sender) == b"\x00" * 20:
            return Receipt(ticket, sig, rand, False, ReceiveError(ERR_SENDER, fatal=True))
        if recipient_rand_hash(rand) != bytes(ticket.recipient_rand_hash):
            return Receipt(ticket, sig, rand, False, ReceiveError(ERR_RECIPIENT_RAND, fatal=True))
        try:
            ok = recover_personal(ticket.hash(), bytes(sig)) == bytes_to_address(ticket.sender)
        except SignatureError:
            ok = False
        if not ok:
            return Receipt(ticket, sig, rand, False, ReceiveError(ERR_SIGNATURE, fatal=False))
        # before nonce and expiry (docs/orchestrator.md#the-payment-endpoint)
        won = is_winning_ticket(bytes(sig), rand, ticket.win_prob)
        err = self._update_sender_nonce(rand, ticket, expiration_block)
        if err is None and expiration_block <= last_block:
            err = ReceiveError(ERR_EXPIRED, fatal=False)
        return Receipt(ticket, sig, rand, won, err)

    # ---------------------------------------------------------------- nonces (docs/tickets.md#nonces)
    def _update_sender_nonce(self, rand: int, ticket: Ticket, expiration_block: int) -> ReceiveError | None:
        entry = self._nonces.get(rand)
        nonce = ticket.sender_nonce
        if entry is None:
            self._nonces[rand] = _NonceSet({nonce}, expiration_block)
            return None
        if nonce in entry.seen:
            return ReceiveError(f"invalid ticket senderNonce: already seen sender={to_checksum_address(ticket.sender)}"
                                f" nonce={nonce}", fatal=False)
        if len(entry.seen) >= MAX_SENDER_NONCES:
            return ReceiveError(f"invalid ticket senderNonce: too many values sender="
                                f"{to_checksum_address(ticket.sender)} nonce={nonce}", fatal=False)
        entry.seen.add(nonce)
        return None

    def on_block(self, block: int) -> int:
        """A new L1 block: forget nonce sets whose params expired (``expirationBlock <= block``)."""
        gone = [r for r, e in self._nonces.items() if e.expiration_block <= block]
        for r in gone:
            del self._nonces[r]
        return len(gone)

    @property
    def nonce_sets(self) -> int:
        return len(self._nonces)
