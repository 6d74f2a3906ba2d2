"""`lpdev economics`: the check's verdicts (go-livepeer #4077 vs lpdev up's defaults), bad input, the batched path
held to the per-ticket one, sweeps on processes and on Ray with the same table, Ctrl-C, and agreement with the
scenario runner's real signer, orchestrator and mock chain."""
from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lpdev.cli import main
from sim.economics.batched import draw_disturbances, simulate_batch
from sim.economics.session import Model, schedule, simulate_session
from sim.economics.settings import PRESETS, Settings, SettingsError
from sim.economics.stats import wilson
from sim.economics.sweep import parse_axis, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def run_check(capsys, *argv) -> tuple[int, dict]:
    code = main(["economics", "check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_lpdev_up_defaults_are_healthy(capsys):
    code, doc = run_check(capsys, "--preset", "up", "--runs", "60")
    assert code == 0 and doc["healthy"] is True
    assert not [f for f in doc["findings"] if f["level"] == "fail"]
    pay = doc["exact"]["payments"]
    assert doc["exact"]["terms"]["p_win"] == pytest.approx(0.2)  # the banner's 1/5: EV 1e15, face value cap 5e15
    assert pay["rate_482"] == 0 and 1 <= pay["tickets_per_paid_call_mean"] <= 2 and pay["first_tickets"] == 17
    assert doc["monte_carlo"]["p_stop"] == 0


def test_go_livepeer_4077_reports_the_stop_and_the_fix(capsys):
    code, doc = run_check(capsys, "--preset", "go-livepeer-4077", "--runs", "40")
    assert code == 1 and doc["healthy"] is False
    fails = {f["topic"]: f for f in doc["findings"] if f["level"] == "fail"}
    assert "#4077" in fails["482 no tickets"]["message"]
    assert "single lost payment stops the session" in fails["buffer"]["message"]
    # the reporter's trace, exactly: the payment after the preload is lost, the signer (which counted it) answers
    # 482 to every later call, and the orchestrator releases the session once the preload's one ticket is spent
    assert doc["exact"]["payments"]["one_loss"] == {"lost_at_s": 5.0, "stopped_at_s": 185.0, "calls_482": 36,
                                                    "paid_after": 0}
    assert "stops the session at 3.1 min: insufficient balance" in fails["buffer"]["message"]
    fix = fails["buffer"]["fix"]
    assert fix.startswith("ticketEV <= 2.7e+11 keeps 1-2 tickets per 5 s payment"), fix
    assert "checked: 0% 482s" in fix
    # the fix, applied, is healthy
    code, doc = run_check(capsys, "--preset", "go-livepeer-4077", "--ticket-ev", "2.7e11", "--runs", "40")
    assert code == 0 and doc["healthy"] is True and doc["exact"]["payments"]["losses_tolerated"] >= 1


def test_4077_text_report_names_the_fix(capsys):
    code = main(["economics", "check", "--preset", "go-livepeer-4077", "--runs", "20"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL 482 no tickets" in out and "fix: ticketEV <= 2.7e+11" in out
    assert out.rstrip().endswith("verdict: NOT healthy: see the failed findings")


@pytest.mark.parametrize("argv, flag", [
    (["--ticket-ev", "-5"], "--ticket-ev"), (["--ticket-ev", "0"], "--ticket-ev"),
    (["--ticket-ev", "nan"], "--ticket-ev"), (["--interval-s", "nan"], "--interval-s"),
    (["--loss", "1"], "--loss"), (["--price-per-unit", "1.5"], "--price-per-unit"),
    (["--ticket-ev", "10", "--max-face-value", "5"], "--max-face-value"), (["--job-type", "x"], "--job-type"),
    (["--runs", "-1"], "--runs"),
    # amounts and times go through the bounded parsers: a huge exponent is refused at once (it used to hang), an
    # amount above 10^30 wei is refused by name (it used to pass and crash the report)
    (["--ticket-ev", "1e100000000"], "--ticket-ev: bad amount: '1e100000000' is out of range"),
    (["--ticket-ev", "1e400"], "--ticket-ev: bad amount: '1e400' is out of range"),
    (["--ticket-ev", "1e31"], "--ticket-ev: amount '1e31' is more than 10^30 wei"),
    (["--max-total-ev", "1e40"], "--max-total-ev: amount '1e40' is more than 10^30 wei"),
    (["--minutes", "1e99999999"], "--minutes: '1e99999999' is out of range"),
    (["--sessions", "1e99999999"], "--sessions: '1e99999999' is out of range"),
    (["--sessions", "2.5"], "--sessions: '2.5' is not an integer"),
])
def test_bad_input_is_one_line_naming_the_parameter(capsys, argv, flag):
    t0 = time.monotonic()
    assert main(["economics", "check", *argv]) == 2
    assert time.monotonic() - t0 < 5  # refused, not computed
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"lpdev: error: {flag}"), err


def test_settings_built_in_code_are_bounded_too():
    """A library caller's Settings get the same ceiling, and a huge value is named without printing it."""
    with pytest.raises(SettingsError, match=r"--ticket-ev: must be <= 10\^30 wei .* got ~10\^5000"):
        Settings(ticket_ev=10**5000).validate()
    with pytest.raises(SettingsError, match=r"--sessions: must be <= 10\^30, got ~10\^40"):
        Settings(sessions=10**40).validate()


def test_sweep_bad_input(capsys, tmp_path):
    for argv, flag in ((["--grid", "nope=1"], "--grid"), (["--grid", "ticket_ev=1e11,1e12", "--ray", "127.0.0.1:1"],
                                                           "--ray 127.0.0.1:1: no Ray cluster answers"),
                       (["--grid", "ticket_ev=0:1e12:3:log"], "--grid"), ([], "--grid"),
                       (["--grid", "ticket_ev=1e400:1e401:3:log"], "--grid: ticket_ev=1e400: bad amount"),
                       (["--grid", "ticket_ev=1e11,1e31"], "--grid: ticket_ev=1e31: amount '1e31' is more than 10^30"),
                       (["--grid", "minutes=1,1e99999999"], "--grid: minutes=1e99999999: '1e99999999' is out of")):
        assert main(["economics", "sweep", *argv, "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.startswith(f"lpdev: error: {flag}")


# ---------------------------------------------------------------------- batched vs per-ticket
CASES = {
    "4077": PRESETS["go-livepeer-4077"].with_(loss=0.01, fail=0.05, jitter_s=3.0),
    "live-tuned": Settings(loss=0.01, fail=0.05),
    "lv2v-up": Settings(job_type="lv2v", price_per_unit=10**7, ticket_ev=10**15, max_face_value=5 * 10**15,
                        max_ticket_ev=10**17, max_total_ev=10**20, deposit=10**20, reserve=10**20, orchestrators=1,
                        block_time_s=0.5, loss=0.01, fail=0.05, minutes=10),
    "reuse-0.9.1-nonce-cap": Settings(ticket_ev=2 * 10**10, reuse_params=True, dialect="0.9.1", minutes=10, fail=0.02),
    "reuse-0.9.3": Settings(ticket_ev=2 * 10**10, reuse_params=True, minutes=10),
    "fixed": Settings(job_type="fixed", price_per_unit=10**12, ticket_ev=3 * 10**11, minutes=10),
    "rational-price": Settings(pixels_per_unit=7, price_per_unit=165 * 10**9, ticket_ev=10**11, loss=0.02, fail=0.1,
                               jitter_s=2.5, minutes=10),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_batched_path_agrees_with_the_per_ticket_path(name):
    m = Model.of(CASES[name])
    R = 24
    d = draw_disturbances(m, R, np.random.default_rng(5))
    b = simulate_batch(m, d, np.random.default_rng(6))
    per_ticket_winners = 0
    for j in range(R):
        g, f, lost = d.column(j)
        r = simulate_session(m, gaps=g, failed=f, lost=lost, rng=random.Random(j))
        got = (r.calls, r.paid, r.no_tickets, r.errors, r.failed, r.refreshes, r.lost, r.tickets, r.credited,
               r.nonce_rejected, -1 if r.stop_ns is None else r.stop_ns, r.max_nonce)
        want = tuple(int(x[j]) for x in (b.calls, b.paid, b.no_tickets, b.errors, b.failed, b.refreshes, b.lost,
                                         b.tickets, b.credited, b.nonce_rejected, b.stop_ns, b.max_nonce))
        assert got == want, (name, j)
        if r.min_headroom is not None:
            assert int(r.min_headroom * b.scale) == int(b.min_headroom[j])  # floor: the batched path drops N·δ
        per_ticket_winners += r.winners
    if name == "reuse-0.9.1-nonce-cap":
        assert b.nonce_rejected.sum() > 0  # the case exercises the 600-nonce set
    # winners: the keccak win test vs binomial draws, both within a 99.9 % interval of the exact expectation
    p = float(m.terms.p_win)
    n = int(b.credited.sum()) + int(b.nonce_rejected.sum())
    sd = (n * p * (1 - p)) ** 0.5
    for w in (per_ticket_winners, int(b.winners.sum())):
        assert abs(w - n * p) <= 3.3 * sd + 1, (name, w, n * p)


def test_schedule_is_exact_for_4077():
    sched = schedule(Model.of(PRESETS["go-livepeer-4077"]))
    assert sched.first_tickets == 1 and sched.no_tickets > 0.9 * sched.calls and sched.stop_ns is None


# ---------------------------------------------------------------------- sweeps
def _grid():
    return [parse_axis("ticket_ev=1e11:1e13:3:log"), parse_axis("price_per_unit=2e10,1e11")]


def test_sweep_on_processes_and_on_ray_gives_the_same_table():
    import ray

    base = PRESETS["go-livepeer-4077"].with_(minutes=5, fail=0.05, loss=0.01)
    local = run_sweep(base, _grid(), runs=30, seed=11, engine="processes", workers=2)
    inline = run_sweep(base, _grid(), runs=30, seed=11, engine="inline")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        remote = run_sweep(base, _grid(), runs=30, seed=11, engine="ray")
    finally:
        ray.shutdown()
    assert len(local.rows) == 6 and not local.interrupted
    assert local.table() == remote.table() == inline.table()
    other = run_sweep(base, _grid(), runs=30, seed=12, engine="inline")
    assert other.table() != local.table()  # the seed matters


def test_sweep_cli_writes_table_parquet_and_plots(tmp_path, capsys):
    code = main(["economics", "sweep", "--preset", "go-livepeer-4077", "--grid", "ticket_ev=1e11:1e13:3:log",
                 "--grid", "price_per_unit=2e10,1e11", "--runs", "20", "--minutes", "5", "--workers", "2",
                 "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "6 of 6 cells" in out
    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert [r["index"] for r in rows] == [str(i) for i in range(6)]
    assert {r["ticket_ev"] for r in rows} == {"100000000000", "1000000000000", "10000000000000"}
    assert rows[-1]["healthy"] == "false" and rows[0]["healthy"] == "true"  # EV 1e13 fails, 1e11 is fine
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "sweep.parquet").num_rows == 6
    for m in ("p_stop", "rate_482", "losses_tolerated"):
        assert (tmp_path / f"{m}.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / f"{m}.svg").exists()


def interrupt_after(argv: list[str], progress: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``lpdev ARGV`` in ``cwd``, press Ctrl-C once its progress bar shows ``progress``; (exit code, stdout,
    stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "lpdev", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        buf = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and progress not in buf:
            buf += p.stderr.read(1)
        assert progress in buf, buf
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out, err


def test_ctrl_c_keeps_the_finished_cells(tmp_path):
    code, out, err = interrupt_after(["economics", "sweep", "--grid", "ticket_ev=1e11:1e13:400:log", "--runs", "100",
                                      "--workers", "1", "--out", str(tmp_path)], "3/400", tmp_path)
    assert code == 130, err
    kept = int(err.split("interrupted: kept ")[1].split(" of 400")[0])
    assert 3 <= kept < 400
    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert len(rows) == kept and f"{kept} of 400 cells" in out


# ---------------------------------------------------------------------- agreement with the scenario runner
SCENARIO = """
name: economics-agreement
stack:
  chain: mock
  seed: 5
  signers: [{name: signer}]
  orchestrators:
    - {name: orch, price_per_unit: 10000000, ticket_ev: 1000000000000000, max_face_value: 2000000000000000}
  gateways:
    - {name: gw, orchestrator: orch, type: lv2v, interval_s: 5}
steps:
  - start: gw
  - pay: {gateway: gw, count: 30}
"""


def test_monte_carlo_agrees_with_the_scenario_runner():
    from stack.scenario.model import parse_scenario
    from stack.scenario.runner import ScenarioRun

    import asyncio

    run = ScenarioRun(parse_scenario(SCENARIO, "agreement.yaml"))
    summary = asyncio.run(run.run())
    outs = run.stack.gateways["gw"].outcomes
    assert [o.status for o in outs] == ["paid"] * 30
    # the same settings in the economics model: 29 calls after the preload, exactly every 5 s
    s = Settings(job_type="lv2v", price_per_unit=10**7, ticket_ev=10**15, max_face_value=2 * 10**15,
                 redeem_gas=1000, gas_price=1, max_ticket_ev=10**17, max_total_ev=10**20, deposit=10**20,
                 reserve=10**20, orchestrators=1, minutes=29 * 5 / 60, jitter_s=0, fail=0)
    m = Model.of(s)
    assert m.terms.face_value == outs[0].face_value and m.terms.win_prob == outs[0].win_prob
    sched = schedule(m)
    model_tickets = [sched.first_tickets] + [n for n, c in sorted(sched.hist.items()) for _ in range(c)]
    assert sorted(o.tickets for o in outs) == sorted(model_tickets)  # the same ticket counts, exactly
    assert summary["tickets"] == sum(model_tickets)
    # winners: the run's count lies in the Monte Carlo's 99 % interval for these sessions
    d = draw_disturbances(m, 4000, np.random.default_rng(1))
    b = simulate_batch(m, d, np.random.default_rng(2))
    lo, hi = np.quantile(b.winners, [0.005, 0.995])
    assert lo <= summary["winning_tickets"] <= hi, (summary["winning_tickets"], lo, hi)
    mean, wlo, whi = wilson(int(b.winners.sum()), int(b.credited.sum()))
    assert wlo <= float(m.terms.p_win) <= whi


def test_bench_economics_prints_rates_and_ratio(capsys):
    code = main(["bench", "economics", "--sessions", "64", "--minutes", "2", "--per-ticket-sessions", "2",
                 "--no-ray", "--no-fleet", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == (0 if doc["ok"] else 1)
    assert doc["batched_payments"] > 64 and doc["per_ticket_payments"] > 2
    assert doc["batched_over_per_ticket"] == pytest.approx(
        doc["batched_payments_per_s_per_core"] / doc["per_ticket_payments_per_s_per_core"], rel=0.05)


README_SWEEPS = [
    "lpdev economics sweep --preset go-livepeer-4077 --grid ticket_ev=1e11:1e13:8:log --grid "
    "price_per_unit=2e10:1e11:6:log --runs 100 --out sweep",
    "lpdev economics sweep --preset go-livepeer-4077 --grid ticket_ev=1e11:1e13:8:log --ray local --out sweep",
]


def test_readme_sweep_commands(tmp_path):
    """The README's sweep lines, verbatim, in a temp dir: processes, then a local Ray (shut down by the command)."""
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tables = []
    for line in README_SWEEPS:
        assert line in readme
        r = subprocess.run([sys.executable, "-m", "lpdev", *shlex.split(line)[1:]], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode == 0, r.stderr[-2000:]
        rows = list(csv.DictReader(open(tmp_path / "sweep" / "sweep.csv")))
        tables.append(rows)
        assert (tmp_path / "sweep" / "losses_tolerated.png").exists()
    assert len(tables[0]) == 48 and len(tables[1]) == 8
    assert "on Ray in" in r.stdout
    # the committed README plot is one of these heat maps
    assert (ROOT / "docs" / "economics-sweep.png").read_bytes()[:4] == b"\x89PNG"


async def test_tui_fills_the_heat_map_as_cells_finish():
    from tui.economics import EconomicsApp

    axes = _grid()
    base = PRESETS["go-livepeer-4077"].with_(minutes=5)

    def start(app):
        run_sweep(base, axes, runs=10, seed=1, engine="inline",
                  on_row=lambda row, d, t: app.call_from_thread(app.add_row, row))

    app = EconomicsApp(axes, 6, "rate_482", start)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if len(app.rows) == 6:
                break
        assert len(app.rows) == 6
        text = str(app.query_one("#status").render())
        assert "6/6 cells" in text
        await pilot.press("m")
        assert app.metric == "losses_tolerated"
        await pilot.press("q")


def test_bench_signer_on_ray_merges_the_workers_histograms(capsys):
    code = main(["bench", "signer", "--ray", "local", "--workers", "2", "--concurrency", "2", "--duration", "1",
                 "--warmup", "0.2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "ray x2" and doc["errors"] == 0 and len(doc["per_worker_rps"]) == 2
    assert sum(doc["latency_hist"].values()) == doc["requests"] > 0
    assert 0 < doc["p50_ms"] <= doc["p99_ms"] and code == (0 if doc["ok"] else 1)


def test_bench_signer_ray_address_that_does_not_answer(capsys):
    assert main(["bench", "signer", "--ray", "127.0.0.1:1", "--signer", "http://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.startswith("lpdev: error: --ray 127.0.0.1:1: no Ray cluster answers")
