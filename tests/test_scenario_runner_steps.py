"""The scenario vocabulary for Live Runners (issue 13, item 6): ``clients:``, the client steps (discover, reserve,
call, runner_pay, runner_stop), the runner steps (heartbeat, silence, health, static_runner) and the ``reply`` /
``session`` / ``runner`` expectations. Every mistake is one ``file:line: what was expected`` error (exit 2 from the
CLI); a replay rechecks ``reply`` and ``session`` from the trace alone."""
from __future__ import annotations

import asyncio
import json

import pytest

from stack.scenario.model import parse_scenario
from stack.scenario.runner import run_scenario
from stack.yamlines import ScenarioError

HEAD = """stack:
  orchestrator: {orch_secret: abcdef, http_entry: true}
  runners: [{name: noop, kind: noop, price: "36"}]
clients: [{name: app}]
steps:
"""  # steps start on line 6


@pytest.mark.parametrize("body,line,words", [
    ("  - discover: ap\n", 6, "steps[0].discover: unknown client 'ap'; expected one of app"),
    ("  - reserve: {client: app, runner: nope}\n", 6, "steps[0].reserve.runner: unknown runner 'nope'; expected one of noop"),
    ("  - reserve: {client: app}\n", 6, "steps[0].reserve: missing required key 'runner'"),
    ("  - reserve: {client: app, runner: noop, as: 'two words'}\n", 6, "steps[0].reserve.as: expected a name"),
    ("  - reserve:\n      client: app\n      runner: noop\n      cost: 3\n", 9,
     "steps[0].reserve: unknown key 'cost'; expected one of as, client, runner"),
    ("  - call: {client: app, session: s1, runner: noop}\n", 6, "give a session (a reserved one) or a runner"),
    ("  - call: {client: app, method: FETCH}\n", 6, "steps[0].call.method: unknown HTTP method 'FETCH'"),
    ("  - runner_pay: {client: nobody}\n", 6, "steps[0].runner_pay.client: unknown client 'nobody'"),
    ("  - runner_stop: {client: app, sesion: s1}\n", 6, "steps[0].runner_stop: unknown key 'sesion'"),
    ("  - heartbeat: {runner: noop, price: cheap}\n", 6, "steps[0].heartbeat.price: expected a USD amount such as 0.36"),
    ("  - heartbeat: {runner: noop, unit: day}\n", 6, "steps[0].heartbeat.unit: unknown price unit 'day'"),
    ("  - heartbeat: {runner: noop, capacity: 0}\n", 6, "steps[0].heartbeat.capacity: expected an integer >= 1"),
    ("  - silence: nop\n", 6, "steps[0].silence: unknown runner 'nop'; expected one of noop"),
    ("  - health: {runner: noop, ok: false}\n", 6,
     "steps[0].health.runner: 'noop' registers over heartbeats; only a static_runner has a health check"),
    ("  - static_runner: {name: box, kind: gpu}\n", 6, "steps[0].static_runner.kind: unknown dev runner kind 'gpu'"),
    ("  - static_runner: {name: noop}\n", 6, "steps[0].static_runner.name: 'noop' already names a runner"),
    ("  - static_runner: {name: box, routing: path}\n", 6, "steps[0].static_runner.routing: unknown routing 'path'"),
    ("  - static_runner: {name: box}\n  - silence: box\n", 7,
     "steps[1].silence: 'box' is a static runner (runners.json): it does not heartbeat"),
    ("  - health: {runner: box, ok: false}\n  - static_runner: {name: box}\n", 6,
     "steps[0].health.runner: unknown runner 'box'"),  # declared later: not yet
    ("  - expect:\n      - reply: {client: app, action: fetch}\n", 7, "expect[0].reply.action: unknown client action 'fetch'"),
    ("  - expect:\n      - reply: {action: call}\n", 7, "expect[0].reply: missing required key 'client'"),
    ("  - expect:\n      - reply: {client: app, status: ok}\n", 7, "expect[0].reply.status (an HTTP status; 0: no answer)"),
    ("  - expect:\n      - session: {client: app, state: closed}\n", 7, "expect[0].session.state: unknown session state 'closed'"),
    ("  - expect:\n      - session: {client: app, debits: many}\n", 7, "expect[0].session.debits: expected a count"),
    ("  - expect:\n      - runner: {runner: noop, status: busy}\n", 7, "expect[0].runner.status: unknown runner status 'busy'"),
    ("  - expect:\n      - runner: {runner: noop, listed: maybe}\n", 7, "expect[0].runner.listed: expected true or false"),
    ("  - expect:\n      - runner: {listed: true}\n", 7, "expect[0].runner: missing required key 'runner'"),
    ("  - expect:\n      - event: {kind: gateway.runner_call, actor: ap}\n", 7, "expect[0].event.actor: unknown actor 'ap'"),
])
def test_runner_vocabulary_errors_name_file_and_line(body, line, words):
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(HEAD + body, "s.yaml")
    msg = str(ei.value)
    assert msg.startswith(f"s.yaml:{line}: "), msg
    assert words in msg, msg


@pytest.mark.parametrize("clients,line,words", [
    ("clients: [{name: app, signer: nobody}]\n", 4, "clients[0].signer: unknown signer 'nobody'"),
    ("clients: [{name: app, orchestrator: o9}]\n", 4, "clients[0].orchestrator: unknown orchestrator 'o9'"),
    ("clients: [{name: noop}]\n", 4, "clients[0].name: 'noop' already names an actor of the stack"),
    ("clients: [app, app]\n", 4, "clients[1].name: 'app' already names an actor of the stack"),
    ("clients: app\n", 4, "clients: expected a list"),
])
def test_client_declarations_are_checked(clients, line, words):
    text = HEAD.replace("clients: [{name: app}]\n", clients) + "  - note: x\n"
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(text, "s.yaml")
    assert str(ei.value).startswith(f"s.yaml:{line}: ") and words in str(ei.value), str(ei.value)


def test_the_vocabulary_parses_and_a_client_without_signer_is_free_only():
    sc = parse_scenario(HEAD.replace("clients: [{name: app}]", "clients: [app, {name: free, signer: null}]") + """\
  - discover: app
  - reserve: {client: app, runner: noop, as: a}
  - call: {client: app, session: a, path: /x, method: GET}
  - runner_pay: app
  - runner_stop: {client: app, session: a}
  - heartbeat: noop
  - heartbeat: {runner: noop, price: "0.5", unit: fixed, capacity: 2}
  - silence: noop
  - static_runner: {name: box, kind: text, label: box, routing: label, price: "0.01", unit: fixed}
  - health: {runner: box, ok: false}
  - call: {client: free, runner: box, path: /sse, method: GET}
    expect:
      - reply: {client: free, action: call, request: 1, status: 200, paid: false}
      - runner: {runner: box, listed: false, status: unavailable, sessions: 0}
      - session: {client: app, session: a, state: released, reason_contains: stopped, debits: ">= 0"}
""", "s.yaml")
    assert [c.name for c in sc.clients] == ["app", "free"] and sc.clients[0].signer == "signer"
    assert sc.clients[1].signer is None
    assert [s.action for s in sc.steps][:4] == ["discover", "reserve", "call", "runner_pay"]
    assert sc.steps[6].arg["price"] == "0.5" and sc.steps[10].expect[0].args["request"] == 1


def test_cli_bad_runner_step_exit_2(tmp_path, capsys):
    from lpdev.cli import main

    f = tmp_path / "bad.yaml"
    f.write_text(HEAD + "  - reserve: {client: app, runner: nope}\n")
    assert main(["scenario", "run", str(f)]) == 2
    assert f"{f}:6: steps[0].reserve.runner: unknown runner 'nope'" in capsys.readouterr().err


def test_a_replay_rechecks_reply_and_session_from_the_trace(tmp_path):
    """``reply`` and ``session`` are decided by the client's and the orchestrator's events: a replay recomputes
    them, and an edited trace that contradicts them fails."""
    from lpdev.commands.scenario import replay_summary

    sc = parse_scenario(HEAD + """\
  - reserve: {client: app, runner: noop}
    expect:
      - reply: {client: app, action: reserve, status: 200, paid: true}
  - runner_stop: app
    expect:
      - session: {client: app, state: released, reason_contains: stopped}
""", "s.yaml")
    t = tmp_path / "t.jsonl"
    s = asyncio.run(run_scenario(sc, trace=t))
    assert s["passed"], s
    r = replay_summary(t)
    assert r["passed"] and [x["name"] for x in r["expectations"]] == [x["name"] for x in s["expectations"]]
    lines = t.read_text().splitlines()
    forged = []
    for ln in lines:  # the reservation "failed" in the edited trace, but the recorded verdict says it passed
        d = json.loads(ln)
        if d.get("kind") == "gateway.runner_reserve":
            d["data"]["status"] = 503
            ln = json.dumps(d, separators=(",", ":"))
        forged.append(ln)
    t.write_text("\n".join(forged) + "\n")
    assert replay_summary(t)["passed"] is False


def test_readme_runner_scenario_command(capsys):
    """README: ``lpdev scenario run runner-expires-mid-session``."""
    from lpdev.cli import main

    assert main(["scenario", "run", "runner-expires-mid-session"]) == 0
    out = capsys.readouterr().out
    assert "scenario runner-expires-mid-session on mock (seed 21): PASS" in out
    assert "[PASS] money_conservation" in out
