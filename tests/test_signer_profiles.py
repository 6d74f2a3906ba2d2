"""Signer profiles (sim/signer/profiles.py): the livepeer-node dialect in detail, go-livepeer 0.9.3's nonce-500
refresh and USD prices, the fact tables, the CLI's per-profile rules. Over real loopback HTTP."""
from __future__ import annotations

import base64
import hashlib
import json
from fractions import Fraction

import aiohttp
import pytest

from sim.pm.money import rat_string
from sim.signer.config import SignerConfig
from sim.signer.core import STEPS
from sim.signer.profiles import (DEFAULT_PROFILE, GO_PAYMENT_STEPS, PROFILE_NAMES, PROFILES, UnknownProfile,
                                 get_profile, profile_table)
from sim.signer.testkit import MemoryChain, make_caps
from sim.wire.state import FIELD_ORDER, NODE_FIELD_ORDER, RemotePaymentState, sign_state

from tests.test_signer_harness import ADDR, KEY, T0, Signer
from tests.test_signer_webhook import Webhook

NODE = "livepeer-node"
SID = "sess0001"  # make_orch_info's auth token session id
WEI_PER_USD_3000 = Fraction(10**18, 3000)


def node_chain(**kw) -> MemoryChain:
    return MemoryChain(usd_per_eth=Fraction(3000), usd_updated_at=int(T0), **kw)


def node(hook: Webhook | None = None, **kw) -> Signer:
    s = Signer(SignerConfig(profile=NODE, webhook_url=hook.url if hook else None, **kw), chain=node_chain())
    s.server.announce = True
    return s


def err(r) -> str:
    assert isinstance(r.body, dict) and set(r.body) == {"error"} and isinstance(r.body["error"], str), r.raw
    assert r.raw.endswith(b"\n") and r.headers["Content-Type"].startswith("application/json")
    return r.body["error"]


def blob(r) -> bytes:
    return base64.b64decode(r.body["state"]["state"])


# ---- the tables ------------------------------------------------------------------------------------
def test_profiles_are_fact_tables_over_named_steps():
    assert DEFAULT_PROFILE == "go-livepeer" and set(PROFILE_NAMES) == {"go-livepeer", "go-livepeer@0.9.1", NODE}
    for p in PROFILES.values():
        assert set(p.steps) | set(p.finish_steps) <= set(STEPS), p.name
        assert p.facts["steps"].value == p.steps
        for key, fact in p.facts.items():
            assert fact.source, (p.name, key)
    go, old, nd = PROFILES["go-livepeer"], PROFILES["go-livepeer@0.9.1"], PROFILES[NODE]
    assert old.steps == GO_PAYMENT_STEPS and "nonce_refresh" not in old.steps
    assert go.steps.index("nonce_refresh") == go.steps.index("refresh") + 1  # with the other refresh triggers
    assert go.facts["steps"].inferred and go.facts["usd_fees"].inferred  # marked where the sources are silent
    assert {k for k in go.facts if go.facts[k] != old.facts.get(k)} == {"steps", "nonce_refresh_at", "usd_fees",
                                                                        "requires_price_feed", "discovery"}
    assert nd.steps.index("usd_ceiling") < nd.steps.index("node_state") < nd.steps.index("price_rise")
    assert (nd.auth_refresh_margin_s, go.auth_refresh_margin_s, nd.nonce_window) == (60, 180, 600)
    assert get_profile("go-livepeer@0.9.3") is go and get_profile(None) is go and get_profile("node") is nd
    with pytest.raises(UnknownProfile, match="choose one of go-livepeer, go-livepeer@0.9.1, livepeer-node"):
        get_profile("go-livepeer@0.8")
    table = profile_table(nd)
    assert "inferred" in table and "source: service.go" in table and "nonce_window" in table


def test_changing_a_fact_changes_the_signer():
    """A profile is data: a changed message row is what the signer answers (and what conformance expects)."""
    from dataclasses import replace

    from sim.signer.core import SignerCore
    from sim.signer.profiles import Fact, Profile

    table = dict(PROFILES[NODE].facts)
    table["msg.bad_type"] = Fact("only live or fixed, please", "a test", inferred=True)
    custom = Profile.build("custom", "test", table)
    core = SignerCore(key=KEY, chain=node_chain(), config=replace(SignerConfig(), profile=custom))
    r = core.begin_payment([], b'{"type":"lv2v"}')
    assert (r.status, r.body) == (400, {"error": "only live or fixed, please"})


# ---- livepeer-node over HTTP ----------------------------------------------------------------------
async def test_node_envelope_check_order_and_messages():
    async with node() as s:
        cases = [
            (b"{not-json", 400, "invalid payment request"),
            (b'{"type":"live"} x', 400, "invalid payment request"),  # strict: trailing data
            (b'{"type":"lv2v"}', 400, "payment type must be live or fixed"),
            (b'{"inPixels":1}', 400, "payment type must be live or fixed"),  # no type, inPixels ignored
            (b'{"type":"live","capabilities":"CAE="}', 400, "payment capabilities are unsupported"),
            (b'{"type":"live","orchestrator":"bm90LXByb3Rv"}', 400, "invalid orchestrator Protobuf"),
            (b'{"type":"live"}', 400, "incomplete or expired orchestrator payment params"),
        ]
        for body, status, message in cases:
            r = await s.post("/generate-live-payment", body)
            assert (r.status, err(r)) == (status, message), body
        assert r.raw == b'{"error":"incomplete or expired orchestrator payment params"}\n'
        for tail in (b"\x00", b"[" * 100):  # node's strict whole-body check stays (lpdev names its bound)
            r = await s.post("/generate-live-payment", b'{"type":"live"}' + tail)
            assert r.status == 400 and err(r).startswith("body: "), (tail, r.raw)
        # an inPixels of the wrong type is ignored (node's struct has no inPixels); go-livepeer says 400
        r = await s.pay(s.info(ev=35, price=(3, 1)), type="live", in_pixels=1, extra={"inPixels": "x"})
        assert r.status == 200, r.raw
        incomplete = [s.info(address=b"\x00" * 20, recipient=b"\x00" * 20), s.info(auth=False),
                      s.info(price=(0, 1)), s.info(address=bytes(range(20)))]
        for info in incomplete:
            r = await s.pay(info, type="live")
            assert err(r) == "incomplete or expired orchestrator payment params"


async def test_node_200_body_state_layout_and_scope():
    async with node() as s:
        info = s.info(ev=35, price=(3, 1))
        r = await s.pay(info, type="fixed", app="a")
        assert r.status == 200 and not r.raw.endswith(b"\n")  # json.Marshal + Write
        assert list(r.body) == ["payment", "segCreds", "state"] and list(r.body["state"]) == ["state", "sig"]
        raw = blob(r)
        obj = json.loads(raw)
        assert tuple(obj) == NODE_FIELD_ORDER and len(obj) == 16
        assert obj["ManifestID"] == SID and obj["Type"] == "fixed" and len(obj["StateID"]) == 32
        assert obj["LastUpdate"].endswith("Z") and obj["AuthPolicy"] == obj["AuthMaxPrice"] == ""
        st = r.body["state"]
        # the same state with the ManifestID spelled out or left to default
        r2 = await s.pay(info, type="fixed", app="a", state=st, manifest_id=SID)
        assert r2.status == 200 and json.loads(blob(r2))["SequenceNumber"] == 1
        for kw, in [({"app": "b"},), ({"type": "live"},)]:
            args = {"type": "fixed", "app": "a", **kw}
            r3 = await s.pay(info, state=r2.body["state"], **args)
            assert err(r3) == "payment state scope mismatch", kw
        # ManifestID other than the auth session id
        assert err(await s.pay(info, type="fixed", manifest_id="other")) == \
            "manifest ID does not match payment params"
        # a go-livepeer (13-field) state signed by this key: empty ManifestID -> scope mismatch
        go_state = RemotePaymentState(state_id="abcd0123", orchestrator_address=bytes(info.address), app="a",
                                      type="fixed", initial_price_per_unit=3, initial_pixels_per_unit=1)
        raw = go_state.to_json_bytes()
        env = {"State": base64.b64encode(raw).decode(), "Sig": base64.b64encode(sign_state(KEY, raw)).decode()}
        assert err(await s.pay(info, type="fixed", app="a", state=env)) == "payment state scope mismatch"
        bad = {"state": base64.b64encode(raw).decode(), "sig": base64.b64encode(b"x" * 65).decode()}
        assert err(await s.pay(info, type="fixed", app="a", state=bad)) == "invalid state signature"
        empty_id = RemotePaymentState(orchestrator_address=bytes(info.address)).to_json_bytes("node")
        env = {"state": base64.b64encode(empty_id).decode(), "sig": base64.b64encode(sign_state(KEY, empty_id)).decode()}
        assert err(await s.pay(info, type="fixed", state=env)) == "invalid payment state"


async def test_node_prices_fee_interval_and_refresh_rules():
    async with node() as s:
        # fee at the current price, 481 on any rise
        r = await s.pay(s.info(ev=1, price=(3, 1)), type="fixed")
        assert len(r.payment().ticket_sender_params) == 3
        st = r.body["state"]
        r2 = await s.pay(s.info(ev=1, price=(1, 1)), type="fixed", state=st)
        assert len(r2.payment().ticket_sender_params) == 1  # go-livepeer: 3 (fee at the initial price)
        r3 = await s.pay(s.info(ev=1, price=(4, 1)), type="fixed", state=r2.body["state"])
        assert (r3.status, err(r3)) == (481, "orchestrator price exceeds initial session price")
        # live: 10 s first, then ceil(elapsed) >= 1 s, more than an hour -> 400
        info = s.info(ev=1, price=(1, 1))
        r = await s.pay(info, type="live")
        assert len(r.payment().ticket_sender_params) == 10
        s.clock.advance(2.2)
        r = await s.pay(info, type="live", state=r.body["state"])
        assert len(r.payment().ticket_sender_params) == 3
        s.clock.advance(3601)
        r = await s.pay(s.info(ev=1, price=(1, 1)), type="live", state=r.body["state"])
        assert (r.status, err(r)) == (400, "payment interval exceeds one hour")
        # the auth token margin is 60 s (go-livepeer: 180 s)
        now = int(s.clock.now())
        assert (await s.pay(s.info(ev=35, price=(3, 1), auth_expiration=now + 120), type="live")).status == 200
        r = await s.pay(s.info(ev=35, price=(3, 1), auth_expiration=now + 60), type="live")
        assert (r.status, err(r)) == (480, "refresh expired orchestrator authentication")
        assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"
        # request maxPrice
        mp = {"price": 2, "currency": "WEI ", "unit": " Fixed"}
        assert err(await s.pay(s.info(ev=3, price=(3, 1)), type="fixed", max_price=mp)) == \
            "orchestrator price exceeds maxPrice"
        assert err(await s.pay(s.info(), type="fixed", max_price={**mp, "price": "-1"})) == \
            "maxPrice requires a positive wei price"
        assert err(await s.pay(s.info(), type="live", max_price=mp)) == "maxPrice unit does not match payment type"
        # 482 and batch errors
        r = await s.pay(s.info(ev=100, price=(1, 1)), type="fixed")
        r2 = await s.pay(s.info(ev=10, price=(1, 1)), type="fixed", state=r.body["state"])
        assert (r2.status, err(r2)) == (482, "no tickets needed") and "state" not in r2.body
        assert err(await s.pay(s.info(ev=1, price=(101, 1)), type="fixed")) == "invalid ticket batch"
        assert err(await s.pay(s.info(ev=0, price=(1, 1)), type="fixed")) == "invalid ticket batch"
        # one-ticket precheck
        assert err(await s.pay(s.info(expiration_block=0), type="fixed")) == "ticketParams expiration block is 0"
        r = await s.pay(s.info(expiration_block=1), type="fixed")
        assert (r.status, err(r)) == (480, "refresh session for remote signer")
        assert err(await s.pay(s.info(ev=10**13, price=(10**13, 1)), type="fixed")) == \
            "ticket parameters violate payer policy"


async def test_node_nonce_500_and_600_windows():
    async with node() as s:
        info = s.info(ev=1000, price=(100_000, 1))
        state, firsts = None, []
        for _ in range(5):
            r = await s.pay(info, type="fixed", **({"state": state} if state else {}))
            assert r.status == 200
            firsts.append(r.payment().ticket_sender_params[0].sender_nonce)
            state = r.body["state"]
        assert firsts == [1, 101, 201, 301, 401]
        r = await s.pay(info, type="fixed", state=state)
        assert (r.status, err(r)) == (480, "refresh session for remote signer")
        assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"
        # new params: the nonce restarts at 1 on the same state
        r = await s.pay(s.info(ev=1000, price=(100_000, 1), seed=77), type="fixed", state=state)
        assert r.payment().ticket_sender_params[0].sender_nonce == 1

    # nonce + count >= 600 -> 480. Unreachable behind the 500 rule with <= 100 tickets a call (499 + 100 < 600),
    # so shown on a variant of the profile without it: a profile is data.
    from dataclasses import replace

    from sim.signer.profiles import Fact, Profile

    table = {**PROFILES[NODE].facts, "steps": Fact(tuple(x for x in PROFILES[NODE].steps if x != "nonce_refresh"),
                                                    "a test")}
    variant = Profile.build("node-without-500", "test", table)
    async with Signer(replace(SignerConfig(), profile=variant), chain=node_chain()) as s:
        info = s.info(ev=1000, price=(99_000, 1))
        state, statuses = None, []
        for _ in range(7):
            r = await s.pay(info, type="fixed", **({"state": state} if state else {}))
            statuses.append(r.status)
            if r.status != 200:
                break
            state = r.body["state"]
        assert statuses == [200] * 6 + [480]  # 594 + 99 >= 600
        assert err(r) == "refresh session for remote signer"
        assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"


async def test_node_usd_ceilings_stale_rate_and_pin():
    async with node(max_hourly_price_usd=Fraction(18), max_fixed_price_usd=Fraction(1, 100)) as s:
        wpu = WEI_PER_USD_3000
        live_ceiling = Fraction(18, 3600) * wpu  # wei per second
        ok = s.info(ev=10**12, price=(int(live_ceiling), 1))
        assert (await s.pay(ok, type="live")).status == 200
        r = await s.pay(s.info(ev=10**12, price=(int(live_ceiling) + 1, 1)), type="live")
        assert (r.status, err(r)) == (481, "orchestrator price exceeds signer USD maximum")
        fixed_ceiling = wpu / 100  # wei per job
        assert (await s.pay(s.info(ev=10**11, price=(int(fixed_ceiling), 1)), type="fixed")).status == 200
        assert (await s.pay(s.info(ev=10**11, price=(int(fixed_ceiling) + 1, 1)), type="fixed")).status == 481
        ev = [e for e in s.bus.recent if e.kind == "signer.payment.rejected"][-1]
        assert ev.data["ceiling"] == "signer USD maximum" and ev.data["wei_per_usd"] == rat_string(wpu)
        # the feed goes stale after 2 h (the rate is re-read every 30 s)
        s.clock.advance(7200)
        r = await s.pay(s.info(ev=10**12, price=(1, 1)), type="live")
        assert (r.status, err(r)) == (503, "signer USD conversion rate unavailable")
        assert "stale" in [e for e in s.bus.recent if e.kind == "signer.payment.rejected"][-1].data["usd"]
        s.chain.usd_updated_at = int(s.clock.now())
        s.clock.advance(30)
        assert (await s.pay(s.info(ev=10**12, price=(1, 1)), type="live")).status == 200
    # no feed at all -> 503; a pinned rate needs none
    async with Signer(SignerConfig(profile=NODE), chain=MemoryChain()) as s:
        r = await s.pay(s.info(ev=35, price=(3, 1)), type="live")
        assert (r.status, err(r)) == (503, "signer USD conversion rate unavailable")
    async with Signer(SignerConfig(profile=NODE, wei_per_usd=WEI_PER_USD_3000), chain=MemoryChain()) as s:
        assert (await s.pay(s.info(ev=35, price=(3, 1)), type="live")).status == 200


async def test_node_webhook_statuses_policy_and_max_price():
    async with Webhook([{"status": 200, "expiry": int(T0) + 600, "auth_id": "alice",
                         "maxPrice": {"price": 5, "currency": "wei", "unit": "fixed"}}]) as h:
        async with node(h, webhook_headers={"X-K": "v"}) as s:
            info = s.info(ev=3, price=(3, 1))
            r = await s.pay(info, type="fixed", headers={"Signer-Auth-Id": "ignored-by-webhook"})
            assert r.status == 200, r.raw
            st = json.loads(blob(r))
            policy = hashlib.sha256(b'{"URL":"' + h.url.encode() + b'","Headers":{"X-K":"v"}}').hexdigest()
            assert (st["AuthID"], st["AuthMaxPrice"], st["AuthPolicy"]) == ("alice", "5", policy)
            call = h.calls[0]["body"]
            assert tuple(call["state"]) == NODE_FIELD_ORDER and call["headers"]["Signer-Auth-Id"] == [
                "ignored-by-webhook"]
            # cached: no call; the kept maxPrice is re-applied (a price within it passes, see below for one above)
            r2 = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed", state=r.body["state"])
            assert r2.status == 200 and len(h.calls) == 1
            r3 = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed", state=r2.body["state"])
            assert r3.status == 200
            # a Signer-Auth-Id other than the state's -> 403 before any webhook call
            r4 = await s.pay(info, type="fixed", state=r3.body["state"], headers={"Signer-Auth-Id": "mallory"})
            assert (r4.status, err(r4)) == (403, "signer auth ID changed") and len(h.calls) == 1
    async with Webhook([{"status": 200, "maxPrice": {"price": 2, "currency": "wei", "unit": "fixed"}}]) as h:
        async with node(h) as s:
            r = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed")
            assert (r.status, err(r)) == (481, "orchestrator price exceeds maxPrice")
    # the kept maxPrice while cached: approved at price 2 with maxPrice 2 (cached for 10 min); the next call at 3
    # (not above the session's initial price 3, so no price-rise 481) exceeds the kept 2 -> 481, no webhook call
    async with Webhook([{"status": 200, "maxPrice": {"price": 5, "currency": "wei", "unit": "fixed"}},
                        {"status": 200, "expiry": int(T0) + 600,
                         "maxPrice": {"price": 2, "currency": "wei", "unit": "fixed"}}]) as h:
        async with node(h) as s:
            r1 = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed")
            r2 = await s.pay(s.info(ev=2, price=(2, 1)), type="fixed", state=r1.body["state"])
            assert (r1.status, r2.status, len(h.calls)) == (200, 200, 2), (r1.raw, r2.raw)
            assert json.loads(blob(r2))["AuthMaxPrice"] == "2"
            r3 = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed", state=r2.body["state"])
            assert (r3.status, err(r3)) == (481, "orchestrator price exceeds maxPrice") and len(h.calls) == 2
            r4 = await s.pay(s.info(ev=2, price=(2, 1)), type="fixed", state=r2.body["state"])
            assert r4.status == 200 and len(h.calls) == 2  # within it: still cached, still paid
    replies = [
        ((500, b"oops"), 502, "signer auth webhook failed"),
        ({"status": 403, "reason": "denied"}, 403, "signer auth rejected request with status 403"),
        ({"status": 483, "reason": "insufficient balance"}, 483, "signer auth rejected request with status 483"),
        ({"status": 302}, 502, "invalid signer auth response"),
        ({"expiry": 5}, 502, "invalid signer auth response"),
        ((200, b"[1]"), 502, "invalid signer auth response"),
        ({"status": "200"}, 502, "invalid signer auth response"),
        ({"status": 200, "maxPrice": {"price": 1, "currency": "usd", "unit": "fixed"}}, 502,
         "signer auth invalid maxPrice"),
    ]
    for reply, status, message in replies:
        async with Webhook([reply]) as h:
            async with node(h) as s:
                r = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed")
                assert (r.status, err(r)) == (status, message), reply
    async with Signer(SignerConfig(profile=NODE, webhook_url="http://127.0.0.1:9/auth"), chain=node_chain()) as s:
        r = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed")
        assert (r.status, err(r)) == (502, "signer auth webhook unavailable")


async def test_node_webhook_config_change_voids_cached_approval():
    async with Webhook([{"status": 200, "expiry": int(T0) + 600}]) as h:
        async with node(h) as s:
            r = await s.pay(s.info(ev=3, price=(3, 1)), type="fixed")
            st = r.body["state"]
        async with node(h, webhook_headers={"Authorization": "Bearer x"}) as s2:  # same key, new policy
            assert (await s2.pay(s2.info(ev=3, price=(3, 1)), type="fixed", state=st)).status == 200
        assert len(h.calls) == 2


async def test_node_http_busy_body_limit_health_and_discovery():
    async with node() as s:
        assert s.server.metrics_url and s.server.metrics_url != s.url
        assert err(await s.pay(s.info(), type="lv2v")) == "payment type must be live or fixed"
        big = b'{"type":"live","orchestrator":"' + b"A" * (1 << 20) + b'"}'
        r = await s.post("/generate-live-payment", big)
        assert (r.status, err(r)) == (400, "payment request too large")
        r = await s.post("/discover-orchestrators", method="GET")
        assert (r.status, err(r)) == (503, "no orchestrator discovery source configured")
        r = await s.post("/nope")
        assert r.status == 404 and err(r).startswith("404 page not found")
        async with aiohttp.ClientSession() as http:
            async with http.get(s.server.metrics_url + "/healthz") as h:
                assert (h.status, await h.json()) == (200, {"status": "ok"})
            async with http.get(s.server.metrics_url + "/readyz") as h:
                assert (h.status, await h.json()) == (200, {"status": "ready"})
            async with http.get(s.server.metrics_url + "/metrics") as h:
                text = await h.text()
                assert h.status == 200 and "lpdev_signer_rejected_total 1" in text
            s.chain.senders[ADDR] = s.chain.default_sender.__class__(deposit=0, reserve=5)
            s.core.chain.get(force=True)
            async with http.get(s.server.metrics_url + "/readyz") as h:
                assert h.status == 503 and "deposit 0 wei" in (await h.json())["error"]
        # 64 requests in flight -> the 65th is 503 signer busy, on any route
        s.server.adapter.inflight = 64
        r = await s.post("/sign-orchestrator-info")
        assert (r.status, err(r)) == (503, "signer busy")
        s.server.adapter.inflight = 0
        r = await s.post("/sign-orchestrator-info")
        from sim.pm.crypto import recover_personal
        addr = r.body["address"]
        assert recover_personal(addr.encode(), bytes.fromhex(r.body["signature"][2:])) == ADDR  # flavour 1
        started = [e for e in s.bus.recent if e.kind == "signer.started"]
        assert started[0].data["profile"] == NODE and started[0].data["metrics_url"] == s.server.metrics_url


async def test_node_auth_id_403_without_webhook_and_go_500():
    for profile, status in ((NODE, 403), ("go-livepeer", 500)):
        chain = node_chain()
        async with Signer(SignerConfig(profile=profile), chain=chain) as s:
            info = s.info(ev=3, price=(3, 1))
            r = await s.pay(info, type="fixed", manifest_id=SID, headers={"Signer-Auth-Id": "a"})
            r2 = await s.pay(info, type="fixed", manifest_id=SID, state=r.body["state"],
                             headers={"Signer-Auth-Id": "b"})
            assert r2.status == status


# ---- go-livepeer 0.9.3 / 0.9.1 --------------------------------------------------------------------
async def test_go_093_refreshes_at_nonce_500_and_091_does_not():
    for profile, calls in (("go-livepeer", 5), ("go-livepeer@0.9.1", 7)):
        async with Signer(SignerConfig(profile=profile), chain=MemoryChain()) as s:
            info = s.info(ev=1000, price=(100_000, 1))
            state = None
            statuses = []
            for _ in range(7):
                kw = {"state": state, "manifest_id": "m"} if state else {}
                r = await s.pay(info, type="fixed", **kw)
                statuses.append(r.status)
                if r.status != 200:
                    break
                state = r.body["state"]
            assert statuses == [200] * calls + ([480] if calls < 7 else []), profile
            if calls < 7:
                assert r.message == "refresh session for remote signer"
                assert r.headers["Livepeer-Orchestrator-URL"] == "http://orch.example"
                assert json.loads(base64.b64decode(state["State"]))["SenderNonce"] == 500
                rej = [e for e in s.bus.recent if e.kind == "signer.payment.rejected"][-1]
                assert rej.data["refresh"] == "nonce 500 >= 500"
                # the refreshed params restart at nonce 1 on the same state (lv2v too: all types)
                r = await s.pay(s.info(ev=1000, price=(100_000, 1), seed=9), type="fixed", state=state,
                                manifest_id="m")
                assert r.status == 200 and r.payment().ticket_sender_params[0].sender_nonce == 1
            else:
                assert r.payment().ticket_sender_params[-1].sender_nonce == 700
            assert tuple(json.loads(base64.b64decode(state["State"]))) == FIELD_ORDER


async def test_go_093_nonce_refresh_counts_from_the_nonce_really_used():
    """Two states sharing params: lpdev's NonceBook hands the second one nonces after the first's, so the
    refresh fires when the nonces really reach 500, not when one state's copy does."""
    async with Signer(SignerConfig(), chain=MemoryChain()) as s:
        info = s.info(ev=1000, price=(100_000, 1))
        a = b = None
        for _ in range(3):
            a = (await s.pay(info, type="fixed", **({"state": a, "manifest_id": "m"} if a else {}))).body["state"]
        for _ in range(2):
            r = await s.pay(info, type="fixed", **({"state": b, "manifest_id": "m"} if b else {}))
            b = r.body["state"]
        assert r.payment().ticket_sender_params[-1].sender_nonce == 500
        r = await s.pay(info, type="fixed", state=b, manifest_id="m")  # b carries 500 -> 480
        assert r.status == 480
        r = await s.pay(info, type="fixed", state=a, manifest_id="m")  # a carries 300, the params are at 500
        assert r.status == 480


async def test_go_usd_max_price_and_fee_usd_event():
    cfg = SignerConfig(profile="go-livepeer", max_price_usd=Fraction(1, 10**15))  # 1e-15 USD per unit
    async with Signer(cfg, chain=MemoryChain(usd_per_eth=Fraction(2000), usd_updated_at=int(T0))) as s:
        ceiling = Fraction(1, 10**15) * Fraction(10**18, 2000)  # 1/2 wei per unit
        r = await s.pay(s.info(ev=10, price=(1, 2)), in_pixels=10)
        assert r.status == 200
        paid = [e for e in s.bus.recent if e.kind == "signer.payment"][-1]
        assert paid.data["fee_usd"] == rat_string(Fraction(5) / Fraction(10**18, 2000))
        r = await s.pay(s.info(ev=10, price=(1, 1)), in_pixels=10)
        assert r.status == 481 and r.message == (
            f"orchestrator price 1.000 exceeds configured maximum price ceiling {float(ceiling):.3f}")


def test_feed_gate_and_listen_rules(capsys):
    from lpdev.cli import UsageError, build_parser
    from lpdev.commands.signer import _listen, feed_check, signer_config

    def args(*a):
        return build_parser().parse_args(["signer", "--mock-chain", *a])

    go, old, nd = (PROFILES[n] for n in ("go-livepeer", "go-livepeer@0.9.1", NODE))
    no_feed, feed = MemoryChain(), MemoryChain(usd_per_eth=Fraction(3000))
    msg = feed_check(go, SignerConfig(), no_feed)
    assert msg.startswith("go-livepeer v0.9.3 (#4095) refuses to start without an ETH/USD price feed: no ETH/USD")
    assert "--profile go-livepeer@0.9.1" in msg
    assert feed_check(go, SignerConfig(), feed) is None and feed_check(old, SignerConfig(), no_feed) is None
    assert feed_check(old, SignerConfig(max_price_usd=Fraction(1)), no_feed).startswith("--max-price-per-unit in USD")

    class NoInterface:  # a chain view from before the ETH/USD interface
        pass
    assert feed_check(go, SignerConfig(), NoInterface()) is None
    assert "not checked" in capsys.readouterr().err
    # ":port" is loopback for go-livepeer (#3959), every interface for livepeer-node
    assert _listen(args("--http-addr", ":7000"), go)[:2] == ("127.0.0.1", 7000)
    assert _listen(args("--http-addr", ":7000", "--profile", NODE), nd)[:2] == ("0.0.0.0", 7000)
    assert _listen(args("--profile", NODE), nd) == ("127.0.0.1", 8937, ("127.0.0.1", 8938))
    with pytest.raises(UsageError, match="no health/metrics listener"):
        _listen(args("--metrics-addr", "127.0.0.1:1"), go)
    cfg = signer_config(args("--max-price-per-unit", "0.5e-12USD", "--pixels-per-unit", "2"))
    assert cfg.max_price is None and cfg.max_price_usd == Fraction(1, 4 * 10**12) and cfg.profile == "go-livepeer"
    with pytest.raises(UsageError, match="no wei ceiling"):
        signer_config(args("--profile", NODE, "--max-price-per-unit", "5"))
    with pytest.raises(UsageError, match="only the livepeer-node profile has USD ceilings"):
        signer_config(args("--max-hourly-price-usd", "36"))
    cfg = signer_config(args("--profile", NODE, "--max-hourly-price-usd", "7.5", "--wei-per-usd", "1/3"))
    assert (cfg.max_hourly_price_usd, cfg.wei_per_usd, cfg.max_fixed_price_usd) == (Fraction(15, 2),
                                                                                     Fraction(1, 3), None)
    with pytest.raises(UsageError, match="not a number"):
        signer_config(args("--profile", NODE, "--max-fixed-price-usd", "one"))


def test_cli_node_listens_where_told_and_warns(capsys):
    from lpdev.cli import main

    assert main(["signer", "--mock-chain", "--http-addr", "0.0.0.0:0"]) == 2  # go-livepeer refuses
    assert "refusing to serve" in capsys.readouterr().err
    assert main(["signer", "--list-profiles"]) == 0
    out = capsys.readouterr().out
    assert out.count(" — ") == 3 and "go-livepeer@0.9.1 — go-livepeer v0.9.1" in out


def test_node_caps_and_lv2v_refused_before_the_orchestrator_is_read():
    from sim.signer.core import SignerCore

    core = SignerCore(key=KEY, chain=node_chain(), config=SignerConfig(profile=NODE))
    caps = base64.b64encode(make_caps({35: ["m"]}).SerializeToString()).decode()
    r = core.begin_payment([], b'{"type":"live","orchestrator":"!!"}')  # bad base64: json.Unmarshal fails
    assert r.body == {"error": "invalid payment request"}
    body = json.dumps({"type": "live", "capabilities": caps, "orchestrator": "bm90LXByb3Rv"}).encode()
    assert core.begin_payment([], body).body == {"error": "payment capabilities are unsupported"}
    r = core.begin_payment([], json.dumps({"type": "lv2v", "capabilities": caps}).encode())
    assert r.body == {"error": "payment type must be live or fixed"}


def test_a_go_livepeer_orchestrator_refuses_node_identity():
    """livepeer-node's /sign-orchestrator-info is personal_sign over the address text (flavour 1); a go-livepeer
    orchestrator checks GetOrchestrator's sig as flavour 2: a gateway using only a node signer is refused."""
    from sim.signer.core import SignerCore
    from sim.wire import codec
    from sim.wire import lp_rpc_pb2 as pb

    for profile, accepted in ((NODE, False), ("go-livepeer", True), ("go-livepeer@0.9.1", True)):
        body = SignerCore(key=KEY, chain=node_chain(), config=SignerConfig(profile=profile)).sign_orchestrator_info().body
        req = pb.OrchestratorRequest(address=bytes.fromhex(body["address"][2:]),
                                     sig=bytes.fromhex(body["signature"][2:]))
        assert codec.verify_orch_request(req) is accepted, profile


def test_state_layouts_round_trip_and_read_each_other():
    from sim.signer.fastpath import state_from_json, state_to_json

    st = RemotePaymentState(state_id="ab" * 16, pm_session_id="0x" + "11" * 32, last_update=T0 * 10**9 + 5,
                            orchestrator_address=ADDR, app="a", auth_expiry=9, sender_nonce=7, balance="5/3",
                            initial_price_per_unit=3, initial_pixels_per_unit=1, type="live", sequence_number=2,
                            auth_id="u", auth_policy="p" * 64, auth_max_price="5", manifest_id=SID)
    node_raw = state_to_json(st, "node")
    assert tuple(json.loads(node_raw)) == NODE_FIELD_ORDER and node_raw == st.to_json_bytes("node")
    assert state_from_json(node_raw, "node") == st == RemotePaymentState.from_json(node_raw, "node")
    # go-livepeer reads a node blob and re-emits it without the three node-only fields
    as_go = state_from_json(node_raw, "go")
    assert (as_go.manifest_id, as_go.auth_policy, as_go.auth_max_price) == ("", "", "")
    assert tuple(json.loads(state_to_json(as_go, "go"))) == FIELD_ORDER
    # node reads a go blob with those three empty
    as_node = state_from_json(st.to_json_bytes("go"), "node")
    assert as_node.manifest_id == "" and as_node.sender_nonce == 7
