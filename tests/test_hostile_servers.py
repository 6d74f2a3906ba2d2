"""Hostile clients against the orchestrator's one TLS port (issue "Hostile input and crashes", items 1, 3, 4, 6 and
the server timeouts):

* a 100 KB body of ``[`` on every route of an orchestrator on the **embedded** chain — py-evm raised the recursion
  limit to 100 000, the condition under which CPython's JSON scanner overflowed the C stack and the whole process
  died with SIGSEGV — gets a 4xx, and the process lives (it runs in a child process, so a crash fails the test
  instead of killing pytest);
* gRPC call 1001 on one channel is answered (Hypercorn closed the connection after 1000 requests and the call hung);
* the admin API refuses DNS-rebinding / cross-site requests (foreign ``Host`` or ``Origin``, non-JSON writes);
* one trickle client cannot push the process's memory past the trickle budget, the memory comes back when its
  channels close, and a 413 leaves no traceback in the log;
* slow or idle connections are closed (header, body and idle timeouts) and connections beyond the limit get a
  clear 503.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import grpc
import pytest

import devnet
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.probe import grpc_channel
from sim.serving import ServerLimits
from sim.wire import lp_rpc_pb2 as pb
from sim.wire import lp_rpc_pb2_grpc as pbg

BUDGET = 48 << 20   # the child's trickle memory budget
SEGMENT = 6 << 20   # and its max segment size

CHILD = r"""
import asyncio, json, logging, sys
import devnet
from sim.orchestrator import OrchestratorServer
from sim.orchestrator.lv2v import LV2VConfig
from sim.trickle import NoopJob, TrickleConfig

async def main():
    data_dir, budget, seg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    chain = devnet.open_chain("embedded")  # imports py-evm / py_ecc: recursion limit 100 000
    o = OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=data_dir, block_poll_s=None)
    o.lv2v.config = LV2VConfig(trickle=TrickleConfig(max_total_bytes=budget, max_segment_bytes=seg))
    await o.start()
    for mid in ("ctl", "m1", "m2", "m3"):
        NoopJob(o.lv2v.hub, mid).start()
    print(json.dumps({"url": o.url, "recursion_limit": sys.getrecursionlimit()}), flush=True)
    await o.serve_forever()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    log = open(d / "stderr.log", "w")
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(d / "data"), str(BUDGET), str(SEGMENT)],
                         stdout=subprocess.PIPE, stderr=log, cwd=Path(__file__).parent.parent)
    try:
        line = p.stdout.readline()
        assert line, (d / "stderr.log").read_text()
        info = json.loads(line)
        assert info["recursion_limit"] >= 100_000
        info.update(proc=p, log=d / "stderr.log")
        yield info
    finally:
        p.kill()
        p.wait()
        log.close()


def alive(child) -> bool:
    return child["proc"].poll() is None


async def request(url, path, *, method="POST", data=b"", headers=None):
    async with aiohttp.ClientSession() as s:
        async with s.request(method, url + path, data=data, headers=headers or {}, ssl=False) as r:
            return r.status, await r.read()


# ---------------------------------------------------------------------------------------------- item 1
DEEP = b"[" * 100_000


@pytest.mark.parametrize("path,headers", [
    ("/live-video-to-video", {}),
    ("/refresh-payment", {}),
    ("/admin/faults", {"Content-Type": "application/json"}),
    ("/payment", {}),
    ("/apps/noop/session", {}),
    ("/ai/trickle/ctl-control/0", {}),
])
async def test_a_deeply_nested_body_gets_a_4xx_and_the_embedded_chain_process_lives(child, path, headers):
    status, body = await request(child["url"], path, data=DEEP, headers=headers)
    assert alive(child), f"the orchestrator process died (exit {child['proc'].returncode})"
    assert status < 500, (status, body[:300])
    if path in ("/live-video-to-video", "/refresh-payment"):
        assert status == 400 and b"nested deeper than 64 levels" in body, body
    if path == "/admin/faults":  # the admin API takes at most 64 KiB
        assert status == 413, body
    status, _ = await request(child["url"], "/admin/status", method="GET")
    assert status == 200


async def test_a_deep_control_message_is_refused_by_the_running_job(child):
    """The noop job parses its control channel: the nested message becomes an error event, the job keeps going."""
    url = child["url"] + "/ai/trickle/ctl"
    status, _ = await request(url + "-control/-1", "", data=DEEP)
    assert status == 200
    assert alive(child)
    async with aiohttp.ClientSession() as s:
        for seq in range(1, 6):  # seq 0 is the job's ONLINE status
            async with s.get(f"{url}-events/{seq}", ssl=False, timeout=aiohttp.ClientTimeout(total=10)) as r:
                ev = json.loads(await r.read())
            if ev.get("type") == "error":
                break
    assert "nested deeper than 64 levels" in ev["message"], ev
    status, _ = await request(url + "-control/-1", "", data=b'{"params": {"x": 1}}')
    assert status == 200 and alive(child)


# ---------------------------------------------------------------------------------------------- item 6
def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_one_trickle_client_cannot_push_memory_past_the_budget_and_413s_leave_no_traceback(child):
    pid, url = child["proc"].pid, child["url"]
    base = _rss_mib(pid)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mib(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    seg = os.urandom(1 << 20) * 5 + os.urandom(1 << 19)  # 5.5 MiB: under the segment cap, 8 of them > budget
    big = os.urandom(1 << 20) * 7  # over the segment cap: 413
    statuses = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False, limit=16)) as s:
            async def publish(ch, n, data):
                for i in range(n):
                    try:
                        async with s.post(f"{url}/ai/trickle/{ch}/{i}", data=data) as r:
                            statuses.append(r.status)
                    except aiohttp.ClientError:
                        statuses.append("reset")
            await asyncio.gather(publish("m1", 8, seg), publish("m2", 8, seg), publish("m3", 8, seg),
                                 publish("ctl-control", 4, big))
            for ch in ("m1", "m2", "m3", "ctl-control"):  # closing a job's input closes its output too
                async with s.delete(f"{url}/ai/trickle/{ch}") as r:
                    assert r.status == 200
    finally:
        stop.set()
        sampler.join()
    assert 413 in statuses and 200 in statuses, statuses
    assert alive(child)
    grown = peak[0] - base
    print(f"RSS {base:.0f} MiB -> peak {peak[0]:.0f} MiB")
    assert grown <= BUDGET / (1 << 20) * 1.25 + 8, f"RSS grew {grown:.0f} MiB for a {BUDGET >> 20} MiB budget"
    after = _rss_mib(pid)
    for _ in range(50):  # the channels are closed: their memory goes back to the system
        if after - base <= 16:
            break
        await asyncio.sleep(0.1)
        after = _rss_mib(pid)
    print(f"after closing: {after:.0f} MiB")
    assert after - base <= 16, f"RSS stayed {after - base:.0f} MiB above where it started"
    await asyncio.sleep(0.3)
    log = child["log"].read_text()
    assert "Traceback" not in log and "SSLError" not in log, log[-3000:]


def test_http2_413_before_the_body_ends_leaves_no_traceback(child, tmp_path):
    """curl over HTTP/2 keeps sending after the 413 (the h2 stream is gone on the server)."""
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(SEGMENT + (2 << 20)))
    for i in range(3):
        out = subprocess.run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                              f"@{blob}", f"{child['url']}/ai/trickle/ctl/{100 + i}"],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout == "413", out
    time.sleep(0.3)
    log = child["log"].read_text()
    assert "Traceback" not in log and "SSLError" not in log, log[-3000:]
    assert alive(child)


# ---------------------------------------------------------------------------------------------- item 3
@pytest.fixture
def chain():
    c = devnet.open_chain("mock")
    yield c
    c.close()


async def test_grpc_call_1001_on_one_channel_is_answered(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=None) as o:
        def calls():
            ch = grpc_channel(o.url)
            stub = pbg.OrchestratorStub(ch)
            try:
                for i in range(1100):
                    stub.Ping(pb.PingPong(value=i.to_bytes(4, "big")), timeout=5)
            except grpc.RpcError as exc:
                return i, exc.code()
            finally:
                ch.close()
            return 1100, None

        assert await asyncio.to_thread(calls) == (1100, None)


# ---------------------------------------------------------------------------------------------- item 4
@pytest.fixture
async def orch(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=None) as o:
        yield o


async def test_admin_refuses_dns_rebinding_and_cross_site_writes(orch):
    host = orch.url.split("://", 1)[1]
    ok = {"Content-Type": "application/json"}
    body = json.dumps({"stop_redeeming": True})
    # what a web page can send without a CORS preflight: text/plain, with its own Origin
    status, text = await request(orch.url, "/admin/faults", data=body,
                                 headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403 and b"Origin" in text, text
    status, text = await request(orch.url, "/admin/faults", data=body, headers={"Content-Type": "text/plain"})
    assert status == 415 and b"application/json" in text, text
    # DNS rebinding: the browser connects to 127.0.0.1 but names the attacker's host
    for path, method in (("/admin/faults", "POST"), ("/admin/status", "GET")):
        status, text = await request(orch.url, path, method=method, data=body if method == "POST" else b"",
                                     headers={**ok, "Host": "evil.example:" + host.rsplit(":", 1)[1]})
        assert status == 403 and b"Host" in text, (path, text)
    status, text = await request(orch.url, "/admin/faults", data=body,
                                 headers={**ok, "Sec-Fetch-Site": "cross-site"})
    assert status == 403, text
    assert orch.orch.faults.stop_redeeming is False  # nothing above changed anything
    # the service's own origin (e.g. a page it serves) and plain clients (curl, aiohttp) are fine
    for extra in ({}, {"Origin": orch.url}, {"Host": "localhost:" + host.rsplit(":", 1)[1]}):
        status, text = await request(orch.url, "/admin/faults", data=body, headers={**ok, **extra})
        assert status == 200, (extra, text)
    assert orch.orch.faults.stop_redeeming is True
    status, _ = await request(orch.url, "/admin/status", method="GET")
    assert status == 200


async def test_the_readme_admin_curl_line_works_verbatim(orch):
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = re.search(r"^ +(curl -sk -X POST .*/admin/faults)$", readme, re.M).group(1)
    argv = shlex.split(line.replace("127.0.0.1:8935", f"127.0.0.1:{orch.port}"))
    out = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and json.loads(out.stdout)["changed"] == ["stop_redeeming"], out
    assert orch.orch.faults.stop_redeeming is True


# ---------------------------------------------------------------------------------------------- timeouts
LIMITS = ServerLimits(header_timeout_s=0.5, body_timeout_s=0.5, idle_timeout_s=0.5, max_connections=4)


@pytest.fixture
async def limited(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path,
                                  block_poll_s=None, limits=LIMITS) as o:
        yield o


async def _tls(o, alpn="http/1.1"):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return await asyncio.open_connection("127.0.0.1", o.port, ssl=ctx)


async def _closed_within(reader, seconds) -> tuple[bool, bytes]:
    """(closed by the server within ``seconds``, what it sent before)."""
    data = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await reader.read(4096):
                data += chunk
        return True, data
    except TimeoutError:
        return False, data
    except (ConnectionError, ssl.SSLError):
        return True, data


async def _send(connect, raw: bytes) -> tuple[bool, bytes]:
    """Open a connection (``connect``: a coroutine giving reader and writer), send ``raw``, and report whether the
    server closed it within 5 s and what it answered before that."""
    r, w = await connect
    try:
        w.write(raw)
        await w.drain()
        return await _closed_within(r, 5)
    finally:
        w.close()


async def test_slow_headers_a_stalled_body_and_idle_connections_are_closed(limited):
    closed, _ = await _send(_tls(limited), b"POST /refresh-payment HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    assert closed, "a connection that never finishes its headers stays open"

    # body stalls
    closed, data = await _send(_tls(limited),
                               b"POST /refresh-payment HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert closed and data.startswith(b"HTTP/1.1 408"), data[:200]

    # answered, then closed when idle
    closed, data = await _send(_tls(limited), b"GET /admin/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert closed and data.startswith(b"HTTP/1.1 200"), data[:200]


@pytest.fixture
async def limited_plain(chain, tmp_path):
    async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=tmp_path, http_port=0,
                                  block_poll_s=None, limits=LIMITS) as o:
        yield o


async def _plain(o):
    host, port = o.http_url.split("//")[1].rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def test_the_plain_http_entry_keeps_the_servers_limits(limited_plain):
    """The cleartext entry (aiohttp) applies the orchestrator's limits like the TLS port: a stalled body is a 408
    after ``body_timeout_s`` (not the 30 s default, nor a hang), unfinished headers and idle connections are
    closed, and connections beyond the cap get the 503."""
    # body stalls
    closed, data = await _send(_plain(limited_plain),
                               b"POST /runners/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert closed and data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"request body not received within 0.5s" in data, data

    # headers never finished
    closed, _ = await _send(_plain(limited_plain), b"POST /runners/heartbeat HTTP/1.1\r\nHost: x\r\n")
    assert closed, "a connection that never finishes its headers stays open"

    held = [await _plain(limited_plain) for _ in range(LIMITS.max_connections)]
    try:
        _, data = await _send(_plain(limited_plain), b"GET /admin/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 503") and b"too many connections" in data, data[:200]
    finally:
        for _, hw in held:
            hw.close()


async def test_connections_beyond_the_limit_get_a_clear_503(limited):
    held = [await _tls(limited) for _ in range(LIMITS.max_connections)]
    try:
        _, data = await _send(_tls(limited), b"GET /admin/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 503"), data[:200]
        assert b"too many connections" in data
    finally:
        for _, w in held:
            w.close()
    # once they are gone, new connections are served again
    for _ in range(50):
        await asyncio.sleep(0.1)
        status, _ = await request(limited.url, "/admin/status", method="GET")
        if status == 200:
            break
    assert status == 200


async def test_the_events_feed_closes_a_connection_that_never_finishes_its_request():
    from sim.clock import RealClock
    from sim.events import EventBus
    from tui.feed import fetch_events, serve

    bus = EventBus(RealClock())
    runner, url = await serve(bus, limits=ServerLimits(header_timeout_s=0.5))
    try:
        host, port = url.split("//")[1].split(":")
        r, w = await asyncio.open_connection(host, int(port))
        w.write(b"GET /events HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        await w.drain()
        closed, _ = await _closed_within(r, 5)
        assert closed, "a slow client keeps a feed connection forever"
        w.close()
        bus.emit("orch", "stack.ready")
        assert [e.kind for e in await fetch_events(url)] == ["stack.ready"]  # normal clients are served
    finally:
        await runner.cleanup()
