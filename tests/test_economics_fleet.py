"""`lpdev economics fleet`: the batched fleet held to the per-ticket fleet, the float's model held to the simulated
windows, advice that works when applied, bad input, Ctrl-C, a bounded driver, processes == Ray, the README lines."""
from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from lpdev.cli import main
from sim.economics.fleet import Fleet, FleetTotals, fleet_report, run_fleet
from sim.economics.settings import Settings
from sim.economics.sweep import parse_axis
from tests.test_economics import interrupt_after

ROOT = Path(__file__).resolve().parents[1]

# small face values (cheap redemption estimate) so that a few thousand tickets draw ~100 winners per class; one
# class at EV 1.5e11 (1-2 tickets per 5 s payment), one at 6e11 (runs of 482s and stops after a lost payment)
SMALL = Fleet(settings=Settings(orchestrators=4, redeem_gas=10_000, fail=0.05, loss=0.02, jitter_s=2.0),
              gateways=16, days=2, sessions_per_day=3, session_minutes=6, max_session_minutes=30, shard_gateways=8,
              mix=(parse_axis("ticket_ev=1.5e11,6e11", "mix"),))

EXACT = ("sessions", "started", "stopped", "calls", "paid", "no_tickets", "errors", "failed", "lost", "refreshes",
         "tickets", "credited", "nonce_rejected", "length_ns", "payments")


def test_batched_fleet_agrees_with_the_per_ticket_fleet():
    batched = run_fleet(SMALL, seed=3, engine="inline").totals
    per_ticket = run_fleet(SMALL, seed=3, engine="inline", per_ticket=True).totals
    assert per_ticket.per_ticket_sessions == sum(per_ticket.cls["sessions"]) > 80 and batched.per_ticket_sessions == 0
    # everything but the win draws is the same, session by session and minute by minute
    for k in EXACT:
        assert batched.cls[k] == per_ticket.cls[k], k
    for name in ("o_sessions", "od_tickets", "conc"):
        assert (getattr(batched, name) == getattr(per_ticket, name)).all(), name
    assert batched.cls["no_tickets"][1] > 0 and batched.cls["stopped"][1] > 0  # the cases are exercised
    # winners: binomial draws vs the keccak win test, each within a 99.9 % interval of the exact expectation
    from sim.economics.fleet import _model

    for c, s in enumerate(SMALL.class_settings()):
        p = float(_model(s).terms.p_win)
        n = batched.cls["credited"][c] + batched.cls["nonce_rejected"][c]
        sd = (n * p * (1 - p)) ** 0.5
        for w in (batched.cls["winners"][c], per_ticket.cls["winners"][c]):
            assert abs(w - n * p) <= 3.3 * sd + 1, (c, w, n * p)
    # and the winners land in the orchestrator-days, class-hours and rounds they were drawn in
    for t in (batched, per_ticket):
        assert t.od_winners.sum() == t.ch_winners.sum() == t.or_winners.sum() <= sum(t.cls["winners"])


def test_the_float_model_holds_on_the_simulated_windows():
    """1-hour top-ups over 3 days: 72 windows per seed; at 90 % the model's quantile is exceeded ~10 % of the
    time (whole sessions counted in their first hour make it a little conservative), never wildly more."""
    above = windows = 0
    for seed in (1, 2):
        f = Fleet(settings=Settings(orchestrators=30, redeem_gas=100_000), gateways=200, days=3, top_up_hours=1,
                  confidence=0.9)
        fl = fleet_report(run_fleet(f, seed=seed, engine="inline")).data["float"]
        above += fl["windows_above_model"]
        windows += fl["windows"]
        assert fl["mean_per_window"] == pytest.approx(fl["window_mean"], rel=0.1)
    assert windows == 144 and 2 <= above <= 26, above


def test_deposit_advice_applied_is_healthy(capsys):
    argv = ["economics", "fleet", "--gateways", "200", "--days", "2", "--orchestrators", "20", "--deposit", "0.01eth",
            "--json"]
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    dep = next(f for f in doc["findings"] if f["topic"] == "deposit")
    assert dep["level"] == "fail" and "runs below the signer's floor" in dep["message"]
    fix = dep["fix"]
    assert fix.startswith("hold >= ") and fix.endswith("of deposit, topped up every 24 h, for 99% of days"), fix
    needed = fix.split("hold >= ")[1].split(" of deposit")[0].replace(" ", "")
    assert main([*argv[:-3], "--deposit", needed, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    dep = next(f for f in doc["findings"] if f["topic"] == "deposit")
    assert dep["level"] == "ok" and doc["healthy"] is True
    fl = doc["float"]
    assert fl["deposit_needed"] == fl["floor"] + math.ceil(fl["quantile_model"])
    assert fl["reserve_needed"] == doc["classes"][0]["face_value"] * 20 and fl["reserve_checked_through_core"]


def test_orchestrator_payouts_add_up(tmp_path, capsys):
    assert main(["economics", "fleet", "--gateways", "100", "--days", "2", "--orchestrators", "10", "--quiet",
                 "--out", str(tmp_path)]) in (0, 1)
    out = capsys.readouterr().out
    assert "orchestrator payouts (10 orchestrators x 2 days; 95% intervals)" in out
    doc = json.loads((tmp_path / "fleet.json").read_text())
    p = doc["orchestrators"]
    import csv

    rows = list(csv.DictReader(open(tmp_path / "orchestrators.csv")))
    assert len(rows) == 10
    fv = doc["classes"][0]["face_value"]
    assert sum(int(r["winners"]) for r in rows) == p["winners"] > 0
    assert sum(int(r["revenue_wei"]) for r in rows) == p["revenue_wei"] == p["winners"] * fv  # exact wei
    assert p["winners_per_day_low"] <= p["winners_per_day"] <= p["winners_per_day_high"]
    assert abs(p["winners_per_day"] - p["winners"] / 20) < 1e-9
    assert 0 < p["gas_share"] < 0.01
    windows = list(csv.DictReader(open(tmp_path / "windows.csv")))
    assert len(windows) == 2 and sum(int(w["winners_face_value_wei"]) for w in windows) == p["revenue_wei"]
    assert (tmp_path / "fleet.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, flag", [
    (["--gateways", "0"], "--gateways"), (["--days", "1.5"], "--days"), (["--session-dist", "weibull"],
                                                                         "--session-dist"),
    (["--confidence", "1"], "--confidence"), (["--top-up-hours", "200"], "--top-up-hours"),
    (["--sessions-per-day", "nan"], "--sessions-per-day"), (["--session-minutes", "300"], "--session-minutes"),
    (["--max-session-minutes", "0.05", "--session-minutes", "0.01"], "--max-session-minutes"),
    (["--mix", "deposit=1,2"], "--mix"),
    (["--mix", "ticket_ev=1e11,2e11,3e11", "--orchestrators", "2"], "--mix"), (["--mix", "nope=1"], "--mix"),
    (["--ticket-ev", "-1"], "--ticket-ev"), (["--mix", "ticket_ev=0,1e11"], "--mix: ticket_ev=0: must be > 0"), (["--gateways", "1e7", "--sessions-per-day", "1e3"],
                                             "--sessions-per-day"),
    (["--ray", "127.0.0.1:1"], "--ray 127.0.0.1:1: no Ray cluster answers"),
    (["--mix", "ticket_ev=1e400,1e11"], "--mix: ticket_ev=1e400: bad amount: '1e400' is out of range"),
    (["--mix", "ticket_ev=1e31,1e11"], "--mix: ticket_ev=1e31: amount '1e31' is more than 10^30 wei"),
    (["--gateways", "1e99999999"], "--gateways: '1e99999999' is out of range"),
])
def test_bad_input_is_one_line_naming_the_flag(capsys, argv, flag):
    assert main(["economics", "fleet", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"lpdev: error: {flag}"), err


def test_ctrl_c_keeps_the_finished_shards(tmp_path):
    code, out, err = interrupt_after(["economics", "fleet", "--gateways", "4000", "--shard-gateways", "20", "--days",
                                      "2", "--workers", "1", "--json"], "3/200", tmp_path)
    assert code == 130, err
    kept = int(err.split("interrupted: kept ")[1].split(" of 200")[0])
    doc = json.loads(out)
    assert 3 <= kept < 200 and doc["simulated"]["shards"] == kept and doc["simulated"]["interrupted"] is True
    assert doc["simulated"]["gateways"] == 20 * kept
    # the float's model still speaks for the whole fleet: it scales the simulated sessions to 4000 gateways
    assert doc["float"]["model_scaled_to_gateways"] == 4000


def test_driver_memory_stays_flat_for_ten_thousand_gateways_over_ten_days():
    """10^4 gateways x 10 days on two processes: the driver merges shard aggregates (orchestrators x days), never
    a session or a ticket; its traced peak stays below even 8 bytes per simulated payment."""
    f = Fleet(settings=Settings(orchestrators=300), gateways=10_000, days=10, sessions_per_day=0.5,
              session_dist="fixed", session_minutes=2, shard_gateways=250)
    one = FleetTotals.empty(f)
    size = sum(a.nbytes for a in (one.o_sessions, one.od_tickets, one.od_winners, one.ch_winners, one.o_first,
                                  one.conc, one.or_winners))
    assert size < 300_000  # O(orchestrators x days + minutes), whatever the number of gateways
    tracemalloc.start()
    try:
        run = run_fleet(f, seed=1, engine="processes", workers=2)
        report = fleet_report(run)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.totals.shards == 40 and run.totals.gateways == 10_000
    sim = report.data["simulated"]
    assert 45_000 < sim["sessions"] < 55_000 and sim["payments"] > 1_000_000
    assert peak < min(8 * sim["payments"], 8_000_000), (peak, sim)


def test_readme_fleet_commands_and_processes_equal_ray(tmp_path):
    """The README's fleet lines, verbatim: on processes and on a local Ray (2 CPUs here) the same seed writes the
    same fleet.json, but for how it ran."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = []
    for line in README_FLEET:
        assert line in readme, line
        r = subprocess.run([sys.executable, "-m", "lpdev", *shlex.split(line)[1:]], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert r.returncode in (0, 1), r.stderr[-2000:]
        if "--out" in line:
            doc = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
            docs.append((doc, r))
    (local, lr), (remote, rr) = docs
    assert local["simulated"]["engine"] == "processes" and remote["simulated"]["engine"] == "ray"
    for d in (local, remote):
        d.pop("simulated")
    assert local == remote
    assert "verdict: healthy" in lr.stdout and "hold >= " in lr.stdout
    # the #4077 line: the EV 1e13 class stops after a lost payment and says what to change; the 2.7e11 class is fine
    assert "FAIL insufficient balance (ticket_ev=1e+13)" in r.stdout and "fix: ticketEV <= 2.7e+11" in r.stdout
    assert "FAIL insufficient balance (ticket_ev=2.7e+11)" not in r.stdout


README_FLEET = [
    "lpdev economics fleet --gateways 500 --orchestrators 50 --days 5 --out fleet",
    "lpdev economics fleet --gateways 500 --orchestrators 50 --days 5 --out fleet --ray local",
    "lpdev economics fleet --preset go-livepeer-4077 --mix ticket_ev=1e13,2.7e11 --loss 0.005 --gateways 200 --days 2",
]


def test_bench_economics_fleet_lines(capsys):
    code = main(["bench", "economics", "--sessions", "64", "--minutes", "2", "--per-ticket-sessions", "2", "--no-ray",
                 "--fleet-gateways", "50", "--fleet-days", "1", "--fleet-per-ticket-gateways", "2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    f = doc["fleet"]
    assert code == (0 if doc["ok"] else 1)
    assert f["payments"] > 10_000 and f["small_payments"] > 100
    # like for like: the same small fleet on both paths (not the big fleet's rate over the small one's)
    assert f["batched_over_per_ticket"] == pytest.approx(
        f["small_batched_payments_per_s_per_core"] / f["small_per_ticket_payments_per_s_per_core"], rel=0.05)
