"""``lpdev ps``: the running `lpdev up` stacks, from any folder (stack/registry.py).

    lpdev ps [--json]

One line per stack: its name (for `--stack NAME`), pid, age, chain, the first orchestrator and signer URLs and
the folder it was started in. Stacks whose process is gone (a `kill -9`) are not listed.
"""
from __future__ import annotations

import argparse
import json
import time


def register(sub) -> None:
    p = sub.add_parser("ps", help="list the running `lpdev up` stacks (name, pid, URLs, folder)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the running stacks' casts as one JSON list")
    p.set_defaults(func=run)


def run(args) -> int:
    from stack.registry import running

    stacks = running()
    if args.json:
        print(json.dumps(stacks, indent=2))
        return 0
    if not stacks:
        print("no lpdev stack is running (start one with `lpdev up`)")
        return 0
    rows = [("NAME", "PID", "AGE", "CHAIN", "ORCHESTRATOR", "SIGNER", "FOLDER")]
    now = time.time()
    for d in stacks:
        started = d.get("started_at")
        age = int(now - started) if isinstance(started, (int, float)) and not isinstance(started, bool) \
            and 0 <= now - started < 10**9 else 0
        orch = (d.get("orchestrators") or [{}])[0].get("url", "")
        rows.append((d["name"], str(d["pid"]), f"{age // 60}m{age % 60:02d}s", str(d.get("backend", "")), orch,
                     str(d.get("signer_url", "")), str(d.get("cwd", ""))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0
