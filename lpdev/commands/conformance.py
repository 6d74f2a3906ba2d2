"""`lpdev conformance --signer URL`: check any remote signer against protocol.md §7, over the wire only.

    lpdev conformance --signer https://127.0.0.1:7936 --eth-url URL --controller ADDR [--json]
    lpdev conformance --signer 127.0.0.1:7936 --config .lpdev/chain.json
    lpdev conformance --signer https://127.0.0.1:7936 --config .lpdev/stack.json   # a running `lpdev up`

--config takes any JSON file with the chain's "eth_url" and "controller": the one `lpdev chain up` writes or the
stack.json (or --config-out file) of a running `lpdev up` (anvil chain; an embedded chain has no RPC URL).
The suite reads the signer's chain (last block, round, the signer's deposit) so the ticket params it makes
up for a fictitious orchestrator are valid there. Each case prints pass / fail / n/a with the response seen.
Exit code 0 when every required case passes (n/a does not fail), 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import json

from lpdev.cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("conformance", help="run the remote-signer conformance suite against a signer URL",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--signer", required=True, help="signer URL (host:port means https, like the SDK)")
    p.add_argument("--eth-url", help="JSON-RPC URL of the signer's chain")
    p.add_argument("--controller", help="Controller address of the signer's chain")
    p.add_argument("--config", help="JSON with eth_url and controller, as written by `lpdev chain up` (.lpdev/chain.json) or "
                        "`lpdev up` (.lpdev/stack.json); instead of the above")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    p.add_argument("--only", action="append", help="run only cases whose name contains this (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.signer.conformance import run_conformance

    if not (args.config or args.eth_url or args.controller):
        raise UsageError("the suite needs the signer's chain: pass --eth-url URL --controller ADDR or --config FILE")
    from lpdev.commands.chain import _connect

    chain, _cfg = _connect(args)
    try:
        report = asyncio.run(run_conformance(args.signer, chain, timeout=args.timeout, only=args.only))
    finally:
        close = getattr(chain, "close", None)
        if close:
            close()
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1
