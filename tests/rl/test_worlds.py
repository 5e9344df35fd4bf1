"""Tests of distill_lib.rl.worlds: where a study's teacher and states come from, and the checks of your files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.core.data import synthetic_states
from distill_lib.core.networks import build_teacher
from distill_lib.core.schema import ParamError
from distill_lib.rl.worlds import WorldParams, build_world


def test_a_synthetic_world_is_the_seed_protocols():
    world = build_world(WorldParams(seed=3, n_states=40, teacher_hidden=16))
    assert np.array_equal(world.states, synthetic_states(3, 40, 8)) and world.sizes == (8, 16, 4)


def test_a_task_world_needs_the_tasks_sizes():
    with pytest.raises(ParamError, match="^input_dim=8: source='task' takes the sizes of CartPole-v1's teacher"):
        WorldParams(source="task")
    params = WorldParams(source="task", input_dim=4, output_dim=2, buffer_episodes=1)
    assert params.inputs() == [params.teacher_path]


def test_your_files_are_checked_before_a_study_not_by_the_config(tmp_path):
    """Building the config reads nothing (the planner is pure); ``check_files`` reads and refuses."""
    states, teacher = tmp_path / "s.npy", tmp_path / "t.pt"
    np.save(states, np.zeros((1, 8), np.float32))
    state = build_teacher(0, 8, 16, 4).state_dict()
    state["0.weight"][0, 0] = float("nan")
    torch.save(state, teacher)
    params = WorldParams(source="file", states_file=str(states), teacher_checkpoint=str(teacher), teacher_hidden=16)
    with pytest.raises(ParamError, match="1 state\\(s\\); at least 2 are needed"):
        params.check_files()
    np.save(states, np.zeros((5, 8), np.float32))
    with pytest.raises(ParamError, match="NaN or infinite weights"):
        params.check_files()
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), teacher)
    params.check_files()  # now both are fine
    assert build_world(params).states.shape == (5, 8)


def test_a_task_world_takes_your_teacher_only_as_a_qnetwork_of_teacher_hidden(tmp_path):
    """The world saves its teacher as a QNetwork state dict of ``teacher_hidden``: another width or form is refused
    before the study starts, not when the comparison reads the world back."""
    from conftest import plain_qnetwork
    from torch import nn

    sizes = dict(source="task", input_dim=4, output_dim=2, buffer_episodes=1)
    torch.save(plain_qnetwork(4, 32, 2).state_dict(), tmp_path / "q32.pt")
    WorldParams(**sizes, teacher_hidden=32, teacher_checkpoint=str(tmp_path / "q32.pt")).check_files()
    with pytest.raises(
        ParamError, match=r"a QNetwork of teacher_hidden=64; .*q32.pt is this project's QNetwork \(4-32"
    ):
        WorldParams(**sizes, teacher_hidden=64, teacher_checkpoint=str(tmp_path / "q32.pt")).check_files()
    mlp = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
    torch.save(mlp.state_dict(), tmp_path / "mlp.pt")
    with pytest.raises(ParamError, match=r"mlp.pt is an MLP state dict \(4-32-32-2.*studied by the real-task parts"):
        WorldParams(**sizes, teacher_hidden=32, teacher_checkpoint=str(tmp_path / "mlp.pt")).check_files()
