"""Trickle HTTP semantics (go-livepeer trickle_server.go), driven by the SDK's own clients and by raw aiohttp."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from sim.clock import VirtualClock
from sim.events import EventBus
from sim.trickle import TrickleApp, TrickleConfig, TrickleHub
from sim.trickle.asgi_host import serve_app
from sim.trickle.channel import CHUNK_OVERHEAD

from livepeer_gateway.trickle_publisher import TricklePublisher, TricklePublisherTerminalError
from livepeer_gateway.trickle_subscriber import TrickleSubscriber

PREFIX = "/ai/trickle/"


async def until(cond, timeout=5.0):
    """Wait for a server-side condition instead of sleeping (the suite runs on busy shared cores)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def subscribed(bus, channel, requested=None):
    return [e for e in bus.of_kind("trickle.subscribed")
            if e.data["channel"] == channel and (requested is None or e.data["requested"] == requested)]


def make(**cfg):
    bus = EventBus(VirtualClock())
    hub = TrickleHub(TrickleConfig(**cfg), bus=bus)
    return hub, bus, TrickleApp(hub, PREFIX)


async def publish_raw(session, url, chunks, *, delay=0.0, headers=None):
    async def body():
        for c in chunks:
            yield c
            if delay:
                await asyncio.sleep(delay)

    async with session.post(url, data=body(), headers=headers or {}) as r:
        return r.status, r.headers.copy(), await r.read()


async def test_sdk_publisher_and_subscriber_round_trip():
    hub, bus, app = make()
    hub.create("rt", "video/MP2T")
    async with serve_app(app) as base:
        url = base + PREFIX + "rt"
        segs = [bytes([i]) * (1000 + 37 * i) + b"end%d" % i for i in range(4)]
        got = []

        async def consume():
            async with TrickleSubscriber(url, start_seq=-1) as sub:
                while len(got) < len(segs):
                    seg = await sub.next()
                    assert seg is not None
                    rd = seg.make_reader()
                    buf = bytearray()
                    while (c := await rd.read()) is not None:
                        buf += c
                    got.append((seg.seq(), seg.headers().get("Content-Type"), bytes(buf)))
                    await seg.close()

        consumer = asyncio.create_task(consume())
        await until(lambda: subscribed(bus, "rt", -1))
        async with TricklePublisher(url, "video/mp2t") as pub:
            for s in segs:
                async with await pub.next() as w:
                    await w.write(s[:500])
                    await asyncio.sleep(0.01)
                    await w.write(s[500:])
            await asyncio.wait_for(consumer, 10)
            assert pub.get_stats().post_success >= len(segs)
        assert [g[0] for g in got] == [0, 1, 2, 3]
        assert [g[2] for g in got] == segs
        assert {g[1] for g in got} == {"video/MP2T"}
        # the SDK publisher DELETEs its channel on close
        assert hub.get("rt") is None
        published = [e.data for e in bus.of_kind("trickle.segment.published") if e.data["channel"] == "rt"]
        assert [(p["seq"], p["bytes"]) for p in published] == [(i, len(s)) for i, s in enumerate(segs)]
        assert bus.of_kind("trickle.publisher.reset")  # the SDK's first POST carries Lp-Trickle-Reset


async def test_subscriber_reads_while_segment_is_written():
    hub, _, app = make()
    hub.create("live")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "live"
        release = asyncio.Event()

        async def body():
            yield b"first-chunk|"
            await release.wait()
            yield b"second-chunk"

        post = asyncio.create_task(s.post(url + "/0", data=body()))
        async with s.get(url + "/0") as r:
            assert r.status == 200
            assert r.headers["Lp-Trickle-Seq"] == "0"
            first = await asyncio.wait_for(r.content.readexactly(12), 5)
            assert first == b"first-chunk|"
            assert not post.done()  # publisher is still writing
            release.set()
            rest = await asyncio.wait_for(r.content.read(), 5)
        assert first + rest == b"first-chunk|second-chunk"
        resp = await post
        assert resp.status == 200 and resp.headers["Lp-Trickle-Seq"] == "0"
        resp.release()


async def test_next_and_late_subscriber_live_edge():
    hub, bus, app = make()
    hub.create("edge", "video/MP2T")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "edge"
        async with s.get(url + "/next") as r:
            assert r.status == 200 and await r.text() == "0" and r.headers["Lp-Trickle-Latest"] == "0"
        for i in range(3):
            st, h, _ = await publish_raw(s, f"{url}/{i}", [b"seg%d" % i])
            assert st == 200 and h["Lp-Trickle-Seq"] == str(i)
        async with s.get(url + "/next") as r:
            assert await r.text() == "3" and r.headers["Lp-Trickle-Latest"] == "3"
        # -2 = the current (last written) segment, complete
        async with s.get(url + "/-2") as r:
            assert r.status == 200 and r.headers["Lp-Trickle-Seq"] == "2" and await r.read() == b"seg2"
            assert r.headers["Lp-Trickle-Latest"] == "3"  # sent because the segment is not the latest
        # -1 = the next segment: the GET waits until the publisher starts it
        get = asyncio.create_task(s.get(url + "/-1"))
        await until(lambda: subscribed(bus, "edge", -1))
        await asyncio.sleep(0.1)
        assert not get.done()
        st, h, _ = await publish_raw(s, f"{url}/3", [b"seg3"])
        r = await asyncio.wait_for(get, 5)
        assert r.status == 200 and r.headers["Lp-Trickle-Seq"] == "3" and await r.read() == b"seg3"
        assert "Lp-Trickle-Latest" not in r.headers  # it is the latest
        r.release()
        # POST -1 writes at the next seq and reports it
        st, h, _ = await publish_raw(s, f"{url}/-1", [b"seg4"])
        assert st == 200 and h["Lp-Trickle-Seq"] == "4"


async def test_subscriber_falls_behind_470_and_resyncs():
    hub, bus, app = make(retained_segments=5)
    hub.create("behind")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "behind"
        for i in range(8):
            await publish_raw(s, f"{url}/{i}", [b"x%d" % i])
        async with s.get(url + "/0") as r:
            assert r.status == 470
            assert r.headers["Lp-Trickle-Latest"] == "8" and r.headers["Lp-Trickle-Seq"] == "0"
            assert await r.text() == "Entry not found"
        async with s.get(url + "/3") as r:  # still retained (3..7)
            assert r.status == 200 and await r.read() == b"x3"
        assert [e.data["requested"] for e in bus.of_kind("trickle.fell_behind")] == [0]

        # the SDK subscriber resyncs to Lp-Trickle-Latest after a 470 and gets the next live segment
        async with TrickleSubscriber(url, start_seq=1) as sub:
            nxt = asyncio.create_task(sub.next())
            await asyncio.sleep(0.2)
            await publish_raw(s, f"{url}/8", [b"live8"])
            seg = await asyncio.wait_for(nxt, 5)
            assert seg.seq() == 8
            assert await seg.make_reader().read() == b"live8"
            await seg.close()
            assert sub.get_stats().get_470_reset == 1


async def test_publisher_reset_wakes_hanging_subscribers():
    hub, bus, app = make()
    hub.create("reset")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "reset"
        never = asyncio.Event()

        async def stuck_body():
            yield b"partial"
            await never.wait()

        stuck = asyncio.create_task(s.post(url + "/0", data=stuck_body()))
        await until(lambda: hub.get("reset").next_write == 1)
        reader = await s.get(url + "/0")
        assert reader.status == 200
        assert await reader.content.readexactly(7) == b"partial"
        tail = asyncio.create_task(reader.content.read())
        await asyncio.sleep(0.1)
        assert not tail.done()  # segment 0 still open
        # a restarted publisher posts seq 1 with Lp-Trickle-Reset: older segments are closed
        st, h, _ = await publish_raw(s, url + "/1", [b"fresh"], headers={"Lp-Trickle-Reset": "1"})
        assert st == 200 and h["Lp-Trickle-Seq"] == "1"
        assert await asyncio.wait_for(tail, 5) == b""  # the hanging subscriber got end of segment
        reader.release()
        assert [e.data["seq"] for e in bus.of_kind("trickle.publisher.reset")] == [1]
        never.set()
        (await stuck).release()
        async with s.get(url + "/1") as r:
            assert await r.read() == b"fresh"


async def test_channel_deleted_404_and_closed_header():
    hub, bus, app = make()
    hub.create("gone")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "gone"
        await publish_raw(s, url + "/0", [b"a"])
        waiting = asyncio.create_task(s.get(url + "/1"))  # pre-connected on the next segment
        sdk_sub = TrickleSubscriber(url, start_seq=1)
        sdk_next = asyncio.create_task(sdk_sub.next())
        await until(lambda: len(subscribed(bus, "gone", 1)) == 2)
        async with s.delete(url) as r:
            assert r.status == 200
        r = await asyncio.wait_for(waiting, 5)
        assert r.status == 200 and r.headers["Lp-Trickle-Closed"] == "terminated" and await r.read() == b""
        r.release()
        assert await asyncio.wait_for(sdk_next, 5) is None  # SDK: end of stream
        await sdk_sub.close()
        for method, path, status, text in [("GET", "/0", 404, "Stream not found\n"),
                                           ("GET", "/next", 404, "Stream not found\n"),
                                           ("POST", "/2", 404, "Stream not found\n"),
                                           ("DELETE", "", 400, "Invalid stream\n")]:
            async with s.request(method, url + path, data=b"z" if method == "POST" else None) as r:
                assert (r.status, await r.text()) == (status, text), (method, path)
        closed = bus.of_kind("trickle.channel.closed")
        assert [(e.data["name"], e.data["reason"]) for e in closed] == [("gone", "deleted")]
        # the SDK publisher treats 404 as terminal
        pub = TricklePublisher(url, "video/mp2t")
        with pytest.raises(TricklePublisherTerminalError):
            for _ in range(3):
                async with await pub.next() as w:
                    await w.write(b"data")
                await asyncio.sleep(0.1)
        await pub.close()


async def test_oversized_body_413_drops_segment_and_frees_memory():
    hub, bus, app = make(max_segment_bytes=10_000)
    hub.create("big")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "big"
        chunk = b"\x47" * 4000
        gate = asyncio.Event()

        async def body():
            yield chunk
            await gate.wait()
            for _ in range(10):
                yield chunk

        post = asyncio.create_task(s.post(url + "/0", data=body()))
        await until(lambda: hub.get("big").next_write == 1)
        reader = await s.get(url + "/0")
        assert await reader.content.readexactly(4000) == chunk
        gate.set()
        # the server reads and drops the rest of the body (within bounds) before ending its answer: the client sees
        # the 413, not a reset
        resp = await asyncio.wait_for(post, 5)
        assert resp.status == 413
        assert "exceeds the maximum of 10000 bytes" in await resp.text()
        resp.release()
        # a subscriber mid-stream does not get a complete-looking segment
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(reader.content.read(), 5)
        reader.release()
        assert hub.retained_bytes() == 0
        dropped = bus.of_kind("trickle.segment.dropped")
        assert len(dropped) == 1 and dropped[0].data["seq"] == 0 and dropped[0].data["bytes"] > 10_000
        # the channel keeps working
        st, h, _ = await publish_raw(s, url + "/1", [b"ok"])
        assert st == 200
        async with s.get(url + "/1") as r:
            assert await r.read() == b"ok"


async def test_oversized_single_chunk_gets_413():
    hub, _, app = make(max_segment_bytes=1000)
    hub.create("big1")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        async with s.post(base + PREFIX + "big1/0", data=b"y" * 5000) as r:
            assert r.status == 413
        assert hub.retained_bytes() == 0


async def test_stalled_body_times_out_without_blocking_other_channels():
    hub, bus, app = make(body_idle_timeout_s=1.0)
    hub.create("slow")
    hub.create("fast")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        # a raw HTTP/1.1 publisher that sends 5 of its 1000 body bytes and stalls: it reads the answer itself, so
        # the 408 is checked, not lost in a client error
        host, port = base.split("//")[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        t0 = time.monotonic()
        writer.write(f"POST {PREFIX}slow/0 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\nbegin".encode())
        await writer.drain()
        await until(lambda: hub.get("slow").next_write == 1)
        # another channel is served normally while the slow body is pending
        st, _, _ = await publish_raw(s, base + PREFIX + "fast/0", [b"quick"])
        assert st == 200
        async with s.get(base + PREFIX + "slow/0") as r:
            # the subscriber gets the bytes that arrived and then the end of the segment, no hang
            assert await asyncio.wait_for(r.read(), 5) == b"begin"
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"lp-trickle-seq: 0" in head.lower() and b"connection: close" in head.lower(), head
        assert 1.0 <= time.monotonic() - t0 < 4
        writer.close()
        d = bus.of_kind("trickle.segment.dropped")
        assert d and d[0].data["channel"] == "slow" and "no body bytes for 1s" in d[0].data["reason"]


async def test_idle_channels_are_swept_and_waiters_released():
    hub, bus, app = make(idle_timeout_s=0.3, sweep_interval_s=0.1)
    hub.create("idle")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        t0 = time.monotonic()
        async with s.get(base + PREFIX + "idle/0") as r:  # waits for a segment that never comes
            assert r.headers["Lp-Trickle-Closed"] == "terminated"
        assert time.monotonic() - t0 < 3
        assert hub.get("idle") is None
        assert [e.data["reason"] for e in bus.of_kind("trickle.channel.closed")] == ["idle"]


async def test_preconnected_post_released_by_channel_close():
    """A POST that has sent no body byte yet is answered as soon as its channel closes (raw socket: aiohttp drops
    early responses while its request body is still open)."""
    hub, _, app = make()
    hub.create("pc")
    async with serve_app(app) as base:
        port = int(base.rsplit(":", 1)[1])
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"POST /ai/trickle/pc/0 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        await w.drain()
        await until(lambda: hub.get("pc").ring[0] is not None)
        await asyncio.sleep(0.05)
        hub.close("pc")
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        w.close()
        lines = head.decode().split("\r\n")
        assert lines[0].startswith("HTTP/1.1 200")
        assert "Lp-Trickle-Seq: 0" in lines and "Lp-Trickle-Closed: terminated" in lines
        assert "Connection: close" in lines


async def test_bad_requests_are_4xx():
    hub, _, app = make()
    hub.create("c")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        u = base + PREFIX
        cases = [("GET", "c/abc", 400, "Invalid idx\n"), ("POST", "c/1x", 400, "Invalid idx\n"),
                 ("GET", "c/-3", 400, "Invalid idx\n"), ("GET", "nope/0", 404, "Stream not found\n"),
                 ("POST", "nope", 404, "Stream not found\n"), ("POST", "c", 200, ""),
                 ("PUT", "c/0", 405, "Method Not Allowed\n"), ("GET", "c/0/x", 404, "404 page not found\n"),
                 ("DELETE", "c/7", 400, "Nonexistent segment\n")]
        for method, path, status, text in cases:
            async with s.request(method, u + path) as r:
                assert (r.status, await r.text()) == (status, text), (method, path)
        async with s.get(base + "/elsewhere") as r:
            assert r.status == 404


async def test_headers_only_subscriber_disconnect_is_harmless():
    """The SDK's payment sender reads only headers of each output segment and closes the connection."""
    hub, _, app = make()
    hub.create("pay")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        url = base + PREFIX + "pay"
        gate = asyncio.Event()

        async def body():
            yield b"a" * 100
            await gate.wait()
            yield b"b" * 100

        post = asyncio.create_task(s.post(url + "/0", data=body()))
        async with TrickleSubscriber(url, start_seq=0, connection_close=True) as sub:
            seg = await asyncio.wait_for(sub.next(), 5)
            assert seg.seq() == 0
            await seg.close()
        gate.set()
        r = await asyncio.wait_for(post, 5)
        assert r.status == 200
        r.release()
        async with s.get(url + "/0") as r2:
            assert await r2.read() == b"a" * 100 + b"b" * 100


async def test_hub_memory_budget_bounds_all_channels_and_is_released():
    hub, bus, app = make(max_total_bytes=3000, retained_segments=5)
    hub.create("a")
    hub.create("b")
    async with serve_app(app) as base, aiohttp.ClientSession() as s:
        # ring eviction gives bytes back: 20 segments of 500 B fit a 3000 B budget with 5 retained (each one-chunk
        # segment also pays CHUNK_OVERHEAD for its bookkeeping)
        for i in range(20):
            st, _, _ = await publish_raw(s, f"{base}{PREFIX}a/{i}", [b"a" * 500])
            assert st == 200
        assert hub.budget.used == 2500 + 5 * CHUNK_OVERHEAD and hub.retained_bytes() == 2500
        # another channel cannot push the hub past the budget
        async with s.post(f"{base}{PREFIX}b/0", data=b"b" * 1000) as r:
            assert r.status == 413 and "memory budget of 3000 bytes exhausted" in await r.text()
        assert hub.budget.used == 2500 + 5 * CHUNK_OVERHEAD
        async with s.get(f"{base}{PREFIX}b/0") as r:  # the dropped segment reads as empty, not as data
            assert r.status == 200 and await r.read() == b""
        async with s.delete(f"{base}{PREFIX}a") as r:
            assert r.status == 200
        assert hub.budget.used == 0
        st, _, _ = await publish_raw(s, f"{base}{PREFIX}b/1", [b"b" * 1000])
        assert st == 200 and hub.budget.used == 1000 + CHUNK_OVERHEAD


async def _h2_request(port, method, path, body=b""):
    import h2.config
    import h2.connection
    import h2.events

    r, w = await asyncio.open_connection("127.0.0.1", port)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(1, [(":method", method), (":path", path), (":scheme", "http"), (":authority", "t")],
                   end_stream=not body)
    if body:
        c.send_data(1, body, end_stream=True)
    w.write(c.data_to_send())
    headers, data, done = {}, b"", False
    try:
        while not done:
            chunk = await asyncio.wait_for(r.read(65536), 5)
            if not chunk:
                break
            for ev in c.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in ev.headers}
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    c.acknowledge_received_data(len(ev.data), 1)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            w.write(c.data_to_send())
    finally:
        w.close()
    return headers, data


async def test_http2_clients_get_the_same_semantics():
    """The orchestrator port also speaks HTTP/2 (ALPN h2 / h2c): no connection-specific headers may be sent there."""
    hub, _, app = make()
    hub.create("c", "video/MP2T")
    async with serve_app(app) as base:
        port = int(base.rsplit(":", 1)[1])
        h, body = await _h2_request(port, "POST", PREFIX + "nope/0", b"x")  # go adds Connection: close here
        assert h[":status"] == "404" and body == b"Stream not found\n" and "connection" not in h
        h, _ = await _h2_request(port, "POST", PREFIX + "c/0", b"hello")
        assert h[":status"] == "200" and h["lp-trickle-seq"] == "0"
        h, body = await _h2_request(port, "GET", PREFIX + "c/0")
        assert (h[":status"], h["lp-trickle-seq"], h["content-type"], body) == ("200", "0", "video/MP2T", b"hello")
