"""What the world notebook shows of the teacher: its greedy actions and how decisive it is."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

__all__ = ["action_gaps", "teacher_overview"]


def action_gaps(q_values: np.ndarray) -> np.ndarray:
    """Per-state gap between the teacher's two largest Q-values ``(N,)``: small means a near-tie."""
    top2 = np.sort(q_values, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def teacher_overview(q_values: np.ndarray) -> Figure:
    """The teacher's greedy-action frequencies and the histogram of its action gap; ``q_values`` ``(N, A)``."""
    actions = q_values.argmax(1)
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    counts = np.bincount(actions, minlength=q_values.shape[1]) / len(actions)
    ax1.bar(np.arange(len(counts)), counts, color="#666666")
    ax1.set(xlabel="action", ylabel="share of states", title="Teacher's greedy action", xticks=np.arange(len(counts)))
    ax2.hist(action_gaps(q_values), bins=50, color="#666666")
    ax2.set(xlabel="Q(best) - Q(second best)", ylabel="states", title="Teacher's action gap")
    return fig
