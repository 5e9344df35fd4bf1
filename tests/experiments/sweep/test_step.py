"""Tests of distill_lib.experiments.sweep: one cell per temperature, the grid, the heatmaps."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_step

from distill_lib.experiments import sweep
from distill_lib.experiments.sweep import section, step

SMALL = {
    "n_states": 200,
    "epochs": 2,
    "teacher_hidden": 16,
    "batch_size": 32,
    "sweep_alphas": [0.0, 0.5, 1.0],
    "sweep_seeds": [0, 1],
}


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    grid = {**SMALL, "sweep_temperatures": [2.0]}
    kl, _ = run_step(sweep.EXPERIMENT, {**grid, "sweep_temperature": 2.0, "sweep_loss_fn": "kl"}, work)
    mse, _ = run_step(sweep.EXPERIMENT, {**grid, "sweep_temperature": 1.0, "sweep_loss_fn": "mse"}, work)
    return kl, mse


def test_a_cell_trains_every_alpha_and_seed(cells):
    kl, mse = cells
    assert [(r.seed, r.alpha) for r in kl.runs] == [(s, a) for s in (0, 1) for a in (0.0, 0.5, 1.0)]
    assert mse.alphas == [1.0] and sweep.cell_name(1.0, "mse") == "mse" and sweep.cell_name(0.25) == "T=0.25"
    a0 = [r for r in kl.runs if r.alpha == 0.0]
    assert kl.seed_mean(0.0, "regret") == pytest.approx(np.mean([r.final["regret"] for r in a0]))


def test_units_summary_and_section(cells):
    kl, mse = cells
    config = sweep.SweepConfig(**SMALL, sweep_temperatures=[2.0, 3.0])
    units = step.units(config).steps
    assert list(units) == ["T=2", "T=3", "mse"] and units["T=3"] == {"sweep_temperature": 3.0, "sweep_loss_fn": "kl"}
    summary = sweep.summarize(config, {"T=2": kl, "mse": mse})
    temps, alphas, table = sweep.grid([kl, mse], "action_agreement")
    assert temps == [2.0] and alphas == [0.0, 0.5, 1.0] and table.shape == (1, 3)
    assert summary.missing == ["sweep T=3"] and summary.mse_row is not None
    assert summary.to_json()["sweep"]["temperatures"] == [2.0]
    part = section.section(summary, {})
    assert "Not finished: sweep T=3" in part.text and "Best seed-mean top-1 agreement" in part.text
    fig = part.figures["sweep_heatmaps.png"]()
    assert len([a for a in fig.axes if a.get_title()]) == 3
    assert "alpha" in sweep.cell_table(kl) and len(sweep.cell_figure(kl).axes) == 3


def test_no_sweep_for_other_sources_or_without_temperatures():
    assert step.units(sweep.SweepConfig(sweep_temperatures=[])).steps == {}
    other = step.units(sweep.SweepConfig(source="file"))
    assert other.steps == {} and "synthetic worlds" in other.note
    with pytest.raises(ValueError, match="sweep_alphas"):
        sweep.SweepConfig(sweep_alphas=[])
    with pytest.raises(ValueError, match="sweep_temperatures"):
        sweep.SweepConfig(sweep_temperatures=[0.0])


def test_the_verdict_moves_with_the_grid():
    base = sweep.SweepSummary(
        temperatures=[1.0, 2.0],
        alphas=[0.0, 1.0],
        seed_mean={
            "top-1 agreement": [[0.80, 0.82], [0.81, 0.90]],
            "prob. similarity (T = 1)": [[0.7, 0.95], [0.8, 0.9]],
            "regret": [[0.1, 0.1], [0.1, 0.1]],
        },
        mse_row=None,
        seeds=[0, 1],
        missing=[],
        marks=[],
    )
    text = sweep.verdict(base)
    assert "within 10.0 points" in text and "highest at T = 2, alpha = 1" in text and "best at T = 1, alpha = 1" in text
    moved = sweep.SweepSummary(
        **{**base.__dict__, "seed_mean": {**base.seed_mean, "top-1 agreement": [[0.95, 0.82], [0.81, 0.90]]}}
    )
    assert "highest at T = 1, alpha = 0" in sweep.verdict(moved)


def test_the_cell_sentence_names_ties(cells):
    kl, _ = cells
    text = sweep.cell_sentence(kl)
    assert text.startswith("At T=2, top-1 agreement is highest at ")
    from distill_lib.core.config import RunConfig

    tied = sweep.SweepCell(1.0, "kl", [0.0, 0.5, 1.0], [0], RunConfig(), "", [
        step.CellRun(0, a, {"action_agreement": v}, 1) for a, v in ((0.0, 0.5), (0.5, 0.5), (1.0, 0.4))
    ])  # fmt: skip
    assert "highest at alpha = 0 and 0.5 (0.500" in sweep.cell_sentence(tied)
