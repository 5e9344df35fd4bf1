"""The real-task section's figures: return and fidelity against student size, per objective, with CIs."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.plots import mode_color
from .summary import RealTaskSummary

__all__ = ["figure_fidelity", "figure_returns"]

_LABELS = {
    "action_agreement": "held-out agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "regret": "regret (teacher Q)",
}


def _errorbars(ax: Any, summary: RealTaskSummary, metric: str, scale: float = 1.0) -> None:
    """One line per mode against % of the teacher's parameters (log x), CI as error bars."""
    modes = summary.modes
    for i, mode in enumerate(modes):
        rows = sorted((r for r in summary.rows if r["mode"] == mode), key=lambda r: r["params_pct"])
        x = np.array([r["params_pct"] for r in rows]) * (1.0 + 0.04 * (i - (len(modes) - 1) / 2))  # dodge
        y = np.array([r[metric]["mean"] for r in rows]) * scale
        has_ci = all(r[metric]["low"] is not None for r in rows)
        err = (
            np.array([[r[metric]["mean"] - r[metric]["low"], r[metric]["high"] - r[metric]["mean"]] for r in rows]).T
            * scale
            if has_ci
            else None
        )
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=mode, color=mode_color(mode))
    ticks = sorted({(r["params_pct"], r["width"]) for r in summary.rows})
    ax.set_xscale("log")
    ax.set_xticks([t for t, _ in ticks], [f"{t:.1f}%\n(w {w})" for t, w in ticks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("student parameters, % of the teacher's (width)")


def figure_returns(summary: RealTaskSummary) -> Figure:
    """Closed-loop return (% of the teacher's) against student size, per mode, with 95% CIs.

    The shaded box is Rusu et al. (2016)'s compression result (4-25% of the parameters,
    84-108% of the score).
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(
        RUSU_PARAMS_PCT, *RUSU_SCORE_PCT, color="#bbbbbb", alpha=0.3, lw=0, label="Rusu et al. 2016 (Atari)"
    )
    ax.axhline(100.0, color="#444444", lw=0.8, ls="--", label="teacher")
    _errorbars(ax, summary, "return_pct")
    n = summary.n_seeds
    ax.set(
        ylabel="return, % of the teacher's",
        title=f"{summary.teacher['label']} closed-loop return ({summary.teacher['episodes']} episodes; mean over {n} seed{'s' * (n != 1)})",
    )
    ax.legend(fontsize=8)
    return fig


def figure_fidelity(summary: RealTaskSummary) -> Figure:
    """Held-out agreement, probability similarity (T = 1) and regret against student size, per mode."""
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, ("action_agreement", "prob_similarity_t1", "regret"), strict=True):
        _errorbars(ax, summary, metric)
        ax.set_title(_LABELS[metric])
    axes[0].legend(fontsize=8)
    n_held = summary.buffer.get("n_held_out")
    fig.suptitle(f"Fidelity on held-out teacher states{f' ({n_held} states)' if n_held else ''}")
    return fig
