"""`lpdev bench signer` runs end to end (tiny, in process): no errors, sessions round-trip state, 1-3 tickets."""
from __future__ import annotations

import argparse

import pytest

import bench.signer as bench_signer


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["go-livepeer", "go-livepeer@0.9.1", "livepeer-node"])
def test_bench_signer_smoke(profile):
    p = argparse.ArgumentParser()
    bench_signer.add_arguments(p)
    args = p.parse_args(["--in-process", "--duration", "0.8", "--warmup", "0.2", "--concurrency", "3",
                         "--profile", profile])
    r = bench_signer.run(args)
    assert r["errors"] == 0, r["error_samples"]
    assert r["profile"] == profile and f"profile {profile}" in bench_signer.format_text(r)
    if profile == "livepeer-node":  # fixed jobs at 2 000 wei, EV 1 000
        assert r["requests"] > 0 and r["tickets_per_request"] == 2
    else:
        assert r["requests"] > 0 and 1 <= r["tickets_per_request"] <= 3
    assert r["crypto_floor"]["floor_rps"] > 0 and r["ratio"] > 0
    assert "req/s" in bench_signer.format_text(r)
