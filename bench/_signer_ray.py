"""Distributed signer load for `lpdev bench signer --ray ADDRESS --workers N`: N Ray tasks, each running the same
sustained /generate-live-payment load as the one-machine bench (its own gateway sessions: state round-trips, its
own orchestrators' rotating params, 1-3 tickets per call), against one signer URL; their latency histograms are
merged.

Histograms are log-spaced buckets (1 µs .. 100 s, 40 per decade), so merging is adding counts and a percentile
is read to within 6 %.
"""
from __future__ import annotations

import math

__all__ = ["hist_of", "merge_hists", "percentile_ms", "run_distributed", "BUCKETS_PER_DECADE"]

BUCKETS_PER_DECADE = 40
_LO = 1e-6


def hist_of(latencies_s) -> dict[int, int]:
    h: dict[int, int] = {}
    for x in latencies_s:
        b = max(0, int(math.log10(max(x, _LO) / _LO) * BUCKETS_PER_DECADE))
        h[b] = h.get(b, 0) + 1
    return h


def merge_hists(hists) -> dict[int, int]:
    out: dict[int, int] = {}
    for h in hists:
        for b, c in h.items():
            out[int(b)] = out.get(int(b), 0) + int(c)
    return out


def percentile_ms(h: dict[int, int], p: float) -> float:
    n = sum(h.values())
    if not n:
        return 0.0
    rank, seen = p * n, 0
    for b in sorted(h):
        seen += h[b]
        if seen >= rank:
            return round(_LO * 10 ** ((b + 1) / BUCKETS_PER_DECADE) * 1000, 3)  # the bucket's upper edge
    return 0.0


def _task(load, url: str, concurrency: int, duration: float, warmup: float, worker_base: int,
          node: bool = False) -> dict:
    import asyncio

    return asyncio.run(load(url, concurrency, duration, warmup, worker_base=worker_base, node=node))


def run_distributed(load, url: str, ray_address: str, workers: int, concurrency: int, duration: float,
                    warmup: float, node: bool = False) -> dict:
    """``load``: the one-machine load coroutine (``bench.signer._load``), shipped to each task by reference."""
    from sim.economics.sweep import connect_ray
    from sim.wire.bounded import parse_int

    parse_int(workers, what="--workers", min=1)  # BoundedInputError: one line, exit 2
    ray = connect_ray(ray_address)  # RayUnavailable: `lpdev bench` makes it one line, exit 2
    try:
        task = ray.remote(_task)
        refs = [task.remote(load, url, concurrency, duration, warmup, w * concurrency, node) for w in range(workers)]
        parts = ray.get(refs)
    finally:
        ray.shutdown()
    h = merge_hists(p["latency_hist"] for p in parts)
    requests = sum(p["requests"] for p in parts)
    seconds = max(p["seconds"] for p in parts)
    tickets = sum(p["tickets_per_request"] * p["requests"] for p in parts)
    errors = sum(p["errors"] for p in parts)
    return {"requests": requests, "seconds": seconds, "rps": round(requests / seconds, 1) if seconds else 0.0,
            "p50_ms": percentile_ms(h, 0.50), "p99_ms": percentile_ms(h, 0.99),
            "max_ms": max(p["max_ms"] for p in parts), "errors": errors,
            "error_samples": [e for p in parts for e in p["error_samples"]][:5],
            "tickets_per_request": round(tickets / requests, 3) if requests else 0,
            "workers": workers, "per_worker_rps": [p["rps"] for p in parts], "latency_hist": h}
