"""``lpdev scenario list | run | replay``: the scenario library (scenarios/*.yaml), run and asserted.

    lpdev scenario list [--json]
    lpdev scenario run NAME|FILE [--chain mock|embedded|anvil] [--seed N] [--trace FILE] [--step] [--json]
    lpdev scenario replay TRACE [--json]

Exit status 0 only when every expectation and invariant passed; 1 when one failed; 2 for bad input (a
scenario file with an error prints ``file:line: what was expected``; a trace that is not a scenario's).
replay does not trust the verdicts a trace recorded: it rechecks from the events the invariants and the
event/summary expectations, and fails when the trace contradicts what it recorded.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

__all__ = ["register", "find_scenario", "list_scenarios", "print_summary"]


def find_scenario(name: str) -> Path:
    """stack.scenario.library.find_scenario, with an unknown name as a usage error (exit 2)."""
    from lpdev.cli import UsageError
    from stack.scenario.library import UnknownScenario
    from stack.scenario.library import find_scenario as find

    try:
        return find(name)
    except UnknownScenario as exc:
        raise UsageError(str(exc)) from None


def check_writable(path: str, flag: str) -> None:
    """A file path the command will write later: a directory or a missing folder is a usage error now."""
    from lpdev.cli import UsageError

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    if not p.resolve().parent.is_dir():
        raise UsageError(f"{flag} {path}: the folder {p.parent} does not exist")


def list_scenarios() -> list[dict]:
    from stack.scenario.library import list_scenarios as lst

    return lst()


def print_summary(s: dict, out=None) -> None:
    out = out or sys.stdout
    mark = lambda ok: "PASS" if ok else "FAIL"  # noqa: E731
    out.write(f"scenario {s.get('scenario')} on {s.get('chain', '?')} (seed {s.get('seed')}): "
              f"{mark(s['passed'])}\n")
    for group in ("expectations", "invariants"):
        if s[group]:
            out.write(f"  {group}:\n")
        for x in s[group]:
            out.write(f"    [{mark(x['passed'])}] {x['name']}: {x['detail']}\n")
    out.write(f"  payments {s['payments']}, tickets {s['tickets']}, winning tickets {s['winning_tickets']}, "
              f"redeemed {s['redeemed']}, elapsed {s['elapsed_s']} s\n")
    if "rechecked" in s:  # a replay
        r = s["rechecked"]
        out.write(f"  rechecked from the trace's events: {r['expectations']} of {len(s['expectations'])} "
                  f"expectation(s), {r['invariants']} of {len(s['invariants'])} invariant(s); the others are as "
                  "recorded\n")
    if s.get("contradictions"):
        out.write("  the trace contradicts its recorded verdicts:\n")
        for c in s["contradictions"]:
            out.write(f"    - {c}\n")


def _cmd_list(args) -> int:
    items = list_scenarios()
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    w = max((len(i["name"]) for i in items), default=10)
    for i in items:
        print(f"{i['name']:<{w}}  {i.get('error') or i['description']}")
    return 0


def _cmd_run(args) -> int:
    from lpdev.cli import UsageError
    from stack.gate import StepGate, stdin_gate
    from stack.scenario.model import load_scenario
    from stack.scenario.runner import run_scenario
    from stack.yamlines import ScenarioError

    path = find_scenario(args.name)
    try:
        sc = load_scenario(path)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if args.trace:  # written at the end of the run: say now, not after it, that it cannot be written
        check_writable(args.trace, "--trace")

    async def go() -> dict:
        gate = stdin_gate() if args.step else StepGate(enabled=False)
        return await run_scenario(sc, chain=args.chain, seed=args.seed, trace=args.trace, gate=gate)

    summary = asyncio.run(go())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
        if args.trace:
            print(f"  trace: {args.trace}")
    return 0 if summary["passed"] else 1


def replay_summary(trace: str | Path) -> dict:
    """The summary of a recorded run, rebuilt from its trace with every verdict the events can decide
    rechecked (stack/scenario/replay.py; ``elapsed_s`` = time to read and recheck it)."""
    from stack.scenario.replay import replay_trace

    t0 = time.perf_counter()
    s = replay_trace(trace)
    s["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return s


def _cmd_replay(args) -> int:
    from lpdev.cli import UsageError
    from sim.events import TraceError

    if not Path(args.trace).exists():
        raise UsageError(f"trace {args.trace} does not exist")
    try:
        s = replay_summary(args.trace)
    except TraceError as exc:  # not an lpdev trace, or not a scenario's (NotAScenarioTrace): exit 2
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print_summary(s)
    return 0 if s["passed"] else 1


def register(sub) -> None:
    p = sub.add_parser("scenario", help="list, run and replay payment scenarios (scenarios/*.yaml)",
                       description=__doc__)
    ssub = p.add_subparsers(dest="scenario_cmd", metavar="COMMAND")
    lp = ssub.add_parser("list", help="the scenario library")
    lp.add_argument("--json", action="store_true")
    lp.set_defaults(func=_cmd_list)
    rp = ssub.add_parser("run", help="run a scenario and check its expectations and invariants")
    rp.add_argument("name", metavar="NAME|FILE")
    rp.add_argument("--chain", choices=("mock", "embedded", "anvil"), default=None,
                    help="chain backend (default: the file's stack.chain, else mock)")
    rp.add_argument("--seed", type=int, default=None, help="seed for ids and secrets (default: the file's)")
    rp.add_argument("--trace", default=None, metavar="FILE", help="write the JSONL event trace here")
    rp.add_argument("--step", action="store_true", help="pause before each step until Enter")
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    rp.set_defaults(func=_cmd_run)
    pp = ssub.add_parser("replay", help="rebuild a run's summary from its trace, rechecking its verdicts",
                         description="Rebuild a scenario run's summary from its trace (scenario run --trace). The "
                                     "invariants and the event/summary expectations are recomputed from the events; "
                                     "outcome(s), chain and winners expectations are taken as recorded. Exit 1 when "
                                     "a check fails or the trace contradicts its recorded verdicts, 2 when the file "
                                     "is not a scenario trace.")
    pp.add_argument("trace", metavar="TRACE")
    pp.add_argument("--json", action="store_true")
    pp.set_defaults(func=_cmd_replay)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
