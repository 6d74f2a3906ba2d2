"""Unit tests of the signer's pure pieces: fast paths equal the wire slow paths, config parsing, ledger, CLI flags."""
from __future__ import annotations

import base64
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.signer import fastpath
from sim.signer.config import ConfigError, parse_capability_max_prices, parse_price, parse_webhook_headers, \
    pipeline_to_capability
from sim.signer.core import _go_seconds
from sim.signer.ledger import NonceBook, ReplayError, StateLedger
from sim.signer.request import DecodeError, decode_request
from sim.signer.webhook import WebhookOutcome, canonical_header, parse_outcome, webhook_body
from sim.wire import gojson
from sim.wire.state import RemotePaymentState, StateError


# ---- fast paths == wire ---------------------------------------------------------------------------
@given(st.binary(max_size=80))
def test_b64_fast_path_equals_go(data):
    enc = base64.b64encode(data)
    assert fastpath.b64decode(enc) == gojson.b64decode(enc) == data


@given(st.text(alphabet="ABCab01+/=\r\n-_ ", max_size=16))
def test_b64_fast_path_errors_equal_go(text):
    raw = text.encode()
    try:
        want = gojson.b64decode(raw)
    except gojson.Base64Error as exc:
        with pytest.raises(gojson.Base64Error) as got:
            fastpath.b64decode(raw)
        assert str(got.value) == str(exc)
    else:
        assert fastpath.b64decode(raw) == want


states = st.builds(
    RemotePaymentState, state_id=st.text(max_size=12), pm_session_id=st.text(max_size=12),
    last_update=st.integers(-62_135_596_800 * 10**9, 253_402_300_799 * 10**9),
    orchestrator_address=st.binary(min_size=20, max_size=20), app=st.text(max_size=12),
    auth_expiry=st.integers(-(2**63), 2**63 - 1), sender_nonce=st.integers(0, 2**32 - 1),
    balance=st.text(max_size=8), initial_price_per_unit=st.integers(-(2**63), 2**63 - 1),
    initial_pixels_per_unit=st.integers(-(2**63), 2**63 - 1), type=st.text(max_size=6),
    sequence_number=st.integers(0, 2**64 - 1), auth_id=st.text(max_size=8))


@settings(max_examples=200)
@given(states)
def test_state_fast_paths_equal_wire(state):
    raw = state.to_json_bytes()
    assert fastpath.state_to_json(state) == raw
    assert fastpath.state_from_json(raw) == RemotePaymentState.from_json(raw)


@given(st.dictionaries(st.sampled_from(["StateID", "stateid", "SenderNonce", "Balance", "LastUpdate", "x"]),
                       st.one_of(st.integers(-5, 2**65), st.text(max_size=5), st.none(), st.booleans()),
                       max_size=5))
def test_state_fast_decode_falls_back_like_wire(obj):
    raw = json.dumps(obj).encode()
    try:
        want = RemotePaymentState.from_json(raw)
    except StateError as exc:
        with pytest.raises(StateError) as got:
            fastpath.state_from_json(raw)
        assert str(got.value) == str(exc)
    else:
        assert fastpath.state_from_json(raw) == want


@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
                    max_leaves=10), st.booleans())
def test_go_dumps_equals_wire(obj, sort_keys):
    assert fastpath.go_dumps(obj, newline=True, sort_keys=sort_keys) == gojson.go_json_dumps(
        obj, newline=True, sort_keys=sort_keys)


@given(st.dictionaries(st.text(max_size=6), st.integers(), max_size=6), st.text(max_size=6))
def test_fold_index_equals_get_ci(obj, key):
    sentinel = object()
    want = gojson.get_ci(obj, key, sentinel)
    idx = fastpath.fold_index(obj)
    got = idx.get(key.upper() if key.isascii() else gojson.fold_name(key), sentinel)
    assert got is want or got == want


# ---- request decoding -----------------------------------------------------------------------------
def test_decode_request_go_messages():
    with pytest.raises(DecodeError, match="^EOF$"):
        decode_request(b"  ")
    with pytest.raises(DecodeError, match="^unexpected EOF$"):
        decode_request(b'{"orchestrator":')
    with pytest.raises(DecodeError, match="number 1.5 into Go struct field RemotePaymentRequest.inPixels of type int64"):
        decode_request(b'{"inPixels":1.5}')
    with pytest.raises(DecodeError, match="^illegal base64 data at input byte 4$"):
        decode_request(b'{"orchestrator":"AAAA!"}')
    with pytest.raises(DecodeError, match="invalid number literal"):
        decode_request(b'{"maxPrice":{"price":"wat"}}')
    # first type error wins, decoding goes on
    with pytest.raises(DecodeError, match="RemotePaymentRequest.app of type string"):
        decode_request(b'{"app":1,"inPixels":"x"}')
    r = decode_request(b'{"manifestId":"a","MANIFESTID":"b","inPixels":-3} {"ignored":')
    assert (r.manifest_id, r.in_pixels) == ("b", -3)
    r = decode_request(b'{"state":{"STATE":"AQ==","sig":null},"maxPrice":{"Price":"1.5","CURRENCY":"wei"}}')
    assert r.state_state == b"\x01" and r.state_sig == b"" and r.has_state
    assert (r.max_price.price, r.max_price.currency) == ("1.5", "wei")
    assert decode_request(b"null").orchestrator == b""


_T = "json: cannot unmarshal {} into Go struct field RemotePaymentRequest.{} of type {}"


DOCUMENT_ORDER_CASES = [
    # Go's decoder walks the keys in document order and reports the FIRST error it met (saveError)
    (b'{"inPixels":1.5,"orchestrator":"x"}', _T.format("number 1.5", "inPixels", "int64")),
    (b'{"orchestrator":"x","inPixels":1.5}', "illegal base64 data at input byte 0"),
    (b'{"app":5,"ManifestID":7}', _T.format("number", "app", "string")),
    (b'{"ManifestID":7,"app":5}', _T.format("number", "ManifestID", "string")),
    (b'{"type":true,"state":{"Sig":"!"}}', _T.format("bool", "type", "string")),
    (b'{"state":{"Sig":"!"},"type":true}', "illegal base64 data at input byte 0"),
    (b'{"state":{"sig":"AA==","STATE":{}},"capabilities":1}', _T.format("object", "state.State", "[]uint8")),
    (b'{"capabilities":1,"state":{"STATE":{}}}', _T.format("number", "capabilities", "[]uint8")),
    (b'{"maxPrice":{"unit":1},"inPixels":"x"}', _T.format("number", "maxPrice.unit", "string")),
    (b'{"inPixels":"x","maxPrice":{"unit":1}}', _T.format("string", "inPixels", "int64")),
    # an error in an early duplicate still counts, though the last duplicate sets the value
    (b'{"inPixels":"x","INPIXELS":3}', _T.format("string", "inPixels", "int64")),
    (b'{"app":"a","App":{},"orchestrator":"!"}', _T.format("object", "app", "string")),
    # the literal as written, not Decimal's rendering
    (b'{"inPixels":1e3}', _T.format("number 1e3", "inPixels", "int64")),
    # a JSON array decodes into []byte element by element
    (b'{"orchestrator":[1,256]}', _T.format("number 256", "orchestrator", "uint8")),
    # an invalid json.Number literal stops Go's decoder: it wins over an earlier saved error
    (b'{"inPixels":"x","maxPrice":{"price":"wat"}}',
     'json: invalid number literal, trying to unmarshal "\\"wat\\"" into Number'),
]


@pytest.mark.parametrize("body, message", DOCUMENT_ORDER_CASES)
def test_decode_request_reports_first_error_in_document_order(body, message):
    with pytest.raises(DecodeError) as e:
        decode_request(body)
    assert str(e.value) == message


def test_decode_request_values_in_document_order():
    r = decode_request(b'{"orchestrator":[1,2,null],"maxPrice":{"price":1E5},"maxPrice":{"unit":"u"},'
                       b'"state":{"State":"AQ=="},"state":null,"state":{"sig":"Ag=="},"inPixels":2,"inpixels":null}')
    assert r.orchestrator == b"\x01\x02\x00"
    assert (r.max_price.price, r.max_price.unit) == ("1E5", "u")  # a second object merges into the pointer
    assert (r.state_state, r.state_sig) == (b"\x01", b"\x02")  # null leaves a struct value as it was
    assert r.in_pixels == 2  # null leaves an int64 unchanged
    assert decode_request(b'{"maxPrice":{"price":"1"},"MaxPrice":null}').max_price is None  # null resets a pointer
    assert decode_request(b'{"app":"a","app":null}').app == "a"


def test_go_seconds():
    assert _go_seconds(1_500_000_000) == 1.5
    assert _go_seconds(-1_500_000_000) == -1.5
    assert _go_seconds(0) == 0.0
    assert _go_seconds(10**30) == _go_seconds(2**63 - 1)  # Time.Sub saturates


# ---- config ---------------------------------------------------------------------------------------
def test_capability_prices_parsing_like_go():
    text = json.dumps({"capabilities_prices": [
        {"pipeline": "live-video-to-video", "model_id": "m1", "price_per_unit": 1000, "pixels_per_unit": 4},
        {"pipeline": "text-to-image", "price_per_unit": "2.5"},
        {"pipeline": "Live video to video", "model_id": "m2", "price_per_unit": 0},  # falls back to max 7
        {"pipeline": "llm", "model_id": "x", "pixels_per_unit": -1, "price_per_unit": 9}]})
    got = parse_capability_max_prices(text, pixels_per_unit=Fraction(2), max_price_per_unit=Fraction(7))
    assert got == {35: {"m1": Fraction(250), "m2": Fraction(7, 2)}, 27: {"default": Fraction(5, 4)},
                   33: {"x": Fraction(9, 2)}}
    assert parse_capability_max_prices(json.dumps({"capabilities_prices": [{"pipeline": "llm"}]}),
                                       pixels_per_unit=Fraction(1), max_price_per_unit=Fraction(0)) == {}
    with pytest.raises(ConfigError, match="not a known capability"):
        parse_capability_max_prices('{"capabilities_prices":[{"pipeline":"nope","price_per_unit":1}]}',
                                    pixels_per_unit=Fraction(1), max_price_per_unit=Fraction(0))
    with pytest.raises(ConfigError, match="only wei"):
        parse_capability_max_prices('{"capabilities_prices":[{"pipeline":"llm","price_per_unit":1,'
                                    '"currency":"USD"}]}', pixels_per_unit=Fraction(1), max_price_per_unit=Fraction(0))
    assert pipeline_to_capability("live-video-to-video") == 35


def test_price_and_header_flags():
    assert parse_price("101.2", "--x") == Fraction(506, 5)
    assert parse_price("3/2wei", "--x") == Fraction(3, 2)
    assert parse_price("1e3", "--x") == 1000
    with pytest.raises(ConfigError, match="must be in wei"):
        parse_price("0.50USD", "--max-price-per-unit")
    assert parse_price("0.5e-12USD", "--max-price-per-unit", usd=True) == ("USD", Fraction(1, 2 * 10**12))
    with pytest.raises(ConfigError, match="wei or USD"):
        parse_price("3EUR", "--max-price-per-unit", usd=True)
    assert parse_webhook_headers("Authorization: Bearer a:b , X-Key:v,") == {"Authorization": "Bearer a:b",
                                                                            "X-Key": "v"}
    with pytest.raises(ConfigError):
        parse_webhook_headers("novalue")


def test_cli_flags():
    from lpdev.cli import UsageError, build_parser
    from lpdev.commands.signer import parse_http_addr, signer_config

    assert parse_http_addr("127.0.0.1:7936") == ("127.0.0.1", 7936)
    assert parse_http_addr(":8935") == ("0.0.0.0", 8935)
    assert parse_http_addr("[::1]:1") == ("::1", 1)
    with pytest.raises(UsageError):
        parse_http_addr("nohost")
    args = build_parser().parse_args(["signer", "--mock-chain", "--max-price-per-unit", "1000",
                                      "--pixels-per-unit", "4", "--max-ticket-ev", "5", "--remote-discovery",
                                      "--orch-addr", "a:1, b:2"])
    cfg = signer_config(args)
    assert cfg.max_price == 250 and cfg.limits.max_ticket_ev == 5 and cfg.orch_addrs == ("a:1", "b:2")
    assert cfg.replay_protection is True
    cfg = signer_config(build_parser().parse_args(["signer", "--mock-chain", "--allow-state-replay"]))
    assert cfg.replay_protection is False  # go-livepeer's stateless behaviour
    args = build_parser().parse_args(["signer", "--mock-chain", "--pixels-per-unit", "0"])
    with pytest.raises(UsageError, match="pixels-per-unit"):
        signer_config(args)
    from lpdev.cli import main

    assert main(["signer", "--mock-chain", "--http-addr", "0.0.0.0:0"]) == 2  # no auth on a public address
    assert main(["conformance", "--signer", "127.0.0.1:1"]) == 2  # needs the chain


# ---- ledger, webhook pieces -------------------------------------------------------------------------
def test_state_ledger():
    led = StateLedger(window=2)
    led.begin("a", 0)
    with pytest.raises(ReplayError, match="already being used"):
        led.begin("a", 0)
    led.end("a", 1)
    with pytest.raises(ReplayError, match="replayed"):
        led.begin("a", 0)
    led.begin("a", 1)
    led.end("a", None)  # failure: the same state stays usable
    led.begin("a", 1)
    led.end("a", 2)
    led.end("b", 0)
    led.end("c", 0)  # window 2: "a" forgotten
    led.begin("a", 0)


def test_nonce_book():
    nb = NonceBook(window=10)
    assert list(nb.reserve("s", 0, 2)) == [1, 2]
    assert list(nb.reserve("s", 0, 1)) == [3]  # another state with the same params: no reuse
    assert list(nb.reserve("s", 10, 2)) == [11, 12]
    with pytest.raises(OverflowError):
        nb.reserve("t", 2**32 - 2, 2)


def test_webhook_pieces():
    assert canonical_header("x-request-id") == "X-Request-Id"
    assert canonical_header("signer-auth-id") == "Signer-Auth-Id"
    assert canonical_header("bad header") == "bad header"
    body = webhook_body([("x-request-id", "a"), ("Host", "h"), ("X-Request-ID", "b")], {"StateID": "s"})
    assert body == b'{"headers":{"X-Request-Id":["a","b"]},"state":{"StateID":"s"}}'
    d = parse_outcome(WebhookOutcome(200, b'{"STATUS":200,"Expiry":5,"auth_ID":"x"}'))
    assert (d.status, d.expiry, d.auth_id) == (200, 5, "x")
    assert parse_outcome(WebhookOutcome(200, b'{"status":200} x')).status == 500  # json.Unmarshal is strict
    d = parse_outcome(WebhookOutcome(200, b'{"status":200,"maxPrice":{"price":"wat"}}'))
    assert d.status == 500 and "invalid number literal" in d.message
    d = parse_outcome(WebhookOutcome(200, b'{"status":418}'))
    assert (d.status, d.message) == (418, "signer auth rejected request with status 418")


def test_openapi_matches_the_service():
    from pathlib import Path

    import yaml

    import sim.signer
    from sim.signer.core import SignerCore
    from sim.signer.discovery import Discovery, StaticDiscoverySource
    from sim.signer.http import make_app
    from sim.signer.testkit import MemoryChain

    doc = yaml.safe_load((Path(sim.signer.__file__).parent / "openapi.yaml").read_text())
    assert doc["openapi"].startswith("3.")
    core = SignerCore(key=b"\x01" * 32, chain=MemoryChain())
    _app, adapter = make_app(core, Discovery(StaticDiscoverySource(), core.config, core.clock))
    assert set(doc["paths"]) == set(adapter.routes)
    for path, (method, _handler) in adapter.routes.items():
        assert method.lower() in doc["paths"][path]
    documented = set(doc["paths"]["/generate-live-payment"]["post"]["responses"])
    assert {"200", "400", "413", "480", "481", "482", "500", "502"} <= documented
