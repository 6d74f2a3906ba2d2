"""Live Runner reverse proxy: requests/s, MB/s and latency through the orchestrator vs the same runner called directly.

Three processes on loopback: this one (the load), an orchestrator (mock chain, plain-HTTP entry, an orchestrator
secret) and lpdev's ``noop`` dev runner, which registers with it over heartbeats. A free persistent session is
reserved once; then, at ``--concurrency`` requests in flight, each request POSTs a ``--body-kib`` body to the
runner's ``/bytes`` (which streams it straight back), alternately directly at the runner and through the
orchestrator's ``/apps/{runner}/session/{session}/app/bytes``, in ``--rounds`` alternating slices; the medians are
compared (ratio = proxied / direct, same run). Then one ``--stream-mib`` body is streamed up and back through the
proxy while the orchestrator's and the runner's peak RSS (``VmHWM``) are read.

Targets: proxied >= 0.5 of direct requests/s for 64 KiB bodies, proxied p99 < 50 ms at concurrency 16, and the
orchestrator + runner peak RSS < 400 MB while 1 GiB streams through.

A third path is measured in the same slices for scale: a bare aiohttp pass-through proxy (a dozen lines, no
routing, no registry, no headers, body buffered) in front of the same runner. It is about what any Python proxy
hop costs on this machine; ``ratio_vs_bare_proxy`` is lpdev's proxy against it.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from sim.wire.bounded import argtype, parse_float, parse_int

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 400.0


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=argtype(parse_float, min=0.05, max=3600.0), default=2.0,
                        help="time per slice (default 2)")
    parser.add_argument("--rounds", type=argtype(parse_int, min=1, max=1000), default=3,
                        help="alternating direct/proxied slices (default 3)")
    parser.add_argument("--concurrency", type=argtype(parse_int, min=1, max=1024), default=16,
                        help="requests in flight (default 16)")
    parser.add_argument("--body-kib", type=argtype(parse_int, min=1, max=16384), default=64,
                        help="request body KiB, echoed back (default 64; 1-16384)")
    parser.add_argument("--stream-mib", type=argtype(parse_int, min=0, max=65536), default=1024,
                        help="body streamed through the proxy for the memory check, MiB (default 1024; 0 = skip)")


# ------------------------------------------------------------------------------------------------ the children
def _serve_orchestrator() -> None:
    """Child: an orchestrator on the mock chain; prints ``{"url", "http_url", "pid"}`` and serves until stdin ends."""
    import tempfile

    import devnet
    from sim.orchestrator.server import OrchestratorServer

    async def main():
        chain = devnet.open_chain("mock")
        with tempfile.TemporaryDirectory(prefix="lpdev-bench-runner-") as d:
            async with OrchestratorServer(chain, eth_key=chain.key("orchestrator"), data_dir=d, block_poll_s=3600,
                                          http_port=0, orch_secret="bench") as o:
                print(json.dumps({"url": o.url, "http_url": o.http_url, "pid": os.getpid()}), flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        chain.close()

    asyncio.run(main())


def _serve_runner(orchestrator: str) -> None:
    """Child: the noop dev runner registered with ``orchestrator``; prints ``{"url", "runner_id", "pid"}``."""
    from sim.runners import start_dev_runner

    async def main():
        r = await start_dev_runner("noop", orchestrator, "bench", capacity=4)
        print(json.dumps({"url": r.url, "runner_id": r.runner_id, "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await r.aclose()

    asyncio.run(main())


def _serve_bare_proxy(target: str) -> None:
    """Child: the smallest aiohttp proxy to ``target`` (for scale); prints ``{"url", "pid"}``."""
    import aiohttp
    from aiohttp import web

    async def main():
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)

        async def handle(request):
            async with http.post(target, data=await request.read()) as r:
                return web.Response(status=r.status, body=await r.read())

        app = web.Application(client_max_size=0)
        app.router.add_post("/bytes", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(json.dumps({"url": f"http://127.0.0.1:{port}", "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await http.close()
        await runner.cleanup()

    asyncio.run(main())


def _spawn(*args: str) -> tuple[subprocess.Popen, dict]:
    p = subprocess.Popen([sys.executable, "-c", f"import bench.runner as b; b.{args[0]}(*{list(args[1:])!r})"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    line = p.stdout.readline()
    if not line:
        p.kill()
        raise RuntimeError(f"{args[0]} child did not start: {p.stderr.read().strip()[-400:]}")
    return p, json.loads(line)


def _peak_rss_mb(pid: int) -> float:
    """``VmHWM``: the process's peak resident set size (Linux), MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------------------------ the load
async def _slice(http, url: str, body: bytes, seconds: float, concurrency: int) -> dict:
    lat: list[float] = []
    statuses: dict[int, int] = {}
    moved = 0
    stop_at = time.perf_counter() + seconds

    async def worker():
        nonlocal moved
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            async with http.post(url, data=body) as r:
                got = await r.read()
            lat.append(time.perf_counter() - t0)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            moved += len(body) + len(got)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat.sort()
    return {"rps": len(lat) / elapsed, "mb_s": moved / elapsed / 1e6, "n": len(lat),
            "p50_ms": lat[len(lat) // 2] * 1000 if lat else None,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else None, "statuses": statuses}


async def _stream(http, url: str, mib: int) -> dict:
    chunk = b"\x5a" * (256 * 1024)
    n = mib * 4

    async def gen():
        for _ in range(n):
            yield chunk

    t0 = time.perf_counter()
    got = 0
    async with http.post(url, data=gen(), headers={"Content-Length": str(n * len(chunk))}) as r:
        async for part in r.content.iter_chunked(1 << 20):
            got += len(part)
        status = r.status
    elapsed = time.perf_counter() - t0
    return {"status": status, "bytes": got, "sent": n * len(chunk), "seconds": round(elapsed, 2),
            "mb_s": round(2 * got / elapsed / 1e6, 1)}


async def _run(args) -> dict:
    import aiohttp

    body = os.urandom(args.body_kib * 1024)
    orch, o = _spawn("_serve_orchestrator")
    runner = bare = None
    try:
        runner, rn = _spawn("_serve_runner", o["http_url"])
        bare, bp = _spawn("_serve_bare_proxy", rn["url"] + "/bytes")
        conn = aiohttp.TCPConnector(limit=max(1, args.concurrency))
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as http:
            async with http.post(f"{o['http_url']}/apps/{rn['runner_id']}/session", data=b"{}") as r:
                sess = await r.json()
            urls = {"direct": rn["url"] + "/bytes", "proxied": sess["app_url"] + "/bytes",
                    "bare_proxy": bp["url"] + "/bytes"}
            for u in urls.values():  # warm both paths (connections, first-request costs)
                await _slice(http, u, body, 0.2, args.concurrency)
            runs: dict[str, list[dict]] = {name: [] for name in urls}
            for _ in range(max(1, args.rounds)):
                for name, u in urls.items():
                    runs[name].append(await _slice(http, u, body, args.seconds, args.concurrency))
            stream = None
            if args.stream_mib > 0:
                stream = await _stream(http, urls["proxied"], args.stream_mib)
        rss = {"orchestrator": round(_peak_rss_mb(o["pid"]), 1), "runner": round(_peak_rss_mb(rn["pid"]), 1)}
    finally:
        for p in (bare, runner, orch):
            if p is not None:
                try:
                    p.stdin.close()
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
    return report(args, runs, stream, rss)


def report(args, runs: dict[str, list[dict]], stream: dict | None, rss: dict) -> dict:
    """The result document from the measured slices (``runs``: path -> one dict per slice), the stream and the peak
    RSS: medians, ratios, and the verdict — ``ok`` only when every request succeeded, the stream came back whole
    and every target was met (a missed target is ``ok: false``, exit 1, like every other benchmark)."""
    def med(name, key):
        vals = [x[key] for x in runs[name] if x[key] is not None]
        return round(statistics.median(vals), 2) if vals else None

    out = {"name": "runner", "concurrency": args.concurrency, "body_kib": args.body_kib, "rounds": args.rounds,
           "seconds_per_slice": args.seconds}
    for name in ("direct", "proxied", "bare_proxy"):
        out[name] = {"rps": med(name, "rps"), "mb_s": med(name, "mb_s"), "p50_ms": med(name, "p50_ms"),
                     "p99_ms": med(name, "p99_ms"),
                     "statuses": {str(k): sum(x["statuses"].get(k, 0) for x in runs[name])
                                  for k in {k for x in runs[name] for k in x["statuses"]}}}
    out["ratio_rps"] = round(out["proxied"]["rps"] / out["direct"]["rps"], 3) if out["direct"]["rps"] else None
    out["ratio_mb_s"] = round(out["proxied"]["mb_s"] / out["direct"]["mb_s"], 3) if out["direct"]["mb_s"] else None
    out["bare_proxy_ratio_rps"] = round(out["bare_proxy"]["rps"] / out["direct"]["rps"], 3) \
        if out["direct"]["rps"] else None
    out["ratio_vs_bare_proxy"] = round(out["proxied"]["rps"] / out["bare_proxy"]["rps"], 3) \
        if out["bare_proxy"]["rps"] else None
    out["stream"] = stream
    out["peak_rss_mb"] = rss
    all_ok = all(set(out[n]["statuses"]) == {"200"} for n in ("direct", "proxied", "bare_proxy"))
    stream_ok = stream is None or (stream["status"] == 200 and stream["bytes"] == stream["sent"])
    out["targets"] = {"ratio_rps": TARGET_RATIO, "p99_ms": TARGET_P99_MS, "peak_rss_mb": TARGET_RSS_MB}
    out["meets"] = {
        "ratio_rps": out["ratio_rps"] is not None and out["ratio_rps"] >= TARGET_RATIO,
        "p99_ms": out["proxied"]["p99_ms"] is not None and out["proxied"]["p99_ms"] < TARGET_P99_MS,
        "peak_rss_mb": stream is None or rss["orchestrator"] + rss["runner"] < TARGET_RSS_MB}
    out["meets_targets"] = all(out["meets"].values())
    out["all_requests_ok"], out["stream_ok"] = all_ok, stream_ok
    out["ok"] = all_ok and stream_ok and out["meets_targets"]
    return out


def run(args) -> dict:
    return asyncio.run(_run(args))


def format_text(r: dict) -> str:
    d, p, b = r["direct"], r["proxied"], r["bare_proxy"]
    lines = [f"live runner proxy, {r['body_kib']} KiB bodies echoed, {r['concurrency']} in flight, medians of "
             f"{r['rounds']} x {r['seconds_per_slice']} s:",
             f"  direct   {d['rps']} req/s, {d['mb_s']} MB/s, p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms",
             f"  proxied  {p['rps']} req/s, {p['mb_s']} MB/s, p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms",
             f"  bare aiohttp proxy (for scale) {b['rps']} req/s, p99 {b['p99_ms']} ms",
             f"  ratio proxied/direct: {r['ratio_rps']} req/s, {r['ratio_mb_s']} MB/s "
             f"(target >= {TARGET_RATIO}; proxied p99 target < {TARGET_P99_MS} ms); bare proxy/direct "
             f"{r['bare_proxy_ratio_rps']}; lpdev proxy/bare proxy {r['ratio_vs_bare_proxy']}"]
    s = r["stream"]
    if s:
        lines.append(f"  {s['sent'] / 2**20:.0f} MiB streamed up and back through the proxy in {s['seconds']} s "
                     f"({s['mb_s']} MB/s both ways), status {s['status']}, {s['bytes']} bytes back")
    rss = r["peak_rss_mb"]
    lines.append(f"  peak RSS: orchestrator {rss['orchestrator']} MB, runner {rss['runner']} MB "
                 f"(target < {TARGET_RSS_MB} MB together)")
    missed = [k for k, met in r["meets"].items() if not met]
    failed = ([] if r["all_requests_ok"] else ["not every request got 200"]) + \
             ([] if r["stream_ok"] else ["the stream did not come back whole"])
    lines.append("  targets: " + ("OK" if not missed else f"MISSED ({', '.join(missed)})")
                 + (f"; FAILED: {'; '.join(failed)}" if failed else ""))
    return "\n".join(lines)
