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
        "world",
        "hard_only",
        "blended",
        "soft_only",
        "seeds",
        "sweep T=1",
        "sweep T=3",
        "sweep mse",
        "real_task",
        "baselines teachers",
        "baselines w=8",
        "fair w=8",
        "budgets w=8",
        "analysis",
    ]
    step = {s.name: s for s in plan.steps}
    assert step["budgets w=8"].needs == ("fair w=8",)  # it reads the width's selected settings
    assert step["baselines w=8"].parameters["scratch_width"] == 8 and step["baselines teachers"].needs == ()
    assert step["blended"].needs == ("world",) and step["seeds"].needs == ("world",) and step["real_task"].needs == ()
    assert step["fair w=8"].needs == () and step["fair w=8"].parameters["fair_width"] == 8
    assert step["fair w=8"].page == "07_fair.html"  # one width: one page, named after the notebook
    assert set(step["analysis"].needs) == set(names[:-1])
    assert step["blended"].output.name == "02_train_blended.ipynb" and step["seeds"].output.name == "04_seeds.ipynb"
    assert step["sweep T=1"].page == "05_sweep_T=1.html"
    assert step["blended"].parameters["mode"] == "blended" and step["hard_only"].parameters["alpha"] == 0.0
    assert step["sweep mse"].parameters["sweep_loss_fn"] == "mse"
    # every notebook gets the whole study's parameters (it plans the same study) and its own step's values
    assert (
        step["blended"].parameters["modes"] == plan.params["modes"] and step["blended"].parameters["mode"] == "blended"
    )
    assert step["blended"].folder.parent == plan.work_dir / "comparison"
    assert step["blended"].upstream == {"world": step["world"].folder}  # the step it reads
    assert step["budgets w=8"].upstream == {"fair": step["fair w=8"].folder}


def test_nothing_is_written(tmp_path):
    plan_for(SMOKE, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_planning_reads_no_teacher_or_states_file_and_steps_no_environment(tmp_path, monkeypatch):
    """The planner is pure: parameters and file hashes in, steps out (loading and collecting happen in steps)."""
    import gymnasium
    import numpy as np
    import torch

    from distill_lib.core.networks import build_teacher
    from distill_lib.rl.tasks import teacher_network

    np.save(tmp_path / "states.npy", np.zeros((50, 8), np.float32))
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), tmp_path / "teacher.pt")
    torch.save(teacher_network("Acrobot-v1").state_dict(), tmp_path / "acrobot.pt")
    touched = []

    def refuse(what):
        def call(*args, **kwargs):
            touched.append(what)
            raise AssertionError(f"the planner called {what}")

        return call

    for target, name in ((torch, "load"), (np, "load"), (gymnasium.Env, "step"), (gymnasium.Env, "reset"),
                         (gymnasium.vector.VectorEnv, "step"), (gymnasium.vector.VectorEnv, "reset")):  # fmt: skip
        monkeypatch.setattr(target, name, refuse(f"{getattr(target, '__name__', target)}.{name}"))
    files = ["-p", "source", "file", "-p", "states_file", str(tmp_path / "states.npy"),
             "-p", "teacher_checkpoint", str(tmp_path / "teacher.pt"), "-p", "teacher_hidden", "16"]  # fmt: skip
    assert plan_for([*SMOKE, *files], tmp_path / "a").steps
    task = ["-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(tmp_path / "acrobot.pt")]
    assert plan_for([*SMOKE, *task], tmp_path / "b").step("real_task")
    assert plan_for([*SMOKE, "-f", str(ROOT / "params" / "cartpole.yaml")], tmp_path / "c").step("world")
    assert touched == []


def test_each_step_key_follows_what_its_notebook_reads(tmp_path):
    base = {s.name: s.key for s in plan_for(SMOKE, tmp_path).steps}
    alpha = {s.name: s.key for s in plan_for([*SMOKE, "-p", "alpha", "0.5"], tmp_path).steps}
    changed = {n for n in base if base[n] != alpha[n]}
    # fair searches blended's alpha on its own grid and budgets trains at fair's selection: neither reads
    # the study's alpha; nor do the DQN baselines
    assert changed == {"blended", "seeds", "real_task", "analysis"}
    epochs = {s.name: s.key for s in plan_for([*SMOKE, "-p", "epochs", "3"], tmp_path).steps}
    # fair and budgets train for a number of gradient steps (fair_steps), never for epochs
    unchanged = {"world", "baselines teachers", "baselines w=8", "fair w=8", "budgets w=8"}
    assert {n for n in base if base[n] != epochs[n]} == set(base) - unchanged


def test_other_sources_leave_out_what_needs_synthetic_worlds(tmp_path):
    plan = plan_for([*SMOKE, "-f", str(ROOT / "params" / "cartpole.yaml")], tmp_path)
    names = [s.name for s in plan.steps]
    assert not any(n.startswith("sweep") for n in names) and "seeds" in names
    assert plan.step("seeds").parameters["world_seeds"] == []
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
        "real_task_widths",
        "[]",
        "-p",
        "fair_widths",
        "[]",
    ]
    plan = plan_for(args, tmp_path)
    assert [s.name for s in plan.steps] == [
        "world",
        "hard_only",
        "blended",
        "soft_only",
        "analysis",
    ] and plan.notes == []


@pytest.mark.parametrize(
    "name",
    ["mode", "sweep_temperature", "sweep_loss_fn", "fair_width", "budget_width", "baseline", "work_dir", "out_dir"],
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
