"""Tests of distill_lib.experiments.fair's tables and sentences that read the baselines' groups: the distilled
students against DQN from scratch, and against Rusu et al.'s compression range."""

from __future__ import annotations

import numpy as np

from distill_lib.experiments.fair import sentences, tables


def _width(values_by_objective: dict[str, list[float]]) -> dict:
    """A width of the fair summary's shape: each objective's returns per teacher (here two teachers)."""

    def per_teacher(v: list[float]) -> list[list[float]]:
        half = len(v) // 2
        return [v[:half], v[half:]] if half else [v]

    return {
        "width": 8,
        "episodes": {"transfer_steps": 5000},
        "objectives": [
            {"objective": o, "return_pct": {"mean": float(np.mean(v)), "values": per_teacher(v)}}
            for o, v in values_by_objective.items()
        ],
    }


def test_tests_against_scratch_are_unpaired_holm_over_the_selected_objectives() -> None:
    scratch = {"width": 8, "n": 5, "env_steps": 100_000, "teacher_steps": 100_000, "solved": 1,
               "return_pct": {"mean": 40.0, "values": [30.0, 35.0, 40.0, 45.0, 50.0]}}  # fmt: skip
    high = [90.0 + 0.5 * i for i in range(20)]
    width = _width({"hard": high, "soft": [40.0 + (i % 5) for i in range(20)]})
    tests = tables.versus_scratch(width, scratch)
    assert list(tests) == ["hard - from scratch", "soft - from scratch"]
    assert {t["family_size"] for t in tests.values()} == {2} and "permutation, 20 vs 5" in tests["hard - from scratch"][
        "test"
    ]
    said = sentences.scratch_sentence(width, scratch)
    assert "hard higher than from scratch" in said and "no detectable difference for soft" in said
    # flip a number: the small networks now match the distilled ones, and the sentence says so
    better = scratch | {"return_pct": {"mean": 92.0, "values": [90.0, 91.0, 92.0, 93.0, 94.0]}}
    said = sentences.scratch_sentence(width, better)
    assert said.endswith("no detectable difference for hard.") and "from scratch higher than soft by 50 points" in said


def test_rusu_sentence_places_each_width_against_the_claim() -> None:
    width = _width({"hard": [90.0, 92.0], "soft": [80.0, 82.0]}) | {"params_pct": 9.2}
    said = sentences.rusu_sentence([width])
    assert "width 8 (9.2% of the parameters, inside their parameter range): best distilled hard 91.0%." in said
    tiny = _width({"hard": [60.0, 62.0]}) | {"params_pct": 1.4}
    said = sentences.rusu_sentence([tiny])
    assert "smaller than their students" in said and "61.0%, outside their score range" in said
