"""Tickets: nonce, hash, win test, stored, redeemed (tx, gas) or failed (reason) — docs/tickets.md#the-win-test,
docs/orchestrator.md#the-payment-endpoint, docs/chain.md#redeeming-a-winning-ticket."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui.model import DASH, TicketRow


def _h(v) -> str:
    if not v:
        return DASH
    s = str(v)
    return s[:12] + "…" if len(s) > 13 else s


class TicketsTable(DataTable):
    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.winners_only = False

    def on_mount(self) -> None:
        # narrow fixed columns (an 80-column terminal shows them all); the reason takes what is left
        for name, w in (("nonce", 8), ("ticket hash", 13), ("win", 4), ("stored", 6), ("redeemed tx", 13),
                        ("gas", 9)):
            self.add_column(name, width=w)
        self.add_column("failed (reason)")

    def show(self, rows: list[TicketRow]) -> None:
        self.clear()
        # the w key: winners only (the column says which list this is)
        self.columns[next(iter(self.columns))].label = Text("winners" if self.winners_only else "nonce")
        for r in rows:
            win = DASH if r.winning is None else ("WIN" if r.winning else "lose")
            self.add_row(
                str(r.nonce) if r.nonce is not None else DASH, _h(r.ticket_hash),
                Text(win, style="bold green" if r.winning else "dim"),
                "yes" if r.stored else ("no" if r.winning is not None else DASH),
                Text(_h(r.redeemed_tx), style="green" if r.redeemed_tx else ""),
                DASH if r.gas_used is None else f"{r.gas_used:,}" if isinstance(r.gas_used, int) else str(r.gas_used),
                Text(r.failed or DASH, style="red" if r.failed else "dim"),
            )
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
