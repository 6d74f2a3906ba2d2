"""RemotePaymentState (docs/remote-signer.md#the-state-blob): Go's exact JSON bytes, tolerant Go-like decoding, signing,
and the {"State","Sig"} envelope."""
from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from sim.wire.gojson import b64encode, go_json_dumps
from sim.wire.state import (
    FIELD_ORDER, GO_ZERO_TIME_NS, RemotePaymentState, StateError, envelope, parse_envelope, parse_envelope_json,
    recover_state_signer, sign_state, verify_state,
)
from tests.test_wire_vectors import PRIV, SENDER, STATE_JSON, STATE_SIG, vector_state

texts = st.text(max_size=20)
states = st.builds(
    RemotePaymentState,
    state_id=texts, pm_session_id=texts,
    # year 1 plus a day .. year 9999 minus a day: room for any zone offset (Go's zero time: see below)
    last_update=st.integers(min_value=GO_ZERO_TIME_NS + 86_400 * 10**9, max_value=253_402_214_400 * 10**9),
    last_update_tz=st.one_of(st.none(), st.integers(-23 * 60, 23 * 60).filter(bool).map(lambda m: m * 60)),
    orchestrator_address=st.binary(min_size=20, max_size=20), app=texts,
    auth_expiry=st.integers(-2**63, 2**63 - 1), sender_nonce=st.integers(0, 2**32 - 1),
    balance=st.one_of(st.just(""), st.fractions().map(lambda f: f"{f.numerator}/{f.denominator}"
                                                      if f.denominator != 1 else str(f.numerator))),
    initial_price_per_unit=st.integers(-2**63, 2**63 - 1), initial_pixels_per_unit=st.integers(-2**63, 2**63 - 1),
    type=st.sampled_from(["", "live", "lv2v", "fixed"]), sequence_number=st.integers(0, 2**64 - 1), auth_id=texts)


@settings(max_examples=60)
@given(states)
def test_state_round_trip(state):
    raw = state.to_json_bytes()
    plain = json.loads(raw)  # an independent JSON parser sees the same values
    assert list(plain) == list(FIELD_ORDER)
    assert (plain["StateID"], plain["App"], plain["Balance"], plain["SequenceNumber"]) == \
        (state.state_id, state.app, state.balance, state.sequence_number)
    assert plain["OrchestratorAddress"] == "0x" + state.orchestrator_address.hex()
    assert RemotePaymentState.from_json(raw) == state


def test_exact_vector_and_zero_state():
    assert vector_state().to_json_bytes() == STATE_JSON
    assert RemotePaymentState().to_json_bytes() == (
        b'{"StateID":"","PMSessionID":"","LastUpdate":"0001-01-01T00:00:00Z",'
        b'"OrchestratorAddress":"0x0000000000000000000000000000000000000000","App":"","AuthExpiry":0,'
        b'"SenderNonce":0,"Balance":"","InitialPricePerUnit":0,"InitialPixelsPerUnit":0,"Type":"",'
        b'"SequenceNumber":0,"AuthID":""}')
    assert RemotePaymentState.from_json(b"{}").last_update_is_zero


def test_timezone_and_html_escaping():
    s = RemotePaymentState(last_update=1_787_086_040_000_000_000, last_update_tz=dt.timezone(dt.timedelta(hours=2)),
                           app="<a&b>")
    raw = s.to_json_bytes()
    assert b'"LastUpdate":"2026-08-18T22:47:20+02:00"' in raw
    assert b'"App":"\\u003ca\\u0026b\\u003e"' in raw
    back = RemotePaymentState.from_json(raw)
    assert back.last_update == s.last_update and back.last_update_tz == 7200 and back.app == "<a&b>"


def test_tolerant_decoding_like_go():
    doc = (b'{"stateid":"x","STATEID":"y","pmSessionId":"p","unknown":[1,{"a":2}],"balance":"3/6",'
           b'"senderNonce":4,"orchestratoraddress":"0X73AED7B5DEB30222FA896F399D46CC99C7BEE57F","App":null,'
           b'"lastupdate":null}')
    s = RemotePaymentState.from_json(doc)
    assert s.state_id == "y" and s.pm_session_id == "p" and s.sender_nonce == 4
    assert s.balance == "3/6" and s.balance_rat == Fraction(1, 2)
    assert s.orchestrator_address.hex() == "73aed7b5deb30222fa896f399d46cc99c7bee57f"
    assert s.app == "" and s.last_update_is_zero
    assert s.with_balance(Fraction(250, 14)).balance == "125/7"
    assert RemotePaymentState(balance="junk").balance_rat is None


@pytest.mark.parametrize("doc,needle", [
    (b'{"SenderNonce":-1}', "cannot unmarshal number -1 into Go struct field RemotePaymentState.SenderNonce of type uint32"),
    (b'{"AuthExpiry":1.5}', "cannot unmarshal number 1.5 into Go struct field RemotePaymentState.AuthExpiry"),
    (b'{"SequenceNumber":"1"}', "cannot unmarshal string into Go struct field RemotePaymentState.SequenceNumber"),
    (b'{"StateID":5}', "cannot unmarshal number into Go struct field RemotePaymentState.StateID of type string"),
    (b'{"LastUpdate":5}', "Time.UnmarshalJSON: input is not a JSON string"),
    (b'{"LastUpdate":"yesterday"}', 'parsing time "yesterday"'),
    (b'{"OrchestratorAddress":null}', "cannot unmarshal non-string"),
    (b'{"OrchestratorAddress":"73aed7b5deb30222fa896f399d46cc99c7bee57f"}', "without 0x prefix"),
    (b'{"OrchestratorAddress":"0x73ae"}', "want 0x followed by 40 hex digits"),
    (b'[1]', "cannot unmarshal array into Go value of type server.RemotePaymentState"),
    (b'null', "state is JSON null"),
    (b'{"a":1} x', "invalid character 'x' after top-level value"),
    (b'{', "unexpected end of JSON input"),
])
def test_state_type_errors(doc, needle):
    with pytest.raises(StateError) as ei:
        RemotePaymentState.from_json(doc)
    assert needle in str(ei.value)


@settings(max_examples=20, deadline=None)
@given(states)
def test_sign_verify(state):
    raw = state.to_json_bytes()
    sig = sign_state(PRIV, raw)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert verify_state(SENDER, raw, sig) and recover_state_signer(raw, sig) == SENDER
    assert not verify_state(SENDER, raw + b" ", sig)


def test_envelope():
    sig = bytes.fromhex(STATE_SIG)
    env = envelope(STATE_JSON, sig)
    assert list(env) == ["State", "Sig"]
    assert parse_envelope(env) == (STATE_JSON, sig)
    wire = go_json_dumps({"state": env})
    assert parse_envelope_json(go_json_dumps(env)) == (STATE_JSON, sig)
    assert b'"State":"' in wire
    assert envelope(None, None) == {"State": None, "Sig": None}
    assert parse_envelope(None) == (b"", b"")
    assert parse_envelope({"State": None, "Sig": None}) == (b"", b"")
    assert parse_envelope({"state": b64encode(b"{}"), "SIG": b64encode(b"s")}) == (b"{}", b"s")
    with pytest.raises(StateError, match="state.State: illegal base64 data at input byte 0"):
        parse_envelope({"State": "a"})
    with pytest.raises(StateError, match="cannot unmarshal number into Go struct field RemotePaymentStateSig.Sig"):
        parse_envelope({"Sig": 5})
    with pytest.raises(StateError, match="cannot unmarshal string into Go struct field RemotePaymentRequest.state"):
        parse_envelope("x")
    with pytest.raises(StateError, match="not valid JSON"):
        parse_envelope_json(b"{")


def test_to_json_requires_20_byte_address():
    with pytest.raises(StateError):
        RemotePaymentState(orchestrator_address=b"\x01").to_json_bytes()
