"""Tests of distill_lib.report.phrases: the teacher and the return scale in words, rankings with their ties."""

from __future__ import annotations

import pytest

from distill_lib.report.phrases import (
    counted,
    rank_modes,
    ranking_text,
    scale_phrase,
    solved_clause,
    solved_count,
    spread_text,
    students_phrase,
    students_sentence,
    teacher_phrase,
)

SHIPPED = {"shipped": True, "label": "CartPole"}
YOURS = {"shipped": False, "label": "Acrobot"}


def test_the_teacher_is_named_with_the_right_article_wherever_the_sentence_starts():
    assert teacher_phrase(SHIPPED) == "the shipped CartPole teacher"
    assert teacher_phrase(SHIPPED, start=True) == "The shipped CartPole teacher"
    assert (
        teacher_phrase(YOURS) == "your Acrobot teacher" and teacher_phrase(YOURS, start=True) == "Your Acrobot teacher"
    )
    assert "The your" not in teacher_phrase(YOURS, start=True)


def test_the_scale_says_only_what_the_task_has():
    assert scale_phrase({"max_return": 500.0, "solved_return": 475.0, "score_floor": 0.0}) == (
        "500 is the maximum, 475 counts as solved"
    )
    floor = scale_phrase({"max_return": None, "solved_return": -100.0, "score_floor": -500.0, "floor_rule": "fixed"})
    assert floor == "-100 counts as solved, returns as a % of the teacher's are measured from -500.0 (the task's floor)"
    assert "random policy" in scale_phrase({"solved_return": None, "score_floor": -180.0, "floor_rule": "random"})
    assert scale_phrase({}) == "no solved bar is known for this task"


def test_rankings_group_ties_at_the_shown_precision():
    assert rank_modes({"a": 0.91, "b": 0.95, "c": 0.9504}, 3) == [["b", "c"], ["a"]]
    values = {"a": 1.0, "b": 1.0}
    assert ranking_text(rank_modes(values, 1), values, "{:.1f}") == "a tie between all modes (1.0)"
    assert ranking_text([["b"], ["a"]], {"a": 1.0, "b": 2.0}, "{:.0f}") == "b (2) > a (1)"


def test_spreads_and_solved_runs():
    assert spread_text([99.96, 100.04]) == "100.0%" and spread_text([80.0, 99.5]) == "80.0-99.5%"
    assert (
        solved_clause({"solved": 3, "n": 5}) == "; 3 of 5 runs solve the task" and solved_clause({"solved": None}) == ""
    )


def test_counts_are_said_in_their_number():
    assert [counted(n, "run") for n in (0, 1, 2, 3)] == ["0 runs", "1 run", "2 runs", "3 runs"]
    assert solved_count(1, 1) == "1 of 1 run solves" and solved_count(1, 3) == "1 of 3 runs solves"
    assert solved_count(2, 3) == "2 of 3 runs solve" and solved_count(0, 2) == "0 of 2 runs solve"


def test_the_students_family_is_named_from_the_recorded_kind():
    plain = "plain MLP students (Linear-ReLU, no LayerNorm or dropout)"
    study = "the study's students (LayerNorm, dropout 0.05)"
    assert students_phrase("plain") == plain and students_phrase("study") == study and students_phrase(None) == study
    assert students_sentence({"a": "plain", "b": "plain"}) == f"The students are {plain}."
    assert students_sentence({"CartPole": "plain", "Acrobot": "study", "LunarLander": "plain"}) == (
        f"The students are {plain} (CartPole, LunarLander) and {study} (Acrobot)."
    )
    with pytest.raises(ValueError, match="student_kind='wide': must be one of study, plain"):
        students_phrase("wide")
