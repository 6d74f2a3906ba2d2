"""``lpdev walkthrough [NAME]``: a guided tour of the payment protocol for newcomers.

A tour runs a library scenario (scenarios/tour-*.yaml) on the real stack: the remote signer, the orchestrator,
the scripted gateway and a mock chain, with a fixed seed and a virtual clock, so it tells the same story every
time. Before each step it stops and explains in plain words what the last step did and why, quoting this run's
numbers (the preload, the fee, the nonces, the 480, the redemption's tx hash and gas).

Tours: happy-path (default), param-expiry, winning-ticket (--list). Any other library scenario works too, with
a generic explanation of each step's events.

Keys: n next step, space run all, 1/2/3 payment/tickets/balances, ? help, q quit.

In a browser instead of this terminal: `lpdev walkthrough --web` (then open the printed URL; each tab runs its own
tour).
"""
from __future__ import annotations

import argparse

from lpdev.cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("walkthrough", help="a guided tour of PM payments, step by step, with real numbers",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", default="happy-path",
                   help="a tour (default happy-path; --list) or any library scenario, run on the real stack")
    p.add_argument("--list", action="store_true", help="list the tours")
    p.add_argument("--chain", choices=("mock", "embedded", "anvil"), default=None,
                   help="the chain backend (default: the scenario's own, mock for the tours)")
    p.add_argument("--seed", type=int, default=None,
                   help="a seed (default: the scenario's own; another seed may change which tickets win)")
    p.add_argument("--screenshot-dir", default=None, help="where s saves SVG screenshots (default: .)")
    from lpdev.commands.tui import add_web_args

    add_web_args(p, "each browser tab runs this tour")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.walkthroughs import all_scripts, script_for_scenario

    if args.list:
        for s in all_scripts():
            print(f"{s.name:16} {s.title} (scenario {s.scenario})")
        print("(any scenario from `lpdev scenario list` works too: its steps run on the real stack, explained)")
        return 0
    from lpdev.commands.up import lpdev_commands
    from tui.app import LpdevApp

    scripts = {s.name: s for s in all_scripts()}
    kw = {"chain": args.chain, "seed": args.seed, "screenshot_dir": args.screenshot_dir, "commands": lpdev_commands()}
    tour = scripts.get(args.name) or script_for_scenario(args.name)
    if tour is not None:
        app = LpdevApp.scenario(tour.name, walkthrough=True, **kw)
    else:
        # a library scenario (scenarios/*.yaml) on the real stack, explained step by step from its events
        from lpdev.commands.scenario import find_scenario
        from stack.scenario.model import load_scenario
        from stack.yamlines import ScenarioError

        try:
            path = find_scenario(args.name)
        except UsageError:
            raise UsageError(f"unknown walkthrough {args.name!r}; tours: {', '.join(sorted(scripts))}; "
                             "or any scenario from `lpdev scenario list`") from None
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        app = LpdevApp.yaml_scenario(sc, walkthrough=True, **kw)
    if args.web:  # the name is known to be good: each browser tab runs this same command, without --web
        from lpdev.commands.tui import serve_web

        view = ["walkthrough", args.name] + (["--chain", args.chain] if args.chain else []) + (
            ["--seed", str(args.seed)] if args.seed is not None else []) + (
            ["--screenshot-dir", args.screenshot_dir] if args.screenshot_dir else [])
        return serve_web(args, view, "lpdev walkthrough")
    app.run()
    return 0
