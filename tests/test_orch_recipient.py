"""Sans-IO recipient and ledger: go-livepeer's pm/recipient_test.go and core accounting behaviours (go-livepeer
core/accounting_test.go)."""
from dataclasses import replace
from fractions import Fraction

import pytest

from sim.orchestrator.ledger import InsufficientBalance, Ledger
from sim.orchestrator.recipient import (ERR_EXPIRED, ERR_RECIPIENT, ERR_RECIPIENT_RAND, ERR_SENDER, ERR_SIGNATURE,
                                        MAX_SENDER_NONCES, Recipient)
from sim.pm.crypto import private_key_to_address, to_checksum_address
from sim.pm.params import RecipientConfig, TicketParams
from sim.pm.sender import create_ticket_batch
from sim.pm.ticket import MAX_WIN_PROB

O_KEY = bytes.fromhex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
S_KEY = bytes.fromhex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")
O_ADDR, S_ADDR = private_key_to_address(O_KEY), private_key_to_address(S_KEY)
SECRET = b"\x07" * 32
PRICE = Fraction(7, 3)
LAST_BLOCK = 100


def issue(win_all: bool = False, seed: int = 12345) -> tuple[TicketParams, int]:
    params, rand = TicketParams.issue(
        secret=SECRET, cfg=RecipientConfig(ev=1000), recipient=O_ADDR, sender=S_ADDR, price=PRICE,
        gas_price=1, max_float=10**18, seed=seed, last_block=LAST_BLOCK, creation_round=5,
        creation_round_block_hash=b"\x11" * 32)
    if win_all:  # only for the win test: rebuild params with winProb = max (rand recomputed by Recipient)
        from sim.pm.params import recipient_rand, recipient_rand_hash
        rand = recipient_rand(SECRET, seed, S_ADDR, params.face_value, MAX_WIN_PROB, params.expiration_block,
                              PRICE, 5, b"\x11" * 32)
        params = replace(params, win_prob=MAX_WIN_PROB, recipient_rand_hash=recipient_rand_hash(rand))
    return params, rand


def receive(r: Recipient, params: TicketParams, st, *, price=PRICE, exp=None, last_block=LAST_BLOCK, **kw):
    return r.receive_ticket(st.ticket, st.sig, seed=params.seed,
                            expiration_block=params.expiration_block if exp is None else exp, price=price,
                            last_block=last_block, **kw)


def test_valid_ticket_accepted_and_rand_matches():
    params, rand = issue()
    r = Recipient(O_ADDR, SECRET)
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])
    rec = receive(r, params, st)
    assert rec.error is None
    assert rec.recipient_rand == rand


@pytest.mark.parametrize("field,value", [
    ("face_value", 1), ("win_prob", 2), ("creation_round", 6), ("creation_round_block_hash", b"\x12" * 32),
])
def test_tampered_ticket_fields_are_fatal_recipient_rand_errors(field, value):
    params, _ = issue()
    tampered = replace(params, **{field: value})
    [st] = create_ticket_batch(S_KEY, S_ADDR, tampered, [1])  # the sender signs what it was told
    rec = receive(Recipient(O_ADDR, SECRET), params, st)
    assert rec.error is not None and rec.error.fatal
    assert str(rec.error) == ERR_RECIPIENT_RAND


def test_tampered_expiration_and_price_are_fatal():
    params, _ = issue()
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])
    r = Recipient(O_ADDR, SECRET)
    rec = receive(r, params, st, exp=params.expiration_block + 1)
    assert rec.error.fatal and str(rec.error) == ERR_RECIPIENT_RAND
    rec = receive(r, params, st, price=PRICE * 2)
    assert rec.error.fatal and str(rec.error) == ERR_RECIPIENT_RAND


def test_wrong_recipient_and_zero_sender_are_fatal():
    params, _ = issue()
    other = replace(params, recipient=S_ADDR)
    [st] = create_ticket_batch(S_KEY, S_ADDR, other, [1])
    rec = receive(Recipient(O_ADDR, SECRET), params, st)
    assert rec.error.fatal and str(rec.error) == ERR_RECIPIENT
    [st0] = create_ticket_batch(S_KEY, b"\x00" * 20, params, [1])
    rec = receive(Recipient(O_ADDR, SECRET), params, st0)
    assert rec.error.fatal and str(rec.error) == ERR_SENDER


def test_bad_signature_is_non_fatal_and_never_wins():
    params, _ = issue(win_all=True)
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])
    bad = replace(st, sig=st.sig[:10] + bytes([st.sig[10] ^ 1]) + st.sig[11:])
    rec = receive(Recipient(O_ADDR, SECRET), params, bad)
    assert rec.error is not None and not rec.error.fatal
    assert str(rec.error) == ERR_SIGNATURE
    assert rec.won is False
    wrong_signer = create_ticket_batch(O_KEY, S_ADDR, params, [2])[0]
    assert str(receive(Recipient(O_ADDR, SECRET), params, wrong_signer).error) == ERR_SIGNATURE


def test_sender_validation_error_is_fatal_passthrough():
    params, _ = issue()
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])

    def boom(sender):
        raise RuntimeError("deposit and reserve for sender X is set to unlock soon")

    rec = receive(Recipient(O_ADDR, SECRET), params, st, validate_sender=boom)
    assert rec.error.fatal and "unlock soon" in str(rec.error)


def test_duplicate_nonce_is_non_fatal_and_winner_still_reported():
    params, _ = issue(win_all=True)
    r = Recipient(O_ADDR, SECRET)
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [7])
    assert receive(r, params, st).error is None
    rec = receive(r, params, st)
    assert not rec.error.fatal
    assert str(rec.error) == f"invalid ticket senderNonce: already seen sender={to_checksum_address(S_ADDR)} nonce=7"
    assert rec.won is True  # the win test runs before the nonce check


def test_600_nonces_ok_601st_rejected_and_order_free():
    params, _ = issue()
    r = Recipient(O_ADDR, SECRET)
    nonces = list(range(MAX_SENDER_NONCES, 0, -1))  # descending: order does not matter
    for st in create_ticket_batch(S_KEY, S_ADDR, params, nonces):
        assert receive(r, params, st).error is None
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [MAX_SENDER_NONCES + 1])
    rec = receive(r, params, st)
    assert str(rec.error) == (f"invalid ticket senderNonce: too many values sender={to_checksum_address(S_ADDR)} "
                              f"nonce={MAX_SENDER_NONCES + 1}")
    assert not rec.error.fatal


def test_expired_params_report_win_with_non_fatal_error():
    params, _ = issue(win_all=True)
    r = Recipient(O_ADDR, SECRET)
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])
    rec = receive(r, params, st, last_block=params.expiration_block)
    assert str(rec.error) == ERR_EXPIRED and not rec.error.fatal
    assert rec.won is True
    [st2] = create_ticket_batch(S_KEY, S_ADDR, params, [2])
    assert receive(r, params, st2, last_block=params.expiration_block - 1).error is None


def test_nonce_sets_cleaned_up_when_params_expire():
    params, _ = issue()
    r = Recipient(O_ADDR, SECRET)
    [st] = create_ticket_batch(S_KEY, S_ADDR, params, [1])
    receive(r, params, st)
    assert r.nonce_sets == 1
    assert r.on_block(params.expiration_block - 1) == 0
    assert r.on_block(params.expiration_block) == 1
    assert r.nonce_sets == 0
    assert receive(r, params, st, last_block=params.expiration_block - 1).error is None  # seen set forgotten


# ------------------------------------------------------------------ ledger (docs/orchestrator.md#credit-and-debit)
def test_fixed_price_quirk_first_payment_does_not_pin():
    led = Ledger()
    s = S_ADDR
    assert led.set_fixed_price(s, "m", Fraction(3)) is False  # brand-new sender: silently ignored
    led.credit(s, "m", Fraction(10))
    assert led.fixed_price(s, "m") is None
    assert led.set_fixed_price(s, "m", Fraction(3)) is True
    assert led.set_fixed_price(s, "m", Fraction(5)) is False  # first pin sticks
    assert led.fixed_price(s, "m") == 3
    assert led.set_fixed_price(s, "other", Fraction(7)) is True  # known sender, new session


def test_account_payment_debits_and_refuses_with_go_message():
    led = Ledger()
    with pytest.raises(InsufficientBalance) as e:
        led.account_payment(S_ADDR, "mid", 10, Fraction(3))
    assert str(e.value) == "insufficient balance, mid=mid, fee=30, balance=nil"
    led.credit(S_ADDR, "mid", Fraction(51, 2))
    with pytest.raises(InsufficientBalance) as e:
        led.account_payment(S_ADDR, "mid", 10, Fraction(3))
    assert str(e.value) == "insufficient balance, mid=mid, fee=30, balance=26"
    assert led.account_payment(S_ADDR, "mid", 5, Fraction(3)) == 15
    assert led.balance(S_ADDR, "mid") == Fraction(21, 2)
    assert led.account_payment(S_ADDR, "mid", 10**9, Fraction(0)) == 0  # price 0: nothing to debit


def test_header_base64_fast_path_matches_go_decoder():
    """The orchestrator decodes canonical headers with the C decoder; results and errors must equal Go's."""
    import base64
    import random

    from sim.orchestrator.node import b64decode
    from sim.wire.gojson import Base64Error, b64decode as go

    rnd = random.Random(3)
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_\n "
    for i in range(20000):
        if i % 2:
            s = base64.b64encode(rnd.randbytes(rnd.randint(0, 12))).decode()
            if s and rnd.random() < 0.5:
                j = rnd.randrange(len(s))
                s = s[:j] + rnd.choice(alpha) + s[j + 1:]
        else:
            s = "".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 12)))
        outcome = []
        for fn in (b64decode, go):
            try:
                outcome.append(("ok", fn(s)))
            except Base64Error as exc:
                outcome.append(("err", str(exc)))
        assert outcome[0] == outcome[1], s
