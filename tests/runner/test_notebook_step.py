"""Tests of distill_lib.runner.notebook_step: a notebook plans the study as the runner does and runs its step."""

from __future__ import annotations

import pytest
from conftest import SMOKE, plan_for

from distill_lib.core.schema import ParamError
from distill_lib.experiments import EXPERIMENTS
from distill_lib.runner.notebook_step import planned_step


def test_a_notebook_finds_the_runners_step_from_the_injected_parameters(tmp_path):
    plan = plan_for(SMOKE, tmp_path)
    for step in plan.steps[:-1]:  # every step but the analysis
        experiment = EXPERIMENTS[step.experiment]
        _, found, config = planned_step(experiment, step.notebook_parameters)
        assert (found.name, found.folder, found.upstream) == (step.name, step.folder, step.upstream)
        assert config == experiment.step_type.from_params(step.parameters)


def test_by_hand_the_defaults_decide_and_the_per_step_values_pick_the_step(tmp_path):
    namespace = {"mode": "hard_only", "work_dir": str(tmp_path)}
    plan, step, config = planned_step(EXPERIMENTS["comparison"], namespace)
    assert step.name == "hard_only" and config.alpha == 0.0 and config.mode == "hard_only"
    assert step.upstream == {"world": plan.step("world").folder}
    _, fair, _ = planned_step(EXPERIMENTS["fair"], {"fair_width": 8, "work_dir": str(tmp_path)})
    assert fair.name == "fair w=8"


def test_a_step_the_study_does_not_run_is_named_in_one_line(tmp_path):
    with pytest.raises(ParamError, match=r"^fair: fair_width=16 names no step .*\(its steps: w=32, w=8\)$"):
        planned_step(EXPERIMENTS["fair"], {"fair_width": 16, "work_dir": str(tmp_path)})
    with pytest.raises(ParamError, match="source='file'"):
        planned_step(EXPERIMENTS["real_task"], {"source": "file", "work_dir": str(tmp_path), "states_file": "x.npy",
                                                "teacher_checkpoint": "t.pt"})  # fmt: skip
