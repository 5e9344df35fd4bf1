"""Tests of distill_lib.report.unpaired: Welch's interval and the permutation test against scipy, coverage, floors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from distill_lib.report.stats import holm_family
from distill_lib.report.unpaired import EXACT_MAX_SPLITS, permutation_test, unpaired_difference, welch_interval


def test_welch_interval_equals_scipys() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 20), rng.normal(0.0, 3.0, 5)
    ci = welch_interval(a, b)
    ref = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high), rel=1e-9)
    assert ci.mean == pytest.approx(a.mean() - b.mean()) and ci.n == 25 and ci.method == "Welch t"


def test_exact_permutation_p_equals_scipys() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 1.0, 12), rng.normal(0.0, 1.0, 5)
    p, floor, test = permutation_test(a, b)
    ref = scipy.stats.permutation_test(  # P(|T'| >= |T|): the statistic |mean difference|, one-sided
        (a, b), lambda x, y: abs(np.mean(x) - np.mean(y)), permutation_type="independent", n_resamples=np.inf,
        alternative="greater", vectorized=False,
    )  # fmt: skip
    assert p == pytest.approx(ref.pvalue, rel=1e-9)
    assert floor == 1 / math.comb(17, 5) and "exact (6188 relabellings)" in test


def test_separated_samples_reach_the_floor_and_equal_sizes_double_it() -> None:
    a, b = np.arange(20.0) + 100, np.arange(5.0)
    p, floor, _ = permutation_test(a, b)
    assert p == floor == 1 / math.comb(25, 5)
    p, floor, _ = permutation_test(np.arange(6.0) + 100, np.arange(6.0))
    assert p == floor == 2 / math.comb(12, 6)  # the swap of the labels reaches the same gap


def test_sampled_permutation_p_is_close_to_exact_and_bounded_below() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.3, 1.0, 20), rng.normal(0.0, 1.0, 10)  # C(30, 10) > EXACT_MAX_SPLITS: sampled
    assert math.comb(30, 10) > EXACT_MAX_SPLITS
    p, floor, test = permutation_test(a, b, n_resamples=20_000)
    ref = scipy.stats.permutation_test(
        (a, b), lambda x, y, axis: np.abs(np.mean(x, axis) - np.mean(y, axis)), permutation_type="independent",
        n_resamples=20_000, alternative="greater", rng=3,
    )  # fmt: skip
    assert abs(p - ref.pvalue) < 0.02 and floor == 1 / 20_001 and "random" in test


@pytest.mark.parametrize(("n_a", "n_b"), [(20, 5), (10, 10)])
def test_welch_interval_holds_its_coverage(n_a: int, n_b: int) -> None:
    # Unequal variances, the case Welch is for: 2,000 simulated pairs of samples; the 95% interval
    # must cover the true difference 93.5-96.5% of the time (binomial sd at 95%: 0.5 points).
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(2000):
        ci = welch_interval(rng.normal(1.0, 1.0, n_a), rng.normal(0.0, 4.0, n_b))
        hits += ci.low <= 1.0 <= ci.high
    assert 0.935 <= hits / 2000 <= 0.965


def test_unpaired_difference_joins_a_holm_family() -> None:
    a, b = np.arange(20.0) + 100, np.arange(5.0)
    c = unpaired_difference(a, b)
    assert c.n == 25 and c.at_floor and c.p_text.startswith("p ≤ ")
    (only,) = holm_family([c], "vs from scratch")
    assert only.p_adjusted == c.p_value and only.family_size == 1
    with pytest.raises(ValueError):
        unpaired_difference([1.0], b)
