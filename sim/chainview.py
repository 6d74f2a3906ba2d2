"""What the actors (signer, orchestrator, gateway) need from the chain — nothing more
(README.md#where-each-protocol-concept-lives).

Every chain backend in ``devnet`` (anvil, embedded py-evm, pure-Python mock, external RPC) implements
:class:`ChainView`, so every actor runs unchanged on every backend. Calls are synchronous and cheap on
loopback; actors call them from a thread (``asyncio.to_thread``) when they must not block the loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol, runtime_checkable

from sim.pm.sender import SenderInfo

__all__ = ["ChainView", "RedeemResult", "SenderInfo", "EthUsd"]


@dataclass(frozen=True)
class EthUsd:
    """The chain's ETH/USD price feed (a Chainlink aggregator's ``latestRoundData`` and ``decimals``).

    ``usd_per_eth``: the answer over 10**decimals, exact. ``updated_at``: the round's updatedAt (unix seconds),
    which a consumer compares with its own clock to decide whether the rate is stale. ``round_id``: the round.
    """

    usd_per_eth: Fraction
    updated_at: int
    decimals: int
    round_id: int

    def wei_per_usd(self) -> Fraction:
        """Wei one US dollar buys at this rate (exact): 10**18 / usd_per_eth."""
        return Fraction(10**18) / self.usd_per_eth


@dataclass(frozen=True)
class RedeemResult:
    """Outcome of ``TicketBroker.redeemWinningTicket``."""

    ok: bool
    tx_hash: str | None = None
    gas_used: int = 0
    revert_reason: str | None = None  # the contract's revert string, e.g. "ticket is used"
    events: list[dict] = field(default_factory=list)  # decoded logs: {"event": name, "args": {...}}


@runtime_checkable
class ChainView(Protocol):
    chain_id: int

    def last_block(self) -> int:
        """Latest block number (go-livepeer's "L1 block" on a chain without l1BlockNumber)."""

    def gas_price(self) -> int:
        """Current gas price in wei."""

    def current_round(self) -> int: ...

    def last_initialized_round(self) -> int: ...

    def block_hash_for_round(self, round_: int) -> bytes:
        """``RoundsManager.blockHashForRound``: 32 bytes, zero if the round was never initialized."""

    def sender_info(self, sender: bytes) -> SenderInfo: ...

    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int: ...

    def transcoder_pool_size(self) -> int: ...

    def is_active_transcoder(self, addr: bytes) -> bool: ...

    def is_used_ticket(self, ticket_hash: bytes) -> bool: ...

    def redeem_winning_ticket(self, ticket, sig: bytes, recipient_rand: int, *, from_key: bytes) -> RedeemResult:
        """Send the redemption from the account of ``from_key``; never raises for a revert."""

    def ticket_validity_period(self) -> int:
        """``TicketBroker.ticketValidityPeriod()``: rounds a ticket stays redeemable after its creation round."""

    def eth_usd(self) -> EthUsd:
        """The ETH/USD feed's latest round; raises ``devnet.base.ChainError`` when the chain has no feed."""
