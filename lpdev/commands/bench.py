"""``lpdev bench NAME``: benchmarks that print ratios against a baseline measured in the same run.

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
from pathlib import Path

import bench as _bench_pkg


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
    for name, doc in sorted(_bench_names().items()):
        bp = bsub.add_parser(name, help=doc, add_help=False)
        bp.set_defaults(func=_make_runner(name), accepts_extra_args=True)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _make_runner(name: str):
    def runner(args) -> int:
        mod = importlib.import_module(f"bench.{name}")
        parser = argparse.ArgumentParser(prog=f"lpdev bench {name}", description=mod.__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        mod.add_arguments(parser)
        bargs = parser.parse_args(args.extra_args)
        result = mod.run(bargs)
        if bargs.json:
            print(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            text = getattr(mod, "format_text", None)
            print(text(result) if text else json.dumps(result, indent=2, sort_keys=True, default=str))
        return 0 if result.get("ok", True) else 1

    return runner
