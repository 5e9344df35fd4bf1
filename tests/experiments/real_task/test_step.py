"""Tests of distill_lib.experiments.real_task: the real-teacher section at smoke size, its summary and reading."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from matplotlib.figure import Figure

from distill_lib.experiments import real_task
from distill_lib.experiments.base import step_key
from distill_lib.experiments.comparison import ResultRow
from distill_lib.experiments.real_task import figures, section, sentences, step, tables
from distill_lib.report.phrases import rank_modes
from distill_lib.rl.episodes import TEST_SEED, EpisodeParams, mean_ci
from distill_lib.rl.exploration import collect_buffers
from distill_lib.rl.tasks import load_teacher

#: the section at smoke size: one width, two seeds, a few short runs (about a second)
SMOKE = {
    "real_task_widths": [8],
    "real_task_seeds": [0, 1],
    "buffer_episodes": 2,
    "held_out_episodes": 2,
    "buffer_epsilon": 0.1,
    "test_episodes": 3,
    "epochs": 2,
    "batch_size": 64,
}
MODE_ORDER = ["hard_only", "blended", "soft_only"]


@pytest.fixture(scope="module")
def record() -> real_task.RealTaskRecord:
    return step.run(real_task.RealTaskConfig(**SMOKE))


def _hand_count(h: int, d: int = 4, a: int = 2) -> int:
    """Linear(d, h) + LayerNorm(h) + Linear(h, h) + LayerNorm(h) + Linear(h, a), weights and biases."""
    return (d * h + h) + 2 * h + (h * h + h) + 2 * h + (h * a + a)


def test_record_has_one_run_per_width_seed_and_mode(record):
    assert record.widths == [8] and record.seeds == [0, 1]
    assert record.modes == {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}
    assert [(r.width, r.seed, r.mode) for r in record.runs] == [(8, s, m) for s in (0, 1) for m in MODE_ORDER]
    for run in record.runs:
        assert len(run.returns) == 3 and run.alpha == record.modes[run.mode]
        assert set(run.held_out) >= {"action_agreement", "prob_similarity_t1", "kl_t1", "regret"}
        assert 0.0 <= run.held_out["action_agreement"] <= 1.0 and run.held_out["kl_t1"] >= 0.0
    assert len(record.teacher["returns"]) == 3
    assert record.closed_loop == {
        "episodes": 3, "seed": TEST_SEED, "max_steps": 500, "solved_return": 475.0, "score_floor": 0.0,
        "floor_rule": "fixed",
    }  # fmt: skip
    assert record.env == "CartPole-v1" and record.teacher["shipped"] and record.teacher["env_id"] == "CartPole-v1"


def test_buffers_are_the_teachers_epsilon_greedy_episodes(record):
    train, held_out = collect_buffers(load_teacher("CartPole-v1"), 2, 2, 0.1)
    buf = record.buffer
    assert (buf["n_states"], buf["n_held_out"]) == (len(train), len(held_out))
    assert buf["n_val"] == max(1, int(len(train) * 0.1))
    assert (buf["epsilon"], buf["train_episodes"], buf["held_out_episodes"]) == (0.1, 2, 2)


def test_return_percentages_come_from_the_records_own_returns(record):
    teacher = np.array(record.teacher["returns"])
    assert record.teacher["return_mean"] == pytest.approx(teacher.mean())
    for run in record.runs:
        returns = np.array(run.returns)
        mean, lo, hi = mean_ci(returns)
        assert run.return_mean == pytest.approx(returns.mean()) == mean
        assert run.return_ci == pytest.approx([lo, hi])
        assert run.return_pct == pytest.approx(100.0 * returns.mean() / teacher.mean())
        assert run.return_pct_ci == pytest.approx([100.0 * lo / teacher.mean(), 100.0 * hi / teacher.mean()])


def test_parameter_counts_match_the_architecture(record):
    assert _hand_count(8) == 162 and _hand_count(64) == 4866
    assert record.teacher["params"] == _hand_count(64)
    assert record.students == [{"width": 8, "params": 162, "params_pct": pytest.approx(100 * 162 / 4866)}]
    assert all(r.params == 162 for r in record.runs)


def test_same_params_give_the_same_record(record):
    again = step.run(real_task.RealTaskConfig(**copy.deepcopy(SMOKE)))
    assert {**again.to_json(), "seconds": None} == {**record.to_json(), "seconds": None}


def test_key_changes_with_each_parameter_and_only_with_them(tmp_path, monkeypatch):
    key = step_key(real_task.EXPERIMENT, "real_task", SMOKE)
    assert step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "world_seeds": [3], "work_dir": "elsewhere"}) == key
    # a whole number given for a float parameter is that float: the same step, not another one
    assert (
        step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "max_grad_norm": 2})
        == step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "max_grad_norm": 2.0})
        != step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "max_grad_norm": 2.5})
    )
    changes = {
        "real_task_widths": [8, 4],
        "real_task_seeds": [0, 2],
        "buffer_episodes": 3,
        "held_out_episodes": 3,
        "buffer_epsilon": 0.2,
        "test_episodes": 4,
        "alpha": 0.5,
        "temperature": 2.0,
        "epochs": 3,
        "max_grad_norm": None,
        "student_kind": "plain",
    }
    keys = {
        name: step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, name: value}) for name, value in changes.items()
    }
    assert key not in keys.values() and len(set(keys.values())) == len(changes)
    retrained = tmp_path / "teacher.pt"
    retrained.write_bytes(EpisodeParams().teacher_path.read_bytes() + b"\0")
    experiment = real_task.EXPERIMENT.__class__(
        **{**real_task.EXPERIMENT.__dict__, "inputs": lambda config: [retrained]}
    )
    assert step_key(experiment, "real_task", SMOKE) != key
    # your own checkpoint is identified by its content, wherever it lies
    mine = tmp_path / "mine.pt"
    mine.write_bytes(retrained.read_bytes())
    with_mine = step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "teacher_checkpoint": str(retrained)})
    assert with_mine != key and with_mine == step_key(
        real_task.EXPERIMENT, "real_task", {**SMOKE, "teacher_checkpoint": str(mine)}
    )
    mine.write_bytes(retrained.read_bytes() + b"\0")
    assert step_key(real_task.EXPERIMENT, "real_task", {**SMOKE, "teacher_checkpoint": str(mine)}) != with_mine


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("real_task_widths", [8, 0]),
        ("real_task_widths", [8, 8]),
        ("real_task_widths", [8.0]),
        ("real_task_seeds", []),
        ("real_task_seeds", [0, 1, 0]),
        ("buffer_epsilon", 1.5),
        ("buffer_epsilon", -0.1),
        ("buffer_episodes", 0),
        ("held_out_episodes", 0),
        ("test_episodes", 1),
        ("alpha", 1.0),
        ("temperature", 0.0),
    ],
)
def test_bad_parameters_are_rejected_by_name(name, value):
    with pytest.raises(ValueError, match=f"^{name}="):
        real_task.RealTaskConfig(**{**SMOKE, name: value})


def test_no_widths_no_section():
    assert step.units(real_task.RealTaskConfig(real_task_widths=[])).steps == {}


def test_summary_means_and_paired_tests_come_from_the_runs(record):
    summary = real_task.summarize_record(record)
    assert summary.modes == MODE_ORDER and summary.compare_width == 8 and summary.n_seeds == 2
    for row in summary.rows:
        runs = [r for r in record.runs if r.mode == row["mode"]]
        assert row["return_pct"]["mean"] == pytest.approx(np.mean([r.return_pct for r in runs]))
        agree = [r.held_out["action_agreement"] for r in runs]
        assert row["action_agreement"]["mean"] == pytest.approx(np.mean(agree))
        assert row["action_agreement"]["low"] <= np.mean(agree) <= row["action_agreement"]["high"]
    assert set(summary.pairs) == {"return_pct", "action_agreement"}
    assert set(summary.pairs["return_pct"]) == {"hard_only - blended", "hard_only - soft_only", "blended - soft_only"}
    one_seed = real_task.RealTaskRecord.from_json(
        {**record.to_json(), "seeds": [0], "runs": [r.to_json() for r in record.runs if r.seed == 0]}
    )
    single = real_task.summarize_record(one_seed)
    assert single.pairs == {} and all(r["return_pct"]["low"] is None for r in single.rows)


def _fake(
    returns: dict[str, float], agreement: dict[str, float], widths=(32,), seeds=(0, 1, 2), **recorded
) -> real_task.RealTaskSummary:
    """A summary of chosen per-mode values (three seeds, +-1 point around them); ``recorded``: the step's
    parameters (``student_kind``) and the teacher's ``shipped``."""
    runs = [
        real_task.RealTaskRun(
            w, s, m, {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}[m], _hand_count(w),
            {"action_agreement": agreement[m] + 0.01 * (s - 1), "prob_similarity_t1": 0.9, "regret": 0.01},
            {}, 1, [500.0], 500.0, [500.0, 500.0], returns[m] + (s - 1), [0.0, 0.0],
        )
        for w in widths
        for s in seeds
        for m in MODE_ORDER
    ]  # fmt: skip
    students = [{"width": w, "params": _hand_count(w), "params_pct": 100 * _hand_count(w) / 4866} for w in widths]
    teacher = {"params": 4866, "hidden": 64, "return_mean": 500.0, "return_ci": [500.0, 500.0], "returns": [500.0] * 4,
               "shipped": recorded.pop("shipped", True)}  # fmt: skip
    loop = {"max_steps": 500, "score_floor": 0.0, "floor_rule": "fixed", "solved_return": 475.0}
    modes = {"soft_only": 1.0, "blended": 0.7, "hard_only": 0.0}  # JSON order: sorted by name, not alpha
    rec = real_task.RealTaskRecord(
        recorded, "", "CartPole-v1", list(widths), list(seeds), modes, teacher, {}, loop, students, runs, {}
    )
    return real_task.summarize_record(rec)


def test_interpretation_ranks_the_modes_from_the_numbers():
    soft_best = _fake(
        {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0}, {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7}
    )
    text = sentences.interpretation(soft_best)
    assert "closed-loop return as soft_only (99.0%) > blended (90.0%) > hard_only (80.0%)" in text
    assert "agreement as hard_only (90.0%) > blended (80.0%) > soft_only (70.0%)" in text
    assert "The leaders differ" in text and "width 32: soft_only (99.0%)" in text

    hard_best = _fake(
        {"hard_only": 99.0, "blended": 90.0, "soft_only": 80.0}, {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7}
    )
    assert "The two rankings are the same" in sentences.interpretation(hard_best)

    same_leader = _fake(
        {"hard_only": 99.0, "blended": 80.0, "soft_only": 90.0}, {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7}
    )
    text = sentences.interpretation(same_leader)
    assert "Both rankings put hard_only first" in text and "leaders differ" not in text

    tie = _fake(dict.fromkeys(MODE_ORDER, 100.0), {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7})
    assert "return as a tie between all modes (100.0%)" in sentences.interpretation(tie)


RETURNS, AGREEMENT = {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0}, dict.fromkeys(MODE_ORDER, 0.9)


@pytest.mark.parametrize(
    "recorded, said",
    [
        ({}, "The shipped CartPole teacher (width 64, 4,866 parameters) returns 500.0"),
        ({"shipped": False}, "Your CartPole teacher (width 64, 4,866 parameters) returns 500.0"),
    ],
)
def test_the_teacher_is_named_with_the_right_article(recorded, said):
    text = sentences.interpretation(_fake(RETURNS, AGREEMENT, **recorded))
    assert text.startswith(said) and "The your" not in text and "the your" not in text


@pytest.mark.parametrize(
    "kind, family",
    [
        (None, "The students are the study's students (LayerNorm, dropout 0.05)."),  # a record from before the choice
        ("study", "The students are the study's students (LayerNorm, dropout 0.05)."),
        ("plain", "The students are plain MLP students (Linear-ReLU, no LayerNorm or dropout)."),
    ],
)
def test_the_section_names_the_students_family_the_step_recorded(kind, family):
    summary = _fake(RETURNS, AGREEMENT, **({} if kind is None else {"student_kind": kind}))
    text = section.section(summary).text
    other = "plain MLP" if kind != "plain" else "the study's students"
    assert family in text and other not in text


@pytest.mark.parametrize(
    "seeds, said", [((0,), "means over 1 seed)"), ((0, 1), "means over 2 seeds)"), ((0, 1, 2), "means over 3 seeds)")]
)
def test_the_seed_count_said_is_the_count_there_was(seeds, said):
    summary = _fake(RETURNS, AGREEMENT, seeds=seeds)
    assert summary.n_seeds == len(seeds)
    for text in (sentences.interpretation(summary), sentences.short_verdict(summary)):
        assert said in text and "1 seeds" not in text
    one = "With one seed there is no interval and no paired test"
    assert (one in sentences.interpretation(summary)) == (len(seeds) == 1)


def test_paired_tests_are_one_holm_family_and_few_seeds_are_said():
    """Three seeds, six comparisons: the smallest corrected p is 6 * 2/8 >= 1, and the text says so."""
    summary = _fake(
        {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0}, {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7}
    )
    comparisons = [c for pairs in summary.pairs.values() for c in pairs.values()]
    assert len(comparisons) == 6 and {c["family_size"] for c in comparisons} == {6}
    assert all(c["p_adjusted"] >= c["p_value"] for c in comparisons)
    assert all(c["verdict"].startswith("no detectable") for c in comparisons)  # 2/8 * 6 cannot reach 0.05
    text = sentences.interpretation(summary)
    assert "Holm-corrected over the 6 comparisons at width 32" in text
    assert "With 3 seeds the smallest corrected p is 1: a verdict needs more seeds." in text
    assert "Holm-corrected over 6 comparisons" not in sentences.short_verdict(summary)  # nothing detected to qualify


def _rows(agreements: dict[str, float]) -> list[ResultRow]:
    zero = dict.fromkeys(ResultRow.__dataclass_fields__, 0.0)
    return [
        ResultRow(
            **{
                **zero,
                "mode": m,
                "loss_fn": "kl",
                "n_val": 1,
                "best_epoch": 0,
                "final_action_agreement": a,
                "final_prob_similarity_t1": 0.9,
            }
        )
        for m, a in agreements.items()
    ]


def test_interpretation_compares_with_the_synthetic_ranking():
    summary = _fake(
        {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0}, {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7}
    )
    assert "table is absent" in sentences.interpretation(summary, None)
    assert "table is absent" in sentences.interpretation(summary, [])
    like_agreement = sentences.interpretation(summary, _rows({"hard_only": 0.95, "blended": 0.94, "soft_only": 0.93}))
    assert "rank by agreement as hard_only (95.0%) > blended (94.0%) > soft_only (93.0%)" in like_agreement
    assert "held-out agreement gives the same order and closed-loop return a different order" in like_agreement
    like_return = sentences.interpretation(summary, _rows({"hard_only": 0.93, "blended": 0.94, "soft_only": 0.95}))
    assert "held-out agreement gives a different order and closed-loop return the same order" in like_return


def test_rank_modes_groups_ties_at_the_shown_precision():
    assert rank_modes({"a": 0.91, "b": 0.95, "c": 0.9504}, 3) == [["b", "c"], ["a"]]
    assert rank_modes({"a": 1.0, "b": 2.0}, 0) == [["b"], ["a"]]


def test_compression_table_lists_sizes_and_returns():
    summary = _fake(
        {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0}, dict.fromkeys(MODE_ORDER, 0.8), widths=(32, 4)
    )
    lines = tables.compression_table(summary).strip().splitlines()
    assert len(lines) == 2 + 1 + 2  # header, rule, teacher, two widths
    assert lines[2].startswith("| teacher (width 64) | 4,866 | 100.0 |")
    assert lines[3].startswith(f"| student width 32 | 1,410 | {100 * 1410 / 4866:.1f} | 80.0 [")
    assert lines[4].startswith("| student width 4 | 66 | 1.4 | 80.0 [")
    assert "99.0 [" in lines[3]
    assert tables.fidelity_table(summary).count("\n") == 2 + 6


def test_figures_are_matplotlib_figures(record):
    summary = real_task.summarize_record(record)
    returns, fidelity = figures.figure_returns(summary), figures.figure_fidelity(summary)
    assert isinstance(returns, Figure) and isinstance(fidelity, Figure)
    assert len(returns.axes) == 1 and len(fidelity.axes) == 3
    assert len(returns.axes[0].get_legend().get_texts()) == 2 + len(MODE_ORDER)  # Rusu box, teacher, modes


def test_the_short_verdict_follows_the_numbers():
    soft = sentences.short_verdict(
        _fake(
            {"hard_only": 80.0, "blended": 90.0, "soft_only": 99.0},
            {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7},
        )
    )
    assert "students earn soft_only (99.0%) > blended (90.0%) > hard_only (80.0%)" in soft
    assert "hard_only agrees with the teacher's action most often" in soft and "agreement is not performance" in soft
    hard = sentences.short_verdict(
        _fake(
            {"hard_only": 99.0, "blended": 90.0, "soft_only": 80.0},
            {"hard_only": 0.9, "blended": 0.8, "soft_only": 0.7},
        )
    )
    assert "also earns the most return" in hard and "not performance" not in hard
