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
    p.add_argument("name", nargs="?", default="happy-path", help="which tour (default happy-path; --list)")
    p.add_argument("--list", action="store_true", help="list the tours")
    p.add_argument("--screenshot-dir", default=None, help="where s saves SVG screenshots (default: .)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.walkthroughs import all_scripts

    if args.list:
        for s in all_scripts():
            print(f"{s.name:16} {s.title}")
        return 0
    from tui.app import LpdevApp

    try:
        app = LpdevApp.scenario(args.name, walkthrough=True, screenshot_dir=args.screenshot_dir)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    app.run()
    return 0
