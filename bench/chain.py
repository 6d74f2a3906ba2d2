"""Gas vs the real protocol contracts, chain setup time and redemption throughput per devnet backend.

- gas: the operations an orchestrator's margin and a sender's costs depend on, run on anvil with lpdev's
  contracts in the same scenario as the reference figures (REFERENCE_GAS, from sim/economics/reference.py:
  livepeer/protocol's contracts behind their proxies on anvil), each printed beside its reference with the
  ratio; every ratio must be within 0.9-1.1.
- setup: wall time from launching `lpdev chain up` (a fresh Python process) until its config file exists, i.e.
  contracts deployed, round initialized, orchestrator bonded and active, sender funded; for anvil and embedded.
  Also the in-process `open_chain` time (imports already paid).
- baseline: a bare anvil from spawn to its first JSON-RPC answer, measured in the same run.
- redemptions/s: sequential winning-ticket redemptions (simulate + send + receipt) on each backend (anvil,
  embedded and the pure-Python mock).
Targets: anvil setup under 2 s (issue 3); gas within 10 % of the real contracts (issue 17). Exit 1 on a miss.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._baselines import bare_anvil_start_s
from sim.economics.reference import PROTOCOL_GAS
from sim.wire.bounded import argtype, parse_int

ROOT = Path(__file__).resolve().parent.parent
TARGET_ANVIL_SETUP_S = 2.0
GAS_RATIO_RANGE = (0.9, 1.1)

# Gas used by livepeer/protocol's own contracts for the same operations in the same scenario (gas_scenario below);
# the figures and their provenance live with the economics that charges them (sim/economics/reference.py).
REFERENCE_GAS = PROTOCOL_GAS
GAS_LABELS = {
    "redeem_first_in_round": "redeemWinningTicket, first in the round for the orchestrator",
    "redeem": "redeemWinningTicket, later in the round (paid from the deposit)",
    "batch_redeem_5": "batchRedeemWinningTickets, 5 winning tickets",
    "redeem_partly_from_reserve": "redeemWinningTicket, deposit short: the rest from the reserve",
    "withdraw_fees": "withdrawFees by the orchestrator, the round after its fees",
    "unlock": "unlock by the sender",
    "withdraw": "withdraw by the sender after the unlock period",
}


BACKENDS = ("anvil", "embedded", "mock")


def _backends(text: str) -> list[str]:
    """``--backends``: a comma list of BACKENDS (argparse type: a bad name is a one-line usage error)."""
    names = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in names if b not in BACKENDS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown backend {', '.join(repr(b[:20]) for b in bad) or repr(text)} "
                                         f"(choose from {', '.join(BACKENDS)})")
    return list(dict.fromkeys(names))


def add_arguments(parser) -> None:
    parser.add_argument("--gas-only", action="store_true", help="only the gas table (skips setup and redemptions/s)")
    parser.add_argument("--repeat", type=argtype(parse_int, min=1, max=100), default=3,
                        help="runs per setup measurement (median; default 3)")
    parser.add_argument("--redemptions", type=argtype(parse_int, min=1, max=100_000), default=40,
                        help="tickets redeemed per backend (default 40)")
    parser.add_argument("--backends", type=_backends, default=list(BACKENDS),
                        help=f"comma list of {', '.join(BACKENDS)} (default all)")


def _cli_setup_s(backend: str, timeout: float = 120.0) -> float:
    """Launch `lpdev chain up` and time until its config JSON appears (command start -> funded chain)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "chain.json"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lpdev", "chain", "up", "--backend", backend,
                                 "--config-out", str(cfg)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            while not cfg.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"chain up ({backend}) exited: {proc.stderr.read().decode()[-500:]}")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"chain up ({backend}) not ready after {timeout:.0f} s")
                time.sleep(0.002)
            return time.perf_counter() - t0
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _open_s(backend: str, round_length: int):
    from devnet import open_chain
    from devnet.config import DevnetConfig

    t0 = time.perf_counter()
    chain = open_chain(backend, config=DevnetConfig(round_length=round_length))
    return chain, time.perf_counter() - t0


def _redemptions_per_s(chain, n: int) -> dict:
    from sim.pm.crypto import keccak
    from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

    sender_key = chain.key("sender")
    sender = bytes.fromhex(chain.address("sender")[2:])
    recipient = bytes.fromhex(chain.address("orchestrator")[2:])
    orch_key = chain.key("orchestrator")
    r = chain.last_initialized_round()
    h = chain.block_hash_for_round(r)
    tickets = []
    for i in range(n):
        rand = int.from_bytes(keccak(b"bench%d" % i), "big")
        t = Ticket(recipient=recipient, sender=sender, face_value=10**12, win_prob=MAX_WIN_PROB, sender_nonce=i + 1,
                   recipient_rand_hash=keccak(u256(rand)), creation_round=r, creation_round_block_hash=h)
        tickets.append((t, t.sign(sender_key), rand))
    gas = []
    t0 = time.perf_counter()
    for t, sig, rand in tickets:
        res = chain.redeem_winning_ticket(t, sig, rand, from_key=orch_key)
        if not res.ok:
            raise RuntimeError(f"{chain.backend}: redemption failed: {res.revert_reason}")
        gas.append(res.gas_used)
    dt = time.perf_counter() - t0
    return {"n": n, "seconds": round(dt, 4), "per_s": round(n / dt, 1), "gas_per_redeem": int(statistics.median(gas))}


def gas_scenario(chain) -> dict[str, int]:
    """The reference scenario, on a chain opened with :func:`gas_config`: the orchestrator bonded 1000 LPT to
    itself and registered (10 % reward cut, 5 % fee share), a delegator bonded 500 LPT to it, both in the same
    round; the next round it is active and the sender has funded 100 ETH deposit + 100 ETH reserve, a second sender
    0.5 ETH deposit + 10 ETH reserve; one more round, then 1 ETH winning tickets: the orchestrator's first
    redemption of the round, a second one, a batch of 5, one from the second sender (0.5 ETH from its deposit, 0.5
    from its reserve); the next round withdrawFees of everything the orchestrator earned and the sender's unlock;
    two rounds later the sender's withdraw."""
    from sim.pm.crypto import keccak
    from sim.pm.ticket import MAX_WIN_PROB, Ticket, u256

    ether = 10**18
    orch, orch_key = bytes.fromhex(chain.address("orchestrator")[2:]), chain.key("orchestrator")
    nonce = [0]

    def ticket(sender: str):
        nonce[0] += 1
        rnd = chain.last_initialized_round()
        rand = 10**30 + nonce[0]
        t = Ticket(recipient=orch, sender=bytes.fromhex(chain.address(sender)[2:]), face_value=ether,
                   win_prob=MAX_WIN_PROB, sender_nonce=nonce[0], recipient_rand_hash=keccak(u256(rand)),
                   creation_round=rnd, creation_round_block_hash=chain.block_hash_for_round(rnd))
        return t, t.sign(chain.key(sender)), rand

    def gas(what: str, res) -> int:
        if not res.ok:
            raise RuntimeError(f"gas scenario: {what} reverted: {res.revert_reason}")
        return res.gas_used

    out: dict[str, int] = {}
    gas("fund sender2", chain.fund_deposit_and_reserve(chain.key("sender2"), ether // 2, 10 * ether))
    chain.advance_round()
    out["redeem_first_in_round"] = gas("first redemption", chain.redeem_winning_ticket(*ticket("sender"),
                                                                                       from_key=orch_key))
    out["redeem"] = gas("redemption", chain.redeem_winning_ticket(*ticket("sender"), from_key=orch_key))
    batch = [ticket("sender") for _ in range(5)]
    res = chain.batch_redeem_winning_tickets([b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch],
                                             from_key=orch_key)
    if sum(e["event"] == "WinningTicketRedeemed" for e in res.events) != 5:
        raise RuntimeError(f"gas scenario: the batch redeemed {res.event_names()}")
    out["batch_redeem_5"] = gas("batch", res)
    res = chain.redeem_winning_ticket(*ticket("sender2"), from_key=orch_key)
    if "ReserveClaimed" not in res.event_names():
        raise RuntimeError(f"gas scenario: the reserve redemption did not claim from the reserve: {res.event_names()}")
    out["redeem_partly_from_reserve"] = gas("reserve redemption", res)
    chain.advance_round()
    out["withdraw_fees"] = gas("withdrawFees", chain.withdraw_fees(orch_key))
    out["unlock"] = gas("unlock", chain.unlock(chain.key("sender")))
    chain.advance_round()
    chain.advance_round()
    out["withdraw"] = gas("withdraw", chain.withdraw(chain.key("sender")))
    return out


def gas_config():
    from devnet.config import LPT, DevnetConfig

    return DevnetConfig(round_length=50, delegators=(("delegator", "orchestrator", 500 * LPT),))


def gas_table(measured: dict[str, int]) -> dict:
    """{op: {gas, reference, ratio, ok}} and whether every ratio is within GAS_RATIO_RANGE."""
    lo, hi = GAS_RATIO_RANGE
    rows = {}
    for op, ref in REFERENCE_GAS.items():
        ratio = measured[op] / ref
        rows[op] = {"gas": measured[op], "reference": ref, "ratio": round(ratio, 3), "ok": lo <= ratio <= hi}
    return {"rows": rows, "ok": all(r["ok"] for r in rows.values()), "range": [lo, hi]}


def measure_gas() -> dict:
    from devnet import open_chain

    chain = open_chain("anvil", config=gas_config())
    try:
        return gas_table(gas_scenario(chain))
    finally:
        chain.close()


def run(args) -> dict:
    if getattr(args, "gas_only", False):
        gas = measure_gas()
        return {"bench": "chain", "gas": gas, "ok": gas["ok"]}
    repeat, n, backends = args.repeat, args.redemptions, args.backends
    out: dict = {"bench": "chain", "target_anvil_setup_s": TARGET_ANVIL_SETUP_S, "repeat": repeat}

    bare = [bare_anvil_start_s() for _ in range(repeat)]
    out["bare_anvil_start_to_first_rpc_s"] = round(statistics.median(bare), 4)

    setup: dict = {}
    for backend in [b for b in ("anvil", "embedded") if b in backends]:
        runs = [_cli_setup_s(backend) for _ in range(repeat)]
        setup[backend] = {"cli_start_to_funded_s": round(statistics.median(runs), 4),
                          "runs_s": [round(x, 4) for x in runs]}
        setup[backend]["ratio_vs_bare_anvil"] = round(setup[backend]["cli_start_to_funded_s"]
                                                      / out["bare_anvil_start_to_first_rpc_s"], 2)
    out["setup"] = setup
    if "anvil" in setup:
        out["anvil_setup_meets_target"] = setup["anvil"]["cli_start_to_funded_s"] < TARGET_ANVIL_SETUP_S

    redeem: dict = {}
    for backend in backends:
        # one redemption mines one block: a round long enough that the run stays in one initialized round
        chain, open_s = _open_s(backend, round_length=max(20, n + 25))
        try:
            setup.setdefault(backend, {})["in_process_open_s"] = round(open_s, 4)
            redeem[backend] = _redemptions_per_s(chain, n)
        finally:
            chain.close()
    out["redemptions"] = redeem
    base = redeem.get("anvil", {}).get("per_s")
    if base:
        for backend, r in redeem.items():
            r["ratio_vs_anvil"] = round(r["per_s"] / base, 2)
    if "anvil" in backends:
        out["gas"] = measure_gas()
    # The verdicts: the anvil setup target and the gas ratios; a miss exits 1, like bench tickets.
    out["ok"] = out.get("anvil_setup_meets_target", True) and out.get("gas", {}).get("ok", True)
    return out


def format_gas(gas: dict) -> list[str]:
    lo, hi = gas["range"]
    lines = [f"gas on anvil vs livepeer/protocol's contracts behind their proxies (ratio must be {lo}-{hi}):",
             f"  {'operation':<64} {'lpdev':>9} {'protocol':>9}  ratio"]
    for op, r in gas["rows"].items():
        lines.append(f"  {GAS_LABELS[op]:<64} {r['gas']:>9,} {r['reference']:>9,}  {r['ratio']:.3f}"
                     f"{'' if r['ok'] else '  OUT OF RANGE'}")
    lines.append(f"gas within {lo}-{hi} of the protocol's: {'yes' if gas['ok'] else 'NO'}")
    return lines


def format_text(res: dict) -> str:
    if "bare_anvil_start_to_first_rpc_s" not in res:
        return "\n".join(format_gas(res["gas"]))
    lines = [f"bare anvil start -> first RPC: {res['bare_anvil_start_to_first_rpc_s']:.3f} s (median of {res['repeat']})"]
    for backend, s in res["setup"].items():
        if "cli_start_to_funded_s" in s:
            lines.append(f"{backend:<9} `lpdev chain up` start -> funded chain: {s['cli_start_to_funded_s']:.3f} s "
                         f"({s['ratio_vs_bare_anvil']}x bare anvil); in-process open_chain "
                         f"{s.get('in_process_open_s', float('nan')):.3f} s")
        elif "in_process_open_s" in s:
            lines.append(f"{backend:<9} in-process open_chain: {s['in_process_open_s']:.3f} s")
    if "anvil_setup_meets_target" in res:
        lines.append(f"anvil setup target < {res['target_anvil_setup_s']} s: "
                     f"{'met' if res['anvil_setup_meets_target'] else 'NOT met'}")
    for backend, r in res["redemptions"].items():
        lines.append(f"{backend:<9} {r['per_s']:>8.1f} redemptions/s ({r['n']} in {r['seconds']:.2f} s, "
                     f"{r['gas_per_redeem']} gas each{', ' + str(r['ratio_vs_anvil']) + 'x anvil' if 'ratio_vs_anvil' in r else ''})")
    if "gas" in res:
        lines += format_gas(res["gas"])
    return "\n".join(lines)
