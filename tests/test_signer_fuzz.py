"""Hypothesis fuzz of the live signer, under every profile: generated JSON bodies never produce a 5xx the dialect
would not send (go-livepeer: only the documented batch-validation 500; livepeer-node: none) or a crash, and every
reply is the profile's JSON error envelope or a 200 payment.

Part of the default suite (a few seconds in all). Besides schema-driven and mostly-valid requests and raw bytes it
sends what a hostile client would (issue "Hostile input and crashes"): lone surrogates, numbers of up to 10^5
digits and huge exponents in every numeric place, bodies nested up to 300 deep, ``Content-Encoding`` games (plain
bodies labelled compressed, compressed bodies labelled or not), NUL, control and non-UTF-8 bytes in header names
and values, and clients that send their request in slow pieces or stop half way."""
from __future__ import annotations

import base64
import gzip
import http.client
import itertools
import json
import logging
import re
import socket
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fractions import Fraction

from sim.clock import Rng, VirtualClock
from sim.serving import ServerLimits
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from sim.signer.profiles import PROFILE_NAMES
from sim.signer.testkit import MemoryChain, make_caps, make_orch_info
from sim.wire.state import RemotePaymentState, sign_state

from tests.test_signer_harness import KEY, OTHER_KEY, server_in_thread

T0 = 1_780_000_000


@pytest.fixture(scope="module", params=PROFILE_NAMES)
def live_signer(request):
    chain = MemoryChain(usd_per_eth=Fraction(3000), usd_updated_at=T0)  # a fresh ETH/USD rate at the signer's now
    core = SignerCore(key=KEY, chain=chain, config=SignerConfig(profile=request.param), clock=VirtualClock(T0),
                      rng=Rng(3))
    limits = ServerLimits(header_timeout_s=2, body_timeout_s=0.3, idle_timeout_s=2, close_timeout_s=0.3)
    with server_in_thread(SignerServer(core, metrics_port=False, limits=limits)) as server:
        yield server


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


orch_infos = st.builds(
    lambda ev, price, auth_delta, exp_delta, rnd, caps: make_orch_info(
        ev=ev, price=price, now=T0, auth_expiration=T0 + auth_delta, last_block=100,
        expiration_block=100 + exp_delta, creation_round=rnd).SerializeToString() + caps,
    ev=st.integers(0, 10**15), price=st.one_of(st.none(), st.tuples(st.integers(-2**63, 2**63 - 1),
                                                                       st.integers(-2**63, 2**63 - 1))),
    auth_delta=st.integers(-10**6, 10**6), exp_delta=st.integers(-5, 100), rnd=st.integers(0, 2**63 - 1),
    caps=st.sampled_from([b"", b"\x08", b"\xff\xff"]))

states = st.one_of(
    st.none(),
    st.builds(lambda d, k: {"State": _b64(d), "Sig": _b64(sign_state(k, d))},
              st.one_of(st.binary(max_size=64), st.builds(
                  lambda seq, bal, ip, ipx, typ: RemotePaymentState(
                      state_id="s", orchestrator_address=bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"),
                      sequence_number=seq, balance=bal, initial_price_per_unit=ip, initial_pixels_per_unit=ipx,
                      type=typ, last_update=T0 * 10**9 - 5 * 10**9).to_json_bytes(),
                  st.integers(0, 2**64 - 1), st.sampled_from(["", "0", "1/3", "-5", "x", "1e400"]),
                  st.integers(-5, 10**6), st.integers(-5, 10**6), st.sampled_from(["", "live", "lv2v", "x"]))),
              st.sampled_from([KEY, OTHER_KEY])),
    st.dictionaries(st.sampled_from(["State", "Sig", "state", "SIG"]),
                    st.one_of(st.none(), st.text(max_size=20), st.integers()), max_size=3),
    st.text(max_size=5), st.integers())

# text with lone surrogates (json.dumps writes them as \\udXXX escapes) and control characters
hostile_text = st.text(st.characters(min_codepoint=0, max_codepoint=0xFFFF, exclude_categories=()), max_size=12)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                      st.text(max_size=30), hostile_text)
json_any = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), c, max_size=3)),
                        max_leaves=8)

max_prices = st.one_of(st.none(), json_any, st.fixed_dictionaries(
    {"price": st.one_of(st.integers(-5, 10**6), st.text(max_size=8), st.floats(0, 10, allow_nan=False)),
     "currency": st.sampled_from(["wei", "WEI ", "usd", ""]),
     "unit": st.sampled_from(["seconds", "720p-pixel-seconds", "fixed", "x"])}))

bodies = st.fixed_dictionaries({}, optional={
    "orchestrator":
        st.one_of(orch_infos.map(_b64), st.text(max_size=12), json_any),
    "state": states,
    "ManifestID": st.one_of(st.text(max_size=20), hostile_text, json_any),
    "app": st.one_of(st.text(max_size=10), hostile_text, st.integers()),
    "inPixels": st.one_of(st.integers(-2**64, 2**64), st.floats(allow_nan=False), st.text(max_size=4)),
    "type": st.sampled_from(["", "live", "lv2v", "fixed", "bogus", None, 3]),
    "maxPrice": max_prices,
    "capabilities": st.one_of(st.none(), st.just(_b64(make_caps({35: ["m"]}).SerializeToString())),
                              st.binary(max_size=20).map(_b64), st.text(max_size=6)),
})


# mostly-valid requests that reach the deep steps (billing, ceilings, tickets, state round-trip)
valid_states = st.builds(
    lambda seq, bal, ip, ipx, typ, nonce, layout, mid: {"State": _b64(raw := RemotePaymentState(
        state_id=f"s{seq}", orchestrator_address=bytes.fromhex("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"),
        sequence_number=seq, balance=bal, initial_price_per_unit=ip, initial_pixels_per_unit=ipx, type=typ,
        sender_nonce=nonce, last_update=T0 * 10**9 - 5 * 10**9, manifest_id=mid).to_json_bytes(layout)),
        "Sig": _b64(sign_state(KEY, raw))},
    st.integers(0, 2**64 - 2), st.sampled_from(["", "0", "1/3", "-5", "x", "99999999999"]),
    st.integers(-1, 10**4), st.integers(-1, 10**4), st.sampled_from(["", "live", "lv2v", "fixed"]),
    st.integers(0, 2**32 - 1), st.sampled_from(["go", "node"]), st.sampled_from(["", "sess0001"]))
deep_bodies = st.fixed_dictionaries({
    "orchestrator": st.builds(
        lambda ev, price, exp_delta, transcoder, auth_delta, fv, wp: _b64(make_orch_info(
            ev=ev, price=price, now=T0, last_block=100, expiration_block=100 + exp_delta, transcoder=transcoder,
            auth_expiration=T0 + auth_delta, face_value=fv, win_prob=wp).SerializeToString()),
        st.integers(0, 10**13), st.tuples(st.integers(-10, 10**4), st.integers(-10, 10**4)), st.integers(0, 60),
        st.text(max_size=20), st.sampled_from([3600, 3600, 3600, 100, -5]),
        st.one_of(st.none(), st.none(), st.integers(0, 2**400)), st.one_of(st.none(), st.none(),
                                                                            st.integers(0, 2**400))),
    "state": st.one_of(st.none(), valid_states, valid_states),
    "type": st.sampled_from(["", "live", "lv2v", "fixed"]),
    "inPixels": st.integers(-10, 10**9),
    "ManifestID": st.one_of(st.sampled_from(["", "mid", "sess0001"]), hostile_text),
}, optional={"maxPrice": max_prices, "app": st.one_of(st.sampled_from(["", "a"]), hostile_text),
             "capabilities": st.just(_b64(make_caps({35: ["m"]}).SerializeToString()))})


def _post(server, body: bytes, headers=None) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", "/generate-live-payment", body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


def _check(server, status: int, raw: bytes, headers: dict) -> None:
    prof = server.core.profile
    assert headers.get("Content-Type") == "application/json"
    doc = json.loads(raw)
    if status == 200:
        assert set(doc) == {"payment", "segCreds", "state"} and set(doc["state"]) == set(prof.state_keys)
        assert raw.endswith(b"\n") == prof.response_newline
        return
    assert raw.endswith(b"\n")
    assert set(doc) == {"error"}
    msg = doc["error"]["message"] if prof.envelope == "go" else doc["error"]
    assert isinstance(msg, str) and msg
    if prof.envelope == "go":
        # the one documented 500 without a webhook: the n-ticket batch fails total-EV validation
        assert status < 500 or msg.startswith("total ticket EV"), (status, msg)
    else:
        assert status < 500, (status, msg)  # livepeer-node: nothing here is a server failure
    assert "internal error" not in msg


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(doc=bodies, case=st.sampled_from([str, str.lower, str.upper]))
def test_fuzz_generated_json(live_signer, doc, case):
    doc = {case(k) if k != "state" else k: v for k, v in doc.items()}
    status, raw, headers = _post(live_signer, json.dumps(doc).encode())
    _check(live_signer, status, raw, headers)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(doc=deep_bodies)
def test_fuzz_mostly_valid_requests(live_signer, doc):
    status, raw, headers = _post(live_signer, json.dumps(doc).encode())
    _check(live_signer, status, raw, headers)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                     json_any.map(lambda v: json.dumps(v).encode())))
def test_fuzz_raw_bodies(live_signer, raw):
    status, body, headers = _post(live_signer, raw)
    _check(live_signer, status, body, headers)
    assert status != 200


# ------------------------------------------------------------------------------------------------ hostile clients
_SEEDS = itertools.count(1000)


def _valid_doc() -> dict:
    """A request every profile pays (live, ManifestID = the auth session id, EV 5 at price 1), with params of its
    own (a new recipientRandHash: the module's signer would otherwise reach the nonce-500 refresh)."""
    info = make_orch_info(ev=5, now=T0, last_block=100, seed=next(_SEEDS))
    return {"state": {"State": None, "Sig": None}, "orchestrator": _b64(info.SerializeToString()),
            "ManifestID": "sess0001", "type": "live"}


def _raw(server, data: bytes, *, pieces: tuple[int, ...] = (), pause: float = 0.0,
         shut: bool = False) -> tuple[int, bytes, dict]:
    """One HTTP/1.1 exchange on a raw socket (http.client refuses to send bad header bytes): ``data`` cut at
    ``pieces`` with ``pause`` seconds between them; ``shut`` half-closes after the last byte. The reply is read by
    its Content-Length, so a connection the server keeps alive does not wait for a timeout."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        start = 0
        for cut in (*sorted(set(pieces)), len(data)):
            if cut <= start:
                continue
            sock.sendall(data[start:cut])
            start = cut
            if pause and cut < len(data):
                time.sleep(pause)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = sock.recv(65536)
            if not chunk and not out and shut:
                return 0, b"", {}  # closed without an answer: aiohttp drops a peer that half-closed mid-body
            assert chunk, f"the signer closed the connection without an answer (got {out[:200]!r})"
            out += chunk
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("Content-Length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "the answer was cut short"
            body += chunk
    return int(lines[0].split(" ")[1]), body[:length], headers


def _request(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


NUM = "\x01NUMBER\x01"  # where a number literal goes, substituted after json.dumps
number_literals = st.one_of(
    st.builds(lambda n, sign: sign + "9" * n, st.integers(90, 6000), st.sampled_from(["", "-"])),
    st.builds(lambda a, n: f"{a}.{'0' * n}1", st.integers(0, 10**6), st.integers(0, 3000)),
    st.builds(lambda m, e: f"{m}e{e}", st.sampled_from(["1", "9.5", "-2", "0"]), st.integers(-10**8, 10**8)),
    st.just("7" * 100_000),
    st.sampled_from(["0123", "1e", "-", "1.", ".5", "1e+", "Infinity", "NaN", "-0", "1E400", "0x10", "1_000"]))
number_places = st.sampled_from(["maxPrice.price", "maxPrice.price (string)", "inPixels", "type", "ManifestID",
                                 "app", "extra", "state.State", "capabilities", "orchestrator"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(literal=number_literals, place=number_places, unit=st.sampled_from(["seconds", "fixed"]))
def test_fuzz_long_numbers_everywhere(live_signer, literal, place, unit):
    doc = _valid_doc()
    quoted = place.endswith("(string)")
    key = place.split(" ")[0]
    if key == "maxPrice.price":
        doc["maxPrice"] = {"price": NUM, "currency": "wei", "unit": unit}
    elif key == "state.State":
        doc["state"] = {"State": NUM, "Sig": None}
    else:
        doc[key] = NUM
    text = json.dumps(doc).replace(json.dumps(NUM), json.dumps(literal) if quoted else literal, 1)
    status, raw, headers = _post(live_signer, text.encode())
    _check(live_signer, status, raw, headers)
    runs = [len(r) for r in re.findall(r"\d+", literal)]
    if not quoted and max(runs, default=0) > 100:  # refused before any parser ran, whatever the field
        first = next(n for n in runs if n > 100)
        assert status == 400 and _message(raw) == f"body: number with {first} digits (at most 100)", raw[:200]
    if status == 200 and key == "maxPrice.price":  # a price that was used is within the bounds
        mantissa = re.split("[eE]", literal)[0]
        exponent = re.split("[eE]", literal)[1] if re.search("[eE]", literal) else "0"
        assert sum(c.isdigit() for c in mantissa) <= 100 and abs(int(exponent or 0)) <= 100, literal


def _message(raw: bytes) -> str:
    err = json.loads(raw)["error"]
    return err["message"] if isinstance(err, dict) else err


@st.composite
def nested(draw) -> bytes:
    depth = draw(st.integers(1, 300))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"maxPrice":', "}")]))
    inner = opener * depth + draw(st.sampled_from(["1", '"x"', "null", "[]", "{}"])) + closer * depth
    if draw(st.booleans()):
        inner = inner[:draw(st.integers(0, len(inner)))]  # truncated
    return inner.encode()


_BRACKETS = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(inner=nested(), place=st.sampled_from(["top", "maxPrice", "extra", "orchestrator", "state", "state.State"]))
def test_fuzz_nested_bodies(live_signer, inner, place):
    if place == "top":
        body = inner
    else:
        doc = _valid_doc()
        if place == "state.State":
            doc["state"] = {"State": NUM, "Sig": None}
        else:
            doc[place] = NUM
        body = json.dumps(doc).replace(json.dumps(NUM), inner.decode(), 1).encode()
    status, raw, headers = _post(live_signer, body)
    _check(live_signer, status, raw, headers)
    depth = max(itertools.accumulate((_BRACKETS.get(c, 0) for c in body), initial=0))  # no brackets in strings
    if depth > 64:  # refused before any parser runs, in every dialect, with the reason
        assert status == 400 and _message(raw) == "body: nested deeper than 64 levels", (status, raw[:200])


def _compress(kind: str | None, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "deflate":
        return zlib.compress(data)
    if kind == "truncated-gzip":
        return gzip.compress(data)[:20]
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(label=st.one_of(st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "gzip, deflate", "GZIP",
                                        "x-gzip", "compress", "", "gzip;q=1"]), st.text("abcxyz-, ;=", max_size=40)),
       kind=st.sampled_from([None, None, "gzip", "deflate", "truncated-gzip"]),
       transfer=st.sampled_from([None, "chunked"]))
def test_fuzz_content_encoding_games(live_signer, label, kind, transfer):
    """Go's net/http does not decode request bodies: a ``Content-Encoding`` label changes nothing, a compressed
    body is just bytes (not JSON: a 400 that says it is compressed)."""
    plain = json.dumps(_valid_doc()).encode()
    body = _compress(kind, plain)
    extra = f"Content-Encoding: {label}\r\n".encode()
    if transfer == "chunked":
        head = (b"POST /generate-live-payment HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra +
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        data = head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    else:
        data = _request(body, extra)
    status, raw, headers = _raw(live_signer, data)
    _check(live_signer, status, raw, headers)
    if kind is None:
        assert status == 200, raw[:300]
    else:
        assert status == 400, raw[:300]


header_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.sampled_from([b"Signer-Auth-Id", b"X-Request-ID", b"Authorization", b"Content-Encoding"]),
                      header_bytes.filter(bool)),
       value=st.one_of(header_bytes, st.sampled_from([b"a\x00b", b"\x7f", b"\xff\xfe", b"\x01\x02", b"\t ok \t"])))
def test_fuzz_header_bytes(live_signer, name, value, caplog):
    """NUL, control and non-UTF-8 bytes in header names and values: a 200 or a one-line 400, never a 5xx or a
    traceback; the signer keeps serving."""
    caplog.clear()
    status, raw, headers = _raw(live_signer, _request(json.dumps(_valid_doc()).encode(), name + b": " + value +
                                                      b"\r\n"))
    _check(live_signer, status, raw, headers)
    if status == 400:
        assert "\n" not in _message(raw)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, 400), max_size=8), pause=st.sampled_from([0.0, 0.002, 0.01]),
       stop=st.one_of(st.none(), st.integers(1, 60)))
def test_fuzz_slow_and_unfinished_clients(live_signer, cuts, pause, stop):
    """A request sent in pieces is answered as if sent at once; one whose body stops short (the client
    half-closes) is answered 400 or closed at once — never a hang or a 5xx — and the signer goes on serving."""
    data = _request(json.dumps(_valid_doc()).encode())
    if stop is None:
        status, raw, headers = _raw(live_signer, data, pieces=tuple(cuts), pause=pause)
        _check(live_signer, status, raw, headers)
        assert status == 200, raw[:300]
    else:
        status, raw, headers = _raw(live_signer, data[:-stop], pieces=tuple(cuts), pause=pause, shut=True)
        if status:
            _check(live_signer, status, raw, headers)
            assert status == 400, raw[:300]
        assert _raw(live_signer, data)[0] == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(app=hostile_text, manifest=hostile_text)
def test_fuzz_hostile_strings_survive_the_state_round_trip(live_signer, app, manifest):
    """Lone surrogates and control characters in ``app`` and ``ManifestID``: paid, and the next call of the same
    session (its state, the same strings) is paid too — the state holds what Go would (U+FFFD for a surrogate)."""
    doc = _valid_doc()
    doc["app"] = app
    if live_signer.core.profile.envelope == "go":
        doc["ManifestID"] = "m" + manifest
    for _ in range(2):
        status, raw, headers = _post(live_signer, json.dumps(doc).encode())
        _check(live_signer, status, raw, headers)
        assert status == 200, raw[:300]
        doc["state"] = json.loads(raw)["state"]
