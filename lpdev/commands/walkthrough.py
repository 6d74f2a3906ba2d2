"""``lpdev walkthrough [NAME]``: a guided tour of the payment protocol for newcomers.

Each step runs a piece of a scenario (real ticket maths from the PM core) and explains in plain words what
happened and why, quoting this run's numbers. Keys: n next step, space run all, ? help, q quit.
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
                   help="for a library scenario: the chain backend (default: the scenario's)")
    p.add_argument("--seed", type=int, default=None, help="for a library scenario: a seed")
    p.add_argument("--screenshot-dir", default=None, help="where s saves SVG screenshots (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.walkthroughs import all_scripts

    if args.list:
        for s in all_scripts():
            print(f"{s.name:16} {s.title}")
        print("(any scenario from `lpdev scenario list` works too: its steps run on the real stack, explained)")
        return 0
    from tui.app import LpdevApp

    names = {s.name for s in all_scripts()}
    if args.name in names:
        app = LpdevApp.scenario(args.name, walkthrough=True, screenshot_dir=args.screenshot_dir)
    else:
        # a library scenario (scenarios/*.yaml) on the real stack, explained step by step from its events
        from lpdev.commands.scenario import find_scenario
        from sim.scenario.model import load_scenario
        from sim.scenario.yamlines import ScenarioError

        try:
            path = find_scenario(args.name)
        except UsageError:
            raise UsageError(f"unknown walkthrough {args.name!r}; tours: {', '.join(sorted(names))}; "
                             "or any scenario from `lpdev scenario list`") from None
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        app = LpdevApp.yaml_scenario(sc, walkthrough=True, seed=args.seed, chain=args.chain,
                                     screenshot_dir=args.screenshot_dir)
    app.run()
    return 0
