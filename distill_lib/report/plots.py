"""Figures of the study (matplotlib). Each function returns a ``Figure``; callers save it."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = [
    "MODE_COLORS",
    "final_comparison",
    "gap_agreement",
    "image",
    "learning_curves",
    "paired_seeds",
    "study_curves",
    "sweep_heatmaps",
    "teacher_overview",
    "top2_gap",
]

#: one colour per objective, used in every figure
MODE_COLORS = {"hard_only": "#d95f02", "blended": "#7570b3", "soft_only": "#1b9e77"}


def _color(name: str) -> str | None:
    return MODE_COLORS.get(name)


def image(fig: Figure, dpi: int = 100) -> Any:
    """The figure as an ``IPython.display.Image`` (a bare ``Figure`` has no image repr without pyplot)."""
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def top2_gap(q_values: np.ndarray) -> np.ndarray:
    """Per-state gap between the two largest Q-values ``(N,)``."""
    top2 = np.sort(q_values, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def teacher_overview(q_values: np.ndarray) -> Figure:
    """Teacher's greedy-action frequencies and the histogram of its top-two Q-value gap.

    ``q_values``: the teacher's Q-values on the state buffer, ``(N, A)``.
    """
    actions = q_values.argmax(1)
    gap = top2_gap(q_values)
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    counts = np.bincount(actions, minlength=q_values.shape[1]) / len(actions)
    ax1.bar(np.arange(len(counts)), counts, color="#666666")
    ax1.set(xlabel="action", ylabel="share of states", title="Teacher's greedy action", xticks=np.arange(len(counts)))
    ax2.hist(gap, bins=50, color="#666666")
    ax2.set(xlabel="Q(best) - Q(second best)", ylabel="states", title="Teacher's action gap")
    return fig


def learning_curves(history: list[dict[str, Any]], title: str = "") -> Figure:
    """One run's per-epoch validation curves: agreement, probability similarity, loss."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 3.2), layout="constrained")
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
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = [
        ("action_agreement", "action agreement", "linear"),
        ("mean_prob_similarity", "prob. similarity (run T)", "linear"),
        ("prob_similarity_t1", "prob. similarity (T = 1)", "linear"),
        ("val_loss", "validation objective (own scale)", "log"),
    ]
    for ax, (key, label, scale) in zip(axes, panels, strict=True):
        for name, history in histories.items():
            ax.plot([h["epoch"] for h in history], [h[key] for h in history], label=name, color=_color(name))
        ax.set(xlabel="epoch", title=label, yscale=scale)
    axes[0].legend()
    return fig


def final_comparison(rows: list[dict[str, Any]]) -> Figure:
    """Final-epoch metrics per mode as grouped bars (all metrics on a 0-1 scale)."""
    metrics = [
        ("final_action_agreement", "top-1 agreement"),
        ("final_top2_agreement", "top-2 agreement"),
        ("final_mean_prob_similarity", "prob. sim. (run T)"),
        ("final_prob_similarity_t1", "prob. sim. (T = 1)"),
        ("final_q_cosine", "Q cosine"),
    ]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(metrics))
    for i, row in enumerate(rows):
        values = [row[key] for key, _ in metrics]
        bars = ax.bar(
            x + (i - (len(rows) - 1) / 2) * width, values, width, label=row["mode"], color=_color(row["mode"])
        )
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1)
    ax.set_xticks(x, [label for _, label in metrics])
    lowest = min(min(row[key] for key, _ in metrics) for row in rows) if rows else 0.0
    ax.set_ylim(max(0.0, lowest - 0.1), 1.02)
    ax.set_title("Final validation metrics")
    ax.legend(loc="lower right")
    return fig


def paired_seeds(
    record: dict[str, Any], metrics: tuple[str, ...] = ("action_agreement", "prob_similarity_t1", "regret")
) -> Figure:
    """Per-seed values of each mode joined by a line (one line per seed), mean marked."""
    modes = sorted(record["modes"], key=lambda m: record["modes"][m])  # by alpha
    labels = {
        "action_agreement": "top-1 agreement",
        "prob_similarity_t1": "prob. similarity (T = 1)",
        "regret": "regret (teacher Q)",
    }
    fig = Figure(figsize=(4 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        table = {m: {r["seed"]: r["final"][metric] for r in record["runs"] if r["mode"] == m} for m in modes}
        for seed in record["seeds"]:
            ax.plot(range(len(modes)), [table[m][seed] for m in modes], color="#999999", lw=0.8, alpha=0.7)
        for i, m in enumerate(modes):
            ax.scatter([i], [np.mean(list(table[m].values()))], color=_color(m), s=60, zorder=3)
        ax.set_xticks(range(len(modes)), modes)
        ax.set_title(labels.get(metric, metric))
    fig.suptitle(f"{record['kind']} seeds (n = {len(record['seeds'])}): one grey line per seed, dot = mean")
    return fig


def gap_agreement(summary: dict[str, Any]) -> Figure:
    """Agreement and regret per teacher-action-gap bin (mean over seeds), one line per mode."""
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for mode, bins in summary["gap"].items():
        x = [b["bin"] for b in bins]
        ax1.plot(x, [b["agreement"] for b in bins], marker="o", label=mode, color=_color(mode))
        ax2.plot(x, [b["mean_regret"] for b in bins], marker="o", label=mode, color=_color(mode))
    first = next(iter(summary["gap"].values()))
    ticks = [f"{b['gap_low']:.2f}-{b['gap_high']:.2f}" for b in first]
    for ax in (ax1, ax2):
        ax.set_xticks(range(len(ticks)), ticks, rotation=20, fontsize=8)
        ax.set_xlabel("teacher's action gap (quantile bin, mean edges)")
    ax1.set(title="top-1 agreement by action gap", ylabel="agreement")
    ax2.set(title="regret by action gap", ylabel="q_t[best] - q_t[student's choice]")
    ax1.legend()
    return fig


def sweep_heatmaps(
    temps: list[float],
    alphas: list[float],
    tables: dict[str, np.ndarray],
    marks: list[tuple[float, float, str]],
    mse: dict[str, float] | None = None,
) -> Figure:
    """One heatmap per metric over (temperature, alpha), the study's modes marked."""
    fig = Figure(figsize=(5.2 * len(tables), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(tables)))
    for ax, (label, table) in zip(axes, tables.items(), strict=True):
        im = ax.imshow(table, aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=7)
        ax.set_yticks(range(len(temps)), [f"{t:g}" for t in temps])
        ax.set(
            xlabel="alpha (weight of the soft term)",
            ylabel="temperature",
            title=label + (f"\n(MSE on Q: {mse[label]:.3f})" if mse and label in mse else ""),
        )
        fig.colorbar(im, ax=ax, shrink=0.8)
        for t, a, name in marks:
            if t in temps and a in alphas:
                ax.scatter(
                    [alphas.index(a)], [temps.index(t)], marker="o", s=90, facecolors="none", edgecolors="white", lw=1.5
                )
                ax.annotate(
                    name,
                    (alphas.index(a), temps.index(t)),
                    color="white",
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
    return fig
