"""Tests of distill_lib.experiments.data: the world every objective shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.core.data import synthetic_states
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.experiments import data
from distill_lib.experiments.base import execute

PARAMS = {"seed": 1, "teacher_hidden": 16, "n_states": 100}


def test_synthetic_world_is_the_seed_compatible_one(tmp_path):
    execute(data.EXPERIMENT, PARAMS, tmp_path)
    world = data.load_world(tmp_path, PARAMS)
    assert np.array_equal(world.states, synthetic_states(1, 100, 8))
    expected = build_teacher(1, 8, 16, 4).state_dict()
    assert all(torch.equal(expected[k], v) for k, v in world.teacher.state_dict().items())
    init = build_student(1, 8, 16, 4).state_dict()
    assert all(torch.equal(init[k], v) for k, v in world.new_student().state_dict().items())
    assert not world.teacher.training and world.record.student_width == 16


def test_a_world_of_other_parameters_is_not_found(tmp_path):
    execute(data.EXPERIMENT, PARAMS, tmp_path)
    with pytest.raises(ValueError, match="run the data notebook"):
        data.load_world(tmp_path, {**PARAMS, "seed": 2})


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"source": "web"}, "source='web'"),
        ({"source": "file"}, "states_file=None: is required with source='file'"),
        ({"source": "cartpole"}, "input_dim=8: source='cartpole' needs input_dim=4"),
        ({"n_states": 1}, "n_states=1"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, params, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        execute(data.EXPERIMENT, {**PARAMS, **params}, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_resolve_sets_n_states_from_the_users_file(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((37, 8), np.float32))
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), tmp_path / "t.pt")
    files = {"source": "file", "states_file": str(tmp_path / "s.npy"), "teacher_checkpoint": str(tmp_path / "t.pt")}
    resolved = data.resolve({**PARAMS, **files})
    assert resolved["n_states"] == 37
    record, _ = execute(data.EXPERIMENT, resolved, tmp_path / "w")
    assert record.n_states == 37 and record.source == "file"
    assert data.resolve(PARAMS) == PARAMS  # synthetic: nothing derived


def test_teacher_overview_draws_both_panels():
    q = np.random.default_rng(0).standard_normal((50, 4))
    fig = data.teacher_overview(q)
    assert len(fig.axes) == 2
    assert np.allclose(data.action_gaps(np.array([[1.0, 3.0, 2.0]])), [1.0])
