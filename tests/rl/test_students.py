"""Tests of distill_lib.rl.students: a task's teachers and their transfer sets, students at settings with their
checkpoints, the checkpoint validation picks, and the protocol's parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.core.objectives import SearchGrid, candidates
from distill_lib.rl.episodes import COLLECT_SEED
from distill_lib.rl.exploration import collect_buffers
from distill_lib.rl.students import (
    ProtocolParams,
    TaskBufferParams,
    epochs_for,
    pick_checkpoints,
    task_teachers,
    teacher_and_buffers,
    teacher_paths,
    train_settings,
)
from distill_lib.rl.tasks import load_teacher

P = ProtocolParams(
    n_teachers=2, student_seeds=[0, 1], val_episodes=2, snapshots=3, test_episodes=3, held_out_episodes=1
)
GRID = SearchGrid([0.003], [20], [1.0], [0.1], [0.5])


def test_the_buffers_are_the_teachers_own_episodes_training_then_held_out():
    teacher, train, held = teacher_and_buffers(TaskBufferParams(buffer_episodes=1, held_out_episodes=1))
    want_train, want_held = collect_buffers(load_teacher("CartPole-v1"), 1, 1, 0.1, COLLECT_SEED)
    assert np.array_equal(train.numpy(), want_train) and np.array_equal(held.numpy(), want_held)
    assert not teacher.training


def test_the_teachers_are_the_shipped_one_then_its_peers_or_yours_alone(tmp_path):
    paths = teacher_paths(P)
    assert [p.name for p in paths] == ["teacher.pt", "seed1.pt", "seed2.pt", "seed3.pt"]
    mine = tmp_path / "mine.pt"
    torch.save(load_teacher("CartPole-v1").state_dict(), mine)
    assert teacher_paths(ProtocolParams(teacher_checkpoint=str(mine))) == [mine]


def test_each_teacher_gets_a_transfer_set_of_the_same_size_and_its_own_returns():
    teachers = task_teachers(P, 150)
    assert [t.index for t in teachers] == [0, 1] and all(len(t.states) == 150 for t in teachers)
    assert not torch.equal(teachers[0].states, teachers[1].states)  # each teacher's own episodes
    assert all(t.test_return > t.test_floor for t in teachers)


def test_settings_train_under_their_teachers_with_checkpoints_and_validation_picks_one():
    teachers = task_teachers(P, 150)
    hard, mse = candidates("hard", GRID, 1, 0)[0], candidates("mse", GRID, 1, 0)[0]
    jobs = [(hard, 0, 0), (mse, 1, 0), (hard, 1, 1)]
    runs = train_settings(P, teachers, jobs, 8)
    assert [len(r.checkpoints) for r in runs] == [3, 3, 3] and all(r.steps >= 20 for r in runs)
    assert runs[1].result.config.q_targets == "standardized" and runs[0].result.config.loss_fn == "kl"
    assert torch.equal(runs[0].checkpoints[-1][0].weight, torch.as_tensor(runs[0].result.final_state["0.weight"]))
    pick_checkpoints(P, teachers, runs)
    for run in runs:
        assert len(run.val_returns) == 3 and run.val_returns[run.chosen] == max(run.val_returns)


def test_a_budget_in_gradient_steps_sets_the_epochs_whatever_the_set_size():
    small, large = P.setting_config(candidates("hard", GRID, 1, 0)[0], 0, 8, 100, 64), None
    large = P.setting_config(candidates("hard", GRID, 1, 0)[0], 0, 8, 10_000, 64)
    assert small.epochs == epochs_for(20, small) == 10 and large.epochs == 1  # 2 batches / epoch vs 141


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"test_episodes": 15_000}, "overlap the test episodes"),
        ({"student_seeds": [3], "n_teachers": 1}, "two runs or more"),
        ({"n_teachers": 5}, "n_teachers=5"),
    ],
)
def test_the_protocol_keeps_its_episodes_apart_and_its_runs_many(change, match):
    with pytest.raises(ValueError, match=match):
        ProtocolParams(**change)
