"""Sustained /generate-live-payment load on a remote signer: requests/s, p50/p99 latency, errors, vs a crypto floor.

Each of ``--concurrency`` workers is one realistic gateway session: it round-trips the signed state, its
orchestrator rotates ticket params (a new recipientRandHash, like every /payment reply), and every call needs
1–3 tickets (EV 1000 wei, price 1 wei/unit, 1000–3000 units). Without ``--signer`` the signer runs on the mock
chain in a child process (``lpdev signer --mock-chain``), so client and signer do not share one interpreter.

Baseline (same run, in this process): the crypto a request needs — one state-signature recovery plus
(tickets + 2) signatures (tickets, segCreds, new state) — timed with lpdev's own crypto; ``floor_rps`` is the
rate one core could sign at, and ``ratio`` = achieved / floor. Targets: >= 500 req/s at concurrency 16 with
p99 < 50 ms and zero errors.

``--profile`` picks the signer's dialect (sim/signer/profiles.py). livepeer-node takes only live/fixed payments
whose ManifestID is the auth token's session id: its sessions send ``type: fixed`` at 2 000 wei a job (2 tickets
at EV 1 000), no ManifestID, and its signer pins the ETH/USD rate (--wei-per-usd) so no feed is needed.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time

TARGET_RPS = 500
TARGET_P99_MS = 50.0
EV = 1000


def add_arguments(parser) -> None:
    parser.add_argument("--signer", help="signer URL to load (default: start one on the mock chain)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent sessions (default 16)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load after warm-up (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up (default 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the default signer in this process's event loop (one core for both)")
    parser.add_argument("--ray", metavar="ADDRESS", help="drive the load from Ray tasks (local, auto, HOST:PORT); "
                        "needs --signer reachable from the cluster")
    parser.add_argument("--workers", type=int, default=2, help="with --ray: load tasks, each --concurrency (2)")
    from sim.signer.profiles import DEFAULT_PROFILE, PROFILE_NAMES

    parser.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILE_NAMES,
                        help=f"the signer's dialect (default {DEFAULT_PROFILE})")


NODE_PRICE = 2000  # livepeer-node sessions: wei per fixed job -> 2 tickets at EV 1000
NODE_WEI_PER_USD = "1000000000000000/3"  # 3000 USD/ETH, pinned


def _node(profile: str) -> bool:
    """A dialect without untyped (inPixels) payments: the livepeer-node workload."""
    from sim.signer.profiles import get_profile

    return "" not in get_profile(profile).job_types


def _orch_pool(worker: int, n: int = 64, price: tuple[int, int] = (1, 1)) -> list[str]:
    from sim.signer.testkit import make_orch_info
    from sim.wire import codec

    recipient = bytes([worker + 1]) * 20
    now = time.time()
    return [codec.to_b64(make_orch_info(ev=EV, price=price, last_block=10**9, seed=worker * 1000 + i + 1,
                                        recipient=recipient, now=now + 7200, creation_round=5))
            for i in range(n)]


async def _worker(http, url: str, stop_at: float, measure_from: float, lat: list[float], errors: list[str],
                  worker: int, counts: dict, node: bool = False) -> None:
    pool = _orch_pool(worker, price=(NODE_PRICE, 1) if node else (1, 1))
    rnd = random.Random(worker)
    state = None
    i = 0
    mid = f"bench-{worker}"
    while time.perf_counter() < stop_at:
        if node:  # live/fixed only; ManifestID defaults to the auth token's session id
            body = {"state": state or {"state": None, "sig": None}, "orchestrator": pool[i % len(pool)],
                    "type": "fixed"}
        else:
            body = {"state": state or {"State": None, "Sig": None}, "orchestrator": pool[i % len(pool)],
                    "inPixels": rnd.randint(1000, 3000), "type": ""}
        if state is not None and not node:
            body["ManifestID"] = mid
        i += 1
        t0 = time.perf_counter()
        try:
            async with http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r:
                raw = await r.read()
                status = r.status
        except Exception as exc:  # noqa: BLE001
            status, raw = 0, f"{type(exc).__name__}: {exc}".encode()
        t1 = time.perf_counter()
        if t0 >= measure_from:
            lat.append(t1 - t0)
            counts["requests"] += 1
        if status != 200:
            if t0 >= measure_from:
                errors.append(f"{status} {raw[:120]!r}")
            state = None
            continue
        doc = json.loads(raw)
        state = doc["state"]
        if t0 >= measure_from:
            counts["tickets"] += _ticket_count(doc["payment"])


def _ticket_count(payment_b64: str) -> int:
    import base64

    from sim.wire import lp_rpc_pb2 as pb

    return len(pb.Payment.FromString(base64.b64decode(payment_b64)).ticket_sender_params)


async def _load(url: str, concurrency: int, duration: float, warmup: float, worker_base: int = 0,
                node: bool = False) -> dict:
    import aiohttp

    lat: list[float] = []
    errors: list[str] = []
    counts = {"requests": 0, "tickets": 0}
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    conn = aiohttp.TCPConnector(limit=concurrency * 2, ssl=False)
    async with aiohttp.ClientSession(connector=conn) as http:
        target = url.rstrip("/") + "/generate-live-payment"
        await asyncio.gather(*(_worker(http, target, stop_at, measure_from, lat, errors, (worker_base + w) % 250,
                                       counts, node) for w in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else 0.0

    return {"requests": counts["requests"], "seconds": round(elapsed, 3),
            "rps": round(counts["requests"] / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 3) if lat else 0.0,
            "errors": len(errors), "error_samples": errors[:5],
            "tickets_per_request": round(counts["tickets"] / counts["requests"], 3) if counts["requests"] else 0,
            "latency_hist": _hist(lat)}


def _hist(lat: list[float]) -> dict:
    from bench._signer_ray import hist_of

    return hist_of(lat)


def crypto_floor(tickets_per_request: float, seconds: float = 0.6) -> dict:
    """Per-request crypto cost with lpdev's own primitives: 1 recover + (tickets + 2) personal signs."""
    from sim.pm import crypto

    key = bytes.fromhex("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a")  # dev key #2 (public)
    addr = crypto.private_key_to_address(key)
    msgs = [os.urandom(32) for _ in range(64)]
    sigs = [crypto.sign_personal(key, m) for m in msgs]

    def rate(fn) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for i in range(64):
                fn(i)
            n += 64
        return n / (time.perf_counter() - t0)

    sign_rate = rate(lambda i: crypto.sign_personal(key, msgs[i]))
    verify_rate = rate(lambda i: crypto.verify_personal(addr, msgs[i], sigs[i]))
    per_request = 1 / verify_rate + (tickets_per_request + 2) / sign_rate
    return {"sign_per_s": round(sign_rate), "verify_per_s": round(verify_rate),
            "signs_per_request": round(tickets_per_request + 2, 3), "verifies_per_request": 1,
            "floor_rps": round(1 / per_request, 1), "backend": crypto.BACKEND}


async def _inprocess(args) -> dict:
    import devnet
    from sim.clock import RealClock
    from sim.signer.config import SignerConfig
    from sim.signer.core import SignerCore
    from sim.signer.http import SignerServer

    from sim.pm.money import parse_rat

    chain = devnet.open_chain("mock")
    node = _node(args.profile)
    cfg = SignerConfig(profile=args.profile, wei_per_usd=parse_rat(NODE_WEI_PER_USD) if node else None)
    core = SignerCore(key=chain.key("sender"), chain=chain, config=cfg, clock=RealClock())
    async with SignerServer(core, metrics_port=False) as s:
        return await _load(s.url, args.concurrency, args.duration, args.warmup, node=node)


def _start_child(profile: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "lpdev", "signer", "--mock-chain", "--http-addr", "127.0.0.1:0",
           "--profile", profile]
    if _node(profile):
        cmd += ["--metrics-addr", "127.0.0.1:0", "--wei-per-usd", NODE_WEI_PER_USD]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].split()[0]
    proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"signer child did not start: {err.strip()[-300:]}")


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (Linux), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run(args) -> dict:
    mode = "url" if args.signer else ("in-process" if args.in_process else "child-process")
    proc = None
    if args.ray:
        mode = f"ray x{args.workers}"
    node = _node(args.profile)
    try:
        if args.ray:
            from bench._signer_ray import run_distributed

            if args.signer:
                url = args.signer if "://" in args.signer else "https://" + args.signer
            else:
                proc, url = _start_child(args.profile)
            load = run_distributed(_load, url, args.ray, args.workers, args.concurrency, args.duration, args.warmup,
                                   node)
        elif args.signer:
            url = args.signer if "://" in args.signer else "https://" + args.signer
            load = asyncio.run(_load(url, args.concurrency, args.duration, args.warmup, node=node))
        elif args.in_process:
            url = "(in process)"
            load = asyncio.run(_inprocess(args))
        else:
            proc, url = _start_child(args.profile)
            cpu0 = _cpu_seconds(proc.pid)
            load = asyncio.run(_load(url, args.concurrency, args.duration, args.warmup, node=node))
            cpu1 = _cpu_seconds(proc.pid)
            if cpu0 is not None and cpu1 is not None and load["requests"]:
                # includes the warm-up requests: approximate, slightly high
                served = load["requests"] * (args.duration + args.warmup) / args.duration
                load["signer_cpu_ms_per_request"] = round((cpu1 - cpu0) / served * 1000, 3)
                load["signer_capacity_one_core_rps"] = round(1000 / load["signer_cpu_ms_per_request"], 1)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    floor = crypto_floor(load["tickets_per_request"] or 2.0)
    ratio = round(load["rps"] / floor["floor_rps"], 3) if floor["floor_rps"] else 0.0
    ok = (load["errors"] == 0 and load["rps"] >= TARGET_RPS and load["p99_ms"] < TARGET_P99_MS)
    return {"bench": "signer", "mode": mode, "signer": url, "profile": args.profile, "concurrency": args.concurrency,
            "duration_s": args.duration, **load, "crypto_floor": floor, "ratio": ratio,
            "targets": {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS, "errors": 0}, "ok": ok}


def format_text(r: dict) -> str:
    f = r["crypto_floor"]
    lines = [
        f"signer bench ({r['mode']}: {r['signer']}, profile {r.get('profile', '?')}), concurrency "
        f"{r['concurrency']}, {r['seconds']} s",
        f"  {r['rps']} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  max {r['max_ms']} ms  "
        f"errors {r['errors']}  tickets/request {r['tickets_per_request']}",
        f"  crypto floor ({f['backend']}): {f['floor_rps']} req/s  (sign {f['sign_per_s']}/s, verify "
        f"{f['verify_per_s']}/s, {f['signs_per_request']} signs + 1 verify per request)",
        f"  achieved / floor = {r['ratio']}",
        f"  targets: >= {r['targets']['rps']} req/s, p99 < {r['targets']['p99_ms']} ms, 0 errors -> "
        f"{'OK' if r['ok'] else 'MISSED'}",
    ]
    if "signer_cpu_ms_per_request" in r:
        lines.insert(2, f"  signer CPU {r['signer_cpu_ms_per_request']} ms/request -> about "
                        f"{r['signer_capacity_one_core_rps']} req/s on one free core")
    try:
        load1 = os.getloadavg()[0]
        lines.append(f"  machine load average {load1:.2f} on {os.cpu_count()} CPUs (shared machines slow this down)")
    except OSError:
        pass
    for e in r.get("error_samples", []):
        lines.append(f"  error: {e}")
    return "\n".join(lines)
