"""Hostile input against the remote signer, every profile (issue "Hostile input and crashes", items 2 and 7):

* numbers: a ``maxPrice.price`` of 10^6 digits stalled the event loop for ~30 s before any auth check, and any
  price over 4 300 digits was a 500 (``int`` refuses to print it); prices, a state's ``Balance`` and the webhook's
  ``maxPrice`` now go through the bounded number parser (digits and exponent checked before anything is expanded),
  answered in each dialect's own words;
* lone surrogates: in ``ManifestID`` (a 500) and in ``app`` (a 200, then every later call ``app mismatch`` because
  the state stored U+FFFD) — the signer now reads them as Go does (U+FFFD), so later calls agree;
* HTTP: ``Content-Encoding: gzip`` on a plain body (a 500 with a traceback: Go does not decompress, neither does
  lpdev now), a NUL byte in a header (a traceback per request: now a one-line 400 in the dialect's envelope);
* slow clients: no header or body read timeout (50 slow connections stayed open forever) and no connection cap:
  now :class:`sim.serving.ServerLimits` (header, body, idle timeouts, 503 beyond the cap), the events feed too.

Each test here failed on the code before this change.
"""
from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
from dataclasses import replace

import pytest

from sim.serving import ServerLimits
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.http import SignerServer
from sim.signer.profiles import PROFILE_NAMES, get_profile
from sim.signer.testkit import request_body
from sim.signer.webhook import WebhookOutcome
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.state import RemotePaymentState, sign_state

from tests.loopback import serve_app
from tests.test_hostile_servers import _closed_within
from tests.test_signer_harness import KEY, Signer


@pytest.fixture(params=PROFILE_NAMES)
async def s(request):
    async with Signer(SignerConfig(profile=request.param)) as signer:
        yield signer


def node(s) -> bool:
    return s.core.profile.envelope == "flat"


def message(r) -> str:
    err = r.body.get("error") if isinstance(r.body, dict) else None
    return err["message"] if isinstance(err, dict) else err


def live(s, **kw) -> bytes:
    """A valid live payment request for the signer's dialect (livepeer-node: ManifestID = the auth session id)."""
    kw.setdefault("manifest_id", "sess0001")
    return request_body(s.info(ev=5), type="live", **kw)


def with_max_price(body: bytes, price_json: bytes) -> bytes:
    return body[:-1] + b', "maxPrice": {"price": ' + price_json + b', "currency": "wei", "unit": "seconds"}}'


async def post(s, body: bytes, headers=None):
    return await s.post("/generate-live-payment", body, {"Content-Type": "application/json", **(headers or {})})


# ---------------------------------------------------------------------------------------------- item 2: numbers
async def test_a_million_digit_max_price_is_refused_at_once_while_others_are_served(s):
    huge = with_max_price(live(s), b"9" * 10**6)
    assert len(huge) < 1 << 20  # under the body limit: the number itself is the problem
    big, ok = await asyncio.wait_for(asyncio.gather(post(s, huge), post(s, live(s))), 20)
    assert big.status == 400, (big.status, big.raw[:200])
    assert message(big) == "body: number with 1000000 digits (at most 100)"
    assert ok.status == 200, ok.raw[:200]


@pytest.mark.parametrize("price,problem", [
    (b"9" * 4400, "body: number with 4400 digits (at most 100)"),
    (b'"' + b"9" * 500 + b'"', "number with 500 digits (at most 100)"),
    (b'"0.' + b"0" * 4400 + b'1"', None),  # a string over the 1 KiB field limit: named as such
    (b"1e-150", "'1e-150' is out of range (more than 100 digits)"),
    (b"1e150", "'1e150' is out of range (more than 100 digits)"),
    (b"1e9999999", "'1e9999999' is out of range"),
])
async def test_prices_beyond_the_number_bounds_are_a_400_in_the_dialects_words(s, price, problem):
    r = await post(s, with_max_price(live(s), price))
    assert r.status == 400, (r.status, r.raw[:300])
    if problem is None:
        assert message(r).startswith("maxPrice.price too long: 4403 bytes"), message(r)
    elif problem.startswith("body:"):
        assert message(r) == problem
    elif node(s):
        assert message(r) == f"maxPrice requires a positive wei price: {problem}"
    else:
        assert message(r) == f"maxPrice.price must be a positive decimal: {problem}"
    rejected = s.bus.of_kind("signer.payment.rejected")[-1]
    assert rejected.get("status") == 400  # the event (with its numbers) was written: no 500 from printing them


async def test_ordinary_prices_keep_working(s):
    assert (await post(s, with_max_price(live(s), b'"1e2"'))).status == 200
    r = await post(s, with_max_price(live(s), b"0.5"))
    assert r.status == 481, r.raw[:200]
    assert (await post(s, with_max_price(live(s), b'"' + b"1" * 100 + b'"'))).status == 200  # 100 digits: fine


async def _signed_state_with(s, **changes) -> dict:
    """A state this signer issued, re-signed with its key after ``changes`` (what a caller with a leaked dev key
    or a buggy signer of the same key could send)."""
    r = await post(s, live(s))
    assert r.status == 200, r.raw[:200]
    layout = s.core.profile.state_layout
    k_state, k_sig = s.core.profile.state_keys
    st = RemotePaymentState.from_json(base64.b64decode(r.body["state"][k_state]), layout)
    raw = replace(st, **changes).to_json_bytes(layout)
    return {k_state: base64.b64encode(raw).decode(), k_sig: base64.b64encode(sign_state(KEY, raw)).decode()}


async def test_a_state_balance_beyond_the_bounds_is_a_400_naming_it(s):
    state = await _signed_state_with(s, balance="9" * 5000)
    s.clock.advance(5)
    r = await post(s, live(s, state=state))
    assert r.status == 400, (r.status, r.raw[:300])
    head = "invalid balance in payment state" if node(s) else "invalid state"
    assert message(r) == f"{head}: Balance: number with 5000 digits (at most 400)"
    state = await _signed_state_with(s, balance="1/7")  # an ordinary carried balance still works
    s.clock.advance(5)
    assert (await post(s, live(s, state=state))).status == 200


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_the_auth_webhooks_max_price_and_reply_are_bounded(profile):
    """The webhook is another service: its reply is parsed within bounds, its maxPrice like a request's."""
    from tests.test_signer_harness import shared_mock_chain
    from sim.clock import Rng, VirtualClock

    core = SignerCore(key=KEY, chain=shared_mock_chain(), clock=VirtualClock(1_780_000_000), rng=Rng(1),
                      config=SignerConfig(profile=profile, webhook_url="http://127.0.0.1:9/auth"))
    is_node = get_profile(profile).envelope == "flat"

    def finish(reply: bytes):
        pending = core.begin_payment([], request_body(_info(), type="live", manifest_id="sess0001"))
        assert not hasattr(pending, "status"), pending.body
        return core.finish_payment(pending, WebhookOutcome(http_status=200, body=reply))

    price = b'{"status": 200, "maxPrice": {"price": "%s", "currency": "wei", "unit": "seconds"}}'
    r = finish(price % (b"9" * 5000))
    if is_node:  # node: a maxPrice it cannot use is the webhook's fault (502); the reason is in the event
        assert (r.status, r.message) == (502, "signer auth invalid maxPrice")
    else:
        assert (r.status, r.message) == (502, "signer auth invalid maxPrice: maxPrice.price must be a positive "
                                              "decimal: number with 5000 digits (at most 100)")
    r = finish(b'{"status": 200, "reason": ' + b"[" * 20_000 + b"]" * 20_000 + b"}")  # under 64 KiB
    assert r.status == (502 if is_node else 500), r.message
    if not is_node:
        assert r.message == "signer auth invalid response: reply: nested deeper than 64 levels"
    r = finish(price % b"1e2")  # an ordinary ceiling still applies
    assert r.status == 200, r.message


def _info():
    from sim.signer.testkit import make_orch_info
    from tests.test_signer_harness import shared_mock_chain

    return make_orch_info(ev=5, now=1_780_000_000, last_block=shared_mock_chain().last_block())


# ---------------------------------------------------------------------------------------------- item 7: surrogates
async def test_a_lone_surrogate_in_manifest_id_is_read_as_go_reads_it(s):
    body = live(s, manifest_id=None).replace(b'"state"', b'"ManifestID": "\\ud800", "state"')
    r = await post(s, body)
    if node(s):  # node: the ManifestID must be the auth token's session id
        assert (r.status, message(r)) == (400, "manifest ID does not match payment params")
    else:
        assert r.status == 200, r.raw[:300]
        seg = pb.SegData.FromString(base64.b64decode(r.body["segCreds"]))
        assert seg.manifestId == "\ufffd".encode()


async def test_a_lone_surrogate_in_app_is_stored_as_go_stores_it_and_later_calls_agree(s):
    body = live(s).replace(b'"state"', b'"app": "a\\udc00b", "state"')
    r = await post(s, body)
    assert r.status == 200, r.raw[:300]
    k_state = s.core.profile.state_keys[0]
    assert json.loads(base64.b64decode(r.body["state"][k_state]))["App"] == "a\ufffdb"
    for _ in range(3):  # the next calls of the same session, with the same app, are paid
        s.clock.advance(5)
        nxt = live(s, state=r.body["state"]).replace(b'"state"', b'"app": "a\\udc00b", "state"')
        r = await post(s, nxt)
        assert r.status == 200, r.raw[:300]
    s.clock.advance(5)
    r = await post(s, live(s, state=r.body["state"], app="other"))
    assert r.status == 400  # a different app is still a different app


async def test_content_encoding_is_not_decoded_as_go_does_not(s):
    r = await post(s, live(s), {"Content-Encoding": "gzip"})  # a header, nothing more
    assert r.status == 200, r.raw[:300]
    r = await post(s, gzip.compress(live(s)), {"Content-Encoding": "gzip"})
    assert r.status == 400, r.raw[:300]
    assert message(r).startswith("body: gzip-compressed data, not text"), message(r)
    for enc in ("deflate", "br", "zstd", "x-bogus"):
        r = await post(s, live(s), {"Content-Encoding": enc})
        assert r.status == 200, (enc, r.raw[:300])


async def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("header", [b"X-Trace: a\x00b", b"Signer-Auth-Id: a\x00b", b"X-\x00Bad: v", b"X-Ctl: a\x01b",
                                    b"Bad Name: v"])
async def test_a_nul_or_control_byte_in_a_header_is_a_one_line_400_without_a_traceback(s, header, caplog):
    caplog.set_level(logging.DEBUG)
    body = live(s)
    out = await _raw(s.server.port, b"POST /generate-live-payment HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    head, _, raw = out.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"400", out[:300]
    doc = json.loads(raw)
    msg = doc["error"] if node(s) else doc["error"]["message"]
    assert msg.startswith("bad HTTP request: Invalid header") and "\n" not in msg, msg
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert (await post(s, live(s))).status == 200  # and the signer goes on


async def test_a_signer_auth_id_that_is_not_utf8_gets_the_dialects_answer_and_says_why(s):
    """Go keeps a header's bytes and its state's JSON holds U+FFFD for invalid ones, so the next call no longer
    matches: go-livepeer answers 500, livepeer-node 403. lpdev keeps the status and, for go-livepeer, says why;
    the events (and a trace) hold text, not surrogates."""
    headers_raw = b"Signer-Auth-Id: user-\xff\r\n"

    async def pay(state=None):
        body = live(s, state=state)
        out = await _raw(s.server.port, b"POST /generate-live-payment HTTP/1.1\r\nHost: x\r\n" + headers_raw +
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        head, _, raw = out.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(raw)

    status, doc = await pay()
    assert status == 200
    assert s.bus.of_kind("signer.payment")[-1].get("auth_id") == "user-\ufffd"
    json.dumps(s.bus.of_kind("signer.payment")[-1].to_dict(), ensure_ascii=False).encode("utf-8")  # writable
    s.clock.advance(5)
    status, doc = await pay(doc["state"])
    if node(s):
        assert (status, doc) == (403, {"error": "signer auth ID changed"})
    else:
        assert status == 500 and "the Signer-Auth-Id header is not valid UTF-8" in doc["error"]["message"], doc


# ---------------------------------------------------------------------------------------------- slow clients, cap
LIMITS = ServerLimits(header_timeout_s=0.5, body_timeout_s=0.5, idle_timeout_s=0.5, close_timeout_s=0.5,
                      max_connections=4)


@pytest.fixture(params=PROFILE_NAMES)
async def limited(request):
    from tests.test_signer_harness import shared_mock_chain
    from sim.clock import Rng, VirtualClock

    core = SignerCore(key=KEY, chain=shared_mock_chain(), clock=VirtualClock(1_780_000_000), rng=Rng(1),
                      config=SignerConfig(profile=request.param))
    async with SignerServer(core, limits=LIMITS) as server:
        yield server


async def test_fifty_slow_connections_are_closed_by_the_header_timeout(limited):
    conns = [await asyncio.open_connection("127.0.0.1", limited.port) for _ in range(50)]
    for _, w in conns:
        w.write(b"POST /generate-live-payment HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    results = await asyncio.gather(*(_closed_within(r, 5) for r, _ in conns))
    for _, w in conns:
        w.close()
    assert all(closed for closed, _ in results), f"{sum(not c for c, _ in results)} of 50 still open"


async def test_a_stalled_body_gets_408_and_an_idle_connection_is_closed(limited):
    r, w = await asyncio.open_connection("127.0.0.1", limited.port)
    w.write(b"POST /generate-live-payment HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    closed, data = await _closed_within(r, 5)
    w.close()
    assert closed and data.startswith(b"HTTP/1.1 408"), data[:300]
    assert b"request body not received within 0.5 s (1 bytes arrived)" in data
    r, w = await asyncio.open_connection("127.0.0.1", limited.port)
    w.write(b"POST /sign-orchestrator-info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    closed, data = await _closed_within(r, 5)  # answered, then closed once idle
    w.close()
    assert closed and data.startswith(b"HTTP/1.1 200"), data[:300]


async def test_connections_beyond_the_cap_get_a_503_in_the_dialects_envelope(limited):
    held = [await asyncio.open_connection("127.0.0.1", limited.port) for _ in range(LIMITS.max_connections)]
    await asyncio.sleep(0.05)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", limited.port)
        w.write(b"POST /sign-orchestrator-info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        _, data = await _closed_within(r, 5)
        w.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in head, data[:300]
        doc = json.loads(body)
        msg = doc["error"] if limited.core.profile.envelope == "flat" else doc["error"]["message"]
        assert msg == "too many connections to this server (at most 4); retry later"
        held += [await asyncio.open_connection("127.0.0.1", limited.port) for _ in range(LIMITS.max_connections)]
        await asyncio.sleep(0.05)
        r, w = await asyncio.open_connection("127.0.0.1", limited.port)  # beyond twice the cap: dropped at once
        w.write(b"POST /sign-orchestrator-info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        closed, data = await _closed_within(r, 0.3)
        w.close()
        assert closed and data == b"", data[:200]
    finally:
        for _, w in held:
            w.close()
    for _ in range(50):  # once they are gone, requests are served again
        await asyncio.sleep(0.1)
        r, w = await asyncio.open_connection("127.0.0.1", limited.port)
        w.write(b"POST /sign-orchestrator-info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        _, data = await _closed_within(r, 5)
        w.close()
        if data.startswith(b"HTTP/1.1 200"):
            break
    assert data.startswith(b"HTTP/1.1 200"), data[:200]


async def test_the_events_feed_caps_its_connections():
    from sim.clock import RealClock
    from sim.events import EventBus
    from tui.feed import serve

    runner, url = await serve(EventBus(RealClock()), limits=ServerLimits(max_connections=2))
    port = int(url.rsplit(":", 1)[1])
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    await asyncio.sleep(0.05)
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /kinds HTTP/1.1\r\nHost: x\r\n\r\n")
        _, data = await _closed_within(r, 5)
        w.close()
        assert data.startswith(b"HTTP/1.1 503") and b"too many connections to this server (at most 2)" in data, data
    finally:
        for _, w in held:
            w.close()
        await runner.cleanup()


@pytest.mark.parametrize("profile", PROFILE_NAMES)
async def test_a_webhook_reply_that_arrives_in_pieces_is_read_whole(profile):
    """The adapter read one chunk of the webhook's reply (``read(n)`` returns what has arrived): a reply sent in
    two writes was cut, and an approval became a 500/502."""
    from aiohttp import web

    async def auth(request: web.Request) -> web.StreamResponse:
        await request.read()
        reply = json.dumps({"status": 200, "expiry": 0, "auth_id": "u1", "reason": "x" * 3000}).encode()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(reply)
        await resp.prepare(request)
        await resp.write(reply[:10])
        await asyncio.sleep(0.05)
        await resp.write(reply[10:])
        return resp

    app = web.Application()
    app.router.add_post("/auth", auth)
    runner, url = await serve_app(app)
    url += "/auth"
    try:
        async with Signer(SignerConfig(profile=profile, webhook_url=url)) as s:
            r = await post(s, live(s))
            assert r.status == 200, r.raw[:300]
    finally:
        await runner.cleanup()
