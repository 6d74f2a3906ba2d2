"""The noop live-video-to-video job over real HTTP, driven by the SDK's trickle clients."""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.trickle_client import segments
from sim.clock import VirtualClock
from sim.events import EventBus
from sim.media import mpegts
from sim.trickle import NoopJob, StopJob, TrickleApp, TrickleHub, trickle_urls
from sim.trickle.asgi_host import serve_app

from livepeer_gateway.control import Control
from livepeer_gateway.events import Events


async def read_segments(url, n, start_seq=-2, timeout=10):
    out = []

    async def go():
        async for seg, body in segments(url, start_seq=start_seq):
            out.append((seg.seq(), body))
            if len(out) >= n:
                return

    await asyncio.wait_for(go(), timeout)
    return out


def setup():
    bus = EventBus(VirtualClock())
    hub = TrickleHub(bus=bus)
    return hub, bus, TrickleApp(hub)


async def test_noop_echoes_generated_segments_byte_for_byte():
    hub, bus, app = setup()
    seen = []
    job = NoopJob(hub, "abcd1234", on_segment=lambda j, info: seen.append(info)).start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "abcd1234")
        assert urls["publish_url"] == base + "/ai/trickle/abcd1234"
        assert urls["subscribe_url"].endswith("/ai/trickle/abcd1234-out")
        reader = asyncio.create_task(read_segments(urls["subscribe_url"], 3, start_seq=0))
        sent = await mpegts.publish(urls["publish_url"], 3, segment_s=0.1, encoder="pure")
        got = await reader
        assert [g[1] for g in got] == sent
        assert [g[0] for g in got] == [0, 1, 2]
        assert [(i.in_seq, i.out_seq, i.index) for i in seen] == [(0, 0, 0), (1, 1, 1), (2, 2, 2)]
        assert job.stats.segments == 3 and job.stats.bytes == sum(map(len, sent))
        # the SDK publisher DELETEs the input channel on close: the job ends and closes everything
        assert await job.wait(5) == "input closed"
        assert hub.names() == []
        stopped = bus.of_kind("trickle.job.stopped")
        assert len(stopped) == 1 and stopped[0].data["reason"] == "input closed"


async def test_plain_aiohttp_publisher_path():
    """The media source without the SDK: GET /next, POST /{seq} with Lp-Trickle-Reset first, DELETE at the end."""
    hub, bus, app = setup()
    job = NoopJob(hub, "plain1").start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "plain1")
        reader = asyncio.create_task(read_segments(urls["subscribe_url"], 3, start_seq=0))
        sent = await mpegts.publish(urls["publish_url"], 3, segment_s=0.05, encoder="pure", client="aiohttp")
        assert [b for _, b in await reader] == sent
        assert await job.wait(5) == "input closed"
        assert [e.data["seq"] for e in bus.of_kind("trickle.publisher.reset")] == [0]
        with pytest.raises(RuntimeError, match="404 Stream not found"):
            await mpegts.publish(urls["publish_url"], 1, client="aiohttp")


async def test_segment_hook_stops_job_with_reason_before_unpaid_output():
    hub, bus, app = setup()
    calls = []

    def debit(job, info):
        calls.append(info.index)
        if info.index == 2:
            return "insufficient balance, mid=m1, fee=100, balance=50"
        return None

    job = NoopJob(hub, "m1", on_segment=debit).start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "m1")
        events = asyncio.create_task(read_segments(urls["events_url"], 10, start_seq=0))
        reader = asyncio.create_task(read_segments(urls["subscribe_url"], 10, start_seq=0))
        await asyncio.sleep(0.1)
        pub_task = asyncio.create_task(mpegts.publish(urls["publish_url"], 5, segment_s=0.1, encoder="pure"))
        reason = await job.wait(10)
        assert reason == "insufficient balance, mid=m1, fee=100, balance=50"
        got = await reader  # the output channel ended (closed) after exactly the two paid segments
        assert len(got) == 2 and calls == [0, 1, 2]
        evs = [json.loads(b) for _, b in await events]
        assert evs[0]["state"] == "ONLINE"
        assert evs[-1] == {"type": "error", "state": "OFFLINE", "reason": reason, "manifest_id": "m1",
                           "segments": 2}
        await asyncio.gather(pub_task, return_exceptions=True)
        assert hub.names() == []
        stopped = bus.of_kind("trickle.job.stopped")
        assert stopped[0].data["reason"] == reason and stopped[0].data["segments"] == 2


async def test_async_hook_and_stopjob_exception():
    hub, _, app = setup()

    async def hook(job, info):
        await asyncio.sleep(0)
        raise StopJob("balance gone")

    job = NoopJob(hub, "m2", on_segment=hook).start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "m2")
        asyncio.create_task(mpegts.publish(urls["publish_url"], 2, segment_s=0.05, encoder="pure"))
        assert await job.wait(10) == "balance gone"
        assert job.stats.segments == 0


async def test_broken_hook_stops_job():
    hub, _, _ = setup()
    job = NoopJob(hub, "m3", on_segment=lambda j, i: 1 / 0).start()
    await hub.local_publisher("m3").write(b"x" * 10)
    assert (await job.wait(5)).startswith("segment hook failed: ZeroDivisionError")


async def test_control_messages_and_events():
    hub, bus, app = setup()
    job = NoopJob(hub, "m4", params={"prompt": "a"}).start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "m4")
        async def sdk_events(n):  # the SDK's own events reader (LiveVideoToVideo.events)
            out = []
            async for ev in Events(urls["events_url"])(start_seq=0):
                out.append(ev)
                if len(out) == n:
                    return out

        events = asyncio.create_task(asyncio.wait_for(sdk_events(2), 10))
        ctl = Control(urls["control_url"])
        await ctl.write({"keep": "alive"})
        await ctl.write({"params": {"prompt": "b", "strength": 0.5}})
        evs = await events
        assert evs[0]["type"] == "status" and evs[0]["state"] == "ONLINE"
        assert evs[1]["type"] == "params_updated" and evs[1]["params"] == {"prompt": "b", "strength": 0.5}
        assert list(job.control_messages) == [{"keep": "alive"}, {"params": {"prompt": "b", "strength": 0.5}}]
        await ctl.close()
        await job.stop()
        assert job.stop_reason == "stopped" and hub.names() == []


async def test_stop_is_idempotent_and_closes_channels():
    hub, bus, _ = setup()
    stops = []
    job = NoopJob(hub, "m5", on_stop=lambda j, reason: stops.append((reason, hub.names()))).start()
    assert set(hub.names()) == {"m5", "m5-out", "m5-control", "m5-events"}
    assert job.info()["running"] is True
    await job.stop("operator")
    await job.stop("again")
    assert job.stop_reason == "operator" and not job.running and hub.names() == []
    assert stops == [("operator", [])]  # once, after the channels are closed
    assert len(bus.of_kind("trickle.job.stopped")) == 1
    info = job.info()
    assert (info["running"], info["stop_reason"], info["channels"]["subscribe"]) == (False, "operator", "m5-out")


async def test_request_stop_from_another_thread():
    hub, _, _ = setup()
    job = NoopJob(hub, "m7").start()
    await asyncio.to_thread(job.request_stop, "admin stop")
    assert await job.wait(5) == "admin stop" and hub.names() == []


@pytest.mark.skipif(not mpegts.av_available(), reason="PyAV with libx264 not installed")
async def test_sdk_media_output_decodes_echoed_h264():
    """The SDK's MediaOutput decodes the noop's output of real H.264 segments."""
    import av

    hub, _, app = setup()
    job = NoopJob(hub, "m6").start()
    async with serve_app(app) as base:
        urls = trickle_urls(base, "m6")
        reader = asyncio.create_task(read_segments(urls["subscribe_url"], 2, start_seq=0))
        sent = await mpegts.publish(urls["publish_url"], 2, segment_s=0.2, encoder="av")
        got = await reader
        assert [b for _, b in got] == sent
        import io
        with av.open(io.BytesIO(got[1][1]), format="mpegts") as c:
            assert len(list(c.decode(video=0))) == 6
    await job.stop()
