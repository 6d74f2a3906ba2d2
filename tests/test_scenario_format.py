"""Scenario files with mistakes get ``file:line: what was expected``; the CLI turns them into exit 2."""
from __future__ import annotations

import pytest

from lpdev.cli import main
from sim.scenario.model import parse_scenario
from sim.scenario.yamlines import ScenarioError

HEAD = """\
stack:
  signers: [{name: signer}]
  orchestrators: [{name: orch}]
  gateways: [{name: gw}]
steps:
"""


@pytest.mark.parametrize("body, line, words", [
    ("  - start: gw\n  - pay: {gateway: gw, count: zero}\n", 7, "steps[1].pay.count: expected an integer"),
    ("  - start: nobody\n", 6, "unknown gateway 'nobody'"),
    ("  - start: gw\n  - jump: 3\n", 7, "expected exactly one action"),
    ("  - mine: -1\n", 6, "expected an integer >= 1"),
    ("  - fault: {orchestrator: orch}\n", 6, "missing required key 'set'"),
    ("  - start: gw\nexpect:\n  - event: {kind: orch.nope}\n", 8, "unknown event kind 'orch.nope'"),
    ("  - start: gw\nexpect:\n  - outcomes: {gateway: gw, count: lots}\n", 8, "expected a count"),
    ("  - start: gw\ninvariants: {nonce_unique: maybe}\n", 7, "expected hold, violated or skip"),
    ("  - start: gw\n  - wait: [1\n", 8, "not valid YAML"),
])
def test_errors_name_file_line_and_expectation(body, line, words):
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(HEAD + body, "my.yaml")
    msg = str(ei.value)
    assert msg.startswith(f"my.yaml:{line}: "), msg
    assert words in msg


def test_stack_errors():
    with pytest.raises(ScenarioError, match=r"^s.yaml:2: stack.chain: expected mock, embedded or anvil"):
        parse_scenario("stack:\n  chain: ganache\n  signers: [{name: a}]\nsteps: []\n", "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml:3: stack.gateways\[0\].orchestrator: unknown orchestrator"):
        parse_scenario("stack:\n  signers: [{name: a}]\n  gateways: [{name: g, orchestrator: x}]\n"
                       "  orchestrators: [{name: o}]\nsteps: []\n", "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml:1: scenario: missing required key 'steps'"):
        parse_scenario("stack: {signers: [{name: a}], orchestrators: [{name: o}]}\n", "s.yaml")


def test_valid_file_parses():
    sc = parse_scenario(HEAD + "  - start: gw\n  - pay: {gateway: gw, count: 2}\n", "ok.yaml")
    assert [s.action for s in sc.steps] == ["start", "pay"]
    assert sc.steps[1].line == 7


def test_cli_bad_file_exit_2(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(HEAD + "  - pay: {gateway: gw, count: 0}\n")
    assert main(["scenario", "run", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}:6: steps[0].pay.count: expected an integer >= 1, got 0" in err


def test_cli_list_json(capsys):
    import json

    assert main(["scenario", "list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    names = {i["name"] for i in items}
    assert {"happy-path-lv2v", "no-tickets-482-loop", "concurrent-signing"} <= names
    assert all("error" not in i for i in items)


def test_every_library_file_is_documented_at_its_top():
    from pathlib import Path

    from sim.scenario.model import load_scenario

    lib = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
    assert len(lib) >= 15
    for p in lib:
        lines = p.read_text().splitlines()
        header = [x for x in lines[:40] if x.startswith("#")]
        assert lines[0].startswith(f"# {p.stem} — "), p.name
        assert len(header) >= 3, f"{p.name}: explain the scenario in its comment header"
        sc = load_scenario(p)
        assert sc.name == p.stem and sc.description
