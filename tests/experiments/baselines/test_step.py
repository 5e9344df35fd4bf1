"""Tests of distill_lib.experiments.baselines and baselines_report, and the fair comparison's tests against them."""

from __future__ import annotations

import copy
import json

import pytest

from distill_lib.experiments import baselines
from distill_lib.experiments.baselines import params, step
from distill_lib.experiments.baselines import section as report
from distill_lib.experiments.baselines import summary as baselines_summary
from distill_lib.rl.episodes import EpisodeParams
from distill_lib.rl.tasks import task

CARTPOLE = task("CartPole-v1")

TEACHER_FILE = EpisodeParams().teacher_path  # the shipped CartPole teacher

#: smoke size: two seeds, 400 environment steps, 2 held-out and 3 test episodes
SMOKE = {
    "buffer_episodes": 2,
    "held_out_episodes": 2,
    "test_episodes": 3,
    "scratch_seeds": [10, 11],
    "scratch_steps": 400,
}


@pytest.fixture(scope="module")
def scratch() -> baselines.BaselineRecord:
    return step.run(baselines.BaselineStepConfig.from_params(SMOKE | {"baseline": "scratch", "scratch_width": 8}))


@pytest.fixture(scope="module")
def teachers() -> baselines.BaselineRecord:
    return step.run(baselines.BaselineStepConfig.from_params(SMOKE | {"baseline": "teachers"}))


def test_units_are_the_teachers_and_one_step_per_width() -> None:
    config = baselines.BaselinesConfig.from_params({"fair_widths": [32, 8]})
    assert step.units(config).steps == {
        "teachers": {"baseline": "teachers"},
        "w=32": {"baseline": "scratch", "scratch_width": 32},
        "w=8": {"baseline": "scratch", "scratch_width": 8},
    }
    no_scratch = baselines.BaselinesConfig.from_params({"fair_widths": [8], "scratch_seeds": []})
    assert list(step.units(no_scratch).steps) == ["teachers"]
    assert step.units(baselines.BaselinesConfig.from_params({"fair_widths": []})).steps == {}
    assert step.units(baselines.BaselinesConfig.from_params({"fair_widths": [8], "source": "file"})).steps == {}


@pytest.mark.parametrize(("seeds", "match"), [([1, 10], "teachers' seeds"), ([10], "at least two")])
def test_scratch_seeds_are_checked(seeds: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=rf"^scratch_seeds=.*{match}"):
        params.BaselineParams(scratch_seeds=seeds).check_files()  # the teachers' seeds are in their records


def test_scratch_runs_get_the_teachers_recipe_and_budget() -> None:
    teacher_config = json.loads(TEACHER_FILE.with_suffix(".json").read_text())["config"]
    step = baselines.BaselineStepConfig.from_params({"baseline": "scratch", "scratch_width": 16})
    configs = baselines.scratch_configs(step)
    assert [c.seed for c in configs] == step.scratch_seeds
    for c in configs:
        assert c.to_dict() == teacher_config | {"env_id": "CartPole-v1", "hidden": 16, "seed": c.seed}  # budget and all
    smoke = baselines.scratch_configs(baselines.BaselineStepConfig.from_params(SMOKE | {"scratch_width": 16}))
    assert {c.total_steps for c in smoke} == {400} and {c.eval_every for c in smoke} == {400}


def test_independent_teachers_are_shipped_and_solve_the_task() -> None:
    files = baselines.independent_teachers()
    assert len(files) >= 3
    for f in files:
        record = json.loads(f.with_suffix(".json").read_text())
        assert record["test_mean"] >= CARTPOLE.bar and record["test_episodes"] == 100
        assert record["config"] | {"seed": 0} == json.loads(TEACHER_FILE.with_suffix(".json").read_text())["config"]
    assert params.teacher_seeds() == {0, 1, 2, 3}


def test_scratch_step_trains_each_seed_and_measures_it(scratch) -> None:
    assert scratch.baseline == "scratch" and scratch.width == 8 and [r.seed for r in scratch.runs] == [10, 11]
    assert scratch.recipe["total_steps"] == 400 and scratch.recipe["teacher_steps"] == 100_000
    assert scratch.params_count == 8 * 8 + 12 * 8 + 2
    for r in scratch.runs:
        assert 0.0 <= r.own_agreement <= 1.0 and 0.0 <= r.held_out["action_agreement"] <= 1.0
        assert r.return_pct == pytest.approx(100 * r.return_mean / scratch.teacher["test_return"])
    assert scratch.runs[0].training["state_sha256"] != scratch.runs[1].training["state_sha256"]
    assert type(scratch).from_json(json.loads(json.dumps(scratch.to_json()))) == scratch


def test_teachers_step_loads_the_shipped_peers(teachers) -> None:
    assert [r.seed for r in teachers.runs] == [1, 2, 3] and teachers.width == 64 and teachers.params_pct == 100.0
    shipped = [json.loads(f.with_suffix(".json").read_text())["state_sha256"] for f in baselines.independent_teachers()]
    assert [r.training["state_sha256"] for r in teachers.runs] == shipped


def test_summary_and_section_follow_the_numbers(scratch, teachers) -> None:
    summary = baselines_summary.summarize_records({"teachers": teachers, "w=8": scratch}, [])
    t = summary.teachers
    assert t["n"] == 3 and t["return_pct"]["values"] == [r.return_pct for r in teachers.runs]
    text = report.section(summary).text
    assert "not the teacher's 100,000" in text  # a reduced budget is said to be one
    assert "independent teachers (width 64, seeds 1-3)" in text
    # flip the numbers: one teacher fails the task, the sentence stops drawing the reference
    failed = copy.deepcopy(t) | {"solved": 2}
    solved = copy.deepcopy(t) | {"solved": 3}
    assert "Two policies that both solve" in report.teachers_sentence(solved)
    assert "2 of 3 independent teachers" in report.teachers_sentence(failed)
    assert "Two policies that both solve" not in report.teachers_sentence(failed)
