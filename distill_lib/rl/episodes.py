"""Episodes of a task: the seed ranges, greedy returns, the teacher's state buffers.

Every function takes the task's gymnasium id (``env_id``, default ``DEFAULT_ENV_ID``; the
tasks are in ``rl.tasks``).

Seeds. Every episode starts from ``env.reset(seed=s)`` with an explicit seed, so a list of
seeds fixes the initial states exactly. The study keeps the ranges of every use disjoint
(the experiments' parameter checks refuse overlaps):

* ``COLLECT_SEED`` (1_000 ..): the episodes of the teacher's state buffers; the held-out
  buffer uses the seeds right after the training buffer's;
* ``HELD_OUT_SEED`` (5_000 ..): the held-out states of the fair comparison's teachers;
* ``TEST_SEED`` (10_000 .. 10_099 by default): the test episodes that report a return;
* ``VALIDATION_SEED`` (20_000 ..): the episodes that select settings (the fair comparison)
  and DQN checkpoints (``DQNConfig.eval_seed``);
* ``DAGGER_SEED`` (30_000 ..): DAgger's rollouts, one range per round.

The teacher's buffers (``rl.exploration``) and the closed loops (``rl.evaluation``) play their
episodes together in one bulk environment (``rl.bulk_envs``); ``greedy_returns`` plays them one
by one in gymnasium's own environment: the reference the tests compare those with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..core.schema import Params, param
from .tasks import DEFAULT_ENV_ID, TaskParams

__all__ = [
    "COLLECT_SEED",
    "DAGGER_SEED",
    "DEFAULT_EPSILON",
    "HELD_OUT_SEED",
    "TEST_EPISODES",
    "TEST_SEED",
    "VALIDATION_SEED",
    "BufferParams",
    "EpisodeParams",
    "greedy_action",
    "greedy_returns",
    "make_env",
    "mean_ci",
]

#: First seed of the test episodes (episode i uses ``TEST_SEED + i``) and their default number.
TEST_SEED, TEST_EPISODES = 10_000, 100
#: First seed of the teacher's state-buffer episodes.
COLLECT_SEED = 1_000
#: First seed of the held-out episodes of the fair comparison's teachers (fidelity off their transfer sets).
HELD_OUT_SEED = 5_000
#: First seed of the validation episodes that select settings and checkpoints.
VALIDATION_SEED = 20_000
#: DAgger's rollouts reset from ``DAGGER_SEED + round``.
DAGGER_SEED = 30_000
#: Default exploration rate of the state buffers: 10% random actions put off-policy states
#: (recoveries from a push the teacher would not make) in the buffer, while the teacher
#: still balances the pole for most of the 500 steps.
DEFAULT_EPSILON = 0.1

_Z95 = 1.959963984540054  # standard normal 97.5% quantile


def check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")


def check_epsilon(epsilon: object) -> None:
    ok = isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool) and 0.0 <= epsilon <= 1.0
    if not ok:
        raise ValueError(f"epsilon={epsilon!r}: must be a number in [0, 1]")


@dataclass(frozen=True)
class BufferParams(Params):
    """How the teacher's state buffer is collected: its episodes and their exploration rate."""

    buffer_episodes: int = param(20, "teacher episodes collected for the state buffer", low=1, high=100_000)
    buffer_epsilon: float = param(
        DEFAULT_EPSILON,
        "exploration rate of the buffers' episodes (random actions, off-path states)",
        low=0.0,
        high=1.0,
    )


@dataclass(frozen=True)
class EpisodeParams(TaskParams):
    """The task, its teacher, the held-out states and the closed-loop test episodes of the real-task experiments."""

    held_out_episodes: int = param(
        5, "further teacher episodes for the held-out states (fidelity off the training buffer)", low=1, high=100_000
    )
    test_episodes: int = param(
        TEST_EPISODES, "closed-loop test episodes per network (the return's 95% CI needs two)", low=2, high=100_000
    )


def make_env(env_id: str = DEFAULT_ENV_ID) -> gym.Env:
    """A fresh environment of ``env_id`` (its time limit, no rendering)."""
    return gym.make(env_id)


def greedy_action(q_net: nn.Module, obs: np.ndarray) -> int:
    """``argmax_a Q(obs, a)`` for one state ``(4,)``; call under ``torch.no_grad()``."""
    q = q_net(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))  # (1, A)
    return int(q.argmax(-1).item())


def _run_episode(
    env: gym.Env,
    q_net: nn.Module,
    seed: int,
    epsilon: float = 0.0,
    rng: np.random.Generator | None = None,
    states: list[np.ndarray] | None = None,
) -> float:
    """One episode from ``reset(seed=seed)``; epsilon-greedy with ``rng``; appends visited states."""
    obs, _ = env.reset(seed=seed)
    n_actions = int(env.action_space.n)
    total, done = 0.0, False
    while not done:
        if states is not None:
            states.append(np.asarray(obs, dtype=np.float32))
        if epsilon > 0.0 and rng is not None and rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            action = greedy_action(q_net, obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        done = terminated or truncated
    return total


def greedy_returns(
    q_net: nn.Module, n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED, env_id: str = DEFAULT_ENV_ID
) -> np.ndarray:
    """Total reward of ``n_episodes`` greedy episodes ``(n_episodes,)`` float64.

    Episode ``i`` starts from ``reset(seed=seed + i)``; actions are ``argmax_a Q(s, a)``
    with the network in eval mode (dropout off) and no gradients, on one thread. The
    network's train/eval mode is restored afterwards. The defaults are the study's test
    episodes (seeds 10_000 .. 10_099).
    """
    check_int("n_episodes", n_episodes, 1)
    check_int("seed", seed, 0)
    env, was_training, threads = make_env(env_id), q_net.training, torch.get_num_threads()
    q_net.eval()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            returns = [_run_episode(env, q_net, seed + i) for i in range(n_episodes)]
    finally:
        torch.set_num_threads(threads)
        q_net.train(was_training)
        env.close()
    return np.asarray(returns, dtype=np.float64)


def mean_ci(returns: np.ndarray | list[float]) -> tuple[float, float, float]:
    """Mean return and its 95% confidence interval ``(mean, lo, hi)``.

    Normal approximation: ``mean +- 1.96 * s / sqrt(n)`` with ``s`` the sample standard
    deviation (``ddof=1``). With the study's n = 100 episodes the Student-t quantile
    (1.984) would widen the interval by 1.2%; a return that is 500 in every episode gives
    a zero-width interval.
    """
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"returns has shape {x.shape}: must be 1-d with at least 2 episodes")
    if not np.all(np.isfinite(x)):
        raise ValueError("returns contains NaN or inf: every episode return must be finite")
    mean = float(x.mean())
    half = _Z95 * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half
