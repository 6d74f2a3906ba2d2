"""`lpdev conformance`: which remote-signer dialect does a signer speak, and where does it depart from it?

    lpdev conformance --signer https://127.0.0.1:7936 --eth-url URL --controller ADDR [--metrics URL] [--json]
    lpdev conformance --signer 127.0.0.1:7936 --config .lpdev/chain.json [--profile livepeer-node]
    lpdev conformance                             # the signer of the running `lpdev up`, from any folder
    lpdev conformance --stack NAME                # ...of that one, when several run (`lpdev ps`)
    lpdev conformance --signer https://127.0.0.1:7936 --config .lpdev/stack.json   # a running `lpdev up`
    lpdev conformance --local livepeer-node       # lpdev's own signer with that profile, in process, mock chain

Every case sends the same requests to the signer and compares the replies with what each profile expects
(go-livepeer = v0.9.3, go-livepeer@0.9.1, livepeer-node): a matrix of pass / differs / n/a, then a verdict —
the profile the signer matches (no departure outside lpdev's own extensions), or the closest one and where it
departs. --profile NAME judges against one profile only (and lists its departures with what was expected and
seen). --json prints one JSON document for CI.

--config takes any JSON file with the chain's "eth_url" and "controller": the one `lpdev chain up` writes or the
stack.json (or --config-out file) of a running `lpdev up` (anvil chain). The suite reads the signer's chain (last
block, round, the signer's deposit, the ETH/USD feed) so the ticket params it makes up for a fictitious
orchestrator are valid there. --metrics URL is a livepeer-node signer's metrics listener (/healthz, /readyz).
--usd-rate says whether the signer's ETH/USD rate is fresh or stale when the suite cannot read the feed (or the
signer pins its rate). Exit code 0 when the signer matches a profile (--profile: that one), 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from lpdev.cli import UsageError


def register(sub) -> None:
    from lpdev.cli import SECONDS
    from sim.signer.profiles import PROFILE_NAMES

    p = sub.add_parser("conformance", help="which signer dialect a signer speaks: case x profile matrix, verdict",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t = p.add_mutually_exclusive_group()
    t.add_argument("--signer", help="signer URL (host:port means https, like the SDK)")
    t.add_argument("--local", choices=PROFILE_NAMES, metavar="PROFILE",
                   help="run lpdev's own signer with this profile in process (mock chain) and check it")
    p.add_argument("--eth-url", help="JSON-RPC URL of the signer's chain")
    p.add_argument("--controller", help="Controller address of the signer's chain")
    p.add_argument("--config", help="JSON with eth_url and controller, as written by `lpdev chain up` (.lpdev/chain.json) or "
                        "`lpdev up` (.lpdev/stack.json); instead of the above")
    p.add_argument("--stack", metavar="NAME", help="check the signer of the running `lpdev up` stack NAME on its "
                                                  "chain (`lpdev ps`); the default with no --signer/--local: the only "
                                                  "running stack")
    p.add_argument("--profile", choices=PROFILE_NAMES, help="judge against this profile only")
    p.add_argument("--metrics", help="the signer's metrics listener URL (livepeer-node: /healthz, /readyz)")
    p.add_argument("--usd-rate", choices=("auto", "fresh", "stale", "unknown"), default="auto",
                   help="the signer's ETH/USD rate (default auto: read the chain's feed)")
    p.add_argument("--timeout", type=SECONDS, default=10.0, help="seconds per request (default 10)")
    p.add_argument("--only", action="append", help="run only cases whose name contains this (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=run)


def run(args) -> int:
    from sim.signer.conformance import run_matrix

    profiles = [args.profile] if args.profile else None
    kw = dict(profiles=profiles, usd=args.usd_rate, timeout=args.timeout, only=args.only)
    if args.local:
        if args.eth_url or args.controller or args.config or args.metrics or args.stack:
            raise UsageError("--local runs its own signer and chain: drop --eth-url/--controller/--config/--metrics/"
                             "--stack")
        report = asyncio.run(_local(args.local, kw))
    else:
        if not args.signer:
            if args.eth_url or args.controller or args.config:
                raise UsageError("pass --signer URL with the signer's chain (or --local PROFILE)")
            from stack.cast import CastError, find_cast

            try:
                doc = find_cast(None, args.stack)
            except CastError as exc:
                raise UsageError(f"{exc}; or pass --signer URL with the signer's chain, or --local PROFILE") from None
            args.signer, args.stack = doc.get("signer_url"), doc.get("name")
            if args.metrics is None and doc.get("signers"):
                args.metrics = doc["signers"][0].get("metrics_url")
            print(f"checking the signer of stack {args.stack!r}: {args.signer}", file=sys.stderr)
        if not (args.config or args.eth_url or args.controller or args.stack):
            raise UsageError("the suite needs the signer's chain: pass --eth-url URL --controller ADDR or "
                             "--config FILE")
        from lpdev.commands.chain import _connect
        chain, _cfg = _connect(args)
        try:
            report = asyncio.run(run_matrix(args.signer, chain, metrics_url=args.metrics, **kw))
        finally:
            close = getattr(chain, "close", None)
            if close:
                close()
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.ok else 1


async def _local(profile: str, kw: dict):
    """lpdev's signer with ``profile`` on an in-process mock chain, checked over loopback HTTP."""
    import devnet
    from sim.clock import RealClock
    from sim.signer.config import SignerConfig
    from sim.signer.conformance import run_matrix
    from sim.signer.core import SignerCore
    from sim.signer.http import SignerServer
    from sim.signer.usd import feed_problem

    chain = devnet.open_chain("mock")
    cfg = SignerConfig(profile=profile)
    if getattr(chain, "eth_usd", None) is None or feed_problem(chain):
        # a chain without a readable ETH/USD feed: pin the rate (livepeer-node WeiPerUSD) at 3000 USD/ETH
        from fractions import Fraction

        cfg.wei_per_usd = Fraction(10**18, 3000)
        if kw.get("usd") == "auto":
            kw = {**kw, "usd": "fresh"}
    core = SignerCore(key=chain.key("sender"), chain=chain, config=cfg, clock=RealClock())
    async with SignerServer(core) as s:
        return await run_matrix(s.url, chain, metrics_url=s.metrics_url, **kw)
