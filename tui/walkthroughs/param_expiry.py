"""Walkthrough: ticket params expire after 40 blocks; the signer answers 480 and the gateway refreshes."""
from __future__ import annotations

from tui.walkthroughs import Ctx, Script, Step, register, wei


def _start(c: Ctx) -> str:
    p = c.ever("params")
    s = c.last("signer.payment", status=200)
    return (
        "## A session is paying\n\n"
        f"The params were issued at block {p.get('block')} and expire at block **{p.get('expiration_block')}** "
        "(40 blocks later). Tickets made from them after that are worthless to the orchestrator, so the "
        "signer must not make any.\n\n"
        f"First payment: {s.get('num_tickets')} tickets, nonces {s.get('nonce_start')}…{s.get('nonce_end')}, "
        f"balance {wei(s.get('balance_after'))}. Press **n** to mine blocks."
    )


def _mined(c: Ctx) -> str:
    b = c.last("chain.block")
    p = c.ever("params")
    left = p.get("expiration_block", 0) - b.get("block", 0)
    return (
        "## 39 blocks later\n\n"
        f"The chain is at block **{b.get('block')}**; the params expire at {p.get('expiration_block')}: "
        f"expiration − last block = **{left}**. The signer treats params as expired when that is ≤ 1 "
        "(one block of margin for the tickets to reach the orchestrator).\n\n"
        "So the next payment will get **480**. Press **n**."
    )


def _refresh(c: Ctx) -> str:
    r = c.first("signer.payment", status=480)
    p = c.last("params")
    s = c.last("signer.payment", status=200)
    return (
        "## 480: refresh session\n\n"
        f"The signer answered **480 refresh session for remote signer** ({r.get('reason')}). A 480 is not a "
        "failure: it asks the gateway to **get fresh ticket params** (GetOrchestrator again) and retry the "
        "same payment. The state blob and the balance are kept.\n\n"
        f"New params expire at block **{p.get('expiration_block')}**, with a new recipientRandHash "
        f"{str(p.get('recipient_rand_hash'))[:14]}….\n\n"
        f"The retry succeeded: {s.get('num_tickets')} tickets with nonces **{s.get('nonce_start')}…"
        f"{s.get('nonce_end')}** — back to 1, because nonces count per recipientRandHash and this one is new.\n\n"
        "go-livepeer gives up after 3 refreshes in a row for one payment."
    )


def _after(c: Ctx) -> str:
    s = c.last("signer.payment", status=200)
    return (
        "## Business as usual\n\n"
        f"The next payment reuses the new params: nonces {s.get('nonce_start')}…{s.get('nonce_end')}, "
        f"balance {wei(s.get('balance_after'))}.\n\n"
        "In live mode, key **M** mines 40 blocks and shows this consequence before it happens; **A** does "
        "the same for the auth token (480 in its last 180 s)."
    )


SCRIPT = register(Script(
    name="param-expiry",
    title="Param expiry and refresh: 480 after 40 blocks",
    summary="mine until the params expire; watch the 480 and the refresh",
    steps=[
        Step("start and pay once", lambda s: (s.start(), s.pay()), _start),
        Step("mine 39 blocks", lambda s: s.mine(39), _mined),
        Step("pay: 480, refresh, retry", lambda s: s.pay(), _refresh),
        Step("pay again", lambda s: s.pay(), _after),
    ],
))
