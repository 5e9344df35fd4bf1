"""Statistics over seeds: bootstrap intervals, paired comparisons, and action-gap strata.

The study reports a metric per seed (say, action agreement of 10 students, one per seed)
and compares objectives run on the *same* seeds. The tools:

- ``mean_ci``: a confidence interval of the mean. By default Student's t-interval
  ``mean +- t_{n-1} s / sqrt(n)``, which keeps its coverage at the handful of seeds a study
  can afford: a bootstrap interval treats the sample as the population, and at ``n = 6``
  BCa intervals are about 0.7x as wide as t-intervals and cover about 88% instead of 95%
  (``tests/report/test_stats.py`` checks the t-interval's coverage by simulation).
  Bootstrap intervals (``scipy.stats.bootstrap``; Efron & Tibshirani 1993, ch. 14) remain
  available as ``method="BCa"``/``"percentile"``.
- ``sign_flip_test``: the two-sided p-value of ``mean(d) = 0`` for paired differences
  ``d`` (Fisher 1935): the fraction of the ``2^n`` sign patterns ``(+-d_1, ..., +-d_n)``
  whose mean is at least as far from 0 as the observed one. Every pattern is enumerated for
  ``n <= EXACT_MAX_N`` (20: a million patterns, well under a second); beyond that, random
  patterns. Chosen over the Wilcoxon signed-rank test because it tests the quantity the
  interval describes (the mean) and needs no rule for zero differences.
- ``paired_difference``: ``a - b`` over seeds: its mean, t-interval and sign-flip p-value.
- ``holm``: Holm's (1979) step-down adjustment of a family of p-values, which controls the
  chance of any false claim in the family at the level used (``holm_family`` applies it to
  ``PairedComparison`` objects, recording the family's name and size).
- ``verdict``: a comparison in words.

Everything is seeded: the same inputs and ``seed`` give the same numbers. Action-gap strata
are in ``report/gaps.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.stats
import torch

__all__ = [
    "EXACT_MAX_N",
    "MeanCI",
    "PairedComparison",
    "comparison_record",
    "difference_phrase",
    "holm",
    "holm_family",
    "mean_ci",
    "paired_difference",
    "sign_flip_test",
    "verdict",
]

#: up to this many pairs every sign pattern is enumerated (2^20 patterns take well under a second)
EXACT_MAX_N = 20

ArrayLike = Sequence[float] | np.ndarray | torch.Tensor


@dataclass(frozen=True)
class MeanCI:
    """A sample mean and its confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    confidence: float
    n: int
    #: "t" (Student's t), "BCa", "percentile" (BCa's fallback), or "degenerate" (all values equal)
    method: str


@dataclass(frozen=True)
class PairedComparison:
    """``a`` vs ``b`` on the same seeds: the mean of ``d = a - b``, its interval, and a p-value.

    Once the comparison is one of a family (``holm_family``), ``p_adjusted`` is its Holm
    p-value, ``family``/``family_size`` say which family, and decisions use the adjusted value.
    """

    mean_a: float
    mean_b: float
    difference: MeanCI
    p_value: float
    n: int
    #: "sign-flip, exact (2^n patterns)" or "sign-flip, <k> random patterns"
    test: str
    #: the smallest p-value the test can give (exact: 2 / 2^n; random patterns: 1 / (k + 1))
    p_floor: float = 0.0
    p_adjusted: float | None = None
    family: str = ""
    family_size: int = 1

    @property
    def at_floor(self) -> bool:
        """True when the test could not have given a smaller p-value."""
        return bool(self.p_floor) and self.p_value <= self.p_floor * (1 + 1e-9)

    @property
    def p_decisive(self) -> float:
        """The p-value decisions use: Holm-adjusted in a family, else the test's own."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted

    @property
    def p_text(self) -> str:
        """``p = 0.031``; ``p ≤ 0.031`` at the floor; in a family also the Holm value: ``p ≤ 0.031, Holm 0.094``.

        At the floor the true p-value may be smaller than any the test can give, so the raw
        value is a bound, and so is its adjusted value.
        """
        raw = f"p ≤ {self.p_floor:.2g}" if self.at_floor else f"p = {self.p_value:.3g}"
        if self.p_adjusted is None:
            return raw
        bound = "≤ " if self.at_floor and self.p_adjusted < 1.0 else ""
        return f"{raw}, Holm {bound}{self.p_adjusted:.3g}"


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
    values: ArrayLike, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0, method: str = "t"
) -> MeanCI:
    """Confidence interval of the mean: Student's t by default, or a seeded bootstrap.

    ``method="t"``: ``mean +- t_{n-1, (1+confidence)/2} * s / sqrt(n)`` (exact coverage for
    normal data at any ``n``; ``n_resamples`` and ``seed`` are unused). ``"BCa"``,
    ``"percentile"``, ``"basic"``: ``scipy.stats.bootstrap``; if BCa is undefined (e.g. a
    single outlier in a tiny sample makes the jackknife degenerate), the percentile interval
    is returned (``method="percentile"``). When all values are equal the interval is that
    value (``method="degenerate"``).
    """
    x = _as_1d(values, "values", min_size=2)
    _check_confidence(confidence)
    if method not in ("t", "BCa", "percentile", "basic"):
        raise ValueError(f"method={method!r}: must be one of t, BCa, percentile, basic")
    if method != "t" and n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r}: must be >= 100 for a usable interval")
    mean = float(np.mean(x))
    if np.all(x == x[0]):
        return MeanCI(mean, mean, mean, confidence, x.size, "degenerate")
    if method == "t":
        half = float(scipy.stats.t.ppf((1 + confidence) / 2, x.size - 1) * np.std(x, ddof=1) / math.sqrt(x.size))
        return MeanCI(mean, mean - half, mean + half, confidence, x.size, "t")

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


def sign_flip_test(d: ArrayLike, n_resamples: int = 100_000, seed: int = 0) -> tuple[float, float, str]:
    """Two-sided sign-flip test of ``mean(d) = 0``: ``(p_value, p_floor, test)``.

    ``p`` is the fraction of sign patterns ``s`` with ``|sum(s * d)| >= |sum(d)|`` (sums equal
    up to rounding count as equal). For ``n <= EXACT_MAX_N`` all ``2^n`` patterns are
    enumerated: the pattern sums are ``sum(d) - 2 * (sum of a subset of d)``, and the ``2^n``
    subset sums are built by doubling, one value of ``d`` at a time. The observed pattern and
    its mirror always count, so the smallest possible p is ``2 / 2^n`` (with ``n = 6``,
    0.031). Beyond that, ``n_resamples`` random patterns give ``(1 + count) / (1 + k)``
    (floor ``1 / (1 + k)``). All-zero differences give ``p = 1``.
    """
    x = _as_1d(d, "d")
    total = float(np.sum(x))
    scale = float(np.sum(np.abs(x)))
    if scale == 0.0:
        exact = x.size <= EXACT_MAX_N
        floor = 2.0 / 2**x.size if exact else 1.0 / (n_resamples + 1)
        return 1.0, floor, _test_name(x.size, n_resamples)
    tol = 1e-10 * scale
    if x.size <= EXACT_MAX_N:
        subset = np.zeros(1)
        for value in x:  # (2^k,) -> (2^(k+1),): every subset without and with this value
            subset = np.concatenate([subset, subset + value])
        count = int(np.count_nonzero(np.abs(total - 2.0 * subset) >= abs(total) - tol))
        return count / 2**x.size, 2.0 / 2**x.size, _test_name(x.size, n_resamples)
    if n_resamples < 100:
        raise ValueError(f"n_resamples={n_resamples!r}: must be >= 100 for a usable p-value")
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, n_resamples, 10_000):  # (k, n) patterns in chunks: memory stays small
        k = min(10_000, n_resamples - start)
        signs = rng.integers(0, 2, size=(k, x.size)) * 2.0 - 1.0
        count += int(np.count_nonzero(np.abs(signs @ x) >= abs(total) - tol))
    return (1 + count) / (1 + n_resamples), 1.0 / (1 + n_resamples), _test_name(x.size, n_resamples)


def _test_name(n: int, n_resamples: int) -> str:
    return f"sign-flip, exact ({2**n} patterns)" if n <= EXACT_MAX_N else f"sign-flip, {n_resamples} random patterns"


def paired_difference(
    a: ArrayLike, b: ArrayLike, confidence: float = 0.95, n_resamples: int = 100_000, seed: int = 0
) -> PairedComparison:
    """Paired comparison of ``a`` and ``b`` (same seeds, same order): ``d = a - b``.

    Returns the mean difference with its t-interval (``mean_ci`` of ``d``) and the two-sided
    sign-flip p-value (``sign_flip_test``; exact up to ``EXACT_MAX_N`` seeds). All-zero
    differences give ``p = 1`` and the interval ``[0, 0]``. The smallest attainable p is
    ``2 / 2^n``: with fewer than 6 seeds no difference can reach ``p < 0.05``, and a family
    of m comparisons under Holm needs ``2 / 2^n < 0.05 / m`` (for 3 pairs, n >= 7).
    """
    x, y = _as_1d(a, "a", min_size=2), _as_1d(b, "b", min_size=2)
    if x.shape != y.shape:
        raise ValueError(f"a has {x.size} values and b has {y.size}; a paired comparison needs one pair per seed")
    d = x - y
    ci = mean_ci(d, confidence)
    p_value, floor, test = sign_flip_test(d, n_resamples, seed)
    return PairedComparison(float(np.mean(x)), float(np.mean(y)), ci, p_value, d.size, test, floor)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order (Holm 1979).

    Sorted ascending, ``p_(j)`` becomes ``max_{i <= j} min(1, (m - i + 1) p_(i))``; rejecting
    where the adjusted value is below ``level`` keeps the chance of *any* false rejection in
    the family at most ``level``, whatever the dependence between the tests.
    """
    p = _as_1d(p_values, "p_values")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def holm_family(comparisons: Sequence[PairedComparison], family: str) -> list[PairedComparison]:
    """The comparisons as one family: each with its Holm p-value, the family's name and size."""
    if not comparisons:
        return []
    adjusted = holm([c.p_value for c in comparisons])
    return [
        replace(c, p_adjusted=float(p), family=family, family_size=len(comparisons))
        for c, p in zip(comparisons, adjusted)
    ]


def verdict(
    comparison: PairedComparison,
    name_a: str = "A",
    name_b: str = "B",
    scale: float = 100.0,
    unit: str = "points",
    level: float = 0.05,
) -> str:
    """The comparison in one sentence.

    "no detectable difference" unless *both* the interval excludes 0 and ``p < level``, with
    the Holm-adjusted p in a family (the two can disagree at the margin; the sentence then
    errs on the side of no claim);
    otherwise "``name_a`` higher by X ``unit`` (95% CI [lo, hi], p = ...)". Differences are
    multiplied by ``scale``: the default reports fractions (e.g. action agreement) in
    percentage points; pass ``scale=1, unit=""`` for raw units.
    """
    ci = comparison.difference
    pct = f"{100 * ci.confidence:g}%"
    low, high, mean = ci.low * scale, ci.high * scale, ci.mean * scale
    suffix = f" {unit}" if unit else ""
    stats_text = f"{pct} CI [{low:+.3g}, {high:+.3g}]{suffix}, {comparison.p_text}, n = {comparison.n}"
    if (ci.low <= 0.0 <= ci.high) or comparison.p_decisive >= level:
        difference = f"{name_a} - {name_b} = {mean:+.3g}{suffix}"
        return f"no detectable difference between {name_a} and {name_b} ({difference}, {stats_text})"
    if mean > 0:
        return f"{name_a} higher by {mean:.3g}{suffix} ({stats_text})"
    return f"{name_b} higher by {-mean:.3g}{suffix} ({name_a} - {name_b}: {stats_text})"


def comparison_record(
    comparison: PairedComparison, name_a: str, name_b: str, scale: float = 1.0, unit: str = ""
) -> dict[str, Any]:
    """A comparison as ``results.json`` stores it: means, difference and interval, p-values, family, verdict."""
    return {
        "mean_a": comparison.mean_a,
        "mean_b": comparison.mean_b,
        "difference": dict(comparison.difference.__dict__),
        "p_value": comparison.p_value,
        "p_floor": comparison.p_floor,
        "p_adjusted": comparison.p_adjusted,
        "family": comparison.family,
        "family_size": comparison.family_size,
        "p_text": comparison.p_text,
        "n": comparison.n,
        "test": comparison.test,
        "verdict": verdict(comparison, name_a, name_b, scale, unit),
    }


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
