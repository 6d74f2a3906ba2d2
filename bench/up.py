"""`lpdev up` start-up: command start to config file written (anvil and embedded), vs bare anvil start to first RPC.

Baseline (same run): spawn the pinned anvil and wait until it answers ``eth_chainId`` — the floor of any
anvil-backed start. Measured: ``lpdev up --headless --any-port --config-out F`` as a subprocess, from ``Popen`` to
``F`` existing (written only once every service answers), then the lpdev process's peak resident memory (VmHWM)
(and its CPU seconds until ready, which load on a shared machine does not inflate) after ``--hold`` seconds of the scripted gateway paying every 0.5 s. Targets: ready < 3 s with anvil; RSS < 400 MB.
"""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._baselines import bare_anvil_start_s

ROOT = Path(__file__).resolve().parent.parent
TARGET_READY_S = 3.0
TARGET_RSS_MB = 400.0


def add_arguments(parser) -> None:
    parser.add_argument("--runs", type=int, default=1, help="start-ups per backend (median is reported; default 1)")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds of payments before reading RSS (default 3)")
    parser.add_argument("--backends", default="anvil,embedded", help="comma list (default anvil,embedded)")


def _vm(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (load-independent, unlike wall time)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _one_up(backend: str, hold: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="lpdev-bench-up-") as d:
        out, state = Path(d) / "cast.json", Path(d) / "state.json"
        cmd = [sys.executable, "-m", "lpdev", "up", "--headless", "--any-port", "--chain", backend, "--config-out",
               str(out), "--state-file", str(state), "--interval", "0.5", "--block-time", "0.5"]
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        try:
            while not out.exists():
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace")[-400:]
                    return {"backend": backend, "error": f"lpdev up exited {proc.returncode}: {err}"}
                if time.perf_counter() - t0 > 120:
                    return {"backend": backend, "error": "no config file within 120 s"}
                time.sleep(0.005)
            ready = time.perf_counter() - t0
            cpu = _cpu_s(proc.pid)
            import json

            doc = json.loads(out.read_text())
            rss_ready = _vm(proc.pid, "VmRSS")
            time.sleep(hold)
            peak = _vm(proc.pid, "VmHWM")
            return {"backend": backend, "ready_s": round(ready, 3), "timings": doc.get("timings", {}),
                    "cpu_s_at_ready": round(cpu, 2) if cpu is not None else None,
                    "rss_mb_at_ready": round(rss_ready or 0, 1), "rss_mb_peak": round(peak or 0, 1)}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)


def run(args) -> dict:
    runs = max(1, int(getattr(args, "runs", 1)))
    hold = float(getattr(args, "hold", 3.0))
    backends = [b.strip() for b in str(getattr(args, "backends", "anvil,embedded")).split(",") if b.strip()]
    result: dict = {"targets": {"ready_anvil_s": TARGET_READY_S, "rss_mb": TARGET_RSS_MB}, "runs": runs,
                    "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    bare = []
    if "anvil" in backends:
        for _ in range(runs):
            bare.append(bare_anvil_start_s())
        result["bare_anvil_s"] = round(statistics.median(bare), 3)
    ok = True
    for b in backends:
        rows = [_one_up(b, hold) for _ in range(runs)]
        good = [r for r in rows if "error" not in r]
        if not good:
            result[b] = {"error": rows[0]["error"]}
            ok = False
            continue
        med = statistics.median(r["ready_s"] for r in good)
        result[b] = {"ready_s": round(med, 3), "all_ready_s": [r["ready_s"] for r in good],
                     "timings": good[-1]["timings"], "cpu_s_at_ready": good[-1]["cpu_s_at_ready"],
                     "rss_mb_peak": max(r["rss_mb_peak"] for r in good),
                     "rss_mb_at_ready": max(r["rss_mb_at_ready"] for r in good)}
        if b == "anvil" and bare:
            result[b]["ratio_vs_bare_anvil"] = round(med / result["bare_anvil_s"], 2)
    met = {}
    if "anvil" in result and "ready_s" in result.get("anvil", {}):
        met["ready_anvil"] = result["anvil"]["ready_s"] < TARGET_READY_S
    peaks = [result[b]["rss_mb_peak"] for b in backends if "rss_mb_peak" in result.get(b, {})]
    if peaks:
        met["rss"] = max(peaks) < TARGET_RSS_MB
    result["targets_met"] = met
    result["ok"] = ok
    return result


def format_text(r: dict) -> str:
    lines = [f"lpdev up start-up ({r['runs']} run(s) per backend; {r['cpus']} CPUs, load {r['load_avg_1m']})"]
    if "bare_anvil_s" in r:
        lines.append(f"  bare anvil to first RPC answer : {r['bare_anvil_s']:.3f} s (baseline)")
    for b in ("anvil", "embedded"):
        x = r.get(b)
        if not x:
            continue
        if "error" in x:
            lines.append(f"  lpdev up --chain {b:<8}: ERROR {x['error']}")
            continue
        ratio = f", {x['ratio_vs_bare_anvil']}x bare anvil" if "ratio_vs_bare_anvil" in x else ""
        lines.append(f"  lpdev up --chain {b:<8}: ready in {x['ready_s']:.3f} s{ratio} ({x['cpu_s_at_ready']} s of "
                     f"CPU); peak RSS "
                     f"{x['rss_mb_peak']:.0f} MB (at ready {x['rss_mb_at_ready']:.0f} MB); stages {x['timings']}")
    t = r["targets"]
    lines.append(f"  targets: ready < {t['ready_anvil_s']} s with anvil, RSS < {t['rss_mb']:.0f} MB -> "
                 + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in r["targets_met"].items()))
    return "\n".join(lines)
