"""Tests of distill_lib.experiments.fair: equal tuning, selection on validation episodes only, several teachers,
the summary's intervals and claims, the report."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from matplotlib.figure import Figure

from distill_lib.core.objectives import OBJECTIVES
from distill_lib.experiments import fair
from distill_lib.experiments.fair import section as fair_section
from distill_lib.experiments.fair import sentences, step, tables
from distill_lib.experiments.fair import summary as fair_summary
from distill_lib.rl import students
from distill_lib.rl.episodes import TEST_SEED, VALIDATION_SEED

#: smoke size: two teachers, two candidates per objective, two seeds, short runs
SMOKE = {
    "fair_width": 8,
    "n_teachers": 2,
    "student_seeds": [0, 1],
    "val_episodes": 2,
    "snapshots": 2,
    "test_episodes": 3,
    "held_out_episodes": 2,
    "fair_candidates": 2,
    "fair_lrs": [0.001, 0.003],
    "fair_steps": [30],
    "fair_temperatures": [1.0, 3.0],
    "fair_taus": [0.1, 0.3],
    "fair_alphas": [0.5],
    "fair_transfer_steps": 300,
}


@pytest.fixture(scope="module")
def played() -> tuple[fair.FairRecord, list[tuple[int, int, int]]]:
    """The smoke record, and every closed-loop call it made after the teachers': (networks, episodes, first seed)."""
    calls = []
    returns, loop = students.closed_loop_returns, students.closed_loop

    def spy_returns(nets, n_episodes, seed, device="cpu", env_id="CartPole-v1"):
        calls.append((len(nets), n_episodes, seed))
        return returns(nets, n_episodes, seed, device=device, env_id=env_id)

    def spy_loop(nets, n_episodes, seed, device="cpu", reference=None, env_id="CartPole-v1"):
        calls.append((len(nets), n_episodes, seed))
        return loop(nets, n_episodes, seed, device=device, reference=reference, env_id=env_id)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(students, "closed_loop_returns", spy_returns)
        mp.setattr(students, "closed_loop", spy_loop)
        record = step.run(fair.FairStepConfig.from_params(SMOKE))
    return record, calls


def test_every_objective_gets_the_same_number_of_candidates_with_lr_and_steps_among_them(played):
    record, _ = played
    assert list(record.candidates) == list(OBJECTIVES)
    assert {len(c) for c in record.candidates.values()} == {SMOKE["fair_candidates"]}
    for objective, cands in record.candidates.items():
        assert {c.setting.lr for c in cands} <= set(SMOKE["fair_lrs"]) and all(c.setting.steps == 30 for c in cands)
        assert record.selected[objective] in [c.setting for c in cands]
        assert len(cands[0].val_pcts) == SMOKE["n_teachers"]  # every teacher, one selection seed


def test_every_objective_is_evaluated_under_every_teacher_with_fresh_seeds(played):
    record, _ = played
    assert len(record.teachers) == 2 and record.teachers[0]["file"] == "teacher.pt"
    assert [(r.objective, r.teacher, r.seed) for r in record.runs] == [
        (o, t, s) for o in OBJECTIVES for t in (0, 1) for s in (0, 1)
    ]
    for run in record.runs:
        assert 0 <= run.checkpoint < run.checkpoints == 2 and run.steps >= 30
        assert 0.0 <= run.held_out["action_agreement"] <= 1.0 and 0.0 <= run.own_agreement <= 1.0
    assert set(record.soft_share) == {"blended"} and 0.0 <= record.soft_share["blended"] <= 1.0


def test_selection_and_checkpoints_use_validation_episodes_the_test_only_measures(played):
    _record, calls = played
    teachers = [c for c in calls if c[0] == 2]  # the two teachers' own returns come first
    assert teachers[:2] == [(2, 2, VALIDATION_SEED), (2, 3, TEST_SEED)]
    rest = calls[2:]
    val = [c for c in rest if c[2] == VALIDATION_SEED]
    test = [c for c in rest if c[2] == TEST_SEED]
    assert val[0] == (len(OBJECTIVES) * 2 * 2 * 2, 2, VALIDATION_SEED)  # candidates x teachers x checkpoints
    assert [c[0] for c in test] == [len(OBJECTIVES) * 2] * 2  # one test call per teacher, its runs only
    assert all(c[1] == 3 for c in test)


def test_changing_the_test_episodes_changes_nothing_in_the_selection(played):
    record, _ = played
    other = step.run(fair.FairStepConfig.from_params({**SMOKE, "test_episodes": 4, "student_seeds": [5, 6]}))
    assert other.candidates == record.candidates and other.selected == record.selected


def test_a_record_round_trips(played):
    record, _ = played
    assert fair.FairRecord.from_json(copy.deepcopy(record.to_json())) == record


def test_the_summary_has_intervals_with_the_teachers_and_one_holm_family(played):
    record, _ = played
    width = fair.summarize_record(record)
    assert [o["objective"] for o in width["objectives"]] == list(OBJECTIVES)
    for o in width["objectives"]:
        r = o["return_pct"]
        assert r["n_teachers"] == 2 and len(r["per_teacher"]) == 2 and len(r["values"]) == 2
        assert r["mean"] == pytest.approx(np.mean([np.mean(v) for v in r["values"]]))
        assert o["candidates"] == 2
    pairs = width["pairs"]
    assert len(pairs) == len(OBJECTIVES) * (len(OBJECTIVES) - 1) // 2
    assert {c["family_size"] for c in pairs.values()} == {len(pairs)}
    assert all(not c["detectable"] for c in pairs.values())  # 4 runs: a sign-flip test cannot go below 2/16


def _width(means: dict[str, float], detectable: dict[str, float] | None = None) -> dict:
    """A width summary of chosen means; ``detectable`` pairs (``"a - b"`` -> difference) pass both criteria."""
    objectives = [
        {"objective": o, "label": f"{o} (lr 0.001, 1,000 steps)", "settings": "-", "candidates": 4,
         "setting": {"lr": 0.001, "steps": 1000},
         "return_pct": {"mean": m, "low": m - 5, "high": m + 5, "per_teacher": [m - 1, m + 1], "values": [[m], [m]]},
         "action_agreement": {"mean": 0.9, "low": 0.85, "high": 0.95}, "own_agreement": {"mean": 0.8, "low": 0.7, "high": 0.9},
         "below_half": 0.0}
        for o, m in means.items()
    ]  # fmt: skip
    pairs = {}
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            d = (detectable or {}).get(f"{a} - {b}")
            diff = {"mean": d if d is not None else means[a] - means[b], "low": 1.0, "high": 3.0}
            if d is None:
                diff |= {"low": -4.0, "high": 4.0}
            verdict = "no detectable difference" if d is None else f"{a} higher"
            pairs[f"{a} - {b}"] = {"difference": diff, "p_text": "p = 0.001", "family_size": 3, "detectable": d is not None,
                                   "verdict": verdict}  # fmt: skip
    return {"width": 8, "params_pct": 3.0, "n_teachers": 2, "n_seeds": 5, "objectives": objectives, "pairs": pairs,
            "selection_seeds": [100], "episodes": {"validation": 20, "transfer_steps": 1000}, "soft_share": {},
            "sharpness": {"1": 0.6}}  # fmt: skip


def test_no_ordering_is_claimed_where_means_differ_but_the_tests_do_not():
    means = {"hard": 95.0, "rusu": 80.0, "mse": 60.0}
    quiet = _width(means)
    text = sentences.width_sentences(quiet)
    assert "in order of the mean: hard 95.0%, rusu 80.0%, mse 60.0%" in text
    assert "No two objectives differ detectably" in text and "higher than" not in text
    assert sentences.leaders(quiet) == ["hard", "rusu", "mse"]
    loud = _width(means, {"hard - mse": 35.0})
    said = sentences.claims_sentence(loud)
    assert "hard higher than mse by 35" in said and "rusu higher" not in said and "Leading" in said
    assert sentences.leaders(loud) == ["hard", "rusu"]


def test_the_tuning_sentence_prints_the_candidate_count():
    assert "from 4 candidates each" in sentences.tuning_sentence(_width({"hard": 90.0, "mse": 80.0}))


def test_the_soft_share_sentence_says_when_blended_is_nearly_hard():
    width = _width({"blended": 90.0, "hard": 90.0}) | {"soft_share": {"blended": 0.04}}
    width["objectives"][0]["settings"] = "alpha = 0.5, T = 0.1"
    assert "carries 4% of blended's gradient" in sentences.soft_share_sentence(width)
    assert "nearly the hard objective" in sentences.soft_share_sentence(width)


def test_the_teacher_spread_sentence_keeps_negative_bounds_readable():
    width = _width({"hard": 90.0, "mse": 3.0})
    width["objectives"][1]["return_pct"]["per_teacher"] = [-9.4, 15.2]  # mse: wide, and one teacher below 0
    said = sentences.teacher_spread_sentence(width)
    assert said == "The teacher matters: the teachers' means spread over mse from -9 to 15%."
    width["objectives"][1]["return_pct"]["per_teacher"] = [-14.2, -0.3]  # rounds to "-0": said as 0
    assert sentences.teacher_spread_sentence(width).endswith("mse from -14 to 0%.")
    width["objectives"][1]["return_pct"]["per_teacher"] = [1.0, 9.0]  # within 10 points: nothing to say
    assert "within 10 points" in sentences.teacher_spread_sentence(width)


def test_section_and_figures(played):
    record, _ = played
    summary = fair_summary.summarize_records([record], ["w=4"])
    part = fair_section.section(summary)
    assert "Not finished: w=4" in part.text and "candidates each" in part.text
    assert "selected" in tables.candidates_table(summary.widths[0])
    assert isinstance(part.figures["fair_returns.png"](), Figure)


@pytest.mark.parametrize(
    "kind, family",
    [
        ("study", "The students are the study's students (LayerNorm, dropout 0.05)."),
        ("plain", "The students are plain MLP students (Linear-ReLU, no LayerNorm or dropout)."),
    ],
)
def test_the_section_names_the_students_family_the_step_recorded(played, kind, family):
    record, _ = played
    assert record.params["student_kind"] == "study"  # the step records it
    flipped = dataclasses.replace(record, params={**record.params, "student_kind": kind})
    text = fair_section.section(fair_summary.summarize_records([flipped], [])).text
    assert text.startswith(family) and ("plain MLP" in text) == (kind == "plain")


def test_units_per_width_and_none_for_a_file_teacher():
    assert list(step.units(fair.FairConfig.from_params({"fair_widths": [32, 8]})).steps) == ["w=32", "w=8"]
    assert step.units(fair.FairConfig.from_params({"fair_widths": []})).steps == {}
    assert step.units(fair.FairConfig.from_params({"fair_widths": [8], "source": "file"})).steps == {}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"student_seeds": [100, 1], "fair_selection_seeds": [100]}, "shares \\[100\\] with fair_selection_seeds"),
        ({"fair_alphas": [1.0]}, "each alpha must be in \\(0, 1\\)"),
        ({"fair_objectives": ["hard"]}, "needs at least 2 entries"),
        ({"test_episodes": 15_000}, "overlap the test episodes"),
    ],
)
def test_bad_parameters_are_refused_by_name(change, match):
    with pytest.raises(ValueError, match=match):
        fair.FairStepConfig.from_params({**SMOKE, **change})


def test_ties_on_validation_are_broken_by_held_out_agreement_then_grid_order():
    from distill_lib.core.objectives import SearchGrid, search_space

    short, long_, other = search_space("mse", SearchGrid([0.001], [1000, 3000, 10000], [1.0], [0.1], [0.5]))
    at_ceiling = [step.Candidate(short, [100.0], 100.0, 0.80), step.Candidate(long_, [100.0], 100.0, 0.93),
                  step.Candidate(other, [99.0], 99.0, 0.99)]  # fmt: skip
    assert step.select({"mse": at_ceiling}) == {"mse": long_}  # tied: the closer copy of the teacher
    level = [dataclasses.replace(c, agreement=0.9) for c in at_ceiling]
    assert step.select({"mse": level}) == {"mse": short}  # tied on both: the first in grid order
    better = [*at_ceiling[:2], step.Candidate(other, [100.5], 100.5, 0.5)]
    assert step.select({"mse": better}) == {"mse": other}  # validation return decides before agreement
