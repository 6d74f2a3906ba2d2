"""`lpdev orchestrator`: a fake go-livepeer orchestrator on one port (gRPC + HTTP), on a running chain.

    lpdev orchestrator --eth-url URL --controller ADDR (--eth-key HEX | --eth-key-file F)
                       [--service-addr https://127.0.0.1:8935] [--ticket-ev N] [--price-per-unit N[USD]]
                       [--pixels-per-unit N] [--max-face-value N] [--data-dir DIR] [--keep-cert]
                       [--http-port P] [--orch-secret S] [--live-runner-config runners.json]
                       [--live-runner-addr URL] [--runner KIND[:USD[/UNIT]] ...]
    lpdev orchestrator --config .lpdev/chain.json          (from `lpdev chain up --config-out`)

Live Runners (go-livepeer 0.9): runners register with POST /runners/heartbeat using --orch-secret (the SDK's
examples use abcdef), or come from a static --live-runner-config; clients find them at GET /discovery and reach
them through the orchestrator's reverse proxy. --http-port adds a cleartext HTTP entry (gRPC stays on TLS) for
clients that verify certificates; --runner starts lpdev's built-in dev runners (noop, echo, text; price in USD per
hour, 720p or fixed, e.g. noop:0.36 or text:0.01/fixed).

It issues real ticket params, checks every ticket the way go-livepeer does, and redeems the winners on chain;
winning tickets are kept in SQLite in the data dir and survive a crash. Runtime fault knobs and status:
``POST /admin/faults`` (JSON, loopback only), ``GET /admin/status``. All keys are throwaway dev keys.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from lpdev.cli import SECONDS, UsageError
from sim.wire import bounded

DEFAULT_CHAIN_CONFIG = os.path.join(".lpdev", "chain.json")
DEFAULT_DATA_DIR = os.path.join(".lpdev", "orchestrator")


def register(sub) -> None:
    p = sub.add_parser("orchestrator", help="run a fake orchestrator (gRPC + HTTP on one port) on a chain",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c = p.add_argument_group("chain")
    c.add_argument("--eth-url", help="JSON-RPC URL of the chain")
    c.add_argument("--controller", help="Controller address")
    c.add_argument("--config", help=f"chain config JSON from `lpdev chain up` (default {DEFAULT_CHAIN_CONFIG} "
                                    "if present and no --eth-url)")
    c.add_argument("--eth-key", help="orchestrator account private key (hex; a throwaway dev key)")
    c.add_argument("--eth-key-file", help="file holding the private key (hex)")
    c.add_argument("--timeout", type=SECONDS, default=10.0, help="seconds per RPC (default 10)")
    s = p.add_argument_group("service")
    s.add_argument("--service-addr", default="https://127.0.0.1:8935",
                   help="https://host:port (TLS, self-signed) or http://host:port (cleartext h2c + HTTP/1.1); "
                        "port 0 picks a free port (default https://127.0.0.1:8935)")
    s.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help=f"winning tickets DB and certificate "
                                                                 f"(default {DEFAULT_DATA_DIR})")
    s.add_argument("--keep-cert", action="store_true", help="reuse the certificate in the data dir instead of "
                                                             "regenerating it on each start (go-livepeer regenerates)")
    s.add_argument("--block-poll", type=SECONDS, default=1.0, help="seconds between chain polls (default 1)")
    m = p.add_argument_group("pricing and tickets")
    m.add_argument("--ticket-ev", type=_nonneg_int, default=8_000_000_000, help="-ticketEV in wei (default 8e9)")
    m.add_argument("--price-per-unit", type=_price, default=(1, "wei", "1"),
                   help="-pricePerUnit: wei, or go-livepeer's <price><currency> such as 0.5e-12USD (converted to wei "
                        "through the chain's ETH/USD feed) (default 1)")
    m.add_argument("--pixels-per-unit", type=_pos_int, default=1, help="-pixelsPerUnit (default 1)")
    m.add_argument("--max-face-value", type=_nonneg_int, default=0, help="-maxFaceValue in wei (0 = no cap)")
    m.add_argument("--redeem-gas", type=_pos_int, default=350_000, help="gas per redemption (default 350000)")
    m.add_argument("--auto-adjust-price", action=argparse.BooleanOptionalAction, default=True,
                   help="add the redemption overhead price×(1+1/txCostMultiplier) like go-livepeer's "
                        "-autoAdjustPrice (default on)")
    m.add_argument("--max-sessions", type=_pos_int, default=10, help="-maxSessions (default 10)")
    m.add_argument("--model", action="append", default=None,
                   help="live-video-to-video model to advertise (repeatable; default noop)")
    m.add_argument("--faults", default=None, metavar="JSON|FILE",
                   help='initial fault knobs as JSON, e.g. \'{"stop_redeeming": true}\', or a file holding it '
                        "(see POST /admin/faults)")
    r = p.add_argument_group("live runners")
    r.add_argument("--orch-secret", default=None, help="-orchSecret: the Authorization runners register with "
                                                       "(the SDK examples use abcdef); unset = dynamic registration "
                                                       "off (404), as in go-livepeer")
    r.add_argument("--live-runner-config", default=None, metavar="RUNNERS_JSON",
                   help="-liveRunnerConfig: static runners (label, runner_url, health_url, app, mode, capacity, ...)")
    r.add_argument("--live-runner-addr", default=None, metavar="URL",
                   help="-liveRunnerAddr: the base URL runners reach the orchestrator on (default: the entry they "
                        "registered on)")
    r.add_argument("--http-port", type=int, default=None, metavar="P",
                   help="also serve cleartext HTTP on port P of the same host (0 = free port): the Live Runner, "
                        "trickle and payment routes for clients that verify TLS; gRPC stays on the TLS port")
    r.add_argument("--runner", action="append", default=[], metavar="KIND[:USD[/UNIT]]",
                   help="start a built-in dev runner that registers over heartbeats (noop, echo, text; repeatable), "
                        "e.g. --runner echo --runner noop:0.36 --runner text:0.01/fixed; needs --orch-secret")
    r.add_argument("--no-free-runners", action="store_true",
                   help="refuse runners registered without a price (go-livepeer on chain: 400); by default lpdev "
                        "serves them free so the SDK examples (price 0) run")
    p.add_argument("--json", action="store_true", help="print one JSON line {url, address, data_dir} when ready")
    p.set_defaults(func=cmd_orchestrator)


_nonneg_int = bounded.argtype(bounded.parse_int, min=0)
_pos_int = bounded.argtype(bounded.parse_int, min=1)


def _price(text: str):
    from sim.orchestrator.node import parse_price_per_unit

    try:
        return (*parse_price_per_unit(text), text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hex_key(text: str, where: str) -> bytes:
    t = text.strip()
    t = t[2:] if t.lower().startswith("0x") else t
    try:
        k = bytes.fromhex(t)
    except ValueError:
        raise UsageError(f"{where}: not hex") from None
    if len(k) != 32:
        raise UsageError(f"{where}: want 32 bytes (64 hex digits), got {len(k)}")
    return k


def resolve(args) -> tuple[str, str, bytes, dict]:
    """(eth_url, controller, key, chain config doc)."""
    cfg: dict = {}
    path = args.config or (DEFAULT_CHAIN_CONFIG if not args.eth_url and os.path.exists(DEFAULT_CHAIN_CONFIG)
                           else None)
    if path:
        if not os.path.exists(path):
            raise UsageError(f"config file {path} not found: run `lpdev chain up --config-out {path}`")
        cfg = bounded.load_json_file(path)
        if not isinstance(cfg, dict):
            raise UsageError(f"{path}: want the JSON object `lpdev chain up --config-out` writes")
    eth_url = args.eth_url or cfg.get("eth_url")
    controller = args.controller or cfg.get("controller")
    if not isinstance(eth_url, str) or not isinstance(controller, str) or not eth_url or not controller:
        raise UsageError("no chain: pass --eth-url URL --controller ADDR, or --config FILE from `lpdev chain up`")
    if args.eth_key and args.eth_key_file:
        raise UsageError("give --eth-key or --eth-key-file, not both")
    if args.eth_key:
        key = _hex_key(args.eth_key, "--eth-key")
    elif args.eth_key_file:
        text = bounded.decode_text(bounded.read_bytes(args.eth_key_file, max_bytes=4096), what=args.eth_key_file)
        key = _hex_key(text, f"--eth-key-file {args.eth_key_file}")
    else:
        accounts = cfg.get("accounts")
        acct = next((a for a in accounts if isinstance(a, dict) and a.get("role") == "orchestrator"), None) \
            if isinstance(accounts, list) else None
        if acct is None or not isinstance(acct.get("private_key"), str):
            raise UsageError("--eth-key HEX or --eth-key-file F is required (no 'orchestrator' account in the config)")
        key = _hex_key(acct["private_key"], f"{path}: orchestrator private_key")
    return eth_url, controller, key, cfg


def cmd_orchestrator(args) -> int:
    eth_url, controller, key, cfg = resolve(args)
    faults = None
    if args.faults:
        faults = load_faults(args.faults)
        from sim.orchestrator.faults import FaultError, Faults

        try:
            Faults().update(dict(faults))  # refuse a bad knob now, before connecting to the chain
        except FaultError as exc:
            raise UsageError(f"--faults: {exc}") from None
    from devnet.base import ChainError
    from devnet.backends.evm import open_external
    from sim.orchestrator.faults import FaultError
    from sim.orchestrator.server import parse_service_addr

    try:
        parse_service_addr(args.service_addr)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from sim.runners import parse_runner_spec

    try:
        args.runner_specs = [parse_runner_spec(r) for r in args.runner]
    except ValueError as exc:
        raise UsageError(f"--runner: {exc}") from None
    if args.runner_specs and not args.orch_secret:
        raise UsageError("--runner needs --orch-secret: the dev runners register with it like SDK runners "
                         "(the SDK examples use abcdef)")
    if args.http_port is not None and not 0 <= args.http_port <= 65535:
        raise UsageError(f"--http-port {args.http_port}: not a port")
    try:
        chain = open_external(eth_url, controller, timeout=args.timeout)
    except ChainError as exc:
        raise UsageError(f"chain: {exc}") from None
    try:
        return asyncio.run(_serve(args, chain, key, faults))
    except FaultError as exc:
        raise UsageError(f"--faults: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.service_addr}"
                         f"{'' if args.http_port is None else f' / HTTP port {args.http_port}'}: {exc}") from None


def load_faults(value: str) -> dict:
    """``--faults``: a JSON object, or the path of a file holding one (bounded either way)."""
    if value.lstrip()[:1] in ("{", "[") or not os.path.exists(value):
        faults = bounded.loads_json(value, what="--faults")
    else:
        faults = bounded.load_json_file(value, what=f"--faults {value}")
    if not isinstance(faults, dict):
        raise UsageError("--faults: want a JSON object of fault knobs, e.g. '{\"stop_redeeming\": true}'")
    return faults


async def _serve(args, chain, key: bytes, faults: dict | None) -> int:
    from sim.orchestrator.server import OrchestratorServer
    from sim.pm.crypto import to_checksum_address

    from sim.orchestrator.live_runner import LiveRunnerConfig
    from sim.orchestrator.node import PriceFeedError
    from sim.runners import RegistrationError, start_dev_runner

    models = {m: args.max_sessions for m in (args.model or ["noop"])}
    price, currency, price_text = args.price_per_unit
    server = OrchestratorServer(
        chain, eth_key=key, data_dir=args.data_dir, service_addr=args.service_addr, keep_cert=args.keep_cert,
        block_poll_s=args.block_poll, faults=faults, ticket_ev=args.ticket_ev, price_per_unit=price,
        price_currency=currency, pixels_per_unit=args.pixels_per_unit, max_face_value=args.max_face_value,
        redeem_gas=args.redeem_gas, auto_adjust_price=args.auto_adjust_price, max_sessions=args.max_sessions,
        lv2v_models=models, http_port=args.http_port, orch_secret=args.orch_secret or None,
        live_runner_config=args.live_runner_config, live_runner_addr=args.live_runner_addr,
        runner_config=LiveRunnerConfig(free_runners=not args.no_free_runners))
    if currency == "usd":
        try:
            await asyncio.to_thread(server.orch.eth_usd)
        except PriceFeedError as exc:
            raise UsageError(f"--price-per-unit {price_text} needs an ETH/USD price feed on the chain: {exc}") from None
    try:
        await server.start()
    except ValueError as exc:  # a bad --live-runner-config
        raise UsageError(f"--live-runner-config: {exc}") from None
    runners = []
    try:
        for kind, usd, unit in args.runner_specs:
            runners.append(await start_dev_runner(kind, server.http_url or server.url, args.orch_secret, price=usd,
                                                  unit=unit))
    except RegistrationError as exc:
        for rn in runners:
            await rn.aclose()
        await server.stop()
        raise UsageError(f"--runner: the orchestrator refused the dev runner: {exc}") from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server._stop.set)
    addr = to_checksum_address(server.orch.address)
    counts = server.orch.store.counts()
    if args.json:
        print(json.dumps({"url": server.url, "http_url": server.http_url, "address": addr,
                          "data_dir": str(server.data_dir), "winners": counts, "orch_secret": args.orch_secret,
                          "runners": [{"kind": rn.kind, "runner_id": rn.runner_id, "app": rn.registration.app,
                                       "url": rn.url} for rn in runners]}), flush=True)
    else:
        print(f"lpdev orchestrator {addr} (throwaway dev key) listening on {server.url}\n"
              f"  gRPC net.Orchestrator + HTTP /payment, /refresh-payment on the same port "
              f"({'TLS, self-signed' if server.ssl_ctx else 'cleartext h2c + HTTP/1.1'})\n"
              f"  winning tickets: {server.data_dir / 'winners.sqlite'} {counts or '(empty)'}\n"
              f"  admin (loopback): GET {server.url}/admin/status, POST {server.url}/admin/faults", flush=True)
        print(_runner_lines(server, args, runners) + "  Ctrl-C to stop", flush=True)
    try:
        await server.serve_forever()
    finally:
        for rn in runners:
            await rn.aclose()
        await server.stop()
        chain.close()
    print("orchestrator stopped", file=sys.stderr, flush=True)
    return 0


def _runner_lines(server, args, runners) -> str:
    base = server.http_url or server.url
    out = []
    if server.http_url:
        out.append(f"  plain HTTP entry: {server.http_url} (HTTP routes, Live Runners, trickle; gRPC stays on TLS)")
    secret = args.orch_secret
    out.append(f"  live runners: GET {base}/discovery; "
               + (f"runners register with --orchSecret {secret} at {base}" if secret
                  else "dynamic registration off (--orch-secret)"))
    for rn in runners:
        out.append(f"    dev runner {rn.kind}: {rn.registration.app} id {rn.runner_id} "
                   f"({rn.registration.mode}, capacity {rn.registration.capacity}, "
                   f"{'free' if str(rn.registration.price) in ('0', '') else f'{rn.registration.price} USD/{rn.registration.unit}'})")
    return "\n".join(out) + "\n"
