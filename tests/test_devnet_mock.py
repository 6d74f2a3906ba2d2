"""Unit tests of the mock chain (devnet/backends/mock.py) against docs/chain.md.

Every expected value here comes from the doc (revert strings, check order, event order, the reserve allocation
formula), not from running the mock.
"""
from __future__ import annotations

import threading

import pytest

import devnet
from devnet.backends.mock import DEFAULT_GAS_PRICE, GAS, INITIAL_BALANCE, MockChain, create_address
from devnet.base import ChainError, TxResult
from devnet.config import ETHER, DevnetConfig
from sim.chainview import ChainView
from sim.pm.crypto import SECP256K1_N, keccak, private_key_to_address, to_checksum_address
from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

E = ETHER


# ------------------------------------------------------------------------------------------------ helpers
def addr(chain, role: str) -> bytes:
    return bytes.fromhex(chain.address(role)[2:])


class RawTicket:
    """A ticket whose auxData is given as raw bytes (to send a malformed one)."""

    def __init__(self, t: Ticket, aux: bytes) -> None:
        for f in ("recipient", "sender", "face_value", "win_prob", "sender_nonce", "recipient_rand_hash"):
            setattr(self, f, getattr(t, f))
        self.aux_data = aux


_nonce = iter(range(1, 10**9))


def make_ticket(chain, *, face_value: int = E, win_prob: int = MAX_WIN_PROB, sender: str = "sender",
                recipient: str = "orchestrator", rand: int = 12345, creation_round: int | None = None,
                block_hash: bytes | None = None, signer: str | None = None, nonce: int | None = None):
    """(ticket, sig, rand) for the last initialized round, signed by ``signer`` (default: the sender)."""
    rnd = chain.last_initialized_round() if creation_round is None else creation_round
    h = chain.block_hash_for_round(rnd) if block_hash is None else block_hash
    t = Ticket(recipient=addr(chain, recipient), sender=addr(chain, sender), face_value=face_value,
               win_prob=win_prob, sender_nonce=next(_nonce) if nonce is None else nonce,
               recipient_rand_hash=keccak(u256(rand)), creation_round=rnd, creation_round_block_hash=h)
    return t, t.sign(chain.key(signer or sender)), rand


def redeem(chain, t, sig, rand, by: str = "orchestrator") -> TxResult:
    return chain.redeem_winning_ticket(t, sig, rand, from_key=chain.key(by))


def names(r: TxResult) -> list[str]:
    return [e["event"] for e in r.events]


def fresh(**cfg) -> MockChain:
    """Set-up chain: round initialized, orchestrator active, sender funded 100/100 ETH."""
    return devnet.open_chain("mock", config=DevnetConfig(**cfg))


def empty_sender(**cfg) -> MockChain:
    return fresh(senders=(), **cfg)


def ensure_room(chain, blocks: int = 3) -> None:
    """Make sure the next ``blocks`` transactions stay in the current (initialized) round."""
    L = chain.config.round_length
    if (chain.last_block() % L) + blocks >= L:
        chain.advance_round()


@pytest.fixture
def chain():
    c = fresh()
    ensure_room(c, 8)
    yield c
    c.close()


# ------------------------------------------------------------------------------------------------ setup, API
def test_open_chain_dispatches_mock_and_is_a_chainview(chain):
    assert isinstance(chain, MockChain) and chain.backend == "mock"
    assert isinstance(chain, ChainView)
    assert set(chain.contracts) >= {"Controller", "TicketBroker", "RoundsManager", "BondingManager", "Minter"}
    # JobsManager is the broker itself (the Minter only deals with it, docs/chain.md#how-the-contracts-find-each-other)
    assert chain.contracts["JobsManager"] == chain.contracts["TicketBroker"]
    assert chain.get_contract("TicketBroker") == chain.contracts["TicketBroker"]
    assert chain.get_contract("NoSuchContract") == "0x" + "00" * 20
    assert [a["role"] for a in chain.accounts][:3] == ["deployer", "orchestrator", "sender"]


def test_contract_addresses_are_create_addresses_of_the_deployer():
    from devnet.layout import DEPLOY_ORDER, REGISTRY

    c = MockChain(setup=False)
    deployer = addr(c, "deployer")
    nonce = {name: i for i, (name, _, _) in enumerate(DEPLOY_ORDER)}
    for reg, name in REGISTRY:  # proxies under the names, targets under "<name>Target", as on Arbitrum One
        assert c.contracts[reg] == to_checksum_address(create_address(deployer, nonce[name])), reg
    assert c.contracts["JobsManager"] == c.contracts["TicketBroker"] != c.contracts["TicketBrokerTarget"]
    # anvil's well-known first deployment address from account 0
    assert c.contracts["Controller"] == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_setup_state(chain):
    cfg = chain.config
    assert chain.current_round() == chain.last_initialized_round() >= 2
    assert chain.is_active_transcoder(addr(chain, "orchestrator"))
    assert chain.transcoder_pool_size() == 1
    info = chain.sender_info(addr(chain, "sender"))
    assert (info.deposit, info.reserve, info.withdraw_round) == (cfg.sender_deposit, cfg.sender_reserve, 0)
    assert chain.unlock_period() == 2 and chain.ticket_validity_period() == 2
    assert chain.eth_balance(bytes.fromhex(chain.contracts["Minter"][2:])) == cfg.sender_deposit + cfg.sender_reserve
    assert chain.block_hash_for_round(chain.current_round()) != b"\x00" * 32
    assert chain.block_hash_for_round(chain.current_round() + 5) == b"\x00" * 32


def test_system_starts_paused_without_setup():
    c = MockChain(setup=False)
    k = c.key("sender")
    r = c.fund_deposit(k, E)
    assert (r.ok, r.revert_reason) == (False, "system is paused")
    r = c.initialize_round(k)
    assert r.revert_reason == "system is paused"
    # unpause is owner-only with a bare require -> empty revert data
    assert c.unpause(k).revert_reason == ""
    assert c.unpause(c.key("deployer")).ok
    assert c.unpause(c.key("deployer")).revert_reason == ""  # already unpaused


def test_pause_blocks_everything_and_is_owner_only(chain):
    assert chain.pause(chain.key("sender")).revert_reason == ""
    r = chain.pause(chain.key("deployer"))
    assert r.ok and names(r) == ["Pause"]
    t, sig, rand = make_ticket(chain)
    for res in (chain.fund_deposit(chain.key("sender"), 1), chain.fund_reserve(chain.key("sender"), 1),
                chain.fund_deposit_and_reserve(chain.key("sender"), 1, 1, value=5),  # pause beats value check
                chain.unlock(chain.key("sender")), chain.cancel_unlock(chain.key("sender")),
                chain.withdraw(chain.key("sender")), redeem(chain, t, sig, rand),
                chain.withdraw_fees(chain.key("orchestrator"))):
        assert (res.ok, res.revert_reason) == (False, "system is paused")


def test_reverted_tx_changes_nothing_and_is_not_mined(chain):
    """Like the EVM backends (simulate in the pending block, send only if it passes)."""
    s = addr(chain, "sender")
    before = chain.sender_info(s)
    bal = chain.eth_balance(s)
    block = chain.last_block()
    r = chain.fund_deposit_and_reserve(chain.key("sender"), E, E, value=3 * E)
    assert (r.ok, r.tx_hash, r.gas_used, r.events, r.block) == (False, None, 0, [], block)
    assert chain.sender_info(s) == before and chain.eth_balance(s) == bal and chain.last_block() == block
    ok = chain.fund_deposit(chain.key("sender"), E)
    assert ok.block == block + 1 and ok.tx_hash.startswith("0x") and ok.gas_used > 0
    assert chain.eth_balance(s) == bal - E - ok.gas_used * DEFAULT_GAS_PRICE


def test_round_rules():
    c = fresh(round_length=10)
    k = c.key("deployer")
    r = c.initialize_round(k)
    assert r.revert_reason == "round already initialized"
    # a transaction sent at the last block of a round runs in the next round's first block
    c.mine(9 - c.last_block() % 10)
    assert c.current_round() == c.last_initialized_round()
    rnd0 = c.current_round()
    r = c.initialize_round(k)
    assert r.ok and r.events[-1]["args"]["round"] == rnd0 + 1 and r.block % 10 == 0
    c.mine(10)
    assert c.current_round() == c.last_initialized_round() + 1
    res = c.advance_round()
    assert res["to_round"] == res["from_round"] + 1 or res["to_round"] == res["from_round"]
    rnd = c.current_round()
    assert c.last_initialized_round() == rnd
    # the stored hash is the hash of the block before the initializeRound transaction
    init_block = res["to_block"]
    assert res["events"] == [  # the Minter's reward tokens for the round (none on the devnet), then the round
        {"event": "SetCurrentRewardTokens", "args": {"currentMintableTokens": 0, "currentInflation": 0}},
        {"event": "NewRound", "args": {"round": rnd, "blockHash": "0x" + c._block_hash(init_block - 1).hex()}}]
    assert c.current_round() == c.last_block() // 10


def test_round_zero_cannot_be_initialized():
    c = MockChain(DevnetConfig(round_length=1000), setup=False)
    dk = c.key("deployer")
    assert c.set_round_length(dk, 1000).ok and c.unpause(dk).ok
    assert c.current_round() == 0
    assert c.initialize_round(dk).revert_reason == "round already initialized"


def test_mine_summary_states_consequence(chain):
    b = chain.last_block()
    res = chain.mine(40)
    assert res["from_block"] == b and res["to_block"] == b + 40 == chain.last_block()
    assert f"{b} -> {b + 40}" in res["summary"] and "expire at B+40" in res["summary"]
    assert f"params issued at or before block {b + 1} are now expired" in res["summary"]
    with pytest.raises(ValueError):
        chain.mine(-1)


# ------------------------------------------------------------------------------------------------ checks
# docs/chain.md#what-the-ticketbroker-checks-in-order
def test_redeem_check_order_each_revert_string():
    """Every redemption revert string, each triggered by a ticket whose only defect is that one."""
    c = fresh(round_length=50)
    ensure_room(c, 30)
    rnd = c.last_initialized_round()

    def expect(reason, t, sig, rand):
        r = redeem(c, t, sig, rand)
        assert (r.ok, r.revert_reason) == (False, reason), reason

    t, sig, rand = make_ticket(c)
    expect("ticket recipient is null address", *_with(t, sig, rand, c, recipient=b"\x00" * 20))
    expect("ticket sender is null address", *_with(t, sig, rand, c, sender=b"\x00" * 20))
    expect("invalid length for ticket auxData: must be 64 bytes", RawTicket(t, t.aux_data[:63]), sig, rand)
    expect("invalid length for ticket auxData: must be 64 bytes", RawTicket(t, b""), sig, rand)
    expect("ticket creationRound does not have a block hash", *make_ticket(c, creation_round=rnd + 1,
                                                                          block_hash=b"\x01" * 32))
    expect("ticket creationRoundBlockHash invalid for creationRound", *make_ticket(c, block_hash=b"\x02" * 32))
    expect("recipientRand does not match recipientRandHash", t, sig, rand + 1)
    # signature checks
    expect("INVALID_SIGNATURE_LENGTH", t, sig[:64], rand)
    expect("INVALID_SIGNATURE_LENGTH", t, sig + b"\x00", rand)
    high_s = sig[:32] + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + bytes([55 - sig[64]])
    expect("ECDSA: invalid signature 's' value", t, high_s, rand)
    expect("ECDSA: invalid signature 'v' value", t, sig[:64] + b"\x01", rand)
    expect("ECDSA: invalid signature 'v' value", t, sig[:64] + b"\x00", rand)
    expect("ECDSA: invalid signature", t, b"\x00" * 32 + sig[32:], rand)
    expect("invalid signature over ticket hash", *make_ticket(c, signer="gateway"))
    expect("ticket did not win", *make_ticket(c, win_prob=0))
    # valid, then replayed
    r = redeem(c, t, sig, rand)
    assert r.ok, r
    expect("ticket is used", t, sig, rand)
    assert c.is_used_ticket(t.hash())


def _with(t: Ticket, sig, rand, chain, **changes):
    from dataclasses import replace
    return replace(t, **changes), sig, rand


def test_expired_ticket_validity_window():
    """A ticket created in round R is redeemable in R and R+1, expired in R+2 (step 6)."""
    c = fresh(round_length=10)
    r0 = c.last_initialized_round()
    t1 = make_ticket(c)
    t2 = make_ticket(c)
    c.advance_round()
    assert c.current_round() == r0 + 1
    assert redeem(c, *t1).ok
    c.advance_round()
    assert c.current_round() == r0 + 2
    r = redeem(c, *t2)
    assert r.revert_reason == "ticket is expired"


def test_round_not_initialized_beats_ticket_checks():
    c = fresh(round_length=10)
    c.mine(10)
    assert c.current_round() != c.last_initialized_round()
    t, sig, rand = make_ticket(c)
    bad = _with(t, sig, rand, c, recipient=b"\x00" * 20)
    assert redeem(c, *bad).revert_reason == "current round is not initialized"


def test_pairwise_order(chain):
    """Two defects: the earlier check wins."""
    c = chain
    t, sig, rand = make_ticket(c, win_prob=0)
    # null recipient (4) before auxData (6)
    assert redeem(c, *_with(t, sig, rand, c, recipient=b"\x00" * 20,
                            creation_round_block_hash=b"\x05" * 32)).revert_reason == "ticket recipient is null address"
    # auxData (6) before recipientRand (7)
    assert redeem(c, RawTicket(t, b"\x00" * 10), sig, rand + 1).revert_reason.startswith("invalid length")
    # recipientRand (7) before signature (9)
    assert redeem(c, t, sig[:10], rand + 1).revert_reason == "recipientRand does not match recipientRandHash"
    # signature (9) before win test (10)
    assert redeem(c, t, sig[:64] + b"\x05", rand).revert_reason == "ECDSA: invalid signature 'v' value"
    # "ticket is used" (8) comes before the signature checks (9)
    good, gsig, grand = make_ticket(c)
    assert redeem(c, good, gsig, grand).ok
    assert redeem(c, good, gsig[:64], grand).revert_reason == "ticket is used"
    # win test (10) before "sender is unlocked" (11): make the sender unlocked, send a losing ticket
    assert c.unlock(c.key("sender")).ok
    c.advance_round(); c.advance_round()
    lose, lsig, lrand = make_ticket(c, win_prob=0)
    assert redeem(c, lose, lsig, lrand).revert_reason == "ticket did not win"
    win, wsig, wrand = make_ticket(c)
    assert redeem(c, win, wsig, wrand).revert_reason == "sender is unlocked"


def test_sender_with_nothing_and_unlocked_order():
    c = empty_sender()
    ensure_room(c, 5)
    t, sig, rand = make_ticket(c)
    r = redeem(c, t, sig, rand)
    assert r.revert_reason == "sender deposit and reserve are zero"
    assert not c.is_used_ticket(t.hash())  # reverted: the ticket is not consumed


# ------------------------------------------------------------------------------------------------ payment
def test_deposit_then_reserve_and_event_order():
    c = fresh(round_length=50, sender_deposit=3 * E, sender_reserve=10 * E)
    ensure_room(c, 10)
    s, o = addr(c, "sender"), addr(c, "orchestrator")
    S, O = to_checksum_address(s), to_checksum_address(o)
    # F <= D (non-strict): paid from the deposit only
    t, sig, rand = make_ticket(c, face_value=3 * E - E)
    r = redeem(c, t, sig, rand)
    assert names(r) == ["WinningTicketTransfer", "WinningTicketRedeemed"]
    assert r.events[0]["args"] == {"sender": S, "recipient": O, "amount": 2 * E}
    assert r.events[1]["args"] == {"sender": S, "recipient": O, "faceValue": 2 * E, "winProb": MAX_WIN_PROB,
                                   "senderNonce": t.sender_nonce, "recipientRand": rand,
                                   "auxData": "0x" + t.aux_data.hex()}
    t, sig, rand = make_ticket(c, face_value=E)  # exactly the remaining deposit
    assert names(redeem(c, t, sig, rand)) == ["WinningTicketTransfer", "WinningTicketRedeemed"]
    assert c.sender_info(s).deposit == 0
    c.fund_deposit(c.key("sender"), E)
    # F > D: deposit + claim from reserve
    t, sig, rand = make_ticket(c, face_value=4 * E)
    r = redeem(c, t, sig, rand)
    assert names(r) == ["ReserveClaimed", "WinningTicketTransfer", "WinningTicketRedeemed"]
    assert r.events[0]["args"] == {"reserveHolder": S, "claimant": O, "amount": 3 * E}
    assert r.events[1]["args"]["amount"] == 4 * E
    info = c.sender_info(s)
    assert (info.deposit, info.reserve, info.claimed_in_current_round) == (0, 7 * E, 3 * E)
    assert c.reserve_info(s) == (7 * E, 3 * E)
    assert c.claimed_reserve(s, o) == 3 * E
    assert c.pending_fees(o) == 2 * E + E + 4 * E
    # the reserve cannot cover the rest: the recipient gets less, nothing reverts, ticket used
    t, sig, rand = make_ticket(c, face_value=100 * E)
    r = redeem(c, t, sig, rand)
    assert r.ok and r.events[0]["args"]["amount"] == 7 * E and r.events[1]["args"]["amount"] == 7 * E
    assert c.is_used_ticket(t.hash())
    # nothing left: "sender deposit and reserve are zero"
    t, sig, rand = make_ticket(c)
    assert redeem(c, t, sig, rand).revert_reason == "sender deposit and reserve are zero"


def test_zero_face_value_pays_nothing_and_consumes_ticket(chain):
    t, sig, rand = make_ticket(chain, face_value=0)
    r = redeem(chain, t, sig, rand)
    assert r.ok and names(r) == ["WinningTicketRedeemed"]
    assert chain.is_used_ticket(t.hash())


def test_reserve_allocation_is_split_across_pool_and_capped():
    """claimable = (funds + claimedForRound) / poolSize − claimedByAddress, per round
    (docs/chain.md#deposit-and-reserve)."""
    c = fresh(round_length=50, transcoders=("orchestrator", "orchestrator2"), sender_deposit=0,
              sender_reserve=10 * E + 1)
    ensure_room(c, 20)
    s, o1, o2 = addr(c, "sender"), addr(c, "orchestrator"), addr(c, "orchestrator2")
    assert c.transcoder_pool_size() == 2
    share = (10 * E + 1) // 2
    assert c.claimable_reserve(s, o1) == share == c.claimable_reserve(s, o2)
    t, sig, rand = make_ticket(c, face_value=2 * E)
    r = redeem(c, t, sig, rand)
    assert r.events[0]["args"]["amount"] == 2 * E
    assert c.claimable_reserve(s, o1) == share - 2 * E  # (funds + claimed)/2 unchanged, minus own claim
    assert c.claimable_reserve(s, o2) == share
    # cap: a huge ticket pays only the remaining allocation
    t, sig, rand = make_ticket(c, face_value=50 * E)
    r = redeem(c, t, sig, rand)
    assert r.ok and r.events[0]["args"]["amount"] == share - 2 * E
    assert c.claimable_reserve(s, o1) == 0
    # capped at 0: still used, only WinningTicketRedeemed
    t, sig, rand = make_ticket(c, face_value=E)
    r = redeem(c, t, sig, rand)
    assert r.ok and names(r) == ["WinningTicketRedeemed"] and c.is_used_ticket(t.hash())
    # orchestrator2 still gets its full share
    t, sig, rand = make_ticket(c, face_value=50 * E, recipient="orchestrator2")
    assert redeem(c, t, sig, rand, by="orchestrator2").events[0]["args"]["amount"] == share
    assert c.sender_info(s).reserve == 10 * E + 1 - 2 * share
    # next round: allocations reset over what is left
    c.advance_round()
    assert c.claimable_reserve(s, o1) == 1 // 2 == 0
    assert c.sender_info(s).claimed_in_current_round == 0


def test_pool_growth_mid_round_panics():
    c = fresh(round_length=50, sender_deposit=0, sender_reserve=10 * E)
    ensure_room(c, 10)
    s, o = addr(c, "sender"), addr(c, "orchestrator")
    t, sig, rand = make_ticket(c, face_value=8 * E)
    assert redeem(c, t, sig, rand).events[0]["args"]["amount"] == 8 * E
    assert c.bond_and_register(c.key("orchestrator2")).ok  # pool 2, active only next round
    assert c.transcoder_pool_size() == 2 and not c.is_active_transcoder(addr(c, "orchestrator2"))
    # (2 + 8) / 2 - 8 underflows
    with pytest.raises(ChainError, match=r"Panic\(0x11\)"):
        c.claimable_reserve(s, o)
    c.fund_deposit(c.key("sender"), 0)  # deposit 0: the redemption must touch the reserve
    t, sig, rand = make_ticket(c, face_value=E)
    assert redeem(c, t, sig, rand).revert_reason == "Panic(0x11)"


def test_recipient_not_registered_or_not_active():
    c = fresh(round_length=50)
    ensure_room(c, 10)
    # not registered, paid from the deposit -> BondingManager reverts
    t, sig, rand = make_ticket(c, recipient="gateway")
    assert redeem(c, t, sig, rand).revert_reason == "transcoder must be registered"
    # registered this round, not yet active: division by zero
    assert c.bond_and_register(c.key("orchestrator2")).ok
    t, sig, rand = make_ticket(c, recipient="orchestrator2")
    assert redeem(c, t, sig, rand).revert_reason == "Panic(0x12)"
    c.advance_round()
    t, sig, rand = make_ticket(c, recipient="orchestrator2")
    assert redeem(c, t, sig, rand).ok


def test_register_transcoder_events_and_idempotence():
    c = fresh(round_length=50)
    ensure_room(c, 5)
    k, A = c.key("orchestrator2"), c.address("orchestrator2")
    # transcoder() needs a self-bond (the protocol's "registered")
    assert c.register_transcoder(k).revert_reason == "transcoder must be registered"
    assert c.lpt_approve(k, 10 * E).ok
    r = c.bond(k, 10 * E, addr(c, "orchestrator2"))
    # bonding to yourself puts you in the pool at once (active next round), before any transcoder() call
    assert names(r) == ["EarningsClaimed", "TranscoderActivated", "Transfer", "Approval", "Bond", "DelegateChanged",
                        "DelegateVotesChanged", "DelegatorBondedAmountChanged"]
    assert r.events[1]["args"] == {"transcoder": A, "activationRound": c.current_round() + 1}
    r = c.register_transcoder(k, 200_000, 300_000)
    assert r.events == [
        {"event": "TranscoderUpdate", "args": {"transcoder": A, "rewardCut": 200_000, "feeShare": 300_000}}]
    assert names(c.register_transcoder(k)) == ["TranscoderUpdate"]
    assert c.transcoder_pool_size() == 2
    assert c.register_transcoder(k, 1_000_001).revert_reason == "invalid rewardCut percentage"
    assert c.register_transcoder(k, 0, 1_000_001).revert_reason == "invalid feeShare percentage"


def test_withdraw_fees_pays_from_minter(chain):
    o = addr(chain, "orchestrator")
    minter = bytes.fromhex(chain.contracts["Minter"][2:])
    t, sig, rand = make_ticket(chain, face_value=5 * E)
    assert redeem(chain, t, sig, rand, by="gateway").ok  # anyone may submit
    assert chain.pending_fees(o) == 5 * E
    m0, b0 = chain.eth_balance(minter), chain.eth_balance(o)
    r = chain.withdraw_fees(chain.key("orchestrator"))
    assert r.ok and names(r) == ["EarningsClaimed", "WithdrawFees", "DelegatorBondedAmountChanged"]
    assert r.events[1] == {"event": "WithdrawFees", "args": {
        "delegator": chain.address("orchestrator"), "recipient": chain.address("orchestrator"), "amount": 5 * E}}
    assert chain.eth_balance(minter) == m0 - 5 * E
    assert chain.eth_balance(o) == b0 + 5 * E - r.gas_used * DEFAULT_GAS_PRICE
    assert chain.pending_fees(o) == 0
    assert chain.withdraw_fees(chain.key("orchestrator"), amount=1).revert_reason == "insufficient fees to withdraw"


# ------------------------------------------------------------------------------------------------ funding
def test_funding_events_and_minter_custody():
    c = empty_sender(round_length=50)
    k, s = c.key("sender"), addr(c, "sender")
    S = c.address("sender")
    minter = bytes.fromhex(c.contracts["Minter"][2:])
    broker = bytes.fromhex(c.contracts["TicketBroker"][2:])
    m0, b0 = c.eth_balance(minter), c.eth_balance(s)
    r = c.fund_deposit_and_reserve(k, 2 * E, 3 * E)
    assert r.events == [{"event": "ReserveFunded", "args": {"reserveHolder": S, "amount": 3 * E}},
                        {"event": "DepositFunded", "args": {"sender": S, "amount": 2 * E}}]
    assert c.eth_balance(minter) == m0 + 5 * E and c.eth_balance(broker) == 0
    assert c.eth_balance(s) == b0 - 5 * E - r.gas_used * DEFAULT_GAS_PRICE
    assert c.fund_deposit_and_reserve(k, E, E, value=E).revert_reason == \
        "msg.value does not equal sum of deposit amount and reserve amount"
    assert names(c.fund_deposit(k, E)) == ["DepositFunded"]
    assert names(c.fund_reserve(k, E)) == ["ReserveFunded"]
    assert names(c.fund_deposit(k, 0)) == ["DepositFunded"]  # zero-value funding is not rejected
    info = c.sender_info(s)
    assert (info.deposit, info.reserve) == (3 * E, 4 * E)


def test_insufficient_eth_is_refused_not_mined():
    c = empty_sender()
    b = c.last_block()
    with pytest.raises(ChainError, match="insufficient funds"):
        c.fund_deposit(c.key("sender"), INITIAL_BALANCE)
    assert c.last_block() == b


@pytest.mark.parametrize("fund", ["deposit", "reserve", "both"])
def test_self_funding_cancels_own_unlock_in_doc_order(fund):
    c = fresh(round_length=50)
    k, S = c.key("sender"), c.address("sender")
    assert c.unlock(k).ok
    r = {"deposit": lambda: c.fund_deposit(k, E), "reserve": lambda: c.fund_reserve(k, E),
         "both": lambda: c.fund_deposit_and_reserve(k, E, E)}[fund]()
    expected = {"deposit": ["UnlockCancelled", "DepositFunded"],
                "reserve": ["ReserveFunded", "UnlockCancelled"],
                "both": ["UnlockCancelled", "ReserveFunded", "DepositFunded"]}[fund]
    assert names(r) == expected
    assert {"event": "UnlockCancelled", "args": {"sender": S}} in r.events
    assert not c.is_unlock_in_progress(addr(c, "sender"))


def test_third_party_funding_does_not_cancel_unlock():
    c = fresh(round_length=50)
    s = addr(c, "sender")
    assert c.unlock(c.key("sender")).ok
    r = c.fund_deposit_and_reserve_for(c.key("gateway"), s, E, 2 * E)
    assert names(r) == ["ReserveFunded", "DepositFunded"]
    assert r.events[1]["args"] == {"sender": c.address("sender"), "amount": E}
    assert c.is_unlock_in_progress(s)
    assert c.sender_info(s).deposit == c.config.sender_deposit + E


def test_unlock_cancel_withdraw():
    c = fresh(round_length=50)
    ensure_room(c, 5)
    k, s = c.key("sender"), addr(c, "sender")
    assert c.cancel_unlock(k).revert_reason == "no unlock request in progress"
    assert c.withdraw(k).revert_reason == "no unlock request in progress"
    rnd = c.current_round()
    r = c.unlock(k)
    assert r.events == [{"event": "Unlock", "args": {"sender": c.address("sender"), "startRound": rnd,
                                                     "endRound": rnd + 2}}]
    assert c.sender_info(s).withdraw_round == rnd + 2
    assert c.unlock(k).revert_reason == "unlock already initiated"
    assert c.withdraw(k).revert_reason == "account is locked"
    r = c.cancel_unlock(k)
    assert names(r) == ["UnlockCancelled"] and c.sender_info(s).withdraw_round == 0
    assert c.unlock(k).ok
    # still locked during the unlock period: tickets redeemable in round withdrawRound - 1
    c.advance_round()
    t, sig, rand = make_ticket(c, face_value=E)
    assert redeem(c, t, sig, rand).ok
    assert c.withdraw(k).revert_reason == "account is locked"
    c.advance_round()
    assert c.current_round() == rnd + 2
    t, sig, rand = make_ticket(c, face_value=E)
    assert redeem(c, t, sig, rand).revert_reason == "sender is unlocked"
    minter = bytes.fromhex(c.contracts["Minter"][2:])
    m0, b0 = c.eth_balance(minter), c.eth_balance(s)
    dep, res = c.sender_info(s).deposit, c.sender_info(s).reserve
    r = c.withdraw(k)
    assert r.events == [{"event": "Withdrawal", "args": {"sender": c.address("sender"), "deposit": dep,
                                                         "reserve": res}}]
    assert c.eth_balance(minter) == m0 - dep - res
    assert c.eth_balance(s) == b0 + dep + res - r.gas_used * DEFAULT_GAS_PRICE
    # withdraw leaves withdrawRound set
    info = c.sender_info(s)
    assert (info.deposit, info.reserve, info.withdraw_round) == (0, 0, rnd + 2)
    assert c.is_unlock_in_progress(s)
    assert c.withdraw(k).revert_reason == "sender deposit and reserve are zero"
    assert c.unlock(k).revert_reason == "sender deposit and reserve are zero"
    # a third party re-funds: still unlocked, tickets fail
    assert c.fund_deposit_and_reserve_for(c.key("gateway"), s, E, E).ok
    assert c.unlock(k).revert_reason == "unlock already initiated"
    t, sig, rand = make_ticket(c, face_value=E)
    assert redeem(c, t, sig, rand).revert_reason == "sender is unlocked"
    # self-funding cancels the stale unlock
    assert names(c.fund_deposit(k, E)) == ["UnlockCancelled", "DepositFunded"]
    assert redeem(c, t, sig, rand).ok


def test_unlock_with_only_reserve(chain):
    c = empty_sender(round_length=50)
    k = c.key("sender")
    assert c.unlock(k).revert_reason == "sender deposit and reserve are zero"
    assert c.fund_reserve(k, 1).ok
    assert c.unlock(k).ok


# ------------------------------------------------------------------------------------------------ batch
def test_batch_redeem_ignores_failures(chain):
    c = chain
    good = make_ticket(c, face_value=E)
    lose = make_ticket(c, win_prob=0)
    good2 = make_ticket(c, face_value=2 * E)
    ts, sigs, rands = zip(good, lose, good2)
    r = c.batch_redeem_winning_tickets(list(ts), list(sigs), list(rands), from_key=c.key("orchestrator"))
    assert r.ok
    assert names(r) == ["WinningTicketTransfer", "WinningTicketRedeemed"] * 2
    assert [e["args"]["amount"] for e in r.events[::2]] == [E, 2 * E]
    assert c.is_used_ticket(good[0].hash()) and not c.is_used_ticket(lose[0].hash())
    # short arrays: out-of-bounds panic, whole batch reverted
    g3 = make_ticket(c)
    r = c.batch_redeem_winning_tickets([g3[0], good[0]], [g3[1]], [g3[2], good[2]], from_key=c.key("orchestrator"))
    assert r.revert_reason == "Panic(0x32)" and not c.is_used_ticket(g3[0].hash())


def test_ticket_hash_matches_core(chain):
    t, _, _ = make_ticket(chain)
    assert chain.get_ticket_hash(t) == t.hash()


# ------------------------------------------------------------------------------------------------ infra
def test_snapshot_revert(chain):
    s = addr(chain, "sender")
    info, block = chain.sender_info(s), chain.last_block()
    sid = chain.snapshot()
    t, sig, rand = make_ticket(chain)
    assert redeem(chain, t, sig, rand).ok
    chain.mine(100)
    res = chain.revert(sid)
    assert res["to_block"] == block and chain.last_block() == block
    assert chain.sender_info(s) == info and not chain.is_used_ticket(t.hash())
    with pytest.raises(ChainError, match="snapshot"):
        chain.revert(sid)


def test_deterministic_hashes():
    a, b = fresh(), fresh()
    ra = a.fund_deposit(a.key("sender"), 1)
    rb = b.fund_deposit(b.key("sender"), 1)
    assert ra.tx_hash == rb.tx_hash
    assert a.block_hash_for_round(a.current_round()) == b.block_hash_for_round(b.current_round())
    c = MockChain(DevnetConfig(), seed=b"other")
    assert c.block_hash_for_round(c.current_round()) != a.block_hash_for_round(a.current_round())


def test_thread_safety():
    c = empty_sender(round_length=1000)
    keys = [c.key(r) for r in ("sender", "sender2", "gateway")]

    def work(k):
        for _ in range(50):
            assert c.fund_deposit(k, 1).ok

    threads = [threading.Thread(target=work, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in keys:
        assert c.sender_info(private_key_to_address(k)).deposit == 50
    minter = bytes.fromhex(c.contracts["Minter"][2:])
    assert c.eth_balance(minter) == 150


def test_bad_input_is_a_clear_error(chain):
    with pytest.raises(ValueError, match="20-byte"):
        chain.sender_info(b"\x01" * 19)
    with pytest.raises(ValueError, match="uint256"):
        chain.fund_deposit(chain.key("sender"), -1)
    with pytest.raises(ValueError, match="32-byte"):
        chain.fund_deposit(b"short", 1)
    chain.close()
    with pytest.raises(ChainError, match="closed"):
        chain.last_block()


def test_gas_model_is_the_documented_constant(chain):
    r = chain.fund_deposit(chain.key("sender"), 1)
    assert r.gas_used == GAS["fundDeposit"]


def test_registry_caller_checks():
    """The Minter only deals with "JobsManager"; fees only from "TicketBroker"."""
    c = fresh(round_length=50)
    ensure_room(c, 10)
    dk, k = c.key("deployer"), c.key("sender")
    broker = bytes.fromhex(c.contracts["TicketBroker"][2:])
    assert c.set_contract_info(k, "JobsManager", b"\x09" * 20).revert_reason == ""  # owner only, bare require
    r = c.set_contract_info(dk, "JobsManager", b"\x09" * 20)
    assert r.ok and r.events[0]["event"] == "SetContractInfo"
    assert c.fund_deposit(k, E).revert_reason == "msg.sender not Minter or JobsManager"
    assert c.unlock(k).ok
    c.advance_round(); c.advance_round()
    assert c.withdraw(k).revert_reason == "msg.sender not BondingManager or JobsManager"
    assert c.set_contract_info(dk, "JobsManager", broker).ok
    assert c.set_contract_info(dk, "TicketBroker", b"\x09" * 20).ok
    assert c.fund_deposit(k, E).ok  # self-funding cancels the unlock
    t, sig, rand = make_ticket(c)
    assert redeem(c, t, sig, rand).revert_reason == "caller must be TicketBroker"


# ------------------------------------------------------------------------------------------------ ETH/USD feed
def test_eth_usd_feed_is_deterministic_and_can_go_stale():
    """The mock stamps block N genesis + N seconds, so the feed's updatedAt repeats run to run; a stale round is
    the same price with updatedAt in the past (what `lpdev chain eth-usd --stale` sends)."""
    from fractions import Fraction

    c = MockChain(genesis_timestamp=1_700_000_000)
    feed = c.eth_usd()
    assert (feed.usd_per_eth, feed.decimals, feed.round_id) == (Fraction(3000), 8, 1)
    assert feed.updated_at == MockChain(genesis_timestamp=1_700_000_000).eth_usd().updated_at
    assert 1_700_000_000 < feed.updated_at < c.block_timestamp() == 1_700_000_000 + c.last_block()
    assert feed.wei_per_usd() == Fraction(10**18, 3000)
    r = c.set_eth_usd("2999.99")
    assert r.ok and r.events == [{"event": "AnswerUpdated", "args": {
        "current": 299_999_000_000, "roundId": 2, "updatedAt": c.block_timestamp()}}]
    r = c.make_eth_usd_stale()
    assert r.ok and c.eth_usd().round_id == 3 and c.eth_usd().usd_per_eth == Fraction(299999, 100)
    assert c.block_timestamp() - c.eth_usd().updated_at == 3 * 3600 + 1  # aged from the block before its own
    assert c.set_eth_usd(1, key=c.key("sender")).revert_reason == "only owner"
    with pytest.raises(ValueError, match="more than 8 decimals"):
        c.set_eth_usd("0.000000001")
    with pytest.raises(ValueError, match="must be positive"):
        c.set_eth_usd(-5)


def test_eth_usd_price_is_read_by_the_bounded_parser_without_web3():
    """The price goes through devnet.config.eth_usd_answer (shared by every backend): a huge exponent is refused at
    once (it used to hang building 10^99999999), an answer beyond int256 says it is too large (it used to say "must
    be positive"), and setting the mock's feed loads neither the web3 backend nor eth_abi."""
    import subprocess
    import sys
    import time

    c = MockChain()
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"^bad ETH/USD price: '1e99999999' is out of range$"):
        c.set_eth_usd("1e99999999")
    assert time.monotonic() - t0 < 1
    with pytest.raises(ValueError, match=r"'1e80' is too large: the feed's answer is an int256 with 8 decimals") as ei:
        c.set_eth_usd("1e80")
    assert "positive" not in str(ei.value)
    with pytest.raises(ValueError, match=r"bad ETH/USD price 'abc': give USD per ETH"):
        c.set_eth_usd("abc")
    assert c.eth_usd().round_id == 1  # nothing was sent
    code = ("import sys; from devnet.backends.mock import MockChain; assert MockChain().set_eth_usd('3100.5').ok; "
            "print(sorted(m for m in ('devnet.backends.evm', 'web3', 'eth_abi') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
