"""lpdev's own trickle client (sim.trickle.client), used by the scripted gateway's job mode, against lpdev's trickle
server: publish / read back, the first POST resets, 470 -> resync to the live edge, end of stream on DELETE, 404 on
a POST to a gone channel."""
from __future__ import annotations

import asyncio

import pytest

from sim.clock import VirtualClock
from sim.events import EventBus
from sim.trickle import TrickleApp, TrickleConfig, TrickleHub
from sim.trickle.asgi_host import serve_app
from sim.trickle.client import ChannelGone, TricklePublisher, TrickleSubscriber

PREFIX = "/ai/trickle/"


def make(**cfg):
    bus = EventBus(VirtualClock())
    hub = TrickleHub(TrickleConfig(**cfg), bus=bus)
    return hub, bus, TrickleApp(hub, PREFIX)


async def test_publish_read_back_resync_end_and_gone():
    hub, bus, app = make(retained_segments=3)
    hub.create("job")
    async with serve_app(app) as base:
        url = base + PREFIX + "job"
        pub = TricklePublisher(url)
        segs = [bytes([i]) * (500 + i) for i in range(6)]
        assert await pub.start() == 0
        assert [await pub.publish(s) for s in segs[:2]] == [0, 1]
        resets = [e.data for e in bus.recent if e.kind == "trickle.publisher.reset"]
        assert [r["seq"] for r in resets] == [0]  # Lp-Trickle-Reset on the first POST only
        async with TrickleSubscriber(url, start_seq=0) as sub:
            assert await sub.next() == (0, segs[0]) and await sub.next() == (1, segs[1])
            for s in segs[2:]:  # 4 more: seq 2 falls out of the 3 retained
                await pub.publish(s)
            sub.seq = 2
            waiter = asyncio.ensure_future(sub.next())  # 470 Entry not found -> resync to Lp-Trickle-Latest (6)
            await asyncio.sleep(0.2)
            assert not waiter.done() and sub.fell_behind == 1 and sub.seq == 6  # pre-connected on the live edge
            late = b"live edge" * 10
            assert await pub.publish(late) == 6
            assert await asyncio.wait_for(waiter, 5) == (6, late)
            waiter = asyncio.ensure_future(sub.next())
            await asyncio.sleep(0.1)
            assert await pub.close() == 200  # DELETE: the end of the stream for a waiting subscriber
            assert await asyncio.wait_for(waiter, 5) is None
            assert await sub.next() is None
        assert hub.get("job") is None
        with pytest.raises(ChannelGone):
            await TricklePublisher(url).publish(b"late")
