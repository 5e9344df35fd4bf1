"""Tests of distill_lib.core.objectives: each objective as defined, its search space, the equal-budget draw."""

from __future__ import annotations

import pytest

from distill_lib.core.config import mode_for_alpha
from distill_lib.core.objectives import OBJECTIVES, VARIANTS, SearchGrid, Setting, candidates, search_space

GRID = SearchGrid(lrs=[3e-3, 1e-3], steps=[4000, 1000], temperatures=[3.0, 0.1], taus=[0.01, 1.0], alphas=[0.7, 0.3])


def test_each_objective_is_its_papers_loss_on_its_scale():
    want = {
        "hard": ("kl", "raw", "hard_only"),
        "hinton": ("kl", "raw", "soft_only"),
        "blended": ("kl", "raw", "blended"),
        "rusu": ("rusu_kl", "raw", "soft_only"),
        "mse": ("mse", "standardized", "soft_only"),
        "advantage": ("mse", "centered_scaled", "soft_only"),
        "mse_raw": ("mse", "raw", "soft_only"),
        "advantage_raw": ("mse", "centered", "soft_only"),
    }
    for objective in (*OBJECTIVES, *VARIANTS):
        for s in search_space(objective, GRID):
            assert (s.loss_fn, s.q_targets, mode_for_alpha(s.alpha)) == want[objective], s


def test_search_spaces_cross_own_settings_with_the_optimisers():
    sizes = {o: len(search_space(o, GRID)) for o in OBJECTIVES}
    # lr x steps = 4; hinton and rusu add two temperatures, blended two alphas x two temperatures
    assert sizes == {"hard": 4, "hinton": 8, "blended": 16, "rusu": 8, "mse": 4, "advantage": 4}
    assert {s.temperature for s in search_space("rusu", GRID)} == {0.01, 1.0}
    assert {s.temperature for s in search_space("hinton", GRID)} == {0.1, 3.0}


def test_every_objective_gets_the_same_number_of_candidates_when_its_space_allows():
    for n in (1, 3, 4):
        drawn = {o: candidates(o, GRID, n, seed=7) for o in OBJECTIVES}
        assert {len(v) for v in drawn.values()} == {n}
        for o, v in drawn.items():
            assert len(set(v)) == n and set(v) <= set(search_space(o, GRID))


def test_a_space_smaller_than_the_budget_is_tried_whole():
    assert candidates("hard", GRID, 9, seed=0) == search_space("hard", GRID)


def test_the_draw_is_seeded_and_independent_of_the_other_objectives():
    a = candidates("blended", GRID, 5, seed=1)
    assert a == candidates("blended", GRID, 5, seed=1)
    draws = {tuple(candidates("blended", GRID, 5, seed=s)) for s in range(6)}
    assert len(draws) > 1  # the seed matters


def test_an_unknown_objective_is_refused_by_name():
    with pytest.raises(ValueError, match="objective='soft'"):
        search_space("soft", GRID)


def test_a_setting_survives_json_and_labels_its_own_settings():
    s = Setting("blended", 0.7, 0.3, "kl", "raw", 1e-3, 4000)
    assert Setting.from_json(s.to_json()) == s
    assert s.label == "blended, alpha = 0.7, T = 0.3 (lr 0.001, 4,000 steps)"
    assert s.settings == "alpha = 0.7, T = 0.3"
    assert Setting("hard", 0.0, 1.0, "kl", "raw", 1e-3, 1000).settings == "-"
    assert Setting("rusu", 1.0, 0.01, "rusu_kl", "raw", 3e-3, 1000).label.startswith("rusu, tau = 0.01 (")
