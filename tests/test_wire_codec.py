"""sim.wire.codec: round trips between the sans-IO PM types and the protobuf messages (docs/wire.md),
and strict decoding of malformed wire input into one-line WireErrors."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from sim.pm.crypto import keccak, private_key_to_address
from sim.pm.params import TicketParams
from sim.pm.sender import create_ticket_batch
from sim.pm.ticket import MAX_WIN_PROB
from sim.wire import codec
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.capabilities import bitstring, capability_ids, pipeline_name
from sim.wire.codec import WireError
from tests.test_wire_vectors import PAYMENT_HEX, PRIV, SENDER, vector_auth_token, vector_payment

KEYS = [keccak(bytes([i])) for i in range(1, 4)]  # throwaway test keys

addresses = st.binary(min_size=20, max_size=20)
hashes = st.binary(min_size=32, max_size=32)
u256s = st.integers(min_value=0, max_value=MAX_WIN_PROB)
prices = st.fractions(min_value=Fraction(1, 10**6), max_value=10**12).filter(
    lambda f: f.numerator < 2**63 and f.denominator < 2**63)


@st.composite
def ticket_params(draw):
    return TicketParams(
        recipient=draw(addresses), face_value=draw(u256s), win_prob=draw(u256s),
        recipient_rand_hash=draw(hashes), seed=draw(u256s),
        expiration_block=draw(st.integers(min_value=0, max_value=2**64)),
        creation_round=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        creation_round_block_hash=draw(hashes), price_per_pixel=draw(prices))


@given(ticket_params())
def test_ticket_params_round_trip(params):
    msg = codec.ticket_params_to_pb(params)
    back = pb.TicketParams.FromString(msg.SerializeToString())
    assert codec.ticket_params_from_pb(back, params.price_per_pixel) == params
    bare = codec.ticket_params_to_pb(params, with_expiration=False)
    assert not bare.HasField("expiration_params")


@given(prices)
def test_price_info_round_trip(price):
    msg = codec.price_info_pb(price)
    assert codec.price_info(pb.PriceInfo.FromString(msg.SerializeToString())) == price


def test_price_info_errors():
    with pytest.raises(WireError, match="pixels per unit is 0"):
        codec.price_info(pb.PriceInfo(pricePerUnit=1))
    with pytest.raises(WireError, match="int64"):
        codec.price_info_pb(Fraction(2**63))
    # Not reduced on the wire: the expected price is copied verbatim, read as a reduced Fraction.
    assert codec.price_info(pb.PriceInfo(pricePerUnit=150, pixelsPerUnit=175)) == Fraction(6, 7)


@settings(max_examples=25, deadline=None)
@given(ticket_params(), st.sampled_from(KEYS), st.lists(st.integers(min_value=0, max_value=2**32 - 1),
                                                        min_size=0, max_size=3, unique=True),
       st.integers(min_value=0, max_value=2**63 - 1), st.integers(min_value=1, max_value=2**63 - 1))
def test_payment_round_trip(params, priv, nonces, ppu, pxpu):
    sender = private_key_to_address(priv)
    signed = create_ticket_batch(priv, sender, params, nonces)
    price = pb.PriceInfo(pricePerUnit=ppu, pixelsPerUnit=pxpu)
    pay = codec.build_payment(params, sender, signed, price)
    text = codec.to_b64(pay)
    back = codec.decode_payment(text)
    assert back == pay
    assert back.expected_price == price
    got = codec.payment_tickets(back)
    assert [(t, s) for t, s in got] == [(st_.ticket, st_.sig) for st_ in signed]
    assert all(t.recover_signer(s) == sender for t, s in got)
    if not nonces:  # go-livepeer's test: zero tickets -> only sender + expected price
        assert not back.HasField("ticket_params") and not back.HasField("expiration_params")
        assert back.sender == sender


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=40), st.sampled_from(KEYS), st.binary(max_size=40), st.text(max_size=20),
       st.integers(min_value=-2**63, max_value=2**63 - 1), st.lists(st.integers(0, 200), max_size=5))
def test_segcreds_round_trip(mid, priv, token, session, exp, caps):
    sender = private_key_to_address(priv)
    capabilities = pb.Capabilities(bitstring=bitstring(caps)) if caps else None
    seg = codec.build_segcreds(priv, mid, pb.AuthToken(token=token, session_id=session, expiration=exp),
                               capabilities)
    back = codec.decode_segcreds(codec.to_b64(seg))
    assert back == seg
    assert back.manifestId.decode() == mid and back.profiles == b"invalid" and back.seq == 0
    assert back.hash == keccak(b"")
    assert codec.verify_segcreds(back, sender)
    assert codec.segcreds_signer(back) == sender
    assert back.HasField("capabilities") == bool(caps)
    if caps:
        assert capability_ids(back.capabilities.bitstring) == sorted(set(caps))


def test_segcreds_tamper_and_profiles():
    seg = codec.build_segcreds(PRIV, "m", vector_auth_token())
    assert codec.verify_segcreds(seg, SENDER)
    other = pb.SegData()
    other.CopyFrom(seg)
    other.manifestId = b"n"
    assert not codec.verify_segcreds(other, SENDER)
    other.CopyFrom(seg)
    other.fullProfiles2.add(name="P240p30fps16x9")  # profiles are part of Flatten
    assert not codec.verify_segcreds(other, SENDER)
    assert codec.segcreds_flatten_of(other).endswith(keccak(b"P240p30fps16x9")[:4].hex().encode())
    assert codec.segcreds_flatten("m", seq=-5)[1:33] == (5).to_bytes(32, "big")  # Go: absolute value


def test_orch_request_with_caps():
    caps = pb.Capabilities(bitstring=bitstring([35]))
    req = codec.build_orch_request(PRIV, caps, ignore_capacity_check=True)
    back = pb.OrchestratorRequest.FromString(req.SerializeToString())
    assert codec.verify_orch_request(back) and back.ignoreCapacityCheck
    assert capability_ids(back.capabilities.bitstring) == [35]
    assert pipeline_name(35) == "live-video-to-video"


# ---- malformed input ---------------------------------------------------------------------------------
PAYMENT_BYTES = bytes.fromhex(PAYMENT_HEX)


def _b64(b: bytes) -> str:
    return codec.b64encode(b)


def _mutated_payment(**changes) -> str:
    pay = vector_payment()
    for path, value in changes.items():
        target = pay
        parts = path.split("__")
        for p in parts[:-1]:
            target = target.ticket_sender_params[int(p[1:])] if p.startswith("t") and p[1:].isdigit() \
                else getattr(target, p)
        setattr(target, parts[-1], value)
    return _b64(pay.SerializeToString())


@pytest.mark.parametrize("text,needle", [
    ("abc", "payment: illegal base64 data at input byte 0"),
    ("CokB!", "payment: illegal base64 data at input byte 4"),
    (_b64(PAYMENT_BYTES[:-5]), "payment: not a valid protobuf Payment"),
    (_b64(PAYMENT_BYTES[:40]), "truncated"),
    (_b64(b"\xff"), "truncated field key at byte 0"),
    (_mutated_payment(sender=b"\x01" * 19), "payment.sender is 19 bytes, want 20"),
    (_mutated_payment(sender=b""), "payment.sender is 0 bytes, want 20"),
    (_mutated_payment(t1__sig=b"\x01" * 64), "payment.ticket_sender_params[1].sig is 64 bytes, want 65"),
    (_mutated_payment(ticket_params__recipient_rand_hash=b"\x01" * 31),
     "payment.ticket_params.recipient_rand_hash is 31 bytes, want 32"),
    (_mutated_payment(ticket_params__recipient=b"\x01" * 21), "payment.ticket_params.recipient is 21 bytes, want 20"),
    (_mutated_payment(ticket_params__win_prob=b"\x01" * 33), "payment.ticket_params.win_prob is 33 bytes, want at most 32"),
])
def test_decode_payment_errors(text, needle):
    with pytest.raises(WireError) as ei:
        codec.decode_payment(text)
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg


def test_decode_payment_needs_params_with_tickets():
    pay = vector_payment()
    pay.ClearField("ticket_params")
    with pytest.raises(WireError, match="2 tickets but no ticket_params"):
        codec.decode_payment(pay.SerializeToString())
    with pytest.raises(WireError, match="no ticket_params"):
        codec.payment_tickets(pay)


def test_decode_segcreds_and_orch_info_errors():
    seg = codec.build_segcreds(PRIV, "m", None)
    seg.sig = seg.sig[:10]
    with pytest.raises(WireError, match=r"segCreds.sig is 10 bytes, want 65"):
        codec.decode_segcreds(seg.SerializeToString())
    with pytest.raises(WireError, match="segCreds: illegal base64 data at input byte 1"):
        codec.decode_segcreds("a===")
    with pytest.raises(WireError, match="orchestrator info.address is 3 bytes, want 20"):
        codec.decode_orch_info(pb.OrchestratorInfo(address=b"abc").SerializeToString())
    bad_utf8 = b"\x0a\x02\xff\xfe"  # transcoder (string) with invalid UTF-8
    with pytest.raises(WireError, match="not a valid protobuf OrchestratorInfo"):
        codec.decode_orch_info(bad_utf8)
    assert codec.decode_orch_info(b"").transcoder == ""  # empty info is valid protobuf


def test_lenient_from_pb_like_go():
    """Conversions from protobuf pad/truncate like Go's BytesToAddress/BytesToHash."""
    tp = pb.TicketParams(recipient=b"\x01", recipient_rand_hash=b"\x02" * 40)
    p = codec.ticket_params_from_pb(tp, Fraction(1))
    assert p.recipient == b"\x00" * 19 + b"\x01" and p.recipient_rand_hash == b"\x02" * 32
