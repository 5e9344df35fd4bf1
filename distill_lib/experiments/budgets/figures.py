"""The data budgets' figure: test return against environment steps, every objective and DQN from scratch."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import objective_color
from .sentences import scratch_curve
from .summary import BudgetsSummary

__all__ = ["draw_curves", "figure_budgets"]


def draw_curves(ax: Any, width: dict[str, Any], scratch: list[dict[str, Any]] | None) -> None:
    """One width's curves on ``ax``: objectives (teacher-driven solid, DAgger dashed) with their intervals, and
    DQN from scratch in black, against environment steps (log scale)."""
    for curve in width["curves"]:
        x = np.array([p["budget"] for p in curve["points"]], dtype=float)
        y = np.array([p["return_pct"]["mean"] for p in curve["points"]])
        lo = np.array([p["return_pct"]["low"] for p in curve["points"]])
        hi = np.array([p["return_pct"]["high"] for p in curve["points"]])
        color, dagger = objective_color(curve["objective"]), curve["source"] == "dagger"
        label = f"{curve['objective']}{' (DAgger)' if dagger else ''}"
        ax.plot(x, y, "o--" if dagger else "o-", color=color, lw=1.4, ms=3.5, label=label)
        if not dagger:
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, lw=0)
    if scratch:
        x = np.array([p["budget"] for p in scratch], dtype=float)
        y = np.array([p["return_pct"]["mean"] for p in scratch])
        ax.plot(x, y, "s-", color="black", lw=1.6, ms=4, label="DQN from scratch")
    ax.axhline(100.0, color="#444444", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set(xlabel="environment steps", title=f"width {width['width']}")


def figure_budgets(summary: BudgetsSummary, baselines: Any = None) -> Figure:
    """One panel per width: test return (% of the teacher's) against the transfer set's environment steps."""
    widths = summary.widths
    fig = Figure(figsize=(max(6.4, 1.0 + 4.4 * len(widths)), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths), sharey=True))
    for ax, width in zip(axes, widths, strict=True):
        draw_curves(ax, width, scratch_curve(baselines, width["width"]))
    axes[0].set_ylabel("test return, % of the teacher's (mean over teachers)")
    axes[0].legend(fontsize=7, loc="lower right")
    return fig
