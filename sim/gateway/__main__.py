"""``python -m sim.gateway``: the scripted gateway as a process, against any signer(s) and orchestrator.

    python -m sim.gateway --signer http://127.0.0.1:8081 --orchestrator https://127.0.0.1:8935 \\
        --type lv2v --interval 5 --count 10

Prints one JSON event per line (the ``gateway.*`` vocabulary of sim.events) and a final summary line; exit 0
when every payment was accepted. Runs on the wall clock (``--interval`` seconds between payments).
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from sim.clock import RealClock
from sim.events import EventBus, dumps
from sim.gateway.session import GatewayConfig, GatewaySession
from sim.wire import bounded


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sim.gateway", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--signer", action="append", required=True, metavar="URL",
                   help="remote signer URL (repeat for round-robin over stateless signers)")
    p.add_argument("--orchestrator", required=True, metavar="URL", help="orchestrator service URI (https:// or http://)")
    p.add_argument("--type", default="lv2v", choices=("", "live", "lv2v", "fixed"), help="job type (default lv2v)")
    p.add_argument("--in-pixels", type=bounded.argtype(bounded.parse_int, min=0), default=0,
                   help="billable units for type \"\"")
    p.add_argument("--manifest-id", default="auto",
                   help="'auto' (the id the first payment was credited to), a fixed id, or '' for none")
    p.add_argument("--interval", type=bounded.argtype(bounded.parse_float, min=0), default=5.0,
                   help="seconds between payments (default 5)")
    p.add_argument("--count", type=int, default=1, help="payments to make (default 1)")
    p.add_argument("--max-price", default=None, metavar="JSON", help='request maxPrice, e.g. {"price":"5","currency":"wei","unit":"seconds"}')
    p.add_argument("--signer-header", action="append", default=[], metavar="K:V", help="extra header to the signer")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be >= 1")
    if args.interval < 0:
        p.error("--interval must be >= 0")
    try:
        args.max_price = bounded.loads_json(args.max_price, what="--max-price") if args.max_price else None
    except bounded.BoundedInputError as exc:
        p.error(str(exc))
    headers = {}
    for h in args.signer_header:
        if ":" not in h:
            p.error(f"--signer-header {h!r}: expected K:V")
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    args.headers = headers
    return args


async def amain(args) -> int:
    clock = RealClock()
    bus = EventBus(clock)
    bus.subscribe(lambda e: print(e.to_json(), flush=True))
    cfg = GatewayConfig(job_type=args.type, in_pixels=args.in_pixels, manifest_id=args.manifest_id,
                        max_price=args.max_price, interval_s=args.interval, signer_headers=args.headers)
    g = GatewaySession(cfg, signer_urls=args.signer, orchestrator_url=args.orchestrator, bus=bus, clock=clock)
    try:
        await g.start()
        outs = await g.pay(args.count)
    except Exception as exc:  # start failed: say why, no traceback
        print(dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    finally:
        await g.close()
    summary = {"payments": g.payments, "tickets": g.tickets, "outcomes": [o.status for o in outs]}
    print(dumps({"summary": summary}), flush=True)
    return 0 if outs and all(o.status == "paid" for o in outs) else 1


def main(argv=None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
