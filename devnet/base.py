"""The devnet client contract shared by every backend (DEVNET_API.md).

:class:`DevChain` is :class:`sim.chainview.ChainView` (what the actors use) plus the typed transactions,
views and time-travel operations that lpdev's CLI, scenarios and tests use. Backends:

- ``devnet.backends.evm.EvmChain`` — one web3 implementation for ``anvil`` (managed subprocess),
  ``embedded`` (py-evm in process) and ``external`` (any RPC URL + Controller address);
- ``devnet.backends.mock.MockChain`` — a pure-Python model of the same contracts.

Conventions (all backends):

- Addresses passed in are 20-byte ``bytes``; addresses returned are checksum ``str``.
- Keys are 32-byte private keys (``bytes``) of the account that sends the transaction.
- Money is wei as ``int``.
- A revert NEVER raises: the call returns ``TxResult(ok=False, revert_reason=...)`` with the contract's exact
  revert string (``"ticket is used"``), ``"Panic(0x11)"`` / ``"Panic(0x12)"`` for panics, or ``""`` for empty
  revert data. Infrastructure failures (chain unreachable, missing contract, anvil gone) raise
  :class:`ChainError` subclasses whose message names the cause and what to do.
- Events are decoded as ``{"event": "DepositFunded", "args": {...}}`` in log order; inside ``args`` addresses are
  checksum strings, uints are ints, bytes/bytes32 are ``0x``-hex strings.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

from sim.chainview import ChainView, RedeemResult
from sim.pm.sender import SenderInfo

from devnet.config import DevnetConfig

__all__ = [
    "TxResult", "ChainError", "CallReverted", "ChainUnreachable", "ContractNotFound", "AnvilMissing", "AnvilCrashed",
    "DevChain", "CONTRACT_NAMES",
]

# Names registered in the Controller by setup (keccak256(name) ids, ticketbroker.md §1).
CONTRACT_NAMES = ("Controller", "TicketBroker", "RoundsManager", "BondingManager", "Minter")


@dataclass(frozen=True)
class TxResult(RedeemResult):
    """Outcome of one transaction; compatible with :class:`sim.chainview.RedeemResult`.

    ``ok``: the transaction succeeded. ``tx_hash``: 0x-hex (``None`` if it was never sent, e.g. the mock may
    still fill a synthetic hash). ``gas_used``: from the receipt (0 when unknown). ``revert_reason``: see module
    doc; ``None`` when ok. ``events``: decoded logs in order. ``block``: block number of the receipt.
    """

    block: int = 0

    def event_names(self) -> list[str]:
        return [e["event"] for e in self.events]


class ChainError(Exception):
    """A chain problem that is not a contract revert. The message names the cause and what to do."""


class CallReverted(ChainError):
    """A view call reverted (e.g. ``claimableReserve`` with Panic(0x11)); ``reason`` is the decoded reason."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


class ChainUnreachable(ChainError):
    """No answer from the RPC URL (connection refused, timeout, not JSON-RPC)."""


class ContractNotFound(ChainError):
    """The Controller has no code, or a name resolves to the zero address / an address without code."""


class AnvilMissing(ChainError):
    """The anvil binary was not found (run ``make bootstrap`` or set ``LPDEV_ANVIL``)."""


class AnvilCrashed(ChainError):
    """The managed anvil process exited (at start or mid-run); the message carries its last output."""


class DevChain(abc.ABC):
    """A chain with the Livepeer PM contracts deployed (see module doc for conventions).

    Implements :class:`sim.chainview.ChainView` structurally. Also a context manager: ``close()`` on exit.
    """

    backend: str  # "anvil" | "embedded" | "mock" | "external"
    chain_id: int
    eth_url: str | None  # JSON-RPC URL when the chain is reachable by other processes, else None
    contracts: dict[str, str]  # name -> checksum address (Controller, TicketBroker, RoundsManager, ...)
    config: DevnetConfig
    accounts: list[dict]  # [{"role", "address", "private_key" (0x-hex, throwaway dev key)}]

    # ------------------------------------------------------------------ helpers (shared)
    def key(self, role: str) -> bytes:
        """32-byte private key of ``role`` (e.g. "sender", "orchestrator") — a throwaway dev key."""
        return self.config.key(role)

    def address(self, role: str) -> str:
        """Checksum address of ``role``."""
        return self.config.address(role)

    def __enter__(self) -> "DevChain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ ChainView
    @abc.abstractmethod
    def last_block(self) -> int:
        """Latest block number."""

    @abc.abstractmethod
    def gas_price(self) -> int:
        """Current gas price in wei."""

    @abc.abstractmethod
    def current_round(self) -> int:
        """``RoundsManager.currentRound()`` = block.number // roundLength."""

    @abc.abstractmethod
    def last_initialized_round(self) -> int:
        """``RoundsManager.lastInitializedRound()``."""

    @abc.abstractmethod
    def block_hash_for_round(self, round_: int) -> bytes:
        """``RoundsManager.blockHashForRound(round)``: 32 bytes, all zero if never initialized."""

    @abc.abstractmethod
    def sender_info(self, sender: bytes) -> SenderInfo:
        """``TicketBroker.getSenderInfo(sender)`` as a :class:`SenderInfo`."""

    @abc.abstractmethod
    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        """``TicketBroker.claimedReserve(holder, claimant)`` in the current round."""

    @abc.abstractmethod
    def transcoder_pool_size(self) -> int:
        """``BondingManager.getTranscoderPoolSize()`` (includes transcoders not active until next round)."""

    @abc.abstractmethod
    def is_active_transcoder(self, addr: bytes) -> bool:
        """``BondingManager.isActiveTranscoder(addr)`` in the current round."""

    @abc.abstractmethod
    def is_used_ticket(self, ticket_hash: bytes) -> bool:
        """``TicketBroker.usedTickets(hash)``."""

    @abc.abstractmethod
    def redeem_winning_ticket(self, ticket, sig: bytes, recipient_rand: int, *, from_key: bytes) -> TxResult:
        """``TicketBroker.redeemWinningTicket(ticket, sig, recipientRand)`` sent by ``from_key``'s account.

        ``ticket`` is a :class:`sim.pm.ticket.Ticket` (or any object with the same fields and an ``aux_data``
        attribute — tests use that to send a malformed auxData). Never raises for a revert.
        """

    # ------------------------------------------------------------------ transactions
    @abc.abstractmethod
    def fund_deposit(self, key: bytes, amount: int) -> TxResult:
        """``fundDeposit()`` with ``msg.value = amount``."""

    @abc.abstractmethod
    def fund_reserve(self, key: bytes, amount: int) -> TxResult:
        """``fundReserve()`` with ``msg.value = amount``."""

    @abc.abstractmethod
    def fund_deposit_and_reserve(self, key: bytes, deposit: int, reserve: int, value: int | None = None) -> TxResult:
        """``fundDepositAndReserve(deposit, reserve)``; ``value`` defaults to deposit + reserve (pass another
        value to test ``"msg.value does not equal sum of deposit amount and reserve amount"``)."""

    @abc.abstractmethod
    def fund_deposit_and_reserve_for(self, key: bytes, addr: bytes, deposit: int, reserve: int,
                                     value: int | None = None) -> TxResult:
        """``fundDepositAndReserveFor(addr, deposit, reserve)``: a third party funds ``addr`` (does not cancel
        ``addr``'s unlock, ticketbroker.md §7)."""

    @abc.abstractmethod
    def unlock(self, key: bytes) -> TxResult:
        """``unlock()``: withdrawRound = currentRound + unlockPeriod."""

    @abc.abstractmethod
    def cancel_unlock(self, key: bytes) -> TxResult:
        """``cancelUnlock()``."""

    @abc.abstractmethod
    def withdraw(self, key: bytes) -> TxResult:
        """``withdraw()``: pays deposit + remaining reserve through the Minter."""

    @abc.abstractmethod
    def batch_redeem_winning_tickets(self, tickets: list, sigs: list[bytes], rands: list[int], *,
                                     from_key: bytes) -> TxResult:
        """``batchRedeemWinningTickets``: each ticket redeemed by a self-call, failures ignored."""

    @abc.abstractmethod
    def initialize_round(self, key: bytes) -> TxResult:
        """``RoundsManager.initializeRound()`` (``"round already initialized"`` if it is)."""

    @abc.abstractmethod
    def register_transcoder(self, key: bytes) -> TxResult:
        """Minimal BondingManager ``transcoder()``: registers the caller; it joins the pool now and becomes
        active from the next initialized round (ticketbroker.md §9)."""

    @abc.abstractmethod
    def withdraw_fees(self, key: bytes) -> TxResult:
        """``BondingManager.withdrawFees()``: the Minter pays the caller's pending fees."""

    @abc.abstractmethod
    def pause(self, key: bytes) -> TxResult:
        """``Controller.pause()`` (owner only)."""

    @abc.abstractmethod
    def unpause(self, key: bytes) -> TxResult:
        """``Controller.unpause()`` (owner only)."""

    # ------------------------------------------------------------------ views
    @abc.abstractmethod
    def claimable_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        """``TicketBroker.claimableReserve(holder, claimant)`` (ticketbroker.md §6). May raise
        :class:`ChainError` only for infrastructure problems; a revert such as Panic(0x11) raises :class:`CallReverted` (a ChainError) with ``.reason``."""

    @abc.abstractmethod
    def get_ticket_hash(self, ticket) -> bytes:
        """``TicketBroker.getTicketHash(ticket)`` — 32 bytes, equals ``ticket.hash()``."""

    @abc.abstractmethod
    def unlock_period(self) -> int:
        """``TicketBroker.unlockPeriod()`` in rounds."""

    @abc.abstractmethod
    def ticket_validity_period(self) -> int:
        """``TicketBroker.ticketValidityPeriod()`` in rounds."""

    @abc.abstractmethod
    def pending_fees(self, transcoder: bytes) -> int:
        """Fees credited to ``transcoder`` by redemptions and not yet withdrawn (wei)."""

    @abc.abstractmethod
    def eth_balance(self, addr: bytes) -> int:
        """ETH balance of ``addr`` in wei."""

    @abc.abstractmethod
    def is_unlock_in_progress(self, sender: bytes) -> bool:
        """``TicketBroker.isUnlockInProgress(sender)`` (withdrawRound > 0; stays true after withdraw)."""

    # ------------------------------------------------------------------ time travel
    @abc.abstractmethod
    def mine(self, n: int) -> dict:
        """Mine ``n`` empty blocks. Returns ``{"from_block", "to_block", "summary"}`` where the summary states
        the consequence, e.g. "mined 40 blocks: 100 -> 140; ticket params issued at block B expire at B+40 —
        params issued before block 101 are now expired; round 5 -> 7 (not initialized)"."""

    @abc.abstractmethod
    def advance_round(self) -> dict:
        """Mine to the next round boundary and ``initializeRound()``. Returns ``{"from_round", "to_round",
        "from_block", "to_block", "summary"}``."""

    @abc.abstractmethod
    def snapshot(self) -> str:
        """Take a snapshot of the whole chain state; returns an id for :meth:`revert`."""

    @abc.abstractmethod
    def revert(self, snapshot_id: str) -> dict:
        """Return to a snapshot (it is consumed; take a new one to revert again). Returns ``{"summary", ...}``
        with the block before and after."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources; for a managed anvil, stop the process (no orphan). Idempotent."""


# DevChain satisfies ChainView structurally; keep the import used for readers and type checkers.
_ = ChainView
