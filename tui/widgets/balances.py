"""Balances over time as plots (textual-plotext): signer-side credit and orchestrator credit per manifest
(§3.9, §4.5), the sender's deposit and reserve on chain, the orchestrator's fees (§4.6).

Plots show floats for drawing only; the exact last value (a Fraction) is printed in each legend line.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tui.model import FlowModel, fmt_wei

GROUPS = (
    ("credit (wei)", lambda n: n == "signer credit" or n.startswith("orch credit")),
    ("chain: deposit / reserve (wei)", lambda n: n in ("deposit", "reserve")),
    ("orchestrator fees (wei)", lambda n: n == "orchestrator fees"),
)


class BalancePlots(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(id="plots"):
            for i, (title, _) in enumerate(GROUPS):
                yield PlotextPlot(id=f"plot{i}", classes="plot")
        yield Static(id="legend")

    def show(self, model: FlowModel) -> None:
        legend = []
        for i, (title, want) in enumerate(GROUPS):
            w = self.query_one(f"#plot{i}", PlotextPlot)
            plt = w.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(title)
            plt.theme("pro")
            any_ = False
            for name, s in list(model.series.items())[:8]:
                if want(name) and s.xs:
                    plt.plot(s.xs, s.ys, label=name[:20], marker="braille")
                    legend.append(f"{name}: {fmt_wei(s.last)}")
                    any_ = True
            if not any_:
                plt.title(title + " — no data yet")
            plt.xlabel("event #")
            w.refresh()
        self.query_one("#legend", Static).update("\n".join(legend) if legend else "no balance events yet")
