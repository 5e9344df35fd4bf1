"""Tests of ``distill_lib.report.stats``: known answers and agreement with scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from distill_lib.report.stats import agreement_by_gap_bin, gap_bins, mean_ci, paired_difference, verdict


def test_ci_of_a_constant_sample_is_that_constant():
    ci = mean_ci([0.8125] * 7)
    assert (ci.mean, ci.low, ci.high, ci.method) == (0.8125, 0.8125, 0.8125, "degenerate")


def test_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(5.0, 1.0, 10), rng.normal(5.0, 1.0, 1000)
    ci_small, ci_large = mean_ci(small), mean_ci(large)
    for ci, x in ((ci_small, small), (ci_large, large)):
        assert ci.low < np.mean(x) < ci.high
        assert ci.method == "BCa"
    assert ci_large.low < 5.0 < ci_large.high
    assert (ci_large.high - ci_large.low) < 0.25 * (ci_small.high - ci_small.low)  # width ~ 1/sqrt(n)
    assert ci_large.high - ci_large.low == pytest.approx(2 * 1.96 / np.sqrt(1000), rel=0.15)


def test_ci_is_seeded_and_matches_scipy():
    x = [0.91, 0.88, 0.95, 0.90, 0.87, 0.93]
    assert mean_ci(x, seed=3) == mean_ci(x, seed=3)
    ref = scipy.stats.bootstrap((np.array(x),), np.mean, n_resamples=10_000, rng=np.random.default_rng(3))
    ci = mean_ci(x, seed=3)
    assert (ci.low, ci.high) == (ref.confidence_interval.low, ref.confidence_interval.high)


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
    assert res.test == "sign-flip permutation, exact"


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
    many = paired_difference(np.arange(20, dtype=float) + 1.0, np.zeros(20))
    assert many.p_text == "p ≤ 0.0002" and "≤" in verdict(many, "a", "b")
