"""Tests of distill_lib.rl.exploration: epsilon-greedy episodes played at once equal the same episodes played alone."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from distill_lib.rl.exploration import BLOCK, episode_draws, epsilon_greedy_states
from distill_lib.rl.tasks import load_teacher


def _one_episode(env_id: str, net: torch.nn.Module, seed: int, i: int, epsilon: float) -> np.ndarray:
    """Episode ``i`` of a call with ``seed``, in gymnasium's own env, one state at a time, with its own draws."""
    generator = np.random.default_rng(np.random.SeedSequence(seed).spawn(i + 1)[i])
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed + i)
    states, t, done = [], 0, False
    while not done:
        if t % BLOCK == 0:
            u, random_action = episode_draws([generator], env.action_space.n)
        states.append(obs)
        with torch.no_grad():
            greedy = int(net(torch.from_numpy(obs)[None]).argmax(-1))
        action = int(random_action[0, t % BLOCK]) if u[0, t % BLOCK] < epsilon else greedy
        obs, _, terminated, truncated, _ = env.step(action)
        done, t = terminated or truncated, t + 1
    return np.stack(states)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_episodes_at_once_equal_each_episode_alone(env_id: str) -> None:
    teacher = load_teacher(env_id)
    states = epsilon_greedy_states(teacher, 6, 0.3, 123, env_id)
    alone = [_one_episode(env_id, teacher, 123, i, 0.3) for i in range(6)]
    np.testing.assert_array_equal(states, np.concatenate(alone))
    assert len({len(a) for a in alone}) > 1  # episodes of different lengths were interleaved
    # an episode does not depend on the episodes beside it
    np.testing.assert_array_equal(epsilon_greedy_states(teacher, 2, 0.3, 123, env_id), np.concatenate(alone[:2]))


def test_exploration_changes_actions_at_the_drawn_steps() -> None:
    teacher = load_teacher("CartPole-v1")
    greedy = epsilon_greedy_states(teacher, 3, 0.0, 5, "CartPole-v1")
    explored = epsilon_greedy_states(teacher, 3, 0.5, 5, "CartPole-v1")
    np.testing.assert_array_equal(greedy[0], explored[0])  # the same seeded start
    assert len(greedy) != len(explored) or not np.array_equal(greedy, explored)
