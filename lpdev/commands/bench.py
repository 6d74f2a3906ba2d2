"""``lpdev bench NAME``: benchmarks that print ratios against a baseline measured in the same run.

``lpdev bench all`` (what ``make bench`` runs) runs every benchmark in turn, each in its own process with its
default options, prints each one's report and then a summary table; it exits 1 when any of them missed its
target or failed to run. ``--only a,b`` picks some, ``--json`` prints one document with every result.

Each module ``bench/<name>.py`` exposes ``add_arguments(parser)`` and ``run(args) -> dict``; the dict is the
``--json`` document. Targets live here, not in timed tests (which flake on shared machines).

A bench module is imported only when its benchmark runs: several pull in the whole stack, and every
``lpdev`` command would otherwise pay for those imports at start-up.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

import bench as _bench_pkg
from lpdev.cli import UsageError


def _bench_names() -> dict[str, str]:
    """name -> first docstring line, read from the source without importing it."""
    out = {}
    for info in pkgutil.iter_modules(_bench_pkg.__path__):
        if info.name.startswith("_"):
            continue
        path = Path(_bench_pkg.__path__[0]) / f"{info.name}.py"
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or info.name
        except (OSError, SyntaxError):
            doc = info.name
        out[info.name] = doc.strip().splitlines()[0]
    return out


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark (prints rates and ratios vs a same-run baseline)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bsub = p.add_subparsers(dest="bench_name", metavar="NAME")
    names = _bench_names()
    for name, doc in sorted(names.items()):
        bp = bsub.add_parser(name, help=doc, add_help=False)
        bp.set_defaults(func=_make_runner(name), accepts_extra_args=True)
    ap = bsub.add_parser("all", help="every benchmark above in turn, then a summary (what `make bench` runs)",
                         description=f"Run every benchmark ({', '.join(sorted(names))}) with its default options, "
                                     "each in its own process, and print a summary. Exit 1 if any missed its "
                                     "target or failed.")
    ap.add_argument("--only", metavar="NAMES", help="comma list of benchmarks to run (default: all of them)")
    ap.add_argument("--json", action="store_true", help="print one JSON document: {name: result}")
    ap.set_defaults(func=_run_all)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


class _BenchParser(argparse.ArgumentParser):
    """A benchmark's own options: a bad one is one line naming it (exit 2), not the usage text."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _make_runner(name: str):
    def runner(args) -> int:
        mod = importlib.import_module(f"bench.{name}")
        parser = _BenchParser(prog=f"lpdev bench {name}", description=mod.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        mod.add_arguments(parser)
        bargs = parser.parse_args(args.extra_args)
        try:
            result = mod.run(bargs)
        except RuntimeError as exc:  # --ray naming a cluster that does not answer: bad input, one line
            from sim.economics.sweep import RayUnavailable

            if isinstance(exc, RayUnavailable):
                raise UsageError(str(exc)) from None
            raise
        if bargs.json:
            print(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            text = getattr(mod, "format_text", None)
            print(text(result) if text else json.dumps(result, indent=2, sort_keys=True, default=str))
        return 0 if result.get("ok", True) else 1

    return runner


def _selected(only: str | None) -> list[str]:
    names = sorted(_bench_names())
    if not only:
        return names
    picked = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in picked if n not in names]
    if unknown or not picked:
        raise UsageError(f"--only: unknown benchmark {', '.join(unknown) or repr(only)}; "
                         f"choose from {', '.join(names)}")
    return picked


def _run_one(name: str) -> tuple[dict | None, float, str]:
    """One benchmark in a child ``lpdev bench NAME --json``: (its result or None, wall seconds, why it failed)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lpdev", "bench", name, "--json"], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    try:
        return json.loads(proc.stdout), dt, ""
    except json.JSONDecodeError:
        tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        return None, dt, f"exit {proc.returncode}: {tail}"


def _run_all(args) -> int:
    names = _selected(args.only)
    results: dict[str, dict] = {}
    rows: list[tuple[str, str, float, str]] = []
    for name in names:
        if not args.json:
            print(f"== lpdev bench {name}", flush=True)
        res, dt, err = _run_one(name)
        if res is None:
            results[name] = {"ok": False, "error": err}
            rows.append((name, "ERROR", dt, err))
            if not args.json:
                print(f"failed: {err}\n", flush=True)
            continue
        results[name] = res
        ok = bool(res.get("ok", True))
        rows.append((name, "ok" if ok else "MISSED", dt, ""))
        if not args.json:
            text = getattr(importlib.import_module(f"bench.{name}"), "format_text", None)
            print(text(res) if text else json.dumps(res, indent=2, sort_keys=True, default=str))
            print(flush=True)
    all_ok = all(r[1] == "ok" for r in rows)
    if args.json:
        print(json.dumps({"ok": all_ok, "results": results}, indent=2, sort_keys=True, default=str))
    else:
        print("== summary")
        for name, verdict, dt, err in rows:
            print(f"  {name:14} {verdict:7} {dt:7.1f} s" + (f"  {err}" if err else ""))
        print(f"  {sum(r[1] == 'ok' for r in rows)}/{len(rows)} met their targets")
    return 0 if all_ok else 1
