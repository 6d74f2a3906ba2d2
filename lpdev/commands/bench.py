"""``lpdev bench NAME``: benchmarks that print ratios against a baseline measured in the same run.

Each module ``bench/<name>.py`` exposes ``add_arguments(parser)`` and ``run(args) -> dict``; the dict is the
``--json`` document. Targets live here, not in timed tests (which flake on shared machines).
"""
from __future__ import annotations

import importlib
import json
import pkgutil

import bench as _bench_pkg


def _bench_modules() -> dict:
    mods = {}
    for info in pkgutil.iter_modules(_bench_pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"bench.{info.name}")
        if hasattr(mod, "run") and hasattr(mod, "add_arguments"):
            mods[info.name] = mod
    return mods


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark (prints rates and ratios vs a same-run baseline)",
                       description=__doc__)
    names = sub.add_parser  # noqa: F841 - keep argparse happy on older Pythons
    bsub = p.add_subparsers(dest="bench_name", metavar="NAME")
    for name, mod in sorted(_bench_modules().items()):
        doc = (mod.__doc__ or name).strip().splitlines()[0]
        bp = bsub.add_parser(name, help=doc, description=mod.__doc__)
        bp.add_argument("--json", action="store_true", help="print one JSON document")
        mod.add_arguments(bp)
        bp.set_defaults(func=_make_runner(mod))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _make_runner(mod):
    def runner(args) -> int:
        result = mod.run(args)
        if args.json:
            print(json.dumps(result, indent=2, sort_keys=True, default=str))
        else:
            text = getattr(mod, "format_text", None)
            print(text(result) if text else json.dumps(result, indent=2, sort_keys=True, default=str))
        return 0 if result.get("ok", True) else 1

    return runner
