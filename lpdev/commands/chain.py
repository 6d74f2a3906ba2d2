"""`lpdev chain ...`: run a local chain with the Livepeer protocol contracts and operate on it.

    lpdev chain up [--backend anvil|embedded] [--port P] [--config-out FILE]   (foreground until Ctrl-C)
    lpdev chain up --fork-url URL [--fork-block N] [--controller ADDR] [--orchestrator-address ADDR]
    lpdev chain info [--sender ADDR] [--json]
    lpdev chain fund [--deposit AMOUNT] [--reserve AMOUNT] [--role sender | --key HEX]
    lpdev chain bond [--amount 1000lpt] [--reward-cut 10%] [--fee-share 5%]   (orchestrator: bond + transcoder())
    lpdev chain delegate --to ADDR|ROLE [--amount 500lpt] [--role delegator]
    lpdev chain unbond AMOUNT | rebond LOCK_ID | withdraw-stake LOCK_ID | claim-earnings
    lpdev chain eth-usd [PRICE] [--stale [--age S]]
    lpdev chain mine N | advance-round | unlock | cancel-unlock | withdraw | withdraw-fees
    lpdev chain build-contracts [--check]

Every command but `up` and `build-contracts` talks to a running chain: `--eth-url URL --controller ADDR`, or
`--config FILE` (`lpdev chain up`'s .lpdev/chain.json, or a running `lpdev up`'s .lpdev/stack.json), or `--stack NAME`
(a running `lpdev up`, from any folder; `lpdev ps` lists them). With none of these: this folder's .lpdev/chain.json,
else the only running `lpdev up` stack.
Keys printed or stored are throwaway dev keys.
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
STACK_CONFIG = os.path.join(".lpdev", "stack.json")  # written by a running `lpdev up`
ETHER = 10**18
LPT = 10**18
_UNITS = {"wei": 1, "gwei": 10**9, "eth": ETHER, "ether": ETHER}
NO_CHAIN = (f"no chain given: start one with `lpdev chain up` (it writes {DEFAULT_CONFIG}, read by default) or "
            "`lpdev up` (found from any folder; --stack NAME when several run), or pass --config FILE (e.g. a running "
            f"`lpdev up`'s {STACK_CONFIG}) or --eth-url URL --controller ADDR")


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


def parse_lpt(text: str) -> int:
    """"1000" or "1.5lpt" (LPT), "500wei" (base units; LPT has 18 decimals) -> base units (exact)."""
    from fractions import Fraction

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text or "")
    unit = (m.group(2) or "lpt").lower() if m else ""
    if not m or unit not in ("lpt", "wei"):
        raise UsageError(f"bad LPT amount {text!r}: use LPT (1000, 1.5lpt) or base units (500wei)")
    value = Fraction(m.group(1)) * (LPT if unit == "lpt" else 1)
    if value.denominator != 1:
        raise UsageError(f"{text!r} is not a whole number of LPT base units (18 decimals)")
    return int(value)


def parse_rate(text: str, what: str) -> int:
    """"10%" or "100000" (over 1e6) -> the protocol's rate over 1e6."""
    from fractions import Fraction

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(%?)\s*", text or "")
    if not m:
        raise UsageError(f"bad {what} {text!r}: use a percentage (10%) or parts per million (100000)")
    value = Fraction(m.group(1)) * (10_000 if m.group(2) else 1)
    if value.denominator != 1 or value > 1_000_000:
        raise UsageError(f"bad {what} {text!r}: at most 100% (1000000), in steps of 0.0001%")
    return int(value)


def _usd(x) -> str:
    """A Fraction of USD as a decimal string (the feed has 8 decimals): "2500.5"."""
    from sim.pm.money import float_string

    text = float_string(x, 8)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _lpt(units: int) -> str:
    from fractions import Fraction

    from sim.pm.money import float_string

    return f"{float_string(Fraction(units, LPT), 6)} LPT"


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
    g.add_argument("--config", help=f"config JSON: `lpdev chain up`'s (default {DEFAULT_CONFIG} if present) or a "
                                    f"running `lpdev up`'s {STACK_CONFIG}")
    g.add_argument("--stack", metavar="NAME", help="the chain of the running `lpdev up` stack NAME (`lpdev ps`); "
                                                  f"default when there is no {DEFAULT_CONFIG}: the only running stack")
    g.add_argument("--timeout", type=float, default=5.0, help="seconds per RPC before giving up (default 5)")


def _load_config(path: str) -> dict:
    from sim.wire import bounded

    if not os.path.exists(path):
        raise UsageError(f"config file {path} not found: start a chain with `lpdev chain up` (it writes "
                         f"{DEFAULT_CONFIG}), or pass a running `lpdev up`'s {STACK_CONFIG}, or --eth-url and "
                         "--controller")
    try:
        cfg = bounded.load_json_file(path)
    except bounded.BoundedInputError as exc:
        raise UsageError(str(exc)) from None
    return _check_config(cfg, path, f"config file {path}")


def _check_config(cfg, path: str, where: str) -> dict:
    """``cfg`` (from ``where``) names a chain other processes can reach, or a one-line UsageError says why not."""
    if isinstance(cfg, dict) and cfg.get("backend") in ("embedded", "mock") and not cfg.get("eth_url"):
        if "orchestrators" in cfg:  # a stack document written by `lpdev up`
            raise UsageError(f"{path} describes an `lpdev up --chain {cfg['backend']}` stack: its chain lives inside "
                             "that process and has no RPC URL; run `lpdev up` (anvil, the default) to reach it from "
                             "other commands")
        raise UsageError(f"{path} describes an embedded chain: it lives inside its `lpdev chain up` process and has "
                         "no RPC URL; run `lpdev chain up --backend anvil` to reach it from other commands")
    if not isinstance(cfg, dict):
        raise UsageError(f"{where} is not a JSON object: was it written by `lpdev chain up` or `lpdev up`?")
    for k in ("eth_url", "controller"):
        if not cfg.get(k):
            raise UsageError(f"{where} has no {k!r}: was it written by `lpdev chain up` or `lpdev up`?")
    return cfg


def _find_config(args) -> dict:
    """The chain config a command uses: --config, else the running stack --stack names, else this folder's
    `lpdev chain up` config, else the only running `lpdev up` stack (from any folder)."""
    name = getattr(args, "stack", None)
    if args.config:
        if name:
            raise UsageError("--config and --stack both name a chain: pass one")
        return _load_config(args.config)
    if name or not os.path.exists(DEFAULT_CONFIG):
        from stack.registry import RegistryError, pick, running

        if name or running():
            try:
                doc = pick(name)
            except RegistryError as exc:
                raise UsageError(str(exc)) from None
            return _check_config(doc, f"the running stack {doc.get('name')!r}", f"stack {doc.get('name')!r}")
        raise UsageError(NO_CHAIN)
    return _load_config(DEFAULT_CONFIG)


def _connect(args) -> tuple[object, dict]:
    """-> (EvmChain, config dict or {})."""
    cfg: dict = {}
    if getattr(args, "stack", None) and (args.eth_url or args.controller):
        raise UsageError("--stack names a running stack's chain: drop --eth-url/--controller")
    if args.config or not (args.eth_url or args.controller):
        cfg = _find_config(args)
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
    fork = getattr(chain, "fork", None)
    if fork:
        head = [f"lpdev devnet: a FORK of {fork['url']} at block {fork['block']} (chain id {fork['chain_id']}), "
                f"ready in {elapsed:.2f} s",
                "This is a local anvil copy: transactions stay on it, the forked chain is only read.",
                f"RPC URL: {chain.eth_url}"]
    else:
        head = [f"lpdev devnet ({chain.backend}) ready in {elapsed:.2f} s — chain id {chain.chain_id}",
                f"RPC URL: {chain.eth_url or '(in-process only: the embedded chain has no RPC endpoint)'}"]
    lines = ["", *head, "",
             "Accounts (THROWAWAY dev keys from the public anvil mnemonic — never use them for real funds):"]
    for i, a in enumerate(chain.accounts):
        lines.append(f"  ({i}) {a['role']:<13} {a['address']}  key {a['private_key']}  [THROWAWAY]")
    lines += ["", "Contracts" + (" (resolved through the Controller)" if fork else "")
              + ": proxies under their names, their targets as <name>Target:"]
    for name, addr in chain.contracts.items():
        lines.append(f"  {name:<22} {addr}")
    r = chain.current_round()
    lines += ["", f"Round {r} (initialized: {chain.current_round_initialized()}), round length {chain.round_length()} "
                  f"blocks, block {chain.last_block()}; unlock period {chain.unlock_period()} rounds, ticket validity "
                  f"{chain.ticket_validity_period()} rounds"]
    if fork:
        o = fork["orchestrator"]
        lines.append(f"Orchestrator: {o['address']} — {o['how']}"
                     + (f", dev role {o['dev_role']}" if o["dev_role"] else f"; {o['note']}"))
    for role in ([] if fork else cfg.transcoders):
        a = bytes.fromhex(chain.address(role)[2:])
        t = chain.transcoder_info(a)
        lines.append(f"Orchestrator {role}: {chain.address(role)} — "
                     f"{'bonded and active' if t.active else 'NOT active'}, stake {_lpt(t.total_stake)}, reward cut {t.reward_cut / 10_000:g}%, fee share "
                     f"{t.fee_share / 10_000:g}%")
    for role in cfg.senders:
        si = chain.sender_info(bytes.fromhex(chain.address(role)[2:]))
        lines.append(f"Sender {role}: {chain.address(role)} — deposit {_eth(si.deposit)}, reserve {_eth(si.reserve)}")
    try:
        feed = chain.eth_usd()
        lines.append(f"ETH/USD feed: {_usd(feed.usd_per_eth)} USD per ETH at {chain.contracts['EthUsdPriceFeed']} "
                     "(`lpdev chain eth-usd PRICE [--stale]` moves it)")
    except Exception as exc:  # noqa: BLE001 - informational
        lines.append(f"ETH/USD feed: {exc}")
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
        lines += ["", "go-livepeer flags: -network=" + ("arbitrum-one-mainnet" if fork and chain.chain_id == 42161
                                                       else "devenv")
                  + f" -ethUrl {chain.eth_url} -ethController {chain.contracts['Controller']}"
                  + (f" -priceFeedAddr {chain.contracts['EthUsdPriceFeed']}" if "EthUsdPriceFeed" in chain.contracts
                     else "")]
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
        "round_length": chain.round_length(),
        "unlock_period": chain.unlock_period(),
        "ticket_validity_period": chain.ticket_validity_period(),
        "fork": getattr(chain, "fork", None),
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
    fork_only = [f for f, v in (("--fork-block", args.fork_block), ("--controller", args.controller),
                                ("--orchestrator-address", args.orchestrator_address)) if v is not None]
    if args.fork_url is None and fork_only:
        raise UsageError(f"{', '.join(fork_only)} {'needs' if len(fork_only) == 1 else 'need'} --fork-url")
    if args.fork_url is not None:
        if args.backend != "anvil" or args.load_state or args.dump_state or args.round_length is not None:
            raise UsageError("--fork-url forks on anvil with the forked chain's own rounds and state: it does not "
                             "go with --backend embedded, --load-state, --dump-state or --round-length")
        if args.controller is not None:
            _addr_arg(args.controller, "--controller")
        if args.orchestrator_address is not None:
            _addr_arg(args.orchestrator_address, "--orchestrator-address")
    if args.round_length is None:
        args.round_length = 100
    if args.backend != "anvil" and (args.port or args.load_state):
        raise UsageError("--port and --load-state need --backend anvil")
    if args.block_time < 0 or (args.auto_round and not args.block_time):
        raise UsageError("--block-time must be > 0 (and --auto-round needs it)")
    if args.round_length < 1:
        raise UsageError("--round-length must be >= 1 block")
    deposit = parse_amount(args.deposit) if args.deposit is not None else None
    reserve = parse_amount(args.reserve) if args.reserve is not None else None
    proc = None
    if args.backend == "anvil" and args.fork_url is None:
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
        if args.fork_url is not None:
            from devnet.backends.fork import open_fork

            chain = open_fork(args.fork_url, fork_block=args.fork_block, controller=args.controller,
                              orchestrator_address=args.orchestrator_address, config=config, port=args.port)
            proc = chain._process
        elif args.backend == "anvil":
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
    info["bonding"] = _bonding_info(chain, cfg)
    try:
        feed = chain.eth_usd()
        info["eth_usd"] = {"usd_per_eth": _usd(feed.usd_per_eth), "updated_at": feed.updated_at,
                           "age_s": chain.block_timestamp() - feed.updated_at, "round_id": feed.round_id,
                           "decimals": feed.decimals, "feed": chain.contracts.get("EthUsdPriceFeed")}
    except Exception as exc:  # noqa: BLE001 - a chain without lpdev's feed: say so, the rest stands
        info["eth_usd"] = {"error": str(exc)}
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
    b = info["bonding"]
    print(f"bonding: total active stake {_lpt(b['total_active_stake'])} this round; pool (most stake first):")
    for t in b["pool"]:
        print(f"  {t['address']}: stake {_lpt(t['total_stake'])}, {'active' if t['active'] else 'active next round'}, "
              f"reward cut {t['reward_cut'] / 10_000:g}%, fee share {t['fee_share'] / 10_000:g}% to delegators")
    for d in b["accounts"]:
        print(f"  {d['role']:<13} {d['address']}: {_lpt(d['bonded'])} bonded to {d['delegate']} "
              f"({d['status'].lower()}), pending fees {_eth(d['pending_fees'])}")
    e = info["eth_usd"]
    if "error" in e:
        print(f"ETH/USD: {e['error']}")
    else:
        print(f"ETH/USD {e['usd_per_eth']} (round {e['round_id']}, updated {e['age_s']} s before the latest block; "
              f"feed {e['feed']})")
    return 0


def _bonding_info(chain, cfg: dict) -> dict:
    """The transcoder pool and the bonding state of the config's dev accounts."""
    zero = "0x" + "00" * 20
    pool = []
    for a in chain.transcoder_pool():
        t = chain.transcoder_info(_addr_arg(a, "address"))
        pool.append({"address": a, "total_stake": t.total_stake, "active": t.active, "reward_cut": t.reward_cut,
                     "fee_share": t.fee_share, "activation_round": t.activation_round,
                     "pending_fees": chain.pending_fees(_addr_arg(a, "address"))})
    accounts = []
    for acct in cfg.get("accounts", []):
        a = _addr_arg(acct["address"], "address")
        d = chain.delegator_info(a)
        if d.bonded_amount or d.fees or d.delegate_address != zero:
            accounts.append({"role": acct.get("role"), "address": acct["address"], "status": d.status,
                             "bonded": d.bonded_amount, "delegate": d.delegate_address,
                             "pending_fees": chain.pending_fees(a), "pending_stake": chain.pending_stake(a)})
    return {"total_active_stake": chain.total_bonded(), "pool": pool, "accounts": accounts}


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


def _report_steps(steps, as_json: bool) -> int:
    """Run (name, thunk) transactions in order, reporting each; stop at the first revert (exit 1)."""
    done = []
    for name, run in steps:
        res = run()
        done.append((name, res))
        if not res.ok:
            break
    if as_json:
        print(json.dumps([{"step": n, "ok": r.ok, "tx_hash": r.tx_hash, "gas_used": r.gas_used,
                           "revert_reason": r.revert_reason, "events": r.events, "block": r.block}
                          for n, r in done]))
        return 0 if done[-1][1].ok else 1
    for n, r in done:
        code = _report_tx(n, r)
        if code:
            return code
    return 0


def _me(key: bytes) -> bytes:
    from devnet.txsign import address_of

    return bytes.fromhex(address_of(key)[2:])


def _to_arg(text: str, cfg: dict) -> bytes:
    """An address, or a role of the config's accounts (orchestrator, orchestrator2, ...)."""
    if text.startswith("0x") or len(text) == 40:
        return _addr_arg(text, "--to")
    for a in cfg.get("accounts", []):
        if a.get("role") == text:
            return _addr_arg(a["address"], "--to")
    from devnet.config import DevnetConfig

    try:
        return _addr_arg(DevnetConfig().address(text), "--to")
    except KeyError:
        raise UsageError(f"--to {text!r} is neither an address nor a role of the config's accounts") from None


@_chain_errors
def cmd_bond(args) -> int:
    """approve + bond(amount, self) + transcoder(rewardCut, feeShare): what an orchestrator does to be paid."""
    chain, cfg = _connect(args)
    key = _key(args, cfg, "orchestrator")
    amount = parse_lpt(args.amount)
    cuts_given = args.reward_cut is not None or args.fee_share is not None
    reward_cut = parse_rate(args.reward_cut or "10%", "--reward-cut")
    fee_share = parse_rate(args.fee_share or "5%", "--fee-share")
    me = _me(key)
    steps = [("approve", lambda: chain.lpt_approve(key, amount)), ("bond", lambda: chain.bond(key, amount, me))]
    code = _report_steps(steps, args.json)
    if code:
        return code
    # A self-bond already put it in the pool; transcoder() sets its cuts. An ACTIVE transcoder may only change them
    # after reward() in the round (the contract says so), so for one that is active this needs --set-cuts.
    if not chain.is_active_transcoder(me) or args.set_cuts:
        code = _report_steps([("transcoder", lambda: chain.register_transcoder(key, reward_cut, fee_share))], args.json)
        if code:
            return code
    elif cuts_given and not args.json:
        print("note: active transcoder: transcoder() with new cuts was NOT sent (the protocol allows it only after "
              "reward() in the round); pass --set-cuts to send it anyway")
    if not args.json:
        t = chain.transcoder_info(me)
        when = "active now" if t.active else f"active from round {t.activation_round}" if t.activation_round > \
            chain.current_round() else "NOT in the active set (the pool is full and its last member has more stake)"
        from sim.pm.crypto import to_checksum_address

        print(f"transcoder {to_checksum_address(me)}: stake {_lpt(t.total_stake)}, reward cut "
              f"{t.reward_cut / 10_000:g}%, fee share {t.fee_share / 10_000:g}%, "
              f"{when}")
    return 0


@_chain_errors
def cmd_delegate(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "delegator")
    amount = parse_lpt(args.amount)
    to = _to_arg(args.to, cfg)
    code = _report_steps([("approve", lambda: chain.lpt_approve(key, amount)),
                          ("bond", lambda: chain.bond(key, amount, to))], args.json)
    if code == 0 and not args.json:
        d = chain.delegator_info(_me(key))
        print(f"delegator: bonded {_lpt(d.bonded_amount)} to {d.delegate_address} ({d.status.lower()}: its share of "
              f"the transcoder's fees counts from round {d.start_round})")
    return code


@_chain_errors
def cmd_unbond(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "delegator")
    return _report_steps([("unbond", lambda: chain.unbond(key, parse_lpt(args.amount)))], args.json)


@_chain_errors
def cmd_rebond(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "delegator")
    if args.to:
        to = _to_arg(args.to, cfg)
        return _report_steps([("rebond-from-unbonded", lambda: chain.rebond_from_unbonded(key, to, args.lock_id))],
                             args.json)
    return _report_steps([("rebond", lambda: chain.rebond(key, args.lock_id))], args.json)


@_chain_errors
def cmd_withdraw_stake(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "delegator")
    return _report_steps([("withdraw-stake", lambda: chain.withdraw_stake(key, args.lock_id))], args.json)


@_chain_errors
def cmd_claim_earnings(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "delegator")
    code = _report_steps([("claim-earnings", lambda: chain.claim_earnings(key))], args.json)
    if code == 0 and not args.json:
        d = chain.delegator_info(_me(key))
        print(f"claimed up to round {d.last_claim_round}: withdrawable fees {_eth(d.fees)} "
              "(`lpdev chain withdraw-fees` pays them)")
    return code


@_chain_errors
def cmd_withdraw_fees(args) -> int:
    chain, cfg = _connect(args)
    key = _key(args, cfg, "orchestrator")
    amount = parse_amount(args.amount) if args.amount else None
    return _report_tx("withdraw-fees", chain.withdraw_fees(key, amount), args.json)


@_chain_errors
def cmd_eth_usd(args) -> int:
    """Show, set or age the ETH/USD feed."""
    from devnet.base import ETH_USD_STALE_AGE_S

    if args.age is not None and not args.stale:
        raise UsageError("--age needs --stale")
    chain, cfg = _connect(args)
    key = _key(args, cfg, "deployer")
    if args.price is not None or args.stale:
        price = args.price if args.price is not None else chain.eth_usd().usd_per_eth
        updated_at = None
        if args.stale:
            age = ETH_USD_STALE_AGE_S if args.age is None else args.age
            if age <= 0:
                raise UsageError("--age must be > 0 seconds")
            updated_at = max(1, chain.block_timestamp() - age)
        try:
            res = chain.set_eth_usd(price, updated_at=updated_at, key=key)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not res.ok:
            return _report_tx("eth-usd", res, args.json)
    feed = chain.eth_usd()
    age = chain.block_timestamp() - feed.updated_at
    doc = {"usd_per_eth": _usd(feed.usd_per_eth), "updated_at": feed.updated_at, "age_s": age,
           "round_id": feed.round_id, "decimals": feed.decimals, "wei_per_usd": str(feed.wei_per_usd()),
           "feed": chain.contracts.get("EthUsdPriceFeed")}
    if args.json:
        print(json.dumps(doc))
    else:
        stale = " — STALE for signers that allow 2 h (ETHUSDMaxAge)" if age > 2 * 3600 else ""
        print(f"ETH/USD {doc['usd_per_eth']} (round {feed.round_id}, updatedAt {feed.updated_at}: {age} s before the "
              f"latest block{stale}); feed {doc['feed']}")
    return 0


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
    up.add_argument("--round-length", type=int, default=None,
                    help="blocks per round (default 100: more than the 40-block params expiry, so a winning ticket "
                         "can still be redeemed in its creation round or the next — with 20, none could)")
    fk = up.add_argument_group("fork mode (anvil --fork-url: the real contracts of a live chain, locally)")
    fk.add_argument("--fork-url", metavar="URL", help="JSON-RPC URL of the chain to fork (e.g. an Arbitrum One RPC)")
    fk.add_argument("--fork-block", type=int, metavar="N", help="fork at this block (default: the latest)")
    fk.add_argument("--controller", metavar="ADDR", help="the Livepeer Controller to resolve every contract through "
                                                         "(default: Arbitrum One's when the chain id is 42161)")
    fk.add_argument("--orchestrator-address", metavar="ADDR",
                    help="impersonate this registered transcoder instead of bonding the dev orchestrator")
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
    wf = keyed("withdraw-fees", "claim earnings and withdraw fees (an orchestrator's commission and share, a "
                                "delegator's share)", cmd_withdraw_fees, "orchestrator")
    wf.add_argument("--amount", help="how much (wei, or 0.1eth; default: all pending fees)")

    bond = keyed("bond", "orchestrator: approve and bond LPT to itself, then transcoder(rewardCut, feeShare) "
                         "(active from the next round)", cmd_bond, "orchestrator")
    bond.add_argument("--amount", default="1000", help="LPT to bond: 1000 or 1.5lpt, or base units 500wei "
                                                       "(default 1000 LPT)")
    bond.add_argument("--reward-cut", help="share of rewards kept (10%% or 100000 over 1e6; default 10%%)")
    bond.add_argument("--fee-share", help="share of fees paid to delegators, itself included (5%% or 50000; "
                                          "default 5%%)")
    bond.add_argument("--set-cuts", action="store_true",
                      help="also call transcoder() when already in the pool (an active transcoder may only do that "
                           "after reward() in the round)")
    dl = keyed("delegate", "approve and bond LPT to a transcoder (a share of its fees from the next round)",
               cmd_delegate, "delegator")
    dl.add_argument("--to", required=True, help="transcoder address, or a role of the config (orchestrator)")
    dl.add_argument("--amount", default="500", help="LPT to bond (default 500 LPT)")
    ub = keyed("unbond", "unbond LPT: an unbonding lock, withdrawable after the unbonding period", cmd_unbond,
               "delegator")
    ub.add_argument("amount", metavar="AMOUNT", help="LPT (100, 1.5lpt, 500wei)")
    rb = keyed("rebond", "rebond an unbonding lock (to the current delegate, or --to one when fully unbonded)",
               cmd_rebond, "delegator")
    rb.add_argument("lock_id", type=int, metavar="LOCK_ID")
    rb.add_argument("--to", help="delegate when fully unbonded (rebondFromUnbonded)")
    ws = keyed("withdraw-stake", "withdraw an unbonding lock's LPT after the unbonding period", cmd_withdraw_stake,
               "delegator")
    ws.add_argument("lock_id", type=int, metavar="LOCK_ID")
    keyed("claim-earnings", "claim fees earned since the last claim into withdrawable fees", cmd_claim_earnings,
          "delegator")
    eu = keyed("eth-usd", "show the ETH/USD feed, set its price (PRICE), or make it stale (--stale)", cmd_eth_usd,
               "deployer")
    eu.add_argument("price", nargs="?", metavar="PRICE", help="USD per ETH, e.g. 3000 or 2999.5 (8 decimals at most)")
    eu.add_argument("--stale", action="store_true", help="a new round whose updatedAt is --age seconds before the "
                                                         "latest block (default 3 h: older than signers' 2 h)")
    eu.add_argument("--age", type=int, help="with --stale: seconds (default 10800)")

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
