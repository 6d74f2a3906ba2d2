"""The payment inspector: everything about one /generate-live-payment call (protocol.md §3.7–§3.10)
and the signer's state blob (§3.6) decoded, with what changed since the previous one."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui.model import DASH, Payment, Row, as_fraction, decode_state, fmt_num, fmt_wei, nonce_range, pick, state_diff


def _winprob(v: Any) -> str:
    if v is None:
        return DASH
    try:
        wp = int(v)
    except (TypeError, ValueError):
        return str(v)
    p = Fraction(wp, 2**256 - 1)
    return f"{float(p):.6g} (1 in {float(1 / p):,.1f})" if wp else "0"


def _short(v: Any, n: int = 42) -> str:
    s = DASH if v is None or v == "" else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def payment_table(p: Payment) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    st = p.status
    t.add_row("call", f"{p.key}   seq {p.seq}   status {st if st is not None else DASH}"
              + (f"   ({p.attempts} attempts)" if p.attempts > 1 else ""))
    reason = p.get("reason")
    if reason and st != 200:
        t.add_row("why", Text(str(reason), style="yellow"))
    for code, why in p.refused:
        t.add_row("earlier attempt", Text(f"{code}: {why or DASH}", style="yellow"))
    secs = p.get("billable_secs")
    t.add_row("billable seconds", DASH if secs is None else f"{float(secs):g} s" + ("  (new state: preload)" if secs == 0 else ""))
    t.add_row("billable units", fmt_num(p.get("units")))
    initial = p.get("initial_price")
    fee_f, units_f = as_fraction(p.get("fee")), as_fraction(p.get("units"))
    if initial is None and fee_f is not None and units_f:
        t.add_row("initial price", fmt_wei(fee_f / units_f) + " / unit  (fee ÷ units)")
    else:
        t.add_row("initial price", fmt_wei(initial) + " / unit")
    t.add_row("current price", fmt_wei(p.get("price")) + " / unit")
    t.add_row("fee (units × initial price)", fmt_wei(p.get("fee")))
    t.add_row("ticket EV", fmt_wei(p.get("ev")))
    t.add_row("face value", fmt_wei(p.get("face_value")))
    t.add_row("win prob", _winprob(p.get("win_prob")))
    n = p.get("num_tickets")
    if isinstance(n, list):
        n = len(n)
    ns, ne = nonce_range(p.signer)
    if ns is None:
        ns, ne = nonce_range(p.gateway)
    t.add_row("tickets", f"{n if n is not None else DASH}   nonces {ns if ns is not None else DASH}–{ne if ne is not None else DASH}")
    t.add_row("balance before", fmt_wei(pick(p.signer, "balance_before")))
    t.add_row("balance after", fmt_wei(pick(p.signer, "balance_after")))
    ceiling, src = p.get("ceiling"), p.get("ceiling_source")
    t.add_row("price ceiling applied", DASH if ceiling is None and not src else f"{src or '?'}: {fmt_num(ceiling)}")
    sid, sseq = p.get("state_id"), p.get("state_seq")
    if sid is not None or sseq is not None:
        t.add_row("signer state", f"StateID {sid if sid is not None else DASH}   SequenceNumber "
                  f"{sseq if sseq is not None else DASH}")
    rrh = p.get("recipient_rand_hash")
    t.add_row("recipientRandHash", _short(rrh, 70))
    if p.orch:
        t.add_row("orchestrator credit", f"{fmt_wei(pick(p.orch, 'fees') or p.orch.get('amount') or p.orch.get('credit'))}"
                  f" → balance {fmt_wei(p.orch.get('balance'))}")
    return t


def state_table(cur: dict | None, prev: dict | None) -> Table:
    t = Table(title="state blob (signer's RemotePaymentState, §3.6)", title_justify="left", expand=False,
              show_edge=False, pad_edge=False)
    t.add_column("field", style="bold", no_wrap=True)
    t.add_column("value")
    t.add_column("was", style="dim")
    if cur is None:
        t.add_row(DASH, "no state in this event", "")
        return t
    changed = {k for k, _, _ in state_diff(prev, cur)}
    for k, v in cur.items():
        mark = k in changed and prev is not None
        val = fmt_num(v) if k == "Balance" else _short(v, 46)
        t.add_row(Text(k, style="bold yellow" if mark else "bold"), Text(val, style="yellow" if mark else ""),
                  (fmt_num(prev.get(k)) if k == "Balance" else _short(prev.get(k), 24)) if mark else "")
    return t


def event_table(row: Row) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    t.add_row("event", f"#{row.seq} {row.kind} by {row.ev.actor}")
    for k, v in (row.ev.data or {}).items():
        if k in ("state", "previous_state", "state_blob"):
            continue
        t.add_row(k, _short(fmt_num(v) if isinstance(v, (int, str)) and as_fraction(v) is not None and not str(v).startswith("0x") else v, 80))
    return t


class PaymentInspector(Static):
    content: Any = None

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
        parts: list = []
        if payment is not None:
            parts.append(payment_table(payment))
            cur = decode_state(payment.signer)
            if cur is not None:
                parts.append(Text(""))
                parts.append(state_table(cur, payment.prev_state))
            parts.append(Text(""))
        parts.append(event_table(row))
        self.update(Group(*parts))
