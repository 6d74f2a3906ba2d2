"""A pure-Python model of the devnet PM contracts: the ``mock`` backend (the interface of :mod:`devnet.base`).

:class:`MockChain` models, in this process and without an EVM, the contracts of ``devnet/contracts/*.sol`` as
``devnet.layout`` deploys them — the Controller (registry keyed by ``keccak256(name)``, owner, pause), the
TicketBroker, the RoundsManager (rounds measured in blocks), the BondingManager (LPT bonding, the sorted transcoder
pool, delegators, per-round earnings pools with the protocol's cumulative fee factors and rounding, claims,
unbonding locks), BondingVotes' checkpoints, LPT, the Minter that holds the ETH and the bonded LPT, and the ETH/USD
feed — with the same revert strings, the same check order, the same events (names, arguments, order, from every
contract a transaction touches) and the same balance semantics as the deployed contracts (docs/chain.md). The
proxies are not modelled as code: each proxied contract simply lives at its proxy's address (what clients and caller
checks see). The differential test
(``tests/test_devnet_differential.py``) runs one operation script on this model, on py-evm and on anvil and
requires all three to agree.

What is modelled, and how:

- **Blocks are virtual.** Block 0 is genesis; every transaction is mined in a block of its own (like anvil's
  automine); :meth:`MockChain.mine` adds empty blocks. Setup sends the same transactions in the same order as
  ``devnet.backends.evm`` (so block numbers, rounds and contract addresses are equal across backends). Block hashes are
  ``keccak("lpdev-mock-block" ‖ seed ‖ u256(number))``; transaction hashes are
  ``keccak("lpdev-mock-tx" ‖ seed ‖ from ‖ u256(nonce))``. Both are deterministic for a given ``seed``.
- **Views run at the latest block** (``eth_call`` on "latest"); a transaction runs in the next block, so a
  transaction sent at the last block of a round already executes in the next round (the RoundsManager's
  ``currentRound()`` view still says the old round).
- **Gas is a model, not a measurement**: ``gas_used`` is a fixed per-function constant (:data:`GAS`), and the
  sender's ETH balance is charged ``gas_used × gas_price`` (``gas_price`` is :data:`DEFAULT_GAS_PRICE` unless
  given). Contract balances (the Minter's) are exact. ``lpdev bench chain`` measures the real gas on anvil.
- **Time**: block N is stamped ``genesis_timestamp + N`` seconds (default genesis: the wall clock when the chain is
  built), so the ETH/USD feed's updatedAt is deterministic for a given genesis.
- **A reverting transaction is not mined**, like the EVM backends, which simulate every transaction in the
  pending block first: it returns ``TxResult(ok=False, tx_hash=None, gas_used=0)``, uses no block, nonce or
  fee, and all its writes are rolled back (a journal of every write). Panics are reported as ``"Panic(0x11)"``
  (arithmetic overflow/underflow, e.g. ``claimableReserve`` after the pool grew mid-round), ``"Panic(0x12)"``
  (division by zero: paying a registered but not yet active transcoder) and ``"Panic(0x32)"`` (array index out of
  bounds in a batch with short arrays); docs/chain.md#what-the-ticketbroker-checks-in-order and
  docs/chain.md#registered-and-active-orchestrators say when. A bare ``require`` reverts with ``""``.
- **Signatures** are checked like the contracts: length 65 first (``"INVALID_SIGNATURE_LENGTH"``), then
  OpenZeppelin 4.4.1 ``ECDSA.recover``'s checks and messages (high s, bad v, ecrecover failure), then
  ``"invalid signature over ticket hash"`` (step 9 of docs/chain.md#what-the-ticketbroker-checks-in-order), with
  :mod:`sim.pm.crypto` doing the recovery.
- **ETH accounts**: the ten dev accounts start with 10 000 ETH (anvil's default); any other address with 0.
  A transaction whose ``value + gas`` exceeds the caller's balance is refused before it is mined
  (:class:`devnet.base.ChainError`), as a node refuses it.
- Thread-safe: one lock around every call. :meth:`MockChain.snapshot` / :meth:`MockChain.revert` deep-copy
  the whole state.
"""
from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass

from devnet.base import (
    DELEGATOR_STATUS, ChainError, DelegatorInfo, DevChain, EarningsPoolInfo, EthUsd, TranscoderInfo, TxResult,
)

try:
    from devnet.base import CallReverted
except ImportError:  # pragma: no cover - older devnet.base
    class CallReverted(ChainError):
        def __init__(self, message: str, reason: str = ""):
            super().__init__(message)
            self.reason = reason
from devnet.config import DEV_ADDRESSES, ETHER, USD_DECIMALS, DevnetConfig, eth_usd_answer
from devnet.layout import DEPLOY_ORDER, ETH_USD_DESCRIPTION, REGISTRY
from sim.pm.crypto import (
    SECP256K1_N, SignatureError, keccak, private_key_to_address, recover_hash, text_hash, to_checksum_address,
)
from sim.pm.params import PARAMS_EXPIRATION_BLOCK
from sim.pm.sender import SenderInfo
from sim.pm.ticket import u256

__all__ = ["MockChain", "open_mock", "GAS", "DEFAULT_GAS_PRICE", "INITIAL_BALANCE", "create_address"]

UINT256_MAX = 2**256 - 1
HALF_N = SECP256K1_N // 2  # OZ ECDSA "low s" bound
ZERO_ADDRESS = b"\x00" * 20
ZERO32 = b"\x00" * 32
INITIAL_BALANCE = 10_000 * ETHER  # anvil's default per dev account
DEFAULT_GAS_PRICE = 1_000_000_000  # 1 gwei, modelled

# Modelled gas per transaction kind: fixed constants, rounded from what anvil measured for a typical call of each
# (`lpdev bench chain` prints the real figures). Not a measurement: the real cost varies with cold/warm slots and
# with the path taken (the first redemption of a round for an orchestrator costs ~115k more, one that claims from
# the reserve ~75k more).
GAS = {
    "fundDeposit": 75_000,
    "fundReserve": 77_000,
    "fundDepositAndReserve": 98_000,
    "fundDepositAndReserveFor": 98_000,
    "unlock": 88_000,
    "cancelUnlock": 40_000,
    "withdraw": 87_000,
    "redeemWinningTicket": 194_000,
    "batchRedeemWinningTickets": 40_000,  # plus BATCH_GAS_PER_TICKET per ticket
    "initializeRound": 130_000,
    "transcoder": 140_000,
    "bond": 450_000,
    "unbond": 250_000,
    "rebond": 200_000,
    "rebondFromUnbonded": 250_000,
    "withdrawStake": 90_000,
    "claimEarnings": 200_000,
    "withdrawFees": 311_000,
    "approve": 46_000,
    "transfer": 52_000,
    "updateAnswer": 80_000,
    "updateRoundData": 80_000,
    "pause": 30_000,
    "unpause": 30_000,
    "setContractInfo": 70_000,
    "setRoundLength": 75_000,
    "setRoundLockAmount": 50_000,
    "setUnlockPeriod": 35_000,
    "setTicketValidityPeriod": 35_000,
    "setUnbondingPeriod": 35_000,
    "setNumActiveTranscoders": 50_000,
    "deploy": 1_000_000,
}
BATCH_GAS_PER_TICKET = 95_000

PERC_DIVISOR = 1_000_000  # rewardCut / feeShare
FACTOR_DIVISOR = 10**27  # cumulative factors
MAX_FUTURE_ROUND = 2**256 - 1


@functools.lru_cache(maxsize=4096)
def _cs(addr: bytes) -> str:
    return to_checksum_address(addr)


@functools.lru_cache(maxsize=256)
def _key_address(key: bytes) -> bytes:
    return private_key_to_address(key)


def create_address(deployer: bytes, nonce: int) -> bytes:
    """The CREATE address ``keccak(rlp([deployer, nonce]))[12:]`` (so the mock's contract addresses equal an
    EVM deployment made by the same account in the same order)."""
    if nonce == 0:
        n = b"\x80"
    elif nonce < 0x80:
        n = bytes([nonce])
    else:
        nb = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        n = bytes([0x80 + len(nb)]) + nb
    payload = b"\x94" + deployer + n
    return keccak(bytes([0xC0 + len(payload)]) + payload)[12:]


def _id(name: str) -> bytes:
    return keccak(name.encode())


class _Revert(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _require(cond: bool, reason: str = "") -> None:
    if not cond:
        raise _Revert(reason)


def _add(a: int, b: int) -> int:
    r = a + b
    if r > UINT256_MAX:
        raise _Revert("Panic(0x11)")
    return r


def _sub(a: int, b: int) -> int:
    if b > a:
        raise _Revert("Panic(0x11)")
    return a - b


def _div(a: int, b: int) -> int:
    if b == 0:
        raise _Revert("Panic(0x12)")
    return a // b


def _mul(a: int, b: int) -> int:
    r = a * b
    if r > UINT256_MAX:
        raise _Revert("Panic(0x11)")
    return r


_MISSING = object()


class _State:
    """Every contract's storage plus ETH balances. Writes go through :meth:`MockChain._w` (journaled); struct fields
    are flat keys (``(address, field)``) so that every write is one journaled entry."""

    def __init__(self) -> None:
        self.v: dict[str, object] = {}  # scalars: "<Contract>.<var>"
        self.balances: dict[bytes, int] = {}
        self.nonces: dict[bytes, int] = {}
        # Controller
        self.registry: dict[bytes, bytes] = {}
        self.git: dict[bytes, bytes] = {}
        # TicketBroker
        self.deposit: dict[bytes, int] = {}
        self.withdraw_round: dict[bytes, int] = {}
        self.funds: dict[bytes, int] = {}
        self.claimed_for_round: dict[tuple, int] = {}  # (holder, round)
        self.claimed_by_address: dict[tuple, int] = {}  # (holder, round, claimant)
        self.used: dict[bytes, bool] = {}
        # RoundsManager
        self.block_hash_for_round: dict[int, bytes] = {}
        # LivepeerToken
        self.lpt: dict[bytes, int] = {}  # balanceOf
        self.allowance: dict[tuple, int] = {}  # (owner, spender)
        # BondingManager
        self.dlg: dict[tuple, object] = {}  # (delegator, field) -> value (Delegator struct)
        self.locks: dict[tuple, tuple] = {}  # (delegator, lock id) -> (amount, withdrawRound)
        self.trc: dict[tuple, int] = {}  # (transcoder, field) -> value (Transcoder struct)
        self.ep: dict[tuple, int] = {}  # (transcoder, round, field) -> value (EarningsPool struct)
        self.node: dict[tuple, object] = {}  # (transcoder, "key" | "next" | "prev") -> pool list node
        # BondingVotes
        self.cp: dict[tuple, tuple] = {}  # (account, start round) -> checkpoint tuple
        self.cp_rounds: dict[bytes, tuple] = {}  # account -> start rounds (increasing)
        self.total_cp: dict[int, int] = {}  # round -> total active stake
        # EthUsdPriceFeed
        self.feed: dict[int, tuple] = {}  # round id -> (answer, startedAt, updatedAt)
        self.block = 0


_DLG_FIELDS = ("bondedAmount", "fees", "delegateAddress", "delegatedAmount", "startRound", "lastClaimRound",
               "nextUnbondingLockId")
_TRC_FIELDS = ("lastRewardRound", "rewardCut", "feeShare", "lastActiveStakeUpdateRound", "activationRound",
               "deactivationRound", "activeCumulativeRewards", "cumulativeRewards", "cumulativeFees", "lastFeeRound")
_EP_FIELDS = ("totalStake", "transcoderRewardCut", "transcoderFeeShare", "cumulativeRewardFactor",
              "cumulativeFeeFactor")


def _factor_of(amount: int, num: int, den: int) -> int:
    """amount × (num / den) through a 1e27 fraction and two floors (the protocol's PreciseMathUtils.percOf);
    Panic(0x12) when den is 0, Panic(0x11) on overflow."""
    return _div(_mul(amount, _div(_mul(num, FACTOR_DIVISOR), den)), FACTOR_DIVISOR)


@dataclass
class _Ctx:
    """One call frame: ``msg.sender``, ``msg.value``, ``block.number`` and the log being built."""

    sender: bytes
    value: int
    block: int
    logs: list


class MockChain(DevChain):
    """The ``mock`` backend: see the module docstring for what is modelled."""

    backend = "mock"

    def __init__(self, config: DevnetConfig | None = None, *, setup: bool = True, seed: bytes = b"lpdev",
                 gas_price: int = DEFAULT_GAS_PRICE, chain_id: int | None = None,
                 genesis_timestamp: int | None = None) -> None:
        import time

        self.config = config or DevnetConfig()
        self._genesis_ts = int(time.time()) if genesis_timestamp is None else int(genesis_timestamp)
        self.chain_id = chain_id if chain_id is not None else self.config.chain_id
        self.eth_url = None
        self.accounts = self.config.accounts()
        self._seed = bytes(seed)
        self._gas_price = int(gas_price)
        self._lock = threading.RLock()
        self._journal: list | None = None
        self._snapshots: dict[str, tuple[_State, int]] = {}
        self._snap_counter = 0
        self._closed = False
        self.s = _State()
        for a in DEV_ADDRESSES:
            self.s.balances[bytes.fromhex(a[2:])] = INITIAL_BALANCE
        self._deploy()
        if setup:
            self._setup()
        else:
            self.finish_setup()

    # ================================================================== plumbing
    def _w(self, table, key, value) -> None:
        """Journaled write of ``table[key] = value``."""
        if self._journal is not None:
            self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _undo(self, mark: int) -> None:
        j = self._journal
        while len(j) > mark:
            table, key, old = j.pop()
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old

    def _block_hash(self, n: int) -> bytes:
        return keccak(b"lpdev-mock-block" + self._seed + u256(n))

    def _addr(self, name: str) -> bytes:
        return self.s.registry.get(_id(name), ZERO_ADDRESS)

    def _transfer(self, frm: bytes, to: bytes, amount: int) -> None:
        if amount == 0:
            return
        bal = self.s.balances.get(frm, 0)
        _require(bal >= amount, "")  # a failed value transfer reverts without data
        self._w(self.s.balances, frm, bal - amount)
        self._w(self.s.balances, to, self.s.balances.get(to, 0) + amount)

    def _tx(self, key: bytes, fn_name: str, fn, *, value: int = 0, to: bytes | None = None,
            gas: int | None = None) -> TxResult:
        """Send one transaction from ``key``'s account calling ``fn(ctx)`` on contract ``to``.

        Like the EVM backends (``devnet.backends.evm``, which simulate in the pending block first): a revert is
        returned unmined (``tx_hash=None``, ``gas_used=0``, no block, no nonce, no fee); otherwise the
        transaction is mined in the next block.
        """
        if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
            raise ValueError("key must be a 32-byte private key")
        if not isinstance(value, int) or value < 0 or value > UINT256_MAX:
            raise ValueError(f"value must be a uint256, got {value!r}")
        with self._lock:
            self._check_open()
            frm = _key_address(bytes(key))
            gas_used = gas if gas is not None else GAS[fn_name]
            fee = gas_used * self._gas_price
            bal = self.s.balances.get(frm, 0)
            if bal < value:
                raise ChainError(
                    f"insufficient funds for transfer: {_cs(frm)} has {bal} wei, the transaction sends {value}; "
                    "fund the account first")
            if bal < value + fee:
                raise ChainError(
                    f"insufficient funds for gas * price + value: {_cs(frm)} has {bal} wei, the transaction "
                    f"needs {value + fee}; fund the account first")
            # Executed in the next block; a revert is undone and reported unmined (the EVM backends simulate
            # in the pending block first and do not send a transaction that would revert).
            block = self.s.block + 1
            logs: list = []
            reason = self._run(fn, frm, value, to, block, logs=logs)
            if reason is not None:
                return TxResult(ok=False, tx_hash=None, gas_used=0, revert_reason=reason, events=[],
                                block=self.s.block)
            nonce = self.s.nonces.get(frm, 0)
            self.s.nonces[frm] = nonce + 1
            tx_hash = "0x" + keccak(b"lpdev-mock-tx" + self._seed + frm + u256(nonce)).hex()
            self.s.block = block
            self.s.balances[frm] -= fee
            return TxResult(ok=True, tx_hash=tx_hash, gas_used=gas_used, revert_reason=None,
                            events=[dict(e) for e in logs], block=block)

    def _run(self, fn, frm: bytes, value: int, to: bytes | None, block: int, *, logs: list) -> str | None:
        """Execute ``fn`` in a frame at ``block``; returns the revert reason (all writes undone) or None."""
        ctx = _Ctx(sender=frm, value=value, block=block, logs=logs)
        self._journal = []
        try:
            if to is not None:
                self._transfer(frm, to, value)
            fn(ctx)
            return None
        except _Revert as r:
            self._undo(0)
            return r.reason
        except BaseException:
            self._undo(0)
            raise
        finally:
            self._journal = None

    def _view(self, fn):
        with self._lock:
            self._check_open()
            ctx = _Ctx(sender=ZERO_ADDRESS, value=0, block=self.s.block, logs=[])
            try:
                return fn(ctx)
            except _Revert as r:
                raise CallReverted(f"the view call reverted: {r.reason or '(no reason)'}", reason=r.reason) from None

    def _check_open(self) -> None:
        if self._closed:
            raise ChainError("the mock chain is closed; open a new one with devnet.open_chain('mock')")

    @staticmethod
    def _emit(ctx: _Ctx, name: str, **args) -> None:
        ctx.logs.append({"event": name, "args": args})

    # ================================================================== deployment and setup
    def _deploy(self) -> None:
        """Deploy :data:`devnet.layout.DEPLOY_ORDER` from the deployer account, register :data:`REGISTRY` and set
        the parameters, in the same order as the EVM backends, so that addresses and block numbers are equal."""
        cfg = self.config
        dkey = cfg.key("deployer")
        deployer = private_key_to_address(dkey)
        addrs: dict[str, bytes] = {}
        for name, _, _ in DEPLOY_ORDER:
            addrs[name] = create_address(deployer, self.s.nonces.get(deployer, 0))
            self._tx(dkey, "deploy", lambda ctx: None)
        self._controller = addrs["Controller"]
        self._broker = addrs["TicketBroker"]
        self._rounds = addrs["RoundsManager"]
        self._bonding = addrs["BondingManager"]
        self._votes = addrs["BondingVotes"]
        self._minter = addrs["Minter"]
        self._token = addrs["LivepeerToken"]
        self._feed = addrs["EthUsdPriceFeed"]
        self._registry = addrs["ServiceRegistry"]
        v = self.s.v
        v["Controller.owner"] = deployer
        v["Controller.paused"] = True  # the Controller starts paused (docs/chain.md#how-the-contracts-find-each-other)
        for var in ("TicketBroker.unlockPeriod", "TicketBroker.ticketValidityPeriod", "RoundsManager.roundLength",
                    "RoundsManager.roundLockAmount", "RoundsManager.lastRoundLengthUpdateRound",
                    "RoundsManager.lastRoundLengthUpdateStartBlock", "RoundsManager.lastInitializedRound",
                    "BondingManager.unbondingPeriod", "BondingManager.currentRoundTotalActiveStake",
                    "BondingManager.nextRoundTotalActiveStake", "Pool.size", "Pool.maxSize", "LPT.totalSupply",
                    "Feed.latestRound"):
            v[var] = 0
        v["Pool.head"] = v["Pool.tail"] = ZERO_ADDRESS
        v["Feed.owner"] = deployer
        v["LPT.minters"] = (deployer,)
        for a in DEV_ADDRESSES:  # LivepeerToken's constructor: every dev account starts with lpt_per_account
            self.s.lpt[bytes.fromhex(a[2:])] = cfg.lpt_per_account
            v["LPT.totalSupply"] += cfg.lpt_per_account
        for reg, name in REGISTRY:
            r = self.set_contract_info(dkey, reg, addrs[name])
            assert r.ok, r
        self.contracts: dict[str, str] = {"Controller": _cs(addrs["Controller"])}
        self.contracts.update({reg: _cs(addrs[name]) for reg, name in REGISTRY})
        for r in (self._owner_tx(dkey, "setUnbondingPeriod", "BondingManager.unbondingPeriod", cfg.unbonding_period,
                                 self._bonding, "unbondingPeriod"),
                  self.set_num_active_transcoders(dkey, cfg.num_active_transcoders),
                  self.set_round_length(dkey, cfg.round_length),
                  self.set_unlock_period(dkey, cfg.unlock_period),
                  self.set_ticket_validity_period(dkey, cfg.ticket_validity_period),
                  self.set_eth_usd(cfg.eth_usd, key=dkey)):
            assert r.ok, r

    def _setup(self) -> None:
        """Like ``EvmChain.setup_actors``: unpause, approvals, first round, bonds and registrations, round lock,
        next round (transcoders active), senders funded."""
        cfg = self.config
        dkey = cfg.key("deployer")
        for r in [self.unpause(dkey)] + [self.lpt_approve(cfg.key(role), amount) for role, amount in
                                         [(t, cfg.transcoder_stake) for t in cfg.transcoders]
                                         + [(d, a) for d, _, a in cfg.delegators]]:
            assert r.ok, r
        self.advance_round()
        results = []
        for role in cfg.transcoders:
            results.append(self.bond(cfg.key(role), cfg.transcoder_stake, cfg.address(role)))
            results.append(self.register_transcoder(cfg.key(role)))
        for role, to_role, amount in cfg.delegators:
            results.append(self.bond(cfg.key(role), amount, cfg.address(to_role)))
        for r in results:
            if not r.ok:
                raise ChainError(f"setup: bonding failed ({r.revert_reason}); with {len(results)} bonding "
                                 f"transactions a round of {cfg.round_length} blocks may be too short")
        self.finish_setup()
        if cfg.transcoders:
            self.advance_round()
        for role in cfg.senders:
            r = self.fund_deposit_and_reserve(cfg.key(role), cfg.sender_deposit, cfg.sender_reserve)
            assert r.ok, r

    def finish_setup(self) -> TxResult:
        """The round lock (``setRoundLockAmount``), the last deployment step (see ``EvmChain.finish_setup``)."""
        r = self._owner_tx(self.config.key("deployer"), "setRoundLockAmount", "RoundsManager.roundLockAmount",
                           self.config.round_lock_amount, self._rounds, "roundLockAmount",
                           check=lambda x: _require(x <= PERC_DIVISOR, "round lock amount must be a valid percentage"))
        assert r.ok, r
        return r

    def _owner_tx(self, key: bytes, fn_name: str, var: str, value: int, to: bytes, param: str,
                  check=None) -> TxResult:
        """A Controller-owner parameter setter: ``var = value`` and ``ParameterUpdate(param)``."""
        def body(ctx: _Ctx) -> None:
            self._only_controller_owner(ctx)
            if check is not None:
                check(value)
            self._w(self.s.v, var, value)
            self._emit(ctx, "ParameterUpdate", param=param)
        return self._tx(key, fn_name, body, to=to)

    # ================================================================== Controller
    def _when_not_paused(self) -> None:
        _require(not self.s.v["Controller.paused"], "system is paused")

    def _only_controller_owner(self, ctx: _Ctx) -> None:
        _require(ctx.sender == self.s.v["Controller.owner"], "caller must be Controller owner")

    def set_contract_info(self, key: bytes, name: str, addr: bytes, git_commit: bytes = b"\x00" * 20) -> TxResult:
        """``Controller.setContractInfo(keccak(name), addr, gitCommitHash)`` (owner only, bare require)."""
        def body(ctx: _Ctx) -> None:
            _require(ctx.sender == self.s.v["Controller.owner"])
            self._w(self.s.registry, _id(name), bytes(addr))
            self._w(self.s.git, _id(name), bytes(git_commit))
            self._emit(ctx, "SetContractInfo", id="0x" + _id(name).hex(), contractAddress=_cs(addr),
                       gitCommitHash="0x" + bytes(git_commit).hex())
        return self._tx(key, "setContractInfo", body, to=self._controller_addr())

    def _controller_addr(self) -> bytes | None:
        return getattr(self, "_controller", None)

    def get_contract(self, name: str) -> str:
        """``Controller.getContract(keccak(name))`` (zero address if unknown)."""
        return self._view(lambda ctx: _cs(self._addr(name)))

    def paused(self) -> bool:
        return self._view(lambda ctx: bool(self.s.v["Controller.paused"]))

    def pause(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            _require(ctx.sender == self.s.v["Controller.owner"])
            _require(not self.s.v["Controller.paused"])
            self._w(self.s.v, "Controller.paused", True)
            self._emit(ctx, "Pause")
        return self._tx(key, "pause", body, to=self._controller)

    def unpause(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            _require(ctx.sender == self.s.v["Controller.owner"])
            _require(self.s.v["Controller.paused"])
            self._w(self.s.v, "Controller.paused", False)
            self._emit(ctx, "Unpause")
        return self._tx(key, "unpause", body, to=self._controller)

    # ================================================================== RoundsManager (docs/chain.md#rounds)
    def _current_round(self, block: int) -> int:
        v = self.s.v
        length = v["RoundsManager.roundLength"]
        if length == 0:
            return 0
        return v["RoundsManager.lastRoundLengthUpdateRound"] + _sub(
            block, v["RoundsManager.lastRoundLengthUpdateStartBlock"]) // length

    def _current_round_start_block(self, block: int) -> int:
        v = self.s.v
        if v["RoundsManager.roundLength"] == 0:
            return 0
        return v["RoundsManager.lastRoundLengthUpdateStartBlock"] + (
            self._current_round(block) - v["RoundsManager.lastRoundLengthUpdateRound"]) * v["RoundsManager.roundLength"]

    def _current_round_initialized(self, block: int) -> bool:
        return self.s.v["RoundsManager.lastInitializedRound"] == self._current_round(block)

    def set_round_length(self, key: bytes, length: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._only_controller_owner(ctx)
            _require(length > 0, "round length cannot be 0")
            v = self.s.v
            if v["RoundsManager.roundLength"] == 0:
                self._w(v, "RoundsManager.roundLength", length)
                self._w(v, "RoundsManager.lastRoundLengthUpdateRound", self._current_round(ctx.block))
                self._w(v, "RoundsManager.lastRoundLengthUpdateStartBlock", self._current_round_start_block(ctx.block))
            else:
                rnd = self._current_round(ctx.block)
                start = self._current_round_start_block(ctx.block)
                self._w(v, "RoundsManager.lastRoundLengthUpdateRound", rnd)
                self._w(v, "RoundsManager.lastRoundLengthUpdateStartBlock", start)
                self._w(v, "RoundsManager.roundLength", length)
            self._emit(ctx, "ParameterUpdate", param="roundLength")
        return self._tx(key, "setRoundLength", body, to=self._rounds)

    def initialize_round(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            rnd = self._current_round(ctx.block)
            _require(self.s.v["RoundsManager.lastInitializedRound"] < rnd, "round already initialized")
            self._w(self.s.v, "RoundsManager.lastInitializedRound", rnd)
            h = self._block_hash(ctx.block - 1)
            self._w(self.s.block_hash_for_round, rnd, h)
            # BondingManager.setCurrentRoundTotalActiveStake (and BondingVotes' total stake checkpoint)
            _require(self._addr("RoundsManager") == self._rounds, "caller must be RoundsManager")
            total = self.s.v["BondingManager.nextRoundTotalActiveStake"]
            self._w(self.s.v, "BondingManager.currentRoundTotalActiveStake", total)
            self._w(self.s.total_cp, rnd, total)
            # Minter.setCurrentRewardTokens (no inflation on the devnet)
            _require(self._addr("RoundsManager") == self._rounds, "msg.sender not RoundsManager")
            self._when_not_paused()
            self._emit(ctx, "SetCurrentRewardTokens", currentMintableTokens=0, currentInflation=0)
            self._emit(ctx, "NewRound", round=rnd, blockHash="0x" + h.hex())
        return self._tx(key, "initializeRound", body, to=self._rounds)

    def _current_round_locked(self, block: int) -> bool:
        v = self.s.v
        length = v["RoundsManager.roundLength"]
        locked = length * v["RoundsManager.roundLockAmount"] // PERC_DIVISOR
        return block - self._current_round_start_block(block) >= length - locked

    # ================================================================== LivepeerToken
    def _lpt_transfer(self, ctx: _Ctx, frm: bytes, to: bytes, amount: int) -> None:
        _require(frm != ZERO_ADDRESS, "ERC20: transfer from the zero address")
        _require(to != ZERO_ADDRESS, "ERC20: transfer to the zero address")
        bal = self.s.lpt.get(frm, 0)
        _require(bal >= amount, "ERC20: transfer amount exceeds balance")
        self._w(self.s.lpt, frm, bal - amount)
        self._w(self.s.lpt, to, _add(self.s.lpt.get(to, 0), amount))
        self._emit(ctx, "Transfer", **{"from": _cs(frm), "to": _cs(to), "value": amount})

    def _lpt_transfer_from(self, ctx: _Ctx, spender: bytes, frm: bytes, to: bytes, amount: int) -> None:
        self._lpt_transfer(ctx, frm, to, amount)  # OpenZeppelin 4.4.1: the transfer first, then the allowance
        allowed = self.s.allowance.get((frm, spender), 0)
        _require(allowed >= amount, "ERC20: transfer amount exceeds allowance")
        self._w(self.s.allowance, (frm, spender), allowed - amount)
        self._emit(ctx, "Approval", owner=_cs(frm), spender=_cs(spender), value=allowed - amount)

    def lpt_balance(self, addr: bytes) -> int:
        addr = _check_addr(addr, "addr")
        return self._view(lambda ctx: self.s.lpt.get(addr, 0))

    def lpt_approve(self, key: bytes, amount: int, spender: bytes | None = None) -> TxResult:
        amount = _check_uint(amount, "amount")
        spender = self._bonding if spender is None else _check_addr(spender, "spender")

        def body(ctx: _Ctx) -> None:
            _require(spender != ZERO_ADDRESS, "ERC20: approve to the zero address")
            self._w(self.s.allowance, (ctx.sender, spender), amount)
            self._emit(ctx, "Approval", owner=_cs(ctx.sender), spender=_cs(spender), value=amount)
        return self._tx(key, "approve", body, to=self._token)

    def lpt_transfer(self, key: bytes, to: bytes, amount: int) -> TxResult:
        to = _check_addr(to, "to")
        amount = _check_uint(amount, "amount")
        return self._tx(key, "transfer", lambda ctx: self._lpt_transfer(ctx, ctx.sender, to, amount), to=self._token)

    # ================================================================== BondingManager (see BondingManager.sol)
    # docs/chain.md#registered-and-active-orchestrators
    # -- struct fields (missing = 0 / the zero address)
    def _d(self, a: bytes, f: str):
        return self.s.dlg.get((a, f), ZERO_ADDRESS if f == "delegateAddress" else 0)

    def _dw(self, a: bytes, f: str, value) -> None:
        self._w(self.s.dlg, (a, f), value)

    def _t(self, a: bytes, f: str) -> int:
        return self.s.trc.get((a, f), 0)

    def _tw(self, a: bytes, f: str, value: int) -> None:
        self._w(self.s.trc, (a, f), value)

    def _ep(self, a: bytes, rnd: int, f: str) -> int:
        return self.s.ep.get((a, rnd, f), 0)

    def _epw(self, a: bytes, rnd: int, f: str, value: int) -> None:
        self._w(self.s.ep, (a, rnd, f), value)

    # -- the sorted pool (TranscoderPool.sol)
    def _pool_contains(self, a: bytes) -> bool:
        return self.s.node.get((a, "key"), 0) > 0

    def _pool_size(self) -> int:
        return self.s.v["Pool.size"]

    def _pool_insert(self, a: bytes, key: int) -> None:
        v, node = self.s.v, self.s.node
        _require(v["Pool.size"] < v["Pool.maxSize"], "list is full")
        _require(not self._pool_contains(a), "node already in list")
        _require(a != ZERO_ADDRESS, "node id is null")
        _require(key > 0, "key is zero")
        prev, nxt = ZERO_ADDRESS, v["Pool.head"]
        while nxt != ZERO_ADDRESS and node.get((nxt, "key"), 0) > key:
            prev, nxt = nxt, node.get((nxt, "next"), ZERO_ADDRESS)
        self._w(node, (a, "key"), key)
        self._pool_link(prev, a)
        self._pool_link(a, nxt)
        self._w(v, "Pool.size", v["Pool.size"] + 1)

    def _pool_link(self, a: bytes, b: bytes) -> None:
        """``a`` then ``b``, adjacent (the zero address: ``b`` is the head / ``a`` the tail)."""
        v, node = self.s.v, self.s.node
        if a == ZERO_ADDRESS:
            self._w(v, "Pool.head", b)
        else:
            self._w(node, (a, "next"), b)
        if b == ZERO_ADDRESS:
            self._w(v, "Pool.tail", a)
        else:
            self._w(node, (b, "prev"), a)

    def _pool_remove(self, a: bytes) -> None:
        v, node = self.s.v, self.s.node
        _require(self._pool_contains(a), "node not in list")
        self._pool_link(node.get((a, "prev"), ZERO_ADDRESS), node.get((a, "next"), ZERO_ADDRESS))
        self._w(node, (a, "key"), 0)
        self._w(node, (a, "prev"), ZERO_ADDRESS)
        self._w(node, (a, "next"), ZERO_ADDRESS)
        self._w(v, "Pool.size", v["Pool.size"] - 1)

    def _pool_update_key(self, a: bytes, key: int) -> None:
        _require(self._pool_contains(a), "node not in list")
        self._pool_remove(a)
        if key > 0:
            self._pool_insert(a, key)

    # -- status
    def _is_active(self, addr: bytes, block: int) -> bool:
        rnd = self._current_round(block)
        return self._t(addr, "activationRound") <= rnd < self._t(addr, "deactivationRound")

    def _is_registered(self, addr: bytes) -> bool:
        return self._d(addr, "delegateAddress") == addr and self._d(addr, "bondedAmount") > 0

    def _delegator_status(self, addr: bytes, block: int) -> int:
        if self._d(addr, "bondedAmount") == 0:
            return 2  # Unbonded
        if self._d(addr, "startRound") > self._current_round(block):
            return 0  # Pending
        return 1  # Bonded

    def _require_round_initialized(self, block: int) -> None:
        _require(self._current_round_initialized(block), "current round is not initialized")

    # -- BondingVotes checkpoints
    def _checkpoint_at(self, account: bytes, rnd: int) -> tuple:
        best = None
        for r in self.s.cp_rounds.get(account, ()):
            if r <= rnd:
                best = r
        return self.s.cp[(account, best)] if best is not None else (0, ZERO_ADDRESS, 0, 0, 0)

    def _checkpoint(self, ctx: _Ctx, account: bytes) -> None:
        start = self._current_round(ctx.block) + 1
        prev = self._checkpoint_at(account, start) if self.s.cp_rounds.get(account) else (0, ZERO_ADDRESS, 0, 0, 0)
        cur = (self._d(account, "bondedAmount"), self._d(account, "delegateAddress"),
               self._d(account, "delegatedAmount"), self._d(account, "lastClaimRound"),
               self._t(account, "lastRewardRound"))
        self._w(self.s.cp, (account, start), cur)
        rounds = self.s.cp_rounds.get(account, ())
        if not rounds or rounds[-1] != start:
            self._w(self.s.cp_rounds, account, rounds + (start,))
        if prev[1] != cur[1]:
            self._emit(ctx, "DelegateChanged", delegator=_cs(account), fromDelegate=_cs(prev[1]),
                       toDelegate=_cs(cur[1]))
        prev_votes = prev[2] if prev[1] == account and prev[0] > 0 else 0
        cur_votes = cur[2] if cur[1] == account and cur[0] > 0 else 0
        if prev_votes != cur_votes:
            self._emit(ctx, "DelegateVotesChanged", delegate=_cs(account), previousBalance=prev_votes,
                       newBalance=cur_votes)
        if prev[0] != cur[0] or prev[3] != cur[3]:
            self._emit(ctx, "DelegatorBondedAmountChanged", delegate=_cs(account), previousBondedAmount=prev[0],
                       previousLastClaimRound=prev[3], newBondedAmount=cur[0], newLastClaimRound=cur[3])

    # -- earnings (LIP-36)
    def _latest_factors(self, t: bytes, rnd: int) -> tuple[int, int]:
        crf = self._ep(t, rnd, "cumulativeRewardFactor")
        cff = self._ep(t, rnd, "cumulativeFeeFactor")
        lrr, lfr = self._t(t, "lastRewardRound"), self._t(t, "lastFeeRound")
        if crf == 0 and lrr < rnd:
            crf = self._ep(t, lrr, "cumulativeRewardFactor")
        if cff == 0 and lfr < rnd:
            cff = self._ep(t, lfr, "cumulativeFeeFactor")
        return crf, cff

    def _ensure_factors(self, t: bytes, rnd: int) -> None:
        if self._ep(t, rnd, "cumulativeRewardFactor") == 0:
            lrr = self._t(t, "lastRewardRound")
            if lrr < rnd:
                self._epw(t, rnd, "cumulativeRewardFactor", self._ep(t, lrr, "cumulativeRewardFactor"))
        if self._ep(t, rnd, "cumulativeFeeFactor") == 0:
            lfr = self._t(t, "lastFeeRound")
            if lfr < rnd:
                self._epw(t, rnd, "cumulativeFeeFactor", self._ep(t, lfr, "cumulativeFeeFactor"))

    def _pending_stake_and_fees(self, delegator: bytes, end_round: int) -> tuple[int, int]:
        delegate = self._d(delegator, "delegateAddress")
        stake, fees = self._d(delegator, "bondedAmount"), self._d(delegator, "fees")
        lcr = self._d(delegator, "lastClaimRound")
        if lcr < end_round:
            start_crf = self._ep(delegate, lcr, "cumulativeRewardFactor") or FACTOR_DIVISOR
            start_cff = self._ep(delegate, lcr, "cumulativeFeeFactor")
            end_crf, end_cff = self._latest_factors(delegate, end_round)
            fees = _add(fees, _factor_of(stake, _sub(end_cff, start_cff), start_crf))
            stake = _factor_of(stake, end_crf or FACTOR_DIVISOR, start_crf)
        if delegator == delegate:
            stake = _add(stake, self._t(delegate, "cumulativeRewards"))
            fees = _add(fees, self._t(delegate, "cumulativeFees"))
        return stake, fees

    def _claim(self, ctx: _Ctx, delegator: bytes, end_round: int, last_claim_round: int) -> None:
        bonded, old_fees = self._d(delegator, "bondedAmount"), self._d(delegator, "fees")
        stake, fees = bonded, old_fees
        delegate = self._d(delegator, "delegateAddress")
        if delegate != ZERO_ADDRESS:
            stake, fees = self._pending_stake_and_fees(delegator, end_round)
            self._ensure_factors(delegate, end_round)
            if delegate == delegator:
                self._tw(delegate, "cumulativeFees", 0)
                self._tw(delegate, "cumulativeRewards", 0)
        self._emit(ctx, "EarningsClaimed", delegate=_cs(delegate), delegator=_cs(delegator),
                   rewards=_sub(stake, bonded), fees=_sub(fees, old_fees), startRound=last_claim_round + 1,
                   endRound=end_round)
        self._dw(delegator, "lastClaimRound", end_round)
        self._dw(delegator, "bondedAmount", stake)
        self._dw(delegator, "fees", fees)

    def _auto_claim(self, ctx: _Ctx, delegator: bytes) -> None:
        rnd = self._current_round(ctx.block)
        lcr = self._d(delegator, "lastClaimRound")
        if lcr < rnd:
            self._claim(ctx, delegator, rnd, lcr)

    # -- stake
    def _increase_total_stake(self, ctx: _Ctx, delegate: bytes, amount: int) -> None:
        curr = self._d(delegate, "delegatedAmount")
        new = _add(curr, amount)
        if self._is_registered(delegate):
            rnd = self._current_round(ctx.block)
            if self._pool_contains(delegate):
                self._pool_update_key(delegate, new)
                v = self.s.v
                self._w(v, "BondingManager.nextRoundTotalActiveStake",
                        _add(v["BondingManager.nextRoundTotalActiveStake"], amount))
                if self._t(delegate, "lastActiveStakeUpdateRound") < rnd:
                    self._epw(delegate, rnd, "totalStake", curr)
                self._epw(delegate, rnd + 1, "totalStake", new)
                self._tw(delegate, "lastActiveStakeUpdateRound", rnd + 1)
            else:
                self._try_join(ctx, delegate, new, rnd + 1)
        self._dw(delegate, "delegatedAmount", new)

    def _decrease_total_stake(self, ctx: _Ctx, delegate: bytes, amount: int) -> None:
        curr = self._d(delegate, "delegatedAmount")
        new = _sub(curr, amount)
        if self._pool_contains(delegate):
            rnd = self._current_round(ctx.block)
            self._pool_update_key(delegate, new)
            v = self.s.v
            self._w(v, "BondingManager.nextRoundTotalActiveStake",
                    _sub(v["BondingManager.nextRoundTotalActiveStake"], amount))
            if self._t(delegate, "lastActiveStakeUpdateRound") < rnd:
                self._epw(delegate, rnd, "totalStake", curr)
            self._tw(delegate, "lastActiveStakeUpdateRound", rnd + 1)
            self._epw(delegate, rnd + 1, "totalStake", new)
        self._dw(delegate, "delegatedAmount", new)

    def _try_join(self, ctx: _Ctx, t: bytes, total_stake: int, activation_round: int) -> None:
        v = self.s.v
        pending = v["BondingManager.nextRoundTotalActiveStake"]
        if v["Pool.size"] == v["Pool.maxSize"]:
            last = v["Pool.tail"]
            last_stake = self._d(last, "delegatedAmount")
            if total_stake <= last_stake:
                return
            self._pool_remove(last)
            self._tw(last, "deactivationRound", activation_round)
            pending = _sub(pending, last_stake)
            self._emit(ctx, "TranscoderDeactivated", transcoder=_cs(last), deactivationRound=activation_round)
        self._pool_insert(t, total_stake)
        pending = _add(pending, total_stake)
        self._tw(t, "lastActiveStakeUpdateRound", activation_round)
        self._tw(t, "activationRound", activation_round)
        self._tw(t, "deactivationRound", MAX_FUTURE_ROUND)
        self._epw(t, activation_round, "totalStake", total_stake)
        self._w(v, "BondingManager.nextRoundTotalActiveStake", pending)
        self._emit(ctx, "TranscoderActivated", transcoder=_cs(t), activationRound=activation_round)

    def _resign(self, ctx: _Ctx, t: bytes) -> None:
        self._pool_remove(t)
        v = self.s.v
        self._w(v, "BondingManager.nextRoundTotalActiveStake",
                _sub(v["BondingManager.nextRoundTotalActiveStake"], self._d(t, "delegatedAmount")))
        deact = self._current_round(ctx.block) + 1
        self._tw(t, "deactivationRound", deact)
        self._emit(ctx, "TranscoderDeactivated", transcoder=_cs(t), deactivationRound=deact)

    # -- transactions
    def set_num_active_transcoders(self, key: bytes, n: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._only_controller_owner(ctx)
            _require(n > self.s.v["Pool.maxSize"], "new max size must be greater than old max size")
            self._w(self.s.v, "Pool.maxSize", n)
            self._emit(ctx, "ParameterUpdate", param="numActiveTranscoders")
        return self._tx(key, "setNumActiveTranscoders", body, to=self._bonding)

    def register_transcoder(self, key: bytes, reward_cut: int | None = None, fee_share: int | None = None) -> TxResult:
        reward_cut = _check_uint(self.config.reward_cut if reward_cut is None else reward_cut, "reward_cut")
        fee_share = _check_uint(self.config.fee_share if fee_share is None else fee_share, "fee_share")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            _require(not self._current_round_locked(ctx.block),
                     "can't update transcoder params, current round is locked")
            _require(reward_cut <= PERC_DIVISOR, "invalid rewardCut percentage")
            _require(fee_share <= PERC_DIVISOR, "invalid feeShare percentage")
            me = ctx.sender
            _require(self._is_registered(me), "transcoder must be registered")
            rnd = self._current_round(ctx.block)
            _require(not self._is_active(me, ctx.block) or self._t(me, "lastRewardRound") == rnd,
                     "caller can't be active or must have already called reward for the current round")
            self._tw(me, "rewardCut", reward_cut)
            self._tw(me, "feeShare", fee_share)
            if not self._pool_contains(me):
                self._try_join(ctx, me, self._d(me, "delegatedAmount"), rnd + 1)
            self._emit(ctx, "TranscoderUpdate", transcoder=_cs(me), rewardCut=reward_cut, feeShare=fee_share)
        return self._tx(key, "transcoder", body, to=self._bonding)

    def bond(self, key: bytes, amount: int, to: bytes) -> TxResult:
        amount = _check_uint(amount, "amount")
        to = _check_addr(to, "to")
        return self._tx(key, "bond", lambda ctx: self._bond_for(ctx, amount, ctx.sender, to), to=self._bonding)

    def _bond_for(self, ctx: _Ctx, amount: int, owner: bytes, to: bytes) -> None:
        self._when_not_paused()
        self._require_round_initialized(ctx.block)
        if ctx.sender != owner and self._delegator_status(owner, ctx.block) != 2:  # _authorizeClaimEarnings
            delegate = self._d(owner, "delegateAddress")
            if self._is_active(delegate, ctx.block):
                rnd = self._current_round(ctx.block)
                _require(self._t(delegate, "lastRewardRound") == rnd or self._d(owner, "lastClaimRound") == rnd,
                         "ILLEGAL_CLAIM_EARNINGS")
        self._auto_claim(ctx, owner)
        rnd = self._current_round(ctx.block)
        delegation = amount
        current_delegate = self._d(owner, "delegateAddress")
        current_bonded = self._d(owner, "bondedAmount")
        if ctx.sender != owner:
            _require(owner != ZERO_ADDRESS, "INVALID_DELEGATOR")
            if self._delegator_status(owner, ctx.block) == 2:
                _require(to != owner, "INVALID_DELEGATE")
            else:
                _require(current_delegate == to, "INVALID_DELEGATE_CHANGE")
        if self._delegator_status(owner, ctx.block) == 2:
            self._dw(owner, "startRound", rnd + 1)
        elif current_bonded > 0 and current_delegate != to:
            _require(not self._is_registered(owner), "registered transcoders can't delegate towards other addresses")
            self._dw(owner, "startRound", rnd + 1)
            delegation = _add(delegation, current_bonded)
            self._decrease_total_stake(ctx, current_delegate, current_bonded)
            self._checkpoint(ctx, current_delegate)
        self._ensure_factors(to, rnd)
        _require(delegation > 0, "delegation amount must be greater than 0")
        self._dw(owner, "delegateAddress", to)
        self._dw(owner, "bondedAmount", _add(current_bonded, amount))
        self._increase_total_stake(ctx, to, delegation)
        if to != owner:
            self._checkpoint(ctx, to)
        if amount > 0:
            self._lpt_transfer_from(ctx, self._bonding, ctx.sender, self._minter, amount)
        self._emit(ctx, "Bond", newDelegate=_cs(to), oldDelegate=_cs(current_delegate), delegator=_cs(owner),
                   additionalAmount=amount, bondedAmount=self._d(owner, "bondedAmount"))
        self._checkpoint(ctx, owner)

    def unbond(self, key: bytes, amount: int) -> TxResult:
        amount = _check_uint(amount, "amount")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            me = ctx.sender
            self._auto_claim(ctx, me)
            _require(self._delegator_status(me, ctx.block) == 1, "caller must be bonded")
            _require(amount > 0, "unbond amount must be greater than 0")
            bonded = self._d(me, "bondedAmount")
            _require(amount <= bonded, "amount is greater than bonded amount")
            delegate = self._d(me, "delegateAddress")
            withdraw_round = self._current_round(ctx.block) + self.s.v["BondingManager.unbondingPeriod"]
            lock_id = self._d(me, "nextUnbondingLockId")
            self._w(self.s.locks, (me, lock_id), (amount, withdraw_round))
            self._dw(me, "nextUnbondingLockId", lock_id + 1)
            self._dw(me, "bondedAmount", bonded - amount)
            if bonded - amount == 0:
                self._dw(me, "delegateAddress", ZERO_ADDRESS)
                self._dw(me, "startRound", 0)
                if self._pool_contains(me):
                    self._resign(ctx, me)
            self._decrease_total_stake(ctx, delegate, amount)
            if delegate != me:
                self._checkpoint(ctx, delegate)
            self._emit(ctx, "Unbond", delegate=_cs(delegate), delegator=_cs(me), unbondingLockId=lock_id,
                       amount=amount, withdrawRound=withdraw_round)
            self._checkpoint(ctx, me)
        return self._tx(key, "unbond", body, to=self._bonding)

    def _process_rebond(self, ctx: _Ctx, delegator: bytes, lock_id: int) -> None:
        lock = self.s.locks.get((delegator, lock_id), (0, 0))
        _require(lock[1] > 0, "invalid unbonding lock ID")
        self._dw(delegator, "bondedAmount", _add(self._d(delegator, "bondedAmount"), lock[0]))
        self._w(self.s.locks, (delegator, lock_id), (0, 0))
        delegate = self._d(delegator, "delegateAddress")
        self._increase_total_stake(ctx, delegate, lock[0])
        if delegate != delegator:
            self._checkpoint(ctx, delegate)
        self._emit(ctx, "Rebond", delegate=_cs(delegate), delegator=_cs(delegator), unbondingLockId=lock_id,
                   amount=lock[0])
        self._checkpoint(ctx, delegator)

    def rebond(self, key: bytes, lock_id: int) -> TxResult:
        lock_id = _check_uint(lock_id, "lock_id")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            self._auto_claim(ctx, ctx.sender)
            _require(self._delegator_status(ctx.sender, ctx.block) != 2, "caller must be bonded")
            self._process_rebond(ctx, ctx.sender, lock_id)
        return self._tx(key, "rebond", body, to=self._bonding)

    def rebond_from_unbonded(self, key: bytes, to: bytes, lock_id: int) -> TxResult:
        to = _check_addr(to, "to")
        lock_id = _check_uint(lock_id, "lock_id")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            me = ctx.sender
            self._auto_claim(ctx, me)
            _require(self._delegator_status(me, ctx.block) == 2, "caller must be unbonded")
            rnd = self._current_round(ctx.block)
            self._ensure_factors(to, rnd)
            self._dw(me, "startRound", rnd + 1)
            self._dw(me, "delegateAddress", to)
            self._process_rebond(ctx, me, lock_id)
        return self._tx(key, "rebondFromUnbonded", body, to=self._bonding)

    def withdraw_stake(self, key: bytes, lock_id: int) -> TxResult:
        lock_id = _check_uint(lock_id, "lock_id")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            me = ctx.sender
            amount, withdraw_round = self.s.locks.get((me, lock_id), (0, 0))
            _require(withdraw_round > 0, "invalid unbonding lock ID")
            _require(withdraw_round <= self._current_round(ctx.block),
                     "withdraw round must be before or equal to the current round")
            self._w(self.s.locks, (me, lock_id), (0, 0))
            self._trusted_transfer_tokens(ctx, self._bonding, me, amount)
            self._emit(ctx, "WithdrawStake", delegator=_cs(me), unbondingLockId=lock_id, amount=amount,
                       withdrawRound=withdraw_round)
        return self._tx(key, "withdrawStake", body, to=self._bonding)

    def claim_earnings(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            self._auto_claim(ctx, ctx.sender)
            self._checkpoint(ctx, ctx.sender)
        return self._tx(key, "claimEarnings", body, to=self._bonding)

    def _update_transcoder_with_fees(self, caller: bytes, transcoder: bytes, fees: int, block: int) -> None:
        self._when_not_paused()
        _require(caller == self._addr("TicketBroker"), "caller must be TicketBroker")
        _require(self._is_registered(transcoder), "transcoder must be registered")
        t = transcoder
        rnd = self._current_round(block)
        prev_crf, prev_cff = self._latest_factors(t, _sub(rnd, 1))
        acr = self._t(t, "activeCumulativeRewards")
        if rnd > self._t(t, "lastRewardRound"):
            self._epw(t, rnd, "transcoderRewardCut", self._t(t, "rewardCut"))
            self._epw(t, rnd, "transcoderFeeShare", self._t(t, "feeShare"))
            last_update = self._t(t, "lastActiveStakeUpdateRound")
            if last_update < rnd:
                self._epw(t, rnd, "totalStake", self._ep(t, last_update, "totalStake"))
            acr = self._t(t, "cumulativeRewards")
        total_stake = self._ep(t, rnd, "totalStake")
        delegators_fees = _mul(fees, self._ep(t, rnd, "transcoderFeeShare")) // PERC_DIVISOR
        commission = fees - delegators_fees
        reward_stake_fees = _factor_of(delegators_fees, acr, total_stake)
        self._tw(t, "cumulativeFees", _add(self._t(t, "cumulativeFees"), _add(reward_stake_fees, commission)))
        added = _factor_of(prev_crf or FACTOR_DIVISOR, delegators_fees, total_stake)
        cff = self._ep(t, rnd, "cumulativeFeeFactor")
        self._epw(t, rnd, "cumulativeFeeFactor", _add(prev_cff if cff == 0 else cff, added))
        self._tw(t, "lastFeeRound", rnd)

    def withdraw_fees(self, key: bytes, amount: int | None = None, recipient: bytes | None = None) -> TxResult:
        me = _key_address(bytes(key))
        to = _check_addr(recipient, "recipient") if recipient is not None else me
        if amount is None:
            amount = self.pending_fees(me)
        amount = _check_uint(amount, "amount")

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._require_round_initialized(ctx.block)
            self._auto_claim(ctx, ctx.sender)
            _require(to != ZERO_ADDRESS, "invalid recipient")
            fees = self._d(ctx.sender, "fees")
            _require(fees >= amount, "insufficient fees to withdraw")
            self._dw(ctx.sender, "fees", fees - amount)
            self._trusted_withdraw_eth(self._bonding, to, amount)
            self._emit(ctx, "WithdrawFees", delegator=_cs(ctx.sender), recipient=_cs(to), amount=amount)
            self._checkpoint(ctx, ctx.sender)
        return self._tx(key, "withdrawFees", body, to=self._bonding)

    # -- views
    def pending_fees(self, transcoder: bytes) -> int:
        addr = _check_addr(transcoder, "transcoder")
        return self._view(lambda ctx: self._pending_stake_and_fees(addr, self._current_round(ctx.block))[1])

    def pending_stake(self, addr: bytes) -> int:
        addr = _check_addr(addr, "addr")
        return self._view(lambda ctx: self._pending_stake_and_fees(addr, self._current_round(ctx.block))[0])

    def delegator_info(self, addr: bytes) -> DelegatorInfo:
        a = _check_addr(addr, "addr")

        def view(ctx: _Ctx) -> DelegatorInfo:
            d = {f: self._d(a, f) for f in _DLG_FIELDS}
            return DelegatorInfo(bonded_amount=d["bondedAmount"], fees=d["fees"],
                                 delegate_address=_cs(d["delegateAddress"]), delegated_amount=d["delegatedAmount"],
                                 start_round=d["startRound"], last_claim_round=d["lastClaimRound"],
                                 next_unbonding_lock_id=d["nextUnbondingLockId"],
                                 status=DELEGATOR_STATUS[self._delegator_status(a, ctx.block)])
        return self._view(view)

    def transcoder_info(self, addr: bytes) -> TranscoderInfo:
        a = _check_addr(addr, "addr")
        return self._view(lambda ctx: TranscoderInfo(*(self._t(a, f) for f in _TRC_FIELDS),
                                                     registered=self._is_registered(a),
                                                     active=self._is_active(a, ctx.block),
                                                     total_stake=self._d(a, "delegatedAmount")))

    def earnings_pool(self, transcoder: bytes, round_: int) -> EarningsPoolInfo:
        a = _check_addr(transcoder, "transcoder")
        return self._view(lambda ctx: EarningsPoolInfo(*(self._ep(a, int(round_), f) for f in _EP_FIELDS)))

    def unbonding_lock(self, addr: bytes, lock_id: int) -> tuple[int, int]:
        a = _check_addr(addr, "addr")
        return self._view(lambda ctx: self.s.locks.get((a, int(lock_id)), (0, 0)))

    def transcoder_pool(self) -> list[str]:
        def view(ctx: _Ctx) -> list[str]:
            out, a = [], self.s.v["Pool.head"]
            while a != ZERO_ADDRESS:
                out.append(_cs(a))
                a = self.s.node.get((a, "next"), ZERO_ADDRESS)
            return out
        return self._view(view)

    def total_bonded(self) -> int:
        return self._view(lambda ctx: self.s.v["BondingManager.currentRoundTotalActiveStake"])

    def votes(self, addr: bytes) -> tuple[int, str]:
        """``BondingVotes.getVotesAndDelegateAtRoundStart(addr, currentRound + 1)``: (votes, delegate)."""
        a = _check_addr(addr, "addr")

        def view(ctx: _Ctx) -> tuple[int, str]:
            rnd = self._current_round(ctx.block) + 1
            c = self._checkpoint_at(a, rnd)
            if c[0] == 0:
                return 0, _cs(c[1])
            if c[1] == a:
                return c[2], _cs(c[1])
            d = self._checkpoint_at(c[1], rnd)
            return (c[0] if d[1] == c[1] and d[0] > 0 else 0), _cs(c[1])
        return self._view(view)

    # ================================================================== Minter
    # docs/chain.md#how-the-contracts-find-each-other
    def _deposit_eth(self, caller: bytes, value: int) -> None:
        _require(caller == self._addr("Minter") or caller == self._addr("JobsManager"),
                 "msg.sender not Minter or JobsManager")
        self._transfer(caller, self._minter, value)

    def _trusted_withdraw_eth(self, caller: bytes, to: bytes, amount: int) -> None:
        _require(caller == self._addr("BondingManager") or caller == self._addr("JobsManager"),
                 "msg.sender not BondingManager or JobsManager")
        self._when_not_paused()
        self._transfer(self._minter, to, amount)

    def _trusted_transfer_tokens(self, ctx: _Ctx, caller: bytes, to: bytes, amount: int) -> None:
        _require(caller == self._addr("BondingManager"), "msg.sender not BondingManager")
        self._when_not_paused()
        self._lpt_transfer(ctx, self._minter, to, amount)

    # ================================================================== ETH/USD feed (EthUsdPriceFeed.sol)
    def _block_ts(self, block: int) -> int:
        return self._genesis_ts + block

    def block_timestamp(self) -> int:
        return self._view(lambda ctx: self._block_ts(ctx.block))

    def set_eth_usd(self, usd_per_eth, *, updated_at: int | None = None, key: bytes | None = None) -> TxResult:
        answer = eth_usd_answer(usd_per_eth)
        key = key or self.config.key("deployer")
        stamp = None if updated_at is None else _check_uint(int(updated_at), "updated_at")

        def body(ctx: _Ctx) -> None:
            rid = self.s.v["Feed.latestRound"] + 1
            ts = self._block_ts(ctx.block) if stamp is None else stamp
            _require(ctx.sender == self.s.v["Feed.owner"], "only owner")
            _require(ts > 0, "updatedAt must be positive")
            self._w(self.s.feed, rid, (answer, ts, ts))
            self._w(self.s.v, "Feed.latestRound", rid)
            self._emit(ctx, "AnswerUpdated", current=answer, roundId=rid, updatedAt=ts)
        return self._tx(key, "updateAnswer" if stamp is None else "updateRoundData", body, to=self._feed)

    def eth_usd(self) -> EthUsd:
        from fractions import Fraction

        def view(ctx: _Ctx) -> EthUsd:
            rid = self.s.v["Feed.latestRound"]
            if rid not in self.s.feed:
                raise ChainError(f"the ETH/USD price feed at {_cs(self._feed)} has no data: No data present")
            answer, _, updated = self.s.feed[rid]
            return EthUsd(usd_per_eth=Fraction(answer, 10**USD_DECIMALS), updated_at=updated, decimals=USD_DECIMALS,
                          round_id=rid)
        return self._view(view)

    # ================================================================== TicketBroker parameters
    def set_unlock_period(self, key: bytes, rounds: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._only_controller_owner(ctx)
            self._w(self.s.v, "TicketBroker.unlockPeriod", rounds)
            self._emit(ctx, "ParameterUpdate", param="unlockPeriod")
        return self._tx(key, "setUnlockPeriod", body, to=self._broker)

    def set_ticket_validity_period(self, key: bytes, rounds: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._only_controller_owner(ctx)
            _require(rounds > 0, "ticketValidityPeriod must be greater than 0")
            self._w(self.s.v, "TicketBroker.ticketValidityPeriod", rounds)
            self._emit(ctx, "ParameterUpdate", param="ticketValidityPeriod")
        return self._tx(key, "setTicketValidityPeriod", body, to=self._broker)

    # ================================================================== TicketBroker funding
    # docs/chain.md#unlock-and-withdraw; the event order: docs/chain.md#events
    def _is_unlock_in_progress(self, sender: bytes) -> bool:
        return self.s.withdraw_round.get(sender, 0) > 0

    def _is_locked(self, sender: bytes, block: int) -> bool:
        wr = self.s.withdraw_round.get(sender, 0)
        return wr == 0 or self._current_round(block) < wr

    def _cancel_unlock(self, ctx: _Ctx, sender: bytes) -> None:
        _require(self._is_unlock_in_progress(sender), "no unlock request in progress")
        self._w(self.s.withdraw_round, sender, 0)
        self._emit(ctx, "UnlockCancelled", sender=_cs(sender))

    def _process_deposit_pre(self, ctx: _Ctx, sender: bytes, amount: int) -> None:
        self._w(self.s.deposit, sender, _add(self.s.deposit.get(sender, 0), amount))
        if sender == ctx.sender and self._is_unlock_in_progress(sender):
            self._cancel_unlock(ctx, sender)

    def _process_reserve_pre(self, ctx: _Ctx, sender: bytes, amount: int) -> None:
        self._w(self.s.funds, sender, _add(self.s.funds.get(sender, 0), amount))
        self._emit(ctx, "ReserveFunded", reserveHolder=_cs(sender), amount=amount)
        if sender == ctx.sender and self._is_unlock_in_progress(sender):
            self._cancel_unlock(ctx, sender)

    def fund_deposit(self, key: bytes, amount: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._process_deposit_pre(ctx, ctx.sender, ctx.value)
            self._deposit_eth(self._broker, ctx.value)
            self._emit(ctx, "DepositFunded", sender=_cs(ctx.sender), amount=ctx.value)
        return self._tx(key, "fundDeposit", body, value=amount, to=self._broker)

    def fund_reserve(self, key: bytes, amount: int) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._process_reserve_pre(ctx, ctx.sender, ctx.value)
            self._deposit_eth(self._broker, ctx.value)
        return self._tx(key, "fundReserve", body, value=amount, to=self._broker)

    def _fund_for(self, ctx: _Ctx, addr: bytes, deposit: int, reserve: int) -> None:
        self._when_not_paused()
        _require(ctx.value == _add(deposit, reserve),
                 "msg.value does not equal sum of deposit amount and reserve amount")
        self._process_deposit_pre(ctx, addr, deposit)
        self._process_reserve_pre(ctx, addr, reserve)
        self._deposit_eth(self._broker, ctx.value)
        self._emit(ctx, "DepositFunded", sender=_cs(addr), amount=deposit)

    def fund_deposit_and_reserve(self, key: bytes, deposit: int, reserve: int, value: int | None = None) -> TxResult:
        _check_uint(deposit, "deposit")
        _check_uint(reserve, "reserve")
        value = deposit + reserve if value is None else value
        return self._tx(key, "fundDepositAndReserve", lambda ctx: self._fund_for(ctx, ctx.sender, deposit, reserve),
                        value=value, to=self._broker)

    def fund_deposit_and_reserve_for(self, key: bytes, addr: bytes, deposit: int, reserve: int,
                                     value: int | None = None) -> TxResult:
        _check_uint(deposit, "deposit")
        _check_uint(reserve, "reserve")
        addr = _check_addr(addr, "addr")
        value = deposit + reserve if value is None else value
        return self._tx(key, "fundDepositAndReserveFor", lambda ctx: self._fund_for(ctx, addr, deposit, reserve),
                        value=value, to=self._broker)

    # ================================================================== unlock / cancel / withdraw
    # docs/chain.md#unlock-and-withdraw
    def unlock(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            me = ctx.sender
            _require(self.s.deposit.get(me, 0) > 0 or self.s.funds.get(me, 0) > 0,
                     "sender deposit and reserve are zero")
            _require(not self._is_unlock_in_progress(me), "unlock already initiated")
            rnd = self._current_round(ctx.block)
            wr = _add(rnd, self.s.v["TicketBroker.unlockPeriod"])
            self._w(self.s.withdraw_round, me, wr)
            self._emit(ctx, "Unlock", sender=_cs(me), startRound=rnd, endRound=wr)
        return self._tx(key, "unlock", body, to=self._broker)

    def cancel_unlock(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            self._cancel_unlock(ctx, ctx.sender)
        return self._tx(key, "cancelUnlock", body, to=self._broker)

    def withdraw(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            me = ctx.sender
            deposit = self.s.deposit.get(me, 0)
            reserve = self.s.funds.get(me, 0)
            _require(deposit > 0 or reserve > 0, "sender deposit and reserve are zero")
            _require(self._is_unlock_in_progress(me), "no unlock request in progress")
            _require(not self._is_locked(me, ctx.block), "account is locked")
            self._w(self.s.deposit, me, 0)
            # claim mappings survive; withdrawRound is NOT reset (docs/chain.md#unlock-and-withdraw)
            self._w(self.s.funds, me, 0)
            self._trusted_withdraw_eth(self._broker, me, _add(deposit, reserve))
            self._emit(ctx, "Withdrawal", sender=_cs(me), deposit=deposit, reserve=reserve)
        return self._tx(key, "withdraw", body, to=self._broker)

    # ================================================================== redemption
    # docs/chain.md#what-the-ticketbroker-checks-in-order
    def _claimable_reserve(self, holder: bytes, claimant: bytes, block: int) -> int:
        rnd = self._current_round(block)
        if not self._is_active(claimant, block):
            return 0
        pool = self._pool_size()
        if pool == 0:
            return 0
        total = _add(self.s.funds.get(holder, 0), self.s.claimed_for_round.get((holder, rnd), 0)) // pool
        return _sub(total, self.s.claimed_by_address.get((holder, rnd, claimant), 0))

    def _claim_from_reserve(self, ctx: _Ctx, holder: bytes, claimant: bytes, amount: int) -> int:
        claimable = self._claimable_reserve(holder, claimant, ctx.block)
        if claimable == 0:
            return 0
        rnd = self._current_round(ctx.block)
        claim = min(amount, claimable)
        s = self.s
        self._w(s.claimed_for_round, (holder, rnd), _add(s.claimed_for_round.get((holder, rnd), 0), claim))
        self._w(s.claimed_by_address, (holder, rnd, claimant),
                _add(s.claimed_by_address.get((holder, rnd, claimant), 0), claim))
        self._w(s.funds, holder, _sub(s.funds.get(holder, 0), claim))
        self._emit(ctx, "ReserveClaimed", reserveHolder=_cs(holder), claimant=_cs(claimant), amount=claim)
        return claim

    def _require_valid_aux_data(self, aux: bytes, block: int) -> int:
        _require(len(aux) == 64, "invalid length for ticket auxData: must be 64 bytes")
        creation_round = int.from_bytes(aux[:32], "big")
        h = self.s.block_hash_for_round.get(creation_round, ZERO32)
        _require(h != ZERO32, "ticket creationRound does not have a block hash")
        _require(aux[32:] == h, "ticket creationRoundBlockHash invalid for creationRound")
        _require(_add(creation_round, self.s.v["TicketBroker.ticketValidityPeriod"]) > self._current_round(block),
                 "ticket is expired")
        return creation_round

    @staticmethod
    def _recover(digest: bytes, sig: bytes) -> bytes:
        """OpenZeppelin 4.4.1 ``ECDSA.recover`` on a 65-byte signature: messages and order as deployed."""
        s = int.from_bytes(sig[32:64], "big")
        _require(s <= HALF_N, "ECDSA: invalid signature 's' value")
        _require(sig[64] in (27, 28), "ECDSA: invalid signature 'v' value")
        r = int.from_bytes(sig[:32], "big")
        if r == 0 or r >= SECP256K1_N or s == 0:
            raise _Revert("ECDSA: invalid signature")  # the ecrecover precompile returns 0
        try:
            return recover_hash(digest, sig)
        except (SignatureError, ValueError):
            raise _Revert("ECDSA: invalid signature") from None

    def _redeem(self, ctx: _Ctx, t: "_T", sig: bytes, rand: int) -> None:
        s = self.s
        ticket_hash = t.hash()  # step 3
        _require(t.recipient != ZERO_ADDRESS, "ticket recipient is null address")
        _require(t.sender != ZERO_ADDRESS, "ticket sender is null address")
        creation_round = self._require_valid_aux_data(t.aux_data, ctx.block)
        _require(keccak(u256(rand)) == t.recipient_rand_hash, "recipientRand does not match recipientRandHash")
        _require(not s.used.get(ticket_hash, False), "ticket is used")
        _require(len(sig) == 65, "INVALID_SIGNATURE_LENGTH")
        signer = self._recover(text_hash(ticket_hash), sig)
        _require(signer != ZERO_ADDRESS and signer == t.sender, "invalid signature over ticket hash")
        _require(int.from_bytes(keccak(sig + u256(rand)), "big") < t.win_prob, "ticket did not win")
        _require(self._is_locked(t.sender, ctx.block), "sender is unlocked")
        deposit = s.deposit.get(t.sender, 0)
        _require(deposit > 0 or s.funds.get(t.sender, 0) > 0, "sender deposit and reserve are zero")
        self._w(s.used, ticket_hash, True)  # consumed even if it pays 0 (step 13)
        if t.face_value > deposit:
            amount = _add(deposit, self._claim_from_reserve(ctx, t.sender, t.recipient, t.face_value - deposit))
            self._w(s.deposit, t.sender, 0)
        else:
            amount = t.face_value
            self._w(s.deposit, t.sender, deposit - t.face_value)
        if amount > 0:
            self._update_transcoder_with_fees(self._broker, t.recipient, amount, ctx.block)
            self._emit(ctx, "WinningTicketTransfer", sender=_cs(t.sender), recipient=_cs(t.recipient), amount=amount)
        self._emit(ctx, "WinningTicketRedeemed", sender=_cs(t.sender), recipient=_cs(t.recipient),
                   faceValue=t.face_value, winProb=t.win_prob, senderNonce=t.sender_nonce, recipientRand=rand,
                   auxData="0x" + t.aux_data.hex())

    def _redeem_guards(self, ctx: _Ctx) -> None:
        self._when_not_paused()
        _require(self._current_round_initialized(ctx.block), "current round is not initialized")

    def redeem_winning_ticket(self, ticket, sig: bytes, recipient_rand: int, *, from_key: bytes) -> TxResult:
        t = _T.of(ticket)
        sig = bytes(sig)
        rand = _check_uint(recipient_rand, "recipient_rand")

        def body(ctx: _Ctx) -> None:
            self._redeem_guards(ctx)
            self._redeem(ctx, t, sig, rand)
        return self._tx(from_key, "redeemWinningTicket", body, to=self._broker)

    def batch_redeem_winning_tickets(self, tickets: list, sigs: list[bytes], rands: list[int], *,
                                     from_key: bytes) -> TxResult:
        ts = [_T.of(t) for t in tickets]
        sigs = [bytes(x) for x in sigs]
        rands = [_check_uint(r, "recipient_rand") for r in rands]

        def body(ctx: _Ctx) -> None:
            self._redeem_guards(ctx)
            for i, t in enumerate(ts):
                if i >= len(sigs) or i >= len(rands):
                    raise _Revert("Panic(0x32)")
                # a self-call: msg.sender is the broker; failures are ignored and roll back only this ticket
                inner = _Ctx(sender=self._broker, value=0, block=ctx.block, logs=[])
                mark = len(self._journal)
                try:
                    self._redeem_guards(inner)
                    self._redeem(inner, t, sigs[i], rands[i])
                except _Revert:
                    self._undo(mark)
                    continue
                ctx.logs.extend(inner.logs)
        gas = GAS["batchRedeemWinningTickets"] + BATCH_GAS_PER_TICKET * len(ts)
        return self._tx(from_key, "batchRedeemWinningTickets", body, to=self._broker, gas=gas)

    # ================================================================== ChainView / DevChain views
    def last_block(self) -> int:
        with self._lock:
            self._check_open()
            return self.s.block

    def gas_price(self) -> int:
        self._check_open()
        return self._gas_price

    def current_round(self) -> int:
        return self._view(lambda ctx: self._current_round(ctx.block))

    def last_initialized_round(self) -> int:
        return self._view(lambda ctx: self.s.v["RoundsManager.lastInitializedRound"])

    def current_round_initialized(self) -> bool:
        return self._view(lambda ctx: self._current_round_initialized(ctx.block))

    def block_hash_for_round(self, round_: int) -> bytes:
        return self._view(lambda ctx: self.s.block_hash_for_round.get(int(round_), ZERO32))

    def sender_info(self, sender: bytes) -> SenderInfo:
        sender = _check_addr(sender, "sender")

        def view(ctx: _Ctx) -> SenderInfo:
            rnd = self._current_round(ctx.block)
            return SenderInfo(deposit=self.s.deposit.get(sender, 0), withdraw_round=self.s.withdraw_round.get(sender, 0),
                              reserve=self.s.funds.get(sender, 0),
                              claimed_in_current_round=self.s.claimed_for_round.get((sender, rnd), 0))
        return self._view(view)

    def reserve_info(self, holder: bytes) -> tuple[int, int]:
        """``getReserveInfo``: (fundsRemaining, claimedInCurrentRound)."""
        holder = _check_addr(holder, "holder")
        return self._view(lambda ctx: (self.s.funds.get(holder, 0),
                                       self.s.claimed_for_round.get((holder, self._current_round(ctx.block)), 0)))

    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        holder = _check_addr(reserve_holder, "reserve_holder")
        claimant = _check_addr(claimant, "claimant")
        return self._view(lambda ctx: self.s.claimed_by_address.get(
            (holder, self._current_round(ctx.block), claimant), 0))

    def claimable_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        holder = _check_addr(reserve_holder, "reserve_holder")
        claimant = _check_addr(claimant, "claimant")
        return self._view(lambda ctx: self._claimable_reserve(holder, claimant, ctx.block))

    def transcoder_pool_size(self) -> int:
        return self._view(lambda ctx: self._pool_size())

    def is_active_transcoder(self, addr: bytes) -> bool:
        addr = _check_addr(addr, "addr")
        return self._view(lambda ctx: self._is_active(addr, ctx.block))

    def is_registered_transcoder(self, addr: bytes) -> bool:
        addr = _check_addr(addr, "addr")
        return self._view(lambda ctx: self._is_registered(addr))

    def is_used_ticket(self, ticket_hash: bytes) -> bool:
        h = bytes(ticket_hash)
        if len(h) != 32:
            raise ValueError("ticket_hash must be 32 bytes")
        return self._view(lambda ctx: self.s.used.get(h, False))

    def get_ticket_hash(self, ticket) -> bytes:
        return _T.of(ticket).hash()

    def unlock_period(self) -> int:
        return self._view(lambda ctx: self.s.v["TicketBroker.unlockPeriod"])

    def ticket_validity_period(self) -> int:
        return self._view(lambda ctx: self.s.v["TicketBroker.ticketValidityPeriod"])

    def round_length(self) -> int:
        return self._view(lambda ctx: self.s.v["RoundsManager.roundLength"])

    def eth_balance(self, addr: bytes) -> int:
        addr = _check_addr(addr, "addr")
        return self._view(lambda ctx: self.s.balances.get(addr, 0))

    def is_unlock_in_progress(self, sender: bytes) -> bool:
        sender = _check_addr(sender, "sender")
        return self._view(lambda ctx: self._is_unlock_in_progress(sender))

    # ================================================================== time travel
    def _round_status(self, block: int) -> str:
        rnd = self._current_round(block)
        init = "initialized" if self.s.v["RoundsManager.lastInitializedRound"] == rnd else "not initialized"
        return f"round {rnd} ({init})"

    def mine(self, n: int) -> dict:
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"mine: n must be a non-negative integer, got {n!r}")
        with self._lock:
            self._check_open()
            frm = self.s.block
            r0 = self._current_round(frm)
            self.s.block += n
            to = self.s.block
            return {"from_block": frm, "to_block": to, "from_round": r0, "to_round": self._current_round(to),
                    "summary": mine_summary(frm, to, r0,
                                                                            self._current_round(to),
                                                                            self._round_status(to))}

    def advance_round(self, key: bytes | None = None) -> dict:
        """Mine empty blocks until the next transaction lands on the first block of the next round, then send
        ``initializeRound()`` from ``key``'s account (default: the deployer), mined exactly at the boundary."""
        with self._lock:
            self._check_open()
            frm_block = self.s.block
            frm_round = self._current_round(frm_block)
            length = self.s.v["RoundsManager.roundLength"]
            if length == 0:
                raise ChainError("the RoundsManager has no round length; deploy with setup=True first")
            target = self._current_round_start_block(frm_block) + length  # first block of the next round
            if target - 1 > self.s.block:
                self.s.block = target - 1
            r = self.initialize_round(key or self.config.key("deployer"))
            if not r.ok:
                raise ChainError(f"initializeRound reverted: {r.revert_reason!r}")
            to_block = self.s.block
            to_round = self._current_round(to_block)
            return {"from_round": frm_round, "to_round": to_round, "from_block": frm_block, "to_block": to_block,
                    "tx": r.tx_hash, "events": r.events,
                    "summary": (f"advanced round {frm_round} -> {to_round} (initialized at block {to_block}); "
                                f"tickets created in round {to_round - self.s.v['TicketBroker.ticketValidityPeriod']}"
                                f" or earlier are now expired")}

    def snapshot(self) -> str:
        with self._lock:
            self._check_open()
            self._snap_counter += 1
            sid = hex(self._snap_counter)
            self._snapshots[sid] = (copy.deepcopy(self.s), self.s.block)
            return sid

    def revert(self, snapshot_id: str) -> dict:
        with self._lock:
            self._check_open()
            if snapshot_id not in self._snapshots:
                raise ChainError(f"unknown or already used snapshot id {snapshot_id!r}; take a new snapshot")
            state, block = self._snapshots.pop(snapshot_id)
            # like evm_revert: later snapshots are discarded too
            for sid in [k for k in self._snapshots if int(k, 16) > int(snapshot_id, 16)]:
                del self._snapshots[sid]
            before = self.s.block
            self.s = state
            return {"from_block": before, "to_block": block,
                    "summary": f"reverted to snapshot {snapshot_id}: block {before} -> {block}"}

    def dump_state(self) -> dict:
        raise ChainError("dump_state needs the anvil backend (the mock keeps its state in memory: use snapshot())")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._snapshots.clear()


def mine_summary(frm: int, to: int, r0: int, r1: int, round_status: str) -> str:
    """The consequence of mining ``frm -> to`` (params expire ``PARAMS_EXPIRATION_BLOCK`` blocks after issue;
    the sender refuses params within 1 block of expiry)."""
    cutoff = to - PARAMS_EXPIRATION_BLOCK + 1
    text = (f"mined {to - frm} blocks: {frm} -> {to}; ticket params issued at block B expire at "
            f"B+{PARAMS_EXPIRATION_BLOCK}")
    if cutoff >= 0:
        text += f" — params issued at or before block {cutoff} are now expired"
    if r1 != r0:
        text += f"; round {r0} -> {r1}, now {round_status} (advance_round/initializeRound to redeem)"
    else:
        text += f"; still {round_status}"
    return text


# ---------------------------------------------------------------------------------------------------- input
def _check_uint(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > UINT256_MAX:
        raise ValueError(f"{what} must be a uint256, got {n!r}")
    return n


def _check_addr(a, what: str) -> bytes:
    if isinstance(a, str):
        a = bytes.fromhex(a[2:] if a.startswith(("0x", "0X")) else a)
    a = bytes(a)
    if len(a) != 20:
        raise ValueError(f"{what} must be a 20-byte address, got {len(a)} bytes")
    return a


@dataclass(frozen=True)
class _T:
    """The on-chain ticket tuple (any object with Ticket's fields and an ``aux_data`` attribute)."""

    recipient: bytes
    sender: bytes
    face_value: int
    win_prob: int
    sender_nonce: int
    recipient_rand_hash: bytes
    aux_data: bytes

    @classmethod
    def of(cls, t) -> "_T":
        rrh = bytes(t.recipient_rand_hash)
        if len(rrh) != 32:
            raise ValueError("recipient_rand_hash must be 32 bytes")
        return cls(recipient=_check_addr(t.recipient, "ticket recipient"),
                   sender=_check_addr(t.sender, "ticket sender"),
                   face_value=_check_uint(t.face_value, "face_value"),
                   win_prob=_check_uint(t.win_prob, "win_prob"),
                   sender_nonce=_check_uint(t.sender_nonce, "sender_nonce"),
                   recipient_rand_hash=rrh, aux_data=bytes(t.aux_data))

    def hash(self) -> bytes:
        return keccak(self.recipient + self.sender + u256(self.face_value) + u256(self.win_prob)
                      + u256(self.sender_nonce) + self.recipient_rand_hash + self.aux_data)


def open_mock(*, config: DevnetConfig | None = None, setup: bool = True, **kw) -> MockChain:
    """``devnet.open_chain("mock")``."""
    return MockChain(config, setup=setup, **kw)
