"""Tests of distill_lib.report.hierarchical: intervals that include the variation between teachers."""

from __future__ import annotations

import numpy as np
import pytest

from distill_lib.report.hierarchical import hierarchical_ci, hierarchical_difference


def test_the_mean_is_the_mean_of_the_teachers_means():
    ci = hierarchical_ci([[1.0, 3.0], [10.0, 10.0, 10.0]])
    assert ci.mean == pytest.approx((2.0 + 10.0) / 2) and ci.per_teacher == [2.0, 10.0]
    assert ci.n_teachers == 2 and ci.n_runs == 5 and ci.low <= ci.mean <= ci.high


def test_teacher_variation_widens_the_interval_beyond_the_runs():
    """Same runs' spread, but teachers that differ: a flat bootstrap over runs would be narrower."""
    rng = np.random.default_rng(0)
    similar = [list(50 + rng.normal(0, 1, 5)) for _ in range(4)]
    apart = [list(m + rng.normal(0, 1, 5)) for m in (20, 40, 60, 80)]
    narrow, wide = hierarchical_ci(similar), hierarchical_ci(apart)
    assert (wide.high - wide.low) > 5 * (narrow.high - narrow.low)
    flat = np.concatenate([np.asarray(g) for g in apart])
    flat_half = 1.96 * flat.std(ddof=1) / np.sqrt(flat.size)  # what ignoring the teachers would claim
    assert (wide.high - wide.low) / 2 > flat_half


def test_one_teacher_is_the_ordinary_bootstrap_and_identical_values_give_a_point():
    assert hierarchical_ci([[5.0, 5.0, 5.0]]).low == hierarchical_ci([[5.0, 5.0, 5.0]]).high == 5.0
    ci = hierarchical_ci([[0.0, 10.0, 20.0, 30.0]])
    assert 0.0 < ci.low < 15.0 < ci.high < 30.0


def test_a_paired_difference_resamples_the_differences_within_teachers():
    a = [[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]]
    b = [[9.0, 10.0, 11.0], [19.0, 20.0, 21.0]]
    d = hierarchical_difference(a, b)
    assert d.mean == pytest.approx(1.0) and d.low == pytest.approx(1.0) and d.high == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same runs under each teacher"):
        hierarchical_difference([[1.0, 2.0]], [[1.0]])


@pytest.mark.parametrize("groups", [[], [[]], [[1.0, float("nan")]]])
def test_bad_groups_are_refused(groups):
    with pytest.raises(ValueError):
        hierarchical_ci(groups)
