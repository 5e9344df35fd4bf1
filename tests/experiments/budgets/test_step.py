"""Tests of distill_lib.experiments.budgets: transfer sets in environment steps, DAgger at equal totals, the curves."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from distill_lib.core.objectives import SearchGrid, candidates
from distill_lib.experiments import budgets
from distill_lib.experiments.budgets import section, sentences, step
from distill_lib.rl import students

SMOKE = {
    "budget_width": 8,
    "n_teachers": 2,
    "student_seeds": [0, 1],
    "val_episodes": 2,
    "snapshots": 2,
    "test_episodes": 3,
    "held_out_episodes": 2,
    "budget_steps": [100, 300],
    "budget_objectives": ["hard", "mse"],
    "dagger_objectives": ["hard"],
    "dagger_rounds": 1,
}
GRID = SearchGrid([0.003], [30], [1.0], [0.1], [0.5])
SELECTED = {o: candidates(o, GRID, 1, 0)[0] for o in ("hard", "mse")}


@pytest.fixture(scope="module")
def record() -> budgets.BudgetsRecord:
    return step.measure(budgets.BudgetsStepConfig.from_params(SMOKE), SELECTED)


def test_every_budget_objective_teacher_and_seed_trains_at_the_selected_settings(record):
    teacher = [(r.objective, r.budget, r.teacher, r.seed) for r in record.runs if r.source == "teacher"]
    assert teacher == [(o, b, t, s) for b in (100, 300) for o in ("hard", "mse") for t in (0, 1) for s in (0, 1)]
    dagger = [(r.objective, r.budget) for r in record.runs if r.source == "dagger"]
    assert sorted(set(dagger)) == [("hard", 100), ("hard", 300)]
    assert {r.steps for r in record.runs} == {
        r.steps for r in record.runs if r.budget == 100
    }  # same steps at every budget


def test_a_smaller_transfer_set_is_a_prefix_of_a_larger_one():
    p = budgets.BudgetsStepConfig.from_params(SMOKE)
    teachers = students.task_teachers(p, 300)
    small = students.teacher_states(teachers[0].net, 100, p.buffer_epsilon, p.env_id)
    assert torch.equal(small, teachers[0].states[:100]) and len(teachers[0].states) == 300


def test_the_summary_has_a_curve_per_objective_and_source(record):
    width = budgets.summarize_record(record)
    kinds = [(c["objective"], c["source"]) for c in width["curves"]]
    assert kinds == [("hard", "teacher"), ("mse", "teacher"), ("hard", "dagger")]
    point = width["curves"][0]["points"][0]
    assert point["budget"] == 100 and point["return_pct"]["n_teachers"] == 2


def test_reach_and_matched_sentences_follow_the_numbers(record):
    width = budgets.summarize_record(record)
    scratch = [{"budget": 100, "return_pct": {"mean": -1e9, "values": [1.0, 2.0]}},
               {"budget": 300, "return_pct": {"mean": 1e9, "values": [1.0, 2.0]}}]  # fmt: skip
    said = sentences.reach_sentence(width, scratch)
    assert "hard not within 300" in said and "mse not within 300" in said
    easy = [{"budget": 300, "return_pct": {"mean": -1e9, "values": [1.0, 2.0]}}]
    assert "hard 100" in sentences.reach_sentence(width, easy)
    assert "at 2 budgets, Holm over the 4)" in sentences.matched_sentence(width, scratch)
    assert "DAgger (1 round, beta" in sentences.dagger_sentence(width)  # not "1 rounds"
    two = width | {"dagger": width["dagger"] | {"rounds": 2}}
    assert "DAgger (2 rounds, beta" in sentences.dagger_sentence(two)
    text = section.section(budgets.BudgetsSummary([width], [])).text
    assert "100 env steps" in text and "300 env steps" in text


def test_budgets_need_the_fair_comparisons_record(tmp_path):
    config = budgets.BudgetsStepConfig.from_params(SMOKE)
    with pytest.raises(RuntimeError, match="has not finished"):
        step.run(config, tmp_path / "budgets" / "w=8-abc", {"fair": tmp_path / "fair" / "w=8-abc"})


def test_its_widths_are_among_the_fair_ones_and_dagger_among_its_objectives():
    with pytest.raises(ValueError, match=r"^budget_widths=.*not in fair_widths"):
        budgets.BudgetsConfig.from_params({"fair_widths": [32], "budget_widths": [8]})
    with pytest.raises(ValueError, match=r"^dagger_objectives=.*not in budget_objectives"):
        budgets.BudgetsConfig.from_params({"budget_objectives": ["mse"], "dagger_objectives": ["hard"]})
    assert list(step.units(budgets.BudgetsConfig.from_params({"fair_widths": [8]})).steps) == ["w=8"]


@pytest.mark.parametrize(
    "kind, family",
    [
        ("study", "The students are the study's students (LayerNorm, dropout 0.05)."),
        ("plain", "The students are plain MLP students (Linear-ReLU, no LayerNorm or dropout)."),
    ],
)
def test_the_section_names_the_students_family_the_step_recorded(record, kind, family):
    flipped = dataclasses.replace(record, params={**record.params, "student_kind": kind})
    text = section.section(budgets.BudgetsSummary([budgets.summarize_record(flipped)], [])).text
    assert text.startswith(family) and ("plain MLP" in text) == (kind == "plain")
