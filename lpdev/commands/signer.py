"""`lpdev signer`: run a go-livepeer-compatible remote signer (protocol.md §3) on a chain.

    lpdev signer --eth-url URL --controller ADDR (--eth-key HEX | --eth-key-file F) [--http-addr 127.0.0.1:7936]
                 [--tls] [--max-price-per-unit N] [--pixels-per-unit N] [--max-price-per-capability JSON|FILE]
                 [--max-ticket-ev N] [--max-total-ev N] [--deposit-multiplier N]
                 [--remote-signer-webhook-url URL] [--remote-signer-webhook-headers 'k:v,...']
                 [--remote-discovery --orch-addr URL,...] [--allow-no-auth]
    lpdev signer --config .lpdev/chain.json      (chain and the "sender" dev key from `lpdev chain up`)
    lpdev signer --mock-chain                    (an in-process mock chain; nothing else needed)

Binds loopback by default and, like go-livepeer, refuses a non-loopback address unless an auth webhook is
configured or --allow-no-auth is given. Keys are throwaway dev keys; never use a real one here.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from fractions import Fraction

from lpdev.cli import UsageError

DEFAULT_HTTP_ADDR = "127.0.0.1:7936"


def register(sub) -> None:
    p = sub.add_parser("signer", help="run a remote signer (go-livepeer -remoteSigner compatible)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chain")
    g.add_argument("--eth-url", help="JSON-RPC URL of the chain")
    g.add_argument("--controller", help="Controller contract address")
    g.add_argument("--config", help="config JSON written by `lpdev chain up --config-out` (instead of the above)")
    g.add_argument("--mock-chain", action="store_true", help="use an in-process mock chain (quick local runs)")
    g.add_argument("--timeout", type=float, default=5.0, help="seconds per chain RPC (default 5)")
    k = p.add_argument_group("key (throwaway dev key)")
    k.add_argument("--eth-key", help="signer private key, hex")
    k.add_argument("--eth-key-file", help="file holding the signer private key in hex")
    h = p.add_argument_group("HTTP")
    h.add_argument("--http-addr", default=DEFAULT_HTTP_ADDR, help=f"listen address (default {DEFAULT_HTTP_ADDR})")
    h.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    h.add_argument("--allow-no-auth", action="store_true",
                   help="allow a non-loopback address without an auth webhook (-remoteSignerAllowNoAuth)")
    pr = p.add_argument_group("prices and limits (wei)")
    pr.add_argument("--max-price-per-unit", default="0", help="max price per --pixels-per-unit; 0 = any")
    pr.add_argument("--pixels-per-unit", default="1", help="integer > 0 (default 1)")
    pr.add_argument("--max-price-per-capability", default="",
                    help='JSON or file: {"capabilities_prices":[{"pipeline","model_id","price_per_unit",'
                         '"pixels_per_unit","currency"}]}')
    pr.add_argument("--max-ticket-ev", default="3000000000000", help="per-ticket EV limit (default 3e12)")
    pr.add_argument("--max-total-ev", default="20000000000000", help="EV limit per batch (default 2e13)")
    pr.add_argument("--deposit-multiplier", type=int, default=1, help="faceValue <= deposit / N (default 1)")
    pr.add_argument("--allow-state-replay", action="store_true",
                    help="be stateless like go-livepeer: accept superseded or replayed state blobs and take nonces "
                         "from the state alone (lpdev refuses replays with 400 'invalid state: …' and never reuses "
                         "a nonce by default); use it to reproduce duplicate-nonce failures")
    w = p.add_argument_group("auth webhook and discovery")
    w.add_argument("--remote-signer-webhook-url", help="POSTed {headers, state} before each signing")
    w.add_argument("--remote-signer-webhook-headers", default="", help="'k:v,k2:v2' sent to the webhook")
    w.add_argument("--remote-discovery", action="store_true", help="serve GET /discover-orchestrators")
    w.add_argument("--orch-addr", default="", help="orchestrators for discovery, comma-separated host:port/URLs")
    w.add_argument("--discovery-refresh", type=float, default=60.0, help="discovery cache seconds (default 60)")
    p.add_argument("--trace", help="write every event to this JSONL trace")


def parse_http_addr(text: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces, as in Go)."""
    t = text.strip()
    if t.startswith("["):
        host, _, port = t[1:].partition("]:")
    else:
        host, sep, port = t.rpartition(":")
        if not sep:
            raise UsageError(f"--http-addr {text!r}: want host:port")
    try:
        p = int(port)
    except ValueError:
        raise UsageError(f"--http-addr {text!r}: port {port!r} is not a number") from None
    if not 0 <= p <= 65535:
        raise UsageError(f"--http-addr {text!r}: port out of range")
    return (host or "0.0.0.0"), p


def signer_config(args):
    """A :class:`SignerConfig` from the flags; :class:`UsageError` naming the flag on bad input."""
    from sim.pm.sender import SenderLimits
    from sim.signer.config import ConfigError, SignerConfig, parse_capability_max_prices, parse_price, \
        parse_webhook_headers

    try:
        ppu = parse_price(args.pixels_per_unit, "--pixels-per-unit")
        if ppu <= 0 or ppu.denominator != 1:
            raise ConfigError(f"--pixels-per-unit {args.pixels_per_unit!r}: must be an integer > 0")
        mppu = parse_price(args.max_price_per_unit, "--max-price-per-unit")
        if mppu < 0:
            raise ConfigError("--max-price-per-unit must be >= 0")
        cap_text = args.max_price_per_capability or ""
        if cap_text and not cap_text.lstrip().startswith("{") and os.path.exists(cap_text):
            with open(cap_text) as f:
                cap_text = f.read()
        caps = parse_capability_max_prices(cap_text, pixels_per_unit=ppu, max_price_per_unit=mppu)
        limits = SenderLimits(max_ticket_ev=parse_price(args.max_ticket_ev, "--max-ticket-ev"),
                              max_total_ev=parse_price(args.max_total_ev, "--max-total-ev"),
                              deposit_multiplier=args.deposit_multiplier)
        if args.deposit_multiplier <= 0:
            raise ConfigError("--deposit-multiplier must be > 0")
        headers = parse_webhook_headers(args.remote_signer_webhook_headers)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    orchs = tuple(a.strip() for a in (args.orch_addr or "").split(",") if a.strip())
    if orchs and not args.remote_discovery:
        raise UsageError("--orch-addr is only used with --remote-discovery")
    url = args.remote_signer_webhook_url or None
    if url and "://" not in url:
        raise UsageError(f"--remote-signer-webhook-url {url!r}: want http(s)://host:port/path")
    return SignerConfig(max_price=(mppu / ppu) if mppu > 0 else None, capability_max_prices=caps, limits=limits,
                        webhook_url=url, webhook_headers=headers, remote_discovery=args.remote_discovery,
                        orch_addrs=orchs, discovery_refresh_s=args.discovery_refresh,
                        replay_protection=not args.allow_state_replay)


def signer_key(args, cfg: dict) -> bytes:
    text = None
    if args.eth_key:
        text = args.eth_key
    elif args.eth_key_file:
        try:
            with open(args.eth_key_file) as f:
                text = f.read().strip()
        except OSError as exc:
            raise UsageError(f"--eth-key-file: {exc}") from None
    if text is None:
        for a in cfg.get("accounts", []):
            if a.get("role") == "sender":
                text = a["private_key"]
    if text is None and args.mock_chain:
        from devnet.config import DevnetConfig

        return DevnetConfig().key("sender")
    if text is None:
        raise UsageError("no signer key: pass --eth-key HEX or --eth-key-file F (or --config from `lpdev chain up`)")
    t = text[2:] if text.lower().startswith("0x") else text
    try:
        b = bytes.fromhex(t)
    except ValueError:
        b = b""
    if len(b) != 32:
        raise UsageError("the signer key must be 32 bytes of hex")
    return b


def open_chain_for(args):
    """-> (ChainView, chain config dict)."""
    if args.mock_chain:
        import devnet

        return devnet.open_chain("mock"), {}
    if not (args.config or args.eth_url or args.controller):
        raise UsageError("no chain given: pass --eth-url URL --controller ADDR, --config FILE, or --mock-chain")
    from lpdev.commands.chain import _connect

    return _connect(args)


def run(args) -> int:
    from sim.signer.http import is_loopback

    host, port = parse_http_addr(args.http_addr)
    config = signer_config(args)
    if not is_loopback(host) and not config.webhook_url and not args.allow_no_auth:
        raise UsageError(f"refusing to serve on non-loopback address {args.http_addr} without auth: set "
                         "--remote-signer-webhook-url, or --allow-no-auth if you really mean it")
    chain, cfg = open_chain_for(args)
    key = signer_key(args, cfg)
    try:
        return asyncio.run(_serve(args, host, port, config, chain, key))
    except KeyboardInterrupt:
        return 130
    finally:
        close = getattr(chain, "close", None)
        if close:
            close()


async def _serve(args, host: str, port: int, config, chain, key: bytes) -> int:
    from sim.clock import RealClock
    from sim.events import EventBus, TraceWriter
    from sim.signer.core import SignerCore
    from sim.signer.discovery import Discovery, GrpcDiscoverySource
    from sim.signer.http import SignerServer

    clock = RealClock()
    bus = EventBus(clock)
    trace = None
    if args.trace:
        trace = TraceWriter(args.trace, actor="signer")
        bus.subscribe(trace)
    core = SignerCore(key=key, chain=chain, config=config, clock=clock, events=bus)
    discovery = None
    if config.remote_discovery:
        discovery = Discovery(GrpcDiscoverySource(config.orch_addrs, key), config, clock)
    # warm the chain cache now so a broken chain fails at start, not on the first request
    try:
        await asyncio.to_thread(core.chain.get)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"cannot read the chain: {exc}") from None
    server = SignerServer(core, host=host, port=port, tls=args.tls, discovery=discovery)
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.http_addr}: {exc.strerror or exc}") from None
    info = core.chain.get()
    print(f"lpdev signer listening on {server.url}  address {core.address_hex} (throwaway dev key)\n"
          f"  chain block {info.last_block}, round {info.last_initialized_round}, deposit {info.sender_info.deposit}"
          f" wei, reserve {info.sender_info.reserve} wei; max price "
          f"{'any' if config.max_price is None else config.max_price}; webhook "
          f"{config.webhook_url or 'none'}; discovery {'on' if discovery else 'off'}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread / Windows
            pass
    try:
        await stop.wait()
    finally:
        await server.stop()
        if trace:
            trace.close()
        print("lpdev signer stopped", file=sys.stderr)
    return 0


__all__ = ["register", "add_arguments", "run", "signer_config", "signer_key", "parse_http_addr", "Fraction"]
