"""States stratified by the teacher's action gap, with agreement and regret per stratum.

The action gap ``q_(1) - q_(2)`` (``metrics.action_gap``; Farahmand 2011, "Action-Gap
Phenomenon in Reinforcement Learning") says how much the teacher cares which action is
taken. States fall into equal-count quantile bins of it; a student that disagrees only where
the teacher is near a tie loses little (low regret in the lowest bins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.metrics import action_gap, regret
from .stats import ArrayLike, _as_1d

__all__ = ["GapBins", "agreement_by_gap_bin", "gap_bins"]


@dataclass(frozen=True)
class GapBins:
    """Equal-count quantile bins of action gaps.

    ``assignment[i]`` is the bin of state ``i`` (0 = smallest gaps); ``edges`` are the
    ``n_bins + 1`` quantiles ``np.quantile(gaps, k / n_bins)``; ``counts`` the states per bin.
    """

    edges: np.ndarray  # (n_bins + 1,)
    assignment: np.ndarray  # (N,) int
    counts: np.ndarray  # (n_bins,) int


def gap_bins(action_gaps: ArrayLike, n_bins: int) -> GapBins:
    """Split states into ``n_bins`` equal-count bins by their action gap (0 = smallest gaps).

    State ``i`` with rank ``r_i`` (stable sort, ties in index order) goes to bin
    ``floor(r_i * n_bins / N)``, so counts differ by at most one whatever the ties; with
    distinct gaps every bin ``k`` lies within ``[edges[k], edges[k + 1]]``.
    """
    gaps = _as_1d(action_gaps, "action_gaps")
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or not 1 <= n_bins <= gaps.size:
        raise ValueError(f"n_bins={n_bins!r}: must be an integer in [1, {gaps.size}] (the number of states)")
    ranks = np.empty(gaps.size, dtype=np.int64)
    ranks[np.argsort(gaps, kind="stable")] = np.arange(gaps.size)
    assignment = ranks * n_bins // gaps.size
    edges = np.quantile(gaps, np.linspace(0.0, 1.0, n_bins + 1))
    return GapBins(edges=edges, assignment=assignment, counts=np.bincount(assignment, minlength=n_bins))


def agreement_by_gap_bin(student_q: torch.Tensor, teacher_q: torch.Tensor, n_bins: int) -> list[dict[str, float]]:
    """Agreement and mean regret per teacher-action-gap bin, one record per bin.

    Q-values ``(N, A)``. Bins come from ``gap_bins(metrics.action_gap(teacher_q), n_bins)``;
    each record has ``bin``, ``gap_low``/``gap_high`` (the smallest and largest gap in the
    bin), ``n``, ``agreement`` (fraction of states where the greedy actions match) and
    ``mean_regret`` (``metrics.regret``, teacher-Q cost of the student's choice).
    """
    if student_q.ndim != 2 or student_q.shape != teacher_q.shape:
        raise ValueError(
            f"student_q {tuple(student_q.shape)} and teacher_q {tuple(teacher_q.shape)} must both be (N, A)"
        )
    gaps = action_gap(teacher_q).detach().cpu().double().numpy()
    bins = gap_bins(gaps, n_bins)
    agree = (student_q.argmax(-1) == teacher_q.argmax(-1)).cpu().numpy()
    cost = regret(student_q, teacher_q).detach().cpu().double().numpy()
    records = []
    for k in range(n_bins):
        member = bins.assignment == k
        records.append(
            {
                "bin": k,
                "gap_low": float(gaps[member].min()),
                "gap_high": float(gaps[member].max()),
                "n": int(member.sum()),
                "agreement": float(agree[member].mean()),
                "mean_regret": float(cost[member].mean()),
            }
        )
    return records
