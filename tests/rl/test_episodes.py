"""Tests of distill_lib.rl.episodes: episodes, seeds, state buffers, the CI, and the shipped CartPole teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from distill_lib.core.networks import QNetwork
from distill_lib.rl.episodes import TEST_SEED, greedy_returns, make_env, mean_ci
from distill_lib.rl.exploration import collect_buffers, collect_states
from distill_lib.rl.tasks import load_teacher, task, teacher_network

CARTPOLE = task("CartPole-v1")


class ConstantPolicy(nn.Module):
    """Q-values that always prefer one action."""

    def __init__(self, action: int) -> None:
        super().__init__()
        self.action = action

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 2)
        q = torch.zeros(x.shape[0], 2)
        q[:, self.action] = 1.0
        return q


class BalancePolicy(nn.Module):
    """Push toward the side the pole leans to (``theta + theta_dot``): balances for long."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lean = x[:, 2] + x[:, 3]
        return torch.stack([-lean, lean], dim=-1)


@pytest.fixture(scope="module")
def random_net() -> QNetwork:
    torch.manual_seed(0)
    return teacher_network("CartPole-v1").eval()


def test_make_env_is_cartpole_v1() -> None:
    env = make_env()
    assert env.spec.id == "CartPole-v1" and env.spec.max_episode_steps == 500
    assert env.observation_space.shape == (4,) and env.action_space.n == 2


@pytest.mark.parametrize("action", [0, 1])
def test_constant_action_falls_quickly(action: int) -> None:
    returns = greedy_returns(ConstantPolicy(action), n_episodes=5, seed=0)
    assert returns.shape == (5,) and returns.dtype == np.float64
    assert np.all((returns >= 8) & (returns <= 60))


def test_balancing_heuristic_beats_constant_action() -> None:
    balance = greedy_returns(BalancePolicy(), n_episodes=5, seed=0)
    constant = greedy_returns(ConstantPolicy(0), n_episodes=5, seed=0)
    assert balance.mean() > 5 * constant.mean()


def test_fixed_seeds_give_identical_returns_and_episode_seeds_are_seed_plus_i(random_net: QNetwork) -> None:
    a = greedy_returns(random_net, n_episodes=6, seed=123)
    b = greedy_returns(random_net, n_episodes=6, seed=123)
    np.testing.assert_array_equal(a, b)
    # Episode i uses seed + i: the tail of a run is a run started 2 seeds later.
    np.testing.assert_array_equal(a[2:], greedy_returns(random_net, n_episodes=4, seed=125))


def test_greedy_returns_restores_train_mode() -> None:
    net = teacher_network("CartPole-v1").train()
    greedy_returns(net, n_episodes=1, seed=0)
    assert net.training


def test_collect_states_shape_dtype_and_determinism(random_net: QNetwork) -> None:
    states = collect_states(random_net, n_episodes=3, epsilon=0.2, seed=7)
    assert states.ndim == 2 and states.shape[1] == 4 and states.dtype == np.float32
    assert np.all(np.isfinite(states))
    # One row per step: the greedy part is deterministic given the seed.
    np.testing.assert_array_equal(states, collect_states(random_net, n_episodes=3, epsilon=0.2, seed=7))
    # epsilon = 0 is the greedy policy: one row per step of the greedy episodes.
    greedy = collect_states(random_net, n_episodes=3, epsilon=0.0, seed=7)
    assert len(greedy) == greedy_returns(random_net, n_episodes=3, seed=7).sum()
    # The first state of each episode is the seeded reset state, whatever epsilon is.
    env = make_env()
    np.testing.assert_array_equal(states[0], env.reset(seed=7)[0])


def test_exploration_changes_the_states() -> None:
    net = BalancePolicy()
    greedy = collect_states(net, n_episodes=2, epsilon=0.0, seed=3)
    explored = collect_states(net, n_episodes=2, epsilon=0.3, seed=3)
    assert greedy.shape != explored.shape or not np.array_equal(greedy, explored)


def test_buffers_come_from_disjoint_episode_seeds(random_net: QNetwork) -> None:
    train, held_out = collect_buffers(random_net, n_train_episodes=3, n_eval_episodes=2, epsilon=0.1, seed=50)
    np.testing.assert_array_equal(train, collect_states(random_net, 3, 0.1, 50))
    np.testing.assert_array_equal(held_out, collect_states(random_net, 2, 0.1, 53))
    env = make_env()
    train_starts = {tuple(env.reset(seed=s)[0]) for s in range(50, 53)}
    assert tuple(held_out[0]) not in train_starts


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_episodes": 0}, "n_episodes"),
        ({"n_episodes": 2.0}, "n_episodes"),
        ({"epsilon": 1.5}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"seed": -1}, "seed"),
    ],
)
def test_collect_states_rejects_bad_arguments(kwargs: dict, field: str) -> None:
    args = {"n_episodes": 1, "epsilon": 0.1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=field):
        collect_states(ConstantPolicy(0), **args)


def test_greedy_returns_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_episodes"):
        greedy_returns(ConstantPolicy(0), n_episodes=0)
    with pytest.raises(ValueError, match="seed"):
        greedy_returns(ConstantPolicy(0), n_episodes=1, seed=-5)


def test_mean_ci_matches_the_normal_formula() -> None:
    x = np.array([10.0, 12.0, 14.0, 16.0])
    mean, lo, hi = mean_ci(x)
    half = 1.959963984540054 * np.std(x, ddof=1) / 2.0
    assert mean == 13.0
    np.testing.assert_allclose([lo, hi], [13.0 - half, 13.0 + half], rtol=1e-12)
    assert mean_ci([500.0] * 5) == (500.0, 500.0, 500.0)


@pytest.mark.parametrize("bad", [[1.0], [], [1.0, float("nan")], [[1.0, 2.0]]])
def test_mean_ci_rejects_bad_input(bad: list) -> None:
    with pytest.raises(ValueError, match="returns"):
        mean_ci(bad)


def test_shipped_teacher_loads_frozen_and_solves_cartpole() -> None:
    assert (CARTPOLE.asset_dir / "teacher.pt").is_file(), "run notebooks/00_teacher.ipynb to build the teacher"
    state = torch.load(CARTPOLE.asset_dir / "teacher.pt", weights_only=True)
    assert {k: tuple(v.shape) for k, v in state.items()}["8.weight"] == (2, 64)
    teacher = load_teacher("CartPole-v1")
    assert isinstance(teacher, QNetwork) and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    returns = greedy_returns(teacher, n_episodes=10, seed=TEST_SEED)
    assert returns.mean() >= CARTPOLE.bar


def test_loading_a_missing_teacher_file_fails(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="teacher.pt"):
        load_teacher("CartPole-v1", tmp_path / "teacher.pt")
