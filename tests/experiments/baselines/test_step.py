"""Tests of distill_lib.experiments.baselines and baselines_report, and the fair comparison's tests against them."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from distill_lib.experiments import baselines
from distill_lib.experiments.baselines import params, step
from distill_lib.experiments.baselines import section as report
from distill_lib.experiments.baselines import summary as baselines_summary
from distill_lib.report.stats import mean_ci
from distill_lib.rl.dqn import agent_network, state_dict_digest, train_dqn
from distill_lib.rl.dqn_config import gradient_steps
from distill_lib.rl.episodes import TEST_SEED, EpisodeParams
from distill_lib.rl.evaluation import closed_loop
from distill_lib.rl.tasks import load_teacher, task

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


#: the from-scratch step's runs: long enough to learn (the teacher's recipe updates from env step 1000)
SCRATCH = SMOKE | {"scratch_steps": 1_600, "scratch_width": 8}
#: its budgets, out of order (the step sorts them): before any update, off the eval grid, the full run
BUDGETS = [1_600, 400, 1_200]


@pytest.fixture(scope="module")
def scratch() -> baselines.BaselineRecord:
    settings = SCRATCH | {"baseline": "scratch", "scratch_budgets": BUDGETS}
    return step.run(baselines.BaselineStepConfig.from_params(settings))


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
    assert scratch.recipe["total_steps"] == 1_600 and scratch.recipe["teacher_steps"] == 100_000
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


def test_scratch_budgets_default_to_the_log_grid_up_to_the_runs_steps() -> None:
    assert params.scratch_budgets(params.BaselineParams()) == [1_000, 3_000, 10_000, 30_000, 100_000]  # CartPole
    lunar = params.BaselineParams(env_id="LunarLander-v3")
    assert params.scratch_budgets(lunar) == [1_000, 3_000, 10_000, 30_000, 100_000, 300_000]
    assert params.scratch_budgets(params.BaselineParams(scratch_steps=400)) == [400]
    assert params.scratch_budgets(params.BaselineParams(scratch_budgets=[5_000, 2_000])) == [2_000, 5_000]


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"scratch_budgets": [100, 500], "scratch_steps": 400}, r"must each be <= scratch_steps=400"),
        ({"scratch_budgets": []}, "needs at least 1 entries"),
        ({"scratch_budgets": [0]}, "outside"),
        ({"scratch_budgets": [100, 100]}, "listed twice"),
    ],
)
def test_bad_scratch_budgets_are_refused_naming_the_field(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=rf"^scratch_budgets=.*{match}"):
        params.BaselineParams(**settings)


def test_scratch_budgets_past_the_teachers_budget_are_refused_before_the_study() -> None:
    with pytest.raises(ValueError, match=r"^scratch_budgets=.*must each be <= 100,000, the from-scratch runs' env"):
        params.BaselineParams(scratch_budgets=[1_000, 200_000]).check_files()  # the teacher's record says 100k


def test_each_budgets_checkpoint_is_the_one_training_kept_and_is_measured_as_a_student(scratch) -> None:
    configs = baselines.scratch_configs(baselines.BaselineStepConfig.from_params(SCRATCH))
    agents = train_dqn(configs, progress=False, budgets=sorted(BUDGETS))  # the same runs again: bit-identical
    teacher = load_teacher("CartPole-v1")
    for run, agent in zip(scratch.runs, agents, strict=True):
        assert [b.steps for b in run.budgets] == sorted(BUDGETS)
        full = run.budgets[-1]  # the full run's budget is the run's kept checkpoint, measured once
        assert full.state_sha256 == run.training["state_sha256"]
        assert (full.return_mean, full.own_agreement, full.held_out) == (
            run.return_mean,
            run.own_agreement,
            run.held_out,
        )
        for b, state in zip(run.budgets, agent.budget_states, strict=True):
            assert b.state_sha256 == state_dict_digest(state) and b.best_step <= b.env_steps
            assert b.gradient_steps == gradient_steps(configs[0], b.env_steps)
            net = agent_network(configs[0])
            net.load_state_dict(state)
            loop = closed_loop([net], SMOKE["test_episodes"], TEST_SEED, reference=teacher)
            assert b.return_mean == loop.returns[0].mean() and b.own_agreement == loop.agreement[0]
            assert b.return_pct == pytest.approx(100 * b.return_mean / scratch.teacher["test_return"])
    assert [b.gradient_steps for b in scratch.runs[0].budgets] == [0, 51, 151]  # vector steps 250-300, 250-400
    assert len({b.state_sha256 for r in scratch.runs for b in r.budgets}) > len(scratch.runs)  # budgets kept others


def test_the_summary_gives_each_budget_its_runs_and_intervals(scratch, teachers) -> None:
    group = baselines_summary.summarize_record(scratch)
    assert [b["steps"] for b in group["budgets"]] == sorted(BUDGETS)
    assert baselines_summary.summarize_record(teachers)["budgets"] == []
    for i, b in enumerate(group["budgets"]):
        values = [r.budgets[i].return_pct for r in sorted(scratch.runs, key=lambda r: r.seed)]
        assert b["return_pct"]["values"] == values and b["n"] == 2
        assert b["return_pct"]["mean"] == pytest.approx(np.mean(values))
        if len(set(values)) > 1:
            assert (b["return_pct"]["low"], b["return_pct"]["high"]) == pytest.approx(
                (mean_ci(values).low, mean_ci(values).high)
            )
        assert b["solved"] == sum(v >= CARTPOLE.bar for v in b["return"]["values"])
        assert b["gradient_steps"] == scratch.runs[0].budgets[i].gradient_steps
    assert json.loads(json.dumps(group, allow_nan=False)) == group


def _budget(steps: int, mean: float, solved: int, n: int = 3) -> dict:
    ci = {"mean": mean, "low": mean - 1.0, "high": mean + 1.0}
    return {"steps": steps, "env_steps": steps, "gradient_steps": steps // 2, "n": n, "solved": solved,
            "return": ci, "return_pct": ci | {"mean": mean / 5.0, "low": mean / 5.0 - 1, "high": mean / 5.0 + 1}}  # fmt: skip


def _group(means: list[float], solved: list[int], bar: float | None = 475.0) -> dict:
    budgets = [_budget(s, m, k) for s, m, k in zip([1_000, 3_000, 10_000, 30_000], means, solved)]
    return {"width": 8, "n": 3, "env_id": "CartPole-v1", "solved_return": bar, "budgets": budgets}


def test_the_bar_sentence_follows_the_numbers() -> None:
    reached = _group([100.0, 480.0, 460.0, 490.0], [0, 2, 1, 3])
    assert report.first_at_bar(reached)["steps"] == 3_000
    said = report.bar_sentence(reached)
    assert said.startswith("Width 8 from scratch: the mean test return of its 3 runs first reaches the bar (475) at "
                           "3,000 env steps (1,500 gradient steps; 2 of 3 runs solve the task there)")  # fmt: skip
    assert said.endswith(", and falls below it again at 10,000.") and "smallest" not in said
    # flip the numbers: never at the bar, at the bar from the start and staying, no bar at all
    never = report.bar_sentence(_group([100.0, 200.0, 300.0, 474.9], [0, 0, 1, 1]))
    assert report.first_at_bar(_group([100.0, 200.0, 300.0, 474.9], [0, 0, 1, 1])) is None
    assert never.startswith("Width 8 from scratch: the mean test return of its 3 runs stays below the bar (475) at "
                            "every budget up to 30,000 env steps")  # fmt: skip
    assert never.endswith("(there: 474.9, 95.0% of the teacher's return; 1 of 3 runs solves the task).")
    early = report.bar_sentence(_group([475.0, 480.0, 490.0, 500.0], [2, 2, 3, 3]))
    assert "at 1,000 env steps (the smallest budget measured)" in early and "falls below" not in early
    no_bar = report.bar_sentence(_group([100.0, 200.0, 300.0, 400.0], [0, 0, 0, 0], bar=None))
    assert "has no solved bar to reach (at 30,000 env steps, 80.0% of the teacher's return)" in no_bar
    assert report.first_at_bar(_group([500.0] * 4, [3] * 4, bar=None)) is None
    assert report.bar_sentence({"budgets": [], "solved_return": 475.0}) == ""


def test_the_budget_table_has_a_row_per_budget_and_a_column_per_width() -> None:
    wide, narrow = _group([100.0, 480.0, 460.0, 490.0], [0, 2, 1, 3]), _group([50.0, 60.0], [0, 0])
    wide["width"] = 32
    lines = report.budget_table([wide, narrow]).splitlines()
    assert lines[0] == ("| env steps per run | gradient steps per run | width 32: test return, % [95% CI] | "
                        "width 8: test return, % [95% CI] |")  # fmt: skip
    assert lines[3] == "| 3,000 | 1,500 | 96.0 [95.0, 97.0]; 2 of 3 solve | 12.0 [11.0, 13.0]; 0 of 3 solve |"
    assert lines[5] == "| 30,000 | 15,000 | 98.0 [97.0, 99.0]; 3 of 3 solve | - |" and len(lines) == 6


def test_the_section_shows_the_budgets_when_they_ran(scratch, teachers) -> None:
    summary = baselines_summary.summarize_records({"teachers": teachers, "w=8": scratch}, [])
    text = report.section(summary).text
    assert report.budget_table(summary.scratch) in text and report.bar_sentence(summary.scratch[0]) in text
    assert report.runs_budget_table(scratch).count("\n") == 2 + len(scratch.runs)
    assert report.runs_budget_table(teachers) == ""


def _summary(teachers_n: int | None, scratch_ns: list[int]) -> baselines_summary.BaselinesSummary:
    teachers = None if teachers_n is None else {"n": teachers_n}
    return baselines_summary.BaselinesSummary(teachers, [{"n": n} for n in scratch_ns], [])


@pytest.mark.parametrize(
    "teachers_n, scratch_ns, said",
    [
        (None, [1], "Intervals: 95% t-intervals over runs (a group of one run has none)."),
        (3, [1, 2], "Intervals: 95% t-intervals over runs (a group of one run has none)."),
        (None, [2], "Intervals: 95% t-intervals over runs (with 2 runs: wide)."),
        (None, [2, 2], "Intervals: 95% t-intervals over runs (with 2 runs each: wide)."),
        (3, [2, 2], "Intervals: 95% t-intervals over runs (2 to 3 runs per group: wide)."),  # not "with 3 runs"
        (3, [3], "Intervals: 95% t-intervals over runs (with 3 runs each: wide)."),
        (None, [6, 10], "Intervals: 95% t-intervals over runs."),
    ],
)
def test_the_interval_note_says_the_run_counts_there_were(teachers_n, scratch_ns, said) -> None:
    assert report.interval_note(_summary(teachers_n, scratch_ns)) == said


@pytest.mark.parametrize("n, runs", [(1, "its 1 run "), (2, "its 2 runs "), (3, "its 3 runs ")])
def test_the_bar_sentence_counts_the_runs_there_were(n, runs) -> None:
    group = _group([100.0, 480.0, 490.0, 490.0], [0, 1, 1, 1]) | {"n": n}
    for b in group["budgets"]:
        b["n"], b["solved"] = n, min(b["solved"], n)
    said = report.bar_sentence(group)
    assert runs in said and "1 runs" not in said
    assert ("1 of 1 run solves the task" in said) == (n == 1) and ("1 of 2 runs solves" in said) == (n == 2)


def test_the_section_names_the_network_dqn_trains(scratch) -> None:
    text = report.section(baselines_summary.summarize_records({"w=8": scratch}, [])).text
    assert "its networks are the teachers' network (LayerNorm, dropout 0.1) at each width" in text
