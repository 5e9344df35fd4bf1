"""Intervals that include the variation between teachers, not only between students of one teacher.

A fair comparison distils several teachers of a task (each with its own buffer) with several
student seeds each. An interval over all runs as if they were independent would speak only of
*these* teachers; the study's question is about teachers of this kind. The two-stage (cluster)
bootstrap resamples teachers with replacement, then each chosen teacher's runs with replacement,
and takes the percentile interval of the mean (Davison & Hinkley 1997, "Bootstrap Methods and
their Application", sec. 3.8; Field & Welsh 2007, "Bootstrapping clustered data", JRSS B). With
one teacher it is the ordinary bootstrap over runs. With few teachers (the study has four) the
interval is honest but wide, and the percentile method tends to be a little narrow: read it as
the least the teacher variation adds, and read the per-teacher means printed beside it.

Paired comparisons (objective A against B on the same teacher and seed) resample the per-run
differences the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["HierarchicalCI", "hierarchical_ci", "hierarchical_difference"]

#: bootstrap resamples of every interval (the percentiles' Monte Carlo error is about 0.5 points of coverage)
REPS = 4000


@dataclass(frozen=True)
class HierarchicalCI:
    """The mean over teachers (each teacher's mean weighted equally), its interval, and each teacher's mean."""

    mean: float
    low: float
    high: float
    per_teacher: list[float]
    n_teachers: int
    n_runs: int
    confidence: float = 0.95
    method: str = "two-stage bootstrap: teachers, then runs within a teacher (percentile)"

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _groups(groups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    out = [np.asarray(g, dtype=np.float64) for g in groups]
    if not out or any(g.ndim != 1 or g.size == 0 for g in out):
        raise ValueError("groups must be one non-empty list of values per teacher")
    if not all(np.all(np.isfinite(g)) for g in out):
        raise ValueError("groups hold NaN or infinite values")
    return out


def hierarchical_ci(
    groups: Sequence[Sequence[float]], confidence: float = 0.95, reps: int = REPS, seed: int = 0
) -> HierarchicalCI:
    """The mean of the teachers' means of ``groups`` (one list of run values per teacher) and its interval.

    Each resample draws as many teachers as there are, with replacement, then as many runs of
    each drawn teacher as it has, with replacement, and averages the drawn teachers' means.
    """
    gs = _groups(groups)
    means = np.array([g.mean() for g in gs])
    rng = np.random.default_rng(seed)
    if len({g.size for g in gs}) == 1:  # every teacher with as many runs: all resamples at once
        table = np.stack(gs)  # (T, n)
        n_t, n_r = table.shape
        teachers = rng.integers(n_t, size=(reps, n_t))  # (reps, T) the drawn teachers
        runs = rng.integers(n_r, size=(reps, n_t, n_r))  # (reps, T, n) the drawn runs of each
        stats = table[teachers[..., None], runs].mean(axis=(1, 2))  # equal runs: the mean of the teachers' means
    else:
        stats = np.empty(reps)
        for r in range(reps):
            chosen = rng.integers(len(gs), size=len(gs))
            stats[r] = np.mean([gs[t][rng.integers(gs[t].size, size=gs[t].size)].mean() for t in chosen])
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return HierarchicalCI(float(means.mean()), float(low), float(high), means.tolist(), len(gs),
                          sum(g.size for g in gs), confidence)  # fmt: skip


def hierarchical_difference(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    confidence: float = 0.95,
    reps: int = REPS,
    seed: int = 0,
) -> HierarchicalCI:
    """``a - b`` paired run by run within each teacher (the same seeds in the same order), resampled as above."""
    ga, gb = _groups(a), _groups(b)
    if [g.size for g in ga] != [g.size for g in gb]:
        raise ValueError("a and b need the same runs under each teacher (a paired comparison)")
    return hierarchical_ci([x - y for x, y in zip(ga, gb, strict=True)], confidence, reps, seed)
