"""Tests of distill_lib.experiments.across_tasks: one Holm family over every task, the interval with the teachers'
variation, reversals, leaders, DQN from scratch only where its test says so, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill_lib.experiments import across_tasks as at
from distill_lib.experiments.across_tasks.sentences import reach_sentence
from distill_lib.runner.cli import main

OBJ = ("hard", "hinton", "rusu", "mse")


def _ci(mean: float, teachers: int = 2, seeds: int = 3, spread: float = 1.0) -> dict:
    values = [[mean + spread * (s - 1) for s in range(seeds)] for _ in range(teachers)]
    return {"mean": mean, "low": mean - 2, "high": mean + 2, "per_teacher": [mean] * teachers, "values": values,
            "n_teachers": teachers}  # fmt: skip


def study(
    env_id: str,
    means: dict[str, float],
    pairs: dict[str, tuple[float, float, float, float]],
    teachers: int = 2,
    seeds: int = 3,
    scratch: float = 50.0,
    params_pct: float = 10.0,
) -> dict:
    """A results.json with one fair width: each objective's mean return %, and 'a - b': (difference, low, high, p)."""
    objectives = [{"objective": o, "label": f"{o} (lr 0.001, 1,000 steps)", "candidates": 4,
                   "return_pct": _ci(means[o], teachers, seeds), "action_agreement": {"mean": 0.9, "low": 0.8, "high": 1.0},
                   "own_agreement": {"mean": 0.8, "low": 0.7, "high": 0.9}, "below_half": 0.0} for o in OBJ]  # fmt: skip
    width = {
        "width": 8, "params_pct": params_pct, "n_seeds": seeds, "env_id": env_id, "objectives": objectives,
        "teachers": [{"test_return": 1.0}] * teachers,
        "pairs": {k: {"difference": {"mean": d, "low": lo, "high": hi}, "p_value": p, "p_floor": 0.0, "n": teachers * seeds}
                  for k, (d, lo, hi, p) in pairs.items()},
    }  # fmt: skip
    group = {"width": 8, "env_steps": 100_000, "teacher_steps": 100_000, "n": 5,
             "return_pct": {"mean": scratch, "low": scratch - 1, "high": scratch + 1,
                            "values": [scratch - 1, scratch - 0.5, scratch, scratch + 0.5, scratch + 1]},
             "action_agreement": {"mean": 0.6, "low": 0.5, "high": 0.7}, "own_agreement": {"mean": 0.6, "low": 0.5, "high": 0.7}}  # fmt: skip
    return {"fair": {"widths": [width]}, "baselines": {"scratch": [group], "teachers": None},
            "provenance": {"commit": "abc", "code_hash": "def"}}  # fmt: skip


def test_one_holm_family_over_all_tasks_decides_the_leaders() -> None:
    # p = 0.02 is significant alone, and after Holm over the 2 tests (0.04 < 0.05), with intervals clear of zero ...
    a = study("CartPole-v1", {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, {"hard - hinton": (20, 5, 35, 0.02)})
    b = study("Acrobot-v1", {"hard": 90, "hinton": 95, "rusu": 99, "mse": 10}, {"hinton - hard": (5, 1, 9, 0.02)})
    s = at.summarize({"a": a, "b": b})
    assert [t["p_holm"] for t in s["tests"]] == [0.04, 0.04] and s["family"].startswith("every pair")
    assert (s["tests"][1]["difference"], s["tests"][1]["low"], s["tests"][1]["high"]) == (
        -5,
        -9,
        -1,
    )  # as hard - hinton
    assert s["reversals"] == [{"a": "hard", "b": "hinton", "a_above_on": "CartPole-v1", "b_above_on": "Acrobot-v1"}]
    leaders = {c["task"]: c["leaders"] for c in s["leaders"]}
    assert leaders == {"CartPole-v1": ["hard", "rusu", "mse"], "Acrobot-v1": ["hinton", "rusu", "mse"]}
    assert "does not hold across tasks: hard above hinton on CartPole but below it on Acrobot" in at.verdict(s)
    # ... and a third test in the family makes them too weak: no reversal is claimed
    c = study("LunarLander-v3", {o: 50 for o in OBJ}, {"hard - mse": (1, -3, 5, 0.5)})
    s3 = at.summarize({"a": a, "b": b, "c": c})
    assert [t["p_holm"] for t in s3["tests"]] == [0.06, 0.06, 0.5] and s3["reversals"] == []
    assert "no pair of objectives is ordered one way" in at.verdict(s3)


def test_no_ordering_is_claimed_where_means_and_tests_disagree() -> None:
    """Means far apart with a tiny p but an interval (with the teachers' variation) across zero: no claim; and DQN
    from scratch's mean above an objective's with no detectable difference: no claim either."""
    means = {"hard": 95, "hinton": 60, "rusu": 94, "mse": 55}
    wide = study("CartPole-v1", means, {"hard - hinton": (35, -2, 70, 0.0001)}, scratch=58.0)
    s = at.summarize({"a": wide})
    assert s["tests"][0]["sign"] == 0 and all(c["leaders"] == list(OBJ) for c in s["leaders"])
    text = at.verdict(s)
    assert (
        "hard above" not in text
        and "hinton above" not in text
        and "lead (no objective ordered above) in every cell" in text
    )
    scratch = at.scratch_sentence(s)
    assert "detectably above every objective" not in scratch  # 58% vs hinton 60 and mse 55: means only
    assert "at least one objective is detectably above it at CartPole width 8" in scratch  # hard 95 vs 58: tested
    # the same means, the interval clear of zero and the test small: now (and only now) ordered
    clear = study("CartPole-v1", means, {"hard - hinton": (35, 20, 50, 0.0001)})
    assert at.summarize({"a": clear})["tests"][0]["sign"] == 1


def test_dqn_from_scratch_above_every_objective_is_said_only_where_tested() -> None:
    low = study("LunarLander-v3", {o: 20.0 for o in OBJ}, {}, scratch=80.0)
    text = at.scratch_sentence(at.summarize({"c": low}))
    assert "DQN from scratch is detectably above every objective at LunarLander width 8" in text
    # at the teacher's own size (self-distillation) the same gap is not the compression question: left out
    low["fair"]["widths"][0]["params_pct"] = 100.0
    assert at.scratch_sentence(at.summarize({"c": low})) == ""


def test_dqn_from_scratch_above_some_objectives_names_them_and_only_them() -> None:
    # DQN from scratch at 50%: mse at 10% is detectably below it, the others (at 50%) are not
    one = study("LunarLander-v3", {"hard": 50.0, "hinton": 50.0, "rusu": 50.0, "mse": 10.0}, {}, scratch=50.0)
    text = at.scratch_sentence(at.summarize({"c": one}))
    assert "it is detectably above some objectives at LunarLander width 8 (mse)." in text
    assert "every objective" not in text and "hard" not in text
    # beating most of them: said as the exception
    most = study("LunarLander-v3", {"hard": 10.0, "hinton": 10.0, "rusu": 50.0, "mse": 10.0}, {}, scratch=50.0)
    assert "LunarLander width 8 (every objective but rusu)" in at.scratch_sentence(at.summarize({"c": most}))
    # nothing detectable anywhere: said as such, with no cell named
    same = study("LunarLander-v3", {o: 50.0 for o in OBJ}, {}, scratch=50.0)
    assert at.scratch_sentence(at.summarize({"c": same})).endswith("no objective differs detectably from it anywhere.")


def test_the_reach_sentence_says_where_only_dagger_gets_there() -> None:
    def curve(objective: str, source: str, means: list[float]) -> dict:
        points = [{"budget": b, "return_pct": {"mean": m}} for b, m in zip((1_000, 10_000, 100_000), means)]
        return {"objective": objective, "source": source, "points": points}

    scratch = [{"budget": 100_000, "return_pct": {"mean": 70.0}}]
    width = {"width": 8, "scratch": scratch, "curves": [curve("hard", "teacher", [50.0, 60.0, 65.0])],
             "dagger_curves": [curve("hard", "dagger", [55.0, 72.0, 80.0])]}  # fmt: skip
    summary = {"tasks": [{"env_id": "LunarLander-v3", "budgets": [width]}]}
    said = reach_sentence(summary)
    assert "LunarLander width 8 (70% at 100,000): no objective on the teacher's states within the budgets measured, " \
           "hard with DAgger at 10,000." in said  # fmt: skip
    # the teacher's states get there first: DAgger is not mentioned
    width["curves"] = [curve("hard", "teacher", [71.0, 72.0, 73.0])]
    assert reach_sentence(summary).endswith("(70% at 100,000): hard at 1,000.")


def test_table_rows_aggregate_and_rusu_speak_of_distilled_students_only() -> None:
    a = study("CartPole-v1", {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, {}, scratch=100.0)
    b = study("Acrobot-v1", {"hard": 90, "hinton": 95, "rusu": 99, "mse": 10}, {}, scratch=100.0)
    s = at.summarize({"a": a, "b": b})
    assert [(r["task"], r["objective"]) for r in s["rows"]][:5] == [("CartPole-v1", o) for o in (*OBJ, "scratch")]
    assert s["aggregate"]["columns"] == 2 and s["aggregate"]["runs"] == 6
    assert s["aggregate"]["estimates"]["rusu"]["mean"]["mean"] == pytest.approx(0.99)
    assert s["aggregate"]["below_half"]["mse"] == 1.0 and s["aggregate"]["below_half"]["hard"] == 0.0
    said = at.aggregate_sentence(s) if hasattr(at, "aggregate_sentence") else at.verdict(s)
    assert "mean" in said and "below half" in said
    # the baseline (at 100%) is never "the best objective" against Rusu et al.'s range
    assert [(r["task"], r["objective"], r["where"]) for r in s["rusu"]] == [
        ("CartPole-v1", "hard", "within"), ("Acrobot-v1", "rusu", "within")]  # fmt: skip
    c = study("LunarLander-v3", {o: 50 for o in OBJ}, {}, seeds=2)  # other run counts: no pooled aggregate
    assert at.summarize({"a": a, "c": c})["aggregate"] is None
    with pytest.raises(ValueError, match="both studies of CartPole-v1"):
        at.summarize({"a": a, "a2": a})


def test_the_command_writes_the_files_and_refuses_bad_input(tmp_path: Path, capsys) -> None:
    for name, env_id in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1")):
        (tmp_path / name).mkdir()
        results = study(env_id, {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, {"hard - mse": (90, 80, 99, 0.001)})
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    assert main(["tasks", str(tmp_path / "cp"), str(tmp_path / "ac"), "-o", str(tmp_path / "sum")]) == 0
    saved = json.loads((tmp_path / "sum" / "tasks.json").read_text())
    assert len(saved["tests"]) == 2 and saved["provenance"]["code_hash"]
    assert "| Acrobot | 8 | 10% | hard (lr 0.001, 1,000 steps) |" in (tmp_path / "sum" / "tasks.md").read_text()
    assert "<table>" in (tmp_path / "sum" / "index.html").read_text()
    (tmp_path / "nofair").mkdir()
    (tmp_path / "nofair" / "results.json").write_text(json.dumps({"fair": {"widths": []}}))
    for bad, message in (([str(tmp_path / "none")], "no results.json"), ([str(tmp_path / "nofair")], "no fair comparison"),
                         ([str(tmp_path / "cp"), str(tmp_path / "cp")], "given twice")):  # fmt: skip
        capsys.readouterr()
        assert main(["tasks", *bad, "-o", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_a_family_too_large_for_its_runs_says_it_cannot_rank() -> None:
    pairs = {"hard - mse": (90.0, 80.0, 99.0, 0.125)}
    a = study("CartPole-v1", {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, pairs)
    for s in a["fair"]["widths"][0]["pairs"].values():
        s["p_floor"] = 0.125
    summary = at.summarize({"a": a})
    assert summary["power"] == {"tests": 1, "needed": 0.05, "smallest_p": 0.125, "can_reject": False}
    text = at.verdict(summary)
    assert "these runs cannot order the objectives across tasks" in text and "smallest p-value is 0.12" in text
    assert "lead (no objective ordered above)" not in text


@pytest.mark.parametrize(
    "kinds, family",
    [
        (
            (None, None),
            "The students are the study's students (LayerNorm, dropout 0.05).",
        ),  # recorded before the choice
        (("plain", "plain"), "The students are plain MLP students (Linear-ReLU, no LayerNorm or dropout)."),
        (
            ("plain", "study"),
            "The students are plain MLP students (Linear-ReLU, no LayerNorm or dropout) (CartPole) and the study's "
            "students (LayerNorm, dropout 0.05) (Acrobot).",
        ),
    ],
)
def test_the_verdict_names_the_students_family_each_study_recorded(kinds, family) -> None:
    means = {"hard": 90, "hinton": 80, "rusu": 99, "mse": 10}
    studies = {}
    for env_id, kind in zip(("CartPole-v1", "Acrobot-v1"), kinds, strict=True):
        results = study(env_id, means, {})
        if kind is not None:
            results["fair"]["widths"][0]["student_kind"] = kind
        studies[env_id] = results
    assert family in at.verdict(at.summarize(studies))


def test_an_order_that_changes_with_the_width_within_a_task_is_not_a_reversal_across_tasks() -> None:
    """mse above hard at CartPole's width 64 and below it at width 8, hard above mse on Acrobot: the order changes
    with the width (said so), not with the task (no reversal claimed)."""
    a = study("CartPole-v1", {"hard": 95, "hinton": 90, "rusu": 94, "mse": 40}, {"hard - mse": (55, 40, 70, 0.001)})
    wide = json.loads(json.dumps(a["fair"]["widths"][0])) | {"width": 64, "params_pct": 100.0}
    wide["pairs"] = {"mse - hard": {"difference": {"mean": 3, "low": 1, "high": 5}, "p_value": 0.001, "p_floor": 0.0,
                                    "n": 6}}  # fmt: skip
    a["fair"]["widths"].insert(0, wide)
    b = study("Acrobot-v1", {"hard": 99, "hinton": 95, "rusu": 99, "mse": 20}, {"hard - mse": (79, 60, 90, 0.001)})
    s = at.summarize({"a": a, "b": b})
    assert s["reversals"] == []
    assert s["width_changes"] == [
        {"a": "hard", "b": "mse", "task": "CartPole-v1", "a_above_at": [8], "b_above_at": [64]}
    ]
    said = at.verdict(s)
    assert "no pair of objectives is ordered one way on one task and the other way on another" in said
    assert (
        "the order can change with the student's width: mse above hard at CartPole width 64, below it at width 8"
        in said
    )
    assert "These are two small gymnasium tasks" in said


def test_the_page_names_the_steps_commit_of_a_reanalysed_study(tmp_path: Path) -> None:
    for name, env_id in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1")):
        (tmp_path / name).mkdir()
        results = study(env_id, {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, {"hard - mse": (90, 80, 99, 0.001)})
        if name == "cp":  # analysed again (run --analysis-only) over steps an earlier commit made
            results["provenance"]["steps"] = [{"commit": "old", "code_hash": "x", "dirty": False}]
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    assert main(["tasks", str(tmp_path / "cp"), str(tmp_path / "ac"), "-o", str(tmp_path / "sum")]) == 0
    saved = json.loads((tmp_path / "sum" / "tasks.json").read_text())
    assert [t["steps_commits"] for t in saved["tasks"]] == [["old"], []]
    page = (tmp_path / "sum" / "index.html").read_text()
    assert "commit abc, its steps at old)" in page and page.count("its steps at") == 1
