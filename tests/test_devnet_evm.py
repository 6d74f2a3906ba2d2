"""The devnet contracts on the real EVM backends (embedded py-evm and anvil) against docs/chain.md: every revert
string and the order of the checks (pairs of defects: the earlier check must win), event orders, deposit-then-reserve
and the reserve caps, unlock / withdraw, caller checks and fee payout.

One chain per backend per module; every test runs between a snapshot and a revert.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

import devnet
from devnet import open_chain
from devnet.base import CallReverted
from devnet.config import DevnetConfig, ETHER
from sim.pm.crypto import keccak, private_key_to_address
from sim.pm.ticket import MAX_WIN_PROB, Ticket, is_winning_ticket, u256

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

BACKENDS = ["embedded", pytest.param("anvil", marks=pytest.mark.anvil)]


@pytest.fixture(scope="module", params=BACKENDS)
def chain(request):
    c = open_chain(request.param, config=DevnetConfig())
    yield c
    c.close()


@pytest.fixture(autouse=True)
def isolated(chain):
    sid = chain.snapshot()
    yield
    chain.revert(sid)


@dataclass(frozen=True)
class RawAuxTicket(Ticket):
    """A ticket whose auxData is given raw (to send malformed lengths)."""

    raw_aux: bytes = b""

    @property
    def aux_data(self) -> bytes:
        return self.raw_aux


def b(addr: str) -> bytes:
    return bytes.fromhex(addr[2:])


class T:
    """Ticket factory for one chain: sender role -> recipient role, current round, random recipientRand."""

    def __init__(self, chain):
        self.c = chain
        self.nonce = 0

    def make(self, *, sender="sender", recipient="orchestrator", face=ETHER, win_prob=MAX_WIN_PROB,
             creation_round=None, block_hash=None, rand=None, sender_addr=None, recipient_addr=None):
        self.nonce += 1
        rand = rand if rand is not None else int.from_bytes(keccak(b"rand%d" % self.nonce), "big")
        r = self.c.last_initialized_round() if creation_round is None else creation_round
        h = self.c.block_hash_for_round(r) if block_hash is None else block_hash
        t = Ticket(recipient=recipient_addr if recipient_addr is not None else b(self.c.address(recipient)),
                   sender=sender_addr if sender_addr is not None else b(self.c.address(sender)),
                   face_value=face, win_prob=win_prob, sender_nonce=self.nonce,
                   recipient_rand_hash=keccak(u256(rand)), creation_round=r, creation_round_block_hash=h)
        return t, rand

    def signed(self, signer="sender", **kw):
        t, rand = self.make(**kw)
        return t, t.sign(self.c.key(signer)), rand

    def redeem(self, t, sig, rand, by="orchestrator"):
        return self.c.redeem_winning_ticket(t, sig, rand, from_key=self.c.key(by))


@pytest.fixture
def tk(chain):
    return T(chain)


def names(res):
    return [e["event"] for e in res.events]


# ---------------------------------------------------------------------- setup state
def test_setup_state(chain):
    cfg = chain.config
    assert chain.current_round() == chain.last_initialized_round() >= 2
    assert chain.is_active_transcoder(b(chain.address("orchestrator")))
    assert not chain.is_active_transcoder(b(chain.address("orchestrator2")))
    assert chain.transcoder_pool_size() == 1
    si = chain.sender_info(b(chain.address("sender")))
    assert (si.deposit, si.reserve, si.withdraw_round) == (cfg.sender_deposit, cfg.sender_reserve, 0)
    assert chain.unlock_period() == cfg.unlock_period and chain.ticket_validity_period() == cfg.ticket_validity_period
    # the Minter holds all the ETH, the TicketBroker none (docs/chain.md#how-the-contracts-find-each-other)
    assert chain.eth_balance(b(chain.contracts["Minter"])) == cfg.sender_deposit + cfg.sender_reserve
    assert chain.eth_balance(b(chain.contracts["TicketBroker"])) == 0
    assert chain.contracts["JobsManager"] == chain.contracts["TicketBroker"]
    assert len(chain.block_hash_for_round(chain.current_round())) == 32
    assert chain.block_hash_for_round(chain.current_round()) != b"\x00" * 32
    assert chain.block_hash_for_round(chain.current_round() + 5) == b"\x00" * 32


def test_ticket_hash_matches_pm_core(chain, tk):
    t, _ = tk.make(face=123456789, win_prob=MAX_WIN_PROB // 7)
    assert chain.get_ticket_hash(t) == t.hash()


def test_win_test_agrees_with_pm_core(chain, tk):
    """The same signature bytes and rand win or lose on-chain exactly as is_winning_ticket says."""
    wins = losses = 0
    for _ in range(8):
        t, sig, rand = tk.signed(win_prob=MAX_WIN_PROB // 2, face=1000)
        res = tk.redeem(t, sig, rand)
        expected = is_winning_ticket(sig, rand, t.win_prob)
        assert res.ok == expected, res
        if expected:
            wins += 1
        else:
            assert res.revert_reason == "ticket did not win"
            losses += 1
    assert wins and losses


# ---------------------------------------------------------------------- single checks
def test_redeem_ok_from_deposit(chain, tk):
    sender, orch = b(chain.address("sender")), b(chain.address("orchestrator"))
    before = chain.sender_info(sender)
    t, sig, rand = tk.signed(face=2 * ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.ok and res.gas_used > 0 and res.tx_hash.startswith("0x")
    assert names(res) == ["WinningTicketTransfer", "WinningTicketRedeemed"]  # docs/chain.md#events
    transfer, redeemed = res.events
    assert transfer["args"] == {"sender": chain.address("sender"), "recipient": chain.address("orchestrator"),
                                "amount": 2 * ETHER}
    assert redeemed["args"]["recipientRand"] == rand and redeemed["args"]["auxData"] == "0x" + t.aux_data.hex()
    assert chain.sender_info(sender).deposit == before.deposit - 2 * ETHER
    assert chain.is_used_ticket(t.hash())
    assert chain.pending_fees(orch) == 2 * ETHER


def test_redeem_is_open_to_anyone(chain, tk):
    t, sig, rand = tk.signed(face=1)
    assert tk.redeem(t, sig, rand, by="gateway").ok  # no msg.sender check


def test_system_is_paused(chain, tk):
    t, sig, rand = tk.signed()
    assert chain.pause(chain.key("deployer")).ok
    res = tk.redeem(t, sig, rand)
    assert not res.ok and res.revert_reason == "system is paused" and res.tx_hash is None


def test_current_round_not_initialized(chain, tk):
    t, sig, rand = tk.signed()
    chain.mine(chain.config.round_length)
    res = tk.redeem(t, sig, rand)
    assert res.revert_reason == "current round is not initialized"


@pytest.mark.parametrize("defect, reason", [
    ("recipient", "ticket recipient is null address"),
    ("sender", "ticket sender is null address"),
    ("aux63", "invalid length for ticket auxData: must be 64 bytes"),
    ("aux0", "invalid length for ticket auxData: must be 64 bytes"),
    ("nohash", "ticket creationRound does not have a block hash"),
    ("badhash", "ticket creationRoundBlockHash invalid for creationRound"),
    ("rand", "recipientRand does not match recipientRandHash"),
    ("siglen64", "INVALID_SIGNATURE_LENGTH"),
    ("siglen66", "INVALID_SIGNATURE_LENGTH"),
    ("high_s", "ECDSA: invalid signature 's' value"),
    ("bad_v", "ECDSA: invalid signature 'v' value"),
    ("zero_r", "ECDSA: invalid signature"),
    ("wrong_signer", "invalid signature over ticket hash"),
    ("losing", "ticket did not win"),
])
def test_single_defect(chain, tk, defect, reason):
    kw = {}
    if defect == "recipient":
        kw["recipient_addr"] = b"\x00" * 20
    if defect == "sender":
        kw["sender_addr"] = b"\x00" * 20
    if defect == "nohash":
        kw["creation_round"] = chain.current_round() + 7
        kw["block_hash"] = b"\x11" * 32
    if defect == "badhash":
        kw["block_hash"] = b"\x22" * 32
    if defect == "losing":
        kw["win_prob"] = 0
    t, rand = tk.make(**kw)
    if defect in ("aux63", "aux0"):
        t = RawAuxTicket(**{f: getattr(t, f) for f in ("recipient", "sender", "face_value", "win_prob",
                                                        "sender_nonce", "recipient_rand_hash")},
                         raw_aux=t.aux_data[:63] if defect == "aux63" else b"")
    sig = t.sign(chain.key("sender"))
    if defect == "rand":
        rand += 1
    if defect == "siglen64":
        sig = sig[:64]
    if defect == "siglen66":
        sig = sig + b"\x00"
    if defect == "high_s":
        s = int.from_bytes(sig[32:64], "big")
        sig = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    if defect == "bad_v":
        sig = sig[:64] + bytes([29])
    if defect == "zero_r":
        sig = b"\x00" * 32 + (1).to_bytes(32, "big") + bytes([27])
    if defect == "wrong_signer":
        sig = t.sign(chain.key("gateway"))
    res = tk.redeem(t, sig, rand)
    assert not res.ok
    assert res.revert_reason == reason


def test_ticket_is_used(chain, tk):
    t, sig, rand = tk.signed(face=1)
    assert tk.redeem(t, sig, rand).ok
    res = tk.redeem(t, sig, rand)
    assert res.revert_reason == "ticket is used"


def test_ticket_expiry_by_validity_period(chain, tk):
    """Step 6: created in round R, redeemable in R and R+1, expired in R+2 (validity 2)."""
    t1, s1, r1 = tk.signed(face=1)
    t2, s2, r2 = tk.signed(face=1)
    chain.advance_round()
    assert tk.redeem(t1, s1, r1).ok
    chain.advance_round()
    assert tk.redeem(t2, s2, r2).revert_reason == "ticket is expired"


def test_sender_deposit_and_reserve_are_zero(chain, tk):
    t, sig, rand = tk.signed(sender="sender2", signer="sender2")
    assert tk.redeem(t, sig, rand).revert_reason == "sender deposit and reserve are zero"


def test_not_yet_active_recipient_panics_0x12(chain, tk):
    """Registered this round (pool member, not active): the fee credit divides by zero stake."""
    assert chain.bond_and_register(chain.key("orchestrator2")).ok
    assert not chain.is_active_transcoder(b(chain.address("orchestrator2")))
    t, sig, rand = tk.signed(recipient="orchestrator2", face=ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.revert_reason == "Panic(0x12)"
    chain.advance_round()
    t, sig, rand = tk.signed(recipient="orchestrator2", face=ETHER)
    assert tk.redeem(t, sig, rand).ok


def test_unregistered_recipient(chain, tk):
    t, sig, rand = tk.signed(recipient="gateway", face=ETHER)
    assert tk.redeem(t, sig, rand).revert_reason == "transcoder must be registered"


# ---------------------------------------------------------------------- ordering (two defects)
def test_order_paused_before_round(chain, tk):
    t, sig, rand = tk.signed()
    chain.mine(chain.config.round_length)
    chain.pause(chain.key("deployer"))
    assert tk.redeem(t, sig, rand).revert_reason == "system is paused"


def test_order_round_before_null_recipient(chain, tk):
    t, rand = tk.make(recipient_addr=b"\x00" * 20)
    chain.mine(chain.config.round_length)
    assert tk.redeem(t, t.sign(chain.key("sender")), rand).revert_reason == "current round is not initialized"


def test_order_recipient_before_sender_before_aux(chain, tk):
    t, rand = tk.make(recipient_addr=b"\x00" * 20, sender_addr=b"\x00" * 20, block_hash=b"\x01" * 32)
    assert tk.redeem(t, b"\x00", rand).revert_reason == "ticket recipient is null address"
    t, rand = tk.make(sender_addr=b"\x00" * 20, block_hash=b"\x01" * 32)
    assert tk.redeem(t, b"\x00", rand).revert_reason == "ticket sender is null address"


def test_order_aux_checks_before_rand(chain, tk):
    t, rand = tk.make(creation_round=chain.current_round() + 9, block_hash=b"\x01" * 32)
    assert tk.redeem(t, b"", rand + 1).revert_reason == "ticket creationRound does not have a block hash"
    t, rand = tk.make(block_hash=b"\x01" * 32)
    assert tk.redeem(t, b"", rand + 1).revert_reason == "ticket creationRoundBlockHash invalid for creationRound"
    old = chain.current_round()
    chain.advance_round()
    chain.advance_round()
    t, rand = tk.make(creation_round=old)
    assert tk.redeem(t, b"", rand + 1).revert_reason == "ticket is expired"


def test_order_rand_before_used_before_sig(chain, tk):
    t, sig, rand = tk.signed(face=1)
    assert tk.redeem(t, sig, rand).ok
    assert tk.redeem(t, sig, rand + 1).revert_reason == "recipientRand does not match recipientRandHash"
    # "ticket is used" comes BEFORE the signature checks
    assert tk.redeem(t, b"\x00" * 3, rand).revert_reason == "ticket is used"


def test_order_sig_before_win_before_unlocked(chain, tk):
    t, sig, rand = tk.signed(win_prob=0)
    assert tk.redeem(t, sig[:64], rand).revert_reason == "INVALID_SIGNATURE_LENGTH"
    assert tk.redeem(t, t.sign(chain.key("gateway")), rand).revert_reason == "invalid signature over ticket hash"
    # a losing ticket of an unlocked sender: the win check comes first
    assert chain.unlock(chain.key("sender")).ok
    chain.advance_round()
    chain.advance_round()
    t, sig, rand = tk.signed(win_prob=0)
    assert tk.redeem(t, sig, rand).revert_reason == "ticket did not win"
    t, sig, rand = tk.signed()
    assert tk.redeem(t, sig, rand).revert_reason == "sender is unlocked"


def test_order_unlocked_before_zero_funds(chain, tk):
    key = chain.key("sender")
    assert chain.unlock(key).ok
    chain.advance_round()
    chain.advance_round()
    assert chain.withdraw(key).ok
    t, sig, rand = tk.signed()
    assert tk.redeem(t, sig, rand).revert_reason == "sender is unlocked"


# ---------------------------------------------------------------------- payment
def fund_sender2(chain, deposit, reserve):
    res = chain.fund_deposit_and_reserve(chain.key("sender2"), deposit, reserve)
    assert res.ok, res
    return res


def test_deposit_then_reserve(chain, tk):
    fund_sender2(chain, ETHER, 10 * ETHER)
    s2 = b(chain.address("sender2"))
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=3 * ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.ok
    assert names(res) == ["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"]  # docs/chain.md#events
    assert res.events[0]["args"] == {"reserveHolder": chain.address("sender2"),
                                     "claimant": chain.address("orchestrator"), "amount": 2 * ETHER}
    assert res.events[1]["args"]["amount"] == 3 * ETHER
    si = chain.sender_info(s2)
    assert (si.deposit, si.reserve, si.claimed_in_current_round) == (0, 8 * ETHER, 2 * ETHER)
    assert chain.claimed_reserve(s2, b(chain.address("orchestrator"))) == 2 * ETHER
    assert chain.claimable_reserve(s2, b(chain.address("orchestrator"))) == 8 * ETHER


def test_face_value_equal_to_deposit_uses_deposit_only(chain, tk):
    fund_sender2(chain, ETHER, ETHER)
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=ETHER)
    res = tk.redeem(t, sig, rand)
    assert names(res) == ["WinningTicketTransfer", "WinningTicketRedeemed"]
    assert chain.sender_info(b(chain.address("sender2"))).reserve == ETHER


def test_reserve_cap_per_recipient_and_round(chain, tk):
    """Each active pool member may take (funds + claimed this round) / poolSize per round; a ticket above
    the allocation pays less, never reverts, and is still consumed; allocations reset each round."""
    assert chain.bond_and_register(chain.key("orchestrator2")).ok
    chain.advance_round()
    assert chain.transcoder_pool_size() == 2
    fund_sender2(chain, 0, 10 * ETHER)
    s2, o1 = b(chain.address("sender2")), b(chain.address("orchestrator"))
    assert chain.claimable_reserve(s2, o1) == 5 * ETHER
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=8 * ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.ok and res.events[1]["args"]["amount"] == 5 * ETHER
    # allocation used up: the next winning ticket pays 0 but is consumed
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.ok and names(res) == ["WinningTicketRedeemed"]
    assert chain.is_used_ticket(t.hash())
    assert chain.claimable_reserve(s2, b(chain.address("orchestrator2"))) == 5 * ETHER
    chain.advance_round()  # new round: (5 + 0) / 2
    assert chain.claimable_reserve(s2, o1) == 5 * ETHER // 2
    assert chain.sender_info(s2).claimed_in_current_round == 0


def test_inactive_claimant_gets_no_reserve(chain, tk):
    """A winning ticket to an address with no reserve allocation pays 0 and is still consumed (step 13)."""
    fund_sender2(chain, 0, ETHER)
    assert chain.claimable_reserve(b(chain.address("sender2")), b(chain.address("gateway"))) == 0
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", recipient="gateway", face=ETHER)
    res = tk.redeem(t, sig, rand)
    assert res.ok and names(res) == ["WinningTicketRedeemed"]
    assert chain.is_used_ticket(t.hash())


def test_pool_growth_mid_round_panics_0x11(chain, tk):
    fund_sender2(chain, 0, 10 * ETHER)
    s2, o1 = b(chain.address("sender2")), b(chain.address("orchestrator"))
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=8 * ETHER)
    assert tk.redeem(t, sig, rand).ok
    assert chain.bond_and_register(chain.key("orchestrator2")).ok  # pool 2 in the same round
    with pytest.raises(CallReverted) as ei:
        chain.claimable_reserve(s2, o1)
    assert ei.value.reason == "Panic(0x11)"
    t, sig, rand = tk.signed(sender="sender2", signer="sender2", face=ETHER)
    assert tk.redeem(t, sig, rand).revert_reason == "Panic(0x11)"


# ---------------------------------------------------------------------- funding events, unlock
def test_fund_events_and_value_check(chain):
    key = chain.key("sender2")
    res = chain.fund_deposit_and_reserve(key, 1, 2)
    assert names(res) == ["ReserveFunded", "DepositFunded"]
    assert chain.fund_deposit_and_reserve(key, 1, 2, value=4).revert_reason == \
        "msg.value does not equal sum of deposit amount and reserve amount"
    assert names(chain.fund_deposit(key, 5)) == ["DepositFunded"]
    assert names(chain.fund_reserve(key, 5)) == ["ReserveFunded"]
    si = chain.sender_info(b(chain.address("sender2")))
    assert (si.deposit, si.reserve) == (6, 7)


def test_funding_cancels_own_unlock_in_order(chain):
    key = chain.key("sender")
    assert chain.unlock(key).ok
    assert names(chain.fund_deposit(key, 1)) == ["UnlockCancelled", "DepositFunded"]
    assert chain.unlock(key).ok
    assert names(chain.fund_reserve(key, 1)) == ["ReserveFunded", "UnlockCancelled"]
    assert chain.unlock(key).ok
    assert names(chain.fund_deposit_and_reserve(key, 1, 1)) == ["UnlockCancelled", "ReserveFunded", "DepositFunded"]
    assert not chain.is_unlock_in_progress(b(chain.address("sender")))


def test_third_party_funding_does_not_cancel_unlock(chain):
    assert chain.unlock(chain.key("sender")).ok
    res = chain.fund_deposit_and_reserve_for(chain.key("gateway"), b(chain.address("sender")), 1, 1)
    assert names(res) == ["ReserveFunded", "DepositFunded"]
    assert res.events[0]["args"]["reserveHolder"] == chain.address("sender")
    assert chain.is_unlock_in_progress(b(chain.address("sender")))


def test_unlock_withdraw_cycle(chain, tk):
    key = chain.key("sender")
    sender = b(chain.address("sender"))
    cfg = chain.config
    assert chain.withdraw(key).revert_reason == "no unlock request in progress"
    assert chain.cancel_unlock(key).revert_reason == "no unlock request in progress"
    r = chain.current_round()
    res = chain.unlock(key)
    assert res.events == [{"event": "Unlock", "args": {"sender": chain.address("sender"), "startRound": r,
                                                       "endRound": r + cfg.unlock_period}}]
    assert chain.unlock(key).revert_reason == "unlock already initiated"
    assert chain.withdraw(key).revert_reason == "account is locked"
    chain.advance_round()
    # still locked during the unlock period: tickets redeem
    t, sig, rand = tk.signed(face=1)
    assert tk.redeem(t, sig, rand).ok
    assert chain.withdraw(key).revert_reason == "account is locked"
    chain.advance_round()
    minter = b(chain.contracts["Minter"])
    m0, bal0 = chain.eth_balance(minter), chain.eth_balance(sender)
    res = chain.withdraw(key)
    assert res.ok
    assert res.events == [{"event": "Withdrawal", "args": {"sender": chain.address("sender"),
                                                           "deposit": cfg.sender_deposit - 1,
                                                           "reserve": cfg.sender_reserve}}]
    paid = cfg.sender_deposit - 1 + cfg.sender_reserve
    assert chain.eth_balance(minter) == m0 - paid
    assert chain.eth_balance(sender) > bal0 + paid - ETHER // 100  # minus gas
    si = chain.sender_info(sender)
    assert (si.deposit, si.reserve) == (0, 0) and si.withdraw_round == r + cfg.unlock_period  # NOT reset
    assert chain.is_unlock_in_progress(sender)
    assert chain.withdraw(key).revert_reason == "sender deposit and reserve are zero"
    # third-party refund: still unlocked; self-funding cancels the stale unlock
    assert chain.fund_deposit_and_reserve_for(chain.key("gateway"), sender, ETHER, 0).ok
    t, sig, rand = tk.signed(face=1)
    assert tk.redeem(t, sig, rand).revert_reason == "sender is unlocked"
    assert names(chain.fund_deposit(key, 1)) == ["UnlockCancelled", "DepositFunded"]
    assert tk.redeem(t, sig, rand).ok


def test_unlock_with_zero_funds(chain):
    assert chain.unlock(chain.key("sender2")).revert_reason == "sender deposit and reserve are zero"


def test_paused_blocks_funding_and_unlock(chain):
    chain.pause(chain.key("deployer"))
    assert chain.fund_deposit(chain.key("sender"), 1).revert_reason == "system is paused"
    assert chain.unlock(chain.key("sender")).revert_reason == "system is paused"
    assert chain.initialize_round(chain.key("deployer")).revert_reason == "system is paused"
    assert chain.unpause(chain.key("deployer")).ok
    assert chain.fund_deposit(chain.key("sender"), 1).ok


# ---------------------------------------------------------------------- batch, fees, caller checks
def test_batch_redeem_ignores_failures(chain, tk):
    good, gsig, grand = tk.signed(face=ETHER)
    bad, bsig, brand = tk.signed(face=ETHER, win_prob=0)
    res = chain.batch_redeem_winning_tickets([good, bad], [gsig, bsig], [grand, brand],
                                             from_key=chain.key("orchestrator"))
    assert res.ok
    assert names(res) == ["WinningTicketTransfer", "WinningTicketRedeemed"]
    assert chain.is_used_ticket(good.hash()) and not chain.is_used_ticket(bad.hash())


def test_withdraw_fees_paid_by_minter(chain, tk):
    orch = b(chain.address("orchestrator"))
    t, sig, rand = tk.signed(face=3 * ETHER)
    assert tk.redeem(t, sig, rand).ok
    assert chain.pending_fees(orch) == 3 * ETHER
    minter = b(chain.contracts["Minter"])
    m0 = chain.eth_balance(minter)
    res = chain.withdraw_fees(chain.key("orchestrator"))
    # claim first (autoClaimEarnings), then the payment, then the BondingVotes checkpoint (autoCheckpoint)
    assert res.ok and res.event_names() == ["EarningsClaimed", "WithdrawFees", "DelegatorBondedAmountChanged"]
    assert res.events[0]["args"]["fees"] == 3 * ETHER and res.events[1]["args"]["amount"] == 3 * ETHER
    assert chain.pending_fees(orch) == 0
    assert chain.eth_balance(minter) == m0 - 3 * ETHER


def test_round_and_owner_checks(chain):
    assert chain.initialize_round(chain.key("deployer")).revert_reason == "round already initialized"
    assert chain.set_unlock_period(chain.key("sender"), 5).revert_reason == "caller must be Controller owner"
    assert chain.set_ticket_validity_period(chain.key("deployer"), 0).revert_reason == \
        "ticketValidityPeriod must be greater than 0"
    res = chain.set_unlock_period(chain.key("deployer"), 5)
    assert res.events == [{"event": "ParameterUpdate", "args": {"param": "unlockPeriod"}}]
    assert chain.unlock_period() == 5
    assert chain.pause(chain.key("sender")).revert_reason == ""  # bare require in Controller


def test_contract_caller_checks(chain):
    """Only the registered TicketBroker credits fees; only Minter/JobsManager deposit; only
    BondingManager/JobsManager withdraw from the Minter."""
    k = chain.key("gateway")
    me = chain.address("orchestrator")
    assert chain._transact(k, "BondingManager", "updateTranscoderWithFees", me, 1, 1).revert_reason == \
        "caller must be TicketBroker"
    assert chain._transact(k, "Minter", "depositETH", value=1).revert_reason == "msg.sender not Minter or JobsManager"
    assert chain._transact(k, "Minter", "trustedWithdrawETH", me, 1).revert_reason == \
        "msg.sender not BondingManager or JobsManager"


def test_time_travel_summaries(chain):
    b0 = chain.last_block()
    out = chain.mine(3)
    assert out["to_block"] == b0 + 3 and "mined 3 blocks" in out["summary"] and "expire at B+40" in out["summary"]
    # params issued at block B are expired once (B + 40) - last_block <= 1, i.e. B <= last - 39
    assert f"params issued before block {b0 + 3 - 38} are now expired" in out["summary"]
    r0 = chain.current_round()
    out = chain.advance_round()
    assert out["to_round"] == r0 + 1 == chain.current_round() == chain.last_initialized_round()
    assert f"advanced to round {r0 + 1}" in out["summary"]
    assert chain.block_hash_for_round(r0 + 1) != b"\x00" * 32
    sid = chain.snapshot()
    chain.mine(2)
    back = chain.revert(sid)
    assert back["to_block"] == out["to_block"] and chain.last_block() == out["to_block"]


def test_keys_match_accounts(chain):
    for a in chain.accounts:
        assert "0x" + private_key_to_address(bytes.fromhex(a["private_key"][2:])).hex() == a["address"].lower()


def test_is_a_chain_view(chain):
    from sim.chainview import ChainView

    assert isinstance(chain, ChainView)
    assert chain.gas_price() > 0 and chain.last_block() > 0


def test_concurrent_views_and_transactions(chain, tk):
    """Actors call the chain from worker threads: views and transactions interleave safely."""
    from concurrent.futures import ThreadPoolExecutor

    sender = b(chain.address("sender"))
    tickets = [tk.signed(face=1) for _ in range(4)]

    def redeem(i):
        t, sig, rand = tickets[i]
        return tk.redeem(t, sig, rand).ok

    def view(_):
        return chain.sender_info(sender).reserve

    with ThreadPoolExecutor(4) as ex:
        views = [ex.submit(view, i) for i in range(8)]
        redeems = [ex.submit(redeem, i) for i in range(4)]
        assert all(f.result() for f in redeems)
        assert all(f.result() == chain.config.sender_reserve for f in views)
    assert chain.sender_info(sender).deposit == chain.config.sender_deposit - 4


def test_controller_registry(chain):
    from devnet.abi import name_id

    addr, commit = chain._view("Controller", "getContractInfo", name_id("TicketBroker"))
    assert addr.lower() == chain.contracts["TicketBroker"].lower() and commit == b"\x00" * 20
    assert int(chain._view("Controller", "getContract", name_id("NoSuchContract")), 16) == 0
    res = chain._transact(chain.key("deployer"), "Controller", "setContractInfo", name_id("Extra"),
                          chain.contracts["Minter"], b"\x01" * 20)
    assert res.events == [{"event": "SetContractInfo", "args": {"id": "0x" + name_id("Extra").hex(),
                                                                "contractAddress": chain.contracts["Minter"],
                                                                "gitCommitHash": "0x" + "01" * 20}}]
    assert chain._transact(chain.key("sender"), "Controller", "setContractInfo", name_id("Extra"),
                           chain.contracts["Minter"], b"\x01" * 20).revert_reason == ""


def test_unaffordable_value_is_reported_not_raised(chain):
    res = chain.fund_deposit(chain.key("gateway"), 10**30)
    assert not res.ok and res.tx_hash is None and "nsufficient funds" in res.revert_reason


def test_eth_usd_feed_and_a_chain_without_one(chain):
    from fractions import Fraction

    feed = chain.eth_usd()
    assert (feed.usd_per_eth, feed.decimals, feed.round_id) == (Fraction(3000), 8, 1)
    assert chain._view("EthUsdPriceFeed", "description") == "ETH / USD"
    assert chain._view("EthUsdPriceFeed", "version") == 4
    assert chain.set_eth_usd(3100, updated_at=1_650_000_000).ok
    assert chain.eth_usd() == type(feed)(usd_per_eth=Fraction(3100), updated_at=1_650_000_000, decimals=8, round_id=2)
    assert chain._view("EthUsdPriceFeed", "getRoundData", 1)[1] == 3000 * 10**8  # earlier rounds stay readable
    with pytest.raises(devnet.ChainError, match="No data present"):
        chain._view("EthUsdPriceFeed", "getRoundData", 7)
    feed_addr = chain.contracts.pop("EthUsdPriceFeed")
    try:
        with pytest.raises(devnet.ChainError, match="no ETH/USD price feed") as ei:
            chain.eth_usd()
        # what to do about it, in terms that exist (no made-up parameter)
        assert "register a Chainlink-compatible ETH/USD feed in the Controller" in str(ei.value)
    finally:
        chain.contracts["EthUsdPriceFeed"] = feed_addr
