"""Statistics over seeds: bootstrap intervals, paired comparisons, and action-gap strata.

The study reports a metric per seed (say, action agreement of 10 students, one per seed)
and compares objectives run on the *same* seeds. The tools, all from ``scipy.stats``:

- ``mean_ci``: a bootstrap confidence interval of the mean (Efron & Tibshirani 1993,
  "An Introduction to the Bootstrap"; BCa, ch. 14), ``scipy.stats.bootstrap``.
- ``paired_difference``: the mean of ``a - b`` over seeds, its bootstrap interval, and the
  p-value of a paired sign-flip permutation test of ``mean(a - b) = 0`` (Fisher 1935;
  ``scipy.stats.permutation_test`` with ``permutation_type="samples"``, which swaps
  ``a_i`` and ``b_i``, i.e. flips the sign of ``d_i``). Chosen over the Wilcoxon
  signed-rank test because it tests the same quantity the interval describes (the mean),
  needs no rule for zero differences (a zero ``d_i`` flips to itself), and is exact for
  ``n <= log2(n_resamples)`` seeds (all ``2^n`` sign patterns are enumerated).
- ``verdict``: that comparison in words.
- ``gap_bins`` / ``agreement_by_gap_bin``: states stratified by the teacher's action gap
  (``q_(1) - q_(2)``, ``metrics.action_gap``; Farahmand 2011, "Action-Gap Phenomenon in
  Reinforcement Learning") into equal-count quantile bins, with agreement and regret per
  bin: a student that disagrees only where the teacher is near a tie loses little.

Everything is seeded: the same inputs and ``seed`` give the same numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

from ..core.metrics import action_gap, regret

__all__ = [
    "GapBins",
    "MeanCI",
    "PairedComparison",
    "agreement_by_gap_bin",
    "difference_phrase",
    "gap_bins",
    "mean_ci",
    "paired_difference",
    "verdict",
]

ArrayLike = Sequence[float] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class MeanCI:
    """A sample mean and its bootstrap confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    confidence: float
    n: int
    #: "BCa", "percentile" (fallback where BCa is undefined), or "degenerate" (all values equal)
    method: str


@dataclass(frozen=True)
class PairedComparison:
    """``a`` vs ``b`` on the same seeds: the mean of ``d = a - b``, its interval, and a p-value."""

    mean_a: float
    mean_b: float
    difference: MeanCI
    p_value: float
    n: int
    #: "sign-flip permutation, exact" or "sign-flip permutation, <k> random flips"
    test: str
    #: the smallest p-value the test can give (all 2^n patterns: 2 / 2^n; random flips: 2 / (k + 1))
    p_floor: float = 0.0

    @property
    def p_text(self) -> str:
        """``p = 0.031``, or ``p ≤ 0.0002`` when the test can give nothing smaller."""
        if self.p_floor and self.p_value <= self.p_floor * (1 + 1e-9):
            return f"p ≤ {self.p_floor:.2g}"
        return f"p = {self.p_value:.3g}"


@dataclass(frozen=True)
class GapBins:
    """Equal-count quantile bins of action gaps.

    ``assignment[i]`` is the bin of state ``i`` (0 = smallest gaps); ``edges`` are the
    ``n_bins + 1`` quantiles ``np.quantile(gaps, k / n_bins)``; ``counts`` the states per bin.
    """

    edges: np.ndarray  # (n_bins + 1,)
    assignment: np.ndarray  # (N,) int
    counts: np.ndarray  # (n_bins,) int


def _as_1d(values: ArrayLike, name: str, min_size: int = 1) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {array.shape}; expected a 1-D sequence of numbers")
    if array.size < min_size:
        raise ValueError(f"{name} has {array.size} values; need at least {min_size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or fix those runs first")
    return array


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r}: must be in (0, 1), e.g. 0.95")


def mean_ci(
    values: ArrayLike, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0, method: str = "BCa"
) -> MeanCI:
    """Bootstrap CI of the mean: ``scipy.stats.bootstrap`` (BCa by default), seeded.

    Degenerate case: when all values are equal, every resample has the same mean, so the
    interval is that value (``method="degenerate"``; scipy's BCa would return NaN). If BCa
    is undefined for another reason (e.g. a single outlier in a tiny sample makes the
    jackknife degenerate), the percentile interval is returned (``method="percentile"``).
    """
    x = _as_1d(values, "values", min_size=2)
    _check_confidence(confidence)
    if method not in ("BCa", "percentile", "basic"):
        raise ValueError(f"method={method!r}: must be one of BCa, percentile, basic")
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r}: must be >= 100 for a usable interval")
    mean = float(np.mean(x))
    if np.all(x == x[0]):
        return MeanCI(mean, mean, mean, confidence, x.size, "degenerate")

    def run(kind: str) -> tuple[float, float]:
        res = scipy.stats.bootstrap(
            (x,),
            np.mean,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method=kind,
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        low, high = run(method)
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = run("percentile")
        method = "percentile"
    return MeanCI(mean, low, high, confidence, x.size, method)


def paired_difference(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> PairedComparison:
    """Paired comparison of ``a`` and ``b`` (same seeds, same order): ``d = a - b``.

    Returns the mean difference with its bootstrap interval (``mean_ci`` of ``d``) and the
    two-sided p-value of the sign-flip permutation test of ``mean(d) = 0``: the fraction of
    the ``2^n`` sign patterns ``(+-d_1, ..., +-d_n)`` whose mean is at least as far from 0
    as the observed one (doubled one-sided, as ``scipy.stats.permutation_test`` defines it).
    All-zero differences give ``p = 1`` and the interval ``[0, 0]``. The smallest attainable
    p is ``2 / 2^n``: with fewer than 6 seeds no difference can reach ``p < 0.05``.
    """
    x, y = _as_1d(a, "a", min_size=2), _as_1d(b, "b", min_size=2)
    if x.shape != y.shape:
        raise ValueError(f"a has {x.size} values and b has {y.size}; a paired comparison needs one pair per seed")
    d = x - y
    ci = mean_ci(d, confidence, n_resamples, seed)
    exact = 2**d.size <= n_resamples
    if np.all(d == 0.0):
        p_value = 1.0
    else:
        res = scipy.stats.permutation_test(
            (x, y),
            lambda u, v, axis: np.mean(u - v, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_resamples,
            alternative="two-sided",
            rng=np.random.default_rng(seed),
        )
        p_value = float(res.pvalue)
    test = "sign-flip permutation, exact" if exact else f"sign-flip permutation, {n_resamples} random flips"
    floor = 2.0 / 2**d.size if exact else 2.0 / (n_resamples + 1)
    return PairedComparison(float(np.mean(x)), float(np.mean(y)), ci, p_value, d.size, test, floor)


def verdict(
    comparison: PairedComparison,
    name_a: str = "A",
    name_b: str = "B",
    scale: float = 100.0,
    unit: str = "points",
    level: float = 0.05,
) -> str:
    """The comparison in one sentence.

    "no detectable difference" unless *both* the interval excludes 0 and ``p < level``
    (the two can disagree at the margin; the sentence then errs on the side of no claim);
    otherwise "``name_a`` higher by X ``unit`` (95% CI [lo, hi], p = ...)". Differences are
    multiplied by ``scale``: the default reports fractions (e.g. action agreement) in
    percentage points; pass ``scale=1, unit=""`` for raw units.
    """
    ci = comparison.difference
    pct = f"{100 * ci.confidence:g}%"
    low, high, mean = ci.low * scale, ci.high * scale, ci.mean * scale
    suffix = f" {unit}" if unit else ""
    stats_text = f"{pct} CI [{low:+.3g}, {high:+.3g}]{suffix}, {comparison.p_text}, n = {comparison.n}"
    if (ci.low <= 0.0 <= ci.high) or comparison.p_value >= level:
        difference = f"{name_a} - {name_b} = {mean:+.3g}{suffix}"
        return f"no detectable difference between {name_a} and {name_b} ({difference}, {stats_text})"
    if mean > 0:
        return f"{name_a} higher by {mean:.3g}{suffix} ({stats_text})"
    return f"{name_b} higher by {-mean:.3g}{suffix} ({name_a} - {name_b}: {stats_text})"


def difference_phrase(pair: str, comparison: dict, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    """A detectable paired difference in words, the larger side first: ``b higher than a by X (95% CI [lo, hi], p ...)``.

    ``pair`` is ``"a - b"``; ``comparison`` the JSON form of a ``PairedComparison`` (keys
    ``difference`` with ``mean``/``low``/``high``, and ``p_text``).
    """
    a, b = pair.split(" - ")
    d = comparison["difference"]
    mean, low, high = d["mean"] * scale, d["low"] * scale, d["high"] * scale
    if mean < 0:
        a, b, mean, low, high = b, a, -mean, -high, -low
    fmt = f".{digits}g"
    return f"{a} higher than {b} by {mean:{fmt}}{unit} (95% CI [{low:{fmt}}, {high:{fmt}}], {comparison['p_text']})"


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
