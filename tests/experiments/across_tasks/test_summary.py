"""Tests of distill_lib.experiments.across_tasks: one Holm family over every task, reversals, leaders, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill_lib.experiments import across_tasks as at
from distill_lib.runner.cli import main

OBJ = ("hard", "soft", "blended", "mse")


def _ci(values: list[float]) -> dict:
    m = sum(values) / len(values)
    return {"mean": m, "low": m - 1, "high": m + 1, "n": len(values), "values": values}


def study(env_id: str, means: dict[str, float], pairs: dict[str, tuple[float, float]], seeds: int = 4) -> dict:
    """A results.json with one fair width: each objective's mean return %, and 'a - b': (difference, p)."""
    arms = [{"arm": o, "label": o, "return_pct": _ci([means[o]] * seeds), "action_agreement": _ci([0.9] * seeds),
             "own_agreement": _ci([0.8] * seeds)} for o in OBJ]  # fmt: skip
    width = {
        "width": 8, "params_pct": 10.0, "n_seeds": seeds, "teacher": {"env_id": env_id, "test_return": 1.0},
        "arms": arms,
        "pairs": {k: {"difference": {"mean": d}, "p_value": p, "n": seeds} for k, (d, p) in pairs.items()},
    }  # fmt: skip
    scratch = {"width": 8, **{k: _ci([50.0] * 3) for k in ("return_pct", "action_agreement", "own_agreement")}}
    return {"fair": {"widths": [width]}, "baselines": {"scratch": [scratch], "teachers": None},
            "provenance": {"commit": "abc", "code_hash": "def"}}  # fmt: skip


def test_one_holm_family_over_all_tasks_decides_the_leaders() -> None:
    # p = 0.02 is significant alone, but not after Holm over the 2 tests (0.04, 0.04 -> both 0.04 < 0.05) ...
    a = study("CartPole-v1", {"hard": 100, "soft": 80, "blended": 99, "mse": 10}, {"hard - soft": (20, 0.02)})
    b = study("Acrobot-v1", {"hard": 90, "soft": 95, "blended": 99, "mse": 10}, {"soft - hard": (5, 0.02)})
    s = at.summarize({"a": a, "b": b})
    assert [t["p_holm"] for t in s["tests"]] == [0.04, 0.04] and s["family"].startswith("every pair")
    assert s["tests"][1]["difference"] == -5  # stored as hard - soft whatever order the study used
    assert s["reversals"] == [{"a": "hard", "b": "soft", "a_above_on": "CartPole-v1", "b_above_on": "Acrobot-v1"}]
    leaders = {c["task"]: c["leaders"] for c in s["leaders"]}
    assert leaders == {"CartPole-v1": ["hard", "blended", "mse"], "Acrobot-v1": ["soft", "blended", "mse"]}
    assert "does not hold across tasks: hard above soft on CartPole but below it on Acrobot" in at.verdict(s)
    # ... and a third test in the family makes them too weak: no reversal is claimed
    c = study("LunarLander-v3", {o: 50 for o in OBJ}, {"hard - mse": (1, 0.5)})
    s3 = at.summarize({"a": a, "b": b, "c": c})
    assert [t["p_holm"] for t in s3["tests"]] == [0.06, 0.06, 0.5] and s3["reversals"] == []
    assert "no pair of objectives is detectably ordered one way" in at.verdict(s3)


def test_table_rows_and_baseline_aggregate_and_rusu() -> None:
    a = study("CartPole-v1", {"hard": 100, "soft": 80, "blended": 99, "mse": 10}, {})
    b = study("Acrobot-v1", {"hard": 90, "soft": 95, "blended": 99, "mse": 10}, {})
    s = at.summarize({"a": a, "b": b})
    assert [(r["task"], r["objective"]) for r in s["rows"]][:5] == [("CartPole-v1", o) for o in (*OBJ, "scratch")]
    assert s["aggregate"]["columns"] == 2 and s["aggregate"]["seeds"] == 4
    assert s["aggregate"]["estimates"]["blended"]["iqm"]["mean"] == pytest.approx(0.99)
    assert [(r["task"], r["objective"], r["where"]) for r in s["rusu"]] == [
        ("CartPole-v1", "hard", "within"), ("Acrobot-v1", "blended", "within")]  # fmt: skip
    assert "hard, soft, blended and mse lead (no objective detectably above) in every cell" in at.verdict(s)
    # unequal seed counts: no pooled aggregate (rliable needs one runs x tasks matrix)
    c = study("LunarLander-v3", {o: 50 for o in OBJ}, {}, seeds=3)
    assert at.summarize({"a": a, "c": c})["aggregate"] is None
    with pytest.raises(ValueError, match="both studies of CartPole-v1"):
        at.summarize({"a": a, "a2": a})


def test_the_command_writes_the_files_and_refuses_bad_input(tmp_path: Path, capsys) -> None:
    for name, env_id in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1")):
        (tmp_path / name).mkdir()
        results = study(env_id, {"hard": 100, "soft": 80, "blended": 99, "mse": 10}, {"hard - mse": (90, 0.001)})
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    assert main(["tasks", str(tmp_path / "cp"), str(tmp_path / "ac"), "-o", str(tmp_path / "sum")]) == 0
    saved = json.loads((tmp_path / "sum" / "tasks.json").read_text())
    assert len(saved["tests"]) == 2 and saved["provenance"]["code_hash"]
    assert "| Acrobot | 8 | 10% | hard |" in (tmp_path / "sum" / "tasks.md").read_text()
    assert "<table>" in (tmp_path / "sum" / "index.html").read_text()
    (tmp_path / "nofair").mkdir()
    (tmp_path / "nofair" / "results.json").write_text(json.dumps({"fair": {"widths": []}}))
    for bad, message in (([str(tmp_path / "none")], "no results.json"), ([str(tmp_path / "nofair")], "no fair comparison"),
                         ([str(tmp_path / "cp"), str(tmp_path / "cp")], "given twice")):  # fmt: skip
        capsys.readouterr()
        assert main(["tasks", *bad, "-o", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_a_family_too_large_for_its_seeds_says_it_cannot_rank() -> None:
    # 4 seeds: an exact sign-flip test cannot go below 2 / 2^4 = 0.125; one test would need < 0.05
    pairs = {"hard - mse": (90.0, 0.125)}
    a = study("CartPole-v1", {"hard": 100, "soft": 80, "blended": 99, "mse": 10}, pairs)
    for s in a["fair"]["widths"][0]["pairs"].values():
        s["p_floor"] = 0.125
    summary = at.summarize({"a": a})
    assert summary["power"] == {"tests": 1, "needed": 0.05, "smallest_p": 0.125, "can_reject": False}
    text = at.verdict(summary)
    assert "these seeds cannot rank the objectives across tasks" in text and "smallest p-value is 0.12" in text
    assert "lead (no objective detectably above)" not in text
    assert at.summarize({"a": study("CartPole-v1", {o: 1 for o in OBJ}, {"hard - mse": (1, 0.01)})})["power"][
        "can_reject"
    ]


def test_scratch_above_every_objective_is_said() -> None:
    # the fake studies' scratch baseline is 50%: above LunarLander's objectives (all 40), below CartPole's best
    a = study("CartPole-v1", {"hard": 100, "soft": 80, "blended": 99, "mse": 10}, {})
    c = study("LunarLander-v3", {o: 40 for o in OBJ}, {})
    text = at.scratch_sentence(at.summarize({"a": a, "c": c}))
    assert "above the best distilled objective's mean at LunarLander width 8 (50.0% against hard's 40.0%)" in text
    assert "CartPole" not in text
    assert at.scratch_sentence(at.summarize({"a": a})).startswith("No distilled objective's mean falls below")
    # at the teacher's own size (self-distillation) the same gap is not the compression question: left out
    c["fair"]["widths"][0]["params_pct"] = 100.0
    assert at.scratch_sentence(at.summarize({"a": a, "c": c})).startswith("No distilled objective's mean falls below")
