"""`lpdev bench up` (bench/up.py): one anvil start-up measured against the same run's bare anvil."""
from __future__ import annotations

import argparse

import pytest


@pytest.mark.anvil
@pytest.mark.slow
def test_bench_up_measures_ready_time_and_memory():
    from bench import up

    p = argparse.ArgumentParser()
    up.add_arguments(p)
    r = up.run(p.parse_args(["--backends", "anvil", "--hold", "0.5"]))
    assert r["ok"], r
    a = r["anvil"]
    assert 0 < r["bare_anvil_s"] < a["ready_s"]  # lpdev up includes an anvil start, so it cannot beat it
    assert a["ratio_vs_bare_anvil"] == round(a["ready_s"] / r["bare_anvil_s"], 2)
    assert set(a["timings"]) == {"chain", "orchestrators", "signers", "ready"}
    assert 20 < a["rss_mb_peak"] < 2000 and a["cpu_s_at_ready"] > 0
    assert set(r["targets_met"]) == {"ready_anvil", "rss"}
    text = up.format_text(r)
    assert "bare anvil to first RPC answer" in text and "lpdev up --chain anvil" in text
