"""A pure-Python model of the devnet PM contracts: the ``mock`` backend (DEVNET_API.md).

:class:`MockChain` models, in this process and without an EVM, the same five contracts as
``devnet/contracts/*.sol`` — the Controller (registry keyed by ``keccak256(name)``, owner, pause), the
TicketBroker, the RoundsManager (rounds measured in blocks), the minimal BondingManager and the Minter that
holds the ETH — with the same revert strings, the same check order, the same events (names, arguments,
order) and the same balance semantics as ticketbroker.md §2–§9. The differential test
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
  given). Contract balances (the Minter's) are exact.
- **A reverting transaction is not mined**, like the EVM backends, which simulate every transaction in the
  pending block first: it returns ``TxResult(ok=False, tx_hash=None, gas_used=0)``, uses no block, nonce or
  fee, and all its writes are rolled back (a journal of every write). Panics are reported as ``"Panic(0x11)"`` (arithmetic
  overflow/underflow, e.g. ``claimableReserve`` after the pool grew mid-round, §6), ``"Panic(0x12)"``
  (division by zero: paying a registered but not yet active transcoder, §9) and ``"Panic(0x32)"`` (array
  index out of bounds in a batch with short arrays, §5). A bare ``require`` reverts with ``""``.
- **Signatures** are checked like the contracts: length 65 first (``"INVALID_SIGNATURE_LENGTH"``), then
  OpenZeppelin 4.4.1 ``ECDSA.recover``'s checks and messages (high s, bad v, ecrecover failure), then
  ``"invalid signature over ticket hash"`` (§5 step 9), with :mod:`sim.pm.crypto` doing the recovery.
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

from devnet.base import ChainError, DevChain, TxResult

try:
    from devnet.base import CallReverted
except ImportError:  # pragma: no cover - older devnet.base
    class CallReverted(ChainError):
        def __init__(self, message: str, reason: str = ""):
            super().__init__(message)
            self.reason = reason
from devnet.config import DEV_ADDRESSES, ETHER, DevnetConfig
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

# Modelled gas per transaction kind: fixed constants, rounded from what the embedded (py-evm) backend measured for
# a typical call of each with warm storage. Not a measurement: the real cost varies with cold/warm slots and
# with the path taken (a redemption that claims from the reserve costs ~60k more).
GAS = {
    "fundDeposit": 57_000,
    "fundReserve": 59_000,
    "fundDepositAndReserve": 65_000,
    "fundDepositAndReserveFor": 63_000,
    "unlock": 72_000,
    "cancelUnlock": 32_000,
    "withdraw": 72_000,
    "redeemWinningTicket": 126_000,
    "batchRedeemWinningTickets": 20_000,  # plus BATCH_GAS_PER_TICKET per ticket
    "initializeRound": 85_000,
    "transcoder": 121_000,
    "withdrawFees": 66_000,
    "pause": 27_000,
    "unpause": 27_000,
    "setContractInfo": 50_000,
    "setRoundLength": 70_000,
    "setUnlockPeriod": 30_000,
    "setTicketValidityPeriod": 30_000,
    "deploy": 1_000_000,
}
BATCH_GAS_PER_TICKET = 110_000

# Transcoder registration: rewardCut 10 %, feeShare 5 % over 1e6 (the devtool's values, ticketbroker.md §12).
REWARD_CUT = 100_000
FEE_SHARE = 50_000


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


_MISSING = object()


class _State:
    """Every contract's storage plus ETH balances. Writes go through :meth:`MockChain._w` (journaled)."""

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
        # BondingManager
        self.activation: dict[bytes, int] = {}
        self.stake: dict[bytes, int] = {}
        self.fees: dict[bytes, int] = {}
        self.pool: dict[int, bytes] = {}  # index -> address; length in v["BondingManager.poolLength"]
        self.block = 0


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
                 gas_price: int = DEFAULT_GAS_PRICE, chain_id: int | None = None) -> None:
        self.config = config or DevnetConfig()
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
        """Deploy the five contracts from the deployer account (nonces 0..4) and register them, in the same
        order as the EVM backends, so that contract addresses are equal."""
        deployer_key = self.config.key("deployer")
        deployer = private_key_to_address(deployer_key)
        names = ("Controller", "TicketBroker", "RoundsManager", "BondingManager", "Minter")
        self.contracts: dict[str, str] = {}
        addrs: dict[str, bytes] = {}
        for name in names:
            nonce = self.s.nonces.get(deployer, 0)
            addrs[name] = create_address(deployer, nonce)
            self._tx(deployer_key, "deploy", lambda ctx: None)
        self._controller = addrs["Controller"]
        self._broker = addrs["TicketBroker"]
        self._rounds = addrs["RoundsManager"]
        self._bonding = addrs["BondingManager"]
        self._minter = addrs["Minter"]
        self.s.v["Controller.owner"] = deployer
        self.s.v["Controller.paused"] = True  # the Controller starts paused (§1)
        for var in ("TicketBroker.unlockPeriod", "TicketBroker.ticketValidityPeriod", "RoundsManager.roundLength",
                    "RoundsManager.roundLockAmount", "RoundsManager.lastRoundLengthUpdateRound",
                    "RoundsManager.lastRoundLengthUpdateStartBlock", "RoundsManager.lastInitializedRound",
                    "BondingManager.poolLength"):
            self.s.v[var] = 0
        for name in names:
            self.contracts[name] = _cs(addrs[name])
        # the Controller itself is not registered; the broker is also the JobsManager (TicketBroker.sol header)
        for name in ("TicketBroker", "JobsManager", "RoundsManager", "BondingManager", "Minter"):
            r = self.set_contract_info(deployer_key, name, addrs["TicketBroker" if name == "JobsManager" else name])
            assert r.ok, r
        self.contracts["JobsManager"] = _cs(addrs["TicketBroker"])
        for r in (self.set_unlock_period(deployer_key, self.config.unlock_period),
                  self.set_ticket_validity_period(deployer_key, self.config.ticket_validity_period),
                  self.set_round_length(deployer_key, self.config.round_length)):
            assert r.ok, r

    def _setup(self) -> None:
        """Parameters, unpause, first round, transcoders active, senders funded (like ``open_chain(setup=True)``)."""
        cfg = self.config
        r = self.unpause(self.config.key("deployer"))
        assert r.ok, r
        self.advance_round()
        for role in cfg.transcoders:
            r = self.register_transcoder(cfg.key(role))
            assert r.ok, r
        if cfg.transcoders:
            self.advance_round()
        for role in cfg.senders:
            r = self.fund_deposit_and_reserve(cfg.key(role), cfg.sender_deposit, cfg.sender_reserve)
            assert r.ok, r

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

    # ================================================================== RoundsManager (§8)
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
            # BondingManager.setCurrentRoundTotalActiveStake / Minter.setCurrentRewardTokens: caller checks only
            _require(self._addr("RoundsManager") == self._rounds, "caller must be RoundsManager")
            self._emit(ctx, "NewRound", round=rnd, blockHash="0x" + h.hex())
        return self._tx(key, "initializeRound", body, to=self._rounds)

    # ================================================================== BondingManager (minimal, §9)
    def _is_active(self, addr: bytes, block: int) -> bool:
        act = self.s.activation.get(addr, 0)
        return act > 0 and act <= self._current_round(block)

    def _pool_size(self) -> int:
        return self.s.v["BondingManager.poolLength"]

    def register_transcoder(self, key: bytes) -> TxResult:
        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            _require(self._current_round_initialized(ctx.block), "current round is not initialized")
            if self.s.activation.get(ctx.sender, 0) == 0:
                act = self._current_round(ctx.block) + 1
                self._w(self.s.activation, ctx.sender, act)
                self._w(self.s.stake, ctx.sender, 1)
                n = self._pool_size()
                self._w(self.s.pool, n, ctx.sender)
                self._w(self.s.v, "BondingManager.poolLength", n + 1)
                self._emit(ctx, "TranscoderActivated", transcoder=_cs(ctx.sender), activationRound=act)
            self._emit(ctx, "TranscoderUpdate", transcoder=_cs(ctx.sender), rewardCut=REWARD_CUT,
                       feeShare=FEE_SHARE)
        return self._tx(key, "transcoder", body, to=self._bonding)

    def _update_transcoder_with_fees(self, caller: bytes, transcoder: bytes, fees: int, block: int) -> None:
        self._when_not_paused()
        _require(caller == self._addr("TicketBroker"), "caller must be TicketBroker")
        _require(self.s.activation.get(transcoder, 0) > 0, "transcoder must be registered")
        stake = self.s.stake.get(transcoder, 0)
        active_stake = stake if self._is_active(transcoder, block) else 0
        credit = _div(fees * stake, active_stake)
        self._w(self.s.fees, transcoder, _add(self.s.fees.get(transcoder, 0), credit))

    def withdraw_fees(self, key: bytes, amount: int | None = None, recipient: bytes | None = None) -> TxResult:
        """``BondingManager.withdrawFees(recipient, amount)``; defaults: the caller, all pending fees."""
        me = _key_address(bytes(key))
        to = bytes(recipient) if recipient is not None else me

        def body(ctx: _Ctx) -> None:
            self._when_not_paused()
            _require(self._current_round_initialized(ctx.block), "current round is not initialized")
            amt = self.s.fees.get(ctx.sender, 0) if amount is None else amount
            _require(self.s.fees.get(ctx.sender, 0) >= amt, "insufficient fees to withdraw")
            self._w(self.s.fees, ctx.sender, self.s.fees.get(ctx.sender, 0) - amt)
            self._trusted_withdraw_eth(self._bonding, to, amt)
            self._emit(ctx, "WithdrawFees", delegator=_cs(ctx.sender), recipient=_cs(to), amount=amt)
        return self._tx(key, "withdrawFees", body, to=self._bonding)

    # ================================================================== Minter (§9)
    def _deposit_eth(self, caller: bytes, value: int) -> None:
        _require(caller == self._addr("Minter") or caller == self._addr("JobsManager"),
                 "msg.sender not Minter or JobsManager")
        self._transfer(caller, self._minter, value)

    def _trusted_withdraw_eth(self, caller: bytes, to: bytes, amount: int) -> None:
        _require(caller == self._addr("BondingManager") or caller == self._addr("JobsManager"),
                 "msg.sender not BondingManager or JobsManager")
        self._when_not_paused()
        self._transfer(self._minter, to, amount)

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

    # ================================================================== TicketBroker funding (§7, §3 order)
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

    # ================================================================== unlock / cancel / withdraw (§7)
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
            self._w(self.s.funds, me, 0)  # claim mappings survive; withdrawRound is NOT reset (§7)
            self._trusted_withdraw_eth(self._broker, me, _add(deposit, reserve))
            self._emit(ctx, "Withdrawal", sender=_cs(me), deposit=deposit, reserve=reserve)
        return self._tx(key, "withdraw", body, to=self._broker)

    # ================================================================== redemption (§5, §6)
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
        return self._view(lambda ctx: self.s.activation.get(addr, 0) > 0)

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

    def pending_fees(self, transcoder: bytes) -> int:
        addr = _check_addr(transcoder, "transcoder")
        return self._view(lambda ctx: self.s.fees.get(addr, 0))

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
