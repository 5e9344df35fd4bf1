"""The fair comparison's figures: test return per objective and width (each teacher's mean marked), and
performance profiles across widths."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import objective_color
from .summary import FairSummary

__all__ = ["figure_decision", "figure_profiles"]


def figure_decision(summary: FairSummary) -> Figure:
    """Test return (% of the teacher's) per objective and width: the mean over teachers with the interval that
    includes their variation, each teacher's mean as a dot."""
    widths = summary.widths
    fig = Figure(figsize=(max(6.4, 1.2 + 3.4 * len(widths)), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths), sharey=True))
    for ax, width in zip(axes, widths, strict=True):
        for i, o in enumerate(width["objectives"]):
            r = o["return_pct"]
            color = objective_color(o["objective"])
            ax.bar(i, r["mean"], yerr=[[r["mean"] - r["low"]], [r["high"] - r["mean"]]], capsize=3, color=color,
                   alpha=0.85)  # fmt: skip
            teachers = r["per_teacher"]
            ax.scatter(i + np.linspace(-0.2, 0.2, len(teachers)), teachers, s=12, color="black", zorder=3)
        ax.axhline(100.0, color="#444444", lw=0.8, ls="--")
        ax.set_xticks(range(len(width["objectives"])), [o["objective"] for o in width["objectives"]], fontsize=8,
                      rotation=30)  # fmt: skip
        ax.set_title(f"width {width['width']} ({width['params_pct']:.0f}% of the teacher's parameters)", fontsize=10)
    axes[0].set_ylabel("test return, % of the teacher's")
    title = "Each objective at its selected settings:\nmean over teachers (95% interval), dots: each teacher's mean"
    fig.suptitle(title if len(widths) < 3 else title.replace("\n", " "), fontsize=10)
    return fig


def figure_profiles(aggregate: dict[str, Any]) -> Figure:
    """Performance profiles (Agarwal et al. 2021): the share of runs (runs x widths) above each return threshold."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    taus = np.array(aggregate["profile_thresholds"]) * 100.0
    for objective, shares in aggregate["profiles"].items():
        ax.plot(taus, shares, color=objective_color(objective), lw=2.0, label=objective)
    ax.set(xlabel="test return, % of the teacher's (threshold)", ylabel="share of runs above it", ylim=(-0.02, 1.02))
    ax.set_title(f"Performance profiles over {aggregate['n_runs']} runs x widths {aggregate['widths']}", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return fig
