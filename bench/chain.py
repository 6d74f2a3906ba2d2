"""Chain setup time and redemption throughput per devnet backend, vs a same-run bare anvil start.

- setup: wall time from launching `lpdev chain up` (a fresh Python process) until its config file exists, i.e.
  contracts deployed, round initialized, orchestrator active and sender funded; for anvil and embedded. Also the
  in-process `open_chain` time (imports already paid).
- baseline: a bare anvil from spawn to its first JSON-RPC answer, measured in the same run.
- redemptions/s: sequential winning-ticket redemptions (simulate + send + receipt) on each backend, including
  the mock when devnet/backends/mock.py exists.
Target (issue 3): anvil setup under 2 s.
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
TARGET_ANVIL_SETUP_S = 2.0


def add_arguments(parser) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="runs per setup measurement (median; default 3)")
    parser.add_argument("--redemptions", type=int, default=40, help="tickets redeemed per backend (default 40)")
    parser.add_argument("--backends", default="anvil,embedded,mock", help="comma list (default anvil,embedded,mock)")


def _cli_setup_s(backend: str, timeout: float = 120.0) -> float:
    """Launch `lpdev chain up` and time until its config JSON appears (command start -> funded chain)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "chain.json"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lpdev", "chain", "up", "--backend", backend,
                                 "--config-out", str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            while not cfg.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"chain up ({backend}) exited: {proc.stderr.read().decode()[-500:]}")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"chain up ({backend}) not ready after {timeout:.0f} s")
                time.sleep(0.002)
            return time.perf_counter() - t0
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _open_s(backend: str, round_length: int):
    from devnet import open_chain
    from devnet.config import DevnetConfig

    t0 = time.perf_counter()
    chain = open_chain(backend, config=DevnetConfig(round_length=round_length))
    return chain, time.perf_counter() - t0


def _redemptions_per_s(chain, n: int) -> dict:
    from sim.pm.crypto import keccak
    from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

    sender_key = chain.key("sender")
    sender = bytes.fromhex(chain.address("sender")[2:])
    recipient = bytes.fromhex(chain.address("orchestrator")[2:])
    orch_key = chain.key("orchestrator")
    r = chain.last_initialized_round()
    h = chain.block_hash_for_round(r)
    tickets = []
    for i in range(n):
        rand = int.from_bytes(keccak(b"bench%d" % i), "big")
        t = Ticket(recipient=recipient, sender=sender, face_value=10**12, win_prob=MAX_WIN_PROB, sender_nonce=i + 1,
                   recipient_rand_hash=keccak(u256(rand)), creation_round=r, creation_round_block_hash=h)
        tickets.append((t, t.sign(sender_key), rand))
    gas = []
    t0 = time.perf_counter()
    for t, sig, rand in tickets:
        res = chain.redeem_winning_ticket(t, sig, rand, from_key=orch_key)
        if not res.ok:
            raise RuntimeError(f"{chain.backend}: redemption failed: {res.revert_reason}")
        gas.append(res.gas_used)
    dt = time.perf_counter() - t0
    return {"n": n, "seconds": round(dt, 4), "per_s": round(n / dt, 1), "gas_per_redeem": int(statistics.median(gas))}


def run(args) -> dict:
    repeat = max(1, int(getattr(args, "repeat", 3)))
    n = max(1, int(getattr(args, "redemptions", 40)))
    backends = [b.strip() for b in getattr(args, "backends", "anvil,embedded,mock").split(",") if b.strip()]
    if "mock" in backends and not (ROOT / "devnet" / "backends" / "mock.py").exists():
        backends.remove("mock")
    out: dict = {"bench": "chain", "target_anvil_setup_s": TARGET_ANVIL_SETUP_S, "repeat": repeat}

    bare = [bare_anvil_start_s() for _ in range(repeat)]
    out["bare_anvil_start_to_first_rpc_s"] = round(statistics.median(bare), 4)

    setup: dict = {}
    for backend in [b for b in ("anvil", "embedded") if b in backends]:
        runs = [_cli_setup_s(backend) for _ in range(repeat)]
        setup[backend] = {"cli_start_to_funded_s": round(statistics.median(runs), 4),
                          "runs_s": [round(x, 4) for x in runs]}
        setup[backend]["ratio_vs_bare_anvil"] = round(setup[backend]["cli_start_to_funded_s"]
                                                      / out["bare_anvil_start_to_first_rpc_s"], 2)
    out["setup"] = setup
    if "anvil" in setup:
        out["anvil_setup_meets_target"] = setup["anvil"]["cli_start_to_funded_s"] < TARGET_ANVIL_SETUP_S

    redeem: dict = {}
    for backend in backends:
        # one redemption mines one block: a round long enough that the run stays in one initialized round
        chain, open_s = _open_s(backend, round_length=max(20, n + 25))
        try:
            setup.setdefault(backend, {})["in_process_open_s"] = round(open_s, 4)
            redeem[backend] = _redemptions_per_s(chain, n)
        finally:
            chain.close()
    out["redemptions"] = redeem
    base = redeem.get("anvil", {}).get("per_s")
    if base:
        for backend, r in redeem.items():
            r["ratio_vs_anvil"] = round(r["per_s"] / base, 2)
    # The verdict is the anvil setup target (the only one this bench has): a miss exits 1, like bench tickets.
    out["ok"] = out.get("anvil_setup_meets_target", True)
    return out


def format_text(res: dict) -> str:
    lines = [f"bare anvil start -> first RPC: {res['bare_anvil_start_to_first_rpc_s']:.3f} s (median of {res['repeat']})"]
    for backend, s in res["setup"].items():
        if "cli_start_to_funded_s" in s:
            lines.append(f"{backend:<9} `lpdev chain up` start -> funded chain: {s['cli_start_to_funded_s']:.3f} s "
                         f"({s['ratio_vs_bare_anvil']}x bare anvil); in-process open_chain "
                         f"{s.get('in_process_open_s', float('nan')):.3f} s")
        elif "in_process_open_s" in s:
            lines.append(f"{backend:<9} in-process open_chain: {s['in_process_open_s']:.3f} s")
    if "anvil_setup_meets_target" in res:
        lines.append(f"anvil setup target < {res['target_anvil_setup_s']} s: "
                     f"{'met' if res['anvil_setup_meets_target'] else 'NOT met'}")
    for backend, r in res["redemptions"].items():
        lines.append(f"{backend:<9} {r['per_s']:>8.1f} redemptions/s ({r['n']} in {r['seconds']:.2f} s, "
                     f"{r['gas_per_redeem']} gas each{', ' + str(r['ratio_vs_anvil']) + 'x anvil' if 'ratio_vs_anvil' in r else ''})")
    return "\n".join(lines)
