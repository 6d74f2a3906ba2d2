"""The sweep in the terminal (`lpdev economics sweep --tui`): a heat map that fills as cells finish.

Rows are the first axis, columns the second (one axis: one row); each cell is coloured by the metric (m: next
metric) and shows its value. q quits: a sweep still running is interrupted and keeps its finished cells.
"""
from __future__ import annotations

import math
import threading

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, ProgressBar, Static

from sim.economics.plots import metric_value

__all__ = ["EconomicsApp", "run_sweep_tui", "heatmap"]

METRICS = ("p_stop", "rate_482", "losses_tolerated", "tickets_per_paid_call", "healthy", "first_winner_s",
           "gas_share", "deposit_time_h")


def _colour(x: float, lo: float, hi: float) -> str:
    if math.isnan(x):
        return "on grey15"
    f = 0.0 if hi <= lo else (x - lo) / (hi - lo)
    r, g, b = int(40 + 200 * f), int(60 + 120 * (1 - abs(f - 0.5) * 2)), int(160 - 120 * f)
    return f"on rgb({r},{g},{b})"


def heatmap(axes, rows: list[dict], metric: str) -> Table:
    """A Rich table: one cell per grid point, coloured by ``metric`` (blank until the cell is done)."""
    ya = axes[0] if len(axes) > 1 else None
    xa = axes[-1]
    by = {}
    for r in rows:
        by[(r.get(ya.name) if ya else None, r.get(xa.name))] = r
    vals = [metric_value(r, metric) for r in rows]
    finite = [v for v in vals if not math.isnan(v) and not math.isinf(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    t = Table(title=f"{metric} ({len(rows)} cells done)", show_lines=False, pad_edge=False)
    t.add_column(ya.name if ya else "", justify="right")
    for x in xa.values:
        t.add_column(f"{float(x):.3g}" if not isinstance(x, str) else x, justify="center")
    for y in (ya.values if ya else [None]):
        cells = []
        for x in xa.values:
            r = by.get((y, x))
            if r is None:
                cells.append(Text("  ·  ", style="dim"))
                continue
            v = metric_value(r, metric)
            cells.append(Text(f"{v:.3g}" if not math.isnan(v) else "err", style=_colour(v, lo, hi)))
        t.add_row(f"{float(y):.3g}" if y is not None and not isinstance(y, str) else str(y or ""), *cells)
    return t


class EconomicsApp(App):
    TITLE = "lpdev economics sweep"
    BINDINGS = [Binding("m", "next_metric", "next metric"), Binding("q", "quit", "quit")]

    def __init__(self, axes, total: int, metric: str = "p_stop", start=None) -> None:
        super().__init__()
        self.axes = [a for a in axes]
        self.total = total
        self.rows: list[dict] = []
        self.metric = metric
        self.cancelled = threading.Event()
        self._start = start  # callable(app) run in a thread: the sweep, feeding add_row

    def compose(self) -> ComposeResult:
        yield Header()
        yield ProgressBar(total=self.total, id="progress")
        yield Static(id="map")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_map()
        if self._start is not None:
            self.run_worker(lambda: self._start(self), thread=True, exit_on_error=False)

    def add_row(self, row: dict) -> None:
        self.rows.append(row)
        self.query_one("#progress", ProgressBar).advance(1)
        self.refresh_map()

    def refresh_map(self) -> None:
        self.query_one("#map", Static).update(heatmap(self.axes, self.rows, self.metric))
        healthy = sum(1 for r in self.rows if r.get("healthy") is True)
        self.query_one("#status", Static).update(
            f"{len(self.rows)}/{self.total} cells, {healthy} healthy — m: next metric, q: quit")

    def action_next_metric(self) -> None:
        i = METRICS.index(self.metric) if self.metric in METRICS else -1
        self.metric = METRICS[(i + 1) % len(METRICS)]
        self.refresh_map()

    async def action_quit(self) -> None:
        self.cancelled.set()
        self.exit()


def run_sweep_tui(base, axes, *, runs: int, seed: int, engine: str, workers, ray_address: str, metric: str):
    """Run the sweep in a thread while the app shows it; returns the :class:`SweepResult`."""
    from sim.economics.sweep import run_sweep

    total = math.prod(len(a.values) for a in axes)
    out: dict = {}

    def start(app: EconomicsApp) -> None:
        def on_row(row, done, total_):
            if app.cancelled.is_set():
                raise KeyboardInterrupt
            app.call_from_thread(app.add_row, row)

        out["result"] = run_sweep(base, axes, runs=runs, seed=seed, engine=engine, workers=workers,
                                  ray_address=ray_address, on_row=on_row)

    app = EconomicsApp(axes, total, metric, start)
    app.run()
    app.cancelled.set()
    for w in list(app.workers):
        w.cancel()
    res = out.get("result")
    if res is None:  # quit before the first row: nothing finished
        from sim.economics.sweep import SweepResult

        res = SweepResult(list(axes), list(app.rows), total, interrupted=True, engine=engine)
    return res
