"""Tour: ticket params expire after 40 blocks; the signer answers 480 and the gateway refreshes.

Runs scenarios/tour-param-expiry.yaml on the real stack; the blocks, the 480 and the new expiration block are read
from that run's events (``orch.params_issued``, ``orch.chain``, ``signer.payment.rejected``, ``gateway.refresh``).
"""
from __future__ import annotations

from tui.walkthroughs import Ctx, Script, Step, checks, docs_link, nonces, plural, register, short, wei


def _params_of(c: Ctx, recipient_rand_hash) -> dict:
    """The ticket params (as the orchestrator issued them) that carry this recipientRandHash."""
    found = c.ever("orch.params_issued", recipient_rand_hash=recipient_rand_hash)
    return found[-1] if found else {}


def _block(c: Ctx) -> int | None:
    seen = c.ever("orch.chain")
    return seen[-1].get("block") if seen else None


def _start(c: Ctx) -> str:
    info = c.first("gateway.orchestrator_info")
    blk = c.first("orch.chain").get("block") or _block(c)
    return (
        "## Params that expire\n\n"
        f"GetOrchestrator gave the gateway ticket params issued at block **{blk}** that expire at block "
        f"**{info.get('expiration_block')}**: the orchestrator's last seen block + 40. Tickets made from them "
        "after that are worthless to the orchestrator (it does not credit an expired ticket), so the signer "
        "must not make any. See " + docs_link("docs/tickets.md#ticket-params") + "."
    )


def _paid(c: Ctx) -> str:
    s = c.first("signer.payment")
    fresh = c.last("orch.params_issued")
    return (
        "## A session is paying\n\n"
        f"First payment{' (the 60 s preload)' if not s.get('billable_secs') else ''}: "
        f"{plural(s.get('tickets'), 'ticket')}, "
        f"{nonces(s.get('nonce_first'), s.get('nonce_last'))}, balance {wei(s.get('balance_after'))}.\n\n"
        "The orchestrator's /payment reply brought fresh params (recipientRandHash "
        f"{short(fresh.get('recipient_rand_hash'))}) that expire at block **{fresh.get('expiration_block')}**. "
        "The gateway keeps them for the next payment; the next step mines blocks."
    )


def _mined(c: Ctx) -> str:
    b = c.last("orch.chain").get("block") or _block(c)
    held = c.before("orch.params_issued")
    exp = held.get("expiration_block")
    mined = c.first("stack.chain").get("blocks")
    left = exp - b if isinstance(exp, int) and isinstance(b, int) else "—"
    return (
        f"## {mined} blocks later\n\n"
        f"The chain is at block **{b}**; the gateway's params expire at {exp}: expiration − last block = "
        f"**{left}**. The signer treats params as expired when that is ≤ 1 (one block of margin for the tickets "
        "to reach the orchestrator).\n\n"
        + ("So the next payment will get **480**." if isinstance(left, int) and left <= 1 else
           "So the next payment still works with these params.")
    )


def _refresh(c: Ctx) -> str:
    r = c.first("signer.payment.rejected")
    old = _params_of(c, r.get("recipient_rand_hash"))
    ref = c.first("gateway.refresh")
    info = c.first("gateway.orchestrator_info", refresh=True)
    prev = c.before("gateway.orchestrator_info")
    s = c.first("signer.payment")
    blk = c.before("orch.chain").get("block")
    return (
        "## 480: refresh session\n\n"
        f"The signer answered **{r.get('status')} {r.get('message') or ref.get('message')}** "
        f"({r.get('refresh') or 'ticket params expired'}: they expire at block {old.get('expiration_block')}, the "
        f"chain is at {blk}). A 480 is not a failure: it asks the gateway to **get fresh ticket params** "
        "(GetOrchestrator again, with ignoreCapacityCheck) and retry the same payment. The state blob is kept, "
        f"and with it the balance of {wei(r.get('balance_before'))}.\n\n"
        f"New params expire at block **{info.get('expiration_block')}**, with a new recipientRandHash "
        f"{short(info.get('recipient_rand_hash'))}"
        + (f" and a new auth token (session {info.get('auth_session_id')}, was {prev.get('auth_session_id')})"
           if prev.get("auth_session_id") not in (None, info.get("auth_session_id")) else "") + ".\n\n"
        f"The retry succeeded: {plural(s.get('tickets'), 'ticket')}, "
        f"{nonces(s.get('nonce_first'), s.get('nonce_last'))} — from 1, because nonces count per "
        "recipientRandHash and this one is new. It "
        f"billed {float(s.get('billable_secs') or 0):g} s since the last payment; balance "
        f"{wei(s.get('balance_after'))}.\n\n"
        "go-livepeer gives up after 3 refreshes in a row for one payment. More: "
        + docs_link("docs/refreshes.md#480-refresh-the-session") + "."
    )


def _after(c: Ctx) -> str:
    s = c.first("signer.payment")
    return (
        "## Business as usual\n\n"
        f"The next payment uses the params of the last /payment reply: "
        f"{nonces(s.get('nonce_first'), s.get('nonce_last'))}, balance {wei(s.get('balance_after'))}.\n\n"
        "In live mode (`lpdev up`), key **M** mines 40 blocks and shows this consequence before it happens; **A** "
        "does the same for the auth token (480 in its last 180 s)."
    )


def _finale(c: Ctx) -> str:
    mined = c.of("orch.redemption_mined")
    tail = (f"{plural(len(mined), 'winning ticket')} redeemed at the end (first tx `{mined[0].get('tx_hash')}`)."
            if mined else "No ticket won, so nothing was redeemed on chain.")
    return "## Settled\n\n" + tail + "\n\n" + checks(c)


SCRIPT = register(Script(
    name="param-expiry",
    title="Param expiry and refresh: 480 after 40 blocks",
    summary="mine until the params expire; watch the 480 and the refresh, on the real signer and orchestrator",
    scenario="tour-param-expiry",
    steps=[Step(_start), Step(_paid), Step(_mined), Step(_refresh), Step(_after)],
    finale=_finale,
    next_tour="winning-ticket",
))
