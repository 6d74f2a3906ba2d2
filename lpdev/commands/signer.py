"""`lpdev signer`: run a remote signer (docs/remote-signer.md) on a chain, in the dialect of your choice.

    lpdev signer --eth-url URL --controller ADDR (--eth-key HEX | --eth-key-file F) [--http-addr 127.0.0.1:7936]
                 [--profile go-livepeer|go-livepeer@0.9.1|livepeer-node]
                 [--tls] [--max-price-per-unit N|NUSD] [--pixels-per-unit N] [--max-price-per-capability JSON|FILE]
                 [--max-ticket-ev N] [--max-total-ev N] [--deposit-multiplier N]
                 [--remote-signer-webhook-url URL] [--remote-signer-webhook-headers 'k:v,...']
                 [--remote-discovery --orch-addr URL,...] [--allow-no-auth]
    lpdev signer --config .lpdev/chain.json      (chain and the "sender" dev key from `lpdev chain up`)
    lpdev signer --mock-chain                    (an in-process mock chain; nothing else needed)
    lpdev signer --list-profiles                 (every profile's facts: value, source, read or inferred)

Profiles (dialects): go-livepeer (default: the latest mainline, v0.9.3 — refresh at nonce 500, USD prices,
needs an ETH/USD feed on the chain), go-livepeer@0.9.1, livepeer-node (the livepeer/node livepeer-signer: its
check order, flat error envelope, statuses, 16-field state, live/fixed only, USD ceilings --max-hourly-price-usd /
--max-fixed-price-usd, /healthz /readyz /metrics on --metrics-addr, 64-request busy limit).

go-livepeer profiles bind loopback by default (":port" means 127.0.0.1:port, #3959) and refuse a non-loopback
address unless an auth webhook is configured or --allow-no-auth is given. livepeer-node listens where told
(":port" = every interface) and only warns. Keys are throwaway dev keys; never use a real one here.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from fractions import Fraction

from lpdev.cli import SECONDS, UsageError
from sim.wire import bounded

DEFAULT_HTTP_ADDR = "127.0.0.1:7936"  # go-livepeer profiles; livepeer-node: 127.0.0.1:8937


def register(sub) -> None:
    p = sub.add_parser("signer", help="run a remote signer (go-livepeer -remoteSigner compatible)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from sim.signer.profiles import DEFAULT_PROFILE, PROFILE_NAMES

    d = p.add_argument_group("dialect")
    d.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILE_NAMES,
                   help=f"which signer to behave like (default {DEFAULT_PROFILE}: the latest go-livepeer, v0.9.3)")
    d.add_argument("--list-profiles", action="store_true",
                   help="print every profile's facts (value, source, read or inferred) and exit")
    g = p.add_argument_group("chain")
    g.add_argument("--eth-url", help="JSON-RPC URL of the chain")
    g.add_argument("--controller", help="Controller contract address")
    g.add_argument("--config", help="config JSON written by `lpdev chain up --config-out` (instead of the above)")
    g.add_argument("--mock-chain", action="store_true", help="use an in-process mock chain (quick local runs)")
    g.add_argument("--timeout", type=SECONDS, default=5.0, help="seconds per chain RPC (default 5)")
    k = p.add_argument_group("key (throwaway dev key)")
    k.add_argument("--eth-key", help="signer private key, hex")
    k.add_argument("--eth-key-file", help="file holding the signer private key in hex")
    h = p.add_argument_group("HTTP")
    h.add_argument("--http-addr", default=None,
                   help=f"listen address (default {DEFAULT_HTTP_ADDR}; livepeer-node 127.0.0.1:8937)")
    h.add_argument("--metrics-addr", default=None,
                   help="livepeer-node: /healthz, /readyz and /metrics listener (default 127.0.0.1:8938)")
    h.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    h.add_argument("--allow-no-auth", action="store_true",
                   help="allow a non-loopback address without an auth webhook (-remoteSignerAllowNoAuth)")
    pr = p.add_argument_group("prices and limits (wei)")
    pr.add_argument("--max-price-per-unit", default="0",
                    help="max price per --pixels-per-unit in wei, or USD with a USD suffix (0.5e-12USD, converted "
                         "through the chain's ETH/USD feed); 0 = any. go-livepeer profiles")
    pr.add_argument("--pixels-per-unit", default="1", help="integer > 0 (default 1)")
    pr.add_argument("--max-price-per-capability", default="",
                    help='JSON or file: {"capabilities_prices":[{"pipeline","model_id","price_per_unit",'
                         '"pixels_per_unit","currency"}]}')
    pr.add_argument("--max-ticket-ev", default="3000000000000", help="per-ticket EV limit (default 3e12)")
    pr.add_argument("--max-total-ev", default="20000000000000", help="EV limit per batch (default 2e13)")
    pr.add_argument("--deposit-multiplier", type=bounded.argtype(bounded.parse_int, min=1), default=1,
                    help="faceValue <= deposit / N (default 1)")
    pr.add_argument("--allow-state-replay", action="store_true",
                    help="be stateless like go-livepeer: accept superseded or replayed state blobs and take nonces "
                         "from the state alone (lpdev refuses replays with 400 'invalid state: …' and never reuses "
                         "a nonce by default); use it to reproduce duplicate-nonce failures")
    u = p.add_argument_group("USD (livepeer-node ceilings; exact decimals or a/b)")
    u.add_argument("--max-hourly-price-usd", default=None, help="live ceiling in USD per hour (default 36)")
    u.add_argument("--max-fixed-price-usd", default=None, help="fixed ceiling in USD per job (default 1)")
    u.add_argument("--wei-per-usd", default=None, help="pin the rate (node WeiPerUSD) instead of reading the feed")
    u.add_argument("--eth-usd-max-age", type=SECONDS, default=None,
                   help="seconds the feed's answer stays usable (livepeer-node default 7200)")
    w = p.add_argument_group("auth webhook and discovery")
    w.add_argument("--remote-signer-webhook-url", help="POSTed {headers, state} before each signing")
    w.add_argument("--remote-signer-webhook-headers", default="", help="'k:v,k2:v2' sent to the webhook")
    w.add_argument("--remote-discovery", action="store_true", help="serve GET /discover-orchestrators")
    w.add_argument("--orch-addr", default="", help="orchestrators for discovery, comma-separated host:port/URLs")
    w.add_argument("--discovery-refresh", type=bounded.argtype(bounded.parse_float, min=0.0, max=86400.0),
                   default=60.0, help="discovery cache seconds (default 60)")
    p.add_argument("--trace", help="write every event to this JSONL trace")


def parse_http_addr(text: str, port_only_host: str = "0.0.0.0", flag: str = "--http-addr") -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (``port_only_host``: go-livepeer's signer makes it 127.0.0.1,
    #3959; a plain Go listener every interface)."""
    t = text.strip()
    if t.startswith("["):
        host, _, port = t[1:].partition("]:")
    else:
        host, sep, port = t.rpartition(":")
        if not sep:
            raise UsageError(f"{flag} {t[:80]!r}: want host:port")
    if not port.isdigit():
        raise UsageError(f"{flag} {t[:80]!r}: port {port[:20]!r} is not a number")
    p = bounded.parse_int(port, what=f"{flag} {t[:80]!r}: port", min=0, max=65535)
    return (host or port_only_host), p


def _usd_amount(text: str | None, flag: str) -> Fraction | None:
    from sim.pm.money import RatParseError
    from sim.signer.config import parse_number

    if text is None:
        return None
    try:
        v = parse_number(text, what=flag)
    except RatParseError:
        raise UsageError(f"{flag} {str(text)[:40]!r}: not a number (want e.g. 36, 0.5 or 1/3)") from None
    if v <= 0:
        raise UsageError(f"{flag} must be > 0")
    return v


def signer_config(args):
    """A :class:`SignerConfig` from the flags; :class:`UsageError` naming the flag on bad input."""
    from sim.pm.sender import SenderLimits
    from sim.signer.config import ConfigError, SignerConfig, parse_capability_max_prices, parse_price, \
        parse_webhook_headers

    from sim.signer.profiles import get_profile

    profile = get_profile(args.profile)
    try:
        ppu = parse_price(args.pixels_per_unit, "--pixels-per-unit")
        if ppu <= 0 or ppu.denominator != 1:
            raise ConfigError(f"--pixels-per-unit {args.pixels_per_unit!r}: must be an integer > 0")
        mppu = parse_price(args.max_price_per_unit, "--max-price-per-unit", usd=profile.usd_max_price)
        mppu_usd = None
        if isinstance(mppu, tuple):
            mppu_usd, mppu = mppu[1], Fraction(0)
            if mppu_usd <= 0:
                raise ConfigError("--max-price-per-unit must be > 0 USD")
        if mppu < 0:
            raise ConfigError("--max-price-per-unit must be >= 0")
        if not profile.wei_ceiling and mppu > 0:
            raise ConfigError(f"--max-price-per-unit: the {profile.name} signer has no wei ceiling; use "
                              "--max-hourly-price-usd / --max-fixed-price-usd")
        cap_text, what = args.max_price_per_capability or "", "--max-price-per-capability"
        if cap_text and not cap_text.lstrip().startswith("{") and os.path.exists(cap_text):  # Go: JSON or a file
            what = f"--max-price-per-capability {cap_text}"
            cap_text = bounded.read_bytes(cap_text, what=what)
        caps = parse_capability_max_prices(cap_text, pixels_per_unit=ppu, max_price_per_unit=mppu, what=what)
        limits = SenderLimits(max_ticket_ev=parse_price(args.max_ticket_ev, "--max-ticket-ev"),
                              max_total_ev=parse_price(args.max_total_ev, "--max-total-ev"),
                              deposit_multiplier=args.deposit_multiplier)
        headers = parse_webhook_headers(args.remote_signer_webhook_headers)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    orchs = tuple(a.strip() for a in (args.orch_addr or "").split(",") if a.strip())
    if orchs and not args.remote_discovery:
        raise UsageError("--orch-addr is only used with --remote-discovery")
    url = args.remote_signer_webhook_url or None
    if url and "://" not in url:
        raise UsageError(f"--remote-signer-webhook-url {url!r}: want http(s)://host:port/path")
    usd = {"max_hourly_price_usd": _usd_amount(args.max_hourly_price_usd, "--max-hourly-price-usd"),
           "max_fixed_price_usd": _usd_amount(args.max_fixed_price_usd, "--max-fixed-price-usd"),
           "wei_per_usd": _usd_amount(args.wei_per_usd, "--wei-per-usd")}
    if not profile.usd_ceilings:
        given = [f"--{k.replace('_', '-')}" for k, v in usd.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: only the livepeer-node profile has USD ceilings")
    return SignerConfig(max_price=(mppu / ppu) if mppu > 0 else None, capability_max_prices=caps, limits=limits,
                        webhook_url=url, webhook_headers=headers, remote_discovery=args.remote_discovery,
                        orch_addrs=orchs, discovery_refresh_s=args.discovery_refresh,
                        replay_protection=not args.allow_state_replay, profile=profile.name,
                        max_price_usd=(mppu_usd / ppu) if mppu_usd else None,
                        eth_usd_max_age_s=args.eth_usd_max_age, **usd)


def signer_key(args, cfg: dict) -> bytes:
    text, source = None, "--eth-key"
    if args.eth_key:
        text = args.eth_key
    elif args.eth_key_file:
        source = f"--eth-key-file {args.eth_key_file}"
        text = bounded.decode_text(bounded.read_bytes(args.eth_key_file, what=source, max_bytes=4096), what=source)
        text = text.strip()
    if text is None:
        accounts = cfg.get("accounts")
        for a in accounts if isinstance(accounts, list) else []:
            if isinstance(a, dict) and a.get("role") == "sender" and isinstance(a.get("private_key"), str):
                text, source = a["private_key"], f"--config {args.config}: the sender's private_key"
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
        raise UsageError(f"{source}: the signer key must be 32 bytes of hex")
    return b


def open_chain_for(args):
    """-> (ChainView, chain config dict)."""
    if args.mock_chain:
        import devnet

        return devnet.open_chain("mock"), {}
    if not (args.config or args.eth_url or args.controller):
        raise UsageError("no chain given: pass --eth-url URL --controller ADDR, --config FILE, or --mock-chain")
    from lpdev.commands.chain import _connect

    return _connect(args)  # --config goes through chain._load_config, the bounded loader


def _listen(args, profile) -> tuple[str, int, tuple[str, int] | None]:
    port_only = "127.0.0.1" if profile.port_only_addr == "loopback" else "0.0.0.0"
    host, port = parse_http_addr(args.http_addr or profile.http_default, port_only)
    metrics = None
    if profile.health_endpoints:
        metrics = parse_http_addr(args.metrics_addr or profile.metrics_default, port_only, "--metrics-addr")
    elif args.metrics_addr:
        raise UsageError(f"--metrics-addr: the {profile.name} signer has no health/metrics listener")
    return host, port, metrics


def feed_check(profile, config, chain) -> str | None:
    """A line saying why this signer must not start on this chain's ETH/USD feed, or None. Prints a note
    when the chain view cannot say (no ``eth_usd`` interface)."""
    from sim.signer.usd import feed_problem

    needs = profile.requires_price_feed or config.max_price_usd is not None
    if not needs:
        return None
    if getattr(chain, "eth_usd", None) is None:
        print("note: this chain view has no ETH/USD feed interface; the feed requirement is not checked",
              file=sys.stderr)
        return None
    problem = feed_problem(chain)
    if problem is None:
        return None
    why = ("go-livepeer v0.9.3 (#4095) refuses to start without an ETH/USD price feed"
           if profile.requires_price_feed else "--max-price-per-unit in USD needs an ETH/USD price feed")
    return f"{why}: {problem} (or run --profile go-livepeer@0.9.1)"


def run(args) -> int:
    from sim.signer.http import is_loopback
    from sim.signer.profiles import PROFILES, get_profile, profile_table

    if args.list_profiles:
        print("\n\n".join(profile_table(p) for p in PROFILES.values()))
        return 0
    profile = get_profile(args.profile)
    host, port, metrics = _listen(args, profile)
    config = signer_config(args)
    addr = args.http_addr or profile.http_default
    if not is_loopback(host) and not config.webhook_url and not args.allow_no_auth:
        if profile.refuse_public_without_auth:
            raise UsageError(f"refusing to serve on non-loopback address {addr} without auth: set "
                             "--remote-signer-webhook-url, or --allow-no-auth if you really mean it")
        print(f"WARNING: {profile.name} signer on non-loopback address {addr} with no auth webhook signs "
              "payments from this key's deposit for any caller", file=sys.stderr)
    chain, cfg = open_chain_for(args)
    try:
        key = signer_key(args, cfg)
        problem = feed_check(profile, config, chain)
        if problem:
            raise UsageError(problem)
        return asyncio.run(_serve(args, host, port, config, chain, key, metrics))
    except KeyboardInterrupt:
        return 130
    finally:
        close = getattr(chain, "close", None)
        if close:
            close()


async def _serve(args, host: str, port: int, config, chain, key: bytes, metrics=None) -> int:
    from sim.clock import RealClock
    from sim.events import EventBus, TraceError, TraceWriter
    from sim.signer.core import SignerCore
    from sim.signer.discovery import Discovery, GrpcDiscoverySource
    from sim.signer.http import SignerServer

    clock = RealClock()
    bus = EventBus(clock)
    trace = None
    if args.trace:
        try:
            trace = TraceWriter(args.trace, actor="signer")
        except TraceError as exc:  # a directory, a missing folder, no permission: one line, exit 2
            raise UsageError(f"--trace {exc}") from None
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
    mkw = {"metrics_host": metrics[0], "metrics_port": metrics[1]} if metrics else {"metrics_port": False}
    server = SignerServer(core, host=host, port=port, tls=args.tls, discovery=discovery, announce=True, **mkw)
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.http_addr or host + ':' + str(port)} "
                         f"(or its metrics address): {exc.strerror or exc}") from None
    info = core.chain.get()
    prof = core.profile
    if prof.usd_ceilings:
        ceiling = f"USD {core.max_hourly_price_usd}/h live, {core.max_fixed_price_usd}/job fixed"
    elif config.max_price_usd is not None:
        ceiling = f"{config.max_price_usd} USD"
    else:
        ceiling = "any" if config.max_price is None else str(config.max_price)
    print(f"lpdev signer listening on {server.url}  address {core.address_hex} (throwaway dev key)\n"
          f"  profile {prof.name} ({prof.title})" +
          (f"; health and metrics on {server.metrics_url}" if server.metrics_url else "") + "\n"
          f"  chain block {info.last_block}, round {info.last_initialized_round}, deposit {info.sender_info.deposit}"
          f" wei, reserve {info.sender_info.reserve} wei; max price {ceiling}; webhook "
          f"{config.webhook_url or 'none'}; discovery {'on' if discovery else 'off'}", flush=True)
    if prof.usd_ceilings:
        rate, why = await asyncio.to_thread(core.usd.rate)
        if rate is None:
            print(f"WARNING: {why}: every payment answers 503 'signer USD conversion rate unavailable' until the "
                  "chain's ETH/USD feed answers (or pin a rate with --wei-per-usd)", file=sys.stderr, flush=True)
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
