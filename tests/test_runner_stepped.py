"""Live Runners on a stepped stack (the scenario policy) and lpdev's runner client (issue 13, item 6).

* Nothing of the Live Runners runs on wall time on a virtual clock: no heartbeat loop, no O2R reader, no expiry
  sweeper, no health poller, no debit ticker; the stack drives them (``Stack.advance``/``sync``), at the right
  instants of its clock.
* lpdev's runner client pays a runner's 402 challenge as the livepeer-gateway SDK's ``reserve_session`` does: the
  same payment type, app, billed units, fee and maxPrice ceiling at the signer, the same reservation at the
  orchestrator (a differential test against the real SDK on the same stack).
* On a wall clock, ``silence`` stops a dev runner's own heartbeat loop and a heartbeat starts it again.
"""
from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from sim.gateway.runner_client import RunnerClient
from stack.policy import SCENARIO
from stack.spec import SpecParser, parse_spec
from stack.stack import Stack


def _spec(**kw):
    doc = {"chain": "mock", "seed": 4, "orchestrator": {"orch_secret": "abcdef", "http_entry": True},
           "runners": [{"name": "noop", "kind": "noop", "price": "36"}], **kw}
    return parse_spec(doc, SpecParser("test"))


def _events(st, kind, **where):
    return [e for e in st.bus.recent if e.kind == kind and all(e.data.get(k) == v for k, v in where.items())]


async def test_a_stepped_stack_runs_no_runner_loop_on_wall_time_and_drives_them_on_its_clock():
    async with Stack(_spec(), SCENARIO) as st:
        o = st.orchestrators["orch"]
        runners = o.server.runners
        reg = st.runners["noop"].registration
        assert st.stepped and not runners.config.background
        assert reg._task is None and reg._o2r_task is None  # no heartbeat loop, no O2R reader
        assert runners.registry._sweeper is None and runners.static._task is None
        c = RunnerClient("app", orchestrator_url=o.http_url, signer_url=st.signers["signer"].http_url, bus=st.bus)
        try:
            assert (await c.reserve(st.runner_route("noop"))).status == 200
            await st.sync()
            s = next(iter(runners.registry.runners.values())).sessions[c.session().session_id]
            assert s.task is None and s.processor is not None  # metered by tick(), not by a wall-clock ticker
            t0 = st.clock.now()
            await asyncio.sleep(0.2)  # wall time passes: nothing happens
            await st.sync()
            assert not _events(st, "runner.heartbeat") and not _events(st, "orch.debit")
            await st.advance(12)
            await st.sync()
            beats = _events(st, "runner.heartbeat")
            debits = _events(st, "orch.debit", manifest_id=s.session_id)
            assert [e.t - t0 for e in beats] == [5.0, 10.0]  # every heartbeat interval of stack time
            assert [e.t - t0 for e in debits] == [5.0, 10.0] and all(e.data["units"] == 5 for e in debits)
            assert reg.session_ids == [s.session_id]  # the runner read its O2R "reserved" event
            st.runner_silence("noop")
            await st.advance(25)
            await st.sync()
            exp = _events(st, "runner.expired")
            assert len(exp) == 1 and exp[0].data["silent_s"] == 27.0  # its last heartbeat was at +10, now +37
            assert not st.runner_info("noop")["registered"]
            await st.runner_heartbeat("noop")
            assert reg.reregistrations == 1 and st.runner_info("noop")["listed"]
        finally:
            await c.close()


async def test_a_static_runner_is_health_checked_when_told():
    async with Stack(_spec(runners=[]), SCENARIO) as st:
        entry = await st.add_static_runner("box", "noop", label="box", routing="label")
        assert entry["healthy"] is True and st.runner_route("box") == "box"
        await st.runner_health("box", False)
        assert st.runner_info("box")["status"] == "unavailable" and not st.runner_info("box")["listed"]
        assert [e.data["status"] for e in _events(st, "runner.health")] == ["unavailable"]
        with pytest.raises(ValueError, match="static runner"):
            st.runner_silence("box")
        with pytest.raises(ValueError, match="already"):
            await st.add_static_runner("box")
        with pytest.raises(KeyError, match="no runner 'nope'"):
            st.runner_info("nope")


async def test_the_client_pays_a_runner_as_the_sdk_does():
    pytest.importorskip("livepeer_gateway", reason="the livepeer-gateway SDK is installed by `make` (see README)")
    from livepeer_gateway.selection import reserve_session

    async with Stack(_spec(), SCENARIO) as st:
        o, s = st.orchestrators["orch"], st.signers["signer"]
        session = await reserve_session(orchestrators=[o.http_url], signer_url=s.http_url, app="lpdev/noop")
        await session.aclose()
        c = RunnerClient("app", orchestrator_url=o.http_url, signer_url=s.http_url, bus=st.bus)
        try:
            r = await c.reserve(st.runner_route("noop"))
            assert (r.status, r.signer_status, r.paid) == (200, 200, True)
            assert (await c.stop()).status == 204
        finally:
            await c.close()
        pays = _events(st, "signer.payment")
        assert len(pays) == 2, [e.data for e in pays]
        sdk, ours = pays[0].data, pays[1].data
        assert sdk["manifest_id"] == session.session_id and ours["manifest_id"] == r.session_id
        for k in ("status", "type", "app", "units", "billable_secs", "fee", "price", "tickets", "ceiling"):
            assert sdk[k] == ours[k], k
        # the SDK sends maxPrice = discovery x 1.012 as a JSON float, lpdev's client as the exact decimal
        assert abs(Fraction(sdk["ceiling_price"]) - Fraction(ours["ceiling_price"])) < 1
        reserved = _events(st, "runner.session_reserved")
        assert [(e.data["paid"], e.data["price"], e.data["unit"]) for e in reserved] == [(True, sdk["price"], "seconds")] * 2
        routes = [e.data["route"] for e in _events(st, "orch.payment_received")]
        assert routes == [f"/apps/{st.runner_route('noop')}/session"] * 2
        assert [e.data["reason"] for e in _events(st, "runner.session_released")] == ["stopped", "stopped"]


async def test_silence_stops_a_wall_clock_runners_own_heartbeats():
    import devnet
    from sim.orchestrator import OrchestratorServer
    from sim.orchestrator.live_runner import LiveRunnerConfig
    from sim.runners import start_dev_runner

    chain = devnet.open_chain("mock")
    try:
        async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), block_poll_s=None, http_port=0,
                                      orch_secret="abcdef",
                                      runner_config=LiveRunnerConfig(heartbeat_interval_s=0.02)) as o:
            r = await start_dev_runner("noop", o.http_url, "abcdef")
            try:
                reg = r.registration
                for _ in range(200):
                    if reg.heartbeats >= 3:
                        break
                    await asyncio.sleep(0.01)
                assert reg.heartbeats >= 3  # its own loop runs
                reg.pause()
                n = reg.heartbeats
                await asyncio.sleep(0.15)
                assert reg.heartbeats == n  # paused: no heartbeat of its own
                reg.resume()
                for _ in range(200):
                    if reg.heartbeats > n + 1:
                        break
                    await asyncio.sleep(0.01)
                assert reg.heartbeats > n + 1
            finally:
                await r.aclose()
    finally:
        chain.close()


async def test_the_client_pays_a_single_shot_runner_per_request():
    async with Stack(_spec(runners=[{"name": "story", "kind": "text", "price": "0.01", "unit": "fixed"}]),
                     SCENARIO) as st:
        o = st.orchestrators["orch"]
        c = RunnerClient("app", orchestrator_url=o.http_url, signer_url=st.signers["signer"].http_url, bus=st.bus)
        free = RunnerClient("nosigner", orchestrator_url=o.http_url, bus=st.bus)
        try:
            r = await c.call("/sse", runner=st.runner_route("story"), method="GET")
            assert (r.status, r.signer_status, r.paid) == (200, 200, True) and "data: " in r.body
            assert [e.data["reason"] for e in _events(st, "runner.session_released")] == ["single-shot done"]
            assert _events(st, "orch.debit", units=1, ok=True)  # the fixed price: one unit per request
            r = await free.call("/sse", runner=st.runner_route("story"), method="GET")
            assert (r.status, r.message) == (402, "Live runner paid call requires signer_url")
            r = await c.call("/x", runner="runner_nope")
            assert r.status == 0 and "No runners available to select" in r.message
            with pytest.raises(KeyError, match="app has no session"):
                await c.pay()
        finally:
            await c.close()
            await free.close()


async def test_tick_ends_for_intervals_shorter_than_a_unit_and_settles_long_jumps_in_bounded_steps():
    """A payment interval shorter than one billed unit debits 0 units at some instants (the processor carries the
    fraction over): the stepped pass walks the ticker's instants, so it ends (it used to wait forever for the
    processor to move) and bills exactly the elapsed seconds. A clock moved by weeks in one step is debited in at
    most MAX_CATCHUP_DEBITS passes, not one per interval."""
    from sim.orchestrator.live_runner import MAX_CATCHUP_DEBITS, LiveRunnerConfig

    with pytest.raises(ValueError, match="payment_interval_s must be a positive number of seconds, got 0"):
        LiveRunnerConfig(payment_interval_s=0)
    async with Stack(_spec(), SCENARIO) as st:
        runners = st.orchestrators["orch"].server.runners
        runners.config.payment_interval_s = 0.25
        runners.registry.heartbeat_ttl_s = 10**9  # the runner stays while the clock jumps
        c = RunnerClient("app", orchestrator_url=st.orchestrators["orch"].http_url,
                         signer_url=st.signers["signer"].http_url, bus=st.bus)
        try:
            assert (await c.reserve(st.runner_route("noop"))).status == 200
            await st.sync()
            sid = c.session().session_id
            s = next(iter(runners.registry.runners.values())).sessions[sid]
            st.clock.advance(2)
            await asyncio.wait_for(runners.tick(), 10)
            debits = _events(st, "orch.debit", manifest_id=sid)
            assert sum(e.data["units"] for e in debits) == 2 and s.released is None
            st.clock.advance(14 * 24 * 3600)
            await asyncio.wait_for(runners.tick(), 60)
            passes = _events(st, "orch.debit", manifest_id=sid)[len(debits):]
            assert 0 < len(passes) <= MAX_CATCHUP_DEBITS
            # two weeks at the runner's price outrun the first payment: released at the instant it ran out
            assert s.released is not None and "insufficient balance" in s.released, s.released
        finally:
            await c.close()
