"""Tests of ``distill_lib.report.stats``: known answers and agreement with scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from distill_lib.report.gaps import agreement_by_gap_bin, gap_bins
from distill_lib.report.stats import (
    EXACT_MAX_N,
    holm,
    holm_family,
    mean_ci,
    paired_difference,
    sign_flip_test,
    verdict,
)


def test_ci_of_a_constant_sample_is_that_constant():
    ci = mean_ci([0.8125] * 7)
    assert (ci.mean, ci.low, ci.high, ci.method) == (0.8125, 0.8125, 0.8125, "degenerate")


def test_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(5.0, 1.0, 10), rng.normal(5.0, 1.0, 1000)
    ci_small, ci_large = mean_ci(small), mean_ci(large)
    for ci, x in ((ci_small, small), (ci_large, large)):
        assert ci.low < np.mean(x) < ci.high
        assert ci.method == "t"
    assert ci_large.low < 5.0 < ci_large.high
    assert (ci_large.high - ci_large.low) < 0.25 * (ci_small.high - ci_small.low)  # width ~ 1/sqrt(n)
    assert ci_large.high - ci_large.low == pytest.approx(2 * 1.96 / np.sqrt(1000), rel=0.15)


def test_t_interval_matches_scipy():
    x = np.array([0.91, 0.88, 0.95, 0.90, 0.87, 0.93])
    low, high = scipy.stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=scipy.stats.sem(x))
    ci = mean_ci(x)
    assert ci.low == pytest.approx(low, rel=1e-12) and ci.high == pytest.approx(high, rel=1e-12)


def test_bootstrap_ci_is_seeded_and_matches_scipy():
    x = [0.91, 0.88, 0.95, 0.90, 0.87, 0.93]
    assert mean_ci(x, seed=3, method="BCa") == mean_ci(x, seed=3, method="BCa")
    ref = scipy.stats.bootstrap((np.array(x),), np.mean, n_resamples=10_000, rng=np.random.default_rng(3))
    ci = mean_ci(x, seed=3, method="BCa")
    assert (ci.low, ci.high) == (ref.confidence_interval.low, ref.confidence_interval.high)


#: coverage is checked on this many simulated samples; its Monte Carlo standard error at 95% is
#: sqrt(0.95 * 0.05 / 4000) = 0.0034
_SIMULATIONS = 4000


@pytest.mark.parametrize("n", [6, 20])
@pytest.mark.parametrize(
    "distribution, tolerance",
    [
        ("normal", 0.014),  # exact in theory: four Monte Carlo standard errors
        ("uniform", 0.025),  # short tails: about 0.935 at n = 6, 0.945 at n = 20
    ],
)
def test_the_interval_holds_its_coverage_at_the_seed_counts_used(n, distribution, tolerance):
    """95% t-intervals cover the true mean about 95% of the time at n = 6 and n = 20.

    Normal data: t-intervals are exact, so the tolerance is Monte Carlo error alone. Uniform
    data (bounded, like agreement fractions): slightly below 95% at n = 6, within 0.025.
    The percentile bootstrap does worse (next test).
    """
    rng = np.random.default_rng(n)
    draw = {"normal": lambda: rng.normal(0.8, 0.05, n), "uniform": lambda: rng.uniform(0.7, 0.9, n)}[distribution]
    covered = 0
    for _ in range(_SIMULATIONS):
        ci = mean_ci(draw())
        covered += ci.low <= 0.8 <= ci.high
    assert abs(covered / _SIMULATIONS - 0.95) < tolerance


def test_the_bootstrap_interval_undercovers_at_six_seeds():
    """Why the default is the t-interval: at n = 6 the percentile bootstrap covers clearly less than 95%."""
    rng = np.random.default_rng(6)
    covered = 0
    for _ in range(400):
        ci = mean_ci(rng.normal(0.8, 0.05, 6), method="percentile", n_resamples=1000, seed=int(rng.integers(1 << 30)))
        covered += ci.low <= 0.8 <= ci.high
    assert covered / 400 < 0.915  # about 0.88 (SE 0.016); the t-interval's 0.95 is checked above


def test_paired_difference_of_identical_arrays_is_zero_with_p_one():
    a = [0.9, 0.85, 0.93, 0.88]
    res = paired_difference(a, a)
    assert (res.difference.mean, res.difference.low, res.difference.high, res.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert verdict(res).startswith("no detectable difference")


def test_sign_flip_p_value_known_answer():
    """All five differences positive: the observed mean is the largest of 2^5 sign patterns,
    so the one-sided p is 1/32 and the two-sided p is 2/32 (exact enumeration)."""
    b = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    res = paired_difference(b + np.array([0.01, 0.02, 0.03, 0.04, 0.05]), b)
    assert res.p_value == pytest.approx(2 / 32, abs=1e-12)
    assert res.test == "sign-flip, exact (32 patterns)"


def test_sign_flip_matches_scipy_permutation_test_on_mixed_signs():
    a = np.array([0.82, 0.91, 0.77, 0.88, 0.90, 0.85, 0.79])
    b = np.array([0.80, 0.86, 0.78, 0.84, 0.83, 0.85, 0.75])
    ref = scipy.stats.permutation_test(
        (a, b), lambda u, v, axis: np.mean(u - v, axis=axis), permutation_type="samples", n_resamples=np.inf
    )
    assert paired_difference(a, b).p_value == pytest.approx(ref.pvalue, abs=1e-12)
    # Hand count on d in hundredths (2, 5, -1, 4, 7, 0, 4; sum 21): |sum of +-d_i| >= 21 for 8 of the
    # 2^7 = 128 sign patterns (the zero difference makes every pattern appear twice), p = 8 / 128.
    d = np.round((a - b) * 100).astype(int)
    patterns = np.array(np.meshgrid(*[[-1, 1]] * 7)).reshape(7, -1).T
    assert np.sum(np.abs(patterns @ d) >= abs(d.sum())) == 8
    assert paired_difference(a, b).p_value == pytest.approx(8 / 128, abs=1e-12)


def test_clear_shift_gives_small_p_and_words():
    rng = np.random.default_rng(1)
    b = rng.normal(0.80, 0.02, 20)
    a = b + 0.05 + rng.normal(0.0, 0.01, 20)
    res = paired_difference(a, b, seed=2)
    assert res.p_value < 1e-3
    assert res.difference.low > 0.03
    text = verdict(res, "blended", "hard_only")
    assert text.startswith(f"blended higher by {100 * res.difference.mean:.3g} points")
    assert 4.0 < 100 * res.difference.mean < 6.0
    assert "points" in text and "95% CI" in text
    assert verdict(paired_difference(b, a, seed=2), "hard_only", "blended").startswith("blended higher by")


def test_noise_only_gives_no_detectable_difference():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.8, 0.05, 8), rng.normal(0.8, 0.05, 8)
    assert verdict(paired_difference(a, b)).startswith("no detectable difference")


def test_gap_bins_have_equal_counts_and_respect_edges():
    gaps = np.random.default_rng(5).permutation(np.linspace(0.0, 3.0, 100))
    bins = gap_bins(gaps, 4)
    assert bins.counts.tolist() == [25, 25, 25, 25]
    assert np.array_equal(bins.edges, np.quantile(gaps, [0, 0.25, 0.5, 0.75, 1.0]))
    for k in range(4):
        member = gaps[bins.assignment == k]
        assert bins.edges[k] <= member.min() and member.max() <= bins.edges[k + 1]
    ties = gap_bins(np.zeros(10), 3)  # all tied: still near-equal counts
    assert sorted(ties.counts.tolist()) == [3, 3, 4]


def test_agreement_by_gap_bin_hand_example():
    # Teacher gaps 0.1, 0.2, 2.0, 3.0: two near-ties and two clear choices (bins of two).
    teacher = torch.tensor([[1.0, 0.9, 0.0], [0.0, 1.2, 1.0], [2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])
    # The student misses the first near-tie (picks action 1) and the 3.0-gap state (picks 0).
    student = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.5]])
    low, high = agreement_by_gap_bin(student, teacher, 2)
    assert (low["n"], high["n"]) == (2, 2)
    assert low["gap_low"] == pytest.approx(0.1) and low["gap_high"] == pytest.approx(0.2)
    assert high["gap_low"] == pytest.approx(2.0) and high["gap_high"] == pytest.approx(3.0)
    assert (low["agreement"], high["agreement"]) == (0.5, 0.5)
    assert low["mean_regret"] == pytest.approx(0.1 / 2)  # one miss costing 0.1
    assert high["mean_regret"] == pytest.approx(3.0 / 2)  # one miss costing 3.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mean_ci([1.0]), "need at least 2"),
        (lambda: mean_ci([1.0, float("nan")]), "NaN"),
        (lambda: mean_ci([1.0, 2.0], confidence=95), "confidence=95"),
        (lambda: paired_difference([1.0, 2.0], [1.0, 2.0, 3.0]), "one pair per seed"),
        (lambda: gap_bins([0.1, 0.2], 3), "n_bins=3"),
        (lambda: agreement_by_gap_bin(torch.zeros(4, 3), torch.zeros(4, 2), 2), "must both be"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_p_value_at_the_tests_floor_is_written_as_a_bound():
    from distill_lib.report.stats import paired_difference

    a = np.arange(6, dtype=float) + 1.0
    exact = paired_difference(a, np.zeros(6))  # every difference positive: the smallest p of 2^6 patterns
    assert exact.p_floor == pytest.approx(2 / 64) and exact.p_text == "p ≤ 0.031"
    mixed = paired_difference(a, np.array([0.0, 0.0, 0.0, 9.0, 0.0, 0.0]))
    assert mixed.p_text.startswith("p = ")
    many = paired_difference(np.arange(20, dtype=float) + 1.0, np.zeros(20))  # exact: 2^20 patterns
    assert many.p_text == "p ≤ 1.9e-06" and "≤" in verdict(many, "a", "b")
    more = paired_difference(np.arange(21, dtype=float) + 1.0, np.zeros(21), n_resamples=999)  # random patterns
    assert more.p_floor == pytest.approx(1 / 1000) and more.p_text == "p ≤ 0.001"


@pytest.mark.parametrize("n", [1, 3, 9, 12])
def test_exact_enumeration_equals_brute_force(n):
    """Every one of the 2^n sign patterns, written out: the same count as the subset-sum doubling."""
    d = np.random.default_rng(n).normal(0.0, 1.0, n) + 0.3
    patterns = np.array(np.meshgrid(*[[-1.0, 1.0]] * n)).reshape(n, -1).T  # (2^n, n)
    brute = np.mean(np.abs(patterns @ d) >= abs(d.sum()) - 1e-12)
    p, floor, test = sign_flip_test(d)
    assert p == pytest.approx(brute, abs=1e-15) and floor == 2 / 2**n and test.startswith("sign-flip, exact")


def test_exact_enumeration_at_twenty_seeds_counts_ties_once_each():
    """n = 20 (the exact limit): integer differences, so ties are exact; check against the known count."""
    d = np.array([1.0] * 10 + [-1.0] * 9 + [3.0])  # sum 4
    p, floor, _ = sign_flip_test(d)
    # |sum| >= 4 with sum = 2 * (sum of + signs) - 12 over 20 values: count by the number of flipped ones
    from math import comb

    count = 0
    for k_pos in range(11):  # + signs among the ten 1s
        for k_neg in range(10):  # + signs among the nine -1s
            for three in (1, -1):
                s = (2 * k_pos - 10) + (9 - 2 * k_neg) * -1 * -1 * -1 + 3 * three
                if abs(s) >= 4:
                    count += comb(10, k_pos) * comb(9, k_neg)
    assert EXACT_MAX_N == 20 and floor == 2 / 2**20
    assert p == pytest.approx(count / 2**20, abs=1e-15)


def test_random_patterns_beyond_the_exact_limit_agree_with_enumeration_in_distribution():
    d = np.random.default_rng(5).normal(0.1, 1.0, 21)
    p, floor, test = sign_flip_test(d, n_resamples=200_000, seed=1)
    exact_half = sign_flip_test(d[:20])  # not the same statistic; only the kind of answer is checked
    assert test == "sign-flip, 200000 random patterns" and floor == pytest.approx(1 / 200_001)
    assert 0.0 < p <= 1.0 and exact_half[2].startswith("sign-flip, exact")
    assert sign_flip_test(d, n_resamples=2000, seed=1) == sign_flip_test(d, n_resamples=2000, seed=1)


def test_holm_hand_example_and_properties():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max 0.02, 0.03, 0.06, 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.3]) == pytest.approx([0.3])
    assert holm([0.5, 0.6, 0.9]) == pytest.approx([1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    for _ in range(20):
        raw = rng.uniform(0, 0.2, 7)
        adj = holm(raw)
        assert np.all(adj >= raw) and np.all(adj <= 1.0)
        assert np.all(np.argsort(raw, kind="stable") == np.argsort(adj, kind="stable")) or len(set(adj)) < 7


def test_the_issues_example_does_not_survive_holm_over_three_pairs():
    """Six seeds all one way: p = 2/64 = 0.031, but Holm over three pairs makes it 0.094 (no claim)."""
    b = np.linspace(0.5, 0.9, 6)
    clear = paired_difference(b + 0.05, b)
    null = paired_difference(b + np.array([0.01, -0.01, 0.02, -0.02, 0.0, 0.005]), b)
    family = holm_family([clear, null, null], "three pairs")
    assert clear.p_value == pytest.approx(2 / 64)
    assert family[0].p_adjusted == pytest.approx(3 * 2 / 64)
    assert family[0].p_text == "p ≤ 0.031, Holm ≤ 0.0938" and family[0].family_size == 3
    assert verdict(clear, "a", "b").startswith("a higher by")  # alone it would be a claim
    assert verdict(family[0], "a", "b").startswith("no detectable difference")  # in its family it is not
