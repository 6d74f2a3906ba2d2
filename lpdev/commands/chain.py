"""`lpdev chain ...`: run a local chain with the PM contracts and operate on it.

    lpdev chain up [--backend anvil|embedded] [--port P] [--config-out FILE]   (foreground until Ctrl-C)
    lpdev chain info [--sender ADDR] [--json]
    lpdev chain fund [--deposit AMOUNT] [--reserve AMOUNT] [--role sender | --key HEX]
    lpdev chain mine N | advance-round | unlock | cancel-unlock | withdraw | withdraw-fees
    lpdev chain build-contracts [--check]

Every command but `up` and `build-contracts` talks to a running chain: `--eth-url URL --controller ADDR`, or
`--config FILE` (written by `chain up`, default .lpdev/chain.json). Keys printed or stored are throwaway dev keys.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

from lpdev.cli import UsageError

DEFAULT_CONFIG = os.path.join(".lpdev", "chain.json")
ETHER = 10**18
_UNITS = {"wei": 1, "gwei": 10**9, "eth": ETHER, "ether": ETHER}


def parse_amount(text: str) -> int:
    """"100" (wei), "1.5eth", "20 gwei" -> wei (exact, no float)."""
    from fractions import Fraction

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text or "")
    if not m:
        raise UsageError(f"bad amount {text!r}: use wei (100), or a unit: 1.5eth, 20gwei")
    unit = (m.group(2) or "wei").lower()
    if unit not in _UNITS:
        raise UsageError(f"bad unit {m.group(2)!r} in {text!r}: use wei, gwei or eth")
    value = Fraction(m.group(1)) * _UNITS[unit]
    if value.denominator != 1:
        raise UsageError(f"{text!r} is not a whole number of wei")
    return int(value)


def _eth(wei: int) -> str:
    from sim.pm.money import float_string  # exact decimal rendering
    from fractions import Fraction

    try:
        return f"{float_string(Fraction(wei, ETHER), 6)} ETH"
    except Exception:
        return f"{wei} wei"


# ---------------------------------------------------------------------- connection
def _add_conn(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chain to talk to")
    g.add_argument("--eth-url", help="JSON-RPC URL of the chain (e.g. http://127.0.0.1:8545)")
    g.add_argument("--controller", help="Controller address (every contract is resolved through it)")
    g.add_argument("--config", help=f"config JSON written by `lpdev chain up` (default {DEFAULT_CONFIG} if present)")
    g.add_argument("--timeout", type=float, default=5.0, help="seconds per RPC before giving up (default 5)")


def _load_config(path: str) -> dict:
    try:
        with open(path) as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found: start a chain with `lpdev chain up` or pass "
                         "--eth-url and --controller") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    if isinstance(cfg, dict) and cfg.get("backend") == "embedded" and not cfg.get("eth_url"):
        if "orchestrators" in cfg:  # a stack document written by `lpdev up`
            raise UsageError(f"{path} describes an `lpdev up --chain embedded` stack: its chain lives inside that "
                             "process and has no RPC URL; run `lpdev up` (anvil, the default) to reach it from other "
                             "commands")
        raise UsageError(f"{path} describes an embedded chain: it lives inside its `lpdev chain up` process and has "
                         "no RPC URL; run `lpdev chain up --backend anvil` to reach it from other commands")
    if not isinstance(cfg, dict):
        raise UsageError(f"config file {path} is not a JSON object: was it written by `lpdev chain up`?")
    for k in ("eth_url", "controller"):
        if not cfg.get(k):
            raise UsageError(f"config file {path} has no {k!r}: was it written by `lpdev chain up`?")
    return cfg


def _connect(args) -> tuple[object, dict]:
    """-> (EvmChain, config dict or {})."""
    cfg: dict = {}
    if args.config or not (args.eth_url or args.controller):
        path = args.config or DEFAULT_CONFIG
        if not args.config and not os.path.exists(path):
            raise UsageError("no chain given: pass --eth-url URL --controller ADDR, or --config FILE "
                             f"(`lpdev chain up` writes {DEFAULT_CONFIG})")
        cfg = _load_config(path)
    eth_url = args.eth_url or cfg.get("eth_url")
    controller = args.controller or cfg.get("controller")
    if not eth_url:
        raise UsageError("--eth-url is required with --controller")
    if not controller:
        raise UsageError("--controller is required with --eth-url")
    from devnet.backends.evm import open_external

    return open_external(eth_url, controller, timeout=args.timeout), cfg


def _key(args, cfg: dict, default_role: str) -> bytes:
    if getattr(args, "key", None):
        k = args.key[2:] if args.key.startswith("0x") else args.key
        try:
            b = bytes.fromhex(k)
        except ValueError:
            b = b""
        if len(b) != 32:
            raise UsageError("--key must be a 32-byte private key in hex")
        return b
    role = getattr(args, "role", None) or default_role
    for a in cfg.get("accounts", []):
        if a.get("role") == role:
            return bytes.fromhex(a["private_key"][2:])
    from devnet.config import DevnetConfig

    try:
        return DevnetConfig().key(role)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def _addr_arg(text: str, what: str) -> bytes:
    t = text[2:] if text.startswith("0x") else text
    try:
        b = bytes.fromhex(t)
    except ValueError:
        b = b""
    if len(b) != 20:
        raise UsageError(f"{what} {text!r} is not an address (0x + 40 hex digits)")
    return b


def _report_tx(name: str, res, as_json: bool = False) -> int:
    if as_json:
        print(json.dumps({"ok": res.ok, "tx_hash": res.tx_hash, "gas_used": res.gas_used,
                          "revert_reason": res.revert_reason, "events": res.events, "block": res.block}))
        return 0 if res.ok else 1
    if not res.ok:
        print(f"lpdev: {name} reverted: {res.revert_reason or '(no reason)'}", file=sys.stderr)
        return 1
    print(f"{name}: ok in block {res.block}, gas {res.gas_used}, tx {res.tx_hash}")
    for e in res.events:
        print(f"  {e['event']}({', '.join(f'{k}={v}' for k, v in e['args'].items())})")
    return 0


def _chain_errors(fn):
    def wrapper(args):
        from devnet.base import ChainError

        try:
            return fn(args)
        except ChainError as exc:
            print(f"lpdev: error: {exc}", file=sys.stderr)
            return 1
    return wrapper


# ---------------------------------------------------------------------- up
def _banner(chain, cfg_out: str | None, elapsed: float) -> str:
    cfg = chain.config
    lines = ["", f"lpdev devnet ({chain.backend}) ready in {elapsed:.2f} s — chain id {chain.chain_id}",
             f"RPC URL: {chain.eth_url or '(in-process only: the embedded chain has no RPC endpoint)'}", "",
             "Accounts (THROWAWAY dev keys from the public anvil mnemonic — never use them for real funds):"]
    for i, a in enumerate(chain.accounts):
        lines.append(f"  ({i}) {a['role']:<13} {a['address']}  key {a['private_key']}  [THROWAWAY]")
    lines += ["", "Contracts:"]
    for name, addr in chain.contracts.items():
        lines.append(f"  {name:<15} {addr}")
    r = chain.current_round()
    lines += ["", f"Round {r} (initialized: {chain.current_round_initialized()}), round length {cfg.round_length} "
                  f"blocks, block {chain.last_block()}; unlock period {cfg.unlock_period} rounds, ticket validity "
                  f"{cfg.ticket_validity_period} rounds"]
    for role in cfg.transcoders:
        active = chain.is_active_transcoder(bytes.fromhex(chain.address(role)[2:]))
        lines.append(f"Orchestrator {role}: {chain.address(role)} — {'registered and active' if active else 'NOT active'}")
    for role in cfg.senders:
        si = chain.sender_info(bytes.fromhex(chain.address(role)[2:]))
        lines.append(f"Sender {role}: {chain.address(role)} — deposit {_eth(si.deposit)}, reserve {_eth(si.reserve)}")
    if cfg_out and not chain.eth_url:
        # no RPC endpoint: `lpdev chain info/fund/mine`, the signer and the orchestrator cannot reach this chain
        lines.append(f"Config: {cfg_out}  (a record only: other lpdev commands cannot reach an in-process chain; "
                     "use `lpdev chain up` (anvil) for them, or `lpdev up --chain embedded` for the whole stack "
                     "in one process)")
    elif cfg_out:
        same = os.path.abspath(cfg_out) == os.path.abspath(DEFAULT_CONFIG)
        lines.append(f"Config: {cfg_out}  " + ("(other lpdev commands read it by default)" if same else
                                              f"(pass --config {cfg_out} to other lpdev commands)"))
    if chain.eth_url:
        lines += ["", "go-livepeer flags: -network=devenv -ethUrl " + chain.eth_url + " -ethController "
                  + chain.contracts["Controller"],
                  "  (PM payment path only: this devnet has no LivepeerToken, ServiceRegistry or real staking)"]
    lines += ["", "Ctrl-C to stop."]
    return "\n".join(lines)


def _funds(chain, role: str) -> dict:
    si = chain.sender_info(bytes.fromhex(chain.address(role)[2:]))
    return {"deposit": si.deposit, "reserve": si.reserve}


def chain_document(chain) -> dict:
    """The config JSON written by `chain up` (keys are throwaway dev keys)."""
    cfg = chain.config
    sender = cfg.senders[0] if cfg.senders else "sender"
    return {
        "note": "throwaway dev keys from the public anvil mnemonic; never use them for real funds",
        "backend": chain.backend,
        "eth_url": chain.eth_url,
        "chain_id": chain.chain_id,
        "controller": chain.contracts["Controller"],
        "contracts": dict(chain.contracts),
        "accounts": [dict(a) for a in chain.accounts],
        "sender": {"address": chain.address(sender), **_funds(chain, sender)},
        "round_length": cfg.round_length,
        "unlock_period": cfg.unlock_period,
        "ticket_validity_period": cfg.ticket_validity_period,
    }


def _tick(chain, auto_round: bool) -> None:
    """One block-ticker step: mine a block; with auto_round, initialize a round that has started (like a
    go-livepeer node run with -initializeRound)."""
    chain.mine(1)
    if auto_round and not chain.current_round_initialized():
        res = chain.initialize_round(chain.key("deployer"))
        if res.ok:
            print(f"round {chain.current_round()} initialized at block {res.block}", flush=True)


def cmd_up(args) -> int:
    t0 = time.monotonic()
    # validate everything before starting anything
    if args.backend != "anvil" and (args.port or args.load_state):
        raise UsageError("--port and --load-state need --backend anvil")
    if args.block_time < 0 or (args.auto_round and not args.block_time):
        raise UsageError("--block-time must be > 0 (and --auto-round needs it)")
    if args.round_length < 1:
        raise UsageError("--round-length must be >= 1 block")
    deposit = parse_amount(args.deposit) if args.deposit is not None else None
    reserve = parse_amount(args.reserve) if args.reserve is not None else None
    proc = None
    if args.backend == "anvil":
        # Start anvil before importing web3 (~1 s of imports) so both happen at once.
        from devnet.base import ChainError
        from devnet.backends.anvil import AnvilProcess

        try:
            proc = AnvilProcess.spawn(port=args.port)
        except ChainError as exc:
            print(f"lpdev: error: {exc}", file=sys.stderr)
            return 1
    from devnet.base import ChainError
    from devnet.config import DevnetConfig
    from devnet.backends import evm

    config = DevnetConfig(round_length=args.round_length)
    if deposit is not None:
        config.sender_deposit = deposit
    if reserve is not None:
        config.sender_reserve = reserve

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    chain = None
    try:
        if args.backend == "anvil":
            chain = evm.open_anvil(config=config, process=proc, load_state=args.load_state)
        else:
            chain = evm.open_embedded(config=config)
        elapsed = time.monotonic() - t0
        doc = chain_document(chain)
        if args.config_out:
            Path(args.config_out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.config_out).write_text(json.dumps(doc, indent=2) + "\n")
        print(_banner(chain, args.config_out, elapsed), flush=True)
        if args.json:
            print(json.dumps(doc), flush=True)
        if args.exit_after_setup:
            return 0
        if args.block_time:
            print(f"mining one block every {args.block_time:g} s"
                  + (" and initializing each new round" if args.auto_round else ""), flush=True)
        next_block = time.monotonic() + (args.block_time or 0)
        while True:
            time.sleep(min(0.5, args.block_time or 0.5))
            if proc is not None:
                proc.check_alive()
            if args.block_time and time.monotonic() >= next_block:
                next_block += args.block_time
                _tick(chain, args.auto_round)
    except KeyboardInterrupt:
        print("\nstopping the chain", file=sys.stderr)
        return 0
    except ChainError as exc:
        print(f"lpdev: error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old)
        try:
            if chain is not None and args.dump_state and chain.backend == "anvil" and proc and proc.alive():
                Path(args.dump_state).write_text(json.dumps(chain.dump_state()))
                print(f"state written to {args.dump_state} (start again with --load-state)", file=sys.stderr)
        except Exception as exc:  # the dump is best effort at shutdown
            print(f"lpdev: could not dump state: {exc}", file=sys.stderr)
        if chain is not None:
            chain.close()
        elif proc is not None:
            proc.stop()
        if args.config_out and os.path.exists(args.config_out) and chain is not None:
            try:
                os.remove(args.config_out)  # the chain is gone: a stale config would point at nothing
            except OSError:
                pass


# ---------------------------------------------------------------------- operations
@_chain_errors
def cmd_info(args) -> int:
    chain, cfg = _connect(args)
    sender_role = (cfg.get("sender") or {}).get("address")
    sender = _addr_arg(args.sender, "--sender") if args.sender else (
        _addr_arg(sender_role, "sender") if sender_role else None)
    r = chain.current_round()
    info = {
        "eth_url": chain.eth_url, "chain_id": chain.chain_id, "block": chain.last_block(),
        "gas_price": chain.gas_price(), "paused": chain.paused(), "contracts": chain.contracts,
        "round": {"current": r, "initialized": chain.current_round_initialized(),
                  "last_initialized": chain.last_initialized_round(), "length": chain.round_length(),
                  "block_hash": "0x" + chain.block_hash_for_round(chain.last_initialized_round()).hex()},
        "unlock_period": chain.unlock_period(), "ticket_validity_period": chain.ticket_validity_period(),
        "transcoder_pool_size": chain.transcoder_pool_size(),
    }
    orchs = [a for a in cfg.get("accounts", []) if a.get("role", "").startswith("orchestrator")]
    info["orchestrators"] = [{"role": a["role"], "address": a["address"],
                              "active": chain.is_active_transcoder(_addr_arg(a["address"], "address")),
                              "pending_fees": chain.pending_fees(_addr_arg(a["address"], "address"))}
                             for a in orchs]
    if sender is not None:
        si = chain.sender_info(sender)
        from eth_utils import to_checksum_address

        s = {"address": to_checksum_address(sender), "deposit": si.deposit, "reserve": si.reserve,
             "withdraw_round": si.withdraw_round, "claimed_in_current_round": si.claimed_in_current_round,
             "unlock_in_progress": chain.is_unlock_in_progress(sender), "eth_balance": chain.eth_balance(sender)}
        s["claimable_reserve"] = {}
        for o in info["orchestrators"]:
            try:
                s["claimable_reserve"][o["address"]] = chain.claimable_reserve(sender, _addr_arg(o["address"], "a"))
            except Exception as exc:
                s["claimable_reserve"][o["address"]] = f"reverts: {getattr(exc, 'reason', exc)}"
        info["sender"] = s
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rd = info["round"]
    print(f"chain {info['chain_id']} at {info['eth_url']}: block {info['block']}, gas price {info['gas_price']} wei"
          f"{', PAUSED' if info['paused'] else ''}")
    print(f"round {rd['current']} ({'initialized' if rd['initialized'] else 'NOT initialized'}; last initialized "
          f"{rd['last_initialized']}, length {rd['length']} blocks); unlock period {info['unlock_period']} rounds, "
          f"ticket validity {info['ticket_validity_period']} rounds; transcoder pool {info['transcoder_pool_size']}")
    for name, addr in info["contracts"].items():
        print(f"  {name:<15} {addr}")
    for o in info["orchestrators"]:
        print(f"orchestrator {o['role']} {o['address']}: {'active' if o['active'] else 'not active'}, pending fees "
              f"{_eth(o['pending_fees'])}")
    if "sender" in info:
        s = info["sender"]
        print(f"sender {s['address']}: deposit {_eth(s['deposit'])}, reserve {_eth(s['reserve'])} (claimed this "
              f"round {_eth(s['claimed_in_current_round'])}), withdraw round {s['withdraw_round']}"
              f"{' (unlock in progress)' if s['unlock_in_progress'] else ''}, balance {_eth(s['eth_balance'])}")
        for a, v in s["claimable_reserve"].items():
            print(f"  claimable reserve for {a}: {v if isinstance(v, str) else _eth(v)}")
    return 0


@_chain_errors
def cmd_fund(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "sender")
    deposit = parse_amount(args.deposit)
    reserve = parse_amount(args.reserve)
    if deposit and reserve:
        res = chain.fund_deposit_and_reserve(key, deposit, reserve)
    elif reserve:
        res = chain.fund_reserve(key, reserve)
    else:
        res = chain.fund_deposit(key, deposit)
    return _report_tx("fund", res, args.json)


@_chain_errors
def cmd_mine(args) -> int:
    if args.n < 0:
        raise UsageError("N must be >= 0")
    chain, _ = _connect(args)
    out = chain.mine(args.n)
    print(json.dumps(out) if args.json else out["summary"])
    return 0


@_chain_errors
def cmd_advance_round(args) -> int:
    chain, cfg = _connect(args)
    out = chain.advance_round(_key(args, cfg, "deployer"))
    print(json.dumps(out) if args.json else out["summary"])
    return 0


def _simple_tx(method: str, default_role: str):
    @_chain_errors
    def run(args) -> int:
        chain, cfg = _connect(args)
        res = getattr(chain, method)(_key(args, cfg, default_role))
        return _report_tx(method.replace("_", "-"), res, args.json)
    return run


@_chain_errors
def cmd_build(args) -> int:
    from devnet import build

    return build.main(["--check"] if args.check else [])


def register(subparsers) -> None:
    p = subparsers.add_parser("chain", help="local chain with the PM contracts (anvil / embedded py-evm)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="chain_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    up = sub.add_parser("up", help="start a chain, deploy and set up the contracts; foreground until Ctrl-C")
    up.add_argument("--backend", choices=("anvil", "embedded"), default="anvil")
    up.add_argument("--port", type=int, default=None, help="anvil port (default: a free port)")
    up.add_argument("--config-out", default=DEFAULT_CONFIG, help=f"write the chain config JSON here "
                                                                  f"(default {DEFAULT_CONFIG}; removed on exit)")
    up.add_argument("--round-length", type=int, default=100,
                    help="blocks per round (default 100: more than the 40-block params expiry, so a winning ticket "
                         "can still be redeemed in its creation round or the next — with 20, none could)")
    up.add_argument("--deposit", default=None, help="sender deposit (default 100eth)")
    up.add_argument("--reserve", default=None, help="sender reserve (default 100eth)")
    up.add_argument("--dump-state", metavar="FILE", help="anvil: write the chain state here on exit")
    up.add_argument("--load-state", metavar="FILE", help="anvil: start from a state written by --dump-state")
    up.add_argument("--block-time", type=float, default=0, metavar="S",
                    help="also mine an empty block every S seconds (transactions are always mined at once)")
    up.add_argument("--auto-round", action="store_true",
                    help="with --block-time: initialize each new round as it starts")
    up.add_argument("--json", action="store_true", help="also print the config JSON on one line")
    up.add_argument("--exit-after-setup", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)

    info = sub.add_parser("info", help="rounds, contracts, orchestrators and a sender's deposit/reserve")
    _add_conn(info)
    info.add_argument("--sender", help="sender address (default: the config's sender)")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    def keyed(name, help_, func, default_role):
        sp = sub.add_parser(name, help=help_)
        _add_conn(sp)
        sp.add_argument("--role", help=f"account role from the config (default {default_role})")
        sp.add_argument("--key", help="private key (hex) of the account instead of --role")
        sp.add_argument("--json", action="store_true")
        sp.set_defaults(func=func)
        return sp

    fund = keyed("fund", "fund a sender's deposit and/or reserve", cmd_fund, "sender")
    fund.add_argument("--deposit", default="10eth", help="deposit to add (wei, or 1.5eth, 20gwei; default 10eth)")
    fund.add_argument("--reserve", default="0", help="reserve to add (default 0)")
    keyed("unlock", "start the sender's unlock period", _simple_tx("unlock", "sender"), "sender")
    keyed("cancel-unlock", "cancel the sender's unlock", _simple_tx("cancel_unlock", "sender"), "sender")
    keyed("withdraw", "withdraw deposit + reserve after the unlock period", _simple_tx("withdraw", "sender"), "sender")
    keyed("withdraw-fees", "orchestrator: withdraw the fees earned by redeemed tickets",
          _simple_tx("withdraw_fees", "orchestrator"), "orchestrator")

    mine = sub.add_parser("mine", help="mine N empty blocks and say what that changes")
    _add_conn(mine)
    mine.add_argument("n", type=int, metavar="N")
    mine.add_argument("--json", action="store_true")
    mine.set_defaults(func=cmd_mine)

    adv = keyed("advance-round", "mine to the next round and initialize it", cmd_advance_round, "deployer")
    adv.set_defaults(func=cmd_advance_round)

    b = sub.add_parser("build-contracts", help="compile devnet/contracts with the pinned solc-js into contracts_abi/")
    b.add_argument("--check", action="store_true", help="only check that contracts_abi/ is up to date")
    b.set_defaults(func=cmd_build)
