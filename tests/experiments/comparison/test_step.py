"""Tests of distill_lib.experiments.comparison: one seed-compatible run per mode, and the table."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from conftest import run_step

from distill_lib.core.config import RunConfig
from distill_lib.core.data import synthetic_states
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.core.training import train_student
from distill_lib.experiments import comparison, world
from distill_lib.experiments.base import load_step
from distill_lib.experiments.comparison import section, step

SMALL = {"seed": 3, "teacher_hidden": 16, "n_states": 200, "epochs": 2, "batch_size": 32}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    run_step(world.EXPERIMENT, SMALL, work)
    config = comparison.ComparisonConfig.from_params(SMALL)
    out = {}
    for mode in step.units(config).steps:
        record, folder = run_step(comparison.EXPERIMENT, {**SMALL, "mode": mode}, work)
        out[mode] = (record, folder)
    return config, out


def test_a_step_is_the_seed_compatible_run_on_the_world_steps_world(runs):
    _, out = runs
    record, folder = out["blended"]
    cfg = RunConfig(seed=3, teacher_hidden=16, n_states=200, epochs=2, batch_size=32, mode="blended", alpha=0.7)
    alone = train_student(
        build_teacher(3, 8, 16, 4), build_student(3, 8, 16, 4), torch.from_numpy(synthetic_states(3, 200, 8)), cfg
    )
    assert record.history == alone.history and record.config == cfg
    student, config = comparison.load_student(folder)
    assert config == cfg and all(torch.equal(alone.final_state[k], v) for k, v in student.state_dict().items())
    assert load_step(folder, comparison.EXPERIMENT) == record


def test_units_are_the_modes_with_their_alpha():
    config = comparison.ComparisonConfig(modes=["soft_only", "blended"], alpha=0.4)
    assert step.units(config).steps == {
        "soft_only": {"mode": "soft_only", "alpha": 1.0},
        "blended": {"mode": "blended", "alpha": 0.4},
    }


def test_summary_rows_follow_modes_and_name_what_is_missing(runs):
    config, out = runs
    records = {m: r for m, (r, _) in out.items()}
    summary = comparison.summarize(config, records)
    assert [r.mode for r in summary.results] == ["hard_only", "blended", "soft_only"] and summary.missing_modes == []
    row = summary.results[0]
    assert row.final_action_agreement == records["hard_only"].final["action_agreement"] and row.alpha == 0.0
    partial = comparison.summarize(config, {"blended": records["blended"]})
    assert partial.missing_modes == ["hard_only", "soft_only"]
    json_part = summary.to_json()
    assert (
        set(json_part) == {"study", "results", "missing_modes", "notes"} and json_part["study"]["modes"] == config.modes
    )
    part = section.section(summary)
    rows = list(csv.DictReader(io.StringIO(part.csv)))
    assert [r["mode"] for r in rows] == [
        "hard_only",
        "blended",
        "soft_only",
    ] and "final action agreement" in part.headline
    assert set(part.figures) == {"learning_curves.png", "final_metrics.png"}


def test_a_step_without_its_world_fails_naming_it(tmp_path):
    with pytest.raises(ValueError, match="reads the finished steps of world: run them first"):
        run_step(comparison.EXPERIMENT, {**SMALL, "mode": "blended"}, tmp_path)


def test_sentences_with_one_mode_do_not_compare_it_with_itself(runs):
    config, out = runs
    one = comparison.summarize(config, {"blended": out["blended"][0]})
    text = section.interpretation(one.results, one.missing_modes)
    assert text.startswith("Only blended finished (hard_only, soft_only did not run in this work folder)")
    assert "best by" not in text and "worst by" not in text
    assert section.interpretation([], ["blended"]).startswith("No mode finished")
    full = comparison.summarize(config, {m: r for m, (r, _) in out.items()})
    assert "matched best by" in section.interpretation(full.results)
