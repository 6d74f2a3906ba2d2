"""Walkthrough: the happy path of a live video (lv2v) session — params, preload, tickets, nonces, balance."""
from __future__ import annotations

from tui.walkthroughs import Ctx, Script, Step, register, wei, winprob


def _params(c: Ctx) -> str:
    p = c.last("params")
    return (
        "## The gateway meets the orchestrator\n\n"
        "Before any video flows, the gateway asks the orchestrator (GetOrchestrator) for its **price** and "
        "**ticket params**. This run's orchestrator asks "
        f"**{p.get('price')} wei per pixel** (a rational price: 1200 wei per 7 pixels).\n\n"
        f"* **face value** {wei(p.get('face_value'))}: what a *winning* ticket pays on chain.\n"
        f"* **win prob** {winprob(p.get('win_prob'))}: the chance any one ticket wins.\n"
        f"* **EV** (expected value) = face value × win prob = {wei(p.get('ev'))}. On average each ticket is "
        "worth its EV, so the orchestrator credits EV per ticket instead of cashing every one.\n"
        f"* The params expire at block **{p.get('expiration_block')}** (now + 40 blocks).\n\n"
        "Press **n** for the first payment."
    )


def _first(c: Ctx) -> str:
    s = c.last("signer.payment", status=200)
    n = s.get("num_tickets")
    return (
        "## First payment: 60 seconds preloaded\n\n"
        "The gateway asks the remote signer for a payment. It has no state yet, so there is no elapsed time "
        "to bill: for live video the signer **preloads 60 s** so the orchestrator can start work before "
        f"anything else arrives. 60 s × 1280×720×30 px/s = **{s.get('units'):,} pixels**.\n\n"
        f"**fee** = pixels × price = {wei(s.get('fee'))}.\n\n"
        f"Tickets needed: ceil(fee ÷ EV) = **{n}**, worth {wei(s.get('new_credit'))} together.\n\n"
        f"Their nonces are **{s.get('nonce_start')}…{s.get('nonce_end')}**: the nonce counter for these params "
        "(their recipientRandHash) starts at 0 and is increased *before* each ticket, so the first ticket "
        "is nonce 1. The orchestrator refuses a nonce it has already seen for the same params.\n\n"
        f"**balance after** = tickets × EV − fee = {wei(s.get('balance_after'))}. It is a fraction because the "
        "price (1200/7) and the EV (face value × winProb ÷ 2²⁵⁶−1) are exact rationals; lpdev never rounds "
        "money. The signer keeps it in the state blob the gateway carries back next time."
    )


def _received(c: Ctx) -> str:
    o = c.ever("orch.payment")
    wins = sum(1 for e in c.all_events if e.kind == "orch.ticket.received" and e.data.get("winning"))
    d = c.ever("orch.debit")
    return (
        "## The orchestrator checks each ticket\n\n"
        "For every ticket it recomputes its secret recipientRand, checks the signature, the nonce and the "
        "expiry, runs the **win test** (keccak(signature, recipientRand) < winProb) and credits the EV.\n\n"
        f"Credited to manifest {o.get('manifest_id')}: {wei(o.get('credit'))}; winners so far: **{wins}**.\n\n"
        f"Then it debits the time it serves at the session's price: {wei(d.get('fee'))}, leaving "
        f"{wei(d.get('balance'))}. Look at the **Balances** tab (key 3)."
    )


def _next(c: Ctx) -> str:
    s = c.last("signer.payment", status=200)
    st = s.get("state") or {}
    return (
        "## Five seconds later\n\n"
        f"The gateway sends back the state. The signer bills the time since its LastUpdate: "
        f"**{s.get('billable_secs')} s** → {s.get('units'):,} pixels → fee {wei(s.get('fee'))}.\n\n"
        f"It already had {wei(s.get('balance_before'))} of credit, so it needs "
        f"ceil((fee − balance) ÷ EV) = **{s.get('num_tickets')}** ticket(s), nonces "
        f"{s.get('nonce_start')}…{s.get('nonce_end')} — continuing the same counter because the params "
        f"(PMSessionID {str(st.get('PMSessionID'))[:12]}…) did not change.\n\n"
        f"New balance: {wei(s.get('balance_after'))}. SequenceNumber is now {st.get('SequenceNumber')}. "
        "The inspector (key 1) shows the state diff."
    )


def _more(c: Ctx) -> str:
    pays = [e.data for e in c.events if e.kind == "signer.payment" and e.data.get("status") == 200]
    last = pays[-1] if pays else {}
    return (
        "## Steady state\n\n"
        f"{len(pays)} more payments, one every 5 s. Each buys just enough tickets to cover its fee, so the "
        "signer's credit stays between 0 and one EV: now "
        f"{wei(last.get('balance_after'))}. Nonces keep counting: last {last.get('nonce_end')}.\n\n"
        "That is the whole happy path. Try `lpdev walkthrough param-expiry` next."
    )


SCRIPT = register(Script(
    name="happy-path",
    title="Happy path: params, preload, tickets, nonces, balance",
    summary="one lv2v session paying every 5 s",
    steps=[
        Step("GetOrchestrator: price and ticket params", lambda s: s.start(), _params),
        Step("first payment (60 s preload)", lambda s: s.pay(), _first),
        Step("the orchestrator credits and debits", None, _received),
        Step("the next payment, 5 s later", lambda s: s.pay(), _next),
        Step("three more payments", lambda s: [s.pay() for _ in range(3)], _more),
    ],
))
