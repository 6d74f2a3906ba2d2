"""Scenario files with mistakes get ``file:line: what was expected``; the CLI turns them into exit 2."""
from __future__ import annotations

import pytest

from lpdev.cli import main
from stack.scenario.model import parse_scenario
from stack.yamlines import ScenarioError

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
    ("  - start: gw\n  - wait: [1\n", 8, "invalid YAML"),
])
def test_errors_name_file_line_and_expectation(body, line, words):
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(HEAD + body, "my.yaml")
    msg = str(ei.value)
    assert msg.startswith(f"my.yaml:{line}: "), msg
    assert words in msg


# Typos in the words an expectation or step compares against: refused at load, not a silent PASS (a count of 0
# of a status that never occurs) nor a run-time FAIL / KeyError.
@pytest.mark.parametrize("body, line, words", [
    ("expect:\n  - outcomes: {gateway: gw, status: payed, count: 0}\n", 8,
     "expect[0].outcomes.status: unknown payment status 'payed'; expected one of paid, no_tickets"),
    ("expect:\n  - outcome: {gateway: gw, status: orch_eror}\n", 8, "unknown payment status 'orch_eror'"),
    ("expect:\n  - outcome: {gateway: gw, status: any}\n", 8, "unknown payment status 'any'"),
    ("expect:\n  - outcome: {gateway: nosuch}\n", 8, "expect[0].outcome.gateway: unknown gateway 'nosuch'; "
                                                      "expected one of gw"),
    ("expect:\n  - outcomes:\n      gateway: gw\n      status: paid\n      count: 1\n  - outcomes:\n"
     "      gateway: gww\n", 13, "expect[1].outcomes.gateway: unknown gateway 'gww'"),
    ("expect:\n  - outcome: {gateway: gw, signer: signr}\n", 8, "unknown signer 'signr'; expected one of signer"),
    ("expect:\n  - outcome: {gateway: gw, signer_status: ok}\n", 8, "signer_status (an HTTP status or null)"),
    ("expect:\n  - winners: {orchestrator: nosuch, status: redeemed, count: 0}\n", 8,
     "expect[0].winners.orchestrator: unknown orchestrator 'nosuch'; expected one of orch"),
    ("expect:\n  - winners: {orchestrator: orch, status: redeemd, count: 0}\n", 8,
     "expect[0].winners.status: unknown winner status 'redeemd'; expected one of queued, redeemed, failed, sending"),
    ("expect:\n  - chain: {account: sendr, deposit: 0}\n", 8,
     "expect[0].chain.account: unknown account role 'sendr'; expected one of "),
    ("expect:\n  - chain: {orchestrator: orh, fees: 0}\n", 8, "expect[0].chain.orchestrator: unknown orchestrator"),
    ("expect:\n  - chain: {account: sender, fees: 0}\n", 8, "expected 'account' (with deposit/reserve) or"),
    ("  - pay: {gateway: gw}\n    expect:\n      - outcome: {gateway: gw, status: paid}\n"
     "      - winners: {status: queud}\n", 10, "steps[1].expect[1].winners.status: unknown winner status 'queud'"),
    ("  - expect:\n      - outcomes: {gateway: gw, status: nope}\n", 8, "steps[1].expect[0].outcomes.status"),
    ("expect:\n  - event: {kind: gateway.payment, actor: gw-two, count: 0}\n", 8,
     "expect[0].event.actor: unknown actor 'gw-two'; expected one of gw, orch, signer, signer-webhook, stack, scenario"),
    ("  - unlock: sendr\n", 7, "steps[1].unlock: unknown account role 'sendr'"),
    ("  - withdraw: orchestrator9\n", 7, "steps[1].withdraw: unknown account role 'orchestrator9'"),
    ("  - fund: {account: sender9, deposit: 1}\n", 7, "steps[1].fund.account: unknown account role 'sender9'"),
])
def test_unknown_words_in_expectations_and_steps(body, line, words):
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(HEAD + "  - start: gw\n" + body, "my.yaml")
    msg = str(ei.value)
    assert msg.startswith(f"my.yaml:{line}: "), msg
    assert words in msg, msg


def test_known_words_load():
    sc = parse_scenario(HEAD + "  - start: gw\n  - unlock: sender\n  - fund: {account: sender2, reserve: 1}\n"
                        "expect:\n  - outcomes: {gateway: gw, status: any, count: 1}\n"
                        "  - outcome: {gateway: gw, status: no_tickets, signer: signer, signer_status: 482,"
                        " orch_status: null}\n"
                        "  - winners: {orchestrator: orch, status: sending, count: 0}\n"
                        "  - chain: {account: orchestrator, deposit: 0}\n  - chain: {orchestrator: orch, fees: 0}\n"
                        "  - event: {kind: stack.webhook, actor: signer-webhook, count: 0}\n"
                        "  - event: {kind: stack.chain, actor: stack}\n",
                        "ok.yaml")
    assert [e.kind for e in sc.expect] == ["outcomes", "outcome", "winners", "chain", "chain", "event", "event"]
    assert sc.expect[1].args["signer_status"] == 482 and sc.expect[1].args["orch_status"] is None


def test_stack_account_roles_are_checked():
    with pytest.raises(ScenarioError, match=r"^s.yaml:2: stack.signers\[0\].account: unknown account role 'sendr'"):
        parse_scenario("stack:\n  signers: [{name: a, account: sendr}]\n  orchestrators: [{name: o}]\nsteps: []\n",
                       "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml:4: stack.orchestrators\[0\].account: unknown account role"):
        parse_scenario("stack:\n  signers: [{name: a}]\n  orchestrators:\n    - {name: o, account: orch}\nsteps: []\n",
                       "s.yaml")


def test_cli_typo_in_expectation_exit_2(tmp_path, capsys):
    f = tmp_path / "typo.yaml"
    f.write_text(HEAD + "  - start: gw\nexpect:\n  - outcomes: {gateway: gw, status: payed, count: 0}\n")
    assert main(["scenario", "run", str(f)]) == 2
    captured = capsys.readouterr()
    assert f"{f}:8: expect[0].outcomes.status: unknown payment status 'payed'" in captured.err
    assert "PASS" not in captured.out


def test_stack_errors():
    with pytest.raises(ScenarioError, match=r"^s.yaml:2: stack.chain: unknown chain backend 'ganache'; expected one of mock, embedded, anvil"):
        parse_scenario("stack:\n  chain: ganache\n  signers: [{name: a}]\nsteps: []\n", "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml:3: stack.gateways\[0\].orchestrator: unknown orchestrator"):
        parse_scenario("stack:\n  signers: [{name: a}]\n  gateways: [{name: g, orchestrator: x}]\n"
                       "  orchestrators: [{name: o}]\nsteps: []\n", "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml:1: scenario: missing required key 'steps'"):
        parse_scenario("stack: {signers: [{name: a}], orchestrators: [{name: o}]}\n", "s.yaml")
    # checked when the file is read, not when the stack is half up: a scripted webhook's transport fields, the
    # listen address, an orchestrator's fault knobs
    for body, words in (
            ("stack:\n  signers: [{name: a, webhook: [{status: 200, http_status: 9999}]}]\nsteps: []\n",
             r"^s.yaml:2: stack.signers\[0\].webhook\[0\].http_status: expected an integer <= 599"),
            ("stack:\n  signers: [{name: a, webhook: [{expiry_in: soon}]}]\nsteps: []\n",
             r"^s.yaml:2: stack.signers\[0\].webhook\[0\].expiry_in: expected an integer"),
            ("stack:\n  host: example.com\nsteps: []\n", r"^s.yaml:2: stack.host: expected an IP address"),
            ("stack:\n  orchestrators: [{name: o, faults: {delay_s: 9999}}]\nsteps: []\n",
             r"^s.yaml:2: stack.orchestrators\[0\].faults: delay_s must be a number of seconds in \[0, 600\]")):
        with pytest.raises(ScenarioError, match=words):
            parse_scenario(body, "s.yaml")


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

    from stack.scenario.model import load_scenario

    lib = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
    assert len(lib) >= 15
    for p in lib:
        lines = p.read_text().splitlines()
        header = [x for x in lines[:40] if x.startswith("#")]
        assert lines[0].startswith(f"# {p.stem} — "), p.name
        assert len(header) >= 3, f"{p.name}: explain the scenario in its comment header"
        sc = load_scenario(p)
        assert sc.name == p.stem and sc.description


def test_expect_step_alone_is_the_expect_action():
    sc = parse_scenario(HEAD + "  - start: gw\n  - expect:\n      - outcomes: {gateway: gw, status: any, count: 0}\n",
                        "ok.yaml")
    assert sc.steps[1].action == "expect" and sc.steps[1].expect == []
    assert [e.kind for e in sc.steps[1].arg] == ["outcomes"] and sc.steps[1].arg[0].line == 8
