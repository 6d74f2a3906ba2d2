"""`lpdev economics check|sweep|fleet`: will these PM settings work, which settings are safe, and what does a
fleet of them cost and earn?

    lpdev economics check --preset up                       # lpdev up's defaults
    lpdev economics check --preset go-livepeer-4077         # the settings of go-livepeer #4077
    lpdev economics check --job-type live --price-per-unit 5.5e10 --ticket-ev 1e13 --max-ticket-ev 1e14
    lpdev economics sweep --preset go-livepeer-4077 --grid ticket_ev=1e11:1e13:8:log \\
        --grid price_per_unit=2e10:1e11:6:log --out sweep      # CSV, Parquet, PNG/SVG heat maps
    lpdev economics sweep ... --ray local|auto|HOST:PORT     # cells as Ray tasks
    lpdev economics fleet --gateways 10000 --orchestrators 300 --sessions-per-day 6 --days 10
                                                            # the clearinghouse's float, orchestrators' payouts
    lpdev economics fleet ... --mix ticket_ev=1e11,1e12 --ray auto   # two orchestrator classes, shards on Ray

Amounts are wei (1e13, 2.5e11) or with a unit (20gwei, 1eth). `check` exits 0 when healthy, 1 when a finding
fails, 2 for bad input (one line naming the parameter). `sweep` exits 0, or 130 after Ctrl-C with the finished
cells written. `fleet` exits like `check`, or 130 after Ctrl-C with the report of the shards finished so far.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from lpdev.cli import UsageError

DEFAULT_METRICS = ("p_stop", "rate_482", "losses_tolerated")


def _settings_args(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    from sim.economics.settings import DIALECTS, FIELDS, JOB_TYPES, flag_of

    p.add_argument("--preset", choices=("up", "go-livepeer-4077"),
                   help="start from lpdev up's defaults or go-livepeer #4077's settings (flags override)")
    g = p.add_argument_group("settings (defaults: a go-livepeer live runner on Arbitrum)")
    helps = {"job_type": f"payment type: {', '.join(JOB_TYPES)}", "dialect": f"signer: {', '.join(DIALECTS)}",
             "minutes": "horizon T in minutes", "buffer_s": "seconds the first payment prepays (0: the signer's own)",
             "fail": "probability a payment call fails before signing", "loss": "probability a signed payment is lost",
             "jitter_s": "up to this many extra seconds between payments", "sessions": "concurrent sessions",
             "orchestrators": "active orchestrators (the reserve is split between them)",
             "reuse_params": "keep the first ticket params (SDK style) instead of each reply's"}
    for name, f in FIELDS.items():
        if name in skip:
            continue
        if name == "reuse_params":
            g.add_argument(flag_of(name), action="store_const", const="true", default=None, help=helps[name])
            continue
        g.add_argument(flag_of(name), metavar="X", default=None,
                       help=helps.get(name, f"default {f.default}"))


def _base_settings(args):
    from sim.economics.settings import FIELDS, PRESETS, Settings
    from sim.economics.sweep import parse_number
    from stack.economics import up_settings

    if args.preset == "up":
        base = up_settings()
    elif args.preset:
        base = PRESETS[args.preset]
    else:
        base = Settings()
    kw = {}
    for name in FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = parse_number(name, v)
    return base.with_(**kw).validate()


def register(sub) -> None:
    p = sub.add_parser("economics",
                       help="will these PM settings work? check one setting, sweep a grid, simulate a fleet",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    esub = p.add_subparsers(dest="economics_command", metavar="SUBCOMMAND")
    c = esub.add_parser("check", help="report tickets, 482s, stops, revenue, gas, nonces and funds; say what to change",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _settings_args(c)
    c.add_argument("--runs", default="200", help="Monte Carlo sessions (default 200)")
    c.add_argument("--seed", default="1", help="seed (default 1)")
    c.add_argument("--json", action="store_true", help="print one JSON document")
    c.set_defaults(func=cmd_check)
    s = esub.add_parser("sweep", help="the check's numbers over a grid; CSV/Parquet table and plots; processes or Ray",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _settings_args(s)
    s.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC",
                   help="an axis: NAME=V1,V2,... or NAME=START:STOP:N[:log] (repeatable; NAME is a setting, "
                        "e.g. ticket_ev)")
    s.add_argument("--runs", default="200", help="Monte Carlo sessions per cell (default 200)")
    s.add_argument("--seed", default="1", help="seed (default 1): the same seed gives the same table anywhere")
    s.add_argument("--out", default="economics-sweep", help="output directory (default economics-sweep)")
    s.add_argument("--metric", action="append", default=None,
                   help=f"metric to plot (repeatable; default {', '.join(DEFAULT_METRICS)})")
    s.add_argument("--workers", default=None, help="local processes (default: one per CPU)")
    s.add_argument("--ray", default=None, metavar="local|auto|HOST:PORT",
                   help="run the cells as Ray tasks: local starts Ray here, auto joins the running cluster, "
                        "HOST:PORT or ray://HOST:PORT joins that one")
    s.add_argument("--tui", action="store_true", help="watch the sweep fill a heat map in the terminal")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)
    f = esub.add_parser("fleet", help="thousands of gateways, hundreds of orchestrators, days: the clearinghouse's "
                        "float and the orchestrators' payouts; processes or Ray",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _settings_args(f, skip=("sessions", "minutes"))
    _fleet_args(f)
    f.set_defaults(func=cmd_fleet)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _int_arg(name: str, v: str, lo: int = 1, hi: int = 10**7) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise UsageError(f"--{name}: want an integer, got {v!r}") from None
    if not lo <= n <= hi:
        raise UsageError(f"--{name}: must be {lo}..{hi}, got {n}")
    return n


def cmd_check(args) -> int:
    from sim.economics.check import check
    from sim.economics.settings import SettingsError

    runs = _int_arg("runs", args.runs, 0, 100_000)
    seed = _int_arg("seed", args.seed, 0, 2**63 - 1)
    try:
        s = _base_settings(args)
        report = check(s, runs=runs, seed=seed)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=_json_default))
    else:
        print(report.text())
    return 0 if report.healthy else 1


def _json_default(o):
    from fractions import Fraction

    if isinstance(o, Fraction):
        return str(o)
    if isinstance(o, float):
        return None
    return str(o)


class _Progress:
    def __init__(self, quiet: bool, unit: str = "cells") -> None:
        self.quiet = quiet
        self.unit = unit

    def __call__(self, row: dict, done: int, total: int) -> None:
        if self.quiet:
            return
        width = 30
        fill = int(width * done / total) if total else width
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {self.unit}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _engine(ray_address: str | None) -> str:
    """"ray" after joining the cluster ``--ray`` names (one line, exit 2, when none answers), else "processes"."""
    if not ray_address:
        return "processes"
    from sim.economics.sweep import RayUnavailable, connect_ray

    try:
        connect_ray(ray_address)
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None
    return "ray"


def _out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {out}: {exc.strerror}") from None
    return out


def cmd_sweep(args) -> int:
    from sim.economics.settings import SettingsError
    from sim.economics.sweep import METRICS, parse_axis, run_sweep

    runs = _int_arg("runs", args.runs, 1, 10**6)
    seed = _int_arg("seed", args.seed, 0, 2**63 - 1)
    workers = _int_arg("workers", args.workers, 1, 4096) if args.workers is not None else None
    if not args.grid:
        raise UsageError("--grid: give at least one axis, e.g. --grid ticket_ev=1e11:1e13:8:log")
    metrics = args.metric or list(DEFAULT_METRICS)
    for m in metrics:
        if m not in METRICS or m == "error":
            raise UsageError(f"--metric: {m!r} is not a metric (choose from {', '.join(x for x in METRICS if x != 'error')})")
    try:
        base = _base_settings(args)
        axes = [parse_axis(g) for g in args.grid]
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise UsageError("--grid: an axis is given twice")
    total = 1
    for a in axes:
        total *= len(a.values)
    if total > 1_000_000:
        raise UsageError(f"--grid: {total} cells is more than 10^6")
    engine = _engine(args.ray)
    out = _out_dir(args.out)
    try:
        if args.tui:
            from tui.economics import run_sweep_tui

            result = run_sweep_tui(base, axes, runs=runs, seed=seed, engine=engine, workers=workers,
                                   ray_address=args.ray or "local", metric=metrics[0])
        else:
            result = run_sweep(base, axes, runs=runs, seed=seed, engine=engine, workers=workers,
                               ray_address=args.ray or "local", on_row=_Progress(args.quiet))
    finally:
        if args.ray:
            import ray

            ray.shutdown()
    paths = write_outputs(result, out, metrics)
    done = len(result.rows)
    healthy = sum(1 for r in result.rows if r.get("healthy") is True)
    where = "Ray" if engine == "ray" else f"{workers or 'all'} local process(es)"
    if result.interrupted:
        print(f"\ninterrupted: kept {done} of {result.total} cells", file=sys.stderr)
    print(f"{done} of {result.total} cells on {where} in {result.elapsed_s:.1f} s; {healthy} healthy")
    for p in paths:
        print(f"  wrote {p}")
    return 130 if result.interrupted else 0


def write_outputs(result, out: Path, metrics) -> list[Path]:
    from sim.economics.plots import plot_sweep

    table = result.table()
    paths = []
    csv_path = out / "sweep.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=result.columns)
        w.writeheader()
        w.writerows(table)
    paths.append(csv_path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pa = None
    if pa is not None and table:
        pq.write_table(pa.table({c: [r[c] for r in table] for c in result.columns}), out / "sweep.parquet")
        paths.append(out / "sweep.parquet")
    for m in metrics:
        paths += plot_sweep(result, m, out / m)
    return paths


FLEET_HELP = {
    "gateways": "gateways paying from the one sender",
    "sessions_per_day": "sessions each gateway starts a day (Poisson mean)",
    "session_minutes": "mean session length in minutes",
    "session_dist": "session lengths: fixed, exponential or lognormal",
    "session_sigma": "the lognormal's shape (sigma of log length)",
    "max_session_minutes": "sessions are cut at this length",
    "days": "simulated days",
    "confidence": "the share of top-up windows the deposit must cover",
    "top_up_hours": "the clearinghouse refills its deposit every this many hours",
    "selection_skew": "Zipf exponent of the gateways' orchestrator choice (0: uniform)",
    "shard_gateways": "gateways per shard (one process or Ray task each; the seed reproduces a run for a given value)",
}


def _fleet_args(p: argparse.ArgumentParser) -> None:
    from sim.economics.fleet import FLEET_FIELDS
    from sim.economics.settings import flag_of

    g = p.add_argument_group("the fleet (--orchestrators sets how many orchestrators it pays)")
    for name, f in FLEET_FIELDS.items():
        g.add_argument(flag_of(name), metavar="X", default=None, help=f"{FLEET_HELP[name]} (default {f.default})")
    g.add_argument("--mix", action="append", default=[], metavar="NAME=SPEC",
                   help="orchestrator classes: NAME=V1,V2,... (repeatable; orchestrator o takes combination o mod "
                        "their number), e.g. ticket_ev=1e11,1e12")
    p.add_argument("--seed", default="1", help="seed (default 1): the same seed gives the same report anywhere")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--out", default=None, help="also write fleet.json, orchestrators.csv, windows.csv and "
                                               "fleet.png/.svg into this directory")
    p.add_argument("--workers", default=None, help="local processes (default: one per CPU)")
    p.add_argument("--ray", default=None, metavar="local|auto|HOST:PORT",
                   help="run the shards as Ray tasks: local starts Ray here, auto joins the running cluster, "
                        "HOST:PORT or ray://HOST:PORT joins that one")
    p.add_argument("--per-ticket", action="store_true",
                   help="every ticket through the core's win test instead of binomial draws (slow; checks the "
                        "batched path)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_fleet(args) -> int:
    from sim.economics.fleet import FLEET_FIELDS, Fleet, fleet_report, run_fleet
    from sim.economics.settings import SettingsError
    from sim.economics.sweep import parse_axis, parse_number

    seed = _int_arg("seed", args.seed, 0, 2**63 - 1)
    workers = _int_arg("workers", args.workers, 1, 4096) if args.workers is not None else None
    try:
        s = _base_settings(args)
        kw = {name: parse_number(name, getattr(args, name), FLEET_FIELDS) for name in FLEET_FIELDS
              if getattr(args, name) is not None}
        mix = tuple(parse_axis(m, flag="mix") for m in args.mix)
        fleet = Fleet(settings=s, mix=mix, **kw).validate()
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    out = _out_dir(args.out) if args.out else None
    engine = _engine(args.ray)
    try:
        run = run_fleet(fleet, seed=seed, engine=engine, workers=workers, ray_address=args.ray or "local",
                        per_ticket=args.per_ticket, on_shard=_Progress(args.quiet, "shards"))
    finally:
        if args.ray:
            import ray

            ray.shutdown()
    report = fleet_report(run)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=_json_default))
    else:
        print(report.text())
    if out is not None:
        for path in report.write(out):
            print(f"  wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if run.interrupted:
        print(f"\ninterrupted: kept {run.totals.shards} of {fleet.shards} shards", file=sys.stderr)
        return 130
    return 0 if report.healthy else 1
