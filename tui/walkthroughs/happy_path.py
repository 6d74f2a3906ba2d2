"""Tour: the happy path of a live video (lv2v) session — params, preload, tickets, nonces, balance.

Runs scenarios/tour-happy-path.yaml on the real stack; every number below is read from that run's events
(``gateway.orchestrator_info``, ``signer.payment``, ``orch.ticket``, ``orch.credit``, ...).
"""
from __future__ import annotations

from fractions import Fraction

from tui.walkthroughs import (Ctx, Script, Step, checks, docs_link, exact_wei, frac, nonce_of, nonces, plural, register,
                              short, wei, winprob)


def price_text(info: dict) -> str:
    """The orchestrator's price as the protocol carries it: pricePerUnit wei per pixelsPerUnit pixels."""
    ppu, px = info.get("price_per_unit"), info.get("pixels_per_unit") or 1
    if ppu is None:
        return "—"
    per_px = Fraction(int(ppu), int(px))
    if px == 1:
        return f"**{int(ppu):,} wei per pixel**"
    return f"**{int(ppu):,} wei per {int(px)} pixels** ({wei(per_px)} per pixel — a rational price)"


def _params(c: Ctx) -> str:
    info = c.first("gateway.orchestrator_info")
    p = c.first("orch.params_issued")
    funds = c.first("orch.sender_funds")
    who = c.first("gateway.identity").get("address")
    chain_block = (c.ever("orch.chain") or [{}])[-1].get("block")
    return (
        "## The gateway meets the orchestrator\n\n"
        f"First the gateway asks the remote signer who pays (/sign-orchestrator-info): sender **{short(who, 8)}**. "
        "The signer keeps the sender's key; the gateway never sees it.\n\n"
        "Then the gateway calls GetOrchestrator and gets a **price** and **ticket params**. This orchestrator asks "
        f"{price_text(info)}.\n\n"
        f"* **face value** {wei(info.get('face_value'))}: what a *winning* ticket pays on chain.\n"
        f"* **win prob** {winprob(info.get('win_prob'))}: the chance any one ticket wins.\n"
        f"* **EV** (expected value) = face value × win prob = {wei(p.get('ev'))}. On average each ticket is "
        "worth its EV, so the orchestrator credits EV per ticket instead of cashing every one."
        + (" EV is not a round number: winProb is a whole number out of 2²⁵⁶−1, so EV is an exact fraction."
           if frac(p.get("ev")).denominator != 1 else "") + "\n"
        f"* The params expire at block **{info.get('expiration_block')}** (block {chain_block} + 40).\n\n"
        f"The orchestrator also read the sender's funds on chain: deposit {wei(funds.get('deposit'))}, reserve "
        f"{wei(funds.get('reserve'))}. Winning tickets are paid from them.\n\n"
        "More: " + docs_link("docs/tickets.md#expected-value-face-value-and-win-probability") + "."
    )


def _first(c: Ctx) -> str:
    s = c.first("signer.payment")
    n = s.get("tickets")
    st = s.get("state") or {}
    info = c.before("gateway.orchestrator_info")
    tickets = c.of("orch.ticket")
    won = [t.get("nonce") for t in tickets if t.get("won")]
    credit = c.last("orch.credit")
    fresh = c.last("orch.params_issued")
    price = Fraction(int(info.get("price_per_unit") or 0), int(info.get("pixels_per_unit") or 1))
    won_text = (f"**{len(won)} won** (nonce {', '.join(str(x) for x in won)}): stored in SQLite, to be redeemed "
                "on chain once the params expire" if won else
                f"none won this time ({winprob(s.get('win_prob'))} each)")
    return (
        "## First payment: 60 seconds preloaded\n\n"
        "The gateway asks the remote signer for a payment. It has no state yet, so there is no elapsed time "
        "to bill: for live video the signer **preloads 60 s** so the orchestrator can start work before "
        f"anything else arrives. 60 s × 1280×720×30 px/s = **{int(s.get('units') or 0):,} pixels**.\n\n"
        f"**fee** = pixels × price ({price.numerator}/{price.denominator} wei per pixel) = {wei(s.get('fee'))}.\n\n"
        f"Tickets needed: ceil(fee ÷ EV) = **{n}**, worth {wei(frac(s.get('ev')) * int(n or 0))} together.\n\n"
        f"Their nonces are **{s.get('nonce_first')}–{s.get('nonce_last')}**: the nonce counter for these params "
        "(their recipientRandHash) starts at 0 and is increased *before* each ticket, so the first ticket "
        "is nonce 1. The orchestrator refuses a nonce it has already seen for the same params.\n\n"
        f"**balance after** = tickets × EV − fee = {wei(s.get('balance_after'))}, exactly "
        f"{exact_wei(s.get('balance_after'))}. It is a fraction because the "
        "price and the EV (face value × winProb ÷ (2²⁵⁶−1)) are exact rationals; lpdev never rounds money "
        "(**x** shows every amount exactly). "
        f"The signer keeps it in the signed state blob (SequenceNumber {st.get('SequenceNumber')}, SenderNonce "
        f"{st.get('SenderNonce')}) that the gateway carries back next time.\n\n"
        "## The orchestrator checks each ticket\n\n"
        "The gateway posts the tickets to the orchestrator's /payment. For every ticket it recomputes its secret "
        "recipientRand, checks the signature, the nonce and the expiry, runs the **win test** "
        f"(keccak(signature, recipientRand) < winProb) and credits the EV. Of {len(tickets)} tickets {won_text}.\n\n"
        f"Credit for manifest {credit.get('manifest_id')}: {wei(credit.get('balance'))}. The reply carries "
        f"**fresh ticket params** (recipientRandHash {short(fresh.get('recipient_rand_hash'))}) for the next "
        "payment. Keys 1, 2, 3 show the payment, the tickets and the balances. More: "
        + docs_link("docs/remote-signer.md#billing-fee-tickets-balance") + " and " + docs_link("docs/tickets.md#nonces") + "."
    )


def _next(c: Ctx) -> str:
    s = c.first("signer.payment")
    st = s.get("state") or {}
    prev = c.before("signer.payment")
    prev_st = prev.get("state") or {}
    return (
        "## Five seconds later\n\n"
        "The gateway sends back the state. The signer bills the time since its LastUpdate "
        f"({prev_st.get('LastUpdate')}): **{float(s.get('billable_secs') or 0):g} s** → "
        f"{int(s.get('units') or 0):,} pixels → fee {wei(s.get('fee'))}, at the session's *initial* price "
        f"(InitialPricePerUnit/InitialPixelsPerUnit = {st.get('InitialPricePerUnit')}/"
        f"{st.get('InitialPixelsPerUnit')} in the state).\n\n"
        f"It already had {wei(s.get('balance_before'))} of credit, so it needs "
        f"ceil((fee − balance) ÷ EV) = **{plural(s.get('tickets'), 'ticket')}**, "
        f"{nonces(s.get('nonce_first'), s.get('nonce_last'))}.\n\n"
        "Why 1 again? The last /payment reply gave new params, with recipientRandHash "
        f"{short(s.get('recipient_rand_hash'))}. The state's PMSessionID was {short(prev_st.get('PMSessionID'))}: "
        "it does not match, so the signer starts a new counter at 0 (nonces count per recipientRandHash).\n\n"
        f"New balance: {wei(s.get('balance_after'))}. SequenceNumber is now {st.get('SequenceNumber')}. "
        "The payment tab (key 1) shows the state diff. More: " + docs_link("docs/remote-signer.md#the-state-blob") + "."
    )


def _more(c: Ctx) -> str:
    pays = c.of("signer.payment")
    last = pays[-1] if pays else {}
    credit = c.last("orch.credit")
    counts = ", ".join(str(p.get("tickets")) for p in pays)
    return (
        "## Steady state\n\n"
        f"{len(pays)} more payments, one every {float(last.get('billable_secs') or 0):g} s. Each buys just enough "
        f"tickets to cover its fee ({counts} tickets), so the signer's credit stays between 0 and one EV: now "
        f"{wei(last.get('balance_after'))}. Each starts at nonce 1 under the params of the previous reply.\n\n"
        f"The orchestrator's credit for manifest {credit.get('manifest_id')} grew to {wei(credit.get('balance'))}: "
        "the sum of the EVs of every ticket it accepted. No video flows in this scenario, so it debits nothing; "
        "with a stream it would debit each segment's fee at the session's price."
    )


def _finale(c: Ctx) -> str:
    mined = c.of("orch.redemption_mined")
    blocks = [d for d in c.of("stack.chain") if d.get("op") == "mine"]
    funds = c.of("orch.sender_funds")
    if mined:
        txs = "; ".join(f"nonce {nonce_of(c, d.get('ticket_hash'))}: tx `{d.get('tx_hash')}`, gas used "
                        f"{int(d.get('gas_used') or 0):,}, {wei(d.get('amount_paid'))} paid" for d in mined)
        red = (f"The runner mined {blocks[0].get('blocks') if blocks else 41} blocks, past the params' expiration, "
               f"so the orchestrator redeemed {plural(len(mined), 'winning ticket')} on chain ({txs}) from the "
               "sender's deposit" + (f", now {wei(funds[-1].get('deposit'))}." if funds else ".")
               + " The winning-ticket tour follows that road step by step.")
    else:
        red = ("No ticket won in this run, so nothing went on chain: the orchestrator was paid in EV, on "
               "average exactly what it earned.")
    return "## Settled\n\n" + red + "\n\n" + checks(c)


SCRIPT = register(Script(
    name="happy-path",
    title="Happy path: params, preload, tickets, nonces, balance",
    summary="one lv2v session paying every 5 s, on the real signer, orchestrator and a mock chain",
    scenario="tour-happy-path",
    steps=[Step(_params), Step(_first), Step(_next), Step(_more)],
    finale=_finale,
    next_tour="param-expiry",
))
