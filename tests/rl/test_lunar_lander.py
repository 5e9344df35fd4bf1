"""rl.lunar_lander: LeanLunarLander's step is gymnasium's LunarLander-v3 step, bit for bit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.box2d.lunar_lander import heuristic

from distill_lib.rl.bulk_envs import GymnasiumBulk, make_bulk
from distill_lib.rl.lunar_lander import LeanLunarLander


def _side_by_side(seed: int, policy: str, max_steps: int = 1000) -> tuple[int, set[str]]:
    """Both environments from ``reset(seed=seed)``, the same actions; every output compared. Returns the steps taken
    and how the episode ended."""
    ref, lean = gym.make("LunarLander-v3").unwrapped, LeanLunarLander()
    obs_ref, _ = ref.reset(seed=seed)
    obs_lean, _ = lean.reset(seed=seed)
    np.testing.assert_array_equal(obs_lean, obs_ref)
    rng = np.random.default_rng(seed)
    ended: set[str] = set()
    for step in range(1, max_steps + 1):
        if policy == "random":
            action = int(rng.integers(4))
        elif policy == "heuristic":  # gymnasium's landing controller: contacts, landing and the lander asleep
            action = int(heuristic(ref, obs_ref))
        else:  # hovering: mostly the main engine, the long episodes of a half-trained agent
            action = 2 if rng.random() < 0.6 else int(rng.integers(4))
        obs_ref, r_ref, term_ref, trunc_ref, _ = ref.step(action)
        obs_lean, r_lean, term_lean, trunc_lean, _ = lean.step(action)
        np.testing.assert_array_equal(obs_lean, obs_ref, err_msg=f"seed {seed}, step {step}")
        assert obs_lean.dtype == obs_ref.dtype == np.float32
        assert r_lean == r_ref and term_lean == term_ref and trunc_lean == trunc_ref, (seed, step)
        if term_ref:
            ended.add("landed" if r_ref == 100 else "crashed")
            return step, ended
    return max_steps, ended | {"time limit"}


@pytest.mark.parametrize("policy", ["random", "heuristic", "hover"])
def test_every_observation_reward_and_termination_equal_gymnasiums(policy: str) -> None:
    endings: set[str] = set()
    steps = 0
    for seed in range(12):
        n, ended = _side_by_side(seed, policy)
        steps, endings = steps + n, endings | ended
    assert steps > 1000  # long enough episodes to exercise the contacts and the engines
    if policy == "heuristic":
        assert "landed" in endings  # the +100 of a lander that fell asleep
    if policy == "random":
        assert "crashed" in endings


def test_lean_step_is_step_without_the_array() -> None:
    a, b = LeanLunarLander(), LeanLunarLander()
    a.reset(seed=3)
    b.reset(seed=3)
    for action in [0, 1, 2, 3, 2, 2, 1, 0]:
        obs, reward, terminated, _, _ = a.step(action)
        state, lean_reward, lean_terminated = b.lean_step(action)
        np.testing.assert_array_equal(np.array(state, dtype=np.float32), obs)
        assert (lean_reward, lean_terminated) == (reward, terminated)


def test_other_configurations_run_gymnasiums_own_step_and_bad_actions_are_refused() -> None:
    windy_ref = gym.make("LunarLander-v3", enable_wind=True).unwrapped
    windy = LeanLunarLander(enable_wind=True)
    o1, _ = windy_ref.reset(seed=5)
    o2, _ = windy.reset(seed=5)
    for action in [2, 2, 1, 3, 0]:
        o1, r1, *_ = windy_ref.step(action)
        o2, r2, *_ = windy.step(action)
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    lean = LeanLunarLander()
    lean.reset(seed=0)
    with pytest.raises(ValueError, match="not an action of LunarLander-v3"):
        lean.step(4)


def test_the_bulk_environment_uses_the_lean_step() -> None:
    bulk = make_bulk("LunarLander-v3", 3)
    assert isinstance(bulk, GymnasiumBulk) and bulk._lean
    assert all(isinstance(env, LeanLunarLander) for env in bulk._envs)
    assert bulk._envs[0].spec is not None and bulk._envs[0].spec.id == "LunarLander-v3"
