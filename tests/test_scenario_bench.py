"""``lpdev bench scenario`` runs a real-wire scenario and an in-process baseline over the same payments (small N
here; the 1,000-payment figure is measured by the bench itself)."""
from __future__ import annotations

import argparse

from bench import scenario as bench_scenario


def test_bench_scenario_small():
    p = argparse.ArgumentParser()
    bench_scenario.add_arguments(p)
    r = bench_scenario.run(p.parse_args(["--payments", "30"]))
    assert r["passed"] and r["payments"] == 30 and r["baseline_payments"] == 30
    assert r["tickets"] > 30  # the 60 s preload alone is 17 tickets
    assert r["http_loop_s"] > 0 and r["baseline_s"] > 0 and r["ratio"] > 0
    assert "scenario" in bench_scenario.format_text(r)
