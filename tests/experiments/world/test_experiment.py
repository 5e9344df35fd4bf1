"""Tests of distill_lib.experiments.world: the world every objective shares, as its step makes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_step

from distill_lib.core.data import synthetic_states
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.experiments import world
from distill_lib.rl.worlds import WorldParams

PARAMS = {"seed": 1, "teacher_hidden": 16, "n_states": 100}


def test_synthetic_world_is_the_seed_compatible_one(tmp_path):
    record, folder = run_step(world.EXPERIMENT, PARAMS, tmp_path)
    made = world.load_world(folder, record, WorldParams.from_params(PARAMS))
    assert np.array_equal(made.states, synthetic_states(1, 100, 8))
    expected = build_teacher(1, 8, 16, 4).state_dict()
    assert all(torch.equal(expected[k], v) for k, v in made.teacher.state_dict().items())
    init = build_student(1, 8, 16, 4).state_dict()
    assert all(torch.equal(init[k], v) for k, v in made.new_student().state_dict().items())
    assert not made.teacher.training and record.student_width == 16


def test_another_seed_is_another_folder(tmp_path):
    _, one = run_step(world.EXPERIMENT, PARAMS, tmp_path)
    _, two = run_step(world.EXPERIMENT, {**PARAMS, "seed": 2}, tmp_path)
    assert one != two and one.parent == two.parent


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"source": "web"}, "source='web'"),
        ({"source": "file"}, "states_file=None: is required with source='file'"),
        ({"source": "task"}, "input_dim=8: source='task' takes the sizes of CartPole-v1's teacher: input_dim=4"),
        ({"source": "cartpole"}, "source='cartpole'"),
        ({"n_states": 1}, "n_states=1"),
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, params, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        run_step(world.EXPERIMENT, {**PARAMS, **params}, tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_a_file_world_takes_its_size_from_the_users_file(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((37, 8), np.float32))
    torch.save(build_teacher(0, 8, 16, 4).state_dict(), tmp_path / "t.pt")
    files = {"source": "file", "states_file": str(tmp_path / "s.npy"), "teacher_checkpoint": str(tmp_path / "t.pt")}
    record, _ = run_step(world.EXPERIMENT, {**PARAMS, **files}, tmp_path / "w")
    assert record.n_states == 37 and record.source == "file"


def test_a_task_world_is_the_teachers_own_buffer(tmp_path):
    from distill_lib.rl.episodes import COLLECT_SEED
    from distill_lib.rl.exploration import collect_states
    from distill_lib.rl.tasks import load_teacher

    params = {"source": "task", "input_dim": 4, "output_dim": 2, "buffer_episodes": 1}
    record, folder = run_step(world.EXPERIMENT, params, tmp_path)
    states = collect_states(load_teacher("CartPole-v1"), 1, 0.1, COLLECT_SEED, "CartPole-v1")
    assert record.n_states == len(states) and np.array_equal(np.load(folder / "states.npy"), states)


def test_teacher_overview_draws_both_panels():
    q = np.random.default_rng(0).standard_normal((50, 4))
    fig = world.teacher_overview(q)
    assert len(fig.axes) == 2
    assert np.allclose(world.action_gaps(np.array([[1.0, 3.0, 2.0]])), [1.0])
