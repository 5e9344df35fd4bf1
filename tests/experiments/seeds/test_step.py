"""Tests of distill_lib.experiments.seeds: many seeds in one batch, their summary and their reading."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_step

from distill_lib.core.config import RunConfig
from distill_lib.core.data import synthetic_world
from distill_lib.experiments import seeds, world
from distill_lib.experiments.seeds import section as seeds_report
from distill_lib.experiments.seeds import step

BASE = RunConfig(n_states=200, epochs=2, teacher_hidden=16, batch_size=32)
MODES = {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}
SMALL = {
    "n_states": 200,
    "epochs": 2,
    "teacher_hidden": 16,
    "batch_size": 32,
    "world_seeds": [0, 1, 2],
    "training_seeds": [0, 1],
    "n_bins": 4,
}


@pytest.fixture(scope="module")
def world_record():
    return seeds.run_seeds("world", [0, 1, 2], MODES, BASE, n_bins=4)


def test_world_seeds_change_the_teacher_and_keep_the_modes_paired(world_record):
    runs = world_record.runs
    assert [(r.seed, r.mode) for r in runs] == [(s, m) for s in (0, 1, 2) for m in MODES]
    for r in runs:
        assert sum(b.n for b in r.gap_bins) == BASE.n_val and len(r.gap_bins) == 4
        gaps = [(b.gap_low, b.gap_high) for b in r.gap_bins]
        assert all(lo <= hi for lo, hi in gaps) and all(gaps[k][1] <= gaps[k + 1][0] for k in range(3))
    t0, _, _ = synthetic_world(0, BASE)
    t1, _, _ = synthetic_world(1, BASE)
    assert not np.allclose(t0[0].weight.numpy(), t1[0].weight.numpy())


def test_summary_has_ci_per_mode_and_paired_tests(world_record):
    summary = seeds.summarize_kind(world_record)
    ci = summary["per_mode"]["action_agreement"]["hard_only"]
    values = world_record.values("hard_only", "action_agreement")
    assert ci["mean"] == pytest.approx(np.mean(values)) and ci["low"] <= ci["mean"] <= ci["high"]
    assert set(summary["pairs"]["action_agreement"]) == {
        "hard_only - blended",
        "hard_only - soft_only",
        "blended - soft_only",
    }
    pair = summary["pairs"]["action_agreement"]["hard_only - soft_only"]
    diffs = values - world_record.values("soft_only", "action_agreement")
    assert pair["difference"]["mean"] == pytest.approx(np.mean(diffs))
    assert pair["p_value"] >= 0.25 - 1e-9  # 3 seeds: a sign-flip test cannot go lower than 2/8
    assert pair["verdict"].startswith("no detectable difference")
    assert list(summary["gap"]) == ["hard_only", "blended", "soft_only"]


def test_the_step_runs_both_kinds_on_the_world_steps_world(tmp_path):
    run_step(world.EXPERIMENT, SMALL, tmp_path)
    record, _ = run_step(seeds.EXPERIMENT, SMALL, tmp_path)
    assert set(record.sections) == {"world", "training"}
    training = record.sections["training"]
    assert training.kind == "training" and len(training.runs) == 2 * 3
    a, b = (r for r in training.runs if r.mode == "hard_only")
    assert a.final != b.final  # different init and stream
    summary = seeds.summarize(seeds.SeedsConfig.from_params(SMALL), {"seeds": record})
    assert set(summary.to_json()["seeds"]) == {"world", "training"}
    section = seeds.EXPERIMENT.section(summary, {})
    assert "World seeds (n = 3)" in section.text and "Training seeds (n = 2)" in section.text
    assert "KL(teacher \\|\\| student)" in section.text  # the bars are escaped, the table stays a table
    assert set(section.figures) == {"seeds_world.png", "seeds_training.png", "gap_agreement.png"}


def test_bad_seed_lists_are_refused():
    with pytest.raises(ValueError, match="listed twice"):
        seeds.SeedsConfig(world_seeds=[1, 1])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seeds.SeedsConfig(training_seeds=[3])
    with pytest.raises(ValueError, match=r"n_bins=600: must be in \[1, 500\]"):
        seeds.SeedsConfig(n_bins=600)
    with pytest.raises(ValueError, match="need the study's world"):
        seeds.run_seeds("training", [0, 1], MODES, BASE)


def test_other_sources_keep_only_the_training_seeds():
    units = step.units(seeds.SeedsConfig(source="task", input_dim=4, output_dim=2))
    assert units.steps == {"seeds": {"world_seeds": []}} and "world seeds" in units.note
    assert step.units(seeds.SeedsConfig(world_seeds=[], training_seeds=[])).steps == {}


def _gap(agreements: list[float], regrets: list[float], edges: list[float]) -> dict:
    return {
        "m": [
            {"bin": k, "agreement": a, "mean_regret": r, "gap_low": edges[k], "gap_high": edges[k + 1]}
            for k, (a, r) in enumerate(zip(agreements, regrets, strict=True))
        ]
    }


def test_gap_sentences_follow_the_bins():
    edges = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    near_ties = seeds_report.gap_text(_gap([0.6, 0.9, 1.0, 1.0, 1.0], [0.001] * 5, edges))
    assert "Disagreements concentrate" in near_ties and "small by that yardstick" in near_ties
    spread = seeds_report.gap_text(_gap([0.9, 0.9, 0.9, 0.9, 0.6], [0.001] * 5, edges))
    assert "do not concentrate" in spread
    costly = seeds_report.gap_text(_gap([0.6, 0.9, 1.0, 1.0, 1.0], [0.2] * 5, edges))
    assert "not small by that yardstick" in costly


def _summary(diff_mean: float, low: float, high: float, p: float) -> dict:
    """A one-metric summary of two objectives with a chosen paired difference."""
    verdict = "no detectable difference" if low <= 0 <= high or p >= 0.05 else "hard_only higher"
    pair = {"difference": {"mean": diff_mean, "low": low, "high": high}, "p_text": f"p = {p}", "verdict": verdict}
    per_mode = {"hard_only": {"mean": 0.9}, "soft_only": {"mean": 0.9 - diff_mean}}
    return {
        "kind": "world",
        "n_seeds": 20,
        "pairs": {"action_agreement": {"hard_only - soft_only": pair}},
        "per_mode": {"action_agreement": per_mode},
    }


def test_a_verdict_sentence_follows_its_numbers():
    found = seeds_report.metric_verdict(_summary(0.006, 0.002, 0.01, 0.01), "action_agreement")
    assert found == "Top-1 agreement: hard_only higher than soft_only by 0.6 points (95% CI [0.2, 1], p = 0.01)."
    flipped = seeds_report.metric_verdict(_summary(-0.006, -0.01, -0.002, 0.01), "action_agreement")
    assert flipped.startswith("Top-1 agreement: soft_only higher than hard_only by 0.6 points")
    nothing = seeds_report.metric_verdict(_summary(0.006, -0.002, 0.01, 0.2), "action_agreement")
    assert nothing == "Top-1 agreement: no two objectives differ detectably (largest mean difference 0.6 points)."
    full = seeds_report.verdicts(_summary(0.006, 0.002, 0.01, 0.01))
    assert full.startswith("Over 20 world seeds") and "Holm-corrected over all 1 comparisons" in full
    assert "no difference can be detected" not in full
    few = seeds_report.verdicts({**_summary(0.006, 0.002, 0.01, 0.01), "n_seeds": 5})
    assert "smallest corrected p-value possible is 0.0625" in few
