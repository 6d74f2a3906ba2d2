"""The flow timeline: a live sequence diagram, one row per event (docs/overview.md#one-paid-session-start-to-finish).

Two layouts, chosen from the width the table has (recomputed on resize):

* **lanes** — one column per actor (gateway, signer, orchestrator, chain; a **runner** lane between the orchestrator
  and the chain once a Live Runner event shows up), each sized to what its rows say: a lane with long rows gets more
  room, a quiet one less, and the table fills its width (no empty column);
* **compact** — when four lanes would be too narrow to read (an 80-column terminal, or beside the walkthrough's
  narrative): one small diagram column (``G─▶S · ·``: who sent what to whom) and one text column.

Row texts drop their least important parts whole when space is short (tui/model.py ``summarize``), so a nonce range,
a status or an amount is either fully visible or not there. A run of block ticks is one row
(``chain block 412 (×37)``), and so is a run of one runner's heartbeats (``heartbeat runner_ab12 (×12)``):
``append`` repaints a row it already shows instead of adding it again.

Virtual: a DataTable holding at most ``window`` rows (the newest up to the replay position), never a widget
per event. Colours: 480 refresh (yellow), 481 price (magenta), 482 no tickets (cyan), other 4xx red,
5xx bold red, failures red.
"""
from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tui.model import DASH, LANES, RUNNER_LANES, Row

LANE_TITLES = {"gateway": "gateway", "signer": "signer", "orch": "orchestrator", "runner": "runner", "chain": "chain"}
LANE_LETTERS = {"gateway": "G", "signer": "S", "orch": "O", "runner": "R", "chain": "C"}
MIN_LANE = 16      # below this a lane cannot show "received nonce 40": use the compact layout
MAX_DEMAND = 44    # a lane never asks for more than this (long reasons stay in the inspector)
STATUS_WIDTH = 4   # "480", "fail", "ok"
TIME_WIDTH = 7     # "  295.0"
PAD = 2            # DataTable cell padding, both sides of every column
SCROLLBAR = 2


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


def _ends(row: Row, lanes: tuple = LANES) -> tuple[int | None, int | None]:
    target = row.to if row.to in lanes else None
    src = lanes.index(row.lane) if row.lane in lanes else None
    tgt = lanes.index(target) if target in lanes else None
    return src, tgt


def _row_style(row: Row, text: str) -> str:
    style = status_style(row.status)
    if not style and "WIN" in text.split():
        style = "bold green"
    return style or "default"


def _arrowed(row: Row, width: int, lanes: tuple = LANES) -> str:
    """The row's text with its arrow (``text ▶`` / ``◀ text`` / ``▶ text`` / ``text ◀``) in ``width`` columns."""
    src, tgt = _ends(row, lanes)
    if src is None or tgt is None:
        return row.label(width)
    text = row.label(max(1, width - 2))
    if (tgt > src) != row.incoming:  # to the right, or from the left
        return "▶ " + text if row.incoming else text + " ▶"
    return text + " ◀" if row.incoming else "◀ " + text


def lane_demand(row: Row, lanes: tuple = LANES) -> int:
    """How wide the row's own lane would like to be to show all of it."""
    return min(MAX_DEMAND, len(_arrowed(row, MAX_DEMAND, lanes)))


def diagram(row: Row, lanes: tuple = LANES) -> Text:
    """The compact layout's arrow: ``G▶S · ·`` (gateway to signer), ``G◀S · ·`` (the answer), ``G──▶O C``."""
    src, tgt = _ends(row, lanes)
    if src is None:
        return Text(" ".join("·" for _ in lanes), style="dim")
    sender, receiver = (tgt, src) if row.incoming and tgt is not None else (src, tgt)
    lo, hi = (sender, receiver) if receiver is None or sender <= receiver else (receiver, sender)
    out = Text()
    for i, lane in enumerate(lanes):
        if i in (src, tgt):
            out.append(LANE_LETTERS[lane], style="bold")
        elif receiver is not None and lo < i < hi:
            out.append("─")  # the arrow passes over a lane that takes no part
        else:
            out.append("·", style="dim")
        if i == len(lanes) - 1:
            break
        if receiver is not None and lo <= i < hi:
            if receiver > sender and i + 1 == receiver:
                out.append("▶")
            elif receiver < sender and i == receiver:
                out.append("◀")
            else:
                out.append("─")
        else:
            out.append(" ")
    return out


def allocate(demands: list[int], total: int, floor: int = 8) -> list[int]:
    """Widths for lanes that want ``demands`` in ``total`` columns: every lane gets at least ``floor``; lanes that
    want little get what they want, the rest share what is left equally (max-min fair); then any room still free
    is spread over all lanes, so the table fills its width."""
    n = len(demands)
    want = [max(floor, d) for d in demands]
    widths = [0] * n
    left, todo = total, sorted(range(n), key=lambda i: want[i])
    while todo:
        share = left // len(todo)
        i = todo[0]
        if want[i] <= share:
            widths[i] = want[i]
            left -= want[i]
            todo.pop(0)
        else:
            for j in todo:
                widths[j] = share
            left -= share * len(todo)
            todo = []
    for k in range(max(0, left)):
        widths[k % n] += 1
    return widths


class FlowTimeline(DataTable):
    """Rows are keyed by event seq. ``RowChosen`` tells the app which event the cursor is on."""

    class RowChosen(Message):
        def __init__(self, seq: int) -> None:
            self.seq = seq
            super().__init__()

    def __init__(self, *, window: int = 300, show_time: bool = True, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.window = window
        self.show_time = show_time
        self._rows: dict[int, Row] = {}  # shown rows by seq, in order
        self.t0: float | None = None
        self.follow = True
        self.layout_key: tuple | None = None  # (mode, time shown, widths…) the columns were built for
        self.lanes: tuple = LANES  # RUNNER_LANES once a runner row has been shown (then kept: no flicker)

    def _see_lanes(self, rows: Iterable[Row]) -> None:
        if self.lanes is LANES and any(r.lane == "runner" for r in rows):
            self.lanes = RUNNER_LANES

    @property
    def _shown(self) -> list[int]:
        return list(self._rows)

    # -- layout -------------------------------------------------------------------------------------------
    def _avail(self) -> int:
        return max(40, (self.size.width or 120) - SCROLLBAR)

    def _plan(self) -> tuple:
        """The columns for the current width and rows: ``("lanes", show_time, seq_w, lane widths…)`` or
        ``("compact", show_time, seq_w, text_w)``."""
        avail = self._avail()
        seq_w = max(3, max((len(str(s)) for s in self._rows), default=3))
        show_time = self.show_time and avail >= 110
        lanes = self.lanes
        fixed = seq_w + PAD + STATUS_WIDTH + PAD + ((TIME_WIDTH + PAD) if show_time else 0)
        lanes_total = avail - fixed - PAD * len(lanes)
        if lanes_total // len(lanes) >= MIN_LANE:
            demand = {ln: 8 for ln in lanes}
            for r in self._rows.values():
                if r.lane in demand:
                    demand[r.lane] = max(demand[r.lane], lane_demand(r, lanes))
            widths = allocate([demand[ln] for ln in lanes], lanes_total, floor=MIN_LANE - 4)
            return ("lanes", show_time, seq_w, *widths)
        flow_w = 2 * len(lanes) - 1
        text_w = avail - fixed - (flow_w + PAD) - PAD
        return ("compact", show_time, seq_w, max(10, text_w))

    def _build_columns(self, plan: tuple) -> None:
        self.clear(columns=True)
        mode, show_time, seq_w = plan[:3]
        self.add_column("seq", width=seq_w, key="seq")
        if show_time:
            self.add_column("t+s", width=TIME_WIDTH, key="t")
        if mode == "lanes":
            for lane, w in zip(self.lanes, plan[3:]):
                self.add_column(LANE_TITLES[lane] if len(LANE_TITLES[lane]) <= w else LANE_LETTERS[lane], width=w,
                                key=lane)
        else:
            self.add_column(" ".join(LANE_LETTERS[ln] for ln in self.lanes), width=2 * len(self.lanes) - 1, key="flow")
            self.add_column("event", width=plan[3], key="text")
        self.add_column("st", width=STATUS_WIDTH, key="status")
        self.layout_key = plan

    def relayout(self, force: bool = False) -> bool:
        """Rebuild the columns (and repaint every row) if the width or the rows call for another layout."""
        plan = self._plan()
        if not force and plan == self.layout_key:
            return False
        cursor = self.cursor_row
        at_end = not self.row_count or cursor >= self.row_count - 1
        self._build_columns(plan)
        for r in self._rows.values():
            self.add_row(*self._cells(r), key=str(r.seq))
        if self.row_count:
            self.move_cursor(row=self.row_count - 1 if at_end else min(cursor, self.row_count - 1), animate=False)
        return True

    def on_mount(self) -> None:
        self._build_columns(self._plan())

    def on_resize(self, event) -> None:
        self.relayout()
        # The first show() can run before layout: keep the tail in view once the size is known.
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.call_after_refresh(self._cursor_to_end)

    # -- cells ----------------------------------------------------------------------------------------------
    def _cells(self, row: Row) -> list:
        plan = self.layout_key or self._plan()
        mode, show_time = plan[0], plan[1]
        head: list = [Text(str(row.seq), style="dim")]
        if show_time:
            head.append(DASH if self.t0 is None else f"{row.t - self.t0:7.1f}")
        st = Text("" if row.status is None else str(row.status), style=status_style(row.status))
        lanes = self.lanes
        if mode == "compact":
            text = row.label(plan[3]) if row.lane in lanes else f"[{row.lane}] " + row.label(plan[3] - len(row.lane) - 3)
            style = _row_style(row, text) if row.lane in lanes else "italic"
            return [*head, diagram(row, lanes), Text(text, style=style), st]
        return [*head, *self._lane_cells(row, plan[3:]), st]

    def _lane_cells(self, row: Row, widths: tuple) -> list:
        lanes = self.lanes
        src, tgt = _ends(row, lanes)
        cells: list = []
        for i, (lane, w) in enumerate(zip(lanes, widths)):
            if i == src:
                label = _arrowed(row, w, lanes)
                cells.append(Text(label, style=_row_style(row, label)))
            elif i == tgt:
                cells.append(Text("●", style="dim"))
            elif src is not None and tgt is not None and min(src, tgt) < i < max(src, tgt):
                cells.append(Text("─" * min(w, 8), style="dim"))
            else:
                cells.append(Text("│", style="dim"))
        if src is None:  # scenario / stack / unknown actor: a note across the first lane
            cells[0] = Text(f"[{row.lane}] " + row.label(max(1, widths[0] - len(row.lane) - 3)), style="italic")
        return cells

    # -- content --------------------------------------------------------------------------------------------
    def show(self, rows: list[Row], t0: float | None) -> None:
        """Replace the content with the last ``window`` rows (seek)."""
        self.t0 = t0
        rows = rows[-self.window:]
        self._rows = {r.seq: r for r in rows}
        self._see_lanes(rows)
        if not self.relayout():
            self.clear()
            for r in rows:
                self.add_row(*self._cells(r), key=str(r.seq))
        if rows:
            self.move_cursor(row=len(rows) - 1, animate=False)
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
        new: list[Row] = []
        for r in rows:
            if r.seq in self._rows:  # a block tick that updated its row in place
                self._rows[r.seq] = r
                new.append(r)
                continue
            self._rows[r.seq] = r
            new.append(r)
        dropped = []
        while len(self._rows) > self.window:
            dropped.append(next(iter(self._rows)))
            del self._rows[dropped[-1]]
        self._see_lanes(new)
        if not self.relayout():
            for old in dropped:
                try:
                    self.remove_row(str(old))
                except Exception:  # noqa: BLE001 - never added (added and dropped in one batch)
                    pass
            for r in new:
                if str(r.seq) in self.rows:
                    self.update_row(r)
                elif r.seq in self._rows:
                    self.add_row(*self._cells(r), key=str(r.seq))
        if at_end and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def update_row(self, row: Row) -> None:
        """Repaint a shown row (a run of block ticks: the latest block and the count) without moving it."""
        self._rows[row.seq] = row
        keys = [str(c.value) for c in self.columns]
        for col, value in zip(keys, self._cells(row)):
            self.update_cell(str(row.seq), col, value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value if event.row_key is not None else None
        if key is not None:
            self.post_message(self.RowChosen(int(key)))
