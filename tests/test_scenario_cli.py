"""``lpdev scenario run`` / ``replay``: the summary JSON keys of issue 6, exit codes, and the step gate."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lpdev.cli import main
from stack.gate import StepGate
from stack.scenario.model import load_scenario
from stack.scenario.runner import ScenarioRun

LIB = Path(__file__).resolve().parents[1] / "scenarios"
KEYS = {"scenario", "passed", "expectations", "invariants", "payments", "tickets", "winning_tickets", "redeemed",
        "elapsed_s"}


def test_run_json_and_replay(tmp_path, capsys):
    t = tmp_path / "t.jsonl"
    assert main(["scenario", "run", "happy-path-fixed", "--seed", "4", "--trace", str(t), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert KEYS <= set(s) and s["passed"] is True and s["scenario"] == "happy-path-fixed" and s["seed"] == 4
    assert all({"name", "passed", "detail"} == set(x) for x in s["expectations"] + s["invariants"])
    assert s["payments"] == 8 and s["tickets"] == 8
    assert main(["scenario", "replay", str(t), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {k: r[k] for k in KEYS - {"elapsed_s"}} == {k: s[k] for k in KEYS - {"elapsed_s"}}


def test_failing_scenario_exits_1(tmp_path, capsys):
    f = tmp_path / "wrong.yaml"
    f.write_text((LIB / "happy-path-fixed.yaml").read_text().replace("tickets: 1}, count: 8}", "tickets: 2}, count: 8}"))
    assert main(["scenario", "run", str(f)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] one unit per job" in out and "FAIL" in out.splitlines()[0]


def test_unknown_scenario_and_bad_trace(tmp_path, capsys):
    assert main(["scenario", "run", "no-such-scenario"]) == 2
    assert "unknown scenario 'no-such-scenario'" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    assert main(["scenario", "replay", str(bad)]) == 2
    assert f"{bad}:1: not an lpdev trace" in capsys.readouterr().err


def test_step_gate_pauses_before_each_step():
    sc = load_scenario(LIB / "happy-path-fixed.yaml")
    paused: list[tuple[int, str]] = []

    async def go():
        gate = StepGate(True, on_pause=lambda i, d: paused.append((i, d)))
        run = ScenarioRun(sc, gate=gate)
        task = asyncio.create_task(run.run())
        for i in range(len(sc.steps)):
            # wait for the pause before step i (by count: after a release the gate may already wait again at
            # step i+1 before this loop looks, so "waiting is None" is not a state it can rely on seeing)
            while len(paused) <= i or gate.waiting is None:
                assert not task.done(), "the run ended before pausing at every step"
                await asyncio.sleep(0.01)
            # nothing of the step ran before release
            assert sum(1 for e in run.events if e.kind == "scenario.step") == i
            gate.release()
        return await asyncio.wait_for(task, 60)

    s = asyncio.run(go())
    assert s["passed"]
    assert paused == [(0, "start gw"), (1, "pay gateway=gw, count=8")]


@pytest.mark.parametrize("argv", [["scenario", "list", "--json"], ["scenario", "list"]])
def test_closed_stdout_pipe_ends_quietly(argv):
    """`lpdev scenario list --json | head -1`: the reader is gone before lpdev writes; no BrokenPipeError traceback
    (lpdev/cli.py handles it once for every command), exit 141 like a tool killed by SIGPIPE."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "lpdev", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=Path(__file__).resolve().parents[1])
    p.stdout.close()  # like `head -1` having exited already
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=60) == 141, err
    assert err == ""
