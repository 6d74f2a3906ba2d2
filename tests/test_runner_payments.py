"""Paid Live Runner sessions (go-livepeer ``reservePaidLiveRunnerSession``, ``runnerChallenge``,
``PaymentForLiveRunnerSession``): USD-priced runners converted to wei through the chain's ETH/USD reading, the 402
challenge, the paid reservation (manifest id = session id), metering every payment interval until the balance runs
out, follow-up payments answered with fresh params (#4029), fixed prices (one unit at reservation, 409 on follow-up
payments) and single-shot reservations paid per request.

In-process tests sign tickets with ``sim.orchestrator.probe.Payer`` on the mock chain; the last test is the real
SDK: ``reserve_session`` pays through lpdev's signer, the orchestrator meters the session, winners are redeemed on
anvil and money is conserved (the scenario invariant)."""
from __future__ import annotations

import asyncio
import base64
import json
from fractions import Fraction

import aiohttp
import pytest

import devnet
from sim.clock import VirtualClock
from sim.events import EventBus
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.live_runner import LiveRunnerConfig
from sim.orchestrator.runner_registry import RunnerError
from sim.orchestrator.probe import Payer, get_orchestrator
from sim.pm.accounting import insufficient_balance_message
from sim.runners import start_dev_runner
from sim.wire import lp_rpc_pb2 as pb
from sim.wire.gojson import b64encode
from tests.runner_stack import give_feed

TICKET_EV = 10**12
WEI_PER_USD = Fraction(10**18, 2000)


@pytest.fixture
async def stack(tmp_path):
    chain = devnet.open_chain("mock")
    give_feed(chain, 2000)
    bus = EventBus()
    clock = VirtualClock(5_000.0)  # the debit clock
    cfg = LiveRunnerConfig(payment_interval_s=0.05, clock=clock, heartbeat_interval_s=3600)
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                                  bus=bus, ticket_ev=TICKET_EV, price_per_unit=1000, auto_adjust_price=False,
                                  http_port=0, orch_secret="abcdef", runner_config=cfg) as o:
        payer = Payer(chain.key("sender"))
        payer.use(await asyncio.to_thread(get_orchestrator, o.url, payer.request()))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            yield o, payer, http, bus, clock
    chain.close()


async def post(http, url, body=b"{}", headers=None):
    async with http.post(url, data=body, headers=headers or {}) as r:
        return r.status, r.headers.get("Content-Type"), await r.read()


def events(bus, kind, **match):
    return [e for e in bus.recent if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]


async def until(cond, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        got = cond()
        if got:
            return got
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def challenge(o, http, payer, url):
    st, ct, body = await post(http, url, headers={"Livepeer-Payer-Address": "0x" + payer.address.hex()})
    assert st == 402 and ct == "application/json", body
    ch = json.loads(body)
    payer.use(pb.OrchestratorInfo.FromString(base64.b64decode(ch["payment_params"])))
    payer.manifest_id = ch["manifest_id"]
    return ch


async def single_shot_challenge(http, payer, url):
    """A single-shot runner's 402 for a GET: the payer takes its ticket params and manifest id."""
    async with http.get(url, headers={"Livepeer-Payer-Address": "0x" + payer.address.hex()}) as r:
        assert r.status == 402
        ch = await r.json()
    payer.use(pb.OrchestratorInfo.FromString(base64.b64decode(ch["payment_params"])))
    payer.manifest_id = ch["manifest_id"]
    return ch


async def test_metered_session_challenge_reserve_pay_and_release(stack):
    o, payer, http, bus, clock = stack
    runner = await start_dev_runner("noop", o.http_url, "abcdef", price="0.0072")  # USD/hour
    wei = int(Fraction("0.0072") / 3600 * WEI_PER_USD)
    assert wei == 10**9
    try:
        rid = runner.runner_id
        url = f"{o.http_url}/apps/{rid}/session"
        st, ct, body = await post(http, url, headers={"Livepeer-Payer-Address": "nope"})
        assert (st, ct, json.loads(body)) == (402, "application/json",
                                              {"error": {"message": "invalid live runner payment signer address"}})
        ch = await challenge(o, http, payer, url)
        mid = ch["manifest_id"]
        assert list(ch) == ["payment_params", "orchestrator", "manifest_id", "payment_url"]
        assert ch["orchestrator"] == o.http_url and ch["payment_url"] == f"{o.http_url}/apps/{rid}/session/{mid}/payment"
        info = pb.OrchestratorInfo.FromString(base64.b64decode(ch["payment_params"]))
        assert (info.price_info.pricePerUnit, info.price_info.pixelsPerUnit) == (wei, 1)
        assert info.auth_token.session_id == mid and info.address == o.orch.address
        # the segment must name the challenge's session; the payment header must parse
        h = payer.headers(1)
        wrong = b64encode(payer.segment(manifest_id="other").SerializeToString())
        st, _, body = await post(http, url, headers={"Livepeer-Payment": h["Livepeer-Payment"],
                                                     "Livepeer-Segment": wrong})
        assert (st, body) == (403, b"mismatched manifest and auth token\n")
        st, _, body = await post(http, url, headers={"Livepeer-Payment": "%%", "Livepeer-Segment": wrong})
        assert st == 402 and body.startswith(b"base64 decode error: ")
        st, ct, body = await post(http, url, headers=payer.headers(2))
        assert st == 200 and ct == "application/json"
        sess = json.loads(body)
        assert sess == {"session_id": mid, "app_url": f"{o.http_url}/apps/{rid}/session/{mid}/app",
                        "control_url": f"{o.http_url}/apps/{rid}/session/{mid}"}
        res = events(bus, "runner.session_reserved", session_id=mid)[0].data
        assert res["paid"] is True and Fraction(res["price"]) == wei and res["unit"] == "seconds"
        st, _, body = await post(http, url, headers=payer.headers(1))  # the same session id again
        assert (st, body) == (409, b"session already exists\n")
        # the app behind it answers through the proxy
        st, _, body = await post(http, sess["app_url"] + "/predict", b'{"x": 1}')
        assert st == 200 and json.loads(body)["echo"] == {"x": 1}
        # follow-up payments: manifest = session; the answer is a challenge with fresh params (#4029)
        st, ct, body = await post(http, ch["payment_url"], b"", payer.headers(1))
        fresh = json.loads(body)
        assert st == 200 and ct == "application/json" and fresh["manifest_id"] == mid
        assert fresh["payment_url"] == ch["payment_url"]
        finfo = pb.OrchestratorInfo.FromString(base64.b64decode(fresh["payment_params"]))
        assert finfo.ticket_params.recipient_rand_hash != info.ticket_params.recipient_rand_hash
        # priced like go's orchestratorInfoWithCaps for (sender, session) *before* this payment is processed: the
        # pinned session price if any, else the base price -- and a first payment from a new sender pins nothing
        # (the ledger quirk go-livepeer has too), so here it is the orchestrator's -pricePerUnit
        assert Fraction(finfo.price_info.pricePerUnit, finfo.price_info.pixelsPerUnit) == o.orch.base_price() == 1000
        assert o.orch.price_for(payer.address, mid) == wei  # ... which this follow-up payment has now pinned
        other = payer.headers(1)
        other["Livepeer-Segment"] = b64encode(payer.segment(manifest_id="x").SerializeToString())
        st, _, body = await post(http, ch["payment_url"], b"", other)
        assert (st, body) == (403, b"mismatched session and payment manifest\n")
        # metering: 1 unit per second of the debit clock at the paid price; released when it no longer fits
        credit = o.orch.ledger.balance(payer.address, mid)
        secs = int(credit // wei)
        clock.advance(secs // 2)
        deb = await until(lambda: events(bus, "orch.debit", manifest_id=mid))
        assert deb[0].data["units"] == secs // 2 and Fraction(deb[0].data["fee"]) == secs // 2 * wei
        clock.advance(secs)
        rel = (await until(lambda: events(bus, "runner.session_released", session_id=mid)))[0].data
        assert rel["reason"] == insufficient_balance_message(mid, Fraction(rel["fee"]), Fraction(rel["balance"]))
        assert rel["units"] == secs and Fraction(rel["fee"]) == secs * wei
        assert Fraction(rel["balance"]) == credit - (secs // 2) * wei == o.orch.ledger.balance(payer.address, mid)
        await asyncio.sleep(0.3)
        assert runner.registration.session_ids == []  # the runner heard "released" over O2R
        st, _, body = await post(http, ch["payment_url"], b"", payer.headers(1))
        assert (st, body) == (404, b"runner session not found\n")
        st, _, body = await post(http, sess["app_url"] + "/x")
        assert (st, body) == (404, b"runner session not found\n")
    finally:
        await runner.aclose()


async def test_fixed_price_session_and_single_shot_paid_per_request(stack):
    o, payer, http, bus, clock = stack
    fixed = await start_dev_runner("noop", o.http_url, "abcdef", price="0.002", unit="fixed", capacity=1)
    text = await start_dev_runner("text", o.http_url, "abcdef", price="0.0036")
    wei = int(Fraction("0.002") * WEI_PER_USD)
    try:
        url = f"{o.http_url}/apps/{fixed.runner_id}/session"
        ch = await challenge(o, http, payer, url)
        mid = ch["manifest_id"]
        h = payer.headers(1)
        pay = pb.Payment.FromString(base64.b64decode(h["Livepeer-Payment"]))
        pay.expected_price.pricePerUnit += 1
        st, _, body = await post(http, url, headers={"Livepeer-Payment": b64encode(pay.SerializeToString()),
                                                     "Livepeer-Segment": h["Livepeer-Segment"]})
        assert (st, body) == (400, b"payment price does not match live runner price\n")
        assert o.orch.ledger.balance(payer.address, mid) is None  # nothing credited
        st, _, body = await post(http, url, headers=payer.headers(1))
        assert st == 200 and json.loads(body)["session_id"] == mid
        credited = payer.sent[-1].ticket.ev
        assert o.orch.ledger.balance(payer.address, mid) == credited - wei  # one unit, now
        assert o.runners.registry.runners[fixed.runner_id].sessions[mid].task is None  # no metering
        st, _, body = await post(http, ch["payment_url"], b"", payer.headers(1))
        assert (st, body) == (409, b"fixed-price live runner sessions do not accept follow-up payments\n")
        await challenge(o, http, payer, url)
        st, _, body = await post(http, url, headers=payer.headers(1))
        assert (st, body) == (503, b"no capacity available for runner\n")
        # a paid single-shot runner: challenge, then one paid request = one session, released when it ends
        ss = f"{o.http_url}/apps/{text.runner_id}/app/sse"
        async with http.get(ss, headers={"Livepeer-Payer-Address": "0x" + payer.address.hex()}) as r:
            assert r.status == 402
            ch2 = await r.json()
        payer.use(pb.OrchestratorInfo.FromString(base64.b64decode(ch2["payment_params"])))
        payer.manifest_id = ch2["manifest_id"]
        async with http.get(ss, headers=payer.headers(1)) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
            assert (await r.read()).count(b"data: ") >= 3
        rel = await until(lambda: events(bus, "runner.session_released", session_id=ch2["manifest_id"]))
        assert rel[0].data["reason"] == "single-shot done"
        assert events(bus, "runner.session_reserved", session_id=ch2["manifest_id"])[0].data["single_shot"] is True
    finally:
        await fixed.aclose()
        await text.aclose()


async def test_paid_single_shot_request_is_cut_when_the_balance_runs_out(stack):
    o, payer, http, bus, clock = stack
    text = await start_dev_runner("text", o.http_url, "abcdef", price="0.0072")
    wei = 10**9
    try:
        url = f"{o.http_url}/apps/{text.runner_id}/app/sse"
        ch = await single_shot_challenge(http, payer, url)
        async with http.get(url, headers=payer.headers(1)) as r:
            assert r.status == 200
            await r.content.readline()
            clock.advance(10 * TICKET_EV // wei)  # far more seconds than one ticket pays for
            with pytest.raises(aiohttp.ClientPayloadError):
                await asyncio.wait_for(r.read(), 5)  # the stream is cut (go cancels the request)
        rel = (await until(lambda: events(bus, "runner.session_released", session_id=ch["manifest_id"])))[0].data
        assert rel["reason"].startswith(f"insufficient balance, mid={ch['manifest_id']}")
    finally:
        await text.aclose()


# ------------------------------------------------------------------------------------------------ the real SDK
@pytest.mark.sdk
@pytest.mark.anvil
@pytest.mark.slow
async def test_sdk_reserve_session_pays_through_lpdev_signer_and_winners_are_redeemed():
    pytest.importorskip("livepeer_gateway", reason="the livepeer-gateway SDK is installed by `make` (see README)")
    from livepeer_gateway.selection import reserve_session

    from sim.pm.sender import SenderLimits
    from stack.scenario.invariants import money_conservation
    from sim.signer.config import SignerConfig
    from tests.runner_stack import RunnerStack

    ev = 10**15
    scfg = SignerConfig(limits=SenderLimits(max_ticket_ev=Fraction(10**17), max_total_ev=Fraction(10**20)))
    with RunnerStack(chain="anvil", ticket_ev=ev, max_face_value=2 * ev, signer_config=scfg,
                     runner_config=LiveRunnerConfig(payment_interval_s=1.0)) as st:
        chain, orch = st.chain, st.orch.orch

        def money() -> dict:
            info = chain.sender_info(bytes.fromhex(chain.address("sender")[2:]))
            return {"senders": {"sender": {"deposit": info.deposit, "reserve": info.reserve}},
                    "orchestrators": {"orch": chain.pending_fees(bytes.fromhex(chain.address("orchestrator")[2:]))}}

        st.call(asyncio.to_thread(chain.advance_round))  # a fresh round: the winners stay redeemable in it
        st.call(st.orch.refresh())  # the orchestrator sees the new block before it issues params
        before = money()
        runner = st.call(start_dev_runner("noop", st.orch.url, "abcdef", price="3600"))  # 1 USD/s = 5e14 wei/s
        wei = int(Fraction(3600) / 3600 * Fraction(10**18, 2000))
        session = None
        try:
            session = await reserve_session(orchestrators=[st.orch.url], signer_url=st.signer_url.split("://")[1],
                                            app="lpdev/noop")
            sid = session.session_id
            assert session.app_url == f"{st.orch.url}/apps/{runner.runner_id}/session/{sid}/app"
            chal = st.events("runner.challenge", manifest_id=sid)
            assert len(chal) == 1 and chal[0].data["sender"] == st.signer_address.lower()
            assert Fraction(chal[0].data["price"]) == wei
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
                async with http.post(session.app_url + "/run", json={"frames": 3}) as r:
                    assert r.status == 200 and (await r.json())["echo"] == {"frames": 3}
            route = f"/apps/{runner.runner_id}/session/{sid}/payment"
            for _ in range(100):  # the SDK's funding loop pays every 3 s
                if st.events("orch.payment_received", manifest_id=sid, route=route):
                    break
                await asyncio.sleep(0.1)
            assert st.events("orch.payment_received", manifest_id=sid, route=route), "no follow-up payment"
            for _ in range(50):
                if len(st.events("orch.credit", manifest_id=sid)) >= 2 and st.events("orch.debit", manifest_id=sid):
                    break
                await asyncio.sleep(0.1)
        finally:
            if session is not None:
                await session.aclose()
            st.call(runner.aclose())
        assert [e.data["reason"] for e in st.events("runner.session_released", session_id=sid)] == ["stopped"]
        credits = st.events("orch.credit", manifest_id=sid)
        debits = st.events("orch.debit", manifest_id=sid)
        assert len(credits) >= 2 and debits and all(d.data["ok"] for d in debits)
        assert all(Fraction(d.data["fee"]) == d.data["units"] * wei for d in debits)
        payer = bytes.fromhex(st.signer_address[2:])
        assert orch.ledger.balance(payer, sid) == (sum(Fraction(c.data["amount"]) for c in credits)
                                                   - sum(Fraction(d.data["fee"]) for d in debits))
        assert not st.events("signer.payment.rejected")
        # winners: redeemed on chain once their params expired (40 blocks)
        winners = [w for w in orch.store.all() if w.manifest_id == sid]
        assert winners, "no winning ticket (each wins with probability >= 1/2)"
        st.call(asyncio.to_thread(chain.mine, 41))
        for _ in range(60):
            st.call(st.orch.redeem_now())
            left = [w for w in orch.store.all() if w.manifest_id == sid and w.status != "redeemed"]
            if not left:
                break
            await asyncio.sleep(0.2)
        assert not left, [w.to_dict() for w in left]
        assert all(chain.is_used_ticket(w.ticket_hash) for w in winners)
        result = money_conservation(list(st.seen), before, money(), {}, {})
        assert result.ok, result.detail
        mined = st.events("orch.redemption_mined")
        assert len(mined) == len(winners) and "lost != credited" not in result.detail


async def test_a_runner_gone_while_a_single_shot_payment_is_processed_is_a_404(stack):
    """The paid single-shot reservation awaits the payment; the runner unregisters meanwhile (its sessions are
    released with it). The request is answered ``404 runner not found`` (not a KeyError's 500), nothing is
    proxied, and releasing that session again (the request's own release, a concurrent stop) is a no-op."""
    o, payer, http, bus, clock = stack
    text = await start_dev_runner("text", o.http_url, "abcdef", price="0.0036")
    loop = asyncio.get_running_loop()
    real = o.orch.process_payment

    def process_then_unregister(*a, **kw):
        out = real(*a, **kw)
        asyncio.run_coroutine_threadsafe(text.aclose(), loop).result(10)  # the runner leaves mid-request
        return out

    try:
        ss = f"{o.http_url}/apps/{text.runner_id}/app/sse"
        ch = await single_shot_challenge(http, payer, ss)
        o.orch.process_payment = process_then_unregister
        async with http.get(ss, headers=payer.headers(1)) as r:
            assert (r.status, await r.read()) == (404, b"runner not found\n")
        assert not events(bus, "runner.proxied", session_id=ch["manifest_id"])
        released = events(bus, "runner.session_released", session_id=ch["manifest_id"])
        assert [e.data["reason"] for e in released] == ["unregister"]
        assert text.runner_id not in o.runners.registry.runners
    finally:
        o.orch.process_payment = real
        await text.aclose()


async def test_concurrent_releases_of_one_session_release_it_once(stack):
    """A client stop, the runner's stop and an expiry releasing the same session at once: one release (one
    event), the others are no-ops (or go's 404 once the runner itself is gone), never a KeyError."""
    o, payer, http, bus, clock = stack
    noop = await start_dev_runner("noop", o.http_url, "abcdef", capacity=2)
    try:
        reg = o.runners.registry
        st, _, body = await post(http, f"{o.http_url}/apps/{noop.runner_id}/session")
        assert st == 200, body
        sid = json.loads(body)["session_id"]
        r = reg.runners[noop.runner_id]

        async def release(how):
            await asyncio.sleep(0)
            if how == "route":
                try:
                    reg.release_route(r.route, sid, "client stop")
                except RunnerError as exc:  # go ReleaseSession: the runner itself is gone -> 404
                    assert (exc.status, exc.message, r.removed) == (404, "runner not found", True)
            elif how == "runner":
                reg.release(r, sid, "runner stop")
            else:
                reg.remove(r, "runner expired")

        await asyncio.gather(*(release(h) for h in ("route", "runner", "remove", "runner", "route")),
                             return_exceptions=False)
        assert len(events(bus, "runner.session_released", session_id=sid)) == 1
        assert reg.release(r, sid, "again") is None
        assert reg.counts()["sessions"] == 0
    finally:
        await noop.aclose()
