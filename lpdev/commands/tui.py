"""``lpdev tui``: the TUI — replay a trace, attach to a running stack's events, or run a scenario step by step.

    lpdev tui --replay TRACE            a trace file (JSONL from `lpdev scenario run --trace`), with seek
    lpdev tui --attach URL              another process's events endpoint (tui/feed.py: /events/stream)
    lpdev tui --scenario NAME|FILE      a library scenario (scenarios/*.yaml, run by the scenario runner on
                                        a real stack) or a tour (lpdev walkthrough --list, without its
                                        narrative); one step per key (n), or all (space)
    lpdev tui --demo                    live mode on the real actors (signer, orchestrator, gateway) on a mock
                                        chain, a virtual clock at 10x, with the time-travel keys
    lpdev tui --make-trace FILE         record a seeded run of the same stack (1,000 payments) to try --replay on
    lpdev tui --web [--web-port 8000]   the same app as a web page (default: the walkthrough tour; with
                                        --replay/--scenario/--demo/--attach, that view); open the printed URL

Keys: ? shows every key; ctrl+p opens the command palette; s saves an SVG screenshot; x shows amounts in exact
wei instead of ETH / gwei; 1-4 switch tabs (4: the running stack's cast). How the protocol works: docs/README.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lpdev.cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("tui", help="the TUI: live flow, trace replay with seek, or a scenario step by step",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--replay", metavar="TRACE", help="replay a trace file")
    g.add_argument("--attach", metavar="URL", help="attach to an events endpoint (http://host:port)")
    g.add_argument("--scenario", metavar="NAME", help="run a scenario with the step gate (see --list)")
    g.add_argument("--demo", action="store_true", help="live mode on the demo stack (real actors, mock chain)")
    g.add_argument("--make-trace", metavar="FILE", help="record a seeded run of the demo stack as a trace and exit")
    g.add_argument("--list", action="store_true", help="list the scenarios --scenario knows")
    p.add_argument("--chain", choices=("mock", "embedded", "anvil"), default=None,
                   help="--scenario: chain backend (default: the scenario's own)")
    p.add_argument("--seed", type=int, default=None, help="--scenario: seed for a deterministic run")
    p.add_argument("--trace", metavar="FILE", default=None, help="--scenario: also write the run's trace")
    p.add_argument("--payments", type=int, default=1000, help="payments in --make-trace (default 1000)")
    p.add_argument("--start", choices=("home", "end"), default="end", help="replay: start at the first or last event")
    p.add_argument("--serve-events", metavar="HOST:PORT", default=None,
                   help="--demo: also serve the events endpoint (attach from another terminal with --attach)")
    p.add_argument("--step", action="store_true", help="--demo: start paused; n runs one payment")
    p.add_argument("--screenshot-dir", default=None, help="where s saves SVG screenshots (default: .)")
    add_web_args(p, "without a view option: the walkthrough tour")
    p.set_defaults(func=run)


def add_web_args(p: argparse.ArgumentParser, what: str) -> None:
    """--web / --web-host / --web-port: the same Textual app served as a web page (textual-serve)."""
    w = p.add_argument_group("web page (textual-serve)")
    w.add_argument("--web", action="store_true", help=f"serve the app as a web page instead of using this terminal "
                                                      f"({what})")
    w.add_argument("--web-host", default="127.0.0.1", metavar="HOST", help="--web: address to listen on "
                                                                             "(default 127.0.0.1)")
    w.add_argument("--web-port", type=int, default=8000, metavar="PORT",
                   help="--web: port to listen on (default 8000; 0 picks a free one, printed)")


def serve_web(args: argparse.Namespace, view: list[str], title: str) -> int:
    """Serve ``lpdev <view>`` as a web page until Ctrl-C; a bad port or an address in use is one line, exit 2."""
    if not 0 <= args.web_port <= 65535:
        raise UsageError(f"--web-port must be 0..65535, got {args.web_port}")
    from tui.webserve import serve

    try:
        return serve(view, host=args.web_host, port=args.web_port, title=title)
    except OSError as exc:
        raise UsageError(f"--web: cannot listen on {args.web_host}:{args.web_port}: {exc.strerror or exc}") from None


def _view_argv(args: argparse.Namespace) -> list[str]:
    """The ``lpdev`` arguments each browser connection runs for ``--web``: this command without its web options
    (``walkthrough`` when no view was chosen)."""
    view = []
    for flag, value in (("--replay", args.replay), ("--attach", args.attach), ("--scenario", args.scenario)):
        if value:
            view += [flag, str(Path(value).resolve()) if flag == "--replay" else value]
    if args.demo:
        view.append("--demo")
    if not view:
        return ["walkthrough"] + (["--chain", args.chain] if args.chain else []) + (
            ["--seed", str(args.seed)] if args.seed is not None else [])
    for flag, value in (("--chain", args.chain), ("--seed", args.seed), ("--start", args.start if args.replay else None),
                        ("--screenshot-dir", args.screenshot_dir)):
        if value is not None:
            view += [flag, str(value)]
    if args.step:
        view.append("--step")
    return ["tui", *view]


def run(args: argparse.Namespace) -> int:
    from tui.walkthroughs import all_scripts

    if args.list:
        for s in all_scripts():
            print(f"{s.name:34} tour ({s.scenario}): {s.title}")
        try:
            from lpdev.commands.scenario import list_scenarios

            for s in list_scenarios():
                print(f"{s['name']:34} {s.get('error') or s['description']}")
        except ImportError as exc:  # the scenario library is optional here
            print(f"(scenario library unavailable: {exc})")
        return 0
    if args.make_trace:
        from stack.demo import record_demo_trace

        if not 0 < args.payments <= 100_000:
            raise UsageError("--payments must be 1..100000")
        if Path(args.make_trace).is_dir():
            raise UsageError(f"--make-trace {args.make_trace}: is a directory, not a file")
        try:
            n = record_demo_trace(args.make_trace, args.payments)
        except OSError as exc:
            raise UsageError(f"cannot write {args.make_trace}: {exc.strerror or exc}") from None
        print(f"wrote {n} events ({args.payments} payments, real signer + orchestrator + mock chain) to "
              f"{args.make_trace}")
        return 0
    if args.web:
        if args.replay and not Path(args.replay).is_file():
            raise UsageError(f"no such trace file: {args.replay}")
        view = _view_argv(args)
        return serve_web(args, view, "lpdev walkthrough" if view[0] == "walkthrough" else "lpdev tui")
    from lpdev.commands.up import lpdev_commands
    from tui.app import LpdevApp

    kw = {"screenshot_dir": args.screenshot_dir, "commands": lpdev_commands()}
    if args.replay:
        from sim.events import TraceError

        if not Path(args.replay).is_file():
            raise UsageError(f"no such trace file: {args.replay}")
        try:
            app = LpdevApp.replay(args.replay, start=args.start, **kw)
        except TraceError as exc:
            raise UsageError(str(exc)) from None
    elif args.attach:
        if not args.attach.startswith(("http://", "https://")):
            raise UsageError(f"--attach wants an http(s) URL, got {args.attach!r}")
        app = LpdevApp(mode="live", attach_url=args.attach, source_name=args.attach, **kw)
    elif args.scenario:
        names = {s.name for s in all_scripts()}
        if args.scenario in names:
            app = LpdevApp.scenario(args.scenario, chain=args.chain, seed=args.seed, trace=args.trace, **kw)
        else:
            from lpdev.commands.scenario import find_scenario
            from stack.scenario.model import load_scenario
            from stack.yamlines import ScenarioError

            try:
                sc = load_scenario(find_scenario(args.scenario))
            except ScenarioError as exc:
                raise UsageError(str(exc)) from None
            app = LpdevApp.yaml_scenario(sc, chain=args.chain, seed=args.seed, trace=args.trace, **kw)
    elif args.demo:
        if args.serve_events and ":" not in args.serve_events:
            raise UsageError(f"--serve-events wants HOST:PORT (port 0 picks one), got {args.serve_events!r}")
        import asyncio

        return asyncio.run(run_demo(paused=args.step, serve_events=args.serve_events, **kw))
    else:
        raise UsageError("choose one of --replay TRACE, --attach URL, --scenario NAME, --demo, or --web "
                         "(see lpdev tui -h)")
    app.run()
    return 0


async def run_demo(*, paused: bool = False, app_factory=None, headless: bool = False, **kw) -> int:
    """The demo stack (stack/demo.py) and the TUI in live mode on one loop; quitting the TUI stops the stack."""
    import asyncio

    from stack.demo import demo_stack
    from tui.app import LpdevApp
    from tui.control import GateAdapter

    async with demo_stack(paused=paused) as st:
        app = (app_factory or LpdevApp)(mode="live", bus=st.bus, control=st, source_name="demo stack",
                                        stepper=GateAdapter(st.gate, asyncio.get_running_loop()), **kw)
        loops = asyncio.create_task(st.run())
        try:
            await app.run_async(headless=headless)
        finally:
            st.request_stop()
            await asyncio.wait({loops}, timeout=5)
    return 0
