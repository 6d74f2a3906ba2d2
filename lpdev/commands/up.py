"""`lpdev up`: the whole local stack in one command — chain, remote signer, fake orchestrator, scripted gateway.

    lpdev up [--chain anvil|embedded] [--orchestrators N] [--signers N] [--gateway | --no-gateway] [--headless]
             [--config-out FILE] [--seed N] [--config lpdev.toml] [--remote-discovery] [--any-port] [--lv2v-job]

Foreground: Ctrl-C (or SIGTERM) stops everything it started, anvil included. When every service answers it
prints the cast (chain, contracts, throwaway keys, signer and orchestrator URLs, a livepeer-gateway token,
commands for the SDK's examples) and writes it as JSON to .lpdev/stack.json (and --config-out FILE); `lpdev token`
reads that file. Both files are removed on exit (a stale one would point at a dead stack). A missing anvil is
installed once from the pinned npm package (needs npm), or use --chain embedded. Without --headless, on a terminal, the TUI shows the flow live; otherwise one log line per step
(tickets, winners, redemptions). All keys printed are PUBLIC throwaway dev keys.
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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chain", choices=("anvil", "embedded"), default=None,
                   help="anvil (default; a managed anvil process) or embedded (py-evm in process, no RPC URL)")
    p.add_argument("--orchestrators", type=int, default=None, metavar="N", help="fake orchestrators (1..4, default 1)")
    p.add_argument("--signers", type=int, default=None, metavar="N", help="remote signers (1..4, default 1)")
    p.add_argument("--gateway", action=argparse.BooleanOptionalAction, default=None,
                   help="run the scripted gateway streaming payments (default on)")
    p.add_argument("--headless", action="store_true", help="log lines only, never the TUI")
    p.add_argument("--config-out", metavar="FILE", help="also write the cast JSON here (only once every service "
                                                         "answers; removed on exit, like .lpdev/stack.json, so a "
                                                         "file that exists always points at a live stack)")
    p.add_argument("--seed", type=int, default=None, help="seed for ids and the orchestrators' secrets")
    p.add_argument("--config", metavar="FILE", help="lpdev.toml with the knobs (see `lpdev/upconfig.py`); "
                                                    "default ./lpdev.toml if present")
    p.add_argument("--remote-discovery", action="store_true", default=None,
                   help="signers serve GET /discover-orchestrators (the SDK's signer discovery)")
    p.add_argument("--eth-port", type=int, default=None, metavar="P", help="anvil port (default 8545)")
    p.add_argument("--signer-port", type=int, default=None, metavar="P",
                   help="first signer's HTTPS port (default 7936; next signers count up)")
    p.add_argument("--orch-port", type=int, default=None, metavar="P",
                   help="first orchestrator's port (default 8935; next orchestrators count up)")
    p.add_argument("--any-port", action="store_true", help="let the OS pick free ports for every service")
    p.add_argument("--block-time", type=float, default=None, metavar="S",
                   help="seconds between mined blocks (default 0.5; 0 = mine only on transactions)")
    p.add_argument("--interval", type=float, default=None, metavar="S",
                   help="seconds between the gateway's payments (default 5)")
    p.add_argument("--lv2v-job", action=argparse.BooleanOptionalAction, default=None,
                   help="the scripted gateway runs a paid noop live-video-to-video job: publishes generated MPEG-TS "
                        "segments, reads them back, pays on output segments every --interval s while the "
                        "orchestrator debits (default off: payments only; lpdev.toml [gateway] lv2v_job)")
    p.add_argument("--state-file", default=None, metavar="FILE",
                   help="where the cast JSON always goes (default .lpdev/stack.json; removed on exit)")
    p.add_argument("--trace", metavar="FILE", help="write every event to a JSONL trace (`lpdev tui --replay`)")
    p.add_argument("--serve-events", metavar="HOST:PORT", default=None,
                   help="also serve the event stream (JSONL / SSE) so another terminal can follow it with "
                        "`lpdev tui --attach http://HOST:PORT` (port 0 picks one)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every event, not just the main steps")
    p.add_argument("--exit-after-ready", action="store_true", help=argparse.SUPPRESS)


def build_config(args):
    from lpdev.upconfig import ConfigError, UpConfig, apply_toml, load_toml

    if getattr(args, "serve_events", None) and ":" not in args.serve_events:
        raise UsageError(f"--serve-events wants HOST:PORT (port 0 picks one), got {args.serve_events!r}")

    cfg = UpConfig()
    path = args.config or ("lpdev.toml" if os.path.exists("lpdev.toml") else None)
    try:
        if path:
            apply_toml(cfg, load_toml(path), path)
        for name in ("chain", "orchestrators", "signers", "gateway", "seed", "remote_discovery", "eth_port",
                     "signer_port", "orch_port", "block_time", "interval", "lv2v_job"):
            v = getattr(args, name, None)
            if v is not None:
                setattr(cfg, name, v)
        if args.any_port:
            cfg.eth_port = cfg.signer_port = cfg.orch_port = 0
        cfg.validate()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return cfg


# ---------------------------------------------------------------------- banner
def _eth(wei: int) -> str:
    from sim.pm.money import float_string

    return f"{float_string(Fraction(wei, ETHER), 6)} ETH"


def banner(doc: dict, elapsed: float, files: list[str]) -> str:
    L = ["", f"lpdev up — stack ready in {elapsed:.2f} s ({doc['backend']} chain, id {doc['chain_id']})", ""]
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
        L.append(f"  {s['name']:<9}{s['url']}   http: {s['http_url']}   address {s['address']} ({s['role']})")
    if doc.get("remote_discovery"):
        L.append(f"  discovery: GET {doc['signer_url']}/discover-orchestrators")
    L += ["", "Orchestrator(s)    (gRPC + HTTP on one TLS port, registered and active on chain)"]
    for o in doc["orchestrators"]:
        L.append(f"  {o['name']:<9}{o['url']}   address {o['address']} ({o['role']})")
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
    L += ["", "Try the SDK (livepeer-gateway 1.0.0; from a clone of livepeer-python-gateway):"]
    L += [f"  {c}" for c in doc["sdk_commands"]]
    if files:
        L += ["", "Cast written to " + ", ".join(files) + " (removed on exit)"]
    L += ["", "Ctrl-C stops everything" + (" (anvil included)." if doc["backend"] == "anvil" else "."), ""]
    return "\n".join(L)


# ---------------------------------------------------------------------- log lines
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
    elif k == "gateway.payment":
        msg = f"POST /payment -> {d.get('orchestrator')}: {d.get('status')} ({d.get('tickets')} ticket(s))" + (
            f" {d.get('message')}" if d.get("status") != 200 and d.get("message") else "")
    elif k == "orch.ticket" and d.get("won"):
        msg = f"WINNER: ticket nonce {d.get('nonce')} from {_short(d.get('sender'))} won (stored for redemption)"
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
    elif k == "chain.round_initialized":
        msg = f"round {d.get('round')} initialized at block {d.get('block')}"
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
    cfg = build_config(args)
    proc = None
    if cfg.chain == "anvil":
        # Spawn anvil first, before ~1 s of imports, so its start overlaps them (like `lpdev chain up`).
        from devnet.base import ChainError
        from devnet.backends.anvil import AnvilProcess
        from lpdev.upstack import StartupError, _anvil_hint, check_ports

        try:
            check_ports(cfg.host, [("anvil JSON-RPC", cfg.eth_port)])
            proc = AnvilProcess.spawn(port=cfg.eth_port or None)
        except StartupError as exc:
            print(f"lpdev up: error: {exc}", file=sys.stderr, flush=True)
            return 1
        except ChainError as exc:
            print(f"lpdev up: error: {_anvil_hint(str(exc))}", file=sys.stderr, flush=True)
            return 1
    try:
        return asyncio.run(_main(args, cfg, proc, t0))
    except KeyboardInterrupt:
        return 130
    finally:
        if proc is not None:
            proc.stop()  # idempotent: normally the stack already stopped it


async def _main(args, cfg, proc=None, t0: float | None = None) -> int:
    from lpdev.upconfig import DEFAULT_CAST, cast_document, write_atomic
    from lpdev.upstack import StartupError, UpStack

    t0 = t0 if t0 is not None else time.monotonic()
    err = sys.stderr
    tui = _want_tui(args)
    stack = UpStack(cfg, log=lambda m: print(f"lpdev up: {m}", file=err, flush=True), anvil_process=proc)
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
    trace = None
    if args.trace:
        from sim.events import TraceWriter

        trace = TraceWriter(args.trace, actor="lpdev-up")
        stack.bus.subscribe(trace)
    unsub = None
    feed_runner = None
    files: list[str] = []
    code = 0
    print(f"lpdev up: starting {cfg.chain} chain, {cfg.orchestrators} orchestrator(s), {cfg.signers} signer(s)"
          f"{', gateway' if cfg.gateway else ''}...", file=err, flush=True)
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
        doc["ready_s"] = round(elapsed, 3)
        doc["timings"] = dict(stack.timings)  # seconds since start: chain, orchestrators, signers, ready
        state_file = args.state_file or DEFAULT_CAST
        for path in dict.fromkeys([state_file] + ([args.config_out] if args.config_out else [])):
            write_atomic(path, doc)
            files.append(path)
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
            code = await _run_tui(stack, doc, app_ref, args.serve_events)
        else:
            await stack.run()
    except StartupError as exc:
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
        for path in files:
            try:
                os.remove(path)  # the stack is gone: a stale file would point at nothing
            except OSError:
                pass
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


_OUT_LOCK = threading.Lock()


def _print_event(ev, verbose: bool) -> None:
    # events come from the loop and from worker threads (redemptions): one write per line, under a lock
    line = format_event(ev, verbose)
    if line is not None:
        with _OUT_LOCK:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


async def _run_tui(stack, doc: dict, app_ref: dict, serve_events: str | None = None) -> int:
    """The TUI in this process, on the stack's bus; the stack's loops run beside it. Quitting the TUI stops all."""
    from tui.app import LpdevApp

    from tui.control import GateAdapter

    app = LpdevApp(mode="live", bus=stack.bus, control=stack, source_name=f"lpdev up ({doc['backend']})",
                   stepper=GateAdapter(stack.gate, asyncio.get_running_loop()), serve_events=serve_events)
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
