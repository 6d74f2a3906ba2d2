"""The SDK's own MediaPublish (PyAV encoder + trickle publisher) fed with lpdev's test pattern, echoed by noop."""
from __future__ import annotations

import asyncio
import io

import pytest

from tests.trickle_client import read_all
from sim.media import mpegts
from sim.trickle import NoopJob, TrickleApp, TrickleHub, trickle_urls
from sim.trickle.asgi_host import serve_app

pytestmark = pytest.mark.skipif(not mpegts.av_available(), reason="PyAV with libx264 not installed")


async def test_sdk_media_publish_through_noop_round_trip():
    import av
    from livepeer_gateway.media_publish import MediaPublish, MediaPublishConfig, VideoOutputConfig
    
    hub = TrickleHub()
    job = NoopJob(hub, "sdkpub").start()
    async with serve_app(TrickleApp(hub)) as base:
        urls = trickle_urls(base, "sdkpub")
        got: list[bytes] = []

        reader = asyncio.create_task(read_all(urls["subscribe_url"], got))
        cfg = MediaPublishConfig(tracks=[VideoOutputConfig(fps=30, keyframe_interval_s=0.5)],
                                 min_segment_wallclock_s=0.3)
        media = MediaPublish(urls["publish_url"], config=cfg)
        for i in range(45):
            await media.write_frame(mpegts.test_pattern_frame(i, 64, 64, fps=30))
            await asyncio.sleep(1 / 30)
        await media.close()  # the SDK DELETEs the input channel: the job ends, the output channel closes
        assert await job.wait(10) == "input closed"
        await asyncio.wait_for(reader, 10)
        stats = media.get_stats()
        assert stats.segments_completed >= 2 and stats.segments_failed == 0
        assert len(got) == job.stats.segments >= 2
        assert sum(map(len, got)) == stats.bytes_streamed_to_trickle == job.stats.bytes
        frames = 0
        for seg in got:  # every echoed segment decodes on its own
            with av.open(io.BytesIO(seg), format="mpegts") as c:
                frames += len(list(c.decode(video=0)))
        assert frames == 45
