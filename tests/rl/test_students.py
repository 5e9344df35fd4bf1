"""Tests of distill_lib.rl.students: a task's teacher and buffers, students trained on them, the selection's seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.core.objectives import Setting
from distill_lib.rl.episodes import COLLECT_SEED
from distill_lib.rl.exploration import collect_buffers
from distill_lib.rl.students import SelectionParams, TaskBufferParams, teacher_and_buffers, train_students
from distill_lib.rl.tasks import load_teacher


def test_the_buffers_are_the_teachers_own_episodes_training_then_held_out():
    teacher, train, held = teacher_and_buffers(TaskBufferParams(buffer_episodes=1, held_out_episodes=1))
    want_train, want_held = collect_buffers(load_teacher("CartPole-v1"), 1, 1, 0.1, COLLECT_SEED)
    assert np.array_equal(train.numpy(), want_train) and np.array_equal(held.numpy(), want_held)
    assert not teacher.training


def test_a_seeds_students_share_their_start_and_come_back_in_eval_mode():
    p = SelectionParams(epochs=1, batch_size=32)
    teacher, train, _ = teacher_and_buffers(TaskBufferParams(buffer_episodes=1, held_out_episodes=1))
    settings = [Setting("hard", 0.0, 1.0, "kl"), Setting("soft", 1.0, 0.1, "kl")]
    configs = [p.setting_config(s, seed, 8, len(train)) for seed in (0, 1) for s in settings]
    assert [(c.mode, c.temperature, c.student_width) for c in configs[:2]] == [
        ("hard_only", 1.0, 8),
        ("soft_only", 0.1, 8),
    ]
    results, nets = train_students(teacher, train, configs, "cpu")
    assert len(nets) == 4 and not any(n.training for n in nets)
    assert results[0].train_idx.tolist() == results[1].train_idx.tolist()  # seed 0's two students: one split
    assert not torch.equal(nets[0][0].weight, nets[2][0].weight)  # seed 1 starts elsewhere


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fair_seeds": [100, 1]}, "shares \\[100\\] with fair_selection_seeds"),
        ({"test_episodes": 15_000}, "overlap the test episodes"),
        ({"fair_alphas": [1.0]}, "each alpha must be in \\(0, 1\\)"),
        ({"fair_seeds": [3]}, "at least two seeds"),
    ],
)
def test_the_selection_keeps_its_seeds_and_episodes_apart(change, match):
    with pytest.raises(ValueError, match=match):
        SelectionParams(**change)
