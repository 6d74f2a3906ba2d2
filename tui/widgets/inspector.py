"""The payment inspector: everything about one /generate-live-payment call (docs/remote-signer.md#billing-fee-tickets-balance)
and the signer's state blob (docs/remote-signer.md#the-state-blob) decoded, with what changed since the previous one;
for a row about a Live Runner session (docs/live-runners.md), the session: its reservation, payments, debits and
proxied traffic, and why it ended.

Amounts read as ETH / gwei / wei (``≈`` when rounded); ``exact=True`` (the app's ``x`` key) shows every amount as its
exact value in wei instead."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from sim.pm.money import float_string
from tui.model import (DASH, Payment, Row, RunnerSession, as_float, as_fraction, as_int, decode_state, fmt_num, fmt_wei, nonce_range,
                       pick, state_diff)

MAX_WIN_PROB = 2**256 - 1
MONEY_KEYS = {"fee", "ev", "face_value", "balance", "balance_before", "balance_after", "deposit", "reserve",
              "amount", "amount_paid", "credit", "fees", "price", "initial_price", "ceiling_price", "max_price",
              "price_per_unit", "max_face_value", "orchestrator_fees"}


def _winprob(v: Any, exact: bool = False) -> str:
    """``1 in 100`` (the chance; exact rounding), or with ``exact`` the integer out of 2²⁵⁶−1 as well."""
    if v is None:
        return DASH
    wp = as_int(v)
    if wp is None or wp < 0:
        return _short(v)
    if not wp:
        return "0 (never wins)"
    whole, _, dec = float_string(Fraction(MAX_WIN_PROB, wp), 1).partition(".")
    odds = f"1 in {int(whole):,}" + ("" if dec == "0" else f".{dec}")
    return f"{odds}  ({wp} / (2²⁵⁶−1))" if exact else odds


def _short(v: Any, n: int = 42) -> str:
    s = DASH if v is None or v == "" else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def payment_table(p: Payment, exact: bool = False) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")  # an exact wei fraction is one long word: wrap it, never cut it
    st = p.status
    t.add_row("call", f"{p.key}   seq {p.seq}   status {st if st is not None else DASH}"
              + (f"   ({p.attempts} attempts)" if p.attempts > 1 else ""))
    reason = p.get("reason")
    if reason and st != 200:
        t.add_row("why", Text(str(reason), style="yellow"))
    for code, why in p.refused:
        t.add_row("earlier attempt", Text(f"{code}: {why or DASH}", style="yellow"))
    # most essential first: a short terminal shows the top of this table
    n = p.get("num_tickets")
    if isinstance(n, list):
        n = len(n)
    ns, ne = nonce_range(p.signer)
    if ns is None:
        ns, ne = nonce_range(p.gateway)
    t.add_row("tickets", f"{n if n is not None else DASH}   nonces {ns if ns is not None else DASH}–"
                         f"{ne if ne is not None else DASH}")
    t.add_row("fee", fmt_wei(p.get("fee"), exact) + "  (units × initial price)")
    t.add_row("balance", f"{fmt_wei(pick(p.signer, 'balance_before'), exact)} → "
                         f"{fmt_wei(pick(p.signer, 'balance_after'), exact)}  (before → after)")
    t.add_row("ticket EV", f"{fmt_wei(p.get('ev'), exact)} = face value {fmt_wei(p.get('face_value'), exact)} × "
                           f"win prob {_winprob(p.get('win_prob'), exact)}")
    secs = as_float(p.get("billable_secs"))
    billed = DASH if secs is None else f"{secs:g} s" + ("  (new state: preload)" if secs == 0 else "")
    t.add_row("billed", f"{billed}   {fmt_num(p.get('units'))} units")
    initial = p.get("initial_price")
    fee_f, units_f = as_fraction(p.get("fee")), as_fraction(p.get("units"))
    if initial is None and fee_f is not None and units_f:
        initial_text = fmt_wei(fee_f / units_f, exact) + " (fee ÷ units)"
    else:
        initial_text = fmt_wei(initial, exact)
    t.add_row("price / unit", f"initial {initial_text}   now {fmt_wei(p.get('price'), exact)}")
    ceiling, src = p.get("ceiling"), p.get("ceiling_source")
    t.add_row("price ceiling", DASH if ceiling is None and not src else f"{src or '?'}: {fmt_wei(ceiling, exact)}")
    sid, sseq = p.get("state_id"), p.get("state_seq")
    if sid is not None or sseq is not None:
        t.add_row("signer state", f"StateID {sid if sid is not None else DASH}   SequenceNumber "
                  f"{sseq if sseq is not None else DASH}")
    rrh = p.get("recipient_rand_hash")
    t.add_row("recipientRandHash", _short(rrh, 70))
    if p.orch:
        t.add_row("orch credit", f"{fmt_wei(pick(p.orch, 'fees') or p.orch.get('amount') or p.orch.get('credit'), exact)}"
                  f" → balance {fmt_wei(p.orch.get('balance'), exact)}")
    return t


_UNIT_WORDS = {"seconds": "second", "720p-pixel-seconds": "720p pixel-second", "fixed": "session"}


def session_table(rs: RunnerSession, exact: bool = False) -> Table:
    """A Live Runner session: who reserved it on which runner, how it was paid, what the orchestrator debited,
    what went through the proxy, and how it ended."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    who = f"{rs.client} ({rs.label})" if rs.client and rs.label else (rs.client or DASH)
    t.add_row("runner session", f"{rs.session_id}   runner {rs.runner or DASH}   client {who}   {rs.state}")
    r, ch = rs.reserved, rs.challenge
    if rs.paid:
        unit = str(r.get("unit") or ch.get("unit") or "")
        price = r.get("price") if r.get("price") is not None else ch.get("price")
        t.add_row("reservation", f"paid after a 402 challenge: {fmt_wei(price, exact)} per "
                                 f"{_UNIT_WORDS.get(unit, unit or 'unit')}")
    elif r:
        t.add_row("reservation", "free (no 402)")
    else:
        t.add_row("reservation", Text("not reserved yet (challenged)", style="yellow"))
    pays = rs.payments
    signer = [p for p in pays if p[1] == "signer"]
    posted = [p for p in pays if p[1] == "payment"]
    skipped = sum(1 for p in signer if p[2] == 482)
    t.add_row("payments", f"{sum(1 for p in signer if p[2] == 200)} signed by the signer"
                          + (f" ({skipped} × 482 skipped)" if skipped else "")
                          + f", {rs.tickets} ticket(s) received; {len(posted)} follow-up payment(s)"
                          + (f", last {posted[-1][2]}" if posted else ""))
    t.add_row("debits", f"{rs.debits}, {fmt_wei(rs.debited, exact)} in all   credit left {fmt_wei(rs.balance, exact)}")
    sts = ", ".join(f"{k} ×{v}" for k, v in sorted(rs.statuses.items(), key=lambda kv: str(kv[0])))
    t.add_row("proxied", f"{rs.requests} request(s){' (' + sts + ')' if sts else ''}, "
                         f"{rs.bytes_in:,} bytes in, {rs.bytes_out:,} bytes out")
    for method, path, st, bi, bo in list(rs.recent)[-3:]:
        t.add_row("", f"{method} {path} → {st if st is not None else DASH}  ({bi} → {bo} bytes)")
    for st, msg in rs.refused[-2:]:
        t.add_row("refused", Text(f"{st}: {msg}", style="yellow"))
    if rs.released:
        reason = rs.released.get("reason") or DASH
        t.add_row("released", Text(str(reason), style="bold" if reason in ("stopped", "single-shot done") else "yellow"))
    return t


def state_table(cur: dict | None, prev: dict | None, exact: bool = False) -> Table:
    t = Table(title="state blob (docs/remote-signer.md#the-state-blob)", title_justify="left", expand=False,
              show_edge=False, pad_edge=False)
    t.add_column("field", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    t.add_column("was", style="dim", overflow="fold")
    if cur is None:
        t.add_row(DASH, "no state in this event", "")
        return t
    changed = {k for k, _, _ in state_diff(prev, cur)}
    for k, v in cur.items():
        mark = k in changed and prev is not None
        val = fmt_wei(v, exact) if k == "Balance" else _short(v, 46)
        t.add_row(Text(k, style="bold yellow" if mark else "bold"), Text(val, style="yellow" if mark else ""),
                  (fmt_wei(prev.get(k), exact) if k == "Balance" else _short(prev.get(k), 24)) if mark else "")
    return t


def _event_value(k: str, v: Any, exact: bool) -> str:
    if k in ("win_prob", "winProb") and not isinstance(v, bool):
        return _winprob(v, exact)
    if isinstance(v, (int, str)) and not isinstance(v, bool) and as_fraction(v) is not None \
            and not str(v).startswith("0x"):
        return fmt_wei(v, exact) if k in MONEY_KEYS else fmt_num(v)
    return _short(v, 80)


def event_table(row: Row, exact: bool = False) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")  # an exact wei fraction is one long word: wrap it, never cut it
    t.add_row("event", f"#{row.seq} {row.kind} by {row.ev.actor}")
    for k, v in (row.ev.data or {}).items():
        if k in ("state", "previous_state", "state_blob"):
            continue
        t.add_row(k, _event_value(k, v, exact))
    return t


class PaymentInspector(Static):
    content: Any = None
    exact: bool = False  # amounts as exact wei (the app's x key) instead of ETH / gwei readings

    def plain(self, width: int = 118) -> str:
        """What the inspector shows, as plain text (tests, screen readers)."""
        from rich.console import Console

        c = Console(width=width, record=True, color_system=None)
        with c.capture() as cap:
            c.print(self.content if self.content is not None else "")
        return cap.get()

    def update(self, content="") -> None:  # type: ignore[override]
        self.content = content
        super().update(content)

    def show(self, row: Row | None, payment: Payment | None) -> None:
        if row is None:
            self.update(Text("Select a row in the timeline (↑/↓) to inspect its payment.", style="dim"))
            return
        exact = self.exact
        parts: list = []
        session = getattr(row, "session", None)
        if row.kind.startswith(("runner.", "gateway.runner_", "stack.runner")):
            # a Live Runner row: its session if it has one, never the last payment of whoever paid last
            if session is not None:
                parts += [session_table(session, exact), Text("")]
            payment = session = None
        if payment is not None:
            parts.append(payment_table(payment, exact))
            cur = decode_state(payment.signer)
            if cur is not None:
                parts.append(Text(""))
                parts.append(state_table(cur, payment.prev_state, exact))
            parts.append(Text(""))
            if session is not None:  # a payment for a runner session: the session after it
                parts += [session_table(session, exact), Text("")]
        parts.append(event_table(row, exact))
        parts.append(Text("amounts in exact wei — x shows ETH / gwei" if exact else
                          "amounts in ETH / gwei, ≈ when rounded — x shows the exact wei", style="dim"))
        self.update(Group(*parts))
