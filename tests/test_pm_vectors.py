"""Vectors for sim/pm: verbatim from go-livepeer's own tests, and lpdev's own end-to-end vectors (computed independently
with libsecp256k1; go-livepeer must give the same bytes)."""
from __future__ import annotations

from fractions import Fraction

import pytest

from sim.pm import crypto
from sim.pm import _secp256k1_pure as pure
from sim.pm.accounting import (
    BillingError, LivePaymentProcessor, MaxPriceError, balance_update, billable_units, parse_max_price,
    stage_update,
)
from sim.pm.crypto import SignatureError, keccak, private_key_to_address, to_checksum_address
from sim.pm.money import float_string, parse_rat, rat_string
from sim.pm.params import (
    InsufficientSenderReserve, RecipientConfig, TicketParams, auth_token, face_value, price_with_overhead,
    recipient_rand, recipient_rand_hash, tx_cost_multiplier, win_prob,
)
from sim.pm.sender import (
    NonceSessions, SenderInfo, SenderLimits, TicketParamsError, TicketParamsExpired, create_ticket_batch,
    validate_ticket_params,
)
from sim.pm.ticket import MAX_WIN_PROB, Ticket, aux_data, is_winning_ticket, ticket_ev, win_prob_rat, win_value

M = MAX_WIN_PROB
KEY = bytes.fromhex("fad9c8855b740a0b7ed4c221dbad0f33a83a49cad6b3fe8d5817ac83d38b6a19")
KEY_ADDR = "0x96216849c49358B10257cb55b28eA603c874b05E"
RECIPIENT = bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F")
H41 = bytes.fromhex("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d")


def T(**kw) -> Ticket:
    base = dict(recipient=b"", sender=b"", face_value=0, win_prob=0, sender_nonce=0, recipient_rand_hash=b"")
    base.update(kw)
    return Ticket(**base)


# ---- ticket hashes (go-livepeer pm/ticket_test.go TestHash) ------------------------------------------------
@pytest.mark.parametrize("fields,expected", [
    (dict(sender_nonce=4294967295), "e1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280"),
    (dict(sender_nonce=1), "ce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68"),
    (dict(face_value=1, win_prob=500), "87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd"),
    (dict(face_value=500, win_prob=1), "aa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b"),
    (dict(recipient=RECIPIENT), "81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc"),
    (dict(recipient_rand_hash=H41), "be5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17"),
    (dict(creation_round=10, creation_round_block_hash=H41),
     "e502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2"),
])
def test_ticket_hash_vectors(fields, expected):
    assert T(**fields).hash().hex() == expected


def test_aux_data_vectors():
    blk = bytes.fromhex("7624778dedc75f8b322b9fa1632a610d40b85e106c7d9bf0e743a9ce291b9c6f")
    assert aux_data(0, blk) == b"\x00" * 32 + blk
    assert aux_data(5, b"\x00" * 32) == (5).to_bytes(32, "big") + b"\x00" * 32
    assert aux_data(5, b"") == (5).to_bytes(32, "big") + b"\x00" * 32  # nil hash
    assert aux_data(0, b"\x00" * 32) == b""
    assert aux_data(5, blk) == (5).to_bytes(32, "big") + blk


def test_ev_and_win_prob_rat():
    assert float_string(ticket_ev(1000, M // 2), 0) == "500"
    assert float_string(ticket_ev(1000, 0), 0) == "0"
    assert float_string(ticket_ev(1000, M), 0) == "1000"
    assert float_string(ticket_ev(0, 999), 0) == "0"
    assert float_string(win_prob_rat(M // 2), 1) == "0.5"
    assert float_string(win_prob_rat(M // 4), 2) == "0.25"
    assert float_string(win_prob_rat(0), 0) == "0"
    assert float_string(win_prob_rat(M), 0) == "1"


# ---- ECDSA recover (go-livepeer crypto/verify_test.go) ---------------------------------------------------------
VADDR = bytes.fromhex("3BadDb1eeE2105893136A3F96c8a963E9C6309d6")
VMSG = bytes.fromhex("b7da355477356fc4c47fcabcf232dc77a6db9b07b7e48b76261cc55cc8fbabb3")
VSIG = bytes.fromhex(
    "206443228e8f784bc3a122de0d85eb3ebff82d6a79cca26c7eeb907099a6404f6dff57bc6828f28bd6cd073c89d94cf3364204679ed8365fa45b5ee6af19a9841c")
HIGH_S = bytes.fromhex(
    "e742ff452d41413616a5bf43fe15dd88294e983d3d36206c2712f39083d638bde0a0fc89be718fbc1033e1d30d78be1c68081562ed2e97af876f286f3453231d1b")


def test_recover_vector():
    assert crypto.recover_personal(VMSG, VSIG) == VADDR
    assert crypto.verify_personal(VADDR, VMSG, VSIG)


def test_recover_rejects_with_go_messages():
    with pytest.raises(SignatureError, match="^invalid signature length$"):
        crypto.recover_personal(VMSG, VSIG[:64])
    with pytest.raises(SignatureError, match="^signature s value too high$"):
        crypto.recover_personal(VMSG, HIGH_S)
    with pytest.raises(SignatureError, match="^signature v value must be 27 or 28$"):
        crypto.recover_personal(VMSG, b"\x00" * 64 + bytes([(0 - 27) % 256]))
    assert not crypto.verify_personal(VADDR, VMSG, VSIG[:64])
    # Go's FromHex("foo") decodes leniently to the single byte 0x0f: a different message, a different address.
    assert crypto.recover_personal(b"\x0f", VSIG) != VADDR


# ---- orchestrator ticket params (go-livepeer pm/recipient_test.go TestTicketParams) --------------------------
CFG = RecipientConfig(ev=5, redeem_gas=10000, tx_cost_multiplier=100)


@pytest.mark.parametrize("gas_price,max_float,fv,wp", [
    (100, 10_000_000_000, 100000000,
     5789604461865809771178549250434395392663499233282028201972879200395660),
    (777, 10_000_000_000, 777000000,
     745122839364969082519761808292714979750772102095499125093034646125570),
    (1, 10001, 10001, 57890255593098787833002192285115442382396752657554526567072084795477017120),
])
def test_ticket_params_face_value_and_win_prob(gas_price, max_float, fv, wp):
    got = face_value(CFG, gas_price, max_float)
    assert got == fv
    assert win_prob(CFG.ev, got) == wp


def test_ticket_params_reserve_boundaries():
    with pytest.raises(InsufficientSenderReserve, match="insufficient sender reserve"):
        face_value(CFG, 100, CFG.ev - 1)
    gp = 3_000_000_000 + 1
    tx_cost = CFG.redeem_gas * gp
    face_value(CFG, gp, tx_cost - 1)  # ok: >= redeemGas * 3 gwei
    face_value(CFG, gp, CFG.redeem_gas * 3_000_000_000)
    with pytest.raises(InsufficientSenderReserve):
        face_value(CFG, gp, CFG.redeem_gas * 3_000_000_000 - 1)
    gp = 3_000_000_000 - 1
    tx_cost = CFG.redeem_gas * gp
    face_value(CFG, gp, tx_cost + 1)
    face_value(CFG, gp, tx_cost)
    assert face_value(CFG, 0, 10**30) == CFG.ev * 100
    with pytest.raises(InsufficientSenderReserve):
        face_value(CFG, 100, 0)


def test_price_zero_gives_zero_params():
    for price in (Fraction(0), Fraction(-1)):
        p, _ = TicketParams.issue(secret=b"s", cfg=CFG, recipient=RECIPIENT, sender=b"\x01" * 20, price=price,
                                  gas_price=100, max_float=10**18, seed=1, last_block=10, creation_round=1,
                                  creation_round_block_hash=H41)
        assert (p.face_value, p.win_prob) == (0, 0)


def test_tx_cost_multiplier():
    assert tx_cost_multiplier(CFG, 100, 10**20) == Fraction(100)
    tx_cost = CFG.redeem_gas * 100
    assert tx_cost_multiplier(CFG, 100, tx_cost + 1) == Fraction(tx_cost + 1, tx_cost)
    assert tx_cost_multiplier(CFG, 0, 10**20) == 0


@pytest.mark.parametrize("base,mult,expected", [
    (Fraction(1), 100, Fraction(101, 100)), (Fraction(10), 100, Fraction(1010, 100)),
    (Fraction(1, 10), 100, Fraction(101, 1000)), (Fraction(25, 10), 100, Fraction(2525, 1000)),
    (Fraction(10), 10, Fraction(11)),
])
def test_price_auto_adjust(base, mult, expected):
    assert price_with_overhead(base, Fraction(mult)) == expected


# ---- sender validation boundaries (go-livepeer pm/sender_test.go) ----------------------------------------------
def _params(fv, wp, expiration_block=200):
    return TicketParams(recipient=RECIPIENT, face_value=fv, win_prob=wp, recipient_rand_hash=H41, seed=1,
                        expiration_block=expiration_block, creation_round=1, creation_round_block_hash=H41,
                        price_per_pixel=Fraction(1))


def _validate(params, n=1, deposit=300, mult=2, max_ev=100, max_total=10**9):
    validate_ticket_params(params, n, last_block=100, limits=SenderLimits(Fraction(max_ev), Fraction(max_total), mult),
                           sender_info=SenderInfo(deposit=deposit, reserve=1000), last_initialized_round=1)


def test_expiration_boundaries():
    with pytest.raises(TicketParamsExpired):
        _validate(_params(149, M // 2, expiration_block=1))
    with pytest.raises(TicketParamsExpired):
        _validate(_params(149, M // 2, expiration_block=99))
    _validate(_params(149, M // 2, expiration_block=105))
    with pytest.raises(TicketParamsError, match="^ticketParams expiration block is 0$"):
        _validate(_params(149, M // 2, expiration_block=0))


def test_face_value_and_ev_boundaries():
    _validate(_params(149, M // 2), deposit=300)
    _validate(_params(200, M // 2), deposit=402)
    _validate(_params(199, M // 2), deposit=399)
    _validate(_params(200, M // 2), deposit=400)
    with pytest.raises(TicketParamsError, match=r"^ticket faceValue 61 > max faceValue 60$"):
        _validate(_params(61, M // 2), deposit=300, mult=5)
    with pytest.raises(TicketParamsError, match=r"^ticket faceValue too low faceValue=1000$"):
        _validate(_params(1000, M))
    with pytest.raises(TicketParamsError, match=r"^ticket EV 101\.00000 > max ticket EV 1\.00000$"):
        _validate(_params(202, M // 2), max_ev=1)
    with pytest.raises(TicketParamsError, match=r"^total ticket EV 202\.00000 for 2 tickets > max total ticket EV 200\.00000$"):
        _validate(_params(202, M // 2), n=2, deposit=10**6, max_ev=150, max_total=200)
    _validate(_params(202, M // 2), n=1, deposit=10**6, max_ev=150, max_total=200)


def test_sender_state_errors():
    limits = SenderLimits()
    p = _params(10**6, M // 4)
    for info, msg in [
        (SenderInfo(deposit=10**9, reserve=10**9, withdraw_round=3), "unlock soon"),
        (SenderInfo(deposit=10**9, reserve=0), "no sender reserve"),
        (SenderInfo(deposit=0, reserve=10**9), "no sender deposit"),
    ]:
        with pytest.raises(TicketParamsError, match=msg):
            validate_ticket_params(p, 1, last_block=100, limits=limits, sender_info=info, last_initialized_round=2)


def test_batch_nonces_and_concurrency():
    import threading

    s = NonceSessions()
    s.start("0xabc")
    assert list(s.reserve("0xabc", 3)) == [1, 2, 3]
    s.start("x")
    seen: list[int] = []
    lock = threading.Lock()

    def work():
        r = s.reserve("x", 2)
        with lock:
            seen.extend(r)

    threads = [threading.Thread(target=work) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.nonce("x") == 200 and sorted(seen) == list(range(1, 201))


# ---- accounting (go-livepeer core/accounting_test.go TestBalance_StageUpdate) ------------------------------------
@pytest.mark.parametrize("existing,min_credit,ev,n,credit", [
    (2, 1, 1, 0, 0), (2, 2, 1, 0, 0), (1, 5, 1, 4, 4), (Fraction(1, 4), 2, 1, 2, 2), (-5, 2, 1, 7, 7), (0, 2, 1, 2, 2),
])
def test_stage_update(existing, min_credit, ev, n, credit):
    assert stage_update(Fraction(existing), Fraction(min_credit), Fraction(ev)) == (n, Fraction(credit))


def test_signer_balance_examples():
    # docs/remote-signer.md#billing-fee-tickets-balance: ev 35, price 3/1, live first call 10 s -> fee 30, 1 ticket,
    # balance 5; 12 s later -> balance 4.
    u = balance_update(Fraction(30), Fraction(35), Fraction(0))
    assert (u.num_tickets, u.balance_after) == (1, 5)
    u = balance_update(Fraction(36), Fraction(35), Fraction(5))
    assert (u.num_tickets, u.balance_after) == (1, 4)
    u = balance_update(Fraction(3), Fraction(3), Fraction(0))
    assert (u.num_tickets, rat_string(u.balance_after)) == (1, "0")
    u = balance_update(1000 * Fraction(150, 175), Fraction(35), Fraction(0))
    assert (u.num_tickets, rat_string(u.balance_after)) == (25, "125/7")


def test_billable_units():
    assert billable_units("lv2v", 0, 0) == 1_658_880_000
    assert billable_units("live", 0, 0) == 10
    assert billable_units("live", 12.0, 0) == 12
    assert billable_units("live", 11.2, 0) == 12
    assert billable_units("fixed", 99, 10**6) == 1
    assert billable_units("", 5, 1000) == 1000
    with pytest.raises(BillingError, match="^invalid job type$"):
        billable_units("bogus", 0, 0)
    with pytest.raises(BillingError, match="^missing billable unit or job type$"):
        billable_units("", 0, 0)
    with pytest.raises(BillingError, match="^missing billable unit or job type$"):
        billable_units("lv2v", 1e-9, 0)  # tiny positive elapsed -> 0 pixels


# ---- max price parsing (go-livepeer TestParseRemotePaymentMaxPrice) ----------------------------------------------
def test_parse_max_price():
    assert parse_max_price({"price": "101.2", "currency": "wei", "unit": "seconds"}, "live") == Fraction(506, 5)
    assert parse_max_price({"price": 7, "currency": "wei", "unit": "720p-pixel-seconds"}, "lv2v") == 7
    assert parse_max_price({"price": 3, "currency": "wei", "unit": "fixed"}, "fixed") == 3
    with pytest.raises(MaxPriceError, match="positive decimal"):
        parse_max_price({"price": "wat", "currency": "wei", "unit": "fixed"}, "fixed")
    with pytest.raises(MaxPriceError, match="positive decimal"):
        parse_max_price({"price": -1, "currency": "wei", "unit": "fixed"}, "fixed")
    with pytest.raises(MaxPriceError, match="currency must be wei"):
        parse_max_price({"price": 1, "unit": "fixed"}, "fixed")
    with pytest.raises(MaxPriceError, match="^maxPrice requires payment type live, lv2v, or fixed$"):
        parse_max_price({"price": 1, "currency": "wei", "unit": "fixed"}, "")
    with pytest.raises(MaxPriceError, match="^maxPrice.unit must be seconds for payment type live$"):
        parse_max_price({"price": 1, "currency": "wei", "unit": "fixed"}, "live")


# ---- live payment processor (go-livepeer) ----------------------------------------------------------------------------
def test_live_payment_processor():
    start = 1_784_505_600.0  # 2026-07-20T00:00:00Z
    p = LivePaymentProcessor(interval_s=0, units_per_second=27_648_000, start=start)
    assert p.process(start + 1.5) == 41_472_000 and p.last_processed_at == start + 1.5
    p = LivePaymentProcessor(interval_s=0, units_per_second=1, start=start)
    assert p.process(start + 2) == 2 and p.last_processed_at == start + 2
    p = LivePaymentProcessor(interval_s=0, units_per_second=1, start=start)
    assert p.process(start + 1.5) == 1 and p.last_processed_at == start + 1
    p = LivePaymentProcessor(interval_s=10, units_per_second=1, start=start)
    assert p.process(start + 5) is None
    total = p.process(start + 10.5) + p.process(start + 21.0)
    assert total == 21


def test_auth_token_depends_on_inputs():
    a = auth_token(b"foo", "bar", 100)
    assert a == auth_token(b"foo", "bar", 100)
    assert a != auth_token(b"foo", "baz", 100) and a != auth_token(b"foo", "bar", 101)
    assert a.hex() == "e896e58f32128ad59566fbef0ae8d4b702f6f08cdfe3f17b544696016f5e5423"


# ---- money ---------------------------------------------------------------------------------------------------
def test_rat_and_float_strings():
    assert rat_string(Fraction(150, 175)) == "6/7"
    assert rat_string(Fraction(0)) == "0" and rat_string(Fraction(125, 7)) == "125/7"
    assert rat_string(Fraction(-3, 2)) == "-3/2"
    assert float_string(Fraction(5, 2), 0) == "3" and float_string(Fraction(-5, 2), 0) == "-3"
    assert float_string(Fraction(1, 3), 5) == "0.33333" and float_string(Fraction(2, 3), 3) == "0.667"
    assert parse_rat("101.2") == Fraction(506, 5) and parse_rat("3/4") == Fraction(3, 4)
    assert parse_rat("1e3") == 1000 and parse_rat(" 7 ") == 7


# ---- lpdev's end-to-end vectors ---------------------------------------------------------------------------
def test_getorchestrator_sig_vector():
    addr = private_key_to_address(KEY)
    assert to_checksum_address(addr) == KEY_ADDR
    msg = KEY_ADDR.encode()
    assert keccak(msg).hex() == "ee96633aed042ac52aa7069ecf77197b72b4eaf865c41905e4e184b7b2a54799"
    assert crypto.text_hash(keccak(msg)).hex() == "86823e0a870be94a5ea7641cd849e4938a5537b90e12235c02e4bcf660463c30"
    sig = crypto.sign_keccak(KEY, msg)
    assert sig.hex() == ("a224e17c21555def269cf7f7c379a974b62870990c56c1ea81e6aeac3c5758be2a3e1bf6419b39e2d245d7e309d02a4"
                         "92f5b9a5e7b9f8479c71dfbc24af8398d1b")
    assert crypto.verify_keccak(addr, msg, sig)


SEED = int.from_bytes(bytes(range(1, 33)), "big")
SECRET = b"\x03" + b"\x00" * 31
FV = 1_200_000_000_000_000
BLOCK_HASH = keccak(b"block")


def test_orchestrator_params_vector():
    sender = private_key_to_address(KEY)
    wp = win_prob(8_000_000_000, FV)
    assert wp == 771947261582107969490473233391252719021799897770937093596383896000000000
    assert hex(wp) == "0x6fd91d84bcda58175fdfab3d77a168e2893e4958803b6b57ae84efcbf000"
    assert BLOCK_HASH.hex() == "20b53acf0daefc8c6ad68c861fb3b543ca541abd101abc1edfcbf6606b838ef4"
    rand = recipient_rand(SECRET, SEED, sender, FV, wp, 20_000_040, Fraction(3), 3600, BLOCK_HASH)
    assert hex(rand) == "0xb97815179d15e33fce3da4d09516bac510715eb9a3d72f85c95d932a1c287d7f"
    assert recipient_rand_hash(rand).hex() == "200872ee710040af3a0b35d84b07b74c765d365fbdd9199ac0e6223d74495952"
    params, rand2 = TicketParams.issue(
        secret=SECRET, cfg=RecipientConfig(ev=8_000_000_000), recipient=RECIPIENT, sender=sender, price=Fraction(3),
        gas_price=10**9, max_float=FV, seed=SEED, last_block=20_000_000, creation_round=3600,
        creation_round_block_hash=BLOCK_HASH)
    assert (params.face_value, params.win_prob, params.expiration_block, rand2) == (FV, wp, 20_000_040, rand)

    tickets = create_ticket_batch(KEY, sender, params, range(1, 3))
    assert tickets[0].ticket.hash().hex() == "cfb09215f5abafe38b3c834bf1d4fe8552bd485ef49b24e7c151dd2b17aa3ced"
    assert tickets[0].sig.hex() == (
        "40502df6b5411b0b24409d2fc9e713eb6df529c163bfe8071b1f68dd041fef8722cc520e67148be26bd343a66c01fafd2f9eee5053977c95c"
        "3a4c8dccc3039f21c")
    assert hex(win_value(tickets[0].sig, rand)) == "0xb18f02c3911834acc101b1681026741a48dd9fbf598ccdad3674859dbe1366be"
    assert tickets[1].ticket.hash().hex() == "d2ac5f8a2947b71696016bfcff8c26a419176af3e3166eda7823820df89253f7"
    assert tickets[1].sig.hex() == (
        "dea95ca3949e03a3de3e913d70dc928f0212211b0fd86653ada672b24b812d4660461755bc23297cc1074042aefec84e5853fc01b3edc0e"
        "5352b1a69e48c7a901b")
    assert hex(win_value(tickets[1].sig, rand)) == "0x43922c54df904505337f14e3bb1c7806215b553bfd09f8d9c9bed91c4a486dfe"
    assert not any(is_winning_ticket(t.sig, rand, wp) for t in tickets)
    for t in tickets:
        assert t.ticket.recover_signer(t.sig) == sender


def test_state_blob_sig_vector():
    state = (b'{"StateID":"0a1b2c3d","PMSessionID":"0x200872ee710040af3a0b35d84b07b74c765d365fbdd9199ac0e6223d74495952",'
             b'"LastUpdate":"2026-08-18T20:47:20.123456789Z","OrchestratorAddress":"0x73aed7b5deb30222fa896f399d46cc99c7bee57f",'
             b'"App":"","AuthExpiry":0,"SenderNonce":2,"Balance":"125/7","InitialPricePerUnit":3,"InitialPixelsPerUnit":1,'
             b'"Type":"live","SequenceNumber":0,"AuthID":""}')
    assert len(state) == 370
    assert crypto.text_hash(state).hex() == "196dba40f2c466fdb7432f1b2fa41c80a40e351bd529acda7f422451dd4f8243"
    sig = crypto.sign_personal(KEY, state)
    assert sig.hex() == ("fc8447e2e7864c2cef3f6f640b9b67e7fd723ef7d498b51f95155ab50bb3edc24904d6a5ee02b00ea76440fc3ce5396"
                         "8709c71f6d7bafef4ef2a213c117b086c1b")


def test_pure_python_backend_matches_libsecp256k1():
    """The fallback gives the same bytes as coincurve for every signature above."""
    digest = crypto.text_hash(keccak(KEY_ADDR.encode()))
    rs = pure.sign_recoverable(KEY, digest)
    assert (rs[:64] + bytes([rs[64] + 27])).hex().startswith("a224e17c21555def")
    assert pure.recover(digest, rs) == pure.pubkey(KEY)
    assert keccak(pure.pubkey(KEY))[12:] == private_key_to_address(KEY)
