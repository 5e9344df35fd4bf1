"""Tests of distill_lib.report.aggregate: rliable's estimates against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from distill_lib.report.aggregate import interval_estimates, performance_profile, probability_of_improvement


def _scores(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": rng.uniform(0.5, 1.0, (10, 3)), "b": rng.uniform(0.3, 0.9, (10, 3))}


def test_iqm_is_the_mean_of_the_middle_half_and_the_interval_holds_it():
    scores = _scores()
    est = interval_estimates(scores, reps=300)
    for name, s in scores.items():
        assert est[name]["iqm"]["mean"] == pytest.approx(scipy.stats.trim_mean(s.ravel(), 0.25))
        assert est[name]["mean"]["mean"] == pytest.approx(s.mean())
        for stat in ("iqm", "mean"):
            assert est[name][stat]["low"] <= est[name][stat]["mean"] <= est[name][stat]["high"]
    before = np.random.get_state()[1].copy()
    assert interval_estimates(scores, reps=300, seed=1) == interval_estimates(scores, reps=300, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)  # numpy's global RNG is left as it was


def test_probability_of_improvement_is_the_mann_whitney_share_averaged_over_tasks():
    scores = _scores(2)
    x, y = scores["a"], scores["b"]
    by_task = [np.mean((x[:, k, None] > y[None, :, k]) + 0.5 * (x[:, k, None] == y[None, :, k])) for k in range(3)]
    poi = probability_of_improvement(x, y, reps=200)
    assert poi["mean"] == pytest.approx(np.mean(by_task))
    assert poi["low"] <= poi["mean"] <= poi["high"]
    assert probability_of_improvement(y, x, reps=200)["mean"] == pytest.approx(1 - poi["mean"])
    same = probability_of_improvement(x, x, reps=200)
    assert same["mean"] == pytest.approx(0.5)


def test_performance_profile_counts_runs_above_each_threshold():
    scores = {"a": np.array([[0.1, 0.5], [0.9, 0.7]])}
    assert performance_profile(scores, np.array([0.0, 0.6, 1.0])) == {"a": [1.0, 0.5, 0.0]}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: interval_estimates({"a": np.zeros(5)}), "expected \\(runs >= 2"),
        (lambda: interval_estimates({"a": np.full((3, 2), np.nan)}), "NaN"),
        (lambda: interval_estimates(_scores(), reps=10), "reps=10"),
        (lambda: probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 3))), "tasks"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
