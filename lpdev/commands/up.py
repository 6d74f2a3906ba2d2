"""`lpdev up`: the whole local stack in one command — chain, remote signer, fake orchestrator, scripted gateway.

    lpdev up [--chain anvil|embedded|mock] [--orchestrators N] [--signers N] [--gateway | --no-gateway]
             [--headless] [--config-out FILE] [--seed N] [--config lpdev.toml] [--remote-discovery] [--any-port]
             [--lv2v-job] [--scenario NAME|FILE [--keep-running]] [--runner KIND[:USD[/UNIT]] | --no-runners]
             [--name NAME] [--data-dir DIR] [--resume]
    lpdev up --fork-url URL [--fork-block N] [--controller ADDR] [--orchestrator-address ADDR]

Foreground: Ctrl-C (or SIGTERM) stops everything it started, anvil included. When every service answers it
prints the cast (chain, contracts, throwaway keys, signer and orchestrator URLs, a livepeer-gateway token,
commands for the SDK's examples) and writes it as JSON to .lpdev/stack.json (and --config-out FILE); `lpdev token`
reads that file. Both files are removed on exit (a stale one would point at a dead stack). A missing anvil is
installed once from the pinned npm package (needs npm), or use --chain embedded. Without --headless, on a
terminal, the TUI shows the flow live; otherwise one log line per step (tickets, winners, redemptions).

--scenario runs a library scenario (`lpdev scenario list`) or a scenario file on this live stack: wall clock, the
well-known ports (or --any-port), the scenario's own signers, orchestrators and gateways, its steps mining the
blocks; the SDK can pay against the stack while it runs. Headless, it prints each expectation and exits 0 when
all passed (1 otherwise; --keep-running keeps the stack up afterwards until Ctrl-C).

The stack is the one `lpdev scenario run` and the TUI build (stack/stack.py), from the same spec: lpdev.toml
holds the same keys as a scenario's `stack:` section (stack/spec.py). All keys printed are PUBLIC throwaway
dev keys.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from fractions import Fraction

from lpdev.cli import UsageError

ETHER = 10**18


def register(sub) -> None:
    p = sub.add_parser("up", help="run the whole local stack (chain, signer, orchestrator, gateway) in one process",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def _stack_name(text: str) -> str:
    from stack.registry import check_name

    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def data_dir_for(args, name: str) -> str:
    return args.data_dir or os.path.join(".lpdev", "data", name)


def _resume_spec(args, flags: dict):
    """--resume: the spec the stack saved in its data dir (ports may be moved with the port flags)."""
    from dataclasses import replace

    from stack.policy import LIVE
    from stack.spec import SpecParser, parse_spec
    from sim.wire import bounded

    if not args.name and not args.data_dir:
        raise UsageError("--resume needs --data-dir DIR (the data dir the crashed stack's cast named) or --name NAME")
    gw = flags.get("gateway", {})
    moved = {k for k in flags if k not in ("ports", "gateway", "block_time")} | set(
        f"gateway.{k}" for k in gw if k != "enabled") | ({"--config"} if args.config else set()) \
        | ({"--scenario"} if args.scenario else set())
    if moved:
        flag = {"chain": "--chain/--fork-url", "seed": "--seed", "orchestrators": "--orchestrators",
                "signers": "--signers", "remote_discovery": "--remote-discovery", "signer": "--signer-profile",
                "runners": "--runner/--no-runners", "orchestrator": "--orch-secret",
                "gateway.interval_s": "--interval", "gateway.lv2v_job": "--lv2v-job"}
        raise UsageError("--resume restarts the saved stack as it was: drop "
                         + ", ".join(sorted({flag.get(k, k) for k in moved})))
    path = os.path.join(data_dir_for(args, args.name or ""), "spec.json")
    try:
        doc = bounded.load_json_file(path)
    except bounded.BoundedInputError as exc:
        raise UsageError(f"--resume: {exc}") from None
    spec = parse_spec(doc, SpecParser(path), what="saved spec")
    ports = flags.get("ports", {})
    spec = replace(spec, eth_port=ports.get("eth", spec.eth_port), signer_port=ports.get("signer", spec.signer_port),
                   orch_port=ports.get("orchestrator", spec.orch_port),
                   orch_http_port=ports.get("orchestrator_http", spec.orch_http_port),
                   block_time=flags.get("block_time", spec.block_time),
                   gateways=[] if gw.get("enabled") is False else spec.gateways)
    return spec, LIVE, None


def _port(text: str) -> int:
    v = int(text)
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: a port is 0..65535 (0 = any free port)")
    return v


def _seed(text: str) -> int:
    v = int(text)
    if not 0 <= v < 2**63:
        raise argparse.ArgumentTypeError(f"{text}: a seed is an integer 0..2^63-1")
    return v


def _seconds(*, zero: bool):
    def parse(text: str) -> float:
        import math

        v = float(text)
        if not math.isfinite(v) or v < 0 or (v == 0 and not zero) or v > 3600:
            raise argparse.ArgumentTypeError(f"{text}: want a number of seconds, {'0' if zero else 'above 0'}"
                                             " up to 3600")
        return v

    parse.__name__ = "seconds"
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chain", choices=("anvil", "embedded", "mock", "fork"), default=None,
                   help="anvil (default; a managed anvil process), embedded (py-evm in process, no RPC URL), mock "
                        "(the pure-Python model of the contracts, no RPC URL), or fork (with --fork-url)")
    p.add_argument("--orchestrators", type=int, default=None, metavar="N", help="fake orchestrators (1..4, default 1)")
    p.add_argument("--signers", type=int, default=None, metavar="N", help="remote signers (1..4, default 1)")
    p.add_argument("--gateway", action=argparse.BooleanOptionalAction, default=None,
                   help="run the scripted gateway streaming payments (default on)")
    p.add_argument("--headless", action="store_true", help="log lines only, never the TUI")
    p.add_argument("--config-out", metavar="FILE", help="also write the cast JSON here (only once every service "
                                                         "answers; removed on exit, like .lpdev/stack.json, so a "
                                                         "file that exists always points at a live stack)")
    p.add_argument("--seed", type=_seed, default=None, help="seed for ids and the orchestrators' secrets")
    p.add_argument("--config", metavar="FILE", help="lpdev.toml: the stack spec (the keys of a scenario's `stack:` "
                                                    "section, see stack/spec.py); default ./lpdev.toml if present")
    p.add_argument("--scenario", metavar="NAME|FILE", default=None,
                   help="run a library scenario (or a scenario file) on this live stack, then exit 0/1 by its "
                        "expectations (headless) or show it in the TUI")
    p.add_argument("--keep-running", action="store_true",
                   help="with --scenario: keep the stack up after the scenario until Ctrl-C")
    f = p.add_argument_group("fork a live chain (anvil --fork-url; the real Livepeer contracts)")
    f.add_argument("--fork-url", default=None, metavar="URL",
                   help="fork this chain's JSON-RPC (e.g. an Arbitrum One RPC): lpdev runs against its real contracts")
    f.add_argument("--fork-block", type=_seed, default=None, metavar="N", help="fork at block N (default: latest)")
    f.add_argument("--controller", default=None, metavar="ADDR",
                   help="the Livepeer Controller on that chain (default: Arbitrum One's when the chain id is 42161)")
    f.add_argument("--orchestrator-address", default=None, metavar="ADDR",
                   help="impersonate this registered orchestrator instead of making a dev one active")
    p.add_argument("--runner", action="append", default=None, metavar="KIND[:USD[/UNIT]]",
                   help="a built-in dev Live Runner registering over heartbeats: noop, echo or text, free or priced in "
                        "USD per hour, 720p or fixed (repeatable; default: one free noop; e.g. --runner echo "
                        "--runner text:0.01/fixed)")
    p.add_argument("--no-runners", action="store_true", help="no dev runner (the registry still takes SDK runners)")
    p.add_argument("--orch-secret", default=None, metavar="S",
                   help="the secret Live Runners register with (-orchSecret; default abcdef, as the SDK examples use)")
    p.add_argument("--orch-http-port", type=_port, default=None, metavar="P",
                   help="first orchestrator's plain-HTTP entry (default 9935; gRPC stays on TLS)")
    p.add_argument("--signer-profile", default=None, metavar="NAME",
                   help="every signer's dialect: go-livepeer (0.9.3, default), go-livepeer@0.9.1 or livepeer-node "
                        "(`lpdev signer --list-profiles`; per signer: `profile` in lpdev.toml)")
    p.add_argument("--remote-discovery", action="store_true", default=None,
                   help="signers serve GET /discover-orchestrators (the SDK's signer discovery)")
    p.add_argument("--eth-port", type=_port, default=None, metavar="P", help="anvil port (default 8545)")
    p.add_argument("--signer-port", type=_port, default=None, metavar="P",
                   help="first signer's HTTPS port (default 7936; next signers count up)")
    p.add_argument("--orch-port", type=_port, default=None, metavar="P",
                   help="first orchestrator's port (default 8935; next orchestrators count up)")
    p.add_argument("--any-port", action="store_true", help="let the OS pick free ports for every service")
    p.add_argument("--block-time", type=_seconds(zero=True), default=None, metavar="S",
                   help="seconds between mined blocks (default 0.5; 0 = mine only on transactions)")
    p.add_argument("--interval", type=_seconds(zero=False), default=None, metavar="S",
                   help="seconds between the gateway's payments (default 5)")
    p.add_argument("--lv2v-job", action=argparse.BooleanOptionalAction, default=None,
                   help="the scripted gateway runs a paid noop live-video-to-video job: publishes generated MPEG-TS "
                        "segments, reads them back, pays on output segments every --interval s while the "
                        "orchestrator debits (default off: payments only; lpdev.toml [gateway] lv2v_job)")
    p.add_argument("--state-file", default=None, metavar="FILE",
                   help="where the cast JSON always goes (default .lpdev/stack.json, unless another running stack "
                        "owns it; removed on exit)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="keep the stack's state here: the chain's state (saved as it changes), the orchestrators' "
                        "SQLite winners and certificates, the spec (default .lpdev/data/NAME; a fresh start empties it)")
    p.add_argument("--resume", action="store_true",
                   help="come back after a crash (or a stop) on the same chain, from the data dir: every queued "
                        "winner is redeemed once (anvil only)")
    p.add_argument("--name", default=None, metavar="NAME", type=_stack_name,
                   help="this stack's name in `lpdev ps` and for `--stack NAME` (default: the folder's name, then "
                        "NAME-2, ...)")
    p.add_argument("--trace", metavar="FILE", help="write every event to a JSONL trace (`lpdev tui --replay`)")
    p.add_argument("--serve-events", metavar="HOST:PORT", default=None,
                   help="also serve the event stream (JSONL / SSE) so another terminal can follow it with "
                        "`lpdev tui --attach http://HOST:PORT` (port 0 picks one)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every event, not just the main steps")
    p.add_argument("--exit-after-ready", action="store_true", help=argparse.SUPPRESS)


def _flags_doc(args) -> dict:
    """The command-line flags as a spec layer (same keys as lpdev.toml), applied over lpdev.toml."""
    doc: dict = {}
    for name in ("chain", "seed", "orchestrators", "signers", "block_time", "remote_discovery"):
        v = getattr(args, name, None)
        if v is not None:
            doc[name] = v
    fork = {k: getattr(args, k) for k in ("fork_url", "fork_block", "controller", "orchestrator_address")
            if getattr(args, k, None) is not None}
    if fork:
        if doc.get("chain", "fork") != "fork":
            raise UsageError(f"--fork-url forks a live chain: drop --chain {doc['chain']}")
        if "fork_url" not in fork:
            raise UsageError(f"--{next(iter(fork)).replace('_', '-')} goes with --fork-url URL (the chain to fork)")
        doc["chain"] = {"backend": "fork", **fork}
    if getattr(args, "signer_profile", None) is not None:
        from sim.signer.profiles import PROFILE_NAMES

        if args.signer_profile not in PROFILE_NAMES:
            raise UsageError(f"--signer-profile {args.signer_profile!r}: choose one of {', '.join(PROFILE_NAMES)}")
        doc["signer"] = {"profile": args.signer_profile}
    for flag, name in (("--orchestrators", "orchestrators"), ("--signers", "signers")):
        v = doc.get(name)
        if v is not None and not 1 <= v <= 4:
            raise UsageError(f"{flag} {v}: must be 1..4 (one dev account each)")
    ports = {k: getattr(args, a) for k, a in (("eth", "eth_port"), ("signer", "signer_port"),
                                              ("orchestrator", "orch_port"), ("orchestrator_http", "orch_http_port"))
             if getattr(args, a, None) is not None}
    if getattr(args, "any_port", False):
        ports = {"eth": 0, "signer": 0, "orchestrator": 0, "orchestrator_http": 0}
    if getattr(args, "runner", None):
        doc["runners"] = list(args.runner)
    if getattr(args, "no_runners", False):
        doc["runners"] = []
    if getattr(args, "orch_secret", None) is not None:
        doc["orchestrator"] = {"orch_secret": args.orch_secret}
    if ports:
        doc["ports"] = ports
    gw = {}
    if getattr(args, "gateway", None) is not None:
        gw["enabled"] = args.gateway
    if getattr(args, "interval", None) is not None:
        gw["interval_s"] = args.interval
    if getattr(args, "lv2v_job", None) is not None:
        gw["lv2v_job"] = args.lv2v_job
    if gw:
        doc["gateway"] = gw
    return doc


def build_config(args):
    """(spec, policy, scenario or None) for this run: lpdev up's defaults, then lpdev.toml, then the flags -- one
    spec, validated in one place (stack/spec.py). With --scenario: the scenario's own spec, on a live chain
    (anvil unless --chain) at lpdev up's ports."""
    from dataclasses import replace

    from stack.policy import LIVE, LIVE_SCENARIO
    from stack.spec import UP_DEFAULTS, SpecParser, load_toml_lines, parse_spec
    from stack.yamlines import LDict, ScenarioError, read_text_file

    if getattr(args, "serve_events", None):
        host, sep, port = args.serve_events.rpartition(":")
        if not sep or not port.isdigit() or len(port) > 5 or int(port) > 65535:
            raise UsageError(f"--serve-events wants HOST:PORT with a port 0..65535 (0 picks one), got "
                             f"{args.serve_events[:80]!r}")
    flags = _flags_doc(args)
    try:
        if getattr(args, "resume", False):
            return _resume_spec(args, flags)
        if getattr(args, "scenario", None):
            from lpdev.commands.scenario import find_scenario
            from stack.scenario.model import load_scenario

            bad = [f for f, k in (("--orchestrators", "orchestrators"), ("--signers", "signers"),
                                  ("--gateway/--no-gateway", "gateway"), ("--interval", "gateway"),
                                  ("--lv2v-job", "gateway"), ("--remote-discovery", "remote_discovery"),
                                  ("--runner/--no-runners", "runners"), ("--orch-secret", "orchestrator"),
                                  ("--signer-profile", "signer"))
                   if k in flags]
            if bad or args.config:
                raise UsageError(f"--scenario runs the scenario's own stack: drop {', '.join(bad or ['--config'])}")
            if isinstance(flags.get("chain"), dict):
                raise UsageError("--scenario runs on a local chain lpdev deploys (anvil, embedded or mock): drop "
                                 "--fork-url and its flags")
            sc = load_scenario(find_scenario(args.scenario))
            ports = flags.get("ports", {})
            spec = replace(sc.stack, chain=flags.get("chain", "anvil"),
                           seed=flags.get("seed", sc.stack.seed),
                           block_time=flags.get("block_time", sc.stack.block_time),
                           eth_port=ports.get("eth", sc.stack.eth_port),
                           signer_port=ports.get("signer", sc.stack.signer_port),
                           orch_port=ports.get("orchestrator", sc.stack.orch_port),
                           orch_http_port=ports.get("orchestrator_http", sc.stack.orch_http_port))
            return spec, LIVE_SCENARIO, sc
        path = args.config or ("lpdev.toml" if os.path.exists("lpdev.toml") else None)
        doc = load_toml_lines(read_text_file(path), path) if path else LDict()
        spec = parse_spec(doc, SpecParser(path or "<defaults>"), base=UP_DEFAULTS, overrides=flags,
                          what="lpdev.toml" if path else "spec")
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    return spec, LIVE, None


# ---------------------------------------------------------------------- banner
def _eth(wei: int) -> str:
    from sim.pm.money import float_string

    return f"{float_string(Fraction(wei, ETHER), 6)} ETH"


def banner(doc: dict, elapsed: float, files: list[str]) -> str:
    L = ["", f"lpdev up — stack ready in {elapsed:.2f} s ({doc['backend']} chain, id {doc['chain_id']}); "
             f"name {doc.get('name')!r}", ""]
    fork = doc.get("fork")
    if fork:
        L += [f"THIS IS A FORK of {fork['url']} at block {fork['block']} (chain id {fork['chain_id']}): the real "
              f"Livepeer contracts, resolved through Controller {fork['controller']}; nothing is sent upstream.",
              "  orchestrator(s): " + "; ".join(f"{o['address']} {o.get('how', '')}".strip()
                                               for o in fork.get("orchestrators", [])), ""]
    L.append(f"Chain RPC        {doc['eth_url'] or '(embedded: in-process only, no RPC URL for outside tools)'}")
    L.append(f"Controller       {doc['controller']}")
    for name, addr in doc["contracts"].items():
        if name != "Controller":
            L.append(f"  {name:<16}{addr}")
    L += ["", "Accounts — PUBLIC THROWAWAY DEV KEYS (anvil mnemonic \"test test ... junk\"); never use them for "
              "real funds:"]
    for i, a in enumerate(doc["accounts"]):
        L.append(f"  ({i}) {a['role']:<14}{a['address']}  {a['private_key']}")
    L += ["", "Remote signer(s)   (HTTPS, self-signed: the SDK's default for a bare host:port; plain HTTP too)"]
    for s in doc["signers"]:
        L.append(f"  {s['name']:<9}{s['url']}   http: {s['http_url']}   address {s['address']} ({s['role']}), "
                 f"profile {s.get('profile', 'go-livepeer')}")
        if s.get("metrics_url"):
            L.append(f"           health: {s['metrics_url']}/healthz  {s['metrics_url']}/readyz")
    if doc.get("remote_discovery"):
        L.append(f"  discovery: GET {doc['signer_url']}/discover-orchestrators")
    L += ["", "Orchestrator(s)    (gRPC + HTTP on one TLS port, registered and active on chain)"]
    for o in doc["orchestrators"]:
        L.append(f"  {o['name']:<9}{o['url']}   address {o['address']} ({o['role']})")
        if o.get("http_url"):
            L.append(f"           plain HTTP: {o['http_url']}   (Live Runners, trickle, payments; no gRPC)")
        if o.get("orch_secret"):
            L.append(f"           runners register with --orchSecret {o['orch_secret']}; discovery "
                     f"{o.get('discovery_url', o['url'] + '/discovery')}")
    if doc.get("runners"):
        L += ["", "Live Runners (lpdev's dev runners, registered over heartbeats like an SDK runner)"]
        for r in doc["runners"]:
            price = "free" if r.get("price_usd") in ("0", 0, None) else f"{r['price_usd']} USD/{r.get('unit')}"
            L.append(f"  {r['name']:<9}{r['kind']:<6}{r['url']}   app {r['app']}, {price}, runner_id {r['runner_id']}")
    t = doc["ticket"]
    L += ["", "Senders (TicketBroker)"]
    for s in doc["senders"]:
        L.append(f"  {s['address']}  deposit {_eth(s['deposit'])}, reserve {_eth(s['reserve'])}")
    L.append(f"Tickets: EV {_eth(t['ev'])}, face value up to {_eth(t['max_face_value'])} (win prob {t['win_prob']}), "
             f"price {t['price_per_unit']} wei per {t['pixels_per_unit']} pixel(s); a block every "
             f"{doc['block_time']} s, {doc['round_length']} blocks per round")
    gw = doc["gateway"]
    L.append("Gateway: " + (f"scripted {gw['type']} payments every {gw['interval']} s (log below)" if gw["enabled"]
                            else "off (--no-gateway)"))
    if gw["enabled"] and gw.get("lv2v_job"):
        L.append("  job mode (--lv2v-job): a noop live-video-to-video job, generated segments published and echoed; "
                 "the orchestrator debits")
    L += ["", "livepeer-gateway token (orchestrators + signer; `lpdev token` prints it again):", f"  {doc['token']}"]
    from stack.cast import SDK_EXAMPLES

    L += ["", "Try the SDK's own examples (livepeer-gateway 1.0.0; paste into any shell — lpdev's Python has the SDK, "
              "`make bootstrap` unpacked the examples" + ("" if SDK_EXAMPLES.is_dir() else ": not yet, run it") + "):"]
    L += [f"  {c}" for c in doc["sdk_commands"]]
    L += ["", f"This stack is {doc.get('name')!r} in `lpdev ps`; `lpdev token` finds it from any folder (add "
              f"--stack {doc.get('name')} when several run)."]
    if doc.get("data_dir"):
        L += [f"Data dir {doc['data_dir']} (chain state, winners, certificates)" + (
              f": after a crash, `lpdev up --resume --data-dir {doc['data_dir']}`" if doc["backend"] == "anvil" else
              f" (emptied on the next start; --resume needs --chain anvil)")
              + (" — RESUMED from it" if doc.get("resumed") else "")]
    if files:
        L += ["Cast written to " + ", ".join(files) + " (removed on exit)"]
    L += ["", "Ctrl-C stops everything" + (" (anvil included)." if doc["backend"] == "anvil" else "."), ""]
    return "\n".join(L)


# ---------------------------------------------------------------------- log lines
def _eth_frac(v) -> str:
    """A wei amount that may be an exact fraction ("1/3"), in ETH."""
    from sim.pm.money import float_string

    try:
        return f"{float_string(Fraction(str(v)) / ETHER, 6)} ETH"
    except (ValueError, ZeroDivisionError, TypeError):
        return str(v)


def _short(h) -> str:
    h = str(h or "")
    return h[:10] + "…" if len(h) > 12 else h


def _winprob(wp) -> str:
    from sim.pm.ticket import MAX_WIN_PROB

    try:
        wp = int(wp)
    except (TypeError, ValueError):
        return "?"
    if wp <= 0:
        return "0"
    return f"1/{round(Fraction(MAX_WIN_PROB, wp))}" if wp < MAX_WIN_PROB else "1"


def format_event(ev, verbose: bool = False) -> str | None:
    """One human line for the main steps of the flow; None for the rest (all of them with ``verbose``)."""
    d, k = ev.data, ev.kind
    msg = None
    if k == "gateway.signer_reply":
        if d.get("status") == 200:
            nonces = d.get("nonces") or []
            rng = f"nonces {nonces[0]}..{nonces[-1]}" if len(nonces) > 1 else (f"nonce {nonces[0]}" if nonces else "")
            msg = (f"{d.get('signer')} signed {d.get('tickets')} ticket(s) {rng}, face value "
                   f"{_eth(int(d.get('face_value') or 0))}, win prob {_winprob(d.get('win_prob'))}")
        elif d.get("status") != 482:  # 482 is logged once, as gateway.skip
            msg = f"{d.get('signer')} answered {d.get('status')}: {d.get('message')}"
    elif k == "gateway.payment" and d.get("status") != 200:  # a 200 shows as the orchestrator's credit line
        msg = f"POST /payment -> {d.get('orchestrator')}: {d.get('status')} ({d.get('tickets')} ticket(s))" + (
            f" {d.get('message')}" if d.get("message") else "")
    elif k == "orch.credit":  # every client's payment, the SDK's too: who paid, for what, how much
        msg = (f"credited {_eth_frac(d.get('amount'))} for {d.get('tickets')} ticket(s) from "
               f"{_short(d.get('sender'))}, manifest {d.get('manifest_id')}; balance {_eth_frac(d.get('balance'))}")
    elif k == "orch.ticket" and d.get("won"):
        msg = (f"WINNER: ticket nonce {d.get('nonce')} from {_short(d.get('sender'))}, manifest "
               f"{d.get('manifest_id')} won (stored for redemption)")
    elif k == "orch.lv2v_started":
        msg = (f"live-video-to-video job {d.get('manifest_id')} ({d.get('model_id')}) started for "
               f"{_short(d.get('sender'))}; balance {_eth_frac(d.get('balance'))}, debited every "
               f"{d.get('interval_s')} s of input")
    elif k == "orch.lv2v_stopped":
        msg = (f"live-video-to-video job {d.get('manifest_id')} stopped: {d.get('reason')} ({d.get('segments')} "
               f"segment(s), {d.get('debits')} debit(s))")
    elif k == "orch.debit" and d.get("ok") is False:
        msg = f"debit refused for {d.get('manifest_id')}: {d.get('message')}"
    elif k == "orch.ticket" and d.get("error"):
        msg = f"ticket nonce {d.get('nonce')} refused: {d.get('error')}"
    elif k == "orch.redemption_sent":
        msg = f"redeeming winning ticket {_short(d.get('ticket_hash'))} (face value {_eth(int(d.get('face_value') or 0))})"
    elif k == "orch.redemption_mined":
        msg = (f"REDEEMED ticket {_short(d.get('ticket_hash'))}: {_eth(int(d.get('face_value') or 0))} paid, tx "
               f"{_short(d.get('tx_hash'))}, gas {d.get('gas_used')}")
    elif k == "orch.redemption_failed" and not d.get("retry"):
        msg = f"redemption of {_short(d.get('ticket_hash'))} failed: {d.get('reason')}"
    elif k == "orch.payment_rejected":
        msg = f"payment rejected {d.get('status')}: {d.get('message')}"
    elif k == "orch.refresh" and d.get("status") != 200:
        msg = (f"POST /refresh-payment from {_short(d.get('sender'))} for {d.get('manifest_id')}: {d.get('status')} "
               f"{d.get('message')}" + (f" ({d['reason']})" if d.get("reason") else ""))
    elif k == "gateway.refresh":
        msg = f"signer answered 480 ({d.get('message')}): refreshing ticket params with GetOrchestrator"
    elif k == "gateway.skip":
        msg = "signer answered 482 (no tickets needed yet): payment cycle skipped"
    elif k in ("gateway.error", "gateway.orchestrator_error", "gateway.stopped"):
        msg = f"{k.split('.')[1]}: {d.get('message') or d.get('reason')}"
    elif k == "gateway.job_started":  # job mode (--lv2v-job)
        msg = (f"POST /live-video-to-video -> {d.get('orchestrator')}: job {d.get('manifest_id')} "
               f"({d.get('model_id')}) started, {d.get('tickets')} ticket(s) upfront")
    elif k == "gateway.job_rejected":
        msg = f"job refused at the {d.get('stage')}: {d.get('status')} {d.get('message')}"
    elif k == "gateway.job_stopped":
        msg = (f"job {d.get('manifest_id')} stopped ({d.get('reason')}): {d.get('published')} segment(s) published, "
               f"{d.get('echoed')} echoed, {d.get('payments')} payment(s)")
    elif k == "gateway.orchestrator_info" and d.get("refresh"):
        msg = f"new ticket params from {d.get('orchestrator')}: expire at block {d.get('expiration_block')}"
    elif k == "stack.chain" and d.get("op") == "initialize_round" and d.get("ok"):
        msg = f"round {d.get('round')} initialized at block {d.get('block')}"
    elif k == "scenario.step":
        msg = f"step {int(d.get('index', 0)) + 1}: {d.get('description')}"
    elif k == "scenario.expectation" and d.get("group") != "invariant":
        msg = f"[{'PASS' if d.get('passed') else 'FAIL'}] {d.get('name')}: {d.get('detail')}"
    elif k == "signer.discovery":
        msg = f"GET /discover-orchestrators -> {d.get('status')} ({d.get('orchestrators')} orchestrator(s))"
    elif verbose:
        from sim.events import dumps

        msg = f"{k} {dumps(d)}"
    if msg is None:
        return None
    return f"{time.strftime('%H:%M:%S', time.localtime(ev.t))} {ev.actor:<9} {msg}"


# ---------------------------------------------------------------------- run
def _want_tui(args) -> bool:
    if args.headless or args.exit_after_ready or not sys.stdout.isatty():
        return False
    try:
        from tui.app import LpdevApp  # noqa: F401
    except Exception:  # noqa: BLE001 - the TUI is optional: fall back to log lines
        return False
    return True


def run(args) -> int:
    t0 = time.monotonic()
    spec, policy, scenario = build_config(args)
    from lpdev.commands.scenario import check_writable

    for flag, path in (("--trace", args.trace), ("--config-out", args.config_out), ("--state-file", args.state_file)):
        if path:
            check_writable(path, flag)
    proc = None
    if spec.chain == "anvil":
        # Spawn anvil first, before ~1 s of imports, so its start overlaps them (like `lpdev chain up`).
        from devnet.backends.anvil import AnvilProcess
        from devnet.base import ChainError
        from stack.stack import StartupError, anvil_hint, check_ports

        try:
            check_ports(spec.host, [("anvil JSON-RPC", spec.eth_port)])
            proc = AnvilProcess.spawn(port=spec.eth_port or None)
        except StartupError as exc:
            print(f"lpdev up: error: {exc}", file=sys.stderr, flush=True)
            return 1
        except ChainError as exc:
            print(f"lpdev up: error: {anvil_hint(str(exc))}", file=sys.stderr, flush=True)
            return 1
    try:
        return asyncio.run(_main(args, spec, policy, scenario, proc, t0))
    except KeyboardInterrupt:
        return 130
    finally:
        if proc is not None:
            proc.stop()  # idempotent: normally the stack already stopped it


async def _main(args, spec, policy, scenario=None, proc=None, t0: float | None = None) -> int:
    from stack.cast import DEFAULT_CAST, cast_document, claim_cast_file, release_cast_file, write_atomic
    from stack.registry import RegistryError, free_name, register, unregister
    from stack.stack import Stack, StartupError

    t0 = t0 if t0 is not None else time.monotonic()
    err = sys.stderr
    name = args.name or free_name(os.getcwd())
    data_dir = data_dir_for(args, name)
    from stack.registry import running

    clash = next((d for d in running() if d["name"] == name), None)
    if clash is not None:  # before anything starts: its data dir is that stack's
        raise UsageError(f"a stack named {name!r} is already running (pid {clash['pid']}, in "
                         f"{clash.get('cwd', '?')}); choose another --name")
    registered = None
    tui = _want_tui(args)
    stack = Stack(spec, policy, log=lambda m: print(f"lpdev up: {m}", file=err, flush=True), anvil_process=proc,
                  data_dir=data_dir, resume=args.resume)
    stack.t0 = t0
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    app_ref: dict = {}

    def on_signal() -> None:
        stopping.set()
        stack.request_stop()
        app = app_ref.get("app")
        if app is not None:
            app.exit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    loop.set_exception_handler(_quiet_client_teardown)
    trace = None
    if args.trace:
        from sim.events import TraceWriter

        trace = TraceWriter(args.trace, actor="lpdev-up")
        stack.bus.subscribe(trace)
    unsub = None
    feed_runner = None
    files: list[str] = []
    code = 0
    what = f"scenario {scenario.name}" if scenario else ", ".join(
        f"{len(x)} {n}" for x, n in ((spec.orchestrators, "orchestrator(s)"), (spec.signers, "signer(s)"),
                                     (spec.gateways, "gateway(s)")) if x)
    print(f"lpdev up: starting {spec.chain} chain, {what}...", file=err, flush=True)
    try:
        starting = asyncio.create_task(stack.start())
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({starting, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            try:
                await starting
            except (asyncio.CancelledError, Exception):
                pass
            print("lpdev up: interrupted during start-up", file=err, flush=True)
            return 130
        waiter.cancel()
        starting.result()  # re-raise a start-up error
        doc = cast_document(stack)
        elapsed = time.monotonic() - t0
        doc.update(name=name, cwd=os.getcwd(), started_at=time.time(), ready_s=round(elapsed, 3),
                   timings=dict(stack.timings),  # seconds since start (chain, orchestrators, ...)
                   data_dir=os.path.abspath(data_dir), resumed=bool(args.resume))
        from stack.spec import spec_document

        write_atomic(os.path.join(data_dir, "spec.json"), spec_document(spec))  # what --resume restarts
        if scenario is not None:
            doc["scenario"] = scenario.name
        if args.state_file:
            write_atomic(args.state_file, doc)
            files.append(args.state_file)
        elif claim_cast_file(DEFAULT_CAST, doc):
            files.append(DEFAULT_CAST)
        if args.config_out and args.config_out not in files:
            write_atomic(args.config_out, doc)
            files.append(args.config_out)
        registered = register(doc)
        print(banner(doc, elapsed, files), flush=True)  # in TUI mode it is there again after quitting
        if not tui:
            unsub = stack.bus.subscribe(lambda ev: _print_event(ev, args.verbose))
            if args.serve_events:
                from tui.feed import serve

                host, _, port = args.serve_events.rpartition(":")
                feed_runner, feed_url = await serve(stack.bus, host or "127.0.0.1", int(port or 0))
                print(f"lpdev up: events at {feed_url}/events/stream; follow them with "
                      f"`lpdev tui --attach {feed_url}`", file=err, flush=True)
        if args.exit_after_ready:
            return 0
        if tui:
            code = await _run_tui(stack, doc, app_ref, args.serve_events, scenario)
        elif scenario is not None:
            code = await _run_scenario(stack, scenario, keep_running=args.keep_running, trace=None,
                                       stopping=stopping)
        else:
            await stack.run()
    except (StartupError, RegistryError) as exc:
        print(f"lpdev up: error: {exc}", file=err, flush=True)
        code = 1
    finally:
        if unsub:
            unsub()
        if feed_runner is not None:
            await feed_runner.cleanup()
        print("lpdev up: stopping (signers, orchestrators, chain)...", file=err, flush=True)
        summary = stack.summary() if stack.gateways else None
        await stack.stop()
        if registered is not None:
            unregister(name, os.getpid())
        for path in files:
            release_cast_file(path, os.getpid())  # the stack is gone: a stale file would point at nothing
        if trace:
            trace.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if summary:
            print(f"lpdev up: stopped after {summary['payments']} payment(s), {summary['winners']} winning "
                  f"ticket(s), {summary['redeemed']} redeemed", file=err, flush=True)
        else:
            print("lpdev up: stopped", file=err, flush=True)
    return code


async def _run_scenario(stack, scenario, *, keep_running: bool, trace=None, stopping=None) -> int:
    """The scenario's steps on the live stack (the policy's loops -- round initializer, chain polls -- run beside
    them), its verdicts printed like `lpdev scenario run`; then exit, or keep serving until Ctrl-C. Ctrl-C or
    SIGTERM (``stopping``) ends a scenario mid-step: exit 130, no verdict."""
    from lpdev.commands.scenario import print_summary
    from stack.scenario.runner import ScenarioRun

    loops = asyncio.create_task(stack.run())
    run = ScenarioRun(scenario, stack=stack)
    try:
        steps = asyncio.create_task(run.run())
        waits = {steps} | ({asyncio.create_task(stopping.wait())} if stopping is not None else set())
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits - {steps}:
            w.cancel()
        if not steps.done():
            steps.cancel()
            try:
                await steps
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - interrupted: no verdict to give
                pass
            print(f"lpdev up: scenario {scenario.name} interrupted; no verdict", file=sys.stderr, flush=True)
            stack.request_stop()
            try:
                await asyncio.wait_for(loops, 10)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            return 130
        summary = steps.result()
    finally:
        run.close()
    print_summary(summary)
    if keep_running and not stack.stopping:
        print("lpdev up: the scenario is done; the stack keeps running (Ctrl-C stops it)", file=sys.stderr,
              flush=True)
        await stack._stop.wait()
    stack.request_stop()
    try:
        await asyncio.wait_for(loops, 10)
    except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
        pass
    return 0 if summary["passed"] else 1


def _quiet_client_teardown(loop, context) -> None:
    """A client that left without closing TLS (the SDK's short-lived connections, a killed curl) makes the server's
    close wait time out; asyncio logs that as an unhandled exception with a traceback. Nothing was lost: say
    nothing. Anything else goes to the default handler."""
    exc = context.get("exception")
    if isinstance(exc, (TimeoutError, ConnectionError)) and "client_connected_cb" in str(context.get("message", "")):
        return
    loop.default_exception_handler(context)


_OUT_LOCK = threading.Lock()


def _print_event(ev, verbose: bool) -> None:
    # events come from the loop and from worker threads (redemptions): one write per line, under a lock
    line = format_event(ev, verbose)
    if line is not None:
        with _OUT_LOCK:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


async def _run_tui(stack, doc: dict, app_ref: dict, serve_events: str | None = None, scenario=None) -> int:
    """The TUI in this process, on the stack's bus; the stack's loops run beside it. Quitting the TUI stops all."""
    from tui.app import LpdevApp
    from tui.control import GateAdapter

    if scenario is not None:
        app = LpdevApp.yaml_scenario(scenario, stack=stack, source_name=f"{scenario.name} on lpdev up",
                                     commands=lpdev_commands(), cast=doc)
    else:
        app = LpdevApp(mode="live", bus=stack.bus, control=stack, source_name=f"lpdev up ({doc['backend']})",
                       stepper=GateAdapter(stack.gate, asyncio.get_running_loop()), serve_events=serve_events,
                       commands=lpdev_commands(), cast=doc)
    app_ref["app"] = app
    runner = asyncio.create_task(stack.run())
    try:
        await app.run_async()
    except Exception as exc:  # noqa: BLE001 - the stack is fine: carry on with log lines
        app_ref.pop("app", None)
        print(f"lpdev up: the TUI failed ({type(exc).__name__}: {exc}); continuing with log lines "
              "(--headless skips the TUI)", file=sys.stderr, flush=True)
        unsub = stack.bus.subscribe(lambda ev: _print_event(ev, False))
        try:
            await runner
        finally:
            unsub()
        return 0
    finally:
        stack.request_stop()
        try:
            await asyncio.wait_for(runner, 5)
        except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
            pass
    return 0


def lpdev_commands() -> list[tuple[str, str, str]]:
    """(command, help, full --help) for the TUI's command palette: the TUI does not import the CLI, the CLI hands it over."""
    from lpdev.cli import command_list

    return command_list()
