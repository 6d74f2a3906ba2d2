"""The trickle app mounted on the orchestrator's one TLS port, and a noop job debiting through the orchestrator's live
payment processor (docs/orchestrator.md#credit-and-debit) via the per-segment hook — the glue the /live-video-to-video
route will use."""
from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

import devnet
from tests.trickle_client import read_all
from sim.clock import VirtualClock
from sim.events import EventBus
from sim.media import mpegts
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.ledger import InsufficientBalance
from sim.pm.accounting import LV2V_PIXELS_PER_SECOND, insufficient_balance_message
from sim.trickle import NoopJob, TrickleApp, TrickleHub, debit_hook, trickle_urls



@pytest.fixture
def chain():
    c = devnet.open_chain("mock")
    yield c
    c.close()


async def test_noop_job_debits_per_segment_and_stops_on_insufficient_balance(chain, tmp_path):
    clock = VirtualClock()
    bus = EventBus(clock)
    hub = TrickleHub(bus=bus)
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, block_poll_s=3600,
                                  bus=bus, clock=clock) as o:
        o.app.mount("/ai/trickle/", TrickleApp(hub))
        sender, mid = b"\x11" * 20, "deadbeef"
        price = Fraction(1, 1000)                      # wei per pixel
        fee_per_s = LV2V_PIXELS_PER_SECOND * price     # 27 648 wei per second of video
        o.orch.ledger.credit(sender, mid, 2 * fee_per_s + 100, clock.now())
        debit = o.orch.live_debit(sender, mid, price, interval_s=1.0)

        def one_second_of_video():
            clock.advance(1.0)                         # one second of video per segment
            debit.tick()

        job = NoopJob(hub, mid, on_segment=debit_hook(one_second_of_video, InsufficientBalance)).start()
        urls = trickle_urls(o.url, mid)
        assert urls["publish_url"].startswith("https://127.0.0.1:")
        got = []

        reader = asyncio.create_task(read_all(urls["subscribe_url"], got))
        pub = asyncio.create_task(mpegts.publish(urls["publish_url"], 5, segment_s=0.05, encoder="pure"))
        reason = await job.wait(10)
        assert reason == insufficient_balance_message(mid, fee_per_s, Fraction(100))
        await asyncio.wait_for(reader, 10)
        await asyncio.gather(pub, return_exceptions=True)
        sent = mpegts.segments(2, segment_s=0.05, encoder="pure")
        assert got == list(sent)                       # exactly the two paid segments, byte for byte
        debits = [e.data for e in bus.of_kind("orch.debit")]
        assert [d["ok"] for d in debits] == [True, True, False]
        assert o.orch.ledger.balance(sender, mid) == 100
        assert hub.names() == []
