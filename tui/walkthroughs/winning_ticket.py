"""Tour: a winning ticket's road to the chain — win test, stored, redeemed after its params expire.

Runs scenarios/tour-winning-ticket.yaml on the real stack: the winners are the orchestrator's real win tests
(``orch.ticket``, ``orch.winner_stored``), the transactions are the chain's own (``orch.redemption_mined``: tx hash,
gas used, amount paid) and the deposit is what the orchestrator read on chain (``orch.sender_funds``).
"""
from __future__ import annotations

from sim.pm.money import float_string
from tui.walkthroughs import Ctx, Script, Step, checks, docs_link, frac, nonce_of, plural, register, wei, winprob


def _start(c: Ctx) -> str:
    p = c.first("orch.params_issued")
    fv, ev = frac(p.get("face_value")), frac(p.get("ev"))
    times = f"{float_string(fv / ev, 1)} times" if ev else "a few times"
    return (
        "## A generous lottery\n\n"
        f"This orchestrator caps its face value at {wei(p.get('face_value'))} (-maxFaceValue), {times} the EV "
        f"({wei(p.get('ev'))}), so the win prob is **{winprob(p.get('win_prob'))}**. (Real face values are far "
        "larger than the EV, so winners are rare but big enough to be worth the gas.)\n\n"
        f"These params expire at block **{p.get('expiration_block')}**. The next step pays. More: "
        + docs_link("docs/tickets.md#expected-value-face-value-and-win-probability") + "."
    )


def _won(c: Ctx) -> str:
    tickets = c.of("orch.ticket")
    stored = c.of("orch.winner_stored")
    wins = [t.get("nonce") for t in tickets if t.get("won")]
    shown = ", ".join(str(n) for n in wins[:8]) + (" …" if len(wins) > 8 else "")
    blk = c.before("orch.chain").get("block")
    if not wins:
        return (f"## No winner this time\n\nNone of the {len(tickets)} tickets won. Every one was still credited "
                "its EV. The next step mines blocks anyway; there is nothing to redeem.")
    w = stored[0] if stored else {}
    return (
        "## Tickets win\n\n"
        f"Of {len(tickets)} tickets, **{len(wins)}** won (nonce {shown}): for each, keccak(signature, "
        "recipientRand) fell below winProb. Only the orchestrator knows recipientRand, so the sender cannot "
        "tell which tickets win.\n\n"
        f"The orchestrator **stored** {plural(len(stored), 'winner')} in SQLite before it replied, each with face "
        f"value {wei(w.get('face_value'))}. It can redeem them only once the chain passes the params' expiration block "
        f"({w.get('params_expiration_block')}); the chain is at {blk}. Losers and winners alike were credited "
        "their EV. See the tickets tab (key 2, **w** for winners only)."
    )


def _redeemed(c: Ctx) -> str:
    mined = c.of("orch.redemption_mined")
    failed = c.of("orch.redemption_failed")
    funds = c.of("orch.sender_funds")
    before = c.before("orch.sender_funds")
    blk = c.last("orch.chain").get("block")
    if not mined:
        why = f" {len(failed)} failed: {failed[0].get('reason')}." if failed else ""
        return "## Not redeemed\n\nNo redemption was mined in this step." + why
    total = sum(int(d.get("amount_paid") or 0) for d in mined)
    txs = "\n".join(f"* nonce {nonce_of(c, d.get('ticket_hash'))}: tx `{d.get('tx_hash')}`, gas used "
                    f"**{int(d.get('gas_used') or 0):,}**, paid {wei(d.get('amount_paid'))}" for d in mined)
    after = funds[-1] if funds else {}
    bad = f"\n\n{len(failed)} failed: {failed[0].get('reason')}." if failed else ""
    r0, r1 = before.get("reserve"), after.get("reserve")
    reserve = (f"The deposit ran out, so the **reserve** paid the rest: {wei(r0)} → {wei(r1)}."
               if r0 is not None and r1 is not None and r1 < r0 else
               f"The reserve ({wei(r1)}) is untouched: it pays only when the deposit runs out.")
    return (
        "## On chain\n\n"
        f"The chain reached block **{blk}**, past the expiration block, so the orchestrator sent "
        f"redeemWinningTicket once per winner: **{plural(len(mined), 'transaction')}**. Each winner was marked "
        "'sending' in SQLite before its transaction and 'redeemed' once it was mined; after a crash the "
        f"orchestrator asks the chain (usedTickets) before sending a 'sending' ticket again.\n\n{txs}\n\n"
        f"The TicketBroker paid {wei(total)} from the sender's **deposit**, which the orchestrator read on chain "
        f"before and after: {wei(before.get('deposit'))} → {wei(after.get('deposit'))}. {reserve} The "
        f"orchestrator's fees grew by the same {wei(total)} — the Balances tab (key 3) plots both.\n\n"
        "The losing tickets paid nothing on chain; on average, every ticket was worth its EV. More: "
        + docs_link("docs/chain.md#redeeming-a-winning-ticket") + "." + bad
    )


def _finale(c: Ctx) -> str:
    return "## Settled\n\n" + checks(c)


SCRIPT = register(Script(
    name="winning-ticket",
    title="A winning ticket's road to the chain",
    summary="one payment with a 1-in-4 win prob, then mine past the params' expiration: the winners are "
            "redeemed on the chain",
    scenario="tour-winning-ticket",
    steps=[Step(_start), Step(_won), Step(_redeemed)],
    finale=_finale,
))
