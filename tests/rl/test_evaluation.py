"""Tests of distill_lib.rl.evaluation: closed-loop returns equal the one-episode-at-a-time reference."""

import numpy as np
import pytest
import torch

from distill_lib.core.networks import QNetwork
from distill_lib.rl.cartpole import TEST_SEED, greedy_returns, load_cartpole_teacher
from distill_lib.rl.evaluation import closed_loop_returns, count_parameters


def test_lockstep_returns_equal_greedy_returns():
    torch.manual_seed(0)
    weak = QNetwork(4, 8, 2, dropout=0.05)  # untrained: short, varied episodes
    teacher = load_cartpole_teacher()
    lockstep = closed_loop_returns([weak, teacher], n_episodes=4, seed=TEST_SEED)
    assert lockstep.shape == (2, 4)
    np.testing.assert_array_equal(lockstep[0], greedy_returns(weak, 4, TEST_SEED))
    np.testing.assert_array_equal(lockstep[1], greedy_returns(teacher, 4, TEST_SEED))
    assert weak.training  # mode restored


@pytest.mark.parametrize("h", [1, 4, 32, 100])
def test_parameter_count_is_h2_plus_12h_plus_2(h):
    assert count_parameters(QNetwork(4, h, 2, dropout=0.0)) == h * h + 12 * h + 2


def test_bad_episode_counts_are_refused():
    with pytest.raises(ValueError, match="n_episodes=0"):
        closed_loop_returns([], n_episodes=0)
