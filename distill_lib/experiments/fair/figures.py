"""The fair comparison's figures: test return per arm and width, and performance profiles across widths."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import objective_color
from .summary import FairSummary

__all__ = ["figure_decision", "figure_profiles"]


def figure_decision(summary: FairSummary) -> Figure:
    """Test return (% of the teacher's) per arm and width, 95% t-intervals; fixed-setting arms hatched."""
    widths = summary.widths
    fig = Figure(figsize=(max(6.4, 1.2 + 3.2 * len(widths)), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths), sharey=True))
    for ax, width in zip(axes, widths, strict=True):
        for i, arm in enumerate(width["arms"]):
            r = arm["return_pct"]
            obj = arm["setting"]["objective"]
            ax.bar(
                i,
                r["mean"],
                yerr=[[r["mean"] - r["low"]], [r["high"] - r["mean"]]],
                capsize=3,
                color=objective_color(obj),
                hatch="//" if arm["fixed"] else None,
                edgecolor="white" if arm["fixed"] else None,
            )
        ax.axhline(100.0, color="#444444", lw=0.8, ls="--")
        ax.set_xticks(range(len(width["arms"])), [a["arm"].replace(", ", "\n") for a in width["arms"]], fontsize=9)
        ax.set_title(f"width {width['width']} ({width['params_pct']:.0f}% of the teacher's parameters)", fontsize=10)
    axes[0].set_ylabel("test return, % of the teacher's (95% CI)")
    fig.suptitle(
        "Each objective at its selected settings\n(hatched: the real-task section's fixed settings)", fontsize=11
    )
    return fig


def figure_profiles(aggregate: dict[str, Any]) -> Figure:
    """Performance profiles (Agarwal et al. 2021): the share of runs (seeds x widths) above each return threshold."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    taus = np.array(aggregate["profile_thresholds"]) * 100.0
    for arm, shares in aggregate["profiles"].items():
        fixed = arm.endswith("fixed")
        ax.plot(
            taus, shares, color=objective_color(arm), ls="--" if fixed else "-", lw=1.2 if fixed else 2.0, label=arm
        )
    ax.set(xlabel="test return, % of the teacher's (threshold)", ylabel="share of runs above it", ylim=(-0.02, 1.02))
    ax.set_title(f"Performance profiles over {aggregate['n_seeds']} seeds x widths {aggregate['widths']}", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return fig
