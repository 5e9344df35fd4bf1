"""Tests of distill_lib.core.objectives: the objectives' settings and the grid an experiment selects from."""

from __future__ import annotations

from distill_lib.core.config import mode_for_alpha
from distill_lib.core.objectives import OBJECTIVES, Setting, candidates


def test_the_grid_has_every_objective_at_every_setting_in_tie_break_order():
    grid = candidates([3.0, 0.1], [0.9, 0.5])
    assert [s.label for s in grid] == [
        "hard",
        "soft, tau = 0.1",
        "soft, tau = 3",
        "blended, alpha = 0.5, tau = 0.1",
        "blended, alpha = 0.9, tau = 0.1",
        "blended, alpha = 0.5, tau = 3",
        "blended, alpha = 0.9, tau = 3",
        "mse",
    ]
    assert {s.objective for s in grid} == set(OBJECTIVES)


def test_each_setting_is_a_point_of_the_study_family():
    """hard is alpha 0 (hard_only), soft alpha 1 (soft_only), blended in between; mse regresses Q."""
    for s in candidates([1.0], [0.5]):
        mode = mode_for_alpha(s.alpha)
        expected = {"hard": "hard_only", "soft": "soft_only", "blended": "blended", "mse": "soft_only"}
        assert mode == expected[s.objective] and s.loss_fn == ("mse" if s.objective == "mse" else "kl")


def test_a_setting_survives_json():
    s = Setting("blended", 0.7, 0.3, "kl")
    assert Setting.from_json(s.to_json()) == s and s.label == "blended, alpha = 0.7, tau = 0.3"
