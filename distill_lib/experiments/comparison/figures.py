"""The original comparison's figures: learning curves of every mode and their final metrics side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import mode_color

if TYPE_CHECKING:
    from .summary import ResultRow

__all__ = ["final_comparison", "learning_curves", "study_curves"]


def learning_curves(history: list[dict[str, Any]], title: str = "") -> Figure:
    """One run's per-epoch validation curves: agreement, probability similarity, loss."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.plot(epochs, [h["action_agreement"] for h in history], label="top-1")
    ax1.plot(epochs, [h["top2_agreement"] for h in history], label="teacher's action in top 2", ls="--")
    ax1.set(xlabel="epoch", title="action agreement")
    ax1.legend()
    ax2.plot(epochs, [h["mean_prob_similarity"] for h in history], label="at run temperature")
    ax2.plot(epochs, [h["prob_similarity_t1"] for h in history], label="at T = 1", ls="--")
    ax2.set(xlabel="epoch", title="probability similarity")
    ax2.legend()
    ax3.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax3.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax3.set(xlabel="epoch", title="objective", yscale="log")
    ax3.legend()
    if title:
        fig.suptitle(title)
    return fig


def study_curves(histories: dict[str, list[dict[str, Any]]]) -> Figure:
    """Validation curves of every mode overlaid: agreement, similarity (T run and 1), loss."""
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = [
        ("action_agreement", "action agreement", "linear"),
        ("mean_prob_similarity", "prob. similarity (run T)", "linear"),
        ("prob_similarity_t1", "prob. similarity (T = 1)", "linear"),
        ("val_loss", "validation objective (own scale)", "log"),
    ]
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        for name, history in histories.items():
            ax.plot([h["epoch"] for h in history], [h[key] for h in history], label=name, color=mode_color(name))
        ax.set(xlabel="epoch", title=label, yscale=scale)
    axes[0].legend()
    return fig


def final_comparison(rows: list[ResultRow]) -> Figure:
    """Final-epoch metrics per mode as grouped bars (all on a 0-1 scale); the legend sits outside the bars."""
    metrics = [
        ("final_action_agreement", "top-1 agreement"),
        ("final_top2_agreement", "top-2 agreement"),
        ("final_mean_prob_similarity", "prob. sim. (run T)"),
        ("final_prob_similarity_t1", "prob. sim. (T = 1)"),
        ("final_q_cosine", "Q cosine"),
    ]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(metrics))
    for i, row in enumerate(rows):
        values = [getattr(row, key) for key, _ in metrics]
        bars = ax.bar(x + (i - (len(rows) - 1) / 2) * width, values, width, label=row.mode, color=mode_color(row.mode))
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, [label for _, label in metrics])
    lowest = min(min(getattr(row, key) for key, _ in metrics) for row in rows) if rows else 0.0
    ax.set_ylim(max(0.0, lowest - 0.1), 1.02)
    ax.set_title("Final validation metrics")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
