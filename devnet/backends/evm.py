"""One web3 implementation of :class:`devnet.base.DevChain` for three EVM backends:

- ``anvil``: a managed anvil subprocess (see :mod:`devnet.backends.anvil`), JSON-RPC over loopback HTTP;
- ``embedded``: py-evm in this process through web3's ``EthereumTesterProvider`` (no external binary);
- ``external``: any JSON-RPC URL plus a Controller address; every contract is resolved through
  ``Controller.getContract(keccak256(name))`` (docs/chain.md#how-the-contracts-find-each-other), so it works
  against any deployment with the protocol's ABI.

Transport: :mod:`devnet.rpc` (raw keep-alive JSON-RPC for anvil/external, web3 for embedded; ``chain.w3`` gives a
``web3.Web3`` on any backend, built on first use so start-up does not pay web3's import). Transactions are legacy
EIP-155 transactions signed locally with the caller's key (:mod:`devnet.txsign`). Each one is first simulated with ``eth_call`` (like
go-livepeer's gas estimation): a revert returns ``TxResult(ok=False, revert_reason=...)`` without sending
anything, so the nonce and balances stay as they were. A transaction that passes the simulation is sent and its
receipt decoded (events, gas used).
"""
from __future__ import annotations

import threading
import time

from eth_utils import to_checksum_address, keccak

from sim.pm.params import PARAMS_EXPIRATION_BLOCK
from sim.pm.sender import PARAMS_EXPIRY_BUFFER, SenderInfo

from devnet import abi
from devnet.rpc import HttpRpc, RpcError, Web3Rpc
from devnet.txsign import address_of, sign_legacy_tx
from devnet.base import (
    DELEGATOR_STATUS, CallReverted, ChainError, ChainUnreachable, ContractNotFound, DelegatorInfo, DevChain,
    EarningsPoolInfo, EthUsd, TranscoderInfo, TxResult,
)
from devnet.build import link_bytecode, load_artifact
from devnet.config import DEV_ADDRESSES, USD_DECIMALS, DevnetConfig, eth_usd_answer
from devnet.layout import DEPLOY_ORDER, ETH_USD_DESCRIPTION, LIBRARY, REGISTRY

__all__ = ["EvmChain", "open_anvil", "open_embedded", "open_external", "connect_http"]

TX_GAS = 1_500_000  # gas limit for ordinary transactions (simulated first, so never wasted on a revert)
DEPLOY_GAS = 6_000_000
BATCH_GAS_PER_TICKET = 400_000
ZERO_ADDRESS = "0x" + "00" * 20
RECEIPT_TIMEOUT_S = 30.0
GIT_COMMIT = b"\x00" * 20  # bytes20 gitCommitHash recorded in the Controller

# Names the client resolves through the Controller (docs/chain.md#how-the-contracts-find-each-other); the OPTIONAL
# ones may be missing (an older or foreign deployment): the operations that need them then say so.
REQUIRED = ("TicketBroker", "RoundsManager", "BondingManager", "Minter")
OPTIONAL = ("JobsManager", "LivepeerToken", "BondingVotes", "ServiceRegistry", "EthUsdPriceFeed",
            "TicketBrokerTarget", "RoundsManagerTarget", "BondingManagerTarget", "BondingVotesTarget",
            "ServiceRegistryTarget")
# ABI of each name the client talks to
ABI_OF = {"Controller": "Controller", "TicketBroker": "TicketBroker", "RoundsManager": "RoundsManager",
          "BondingManager": "BondingManager", "Minter": "Minter", "LivepeerToken": "LivepeerToken",
          "BondingVotes": "BondingVotes", "ServiceRegistry": "ServiceRegistry", "EthUsdPriceFeed": "EthUsdPriceFeed"}


def _b20(addr) -> bytes:
    """Address (bytes or hex string) -> 20 bytes."""
    if isinstance(addr, (bytes, bytearray)):
        b = bytes(addr)
        if len(b) != 20:
            raise ValueError(f"address must be 20 bytes, got {len(b)}")
        return b
    s = str(addr)
    b = bytes.fromhex(s[2:] if s.startswith("0x") else s)
    if len(b) != 20:
        raise ValueError(f"address must be 20 bytes, got {len(b)}: {s!r}")
    return b


def _b32(x) -> bytes:
    return bytes(x or b"").rjust(32, b"\x00")[-32:]


def _ticket_tuple(t) -> tuple:
    """A sim.pm.ticket.Ticket (or any object with the same fields and ``aux_data``) as the ABI tuple."""
    return (_b20(t.recipient), _b20(t.sender), int(t.face_value), int(t.win_prob), int(t.sender_nonce),
            _b32(t.recipient_rand_hash), bytes(t.aux_data))


def _create_address(sender: bytes, nonce: int) -> str:
    """CREATE address = keccak(rlp([sender, nonce]))[12:], so setup can send every tx without waiting."""
    import rlp

    return to_checksum_address(keccak(rlp.encode([sender, nonce]))[12:])


class EvmChain(DevChain):
    """DevChain over web3 (see module doc). Build with :func:`open_anvil`, :func:`open_embedded` or
    :func:`open_external`."""

    def __init__(self, rpc, *, backend: str, config: DevnetConfig, eth_url: str | None,
                 tester=None, process=None):
        self.rpc = rpc
        self._w3 = getattr(rpc, "w3", None)
        self.backend = backend
        self.config = config
        self.eth_url = eth_url
        self.contracts: dict[str, str] = {}
        self.accounts = config.accounts()
        self._tester = tester  # eth_tester.EthereumTester for "embedded"
        self._latest_vm = None  # embedded: (head hash, VM) reused by views at "latest"
        self._process = process  # devnet.backends.anvil.AnvilProcess for "anvil"
        self._lock = threading.RLock()
        self._nonces: dict[str, int] = {}
        self._closed = False
        self._fn = {name: abi.functions(art) for name, art in ABI_OF.items()}
        self.chain_id = self._guard(rpc.chain_id)
        self._gas_price = None if backend == "external" else max(2 * self._guard(rpc.gas_price), 10**9)

    @property
    def w3(self):
        """A ``web3.Web3`` on this chain (for callers that want web3; built on first use)."""
        if self._w3 is None:
            from web3 import HTTPProvider, Web3

            self._w3 = Web3(HTTPProvider(self.eth_url, request_kwargs={"timeout": 10},
                                         exception_retry_configuration=None))
        return self._w3

    # ------------------------------------------------------------------ plumbing
    def _guard(self, fn):
        """Run an RPC; turn transport failures into ChainUnreachable / AnvilCrashed with a fix."""
        if self._tester is not None:  # py-evm is not thread-safe: one call at a time (actors use threads)
            with self._lock:
                return fn()
        try:
            return fn()
        except ChainError:
            raise
        except RpcError as exc:
            raise ChainError(f"{self.eth_url or self.backend} refused {exc.method}: {exc.message}") from None
        except Exception as exc:  # OSError / timeouts / bad HTTP or JSON
            if self._tester is not None:
                raise
            if self._process is not None:
                self._process.check_alive()
            name = type(exc).__name__
            if "Timeout" in name or "timed out" in str(exc):
                raise ChainUnreachable(f"the chain at {self.eth_url} did not answer in time ({name}): is it "
                                       "overloaded or stopped? restart it with `lpdev chain up`") from None
            if "Connection" in name or isinstance(exc, OSError) or "Refused" in name:
                raise ChainUnreachable(f"cannot reach the chain at {self.eth_url} ({name}): start one with "
                                       "`lpdev chain up` or pass the right --eth-url") from None
            raise ChainError(f"RPC to {self.eth_url} failed: {name}: {exc}") from None

    @staticmethod
    def _sender_of(key: bytes) -> str:
        key = bytes(key)
        if len(key) != 32:
            raise ValueError(f"private key must be 32 bytes, got {len(key)}")
        return address_of(key)

    def _addr(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise ContractNotFound(f"contract {name!r} is not known on this chain (known: "
                                   f"{', '.join(sorted(self.contracts)) or 'none'})") from None

    def _raw_call(self, to: str, data: bytes, *, sender: str | None = None, value: int = 0,
                  block="latest") -> tuple[bool, bytes | str]:
        """eth_call -> (True, output) or (False, revert reason). Views are sent "from" the deployer."""
        sender = sender or self.config.address("deployer")
        if self._tester is not None:
            return self._pyevm_call(to, data, sender, value, block)
        return self._guard(lambda: self.rpc.call(to, data, sender, value, block))

    def _pyevm_call(self, to: str, data: bytes, sender: str, value: int, block) -> tuple[bool, bytes | str]:
        """Embedded backend: run the call as one EVM message on py-evm directly (about 3x faster than going
        through eth-tester's eth_call, which validates and spoofs a whole transaction). ``block`` "latest" runs
        in the head block's context, "pending" in the next block's (what a transaction will see), an int in
        that block's."""
        from eth.vm.message import Message
        from eth.exceptions import Revert

        with self._lock:
            return self._pyevm_call_locked(to, data, sender, value, block)

    def _pyevm_call_locked(self, to: str, data: bytes, sender: str, value: int, block) -> tuple[bool, bytes | str]:
        from eth.vm.message import Message
        from eth.exceptions import Revert

        chain = self._tester.backend.chain
        if block == "pending":
            vm = chain.get_vm()
        elif block == "latest":
            # one VM per head block, reused by every view until the next block: its state keeps the storage it
            # has read (each call is snapshotted and reverted), which makes repeated views several times faster
            head = chain.get_canonical_head()
            cached = self._latest_vm
            if cached is None or cached[0] != head.hash:
                self._latest_vm = cached = (head.hash, chain.get_vm(head))
            vm = cached[1]
        else:
            vm = chain.get_vm(chain.get_canonical_block_header_by_number(int(block)))
        state = vm.state
        to_b, sender_b = _b20(to), _b20(sender)
        snap = state.snapshot()
        try:
            msg = Message(gas=TX_GAS * 4, to=to_b, sender=sender_b, value=value, data=data,
                          code=state.get_code(to_b))
            ctx = state.get_transaction_context_class()(gas_price=1, origin=sender_b)
            comp = state.computation_class.apply_message(state, msg, ctx)
        except Exception as exc:  # e.g. InsufficientFunds for msg.value: not a revert, the node's words
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            state.revert(snap)
        if comp.is_success:
            return True, bytes(comp.output)
        err = comp.error
        if isinstance(err, Revert):
            return False, abi.decode_revert(bytes(comp.output))
        return False, f"{type(err).__name__}: {err}"

    def _view(self, contract: str, fn: str, *args):
        f = self._fn[contract][fn]
        ok, out = self._raw_call(self._addr(contract), f.encode(*args))
        if not ok:
            raise CallReverted(f"{contract}.{fn} reverted: {out or '(no reason)'}", reason=out)
        try:
            vals = f.decode(out)
        except Exception:
            raise ContractNotFound(f"{contract} at {self.contracts[contract]} did not answer {fn}() with the "
                                   "expected ABI: is it a Livepeer contract? check --controller") from None
        return vals[0] if len(vals) == 1 else vals

    def _next_nonce(self, address: str) -> int:
        if self.backend == "external" or address not in self._nonces:
            self._nonces[address] = self._guard(lambda: self.rpc.nonce(address))
        return self._nonces[address]

    def _send(self, key: bytes, to: str | None, data: bytes, *, value: int = 0, gas: int = TX_GAS) -> str:
        sender = self._sender_of(key)
        nonce = self._next_nonce(sender)
        # No x2 margin here: anvil suggests gas prices from recent tips, so doubling on every transaction fed back
        # and doubled the suggested price per transaction (4096 gwei after a dozen redemptions, which then
        # cost more than the tickets' face value). Keep it x1 (orchestrator helper; see tests/test_orch_crash.py).
        gas_price = self._gas_price or max(self._guard(self.rpc.gas_price), 1)
        raw, _ = sign_legacy_tx(bytes(key), nonce=nonce, gas_price=gas_price, gas=gas,
                                to=None if to is None else _b20(to), value=value, data=data, chain_id=self.chain_id)
        try:
            h = self._guard(lambda: self.rpc.send_raw(raw))
        except ChainError as exc:
            self._nonces.pop(sender, None)
            if "refused" in str(exc):
                raise ChainError(f"the chain refused the transaction from {sender}: {exc}") from None
            raise
        except Exception as exc:
            self._nonces.pop(sender, None)
            raise ChainError(f"the chain refused the transaction from {sender}: {exc}") from None
        self._nonces[sender] = nonce + 1
        return h

    def _receipt(self, tx_hash: str):
        deadline = time.monotonic() + RECEIPT_TIMEOUT_S
        while True:
            rc = self._guard(lambda: self.rpc.receipt(tx_hash))
            if rc is not None:
                return rc
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {tx_hash} not mined after {RECEIPT_TIMEOUT_S:.0f} s: is the chain "
                                 "mining? (anvil started with --no-mining needs `lpdev chain mine 1`)")
            time.sleep(0.01)

    def _result(self, tx_hash: str, rc, reason_if_failed=None) -> TxResult:
        ok = rc["status"] == 1
        reason = None
        if not ok:
            reason = reason_if_failed if reason_if_failed is not None else ""
        return TxResult(ok=ok, tx_hash=tx_hash, gas_used=int(rc["gasUsed"]), revert_reason=reason,
                        events=abi.decode_logs(rc["logs"]) if ok else [], block=int(rc["blockNumber"]))

    def _transact(self, key: bytes, contract: str, fn: str, *args, value: int = 0, gas: int = TX_GAS) -> TxResult:
        with self._lock:
            self._check_open()
            to = self._addr(contract)
            data = self._fn[contract][fn].encode(*args)
            sender = self._sender_of(key)
            # simulate in the pending block: same block.number (hence round) the mined tx will see
            ok, out = self._raw_call(to, data, sender=sender, value=value, block="pending")
            if not ok:
                return TxResult(ok=False, tx_hash=None, gas_used=0, revert_reason=out, events=[],
                                block=self.last_block())
            h = self._send(key, to, data, value=value, gas=gas)
            rc = self._receipt(h)
            if rc["status"] != 1:  # state changed between simulation and mining: replay for the reason
                ok2, reason = self._raw_call(to, data, sender=sender, value=value, block=int(rc["blockNumber"]) - 1)
                return self._result(h, rc, reason if not ok2 else "")
            return self._result(h, rc)

    def _check_open(self):
        if self._closed:
            raise ChainError(f"this {self.backend} chain was closed")
        if self._process is not None:
            self._process.check_alive()

    def _rpc(self, method: str, params: list):
        """Raw JSON-RPC for node-specific methods (anvil_*, evm_*); raises ChainError on an error answer."""
        try:
            return self._guard(lambda: self.rpc.request(method, params))
        except ChainError as exc:
            raise ChainError(f"{method} failed on {self.eth_url}: {exc}") from None

    # ------------------------------------------------------------------ cheatcodes (anvil, forks)
    def set_balance(self, addr, wei: int) -> None:
        """``anvil_setBalance``: give an account ETH (dev senders on a fork, impersonated contracts' gas)."""
        self._rpc("anvil_setBalance", [to_checksum_address(_b20(addr)), hex(int(wei))])

    def impersonate(self, addr) -> None:
        """``anvil_impersonateAccount``: transactions "from" ``addr`` are accepted without its key."""
        self._rpc("anvil_impersonateAccount", [to_checksum_address(_b20(addr))])

    def transact_as(self, addr, contract: str, fn: str, *args, value: int = 0, to: str | None = None) -> TxResult:
        """``fn`` on ``contract`` (or the address ``to`` with that contract's ABI) sent as the impersonated
        ``addr`` (``eth_sendTransaction`` without a signature: anvil only, after :meth:`impersonate`).
        Simulated first like every transaction; never raises for a revert."""
        with self._lock:
            self._check_open()
            sender = to_checksum_address(_b20(addr))
            target = to or self._addr(contract)
            data = self._fn[contract][fn].encode(*args)
            ok, out = self._raw_call(target, data, sender=sender, value=value, block="pending")
            if not ok:
                return TxResult(ok=False, tx_hash=None, gas_used=0, revert_reason=out, events=[],
                                block=self.last_block())
            tx = {"from": sender, "to": target, "data": "0x" + data.hex(), "gas": hex(TX_GAS)}
            if value:
                tx["value"] = hex(value)
            h = self._rpc("eth_sendTransaction", [tx])
            self._nonces.pop(sender, None)
            rc = self._receipt(h)
            return self._result(h, rc, "" if rc["status"] != 1 else None)

    # ------------------------------------------------------------------ ChainView
    def last_block(self) -> int:
        return self._guard(self.rpc.block_number)

    def gas_price(self) -> int:
        return self._guard(self.rpc.gas_price)

    def current_round(self) -> int:
        return self._view("RoundsManager", "currentRound")

    def last_initialized_round(self) -> int:
        return self._view("RoundsManager", "lastInitializedRound")

    def block_hash_for_round(self, round_: int) -> bytes:
        return bytes(self._view("RoundsManager", "blockHashForRound", int(round_)))

    def round_length(self) -> int:
        return self._view("RoundsManager", "roundLength")

    def current_round_initialized(self) -> bool:
        return self._view("RoundsManager", "currentRoundInitialized")

    def sender_info(self, sender: bytes) -> SenderInfo:
        (deposit, withdraw_round), (funds, claimed) = self._view("TicketBroker", "getSenderInfo", _b20(sender))
        return SenderInfo(deposit=deposit, withdraw_round=withdraw_round, reserve=funds,
                          claimed_in_current_round=claimed)

    def claimed_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        return self._view("TicketBroker", "claimedReserve", _b20(reserve_holder), _b20(claimant))

    def transcoder_pool_size(self) -> int:
        return self._view("BondingManager", "getTranscoderPoolSize")

    def is_active_transcoder(self, addr: bytes) -> bool:
        return self._view("BondingManager", "isActiveTranscoder", _b20(addr))

    def is_used_ticket(self, ticket_hash: bytes) -> bool:
        return self._view("TicketBroker", "usedTickets", _b32(ticket_hash))

    def redeem_winning_ticket(self, ticket, sig: bytes, recipient_rand: int, *, from_key: bytes) -> TxResult:
        return self._transact(from_key, "TicketBroker", "redeemWinningTicket", _ticket_tuple(ticket), bytes(sig),
                              int(recipient_rand))

    # ------------------------------------------------------------------ transactions
    def fund_deposit(self, key: bytes, amount: int) -> TxResult:
        return self._transact(key, "TicketBroker", "fundDeposit", value=int(amount))

    def fund_reserve(self, key: bytes, amount: int) -> TxResult:
        return self._transact(key, "TicketBroker", "fundReserve", value=int(amount))

    def fund_deposit_and_reserve(self, key: bytes, deposit: int, reserve: int, value: int | None = None) -> TxResult:
        value = deposit + reserve if value is None else value
        return self._transact(key, "TicketBroker", "fundDepositAndReserve", int(deposit), int(reserve),
                              value=int(value))

    def fund_deposit_and_reserve_for(self, key: bytes, addr: bytes, deposit: int, reserve: int,
                                     value: int | None = None) -> TxResult:
        value = deposit + reserve if value is None else value
        return self._transact(key, "TicketBroker", "fundDepositAndReserveFor", _b20(addr), int(deposit),
                              int(reserve), value=int(value))

    def unlock(self, key: bytes) -> TxResult:
        return self._transact(key, "TicketBroker", "unlock")

    def cancel_unlock(self, key: bytes) -> TxResult:
        return self._transact(key, "TicketBroker", "cancelUnlock")

    def withdraw(self, key: bytes) -> TxResult:
        return self._transact(key, "TicketBroker", "withdraw")

    def batch_redeem_winning_tickets(self, tickets: list, sigs: list[bytes], rands: list[int], *,
                                     from_key: bytes) -> TxResult:
        return self._transact(from_key, "TicketBroker", "batchRedeemWinningTickets",
                              [_ticket_tuple(t) for t in tickets], [bytes(s) for s in sigs],
                              [int(r) for r in rands], gas=200_000 + BATCH_GAS_PER_TICKET * max(1, len(tickets)))

    def initialize_round(self, key: bytes) -> TxResult:
        return self._transact(key, "RoundsManager", "initializeRound")

    def register_transcoder(self, key: bytes, reward_cut: int | None = None, fee_share: int | None = None) -> TxResult:
        cfg = self.config
        return self._transact(key, "BondingManager", "transcoder",
                              cfg.reward_cut if reward_cut is None else int(reward_cut),
                              cfg.fee_share if fee_share is None else int(fee_share))

    def withdraw_fees(self, key: bytes, amount: int | None = None, recipient: bytes | None = None) -> TxResult:
        me = self._sender_of(key)
        if amount is None:
            amount = self.pending_fees(_b20(me))
        to = me if recipient is None else to_checksum_address(_b20(recipient))
        return self._transact(key, "BondingManager", "withdrawFees", to, int(amount))

    # ------------------------------------------------------------------ bonding
    def lpt_balance(self, addr: bytes) -> int:
        return self._view("LivepeerToken", "balanceOf", _b20(addr))

    def lpt_approve(self, key: bytes, amount: int, spender: bytes | None = None) -> TxResult:
        to = self._addr("BondingManager") if spender is None else to_checksum_address(_b20(spender))
        return self._transact(key, "LivepeerToken", "approve", to, int(amount))

    def lpt_transfer(self, key: bytes, to: bytes, amount: int) -> TxResult:
        return self._transact(key, "LivepeerToken", "transfer", _b20(to), int(amount))

    def bond(self, key: bytes, amount: int, to: bytes) -> TxResult:
        return self._transact(key, "BondingManager", "bond", int(amount), _b20(to))

    def unbond(self, key: bytes, amount: int) -> TxResult:
        return self._transact(key, "BondingManager", "unbond", int(amount))

    def rebond(self, key: bytes, lock_id: int) -> TxResult:
        return self._transact(key, "BondingManager", "rebond", int(lock_id))

    def rebond_from_unbonded(self, key: bytes, to: bytes, lock_id: int) -> TxResult:
        return self._transact(key, "BondingManager", "rebondFromUnbonded", _b20(to), int(lock_id))

    def withdraw_stake(self, key: bytes, lock_id: int) -> TxResult:
        return self._transact(key, "BondingManager", "withdrawStake", int(lock_id))

    def claim_earnings(self, key: bytes) -> TxResult:
        return self._transact(key, "BondingManager", "claimEarnings", self.current_round())

    def pending_stake(self, addr: bytes) -> int:
        return self._view("BondingManager", "pendingStake", _b20(addr), 0)

    def delegator_info(self, addr: bytes) -> DelegatorInfo:
        d = self._view("BondingManager", "getDelegator", _b20(addr))
        status = self._view("BondingManager", "delegatorStatus", _b20(addr))
        return DelegatorInfo(bonded_amount=d[0], fees=d[1], delegate_address=to_checksum_address(d[2]),
                             delegated_amount=d[3], start_round=d[4], last_claim_round=d[5],
                             next_unbonding_lock_id=d[6], status=DELEGATOR_STATUS[status])

    def transcoder_info(self, addr: bytes) -> TranscoderInfo:
        t = self._view("BondingManager", "getTranscoder", _b20(addr))
        return TranscoderInfo(*t, registered=self._view("BondingManager", "isRegisteredTranscoder", _b20(addr)),
                              active=self.is_active_transcoder(addr),
                              total_stake=self._view("BondingManager", "transcoderTotalStake", _b20(addr)))

    def earnings_pool(self, transcoder: bytes, round_: int) -> EarningsPoolInfo:
        return EarningsPoolInfo(*self._view("BondingManager", "getTranscoderEarningsPoolForRound", _b20(transcoder),
                                            int(round_)))

    def unbonding_lock(self, addr: bytes, lock_id: int) -> tuple[int, int]:
        return tuple(self._view("BondingManager", "getDelegatorUnbondingLock", _b20(addr), int(lock_id)))

    def transcoder_pool(self) -> list[str]:
        out = []
        a = self._view("BondingManager", "getFirstTranscoderInPool")
        while int(a, 16) != 0 and len(out) < 1000:
            out.append(to_checksum_address(a))
            a = self._view("BondingManager", "getNextTranscoderInPool", a)
        return out

    def total_bonded(self) -> int:
        return self._view("BondingManager", "getTotalBonded")

    # ------------------------------------------------------------------ ETH/USD feed
    def eth_usd(self) -> EthUsd:
        from fractions import Fraction

        if "EthUsdPriceFeed" not in self.contracts:
            raise ChainError(f"no ETH/USD price feed on this chain: the Controller {self.contracts.get('Controller')} "
                             "has no 'EthUsdPriceFeed' registered (the chains lpdev starts, forks included, deploy "
                             "one; on another chain register a Chainlink-compatible ETH/USD feed in the Controller "
                             "under that name)")
        try:
            round_id, answer, _, updated_at, _ = self._view("EthUsdPriceFeed", "latestRoundData")
        except CallReverted as exc:
            raise ChainError(f"the ETH/USD price feed at {self.contracts['EthUsdPriceFeed']} has no data: "
                             f"{exc.reason or exc}") from None
        decimals = self._view("EthUsdPriceFeed", "decimals")
        return EthUsd(usd_per_eth=Fraction(answer, 10**decimals), updated_at=updated_at, decimals=decimals,
                      round_id=round_id)

    def set_eth_usd(self, usd_per_eth, *, updated_at: int | None = None, key: bytes | None = None) -> TxResult:
        answer = eth_usd_answer(usd_per_eth)
        key = key or self.config.key("deployer")
        if updated_at is None:
            return self._transact(key, "EthUsdPriceFeed", "updateAnswer", answer)
        nxt = self._view("EthUsdPriceFeed", "latestRound") + 1
        return self._transact(key, "EthUsdPriceFeed", "updateRoundData", nxt, answer, int(updated_at), int(updated_at))

    def block_timestamp(self) -> int:
        return int(self._rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16) if self._tester is None \
            else int(self._tester.get_block_by_number("latest")["timestamp"])

    def pause(self, key: bytes) -> TxResult:
        return self._transact(key, "Controller", "pause")

    def unpause(self, key: bytes) -> TxResult:
        return self._transact(key, "Controller", "unpause")

    def set_unlock_period(self, key: bytes, rounds: int) -> TxResult:
        return self._transact(key, "TicketBroker", "setUnlockPeriod", int(rounds))

    def set_ticket_validity_period(self, key: bytes, rounds: int) -> TxResult:
        return self._transact(key, "TicketBroker", "setTicketValidityPeriod", int(rounds))

    # ------------------------------------------------------------------ views
    def claimable_reserve(self, reserve_holder: bytes, claimant: bytes) -> int:
        return self._view("TicketBroker", "claimableReserve", _b20(reserve_holder), _b20(claimant))

    def get_ticket_hash(self, ticket) -> bytes:
        return bytes(self._view("TicketBroker", "getTicketHash", _ticket_tuple(ticket)))

    def unlock_period(self) -> int:
        return self._view("TicketBroker", "unlockPeriod")

    def ticket_validity_period(self) -> int:
        return self._view("TicketBroker", "ticketValidityPeriod")

    def pending_fees(self, transcoder: bytes) -> int:
        """``BondingManager.pendingFees(addr, 0)``: claimed plus unclaimed fees (a transcoder's include its
        commission and its own stake's share; a delegator's its share)."""
        return self._view("BondingManager", "pendingFees", _b20(transcoder), 0)

    def eth_balance(self, addr: bytes) -> int:
        a = to_checksum_address(_b20(addr))
        return self._guard(lambda: self.rpc.balance(a))

    def is_unlock_in_progress(self, sender: bytes) -> bool:
        return self._view("TicketBroker", "isUnlockInProgress", _b20(sender))

    def reserve_info(self, holder: bytes) -> tuple[int, int]:
        """``getReserveInfo``: (fundsRemaining, claimedInCurrentRound)."""
        return tuple(self._view("TicketBroker", "getReserveInfo", _b20(holder)))

    def paused(self) -> bool:
        return self._view("Controller", "paused")

    # ------------------------------------------------------------------ time travel
    def _mine_blocks(self, n: int) -> None:
        if n <= 0:
            return
        if self._tester is not None:
            self._tester.mine_blocks(n)
            return
        try:
            self._rpc("anvil_mine", [hex(n)])
        except ChainError:
            try:
                self._rpc("hardhat_mine", [hex(n)])
            except ChainError:
                raise ChainError(f"the chain at {self.eth_url} cannot mine on demand (no anvil_mine/hardhat_mine):"
                                 " time travel needs anvil, hardhat or the embedded backend") from None

    def _round_state(self) -> tuple[int, int, bool]:
        return self.last_block(), self.current_round(), self.current_round_initialized()

    def _consequences(self, b0: int, b1: int, r0: int, r1: int, init: bool) -> str:
        if r0 == r1:
            parts = [f"still round {r1}"]
        elif init:
            parts = [f"round {r0} -> {r1} (initialized)"]
        else:
            parts = [f"round {r0} -> {r1} (NOT initialized: redemptions revert with 'current round is not "
                     "initialized' until `lpdev chain advance-round`)"]
        # Go's sender treats params as expired when expirationBlock - lastBlock <= 1
        # (docs/refreshes.md#480-refresh-the-session)
        first_ok = b1 - PARAMS_EXPIRATION_BLOCK + PARAMS_EXPIRY_BUFFER + 1
        parts.append(f"ticket params issued at block B expire at B+{PARAMS_EXPIRATION_BLOCK} — params issued "
                     f"before block {max(first_ok, 0)} are now expired (next payment with them gets 480 "
                     "'refresh session for remote signer')")
        try:
            validity = self.ticket_validity_period()
            if r1 != r0:
                parts.append(f"tickets created in round {r1 - validity} or earlier are now expired "
                             f"(validity {validity} rounds)")
        except ChainError:
            pass
        return "; ".join(parts)

    def mine(self, n: int) -> dict:
        n = int(n)
        if n < 0:
            raise ValueError("cannot mine a negative number of blocks")
        with self._lock:
            self._check_open()
            b0, r0, _ = self._round_state()
            self._mine_blocks(n)
            b1, r1, init = self._round_state()
        return {"from_block": b0, "to_block": b1, "from_round": r0, "to_round": r1,
                "summary": f"mined {n} blocks: {b0} -> {b1}; " + self._consequences(b0, b1, r0, r1, init)}

    def advance_round(self, key: bytes | None = None) -> dict:
        with self._lock:
            self._check_open()
            key = key or self.config.key("deployer")
            b0, r0, _ = self._round_state()
            res = self._advance(key, b0)
            b1, r1, init = self._round_state()
        return {"from_block": b0, "to_block": b1, "from_round": r0, "to_round": r1, "tx": res.tx_hash,
                "summary": f"advanced to round {r1} (initialized at block {res.block}, block hash "
                           f"0x{self.block_hash_for_round(r1).hex()[:16]}…); blocks {b0} -> {b1}; "
                           + self._consequences(b0, b1, r0, r1, init)}

    def _advance(self, key: bytes, last_block: int | None = None) -> TxResult:
        """Mine to the next round's first block and initialize that round (no summary; used by setup)."""
        b0 = self.last_block() if last_block is None else last_block
        length = self.round_length()
        start = self._view("RoundsManager", "currentRoundStartBlock")
        # the initializeRound tx is mined in block b0+1 (+ mined blocks), which must be the next round's first block
        self._mine_blocks(start + length - 1 - b0)
        h = self._send(key, self.contracts["RoundsManager"], self._fn["RoundsManager"]["initializeRound"].encode())
        res = self._result(h, self._receipt(h))
        if not res.ok:
            ok, reason = self._raw_call(self.contracts["RoundsManager"],
                                        self._fn["RoundsManager"]["initializeRound"].encode(),
                                        sender=self._sender_of(key), block=res.block - 1)
            raise ChainError(f"initializeRound failed: {reason}")
        return res

    def snapshot(self) -> str:
        with self._lock:
            self._check_open()
            if self._tester is not None:
                return str(self._tester.take_snapshot())
            return str(self._rpc("evm_snapshot", []))

    def revert(self, snapshot_id: str) -> dict:
        with self._lock:
            self._check_open()
            b0 = self.last_block()
            if self._tester is not None:
                try:
                    self._tester.revert_to_snapshot(int(snapshot_id))
                except Exception as exc:
                    raise ChainError(f"unknown snapshot {snapshot_id!r}: {exc}") from None
            else:
                if not self._rpc("evm_revert", [snapshot_id]):
                    raise ChainError(f"unknown snapshot {snapshot_id!r} (each snapshot can be reverted once)")
            self._nonces.clear()
            b1 = self.last_block()
        return {"from_block": b0, "to_block": b1, "summary": f"reverted to snapshot {snapshot_id}: block {b0} -> {b1}"}

    def dump_state(self) -> dict:
        """anvil only: ``{"state": anvil_dumpState blob, "contracts": {...}, "chain_id"}`` for ``load_state``."""
        if self.backend != "anvil":
            raise ChainError("dump_state needs the anvil backend")
        return {"state": self._rpc("anvil_dumpState", []), "contracts": dict(self.contracts),
                "chain_id": self.chain_id}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._process is not None:
            self._process.stop()

    def __repr__(self) -> str:
        return f"<EvmChain {self.backend} chain_id={self.chain_id} url={self.eth_url}>"

    # ------------------------------------------------------------------ deploy + setup
    def _creation_code(self, name: str, artifact: str, kind: str | None, controller: str, created: dict) -> bytes:
        from eth_abi import encode

        code = link_bytecode(artifact, {LIBRARY: created[LIBRARY]})
        if kind == "controller":
            return code + encode(["address"], [controller])
        if kind == "proxy":
            return code + encode(["address", "bytes32"], [controller, abi.name_id(name + "Target")])
        if kind == "holders":
            return code + encode(["address[]", "uint256"], [list(DEV_ADDRESSES), self.config.lpt_per_account])
        if kind == "feed":
            return code + encode(["uint8", "string"], [USD_DECIMALS, ETH_USD_DESCRIPTION])
        return code

    def deploy(self, *, at: dict[str, str] | None = None) -> dict[str, str]:
        """Deploy the contracts of :data:`devnet.layout.DEPLOY_ORDER`, register them in the Controller and set
        the parameters (the round lock amount is set last, by :meth:`finish_setup`).

        Every transaction is sent back to back: addresses are precomputed from the deployer's nonce, and
        receipts are checked once at the end (fast: anvil and py-evm mine each transaction on arrival).
        The system stays paused (the Controller starts paused); :meth:`setup_actors` unpauses.

        ``at`` (anvil only): names whose contract must live at a given address instead (e.g. the Arbitrum One
        Controller's): it is deployed as usual, then its code and constructor-set storage are copied there with
        ``anvil_setCode`` / ``anvil_setStorageAt``, and everything refers to that address.
        """
        with self._lock:
            cfg = self.config
            dkey = cfg.key("deployer")
            me = self._sender_of(dkey)
            n0 = self._next_nonce(me)
            created = {name: _create_address(_b20(me), n0 + i) for i, (name, _, _) in enumerate(DEPLOY_ORDER)}
            at = {k: to_checksum_address(v) for k, v in (at or {}).items()}
            addrs = {**created, **at}
            controller = addrs["Controller"]
            hashes = [self._send(dkey, None, self._creation_code(name, art, kind, controller, created), gas=DEPLOY_GAS)
                      for name, art, kind in DEPLOY_ORDER]
            if at:
                self._check_receipts(hashes, "deploy")
                hashes = []
                for name, addr in at.items():
                    self._relocate(created[name], addr)
            c = self._fn["Controller"]["setContractInfo"]
            for reg, name in REGISTRY:
                hashes.append(self._send(dkey, controller, c.encode(abi.name_id(reg), addrs[name], GIT_COMMIT)))
            self.contracts = {"Controller": controller, **{reg: addrs[name] for reg, name in REGISTRY}}
            f = self._fn
            for contract, fn, arg in (("BondingManager", "setUnbondingPeriod", cfg.unbonding_period),
                                      ("BondingManager", "setNumActiveTranscoders", cfg.num_active_transcoders),
                                      ("RoundsManager", "setRoundLength", cfg.round_length),
                                      ("TicketBroker", "setUnlockPeriod", cfg.unlock_period),
                                      ("TicketBroker", "setTicketValidityPeriod", cfg.ticket_validity_period),
                                      ("EthUsdPriceFeed", "updateAnswer", eth_usd_answer(cfg.eth_usd))):
                hashes.append(self._send(dkey, self.contracts[contract], f[contract][fn].encode(arg)))
            self._check_receipts(hashes, "deploy")
            return dict(self.contracts)

    def _relocate(self, src: str, dst: str) -> None:
        """Move a freshly deployed contract to ``dst`` (anvil cheatcodes): its code and the low storage slots its
        constructor wrote (owner / controller / targetContractId)."""
        self._rpc("anvil_setCode", [dst, "0x" + self._guard(lambda: self.rpc.code(src)).hex()])
        for slot in range(4):
            value = self._rpc("eth_getStorageAt", [src, hex(slot), "latest"])
            self._rpc("anvil_setStorageAt", [dst, "0x" + slot.to_bytes(32, "big").hex(), value])

    def _check_receipts(self, hashes: list[str], what: str) -> None:
        for h in hashes:
            rc = self._receipt(h)
            if rc["status"] != 1:
                raise ChainError(f"{what}: transaction {h} reverted (block {rc['blockNumber']})")

    def setup_actors(self) -> None:
        """Unpause; approve the setup's LPT; initialize a round; bond each transcoder to itself and register it
        (``transcoder(rewardCut, feeShare)``) and bond the configured delegators; set the round lock; advance a
        round so the transcoders are active; fund the senders with the configured deposit and reserve. (A fresh
        chain with one transcoder and one sender ends at block 2 × round length + 1, as before bonding existed.)"""
        with self._lock:
            cfg = self.config
            dkey = cfg.key("deployer")
            bm, tb = self.contracts["BondingManager"], self.contracts["TicketBroker"]
            lpt = self.contracts["LivepeerToken"]
            f = self._fn
            hashes = [self._send(dkey, self.contracts["Controller"], f["Controller"]["unpause"].encode())]
            for role, amount in _setup_bonds(cfg):
                hashes.append(self._send(cfg.key(role), lpt, f["LivepeerToken"]["approve"].encode(bm, amount)))
            self._check_receipts(hashes, "unpause and approve")
            self._advance(dkey)
            hashes = []
            for role in cfg.transcoders:
                me = cfg.address(role)
                bond = f["BondingManager"]["bond"].encode(cfg.transcoder_stake, me)
                hashes.append(self._send(cfg.key(role), bm, bond))
                hashes.append(self._send(cfg.key(role), bm, f["BondingManager"]["transcoder"].encode(cfg.reward_cut,
                                                                                                     cfg.fee_share)))
            for role, to_role, amount in cfg.delegators:
                hashes.append(self._send(cfg.key(role), bm, f["BondingManager"]["bond"].encode(amount,
                                                                                               cfg.address(to_role))))
            if hashes:
                self._check_setup_round(hashes)
            self.finish_setup()
            if cfg.transcoders:
                self._advance(dkey)
            fund = f["TicketBroker"]["fundDepositAndReserve"].encode(cfg.sender_deposit, cfg.sender_reserve)
            self._check_receipts([self._send(cfg.key(r), tb, fund, value=cfg.sender_deposit + cfg.sender_reserve)
                                  for r in cfg.senders], "fund senders")

    def _check_setup_round(self, hashes: list[str]) -> None:
        try:
            self._check_receipts(hashes, "bond and register transcoders")
        except ChainError:
            if self.last_block() // max(1, self.config.round_length) != self.last_initialized_round():
                raise ChainError(f"setup needs {len(hashes)} bonding transactions in one round but a round is "
                                 f"{self.config.round_length} blocks: use a longer round length") from None
            raise

    def finish_setup(self) -> None:
        """The round lock (transcoder() is refused in the last share of each round), set once setup has
        registered the transcoders (a long setup must not run into it)."""
        with self._lock:
            rm = self.contracts["RoundsManager"]
            h = self._send(self.config.key("deployer"), rm,
                           self._fn["RoundsManager"]["setRoundLockAmount"].encode(self.config.round_lock_amount))
            self._check_receipts([h], "setRoundLockAmount")

    def resolve(self, controller: str) -> dict[str, str]:
        """Find every contract through ``Controller.getContract`` (external chains, loaded state)."""
        try:
            controller = to_checksum_address(controller)
        except Exception:
            raise ContractNotFound(f"--controller {controller!r} is not an address (0x + 40 hex digits)") from None
        code = self._guard(lambda: self.rpc.code(controller))
        if not code:
            raise ContractNotFound(f"no contract code at Controller {controller} on {self.eth_url} (chain id "
                                   f"{self.chain_id}): check --controller (the address `lpdev chain up` printed) "
                                   "and that --eth-url is the right chain")
        self.contracts = {"Controller": controller}
        for name in REQUIRED + OPTIONAL:
            try:
                addr = self._view("Controller", "getContract", abi.name_id(name))
            except ChainError:
                raise ContractNotFound(f"{controller} does not answer getContract(bytes32): it is not a Livepeer "
                                       "Controller; check --controller") from None
            if int(addr, 16) == 0:
                if name in OPTIONAL:
                    continue
                raise ContractNotFound(f"Controller {controller} has no {name!r} registered (getContract returned "
                                       "the zero address): is this the right --controller / chain?")
            if name in REQUIRED and not self._guard(lambda: self.rpc.code(to_checksum_address(addr))):
                raise ContractNotFound(f"{name} is registered at {addr} but that address has no code on "
                                       f"{self.eth_url}: the Controller belongs to another chain or state")
            self.contracts[name] = to_checksum_address(addr)
        return dict(self.contracts)


def _setup_bonds(cfg: DevnetConfig) -> list[tuple[str, int]]:
    """(role, LPT amount) each setup bond needs approved: the transcoders' self-bonds, then the delegations."""
    return [(r, cfg.transcoder_stake) for r in cfg.transcoders] + [(r, amount) for r, _, amount in cfg.delegators]


# ---------------------------------------------------------------------- constructors
def connect_http(eth_url: str, timeout: float = 10.0) -> HttpRpc:
    """JSON-RPC over HTTP with a timeout on every call and no retries (fail fast with a clear error)."""
    return HttpRpc(eth_url, timeout)


def open_anvil(*, config: DevnetConfig, port: int | None = None, setup: bool = True,
               load_state: str | dict | None = None, process=None, at: dict[str, str] | None = None) -> EvmChain:
    """Start (or adopt ``process``, an unready AnvilProcess) anvil and deploy; the chain owns the process.
    ``at``: contracts to place at given addresses (see :meth:`EvmChain.deploy`), e.g.
    ``devnet.layout.ARBITRUM_ONE``'s, with ``config.chain_id`` 42161, to play an Arbitrum One chain."""
    from devnet.backends.anvil import AnvilProcess

    proc = process or AnvilProcess.spawn(port=port, chain_id=config.chain_id)
    try:
        proc.wait_ready()
        chain = EvmChain(connect_http(proc.url), backend="anvil", config=config, eth_url=proc.url, process=proc)
        if load_state is not None:
            import json

            state = load_state
            if isinstance(state, str):
                with open(state) as f:
                    state = json.load(f)
            chain._rpc("anvil_loadState", [state["state"]])
            chain.resolve(state["contracts"]["Controller"])
        else:
            chain.deploy(at=at)
            if setup:
                chain.setup_actors()
            else:
                chain.finish_setup()
        return chain
    except BaseException:
        proc.stop()
        raise


def _steady_backend(genesis_state: dict, genesis_timestamp: int | None):
    """An eth-tester ``PyEVMBackend`` whose blocks repeat run to run.

    eth-tester draws each post-merge block's ``mix_hash`` (PREVRANDAO) from ``os.urandom``; here it is
    ``keccak(parent hash)``, so it depends only on the chain's history (no contract reads PREVRANDAO). py-evm stamps
    the genesis and every new block with the wall clock; with ``genesis_timestamp`` the genesis block gets that
    timestamp and block N gets ``genesis_timestamp + N`` seconds (one second per block, like ``anvil_mine``), so
    block hashes — and the ``creationRoundBlockHash``, ``recipientRandHash`` and ticket hashes computed from them —
    are the same on every run that sends the same transactions. The contracts count rounds, unlock periods and
    ticket validity in block numbers, never timestamps (docs/chain.md#rounds), so nothing else changes."""
    from eth.vm.forks import ParisVM, PragueVM
    from eth.vm.forks.cancun import get_total_blob_gas
    from eth_tester import PyEVMBackend
    from eth_tester.backends.pyevm.main import ZERO_ADDRESS

    class SteadyPyEVMBackend(PyEVMBackend):
        def reset_to_genesis(self, *args, **kwargs):
            super().reset_to_genesis(*args, **kwargs)
            if genesis_timestamp is None:
                return
            base = type(self.chain)

            class SteadyClockChain(base):
                def create_header_from_parent(self, parent_header, **header_params):
                    header_params.setdefault("timestamp", parent_header.timestamp + 1)
                    return super().create_header_from_parent(parent_header, **header_params)

            # same database (the genesis block is in it); only the pending header is rebuilt, with the new rule
            self.chain = SteadyClockChain(self.chain.chaindb.db)

        def mine_blocks(self, num_blocks=1, coinbase=ZERO_ADDRESS):
            hashes = []
            for _ in range(num_blocks):
                kw = {"coinbase": coinbase}
                vm = self.chain.get_vm()
                if isinstance(vm, ParisVM):
                    kw["mix_hash"] = keccak(self.chain.header.parent_hash)
                if isinstance(vm, PragueVM):
                    kw["blob_gas_used"] = sum(get_total_blob_gas(tx) for tx in self.chain.get_block().transactions)
                hashes.append(self.chain.mine_block(**kw).hash)
            return tuple(hashes)

    params = None
    if genesis_timestamp is not None:
        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": int(genesis_timestamp)})
    return SteadyPyEVMBackend(genesis_parameters=params, genesis_state=genesis_state)


def open_embedded(*, config: DevnetConfig, setup: bool = True, genesis_timestamp: int | None = None) -> EvmChain:
    """py-evm in process. The ten anvil dev accounts get 10,000 ETH each in the genesis state, so addresses, keys
    and block numbers match the anvil backend (setup takes the same blocks on both).

    ``genesis_timestamp`` (seconds since the epoch): stamp blocks ``genesis_timestamp + number`` instead of the
    wall clock, so the same transactions give the same block hashes every run (a scenario on a virtual clock
    passes the clock's start). Without it blocks carry the wall-clock time, like anvil."""
    from eth_keys import keys as eth_keys
    from eth_tester import EthereumTester
    from eth_tester.backends.pyevm.main import generate_genesis_state_for_keys
    from web3 import EthereumTesterProvider

    from devnet.config import DEV_KEYS

    genesis = generate_genesis_state_for_keys([eth_keys.PrivateKey(bytes.fromhex(k[2:])) for k in DEV_KEYS],
                                              overrides={"balance": 10_000 * 10**18})
    tester = EthereumTester(_steady_backend(genesis, genesis_timestamp))
    from web3 import Web3

    chain = EvmChain(Web3Rpc(Web3(EthereumTesterProvider(tester))), backend="embedded", config=config, eth_url=None,
                     tester=tester)
    chain.deploy()
    if setup:
        chain.setup_actors()
    else:
        chain.finish_setup()
    return chain


def open_external(eth_url: str, controller: str, *, config: DevnetConfig | None = None,
                  timeout: float = 10.0) -> EvmChain:
    config = config or DevnetConfig()
    if not eth_url.startswith(("http://", "https://")):
        raise ChainUnreachable(f"--eth-url {eth_url!r} must be an http(s):// JSON-RPC URL")
    chain = EvmChain(connect_http(eth_url, timeout), backend="external", config=config, eth_url=eth_url)
    chain.resolve(controller)
    return chain
