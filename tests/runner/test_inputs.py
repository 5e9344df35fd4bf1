"""Tests of distill_lib.runner.inputs: what only your files can tell is checked once, before a study starts."""

from __future__ import annotations

import pytest
import torch
from conftest import SMALL, plan_for

from distill_lib.core.schema import ParamError
from distill_lib.rl.tasks import teacher_network
from distill_lib.runner.inputs import check_inputs


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ("nan", "0.weight holds NaN or infinite weights"),
        ("shape", "0.weight has shape"),
        ("junk", "not a loadable weights-only state dict"),
    ],
)
def test_a_bad_checkpoint_plans_but_is_refused_before_anything_runs(tmp_path, damage, match):
    path = tmp_path / "mine.pt"
    state = teacher_network("Acrobot-v1").state_dict()
    if damage == "nan":
        state["0.weight"][0, 0] = float("nan")
    if damage == "shape":
        state = teacher_network("Acrobot-v1", hidden=32).state_dict()
    torch.save(state, path) if damage != "junk" else path.write_bytes(b"not a checkpoint")
    args = [*SMALL, "-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(path), "-p", "teacher_hidden", "64",
            "-p", "real_task_widths", "[8]"]  # fmt: skip
    plan = plan_for(args, tmp_path / "out")  # the planner reads no file
    with pytest.raises(ParamError, match=f"^teacher_checkpoint: .*{match}") as err:
        check_inputs(plan)
    assert "\n" not in str(err.value)


def test_good_inputs_pass(tmp_path):
    path = tmp_path / "mine.pt"
    torch.save(teacher_network("Acrobot-v1").state_dict(), path)
    args = [*SMALL, "-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(path), "-p", "teacher_hidden", "64",
            "-p", "real_task_widths", "[8]"]  # fmt: skip
    check_inputs(plan_for(args, tmp_path / "out"))
