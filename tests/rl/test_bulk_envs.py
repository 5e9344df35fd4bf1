"""Tests of distill_lib.rl.bulk_envs and rl.classic_physics: the bulk environments step as gymnasium's own.

Every comparison is bit for bit (``assert_array_equal`` on float32 observations, rewards and
both flags) against ``gymnasium.make(env_id)`` stepped one episode at a time, on many seeds,
up to and including the 500-step truncation.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from distill_lib.rl.bulk_envs import GymnasiumBulk, PortedBulk, make_bulk, seeded_start
from distill_lib.rl.tasks import load_teacher, task

PORTED = ["CartPole-v1", "Acrobot-v1"]


def _compare(env_id: str, seeds: list[int], policy) -> tuple[int, int]:
    """Step a bulk env and one gymnasium env per seed with ``policy(obs (n, D)) -> (n,)`` until every episode ends.

    Returns (steps of the longest episode, truncated episodes).
    """
    n = len(seeds)
    scalar = [gym.make(env_id) for _ in seeds]
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(scalar, seeds)])  # (n, D)
    bulk = make_bulk(env_id, n)
    np.testing.assert_array_equal(bulk.reset(np.arange(n), np.array(seeds)), obs)
    running, steps, truncations = np.ones(n, dtype=bool), 0, 0
    while running.any():
        actions = policy(obs)
        b_obs, b_reward, b_term, b_trunc = bulk.step(actions, running)
        assert not (b_reward[~running].any() or b_term[~running].any() or b_trunc[~running].any())  # ended: idle
        for i in np.flatnonzero(running):
            obs[i], reward, terminated, truncated, _ = scalar[i].step(int(actions[i]))
            np.testing.assert_array_equal(b_obs[i], obs[i], err_msg=f"seed {seeds[i]}, step {steps}")
            assert (b_reward[i], b_term[i], b_trunc[i]) == (reward, terminated, truncated), (seeds[i], steps)
            truncations += truncated
            running[i] = not (terminated or truncated)
        steps += 1
    return steps, truncations


@pytest.mark.parametrize("env_id", PORTED)
def test_port_equals_gymnasium_under_random_actions(env_id: str) -> None:
    rng, n_actions = np.random.default_rng(11), task(env_id).n_actions
    steps, truncations = _compare(env_id, list(range(300, 500)), lambda obs: rng.integers(n_actions, size=len(obs)))
    if env_id == "Acrobot-v1":  # a random Acrobot rarely reaches the bar: most episodes hit the time limit
        assert steps == 500 and truncations > 100
    else:
        assert 0 < steps < 500 and truncations == 0


@pytest.mark.parametrize("env_id", PORTED)
def test_port_equals_gymnasium_in_the_teachers_greedy_episodes(env_id: str) -> None:
    teacher = load_teacher(env_id)

    def greedy(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return teacher(torch.from_numpy(obs)).argmax(-1).numpy()

    steps, truncations = _compare(env_id, list(range(10_000, 10_060)), greedy)
    if env_id == "CartPole-v1":  # the teacher balances to the time limit
        assert steps == 500 and truncations > 0
    else:  # Acrobot's teacher reaches the bar in about 60-100 steps
        assert steps < 500 and truncations == 0


def test_a_subset_of_slots_steps_and_the_rest_wait() -> None:
    bulk = make_bulk("Acrobot-v1", 4)
    start = bulk.reset(np.arange(4), np.array([1, 2, 3, 4]))
    active = np.array([True, False, True, False])
    obs, reward, terminated, truncated = bulk.step(np.array([0, 1, 2, 0]), active)
    np.testing.assert_array_equal(obs[~active], start[~active])
    assert not (obs[active] == start[active]).all(axis=1).any()
    assert reward.tolist() == [-1.0, 0.0, -1.0, 0.0] and not terminated.any() and not truncated.any()
    assert bulk.elapsed.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("env_id", [*PORTED, "LunarLander-v3"])
def test_own_generators_with_next_step_autoreset_equal_a_sync_vector_env(env_id: str) -> None:
    """Slot j reset with seed + j, then from its own continuing generator: gymnasium's sync vector env."""
    n, seed, rng = 3, 42, np.random.default_rng(0)
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync")
    v_obs, _ = vec.reset(seed=seed)
    bulk = make_bulk(env_id, n, own_generators=True)
    obs = bulk.reset(np.arange(n), seed + np.arange(n))
    np.testing.assert_array_equal(obs, v_obs)
    autoreset, resets = np.zeros(n, dtype=bool), 0
    for _ in range({"CartPole-v1": 300, "Acrobot-v1": 520}.get(env_id, 150)):
        actions = rng.integers(task(env_id).n_actions, size=n)
        v_obs, v_reward, v_term, v_trunc, _ = vec.step(actions)
        obs, reward, terminated, truncated = bulk.step(actions, ~autoreset)
        if autoreset.any():  # gymnasium resets on the step after the end, ignoring the action
            obs[autoreset] = bulk.reset(np.flatnonzero(autoreset))
            resets += autoreset.sum()
        np.testing.assert_array_equal(obs, v_obs)
        np.testing.assert_array_equal(reward, v_reward)
        np.testing.assert_array_equal(terminated, v_term)
        np.testing.assert_array_equal(truncated, v_trunc)
        autoreset = terminated | truncated
    assert resets > 0
    vec.close()
    bulk.close()


def test_routes_and_seeded_starts() -> None:
    assert isinstance(make_bulk("CartPole-v1", 2), PortedBulk)
    assert isinstance(make_bulk("LunarLander-v3", 2), GymnasiumBulk)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=77)
    state, start_obs = seeded_start("CartPole-v1", 77)
    np.testing.assert_array_equal(state, env.unwrapped.state)
    np.testing.assert_array_equal(start_obs, obs)
    env = gym.make("Acrobot-v1")
    obs, _ = env.reset(seed=77)
    np.testing.assert_array_equal(seeded_start("Acrobot-v1", 77)[1], obs)  # float32 trig of the float32 start


@pytest.mark.parametrize("env_id", PORTED)
def test_bad_calls_fail_in_one_line(env_id: str) -> None:
    bulk = make_bulk(env_id, 2)
    with pytest.raises(ValueError, match="one action per slot"):
        bulk.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="actions must lie"):
        bulk.step(np.array([0, 7]))
    with pytest.raises(ValueError, match="own_generators"):
        bulk.reset(np.arange(2))
    with pytest.raises(ValueError, match="one seed per slot"):
        bulk.reset(np.arange(2), np.array([1]))
    with pytest.raises(ValueError, match="never reset with a seed"):
        make_bulk(env_id, 2, own_generators=True).reset(np.arange(2))
    with pytest.raises(ValueError, match="n=0"):
        make_bulk(env_id, 0)
