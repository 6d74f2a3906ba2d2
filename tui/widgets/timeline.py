"""The flow timeline: a live sequence diagram, one row per event, one column per actor lane (§3, §4).

A run of block ticks is one row (``chain block 412 (×37)``, see tui/model.py): ``append`` repaints a row it
already shows instead of adding it again.

Virtual: a DataTable holding at most ``window`` rows (the newest up to the replay position), never a widget
per event. Colours: 480 refresh (yellow), 481 price (magenta), 482 no tickets (cyan), other 4xx red,
5xx bold red, failures red.
"""
from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tui.model import DASH, LANES, Row

LANE_TITLES = {"gateway": "gateway", "signer": "signer", "orch": "orchestrator", "chain": "chain"}
LANE_WIDTH = 24


def status_style(status) -> str:
    if status is None:
        return ""
    if status == 480:
        return "bold yellow"
    if status == 481:
        return "bold magenta"
    if status == 482:
        return "bold cyan"
    if status == "fail":
        return "bold red"
    if isinstance(status, int) and 500 <= status:
        return "bold white on red"
    if isinstance(status, int) and 400 <= status:
        return "bold red"
    if status == 200 or status == "ok":
        return "green"
    return ""


def _lane_cells(row: Row, width: int = LANE_WIDTH) -> list:
    cells: list = []
    style = status_style(row.status)
    text = row.text
    if "WIN" in text and not style:
        style = "bold green"
    target = row.to if row.to in LANES else None
    src_i = LANES.index(row.lane) if row.lane in LANES else None
    tgt_i = LANES.index(target) if target in LANES else None
    for i, lane in enumerate(LANES):
        if i == src_i:
            if tgt_i is None:
                label = text[:width]
            elif (tgt_i > src_i) != row.incoming:  # to the right, or from the left: "text ▶" / "▶ text"
                label = ("▶ " + text)[:width] if row.incoming else text[: width - 2] + " ▶"
            else:  # to the left, or from the right
                label = text[: width - 2] + " ◀" if row.incoming else ("◀ " + text)[:width]
            cells.append(Text(label, style=style or "default"))
        elif i == tgt_i:
            cells.append(Text("●", style="dim"))
        elif src_i is not None and tgt_i is not None and min(src_i, tgt_i) < i < max(src_i, tgt_i):
            cells.append(Text("─" * 6, style="dim"))
        else:
            cells.append(Text("│", style="dim"))
    if src_i is None:  # scenario / stack / unknown actor: a full-width note in the first lane
        cells[0] = Text(f"[{row.lane}] {text}", style="italic")
    return cells


class FlowTimeline(DataTable):
    """Rows are keyed by event seq. ``RowChosen`` tells the app which event the cursor is on."""

    class RowChosen(Message):
        def __init__(self, seq: int) -> None:
            self.seq = seq
            super().__init__()

    def __init__(self, *, window: int = 300, lane_width: int = LANE_WIDTH, show_time: bool = True, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.window = window
        self.lane_width = lane_width
        self.show_time = show_time
        self._shown: list[int] = []
        self.t0: float | None = None
        self.follow = True

    def on_mount(self) -> None:
        self.add_column("seq", width=6, key="seq")
        if self.show_time:
            self.add_column("t+s", width=8, key="t")
        for lane in LANES:
            self.add_column(LANE_TITLES[lane][: self.lane_width], width=self.lane_width, key=lane)
        self.add_column("status", width=6, key="status")

    def _cells(self, row: Row) -> list:
        t = DASH if self.t0 is None else f"{row.t - self.t0:7.1f}"
        st = "" if row.status is None else str(row.status)
        head = [Text(str(row.seq), style="dim")] + ([t] if self.show_time else [])
        return [*head, *_lane_cells(row, self.lane_width), Text(st, style=status_style(row.status))]

    def show(self, rows: list[Row], t0: float | None) -> None:
        """Replace the content with the last ``window`` rows (seek)."""
        self.t0 = t0
        self.clear()
        rows = rows[-self.window:]
        self._shown = [r.seq for r in rows]
        for r in rows:
            self.add_row(*self._cells(r), key=str(r.seq))
        if rows:
            self.move_cursor(row=len(rows) - 1, animate=False)
            self.call_after_refresh(self._cursor_to_end)

    def on_resize(self, event) -> None:
        # The first show() can run before layout: keep the tail in view once the size is known.
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.call_after_refresh(self._cursor_to_end)

    def _cursor_to_end(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
            self.scroll_end(animate=False, immediate=True)

    def append(self, rows: Iterable[Row], t0: float | None) -> None:
        """Add new rows (live), dropping the oldest beyond the window; the cursor follows the tail unless
        the user moved it."""
        if self.t0 is None:
            self.t0 = t0
        at_end = self.follow and (self.row_count == 0 or self.cursor_row >= self.row_count - 1)
        for r in rows:
            if str(r.seq) in self.rows:  # a block tick that updated its row in place: repaint it
                self.update_row(r)
                continue
            self.add_row(*self._cells(r), key=str(r.seq))
            self._shown.append(r.seq)
        while len(self._shown) > self.window:
            old = self._shown.pop(0)
            try:
                self.remove_row(str(old))
            except Exception:  # noqa: BLE001 - already gone
                pass
        if at_end and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def update_row(self, row: Row) -> None:
        """Repaint a shown row (a run of block ticks: the latest block and the count) without moving it."""
        keys = ["seq", *(["t"] if self.show_time else []), *LANES, "status"]
        for col, value in zip(keys, self._cells(row)):
            self.update_cell(str(row.seq), col, value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value if event.row_key is not None else None
        if key is not None:
            self.post_message(self.RowChosen(int(key)))
