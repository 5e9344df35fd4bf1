"""Two independent samples (say 20 distilled students and 5 DQN runs from scratch): Welch's interval and a permutation test.

Runs of two different procedures share no seed, so they are not paired (``stats.paired_difference``
is for runs on the same seeds). The difference of means ``mean(a) - mean(b)`` gets

* Welch's t-interval: ``d +- t_{nu, (1+c)/2} * sqrt(s_a^2/n_a + s_b^2/n_b)`` with the
  Welch-Satterthwaite degrees of freedom ``nu`` (Welch 1947), which does not assume equal
  variances (a from-scratch DQN's returns spread far more than a distilled student's);
* a two-sided permutation test of "the labels do not matter" (Fisher 1935; Good 2005,
  *Permutation, Parametric and Bootstrap Tests of Hypotheses*): ``p`` is the share of the
  ``C(n_a + n_b, n_b)`` relabellings whose ``|mean difference|`` is at least the observed one.
  They are enumerated exactly up to ``EXACT_MAX_SPLITS``; beyond, ``n_resamples`` random
  relabellings give ``(1 + count) / (1 + k)``.

The result is a ``stats.PairedComparison`` (its fields, ``p_text`` and Holm families apply
unchanged); its ``n`` is the total number of runs and its ``test`` names both sizes.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import scipy.stats

from .stats import ArrayLike, MeanCI, PairedComparison, _as_1d, _check_confidence

__all__ = ["EXACT_MAX_SPLITS", "permutation_test", "unpaired_difference", "welch_interval"]

#: relabellings enumerated exactly up to this many (C(25, 5) = 53,130; C(30, 10) = 30 million is sampled)
EXACT_MAX_SPLITS = 200_000


def welch_interval(a: ArrayLike, b: ArrayLike, confidence: float = 0.95) -> MeanCI:
    """Welch's interval for ``mean(a) - mean(b)`` (module docstring); ``n`` is ``n_a + n_b``."""
    x, y = _as_1d(a, "a", min_size=2), _as_1d(b, "b", min_size=2)
    _check_confidence(confidence)
    diff = float(np.mean(x) - np.mean(y))
    va, vb = np.var(x, ddof=1) / x.size, np.var(y, ddof=1) / y.size
    if va + vb == 0.0:
        return MeanCI(diff, diff, diff, confidence, x.size + y.size, "degenerate")
    nu = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(scipy.stats.t.ppf((1 + confidence) / 2, nu) * math.sqrt(va + vb))
    return MeanCI(diff, diff - half, diff + half, confidence, x.size + y.size, "Welch t")


def permutation_test(a: ArrayLike, b: ArrayLike, n_resamples: int = 100_000, seed: int = 0) -> tuple[float, float, str]:
    """Two-sided permutation test of equal means: ``(p_value, p_floor, test)`` (module docstring).

    Exact: the floor is ``1 / C(n, n_b)``, or ``2 / C(n, n_b)`` when the groups have equal
    sizes (a relabelling and its swap give the same ``|difference|``). Sampled: ``1 / (1 + k)``.
    """
    x, y = _as_1d(a, "a", min_size=1), _as_1d(b, "b", min_size=1)
    z = np.concatenate([x, y])
    n, k = z.size, y.size
    total = float(z.sum())

    def gap(sum_b: np.ndarray) -> np.ndarray:  # |mean(a') - mean(b')| for group-b sums
        return np.abs((total - sum_b) / (n - k) - sum_b / k)

    observed = float(gap(np.array([y.sum()]))[0])
    tol = 1e-10 * max(1.0, float(np.abs(z).max()))
    splits = math.comb(n, k)
    name = f"permutation, {x.size} vs {y.size} runs"
    if splits <= EXACT_MAX_SPLITS:
        index = np.array(list(combinations(range(n), k)))  # (C, k) every group b
        count = int(np.count_nonzero(gap(z[index].sum(1)) >= observed - tol))
        floor = (2.0 if x.size == y.size else 1.0) / splits
        return count / splits, floor, f"{name}, exact ({splits} relabellings)"
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r}: must be >= 100 for a usable p-value")
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, n_resamples, 10_000):
        m = min(10_000, n_resamples - start)
        picks = np.argsort(rng.random((m, n)), axis=1)[:, :k]  # (m, k) a uniformly random group b
        count += int(np.count_nonzero(gap(z[picks].sum(1)) >= observed - tol))
    return (1 + count) / (1 + n_resamples), 1.0 / (1 + n_resamples), f"{name}, {n_resamples} random relabellings"


def unpaired_difference(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 100_000, seed: int = 0
) -> PairedComparison:
    """``a`` vs ``b`` from independent runs: Welch's interval of the difference and the permutation p-value."""
    x, y = _as_1d(a, "a", min_size=2), _as_1d(b, "b", min_size=2)
    p_value, floor, test = permutation_test(x, y, n_resamples, seed)
    ci = welch_interval(x, y, confidence)
    return PairedComparison(float(np.mean(x)), float(np.mean(y)), ci, p_value, x.size + y.size, test, floor)
