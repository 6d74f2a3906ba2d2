"""`lpdev bench signer` runs end to end (tiny, in process): no errors, sessions round-trip state, 1-3 tickets."""
from __future__ import annotations

import argparse

import pytest

import bench.signer as bench_signer


@pytest.mark.slow
def test_bench_signer_smoke():
    p = argparse.ArgumentParser()
    bench_signer.add_arguments(p)
    args = p.parse_args(["--in-process", "--duration", "0.8", "--warmup", "0.2", "--concurrency", "3"])
    r = bench_signer.run(args)
    assert r["errors"] == 0, r["error_samples"]
    assert r["requests"] > 0 and 1 <= r["tickets_per_request"] <= 3
    assert r["crypto_floor"]["floor_rps"] > 0 and r["ratio"] > 0
    assert "req/s" in bench_signer.format_text(r)
