"""Balances over time as plots (textual-plotext): the sender's credit as the signer and each orchestrator count it
(docs/remote-signer.md#billing-fee-tickets-balance, docs/orchestrator.md#credit-and-debit), the sender's deposit and
reserve on chain (docs/chain.md#deposit-and-reserve) and the orchestrator's fees.

Each plot picks one unit for its data (ETH, gwei or wei) and labels its axes with round numbers in that unit, so no
float artefacts reach the screen; floats are used for drawing only. The exact last value of each series is in the
legend (``≈`` when rounded; exact wei with the app's ``x`` key).
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from sim.pm.money import WEI_PER_ETH, WEI_PER_GWEI
from tui.model import FlowModel, fmt_wei

GROUPS = (
    ("credit", lambda n: n == "signer credit" or n.startswith("orch credit")),
    ("deposit / reserve", lambda n: n in ("deposit", "reserve")),
    ("orchestrator fees", lambda n: n == "orchestrator fees"),
)
TICKS = 4


def unit_for(values: list[Fraction]) -> tuple[str, int]:
    """The unit a plot reads best in: ETH from 0.0001 ETH, gwei from 1 gwei, else wei (by its largest value)."""
    top = max((abs(v) for v in values), default=Fraction(0))
    if top >= 10**14:
        return "ETH", WEI_PER_ETH
    if top >= WEI_PER_GWEI:
        return "gwei", WEI_PER_GWEI
    return "wei", 1


def nice_ticks(lo: float, hi: float, n: int = TICKS, integer: bool = False) -> tuple[list[float], list[str]]:
    """About ``n`` ticks at a 1/2/5 × 10^k step covering [lo, hi], labelled with exactly the decimals the step
    needs (``0.9999992``, ``250``, ``1.5``) — never a float's noise."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [], []
    if hi <= lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1, round(step))
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    q = Decimal(1).scaleb(-decimals)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks, labels = [], []
    for k in range(first, last + 1):
        t = k * step
        ticks.append(t)
        if abs(t) >= 1e21:  # beyond any balance (a malformed trace): no digit-exact label to give
            labels.append(f"{t:.3g}")
        else:
            labels.append(f"{Decimal(repr(t)).quantize(q):f}".rstrip("0").rstrip(".") if decimals
                          else f"{Decimal(repr(t)).quantize(Decimal(1)):,f}")
    return ticks, labels


class BalancePlots(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(id="plots"):
            for i, _ in enumerate(GROUPS):
                yield PlotextPlot(id=f"plot{i}", classes="plot")
        yield Static(id="legend")

    def show(self, model: FlowModel, exact: bool = False) -> None:
        legend = []
        for i, (title, want) in enumerate(GROUPS):
            w = self.query_one(f"#plot{i}", PlotextPlot)
            plt = w.plt
            plt.clear_data()
            plt.clear_figure()
            plt.theme("pro")
            series = [(name, s) for name, s in list(model.series.items())[:8] if want(name) and s.xs]
            if not series:
                plt.title(f"{title}: no data yet")
                w.refresh()
                continue
            unit, scale = unit_for([s.last for _, s in series if s.last is not None]
                                   + [Fraction(max(s.ys, key=abs)) for _, s in series])
            xs_all, ys_all = [], []
            for name, s in series:
                ys = [y / scale for y in s.ys]  # drawing only; the legend has the exact value
                plt.plot(s.xs, ys, label=name[:20], marker="braille")
                xs_all += s.xs
                ys_all += ys
                legend.append(f"{name} {fmt_wei(s.last, exact, digits=8)}")
            plt.title(f"{title} ({unit})")
            yt, yl = nice_ticks(min(ys_all), max(ys_all))
            if yt:
                plt.ylim(yt[0], yt[-1])
                plt.yticks(yt, yl)
            xt, xl = nice_ticks(min(xs_all), max(xs_all), integer=True)
            if xt:
                plt.xlim(xt[0], xt[-1])
                plt.xticks(xt, xl)
            plt.xlabel("event #")
            w.refresh()
        self.query_one("#legend", Static).update("   ".join(legend) if legend else "no balance events yet")
