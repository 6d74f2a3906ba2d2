"""Property tests for the PM core: sign/recover round trips, pure-Python fallback parity, exact money."""
from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings, strategies as st

from sim.pm import _secp256k1_pure as pure
from sim.pm import crypto
from sim.pm.accounting import balance_update
from sim.pm.money import float_string, parse_rat, rat_string
from sim.pm.params import face_value, win_prob, RecipientConfig, InsufficientSenderReserve
from sim.pm.ticket import MAX_WIN_PROB, Ticket, ticket_ev

N = crypto.SECP256K1_N
keys = st.integers(min_value=1, max_value=N - 1).map(lambda k: k.to_bytes(32, "big"))
addr = st.binary(min_size=20, max_size=20)
u256 = st.integers(min_value=0, max_value=2**256 - 1)
tickets = st.builds(
    Ticket, recipient=addr, sender=addr, face_value=u256, win_prob=u256,
    sender_nonce=st.integers(min_value=0, max_value=2**32 - 1), recipient_rand_hash=st.binary(min_size=32, max_size=32),
    creation_round=st.integers(min_value=0, max_value=2**64), creation_round_block_hash=st.binary(min_size=32, max_size=32),
)


@given(key=keys, ticket=tickets)
@settings(max_examples=60, deadline=None)
def test_ticket_sign_recover_round_trip(key, ticket):
    sig = ticket.sign(key)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= N // 2  # low s
    assert ticket.recover_signer(sig) == crypto.private_key_to_address(key)
    assert len(ticket.flatten()) in (168, 232)


@given(key=keys, msg=st.binary(max_size=300))
@settings(max_examples=25, deadline=None)
def test_pure_backend_is_byte_identical(key, msg):
    digest = crypto.text_hash(msg)
    sig = pure.sign_recoverable(key, digest)
    assert crypto.sign_hash(key, digest) == sig[:64] + bytes([sig[64] + 27])
    assert pure.recover(digest, sig) == pure.pubkey(key)


@given(key=keys, msg=st.binary(max_size=64), flip=st.integers(min_value=0, max_value=64 * 8 - 1))
@settings(max_examples=40, deadline=None)
def test_tampered_signature_never_verifies_as_signer(key, msg, flip):
    sig = bytearray(crypto.sign_personal(key, msg))
    sig[flip // 8] ^= 1 << (flip % 8)
    assert not crypto.verify_personal(crypto.private_key_to_address(key), msg, bytes(sig))


fractions = st.fractions(min_value=0, max_value=10**24, max_denominator=10**6)


@given(fee=fractions, ev=st.fractions(min_value=Fraction(1, 10**6), max_value=10**20, max_denominator=10**6),
       existing=st.fractions(min_value=-(10**20), max_value=10**24, max_denominator=10**6))
def test_balance_update_is_exact(fee, ev, existing):
    u = balance_update(fee, ev, existing)
    # Never loses a wei: the new balance is exactly old + credit - fee, and covers the fee when tickets were sent.
    assert u.balance_after == existing + u.num_tickets * ev - fee
    if u.num_tickets:
        assert existing + u.new_credit >= max(fee, ev)
        assert existing + u.new_credit - ev < max(fee, ev)  # no extra ticket
        assert u.balance_after >= 0


@given(x=st.fractions(max_denominator=10**30))
def test_rat_string_round_trips(x):
    assert parse_rat(rat_string(x)) == x


@given(x=st.fractions(min_value=-(10**12), max_value=10**12, max_denominator=10**9), prec=st.integers(0, 12))
def test_float_string_is_correctly_rounded(x, prec):
    s = float_string(x, prec)
    assert abs(parse_rat(s) - x) <= Fraction(1, 2 * 10**prec)


@given(ev=st.integers(min_value=1, max_value=10**15), fv=st.integers(min_value=1, max_value=10**24))
def test_win_prob_gives_at_least_the_configured_ev(ev, fv):
    if fv < ev:
        return
    wp = win_prob(ev, fv)
    assert wp <= MAX_WIN_PROB
    got = ticket_ev(fv, wp)
    assert got >= ev or wp == MAX_WIN_PROB
    assert got - ev < Fraction(fv, MAX_WIN_PROB) * ev + 1  # the round-up is tiny


@given(gas=st.integers(0, 10**12), max_float=st.integers(0, 10**24), ev=st.integers(1, 10**13))
def test_face_value_respects_caps(gas, max_float, ev):
    cfg = RecipientConfig(ev=ev)
    try:
        fv = face_value(cfg, gas, max_float)
    except InsufficientSenderReserve:
        return
    assert ev <= fv <= max_float
