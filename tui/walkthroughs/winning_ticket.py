"""Walkthrough: a winning ticket's road to the chain — win test, stored, redeemed after expiry."""
from __future__ import annotations

from tui.synth import DemoConfig
from tui.walkthroughs import Ctx, Script, Step, register, wei, winprob


def _cfg() -> DemoConfig:
    # A face value capped at 4 × EV makes one ticket in four win, so a winner shows up quickly.
    return DemoConfig(max_face_value=4 * 8_000_000_000, seed=11)


def _start(c: Ctx) -> str:
    p = c.last("params")
    return (
        "## A generous lottery\n\n"
        f"This orchestrator caps its face value at {wei(p.get('face_value'))} (-maxFaceValue), four times the "
        f"EV, so the win prob is **{winprob(p.get('win_prob'))}**. (Real face values are far larger than the "
        "EV, so winners are rare but big enough to be worth the gas.)\n\nPress **n** to pay until a ticket wins."
    )


def _until_win(stack) -> None:
    for _ in range(20):
        stack.pay()
        if stack.winners:
            return


def _won(c: Ctx) -> str:
    w = c.first("winner")
    t = [e.data for e in c.events if e.kind == "orch.ticket.received"]
    wins = [e.data.get("nonce") for e in c.events if "winner" in e.kind]
    shown = ", ".join(str(n) for n in wins[:8]) + (" …" if len(wins) > 8 else "")
    return (
        "## Tickets win\n\n"
        f"Of {len(t)} tickets, **{len(wins)}** won (nonces {shown}): for each, keccak(signature, "
        "recipientRand) fell below winProb. Only the orchestrator knows recipientRand, so the sender cannot "
        "tell which tickets win.\n\n"
        f"The orchestrator **stores** each winner (SQLite) with its face value {wei(w.get('face_value'))}. It "
        f"can redeem them only once the params' expiration block ({w.get('expiration_block')}) has passed. "
        "See the tickets tab (key 2, **w** for winners only)."
    )


def _redeemed(c: Ctx) -> str:
    r = c.first("redeem")
    s = c.last("chain.sender")
    ok = [e.data for e in c.events if "redeem" in e.kind and e.data.get("ok")]
    bad = [e.data for e in c.events if "redeem" in e.kind and e.data.get("ok") is False]
    if not r:
        return "## Not redeemed yet\n\nNo redemption happened in this step."
    total = sum(int(d.get("face_value") or 0) for d in ok)
    failed = f"\n\n{len(bad)} failed: {bad[0].get('reason')}." if bad else ""
    return (
        "## On chain\n\n"
        f"Blocks passed the expiration, so the orchestrator sent redeemWinningTicket once per winner: "
        f"**{len(ok)}** transactions, the first tx {str(r.get('tx_hash'))[:18]}…, gas {r.get('gas_used'):,} each.\n\n"
        f"The TicketBroker paid {len(ok)} × face value = {wei(total)} from the sender's **deposit**, now "
        f"{wei(s.get('deposit'))}; the reserve ({wei(s.get('reserve'))}) is only touched when the deposit runs "
        "out. The orchestrator's fees grew by the same amount — the Balances tab (key 3) plots both.\n\n"
        "The losing tickets paid nothing on chain; on average, every ticket was worth its EV." + failed
    )


SCRIPT = register(Script(
    name="winning-ticket",
    title="A winning ticket's road to the chain",
    summary="pay until a ticket wins, then mine past its expiration and redeem it",
    config=_cfg,
    steps=[
        Step("GetOrchestrator with a low face value", lambda s: s.start(), _start),
        Step("pay until a ticket wins", _until_win, _won),
        Step("mine 41 blocks: redeem", lambda s: s.mine(41), _redeemed),
    ],
))
