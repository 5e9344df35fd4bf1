"""The sweep's figures: one cell's metrics against alpha, and heatmaps over the whole grid."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .step import SweepCell, cell_name
from .summary import SWEEP_METRICS, SweepSummary

__all__ = ["cell_figure", "heatmaps"]


def cell_figure(cell: SweepCell) -> Figure:
    """One cell's metrics against alpha, one panel per metric."""
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    for ax, (label, metric) in zip(fig.subplots(1, len(SWEEP_METRICS)), SWEEP_METRICS.items(), strict=True):
        ax.plot(cell.alphas, [cell.seed_mean(a, metric) for a in cell.alphas], marker="o")
        ax.set(xlabel="alpha", title=label)
    fig.suptitle(f"Cell {cell_name(cell.temperature, cell.loss_fn)}: seed means over {len(cell.seeds)} world seeds")
    return fig


def heatmaps(summary: SweepSummary) -> Figure:
    """One heatmap per metric over (temperature, alpha), the study's objectives marked."""
    temps, alphas = summary.temperatures, summary.alphas
    labels = list(SWEEP_METRICS)
    fig = Figure(figsize=(5.6 * len(labels), 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(labels)))
    for ax, label in zip(axes, labels, strict=True):
        im = ax.imshow(summary.table(label), aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=9)
        ax.set_yticks(range(len(temps)), [f"{t:g}" for t in temps], fontsize=9)
        mse = summary.mse_row
        title = label + (f"\n(MSE on raw Q: {mse[label]:.3f})" if mse and label in mse else "")
        ax.set_xlabel("alpha (weight of the soft term)", fontsize=10)
        ax.set_ylabel("temperature", fontsize=10)
        ax.set_title(title, fontsize=11)
        fig.colorbar(im, ax=ax, shrink=0.8)
        for t, a, name in summary.marks:
            if t in temps and a in alphas:
                x, y = alphas.index(a), temps.index(t)
                ax.scatter([x], [y], marker="o", s=110, facecolors="none", edgecolors="white", lw=1.8)
                ha = "right" if x > len(alphas) / 2 else "left"
                ax.annotate(
                    name,
                    (x, y),
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                    ha=ha,
                    xytext=(-6 if ha == "right" else 6, 6),
                    textcoords="offset points",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "black", "alpha": 0.45, "lw": 0},
                )
    return fig
