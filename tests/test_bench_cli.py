"""Every benchmark runs from the CLI as a user would and prints its JSON with a same-run baseline and ratio.

Speed targets are not asserted here (timed tests flake on shared machines): the benchmarks report them.
"""
from __future__ import annotations

import json

import pytest

from lpdev.cli import main


def run_bench(capsys, *argv: str) -> dict:
    code = main(["bench", *argv, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == (0 if doc.get("ok", True) else 1)  # exit code follows the target verdict
    return doc


def test_bench_tickets(capsys):
    d = run_bench(capsys, "tickets", "--seconds", "0.2")
    assert d["tickets_per_s"] > 0 and d["baseline_per_s"] > 0
    assert d["ratio"] == pytest.approx(d["tickets_per_s"] / d["baseline_per_s"], rel=0.01)


@pytest.mark.anvil
def test_bench_chain(capsys):
    d = run_bench(capsys, "chain", "--repeat", "1", "--redemptions", "3", "--backends", "anvil,mock")
    assert d["bare_anvil_start_to_first_rpc_s"] > 0
    assert d["setup"]["anvil"]["cli_start_to_funded_s"] > d["bare_anvil_start_to_first_rpc_s"]
    assert {b: d["redemptions"][b]["n"] for b in ("anvil", "mock")} == {"anvil": 3, "mock": 3}
    # lpdev's contracts, measured in the reference scenario, use 0.9-1.1 x the protocol's gas for each operation
    gas = d["gas"]
    assert gas["ok"] and len(gas["rows"]) == 7, gas
    assert all(0.9 <= r["ratio"] <= 1.1 for r in gas["rows"].values())


def test_bench_orchestrator(capsys):
    d = run_bench(capsys, "orchestrator", "--seconds", "0.3", "--concurrency", "2")
    assert set(d["payment_statuses"]) == {"200"}  # every /payment accepted, none refused
    assert d["tickets_per_payment"] == 2 and d["tickets_per_s"] == pytest.approx(2 * d["payment_rps"], rel=0.01)
    assert d["ratio"] == pytest.approx(d["payment_rps"] / d["baseline_404_rps"], rel=0.02)


def test_bench_tui(capsys):
    d = run_bench(capsys, "tui", "--payments", "50")
    # 50 payment cycles of the real gateway; a cycle that got a 480 and refreshed is two signer calls
    assert d["events_seen"] == d["events"] and d["model_only_s"] > 0
    assert d["payments_kept"] == d["signer_calls"] >= 50


def test_unknown_bench_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["bench", "tickets", "--no-such-option"])
    assert ei.value.code == 2


def test_bench_runner(capsys):
    d = run_bench(capsys, "runner", "--seconds", "0.3", "--rounds", "1", "--concurrency", "4", "--body-kib", "16",
                  "--stream-mib", "8")
    for path in ("direct", "proxied", "bare_proxy"):
        assert set(d[path]["statuses"]) == {"200"} and d[path]["rps"] > 0
    assert d["ratio_rps"] == pytest.approx(d["proxied"]["rps"] / d["direct"]["rps"], rel=0.01)
    assert d["stream"]["bytes"] == d["stream"]["sent"] == 8 * 2**20 and d["stream"]["status"] == 200
    assert d["peak_rss_mb"]["orchestrator"] > 0 and isinstance(d["meets_targets"], bool)


@pytest.mark.parametrize("argv, message", [
    (["runner", "--body-kib", "-1"], "argument --body-kib: '-1' is below the minimum 1"),
    (["runner", "--concurrency", "0"], "argument --concurrency: '0' is below the minimum 1"),
    (["runner", "--seconds", "nan"], "argument --seconds: nan is not a number"),
    (["runner", "--stream-mib", "1e99999999"], "argument --stream-mib: '1e99999999' is out of range"),
    (["chain", "--backends", "foo"], "argument --backends: unknown backend 'foo' (choose from anvil, embedded, mock)"),
    (["chain", "--redemptions", "0"], "argument --redemptions: '0' is below the minimum 1"),
    (["economics", "--sessions", "-1"], "argument --sessions: '-1' is below the minimum 1"),
    (["signer", "--workers", "0", "--ray", "local"], "--workers: '0' is below the minimum 1"),
    (["tickets", "--no-such-option"], "unrecognized arguments: --no-such-option"),
])
def test_bad_bench_options_are_one_line(argv, message):
    """Checked before anything starts: one line naming the option, exit 2 (not a traceback from os.urandom, a
    median of nothing, or a ChainError)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lpdev", "bench", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
