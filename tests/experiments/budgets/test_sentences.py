"""The matched-steps sentence on fixtures: every objective tested against DQN from scratch, one Holm family."""

from __future__ import annotations

import numpy as np

from distill_lib.experiments.budgets import sentences


def _point(budget: int, values: list[float]) -> dict:
    groups = [values[i::4] for i in range(4)]  # 4 teachers
    return {"budget": budget, "return_pct": {"mean": float(np.mean(values)), "values": groups}}


def _width(curves: dict[str, dict[int, list[float]]]) -> dict:
    budgets = sorted({b for pts in curves.values() for b in pts})
    return {
        "width": 8,
        "budgets": budgets,
        "curves": [
            {"objective": o, "source": "teacher", "points": [_point(b, v) for b, v in pts.items()]}
            for o, pts in curves.items()
        ],
    }


def _runs(centre: float, n: int = 20) -> list[float]:
    return list(centre + np.linspace(-1.0, 1.0, n))


def test_every_objective_is_tested_and_one_below_from_scratch_is_named():
    # good is far above from scratch at both budgets; bad far below at both; middling equal to it
    width = _width(
        {
            "good": {1000: _runs(90.0), 3000: _runs(95.0)},
            "middling": {1000: _runs(50.0), 3000: _runs(70.0)},
            "bad": {1000: _runs(5.0), 3000: _runs(10.0)},
        }
    )
    scratch = [
        {"budget": 1000, "return_pct": {"mean": 50.0, "values": _runs(50.0)}},
        {"budget": 3000, "return_pct": {"mean": 70.0, "values": _runs(70.0)}},
    ]
    said = sentences.matched_sentence(width, scratch)
    assert "each of 3 objectives against DQN from scratch at 2 budgets, Holm over the 6)" in said
    assert "at 1,000 steps good higher than from scratch by 40 points" in said
    assert "from scratch higher than bad at 1,000 and 3,000 steps" in said
    assert "middling" not in said  # no detectable difference: not named


def test_the_pick_of_the_best_objective_is_inside_the_correction():
    # one budget, four objectives: the best's raw p (about 0.016) is below 0.05 alone, not once all four count
    base = list(50.0 + np.linspace(-10.0, 10.0, 20))
    width = _width({"best": {1000: [v + 5.0 for v in base]}, **{f"same{i}": {1000: base} for i in range(3)}})
    scratch = [{"budget": 1000, "return_pct": {"mean": 50.0, "values": base}}]
    alone = sentences.unpaired_difference([v + 5.0 for v in base], base)
    assert 0.0125 < alone.p_value < 0.05 and alone.difference.low > 0  # a claim in a family of one test
    said = sentences.matched_sentence(width, scratch)
    assert "against DQN from scratch at 1 budget, Holm over the 4)" in said  # not "1 budgets"
    assert "no detectable difference at 1,000 steps" in said and "best higher" not in said
