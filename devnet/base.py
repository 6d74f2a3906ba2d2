"""The devnet client contract shared by every backend.

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

from sim.chainview import ChainView, EthUsd, RedeemResult
from sim.pm.sender import SenderInfo

from devnet.config import DevnetConfig

__all__ = [
    "TxResult", "ChainError", "CallReverted", "ChainUnreachable", "ContractNotFound", "AnvilMissing", "AnvilCrashed",
    "DevChain", "CONTRACT_NAMES", "PROXIED", "DelegatorInfo", "TranscoderInfo", "EarningsPoolInfo", "EthUsd",
    "DELEGATOR_STATUS", "ETH_USD_STALE_AGE_S",
]

# What the devnet deploys, as the Controller knows it (keccak256(name) ids,
# docs/chain.md#how-the-contracts-find-each-other). The PROXIED ones are ManagerProxy contracts (the address clients
# use) delegating to "<name>Target", as on Arbitrum One; the TicketBroker proxy is also "JobsManager".
# "EthUsdPriceFeed" is lpdev's own name for its Chainlink-compatible feed.
PROXIED = ("BondingManager", "BondingVotes", "RoundsManager", "TicketBroker", "ServiceRegistry")
CONTRACT_NAMES = ("Controller", "LivepeerToken", "Minter", "BondingManager", "BondingVotes", "RoundsManager",
                  "TicketBroker", "ServiceRegistry", "EthUsdPriceFeed")
DELEGATOR_STATUS = ("Pending", "Bonded", "Unbonded")  # BondingManager.delegatorStatus
# `--stale`: older than the 2 h ETHUSDMaxAge signers allow (docs/remote-signer.md#dialects)
ETH_USD_STALE_AGE_S = 3 * 3600


@dataclass(frozen=True)
class DelegatorInfo:
    """``BondingManager.getDelegator`` plus ``delegatorStatus`` (LPT amounts in base units, fees in wei)."""

    bonded_amount: int
    fees: int  # claimed fees, withdrawable (pending_fees adds what is not claimed yet)
    delegate_address: str  # checksum; the zero address when unbonded
    delegated_amount: int  # stake delegated to this account (a transcoder's total stake)
    start_round: int
    last_claim_round: int
    next_unbonding_lock_id: int
    status: str  # "Pending" | "Bonded" | "Unbonded"


@dataclass(frozen=True)
class TranscoderInfo:
    """``BondingManager.getTranscoder`` plus registration and activity in the current round."""

    last_reward_round: int
    reward_cut: int  # over 1e6
    fee_share: int  # over 1e6: the share of fees that goes to delegators (the transcoder's own stake included)
    last_active_stake_update_round: int
    activation_round: int
    deactivation_round: int
    active_cumulative_rewards: int
    cumulative_rewards: int
    cumulative_fees: int  # its commission since its last claim
    last_fee_round: int
    registered: bool
    active: bool
    total_stake: int


@dataclass(frozen=True)
class EarningsPoolInfo:
    """``BondingManager.getTranscoderEarningsPoolForRound``: factors over 1e27, rates over 1e6."""

    total_stake: int
    transcoder_reward_cut: int
    transcoder_fee_share: int
    cumulative_reward_factor: int
    cumulative_fee_factor: int


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
        ``addr``'s unlock, docs/chain.md#unlock-and-withdraw)."""

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
    def register_transcoder(self, key: bytes, reward_cut: int | None = None, fee_share: int | None = None) -> TxResult:
        """``BondingManager.transcoder(rewardCut, feeShare)`` (defaults: the config's): the caller must be bonded
        to itself (``"transcoder must be registered"`` otherwise); it joins the pool and is active from the next
        round (docs/chain.md#registered-and-active-orchestrators)."""

    @abc.abstractmethod
    def withdraw_fees(self, key: bytes, amount: int | None = None, recipient: bytes | None = None) -> TxResult:
        """``BondingManager.withdrawFees(recipient, amount)``: claims the caller's earnings, then the Minter pays
        ``amount`` (default: all of them) to ``recipient`` (default: the caller)."""

    # ------------------------------------------------------------------ bonding (LPT base units)
    def bond_and_register(self, key: bytes, stake: int | None = None, reward_cut: int | None = None,
                          fee_share: int | None = None) -> TxResult:
        """Make the account a transcoder the way an orchestrator does: approve and ``bond(stake, self)`` (default
        the config's ``transcoder_stake``), then ``transcoder(rewardCut, feeShare)``. Returns the first failed
        transaction, else the ``transcoder()`` one. It is in the pool now and active from the next round."""
        from devnet.txsign import address_of

        me = bytes.fromhex(address_of(bytes(key))[2:])
        stake = self.config.transcoder_stake if stake is None else int(stake)
        for res in (lambda: self.lpt_approve(key, stake), lambda: self.bond(key, stake, me)):
            r = res()
            if not r.ok:
                return r
        return self.register_transcoder(key, reward_cut, fee_share)

    def delegate(self, key: bytes, amount: int, to: bytes) -> TxResult:
        """Approve and ``bond(amount, to)``: the account's stake (and fee share) goes to transcoder ``to`` from
        the next round. Returns the failed approve or the bond."""
        r = self.lpt_approve(key, amount)
        return r if not r.ok else self.bond(key, amount, to)

    @abc.abstractmethod
    def lpt_balance(self, addr: bytes) -> int:
        """``LivepeerToken.balanceOf(addr)``."""

    @abc.abstractmethod
    def lpt_approve(self, key: bytes, amount: int, spender: bytes | None = None) -> TxResult:
        """``LivepeerToken.approve(spender, amount)``; spender defaults to the BondingManager (before ``bond``)."""

    @abc.abstractmethod
    def bond(self, key: bytes, amount: int, to: bytes) -> TxResult:
        """``BondingManager.bond(amount, to)``: LPT (approved first) moves to the Minter; bonding to yourself
        makes you a registered transcoder, to someone else a delegator (claims your earnings first)."""

    @abc.abstractmethod
    def unbond(self, key: bytes, amount: int) -> TxResult:
        """``BondingManager.unbond(amount)``: creates an unbonding lock (withdrawable after the unbonding
        period); unbonding everything resigns a transcoder from the pool."""

    @abc.abstractmethod
    def rebond(self, key: bytes, lock_id: int) -> TxResult:
        """``BondingManager.rebond(lockId)`` to the current delegate."""

    @abc.abstractmethod
    def rebond_from_unbonded(self, key: bytes, to: bytes, lock_id: int) -> TxResult:
        """``BondingManager.rebondFromUnbonded(to, lockId)``."""

    @abc.abstractmethod
    def withdraw_stake(self, key: bytes, lock_id: int) -> TxResult:
        """``BondingManager.withdrawStake(lockId)``: the Minter returns the LPT."""

    @abc.abstractmethod
    def claim_earnings(self, key: bytes) -> TxResult:
        """``BondingManager.claimEarnings(round)``: moves fees earned since the last claim into the delegator's
        withdrawable fees."""

    @abc.abstractmethod
    def pending_stake(self, addr: bytes) -> int:
        """``BondingManager.pendingStake(addr, 0)``."""

    @abc.abstractmethod
    def delegator_info(self, addr: bytes) -> DelegatorInfo:
        """``getDelegator`` + ``delegatorStatus``."""

    @abc.abstractmethod
    def transcoder_info(self, addr: bytes) -> TranscoderInfo:
        """``getTranscoder`` + registration, activity and total stake."""

    @abc.abstractmethod
    def earnings_pool(self, transcoder: bytes, round_: int) -> EarningsPoolInfo:
        """``getTranscoderEarningsPoolForRound(transcoder, round)``."""

    @abc.abstractmethod
    def unbonding_lock(self, addr: bytes, lock_id: int) -> tuple[int, int]:
        """``getDelegatorUnbondingLock``: (amount, withdrawRound); (0, 0) when there is none."""

    @abc.abstractmethod
    def transcoder_pool(self) -> list[str]:
        """The pool's members, most stake first (``getFirstTranscoderInPool`` / ``getNextTranscoderInPool``)."""

    @abc.abstractmethod
    def total_bonded(self) -> int:
        """``getTotalBonded()``: the active set's stake in the current round."""

    # ------------------------------------------------------------------ ETH/USD feed
    @abc.abstractmethod
    def eth_usd(self) -> EthUsd:
        """The feed's latest round (``latestRoundData`` + ``decimals``); ChainError when there is no feed."""

    @abc.abstractmethod
    def set_eth_usd(self, usd_per_eth, *, updated_at: int | None = None, key: bytes | None = None) -> TxResult:
        """A new feed round at ``usd_per_eth`` (int, Fraction or decimal string, at most 8 decimals), updated at
        ``updated_at`` (unix seconds; default: the block's time). ``key``: the feed owner (default deployer)."""

    def make_eth_usd_stale(self, age_s: int = ETH_USD_STALE_AGE_S) -> TxResult:
        """A new feed round at the current price whose updatedAt is ``age_s`` seconds before the latest block's
        time (a feed that stopped updating)."""
        now = self.block_timestamp()
        return self.set_eth_usd(self.eth_usd().usd_per_eth, updated_at=max(1, now - int(age_s)))

    @abc.abstractmethod
    def block_timestamp(self) -> int:
        """Timestamp (unix seconds) of the latest block."""

    @abc.abstractmethod
    def pause(self, key: bytes) -> TxResult:
        """``Controller.pause()`` (owner only)."""

    @abc.abstractmethod
    def unpause(self, key: bytes) -> TxResult:
        """``Controller.unpause()`` (owner only)."""

    # ------------------------------------------------------------------ views
    @abc.abstractmethod
    def claimable_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        """``TicketBroker.claimableReserve(holder, claimant)`` (docs/chain.md#deposit-and-reserve). May raise
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
