"""Tests of distill_lib.runner.plan: the planner is pure (no process, nothing written) and complete."""

from __future__ import annotations

import pytest
from conftest import ROOT, SMOKE, plan_for

from distill_lib.experiments import EXPERIMENTS
from distill_lib.runner.plan import plan_study


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return plan_for(SMOKE, tmp_path_factory.mktemp("out") / "study")


def test_steps_names_notebooks_and_dependencies(plan):
    names = [s.name for s in plan.steps]
    assert names == [
        "data",
        "hard_only",
        "blended",
        "soft_only",
        "seeds",
        "sweep T=1",
        "sweep T=3",
        "sweep mse",
        "cartpole",
        "baselines teachers",
        "baselines w=8",
        "fair w=8",
        "sources w=8",
        "analysis",
    ]
    step = {s.name: s for s in plan.steps}
    assert step["sources w=8"].needs == ("fair w=8",)  # it reads the width's selected settings
    assert step["baselines w=8"].parameters["scratch_width"] == 8 and step["baselines teachers"].needs == ()
    assert step["blended"].needs == ("data",) and step["seeds"].needs == ("data",) and step["cartpole"].needs == ()
    assert step["fair w=8"].needs == () and step["fair w=8"].parameters["fair_width"] == 8
    assert step["fair w=8"].page == "07_fair.html"  # one width: one page, named after the notebook
    assert set(step["analysis"].needs) == set(names[:-1])
    assert step["blended"].output.name == "02_train_blended.ipynb" and step["seeds"].output.name == "04_seeds.ipynb"
    assert step["sweep T=1"].page == "05_sweep_T=1.html"
    assert step["blended"].parameters["mode"] == "blended" and step["hard_only"].parameters["alpha"] == 0.0
    assert step["sweep mse"].parameters["sweep_loss_fn"] == "mse"
    assert "modes" not in step["blended"].parameters  # only what its notebook declares
    assert step["blended"].folder.parent == plan.work_dir / "comparison"


def test_nothing_is_written(tmp_path):
    plan_for(SMOKE, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_each_step_key_follows_what_its_notebook_reads(tmp_path):
    base = {s.name: s.key for s in plan_for(SMOKE, tmp_path).steps}
    alpha = {s.name: s.key for s in plan_for([*SMOKE, "-p", "alpha", "0.5"], tmp_path).steps}
    changed = {n for n in base if base[n] != alpha[n]}
    # fair: blended's fixed alpha; sources: it trains at fair's settings; the DQN baselines read no alpha
    assert changed == {"blended", "seeds", "cartpole", "fair w=8", "sources w=8", "analysis"}
    epochs = {s.name: s.key for s in plan_for([*SMOKE, "-p", "epochs", "3"], tmp_path).steps}
    assert {n for n in base if base[n] != epochs[n]} == set(base) - {"data", "baselines teachers", "baselines w=8"}


def test_other_sources_leave_out_what_needs_synthetic_worlds(tmp_path):
    plan = plan_for([*SMOKE, "-f", str(ROOT / "params" / "cartpole.yaml")], tmp_path)
    names = [s.name for s in plan.steps]
    assert not any(n.startswith("sweep") for n in names) and "seeds" in names
    assert plan.step("seeds").parameters["world_seeds"] == [] and plan.params["n_states"] > 100
    assert any("world seeds" in n for n in plan.notes) and any("sweep" in n for n in plan.notes)


def test_empty_lists_turn_experiments_off_without_notes(tmp_path):
    args = [
        *SMOKE,
        "-p",
        "world_seeds",
        "[]",
        "-p",
        "training_seeds",
        "[]",
        "-p",
        "sweep_temperatures",
        "[]",
        "-p",
        "cartpole_widths",
        "[]",
        "-p",
        "fair_widths",
        "[]",
    ]
    plan = plan_for(args, tmp_path)
    assert [s.name for s in plan.steps] == [
        "data",
        "hard_only",
        "blended",
        "soft_only",
        "analysis",
    ] and plan.notes == []


@pytest.mark.parametrize(
    "name",
    ["mode", "sweep_temperature", "sweep_loss_fn", "fair_width", "sources_width", "baseline", "work_dir", "out_dir"],
)
def test_parameters_the_runner_sets_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=f"parameter {name}="):
        plan_study([], [(name, "x")], tmp_path)


def test_every_experiment_is_planned_from_the_registry(plan):
    assert list(plan.experiments) == list(EXPERIMENTS) and set(plan.configs) == set(EXPERIMENTS)


def test_only_the_default_study_writes_reports():
    reference = [str(ROOT / "params" / "reference.yaml")]
    with pytest.raises(ValueError, match="not the default study.*-o OUTDIR"):
        plan_study(reference, [], None)
    with pytest.raises(ValueError, match="reports/ holds the committed results"):
        plan_study(reference, [], ROOT / "reports")
    with pytest.raises(ValueError, match="not the default study"):
        plan_study([], [("seed", "3")], None)
    assert plan_study([], [("seed", "42")], None).out_dir == ROOT / "reports"  # the same study, said twice
    assert plan_study([], [], None).work_dir == ROOT / "reports" / "work"
