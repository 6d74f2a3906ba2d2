"""Plots of a sweep (matplotlib, no display needed): a heat map for two axes, curves for one."""
from __future__ import annotations

import math
from pathlib import Path

__all__ = ["plot_sweep", "plot_fleet", "LABELS"]

LABELS = {
    "p_stop": "P(stopped within T)", "rate_482": "share of calls answered 482",
    "tickets_per_paid_call": "tickets per paid call", "losses_tolerated": "lost payments tolerated",
    "first_winner_s": "time to first winner (s)", "revenue_cv_hour": "revenue CV per hour",
    "gas_share": "gas share of a winner", "deposit_time_h": "deposit lasts (h)", "healthy": "healthy (1) or not (0)",
    "min_headroom_s": "orchestrator headroom (s)", "max_tickets_per_call": "max tickets per call",
}


def metric_value(row: dict, metric: str) -> float:
    """A sweep table cell as a float: booleans 1/0, anything unreadable NaN."""
    v = row.get(metric)
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _log(values) -> bool:
    vs = [float(v) for v in values]
    return len(vs) > 2 and min(vs) > 0 and max(vs) / min(vs) >= 50


def plot_sweep(result, metric: str, out: Path, *, formats=("png", "svg"), title: str | None = None) -> list[Path]:
    """Write ``out.<fmt>`` for each format; returns the paths (none when the grid has no 1 or 2 numeric axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = [a for a in result.axes if len(a.values) > 1]
    rows = sorted(result.rows, key=lambda r: r["index"])
    if not axes or len(axes) > 2 or not all(a.numeric for a in axes) or not rows:
        return []
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    label = LABELS.get(metric, metric)
    if len(axes) == 1:
        a = axes[0]
        by = {r[a.name]: r for r in rows if a.name in r}
        xs = [float(v) for v in a.values if v in by]
        ys = [metric_value(by[v], metric) for v in a.values if v in by]
        ax.plot(xs, ys, marker="o")
        if metric == "p_stop":
            lo = [metric_value(by[v], "p_stop_low") for v in a.values if v in by]
            hi = [metric_value(by[v], "p_stop_high") for v in a.values if v in by]
            ax.fill_between(xs, lo, hi, alpha=0.25, label="95 % interval")
            ax.legend()
        if _log(xs):
            ax.set_xscale("log")
        ax.set_xlabel(a.name)
        ax.set_ylabel(label)
    else:
        ya, xa = axes  # rows: first axis, columns: second
        import numpy as np

        grid = np.full((len(ya.values), len(xa.values)), np.nan)
        pos = {(y, x): (i, j) for i, y in enumerate(ya.values) for j, x in enumerate(xa.values)}
        for r in rows:
            key = (r.get(ya.name), r.get(xa.name))
            if key in pos:
                grid[pos[key]] = metric_value(r, metric)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        fig.colorbar(im, ax=ax, label=label)

        def ticks(values):
            step = max(1, len(values) // 6)
            idx = list(range(0, len(values), step))
            return idx, [f"{float(values[i]):.3g}" for i in idx]

        xi, xl = ticks(xa.values)
        yi, yl = ticks(ya.values)
        ax.set_xticks(xi, xl, rotation=30)
        ax.set_yticks(yi, yl)
        ax.set_xlabel(xa.name)
        ax.set_ylabel(ya.name)
    ax.set_title(title or label)
    return _save(fig, out, formats)


def _save(fig, out: Path, formats) -> list[Path]:
    """Write the figure as ``out.<fmt>`` for each format (no timestamps: the same run, the same bytes)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    paths = []
    for fmt in formats:
        p = Path(f"{out}.{fmt}")
        fig.savefig(p, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
        paths.append(p)
    plt.close(fig)
    return paths


def plot_fleet(report, out: Path, *, formats=("png", "svg")) -> list[Path]:
    """Two panels: what the fleet's winners drew in each top-up window against the deposit it needs, and the
    orchestrators' net revenue per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fl = report.data["float"]
    eth = 1e18
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    ws = [w / eth for w in report.windows]
    a.bar(range(len(ws)), ws, color="tab:blue", label="winners' face value")
    a.axhline(fl["quantile_model"] / eth, color="tab:orange", ls="--",
              label=f"{fl['confidence']:.4g} quantile (model)")
    a.axhline((fl["deposit_needed"]) / eth, color="tab:red", label="deposit needed (+ floor)")
    a.set_ylim(0, 1.3 * max([fl["deposit_needed"] / eth, *ws, 1e-18]))
    a.set_xlabel(f"top-up window ({fl['top_up_hours']} h)")
    a.set_ylabel("ETH")
    a.set_title("the sender's spend per window")
    a.legend(fontsize=8, loc="upper left", ncol=2)
    nets = [r["net_wei"] / eth / report.run.fleet.days for r in report.orchestrators]
    b.hist(nets, bins=min(40, max(5, len(nets) // 5)), color="tab:green")
    b.set_xlabel("net revenue per day (ETH)")
    b.set_ylabel("orchestrators")
    b.set_title("orchestrator payouts")
    return _save(fig, out, formats)
