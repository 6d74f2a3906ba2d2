"""The scripted gateway against a real in-process stack (mock chain, real HTTP signer, real TLS gRPC
orchestrator): the go-livepeer refresh rules and what it does when peers fail."""
from __future__ import annotations

import asyncio

import pytest

from sim.gateway.session import MAX_REFRESH_CALL_COUNT
from stack.spec import GatewaySpec, OrchestratorSpec, StackSpec, devnet_config, with_overrides
from stack.stack import Stack


def _cfg(**orch) -> StackSpec:
    return StackSpec(chain="mock", seed=3, orchestrators=[OrchestratorSpec(**orch)],
                       gateways=[GatewaySpec(name="gw", type="lv2v")])


def test_getorchestrator_over_tls_and_payments():
    async def go():
        async with Stack(_cfg()) as st:
            g = st.gateways["gw"]
            info = await g.start()
            assert info.transcoder.startswith("https://127.0.0.1:")
            assert len(info.ticket_params.recipient_rand_hash) == 32
            outs = await g.pay(3)
            return [(o.status, o.tickets) for o in outs], g.manifest_id, st.bus.of_kind("orch.credit")

    outs, mid, credits = asyncio.run(go())
    assert outs == [("paid", 17), ("paid", 1), ("paid", 2)]
    # after the first payment the gateway pays under the manifest id the first payment was credited to
    assert {c.data["manifest_id"] for c in credits} == {mid} and len(mid) == 8


def test_480_refreshes_at_most_like_go_then_gives_up():
    """Params that are always stale (fault params_expiry_blocks=1): every signer call is 480; go-livepeer refreshes
    while its call counter is <= 3, i.e. four refreshes, then 'too many consecutive session refreshes'."""
    async def go():
        async with Stack(_cfg(faults={"params_expiry_blocks": 1})) as st:
            g = st.gateways["gw"]
            await g.start()
            out = await g.pay_once()
            return out, len(st.bus.of_kind("gateway.refresh")), len(st.bus.of_kind("orch.params_issued"))

    out, refreshes_seen, issued = asyncio.run(go())
    assert out.status == "too_many_refreshes"
    assert out.message == "too many consecutive session refreshes"
    assert refreshes_seen == MAX_REFRESH_CALL_COUNT + 2  # 5 answers of 480; the 5th is not refreshed
    assert issued == 1 + MAX_REFRESH_CALL_COUNT + 1  # start + 4 refreshes


def test_481_stops_and_482_skips():
    async def go():
        cfg = _cfg(ticket_ev=10**16)  # EV >> fee per 5 s: 482 after a couple of payments
        async with Stack(cfg) as st:
            g = st.gateways["gw"]
            await g.start()
            outs = await g.pay(4)
            statuses = [o.status for o in outs]
            g.config.max_price = {"price": "1", "currency": "wei", "unit": "720p-pixel-seconds"}
            stop = await g.pay_once()
            after = await g.pay_once()
            return statuses, stop, after

    statuses, stop, after = asyncio.run(go())
    assert statuses[:2] == ["paid", "paid"] and "no_tickets" in statuses
    assert stop.status == "price_exceeded" and stop.signer_status == 481
    assert "exceeds request maxPrice ceiling" in stop.message
    assert after.status == "stopped"


def test_unreachable_signer_is_an_outcome_not_a_crash():
    async def go():
        async with Stack(_cfg()) as st:
            g = st.gateways["gw"]
            await g.start()
            await st.signers["signer"].http.stop()
            return await g.pay_once()

    out = asyncio.run(go())
    assert out.status == "signer_error"
    assert out.message in ("failed to call remote signer: connection refused",
                           "failed to call remote signer: connection lost")  # fresh vs kept-alive connection


@pytest.mark.parametrize("tls", [True, False])
def test_cleartext_and_tls_orchestrators(tls):
    async def go():
        async with Stack(_cfg(tls=tls)) as st:
            g = st.gateways["gw"]
            info = await g.start()
            out = await g.pay_once()
            return info.transcoder, out.status

    uri, status = asyncio.run(go())
    assert uri.startswith("https://" if tls else "http://")
    assert status == "paid"


def test_run_pays_at_the_cadence_until_stopped():
    """The long-running loop on the wall clock: a few payments 50 ms apart, then stop."""
    from sim.clock import RealClock

    async def go():
        from stack.policy import SCENARIO

        cfg = StackSpec(chain="mock", seed=None, gateways=[GatewaySpec(name="gw", type="fixed")])
        cfg.orchestrators = [OrchestratorSpec(price_per_unit=10**15)]
        async with Stack(cfg, SCENARIO.with_(clock="wall")) as st:
            g = st.gateways["gw"]
            assert isinstance(g.clock, RealClock)
            await g.start()
            stop = asyncio.Event()
            task = asyncio.create_task(g.run(stop, interval_s=0.05))
            while g.payments < 3:
                await asyncio.sleep(0.02)
            stop.set()
            return await asyncio.wait_for(task, 10)

    outs = asyncio.run(go())
    assert len(outs) >= 3 and all(o.status == "paid" and o.tickets == 1 for o in outs)
