"""The multi-seed section's figures: each seed's students joined by a line, and agreement by action gap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import mode_color

if TYPE_CHECKING:
    from .step import SeedKind

__all__ = ["gap_agreement", "paired_seeds"]


def paired_seeds(
    record: SeedKind, metrics: tuple[str, ...] = ("action_agreement", "prob_similarity_t1", "regret")
) -> Figure:
    """Per-seed values of each mode joined by a line (one line per seed), mean marked."""
    modes = record.ordered_modes()
    labels = {
        "action_agreement": "top-1 agreement",
        "prob_similarity_t1": "prob. similarity (T = 1)",
        "regret": "regret (teacher Q)",
    }
    fig = Figure(figsize=(4 * len(metrics), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics, strict=True):
        table = np.stack([record.values(m, metric) for m in modes])  # (modes, seeds)
        ax.plot(range(len(modes)), table, color="#999999", lw=0.8, alpha=0.7)
        for i, m in enumerate(modes):
            ax.scatter([i], [table[i].mean()], color=mode_color(m), s=60, zorder=3)
        ax.set_xticks(range(len(modes)), modes)
        ax.set_title(labels.get(metric, metric))
    fig.suptitle(f"{record.kind} seeds (n = {len(record.seeds)}): one grey line per seed, dot = mean")
    return fig


def gap_agreement(summary: dict[str, Any]) -> Figure:
    """Agreement and regret per teacher-action-gap bin (mean over seeds), one line per mode."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for mode, bins in summary["gap"].items():
        x = [b["bin"] for b in bins]
        ax1.plot(x, [b["agreement"] for b in bins], marker="o", label=mode, color=mode_color(mode))
        ax2.plot(x, [b["mean_regret"] for b in bins], marker="o", label=mode, color=mode_color(mode))
    first = next(iter(summary["gap"].values()))
    ticks = [f"{b['gap_low']:.2f}-{b['gap_high']:.2f}" for b in first]
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(ticks)), ticks, rotation=20, fontsize=8)
        ax.set_xlabel("teacher's action gap (quantile bin, mean edges)")
    ax1.set(title="top-1 agreement by action gap", ylabel="agreement")
    ax2.set(title="regret by action gap", ylabel="q_t[best] - q_t[student's choice]")
    ax1.legend()
    return fig
