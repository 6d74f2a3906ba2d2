"""``lpdev scenario replay`` rechecks a trace instead of trusting the verdicts it recorded: a tampered trace
fails and says which verdict it contradicts; a trace that is not a scenario's is refused (exit 2)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lpdev.cli import main
from stack.scenario.model import load_scenario
from stack.scenario.runner import run_scenario

LIB = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> list[dict]:
    """all-tickets-win on the mock chain: 5 winners redeemed, all verdicts PASS. Header first, then events."""
    t = tmp_path_factory.mktemp("replay") / "t.jsonl"
    assert asyncio.run(run_scenario(load_scenario(LIB / "all-tickets-win.yaml"), chain="mock", trace=t))["passed"]
    return [json.loads(x) for x in t.read_text().splitlines()]


def write(tmp_path, lines: list[dict], renumber: bool = False) -> Path:
    if renumber:  # hide removed lines from the seq check: only the rechecks can notice
        lines = [lines[0]] + [{**d, "seq": i} for i, d in enumerate(lines[1:], start=1)]
    p = tmp_path / "tampered.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" for d in lines))
    return p


def replay(p: Path, capsys, *extra) -> tuple[int, str]:
    code = main(["scenario", "replay", str(p), *extra])
    return code, capsys.readouterr().out


def test_untouched_trace_replays_as_recorded(tmp_path, trace, capsys):
    code, out = replay(write(tmp_path, trace), capsys, "--json")
    s = json.loads(out)
    assert code == 0 and s["passed"] and s["contradictions"] == []
    assert s["rechecked"] == {"expectations": 1, "invariants": 5}
    assert len(s["expectations"]) == 4 and len(s["invariants"]) == 5
    assert s["redeemed"] == 5


def test_removed_redemptions_contradict_the_recorded_verdicts(tmp_path, trace, capsys):
    lines = [d for d in trace if d.get("kind") != "orch.redemption_mined"]
    assert len(lines) == len(trace) - 5
    code, out = replay(write(tmp_path, lines), capsys)
    assert code == 1
    assert out.splitlines()[0].endswith(": FAIL")
    assert "the trace contradicts its recorded verdicts:" in out
    assert "rechecked from the trace's events: 1 of 4 expectation(s), 5 of 5 invariant(s)" in out
    assert "5 event(s) missing from the trace" in out
    assert "money_conservation: recorded PASS (senders lost 5000000000000005 wei" in out
    assert "the redemptions report paying 0 wei, not 5000000000000005" in out
    assert "five tickets, five winners, five redemptions: recorded PASS" in out and "redeemed 0 not == 5" in out
    assert "the recorded summary says redeemed 5, but the trace's events give 0" in out


def test_rechecks_alone_catch_removed_redemptions(tmp_path, trace, capsys):
    lines = [d for d in trace if d.get("kind") != "orch.redemption_mined"]
    code, out = replay(write(tmp_path, lines, renumber=True), capsys, "--json")
    s = json.loads(out)
    assert code == 1 and not s["passed"]
    assert not any("missing" in c for c in s["contradictions"])
    bad = {x["name"] for x in s["expectations"] + s["invariants"] if not x["passed"]}
    assert bad == {"money_conservation", "five tickets, five winners, five redemptions"}


def test_a_duplicated_signature_breaks_nonce_unique(tmp_path, trace, capsys):
    reply = next(d for d in trace if d.get("kind") == "gateway.signer_reply" and d["data"].get("nonces"))
    lines = trace[:trace.index(reply) + 1] + [dict(reply)] + trace[trace.index(reply) + 1:]
    code, out = replay(write(tmp_path, lines, renumber=True), capsys)
    assert code == 1
    assert "nonce_unique: recorded PASS" in out and "signed more than once" in out


def test_a_verdict_flipped_to_fail_is_a_contradiction_too(tmp_path, trace, capsys):
    lines = [json.loads(json.dumps(d)) for d in trace]
    inv = next(d for d in lines if d.get("kind") == "scenario.expectation" and d["data"]["name"] == "nonce_unique")
    inv["data"]["passed"] = False
    code, out = replay(write(tmp_path, lines), capsys)
    assert code == 1 and "nonce_unique: recorded FAIL" in out and "the trace's events give PASS" in out


def test_tui_demo_trace_is_not_a_scenario_trace(tmp_path, capsys):
    t = tmp_path / "demo.jsonl"
    assert main(["tui", "--make-trace", str(t), "--payments", "3"]) == 0
    capsys.readouterr()
    assert main(["scenario", "replay", str(t)]) == 2
    cap = capsys.readouterr()
    assert f"lpdev: error: not a scenario trace: {t}" in cap.err and "lpdev tui --make-trace" in cap.err
    assert "FAIL" not in cap.out


def test_unreadable_recorded_inputs_fail_cleanly(tmp_path, trace, capsys):
    lines = [json.loads(json.dumps(d)) for d in trace]
    for d in lines:
        if d.get("kind") == "scenario.expectation" and d["data"]["name"] == "money_conservation":
            d["data"]["books"] = {"before": {"senders": []}, "after": {}}
        if d.get("kind") == "scenario.expectation" and d["data"]["name"] == "winners_accounted":
            d["data"]["stores"] = {"orch": [["0xzz", "redeemed", None]]}
    code, out = replay(write(tmp_path, lines), capsys)
    assert code == 1
    assert "money_conservation: recorded PASS" in out and "the recorded balances cannot be read" in out
    assert "winners_accounted: recorded PASS" in out and "the recorded stored winners cannot be read" in out
