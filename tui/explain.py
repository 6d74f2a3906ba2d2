"""Plain-words explanations of what a group of events did, quoting their numbers (any scenario, any stack).

Used by the walkthrough when it runs a library scenario: after each step, the events that step produced are
explained here. Tolerant like the model: fields are looked up under the actors' spellings; what is missing is
left out rather than guessed. Each paragraph points to the section of lpdev's protocol guide (docs/) that explains
it further.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable

from sim.events import Event
from sim.orchestrator.runner_registry import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S
from sim.pm.accounting import LIVE_PRELOAD_S, LV2V_PRELOAD_S
from sim.pm.money import format_wei
from tui.model import as_float, as_fraction, as_int, as_key, nonce_range, pick

__all__ = ["explain_events", "wei", "see"]


def wei(v: Any) -> str:
    """An amount for prose, ``≈0.02844 ETH`` (exact rounding; the TUI's x key shows exact wei)."""
    f = as_fraction(v)
    return "—" if f is None else format_wei(f)


def see(where: str) -> str:
    """`` (see `docs/tickets.md#nonces`)`` — the section of lpdev's guide that explains a paragraph further."""
    return f" (see `{where}`)"


def _status(d: dict) -> int | None:
    return as_int(pick(d, "status"))


def _tickets(d: dict) -> int:
    """The tickets an event carried: a count, or a list of them."""
    n = pick(d, "num_tickets")
    return len(n) if isinstance(n, list) else (as_int(n) or 0)


def _payment(d: dict, first: bool) -> str:
    secs, units, fee = as_float(pick(d, "billable_secs")), as_int(pick(d, "units")), pick(d, "fee")
    n = pick(d, "num_tickets")
    a, b = nonce_range(d)
    before, after, ev = pick(d, "balance_before"), pick(d, "balance_after"), pick(d, "ev")
    job = d.get("type", d.get("job_type", ""))
    out = []
    if secs is not None:
        if secs == 0 and job in ("lv2v", "live"):
            pre = f"{LV2V_PRELOAD_S if job == 'lv2v' else LIVE_PRELOAD_S} s"
            out.append(f"No state yet, so nothing has elapsed: the signer **preloads {pre}**")
        else:
            out.append(f"The signer billed **{secs:g} s** since its last payment")
        if units is not None:
            out[-1] += f" = {units:,} units"
        out[-1] += "."
    if fee is not None:
        out.append(f"Fee = units × the session's initial price = **{wei(fee)}**.")
    if n is not None:
        credit = f"with {wei(before)} of credit already, " if before is not None else ""
        evs = f" of EV {wei(ev)}" if ev is not None else ""
        out.append(f"{credit.capitalize() if credit else ''}it needed **{n} ticket(s)**{evs}"
                   + (f", nonces **{a}–{b}**" if a is not None else "") + ".")
        if a == 1 and first:
            out.append("The first nonce is 1: the counter for these ticket params (their recipientRandHash) "
                       "starts at 0 and is increased before each ticket" + see("docs/tickets.md#nonces") + ".")
    if after is not None:
        f = as_fraction(after)
        frac = " It is a fraction because EV = faceValue × winProb ÷ (2²⁵⁶−1) is exact." if f is not None and f.denominator != 1 else ""
        out.append(f"Balance after = credit + tickets × EV − fee = **{wei(after)}**.{frac}")
    if out:
        out.append("How the signer bills: `docs/remote-signer.md#billing-fee-tickets-balance`.")
    return " ".join(out)


def _rejected(d: dict) -> str:
    st = _status(d)
    msg = pick(d, "reason") or ""
    if st == 480:
        return (f"The signer answered **480** ({msg}). That asks the gateway to get fresh ticket params "
                "(GetOrchestrator) and retry; state and balance are kept" + see("docs/refreshes.md#480-refresh-the-session") + ".")
    if st == 481:
        return (f"The signer answered **481** ({msg}): the orchestrator's price is above a ceiling, so the "
                "gateway stops the session" + see("docs/refreshes.md#481-price-too-high") + ".")
    if st == 482:
        return ("The signer answered **482 no tickets**: the credit already covers this fee, so no ticket is "
                "needed; the gateway skips this cycle and keeps its old state" + see("docs/refreshes.md#482-no-tickets") + ".")
    return f"The signer answered **{st}**: {msg}"


_UNIT = {"seconds": "second", "720p-pixel-seconds": "720p pixel-second", "fixed": "session"}
_RELEASE_WHY = {
    "runner expired": "its runner stopped heartbeating for longer than the TTL",
    "runner unhealthy": "its static runner's health check failed",
    "stopped": "the client stopped it",
    "stopped by runner": "the runner stopped it",
}
_REFUSAL_WHY = {
    401: "a heartbeat the orchestrator cannot place: the runner must register again with the orchestrator secret "
         "(the SDK does so on this 401)",
    404: "the runner or the session is gone (expired, unhealthy, released)",
    409: "a fixed-price session is paid once, at its reservation",
    503: "the runner's sessions fill its capacity",
}


def _runners(evs: list[Event]) -> list[str]:
    """What a step did with Live Runners (docs/live-runners.md), from the orchestrator's and the client's events."""
    paras: list[str] = []
    guide = see("docs/live-runners.md")
    for e in [e for e in evs if e.kind == "runner.registered"][:2]:
        d = e.data
        pi = d.get("price_info") if isinstance(d.get("price_info"), dict) else {}
        price = "free" if pi.get("price") in (None, "", 0, "0") else \
            f"{pi.get('price')} USD per {pi.get('unit', 'hour')}, converted to wei through the chain's ETH/USD feed"
        how = "from its runners.json entry (a static runner, health-checked)" if d.get("static") else \
            "over a heartbeat with the orchestrator secret"
        paras.append(f"Runner **{d.get('runner_id')}** ({d.get('app')}, capacity {d.get('capacity')}, {price}) "
                     f"registered {how}{guide}.")
    beats = [e for e in evs if e.kind == "runner.heartbeat"]
    if beats:
        paras.append(f"{len(beats)} heartbeat(s): a runner heartbeats every {HEARTBEAT_INTERVAL_S:g} s; after "
                     f"{HEARTBEAT_TTL_S:g} s of silence its orchestrator expires it.")
    for e in [e for e in evs if e.kind == "runner.challenge"][:2]:
        d = e.data
        paras.append(f"The orchestrator answered the reservation with **402**: a challenge priced at "
                     f"{wei(d.get('price'))} per {_UNIT.get(as_key(d.get('unit')), d.get('unit'))} for manifest {d.get('manifest_id')}; the client had "
                     "the signer pay it and asked again" + see("docs/live-runners.md#reserving-a-paid-session") + ".")
    for e in [e for e in evs if e.kind == "runner.session_reserved"][:2]:
        d = e.data
        paras.append(f"Session **{d.get('session_id')}** reserved ({'paid' if d.get('paid') else 'free'}).")
    proxied = [e for e in evs if e.kind == "runner.proxied"]
    if proxied:
        sts = sorted({str(e.data.get("status")) for e in proxied})
        bi = sum(as_int(e.data.get("bytes_in")) or 0 for e in proxied)
        bo = sum(as_int(e.data.get("bytes_out")) or 0 for e in proxied)
        paras.append(f"{len(proxied)} request(s) went through the orchestrator's proxy to the runner (status "
                     f"{', '.join(sts)}; {bi:,} bytes in, {bo:,} bytes out).")
    debits = [e for e in evs if e.kind == "orch.debit" and e.data.get("ok") and e.data.get("units")]
    if debits:
        total = sum((as_fraction(e.data.get("fee")) or Fraction(0)) for e in debits)
        paras.append(f"The orchestrator debited {len(debits)} time(s), {wei(total)} in all (each payment interval "
                     "of elapsed time)" + see("docs/orchestrator.md#credit-and-debit") + ".")
    for e in [e for e in evs if e.kind == "runner.expired"][:2]:
        d = e.data
        released = d.get("sessions_released")
        n = len(released) if isinstance(released, list) else 0
        silent, ttl = as_float(d.get("silent_s")), as_float(d.get("ttl_s"))
        paras.append(f"Runner **{d.get('runner_id')}** was silent {'—' if silent is None else f'{silent:g}'} s, "
                     f"longer than its {HEARTBEAT_TTL_S if ttl is None else ttl:g} s TTL: **expired**, {n} session(s) "
                     "released, gone from /discovery.")
    for e in [e for e in evs if e.kind == "runner.health"][:2]:
        d = e.data
        paras.append(f"Health check of static runner {d.get('label') or d.get('runner_id')}: "
                     f"**{d.get('status')}**" + ("" if d.get("healthy") else " -- hidden from /discovery, its "
                                                                              "sessions released") + ".")
    for e in [e for e in evs if e.kind == "runner.session_released"][:3]:
        d = e.data
        reason = str(d.get("reason") or "")
        why = _RELEASE_WHY.get(reason) or ("its balance no longer covered a debit" if "insufficient" in reason
                                           else reason)
        paras.append(f"Session **{d.get('session_id')}** released: {why}"
                     + (f" (`{reason}`)" if why != reason else "") + ".")
    seen: set = set()
    for e in [e for e in evs if e.kind == "runner.rejected"]:
        st, msg = _status(e.data), e.data.get("message")
        if (st, msg) in seen:
            continue
        seen.add((st, msg))
        why = _REFUSAL_WHY.get(st)
        paras.append(f"The orchestrator refused with **{st}** `{msg}`" + (f": {why}" if why else "") + ".")
    return paras


def explain_events(events: Iterable[Event]) -> str:
    """Markdown paragraphs for one step's events (empty string if nothing worth saying)."""
    evs = list(events)
    paras: list[str] = _runners(evs)
    pays = [e for e in evs if e.kind.startswith("signer.payment") and _status(e.data) == 200]
    rejs = [e for e in evs if e.kind.startswith("signer.payment") and (_status(e.data) or 200) != 200]
    if pays:
        paras.append(_payment(pays[0].data, first=True))
        if len(pays) > 1:
            fees = sum((as_fraction(pick(e.data, "fee")) or Fraction(0)) for e in pays[1:])
            tickets = sum(_tickets(e.data) for e in pays[1:])
            last = pays[-1].data
            paras.append(f"Then **{len(pays) - 1} more payment(s)**: {tickets} ticket(s) for {wei(fees)} of fees; "
                         f"the signer's credit is now {wei(pick(last, 'balance_after'))}.")
    seen = set()
    for e in rejs:
        st = _status(e.data)
        if st not in seen:
            seen.add(st)
            n = sum(1 for x in rejs if _status(x.data) == st)
            paras.append(_rejected(e.data) + (f" ({n} times in this step.)" if n > 1 else ""))
    refresh = [e for e in evs if e.kind.endswith("refresh")]
    if refresh:
        paras.append(f"The gateway refreshed its session {len(refresh)} time(s) and retried.")
    tickets = [e for e in evs if e.kind in ("orch.ticket", "orch.ticket.received")]
    if tickets:
        won = [e for e in tickets if pick(e.data, "winning")]
        bad = [e for e in tickets if e.data.get("credited") is False]
        s = (f"The orchestrator checked **{len(tickets)} ticket(s)** (signature, nonce, expiry, and the win test "
             f"keccak(sig, recipientRand) < winProb): **{len(won)} won**{see('docs/tickets.md#the-win-test')}.")
        if bad:
            s += f" {len(bad)} not credited: {bad[0].data.get('error')}."
        paras.append(s)
    credits = [e for e in evs if e.kind in ("orch.credit", "orch.payment") and "balance" in e.data]
    if credits:
        d = credits[-1].data
        paras.append(f"Its credit for manifest {pick(d, 'manifest_id') or '—'} is now {wei(d.get('balance'))}"
                     + see("docs/orchestrator.md#credit-and-debit") + ".")
    stored = [e for e in evs if "winner" in e.kind and "stored" in e.kind]
    if stored:
        d = stored[0].data
        paras.append(f"**{len(stored)} winning ticket(s) stored** (first: nonce {pick(d, 'nonce')}, face value "
                     f"{wei(pick(d, 'face_value'))}); they can be redeemed once their params' expiration block has "
                     "passed" + see("docs/chain.md#redeeming-a-winning-ticket") + ".")
    mined = [e for e in evs if e.kind.endswith("redemption_mined") or (e.kind.startswith("chain.redeem") and e.data.get("ok"))]
    if mined:
        d = mined[0].data
        total = sum((as_fraction(pick(e.data, "face_value")) or Fraction(0)) for e in mined)
        gas = pick(d, "gas_used")
        paras.append(f"**{len(mined)} ticket(s) redeemed on chain** (first tx {str(pick(d, 'tx_hash'))[:14]}…"
                     + (f", gas {int(gas):,}" if isinstance(gas, int) else "") + f"): {wei(total)} paid from the "
                     "sender's deposit, then reserve" + see("docs/chain.md#deposit-and-reserve") + ".")
    failed = [e for e in evs if e.kind.endswith("redemption_failed") or (e.kind.startswith("chain.redeem") and e.data.get("ok") is False)]
    if failed:
        paras.append(f"{len(failed)} redemption(s) failed: {pick(failed[0].data, 'reason')}.")
    blocks = [e for e in evs if e.kind.startswith("chain.") and pick(e.data, "block") is not None]
    if blocks:
        paras.append(f"The chain is at block {pick(blocks[-1].data, 'block')}.")
    checks = [e for e in evs if e.kind == "scenario.expectation"]
    if checks:
        lines = [f"- {'✓' if e.data.get('passed') else '✗'} {e.data.get('name')}: {e.data.get('detail', '')}"
                 for e in checks[:8]]
        paras.append("Checks:\n\n" + "\n".join(lines))
    return "\n\n".join(p for p in paras if p)
