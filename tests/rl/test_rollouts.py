"""Tests of distill_lib.rl.rollouts: DAgger's mixed-policy states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.core.networks import QNetwork
from distill_lib.rl.rollouts import mixed_rollout_states
from distill_lib.rl.tasks import load_teacher

#: CartPole's failure thresholds: a decision state lies inside them
X_LIMIT, THETA_LIMIT = 2.4, 12 * 2 * np.pi / 360


@pytest.fixture(scope="module")
def students() -> list[QNetwork]:
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        nets.append(QNetwork(4, 8, 2, dropout=0.05).eval())  # untrained: episodes fail within ~10-30 steps
    return nets


def test_each_network_gets_exactly_n_decision_states(students) -> None:
    teacher = load_teacher("CartPole-v1")
    states = mixed_rollout_states(students, teacher, 300, beta=0.0, seed=5)
    assert states.shape == (2, 300, 4) and states.dtype == torch.float32
    # many episodes ended (untrained students), yet no failed final state was kept as a decision state
    assert (states[..., 0].abs() <= X_LIMIT).all() and (states[..., 2].abs() <= THETA_LIMIT).all()
    assert not torch.equal(states[0], states[1])  # each network visits its own states


def test_beta_one_is_the_teachers_own_rollout(students) -> None:
    teacher = load_teacher("CartPole-v1")
    mixed = mixed_rollout_states(students, teacher, 200, beta=1.0, seed=7)
    alone = mixed_rollout_states([teacher, teacher], teacher, 200, beta=0.0, seed=7)
    assert torch.equal(mixed, alone)  # beta = 1: every action is the teacher's
    own = mixed_rollout_states(students, teacher, 200, beta=0.0, seed=7)
    assert not torch.equal(own, mixed)


def test_same_seed_same_states_and_bad_arguments_refused(students) -> None:
    teacher = load_teacher("CartPole-v1")
    a = mixed_rollout_states(students, teacher, 50, beta=0.5, seed=3)
    assert torch.equal(a, mixed_rollout_states(students, teacher, 50, beta=0.5, seed=3))
    with pytest.raises(ValueError, match="beta"):
        mixed_rollout_states(students, teacher, 50, beta=1.5, seed=3)
    with pytest.raises(ValueError, match="n_states"):
        mixed_rollout_states(students, teacher, 0, beta=0.5, seed=3)
