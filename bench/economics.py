"""Simulated payments per second per core (batched vs per-ticket path), and a sweep's Ray speed-up over processes.

1. One core, lpdev up's economics (LV2V, ~1.4 tickets per 5 s payment): ``--sessions`` sessions of
   ``--minutes`` on the batched numpy path, vs the per-ticket path (every ticket through the core's win test)
   on a few sessions. Prints payments/s for both and their ratio. Target: >= 10^6 payments/s per core batched.
2. The same sweep (``--cells`` cells of ``--runs`` sessions) on local processes (one per CPU) and on a local Ray
   started with as many CPUs: elapsed times, the speed-up processes/Ray, and whether the tables are identical
   (they must be: a difference fails the verdict). ``--no-ray`` skips this part.
3. A fleet (``lpdev economics fleet``'s defaults: a go-livepeer live runner's terms, ``--fleet-gateways``
   gateways x 8 sessions a day x ``--fleet-days`` days, 100 orchestrators) on one core, batched: payments/s per
   core (counted in the target); and a small fleet (``--fleet-per-ticket-gateways`` gateways, one day) on both
   paths, the same sessions: batched / per-ticket on that one workload is the fleet's ratio (few sessions per
   chunk, so the batched path's per-step overhead shows more than in the big fleet), and both paths must
   simulate the same payments (else the verdict fails). ``--no-fleet`` skips this.

The verdict (``ok``, exit 0/1) is the target on both batched rates, the fleet's paths agreeing and the sweep's
tables being identical.
"""
from __future__ import annotations

import os
import random
import time

from sim.wire.bounded import argtype, parse_float, parse_int

TARGET_PAYMENTS_PER_S = 1_000_000


def add_arguments(parser) -> None:
    count = argtype(parse_int, min=1, max=10**7)
    parser.add_argument("--sessions", type=count, default=4096, help="sessions in the batched run (default 4096)")
    parser.add_argument("--minutes", type=argtype(parse_float, min=0.1, max=7 * 24 * 60), default=30.0,
                        help="simulated minutes per session (default 30)")
    parser.add_argument("--per-ticket-sessions", type=count, default=8, help="sessions on the per-ticket path (8)")
    parser.add_argument("--cells", type=argtype(parse_int, min=1, max=10_000), default=16,
                        help="sweep cells for the Ray comparison (default 16)")
    parser.add_argument("--runs", type=count, default=2000, help="sessions per sweep cell (default 2000)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray vs processes sweep")
    parser.add_argument("--fleet-gateways", type=count, default=1000, help="gateways in the fleet run (default 1000)")
    parser.add_argument("--fleet-days", type=argtype(parse_int, min=1, max=366), default=7,
                        help="days in the fleet run (default 7)")
    parser.add_argument("--fleet-per-ticket-gateways", type=argtype(parse_int, min=1, max=10_000), default=10,
                        help="gateways of the small fleet run on both paths (default 10)")
    parser.add_argument("--no-fleet", action="store_true", help="skip the fleet part")


def _settings(minutes: float):
    from stack.economics import up_settings

    return up_settings().with_(minutes=minutes)


def run(args) -> dict:
    import numpy as np

    from sim.economics.batched import draw_disturbances, simulate_batch
    from sim.economics.session import Model, simulate_session

    m = Model.of(_settings(args.minutes))
    d = draw_disturbances(m, args.sessions, np.random.default_rng(1))
    t0 = time.process_time()
    b = simulate_batch(m, d, np.random.default_rng(2))
    batched_s = time.process_time() - t0
    batched_payments = int(b.calls.sum()) + args.sessions
    pt = draw_disturbances(m, args.per_ticket_sessions, np.random.default_rng(3))
    t0 = time.process_time()
    per_ticket_payments = 0
    for j in range(args.per_ticket_sessions):
        g, f, lost = pt.column(j)
        r = simulate_session(m, gaps=g, failed=f, lost=lost, rng=random.Random(j))
        per_ticket_payments += r.calls + 1
    per_ticket_s = time.process_time() - t0
    out = {"bench": "economics", "settings": "lpdev up defaults (lv2v)", "sessions": args.sessions,
           "minutes": args.minutes, "batched_payments": batched_payments, "batched_cpu_s": round(batched_s, 3),
           "batched_payments_per_s_per_core": round(batched_payments / batched_s),
           "per_ticket_payments": per_ticket_payments, "per_ticket_cpu_s": round(per_ticket_s, 3),
           "per_ticket_payments_per_s_per_core": round(per_ticket_payments / per_ticket_s),
           "target_payments_per_s": TARGET_PAYMENTS_PER_S}
    out["batched_over_per_ticket"] = round(out["batched_payments_per_s_per_core"]
                                           / max(1, out["per_ticket_payments_per_s_per_core"]), 1)
    out["meets_target"] = out["batched_payments_per_s_per_core"] >= TARGET_PAYMENTS_PER_S
    if not args.no_fleet:
        out["fleet"] = _fleet(args)
    if not args.no_ray:
        out["sweep"] = _ray_vs_processes(args)
    out["ok"] = verdict(out)
    return out


def verdict(out: dict) -> bool:
    """ok: the batched path meets the target (alone and in the fleet), the fleet's two paths simulated the same
    payments, and the sweep's tables are identical on processes and on Ray (a difference is a bug, not a speed)."""
    f, sw = out.get("fleet"), out.get("sweep")
    return bool(out["batched_payments_per_s_per_core"] >= TARGET_PAYMENTS_PER_S
                and (f is None or (f["batched_payments_per_s_per_core"] >= TARGET_PAYMENTS_PER_S
                                   and f["same_payments_on_both_paths"]))
                and (sw is None or sw["identical_tables"]))


def _fleet(args) -> dict:
    from sim.economics.fleet import Fleet, run_fleet

    def timed(f: Fleet, per_ticket: bool) -> tuple[int, float]:
        t0 = time.process_time()
        run = run_fleet(f, seed=1, engine="inline", per_ticket=per_ticket)
        return sum(run.totals.cls["payments"]), time.process_time() - t0

    big = Fleet(gateways=args.fleet_gateways, days=args.fleet_days)
    payments, cpu = timed(big, False)
    small = Fleet(gateways=args.fleet_per_ticket_gateways, days=1, shard_gateways=args.fleet_per_ticket_gateways)
    sp, sb = timed(small, False)
    pp, pt = timed(small, True)
    # the headline ratio is like for like: the small fleet's sessions on both paths (the big fleet's batched rate
    # is measured over longer chunks, which the batched path amortises better: it is not compared with the small
    # fleet's per-ticket rate)
    return {"gateways": big.gateways, "days": big.days, "orchestrators": big.orchestrators,
            "sessions_per_day": big.sessions_per_day, "payments": payments, "cpu_s": round(cpu, 3),
            "batched_payments_per_s_per_core": round(payments / cpu),
            "small_gateways": small.gateways, "small_payments": sp, "small_per_ticket_payments": pp,
            "same_payments_on_both_paths": sp == pp,
            "small_batched_payments_per_s_per_core": round(sp / sb),
            "small_per_ticket_payments_per_s_per_core": round(pp / pt),
            "batched_over_per_ticket": round((sp / sb) / (pp / pt), 1)}


def _ray_vs_processes(args) -> dict:
    import ray

    from sim.economics.sweep import parse_axis, run_sweep

    cpus = os.cpu_count() or 1
    base = _settings(args.minutes)
    axes = [parse_axis(f"ticket_ev=1e14:1e16:{args.cells}:log")]
    t0 = time.perf_counter()
    local = run_sweep(base, axes, runs=args.runs, seed=1, engine="processes", workers=cpus)
    processes_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        remote = run_sweep(base, axes, runs=args.runs, seed=1, engine="ray")
        ray_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    payments = sum(int(r.get("payments") or 0) for r in local.rows)
    return {"cells": args.cells, "runs_per_cell": args.runs, "cpus": cpus, "payments": payments,
            "processes_s": round(processes_s, 3), "ray_start_s": round(start_s, 3), "ray_s": round(ray_s, 3),
            "speedup_ray_over_processes": round(processes_s / ray_s, 3),
            "payments_per_s_processes": round(payments / processes_s), "payments_per_s_ray": round(payments / ray_s),
            "identical_tables": local.table() == remote.table()}


def format_text(r: dict) -> str:
    lines = [f"economics bench ({r['settings']}, {r['sessions']} sessions x {r['minutes']:g} min)",
             f"  batched path: {r['batched_payments_per_s_per_core']:,} simulated payments/s per core "
             f"({r['batched_payments']:,} payments in {r['batched_cpu_s']} CPU s)",
             f"  per-ticket path: {r['per_ticket_payments_per_s_per_core']:,} payments/s per core "
             f"(every ticket through the core's win test)",
             f"  batched / per-ticket = {r['batched_over_per_ticket']}",
             f"  target >= {r['target_payments_per_s']:,} payments/s per core batched -> "
             f"{'OK' if r['meets_target'] else 'MISSED'}"]
    f = r.get("fleet")
    if f:
        lines += [f"  fleet of {f['gateways']:,} gateways x {f['sessions_per_day']:g} sessions a day x "
                  f"{f['days']} days, "
                  f"{f['orchestrators']} orchestrators: {f['batched_payments_per_s_per_core']:,} payments/s per core "
                  f"batched ({f['payments']:,} payments in {f['cpu_s']} CPU s)",
                  f"  a {f['small_gateways']}-gateway fleet on both paths: batched "
                  f"{f['small_batched_payments_per_s_per_core']:,}/s, per-ticket "
                  f"{f['small_per_ticket_payments_per_s_per_core']:,}/s per core: batched / per-ticket = "
                  f"{f['batched_over_per_ticket']} (the same sessions; "
                  + ("the same payments on both paths)" if f["same_payments_on_both_paths"] else
                     f"DIFFERENT payments: {f['small_payments']:,} batched vs {f['small_per_ticket_payments']:,} "
                     "per-ticket)")]
    s = r.get("sweep")
    if s:
        lines += [f"  sweep of {s['cells']} cells x {s['runs_per_cell']} sessions on {s['cpus']} CPUs: processes "
                  f"{s['processes_s']} s, Ray {s['ray_s']} s (+{s['ray_start_s']} s to start Ray)",
                  f"  Ray / processes speed-up = {s['speedup_ray_over_processes']} "
                  f"({s['payments_per_s_ray']:,} vs {s['payments_per_s_processes']:,} payments/s); identical tables: "
                  f"{'yes' if s['identical_tables'] else 'NO (a bug: the same seed must give the same table)'}"]
    try:
        lines.append(f"  machine load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    except OSError:
        pass
    lines.append(f"verdict: {'ok' if r['ok'] else 'MISSED'}")
    return "\n".join(lines)
