"""Episodes of a task: greedy evaluation, state buffers, the teacher; CartPole-v1's constants.

Every function takes the task's gymnasium id (``env_id``, default ``CartPole-v1``; the tasks
are in ``rl.tasks``). The constants below describe CartPole, the study's first task.

CartPole-v1 (Barto, Sutton & Anderson 1983; Gymnasium's ``CartPole-v1``): a 4-d state
``(x, x_dot, theta, theta_dot)``, two actions (push left / right), reward 1 per step,
episodes end when the pole falls (``terminated``) or after 500 steps (``truncated``), so
an episode's return is its length and 500 is the maximum. The task counts as solved at a
mean return of 475 over 100 episodes.

Seeds. Every episode starts from ``env.reset(seed=s)`` with an explicit seed, so a list of
seeds fixes the initial states exactly. The study keeps the seed ranges disjoint:

* ``TEST_SEED`` (10_000 .. 10_099): the 100 test episodes that report a teacher's return;
* ``DQNConfig.eval_seed`` (20_000 ..): the episodes that pick the best DQN checkpoint;
* ``COLLECT_SEED`` (1_000 ..): the episodes of the teacher's state buffers; the held-out
  evaluation buffer uses the seeds right after the training buffer's.

The shipped teacher (``assets/cartpole/teacher.pt``) is a ``QNetwork(4, 64, 2, dropout=0.1)``
state dict trained by ``distill_lib.dqn.train_and_save`` (see ``teacher.json`` beside it
for the full record, and ``notebooks/00_teacher.ipynb`` to rebuild it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..core.networks import QNetwork
from ..core.schema import Params, param
from .tasks import TEACHER_DROPOUT, TEACHER_HIDDEN, load_teacher

__all__ = [
    "ASSET_DIR",
    "COLLECT_SEED",
    "DEFAULT_EPSILON",
    "ENV_ID",
    "N_ACTIONS",
    "OBS_DIM",
    "SOLVED_RETURN",
    "TEACHER_DROPOUT",
    "TEACHER_HIDDEN",
    "TEST_EPISODES",
    "TEST_SEED",
    "BufferParams",
    "cartpole_qnet",
    "collect_buffers",
    "collect_states",
    "greedy_action",
    "greedy_returns",
    "load_cartpole_teacher",
    "make_env",
    "make_vector_env",
    "mean_ci",
    "reset_states",
]

#: Gymnasium id of the environment.
ENV_ID = "CartPole-v1"
#: State dimension and number of actions of CartPole.
OBS_DIM, N_ACTIONS = 4, 2
#: The study's teacher architecture: ``QNetwork(4, 64, 2, dropout=0.1)``.
#: CartPole-v1's "solved" threshold on the mean return over 100 episodes.
SOLVED_RETURN = 475.0
#: First seed of the test episodes (episode i uses ``TEST_SEED + i``) and their number.
TEST_SEED, TEST_EPISODES = 10_000, 100
#: First seed of the teacher's state-buffer episodes.
COLLECT_SEED = 1_000
#: Default exploration rate of the state buffers: 10% random actions put off-policy states
#: (recoveries from a push the teacher would not make) in the buffer, while the teacher
#: still balances the pole for most of the 500 steps.
DEFAULT_EPSILON = 0.1
#: Folder of the shipped teacher (``teacher.pt``, ``teacher.json``).
ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "cartpole"

_Z95 = 1.959963984540054  # standard normal 97.5% quantile


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")


def _check_epsilon(epsilon: object) -> None:
    ok = isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool) and 0.0 <= epsilon <= 1.0
    if not ok:
        raise ValueError(f"epsilon={epsilon!r}: must be a number in [0, 1]")


@dataclass(frozen=True)
class BufferParams(Params):
    """How the shipped CartPole teacher's state buffer is collected."""

    cartpole_episodes: int = param(20, "teacher episodes collected for the CartPole state buffer", low=1, high=100_000)
    cartpole_epsilon: float = param(
        DEFAULT_EPSILON, "exploration rate of the CartPole buffers (random actions, off-path states)", low=0.0, high=1.0
    )


def make_env(env_id: str = ENV_ID) -> gym.Env:
    """A fresh environment of ``env_id`` (its time limit, no rendering)."""
    return gym.make(env_id)


def reset_states(n_episodes: int, seed: int) -> np.ndarray:
    """The float64 states ``(n_episodes, 4)`` of ``make_env().reset(seed=seed + i)``: the episodes' starts."""
    _check_int("n_episodes", n_episodes, 1)
    _check_int("seed", seed, 0)
    env = make_env()
    try:
        return np.stack([_reset_state(env, seed + i) for i in range(n_episodes)])
    finally:
        env.close()


def _reset_state(env: gym.Env, seed: int) -> np.ndarray:
    env.reset(seed=seed)
    return np.array(env.unwrapped.state, dtype=np.float64)  # (4,) the physics' state, before float32


def make_vector_env(starts: np.ndarray) -> gym.vector.VectorEnv:
    """Gymnasium's vectorised ``CartPole-v1`` with one sub-environment per row of ``starts`` ``(N, 4)`` float64.

    ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` (``CartPoleVectorEnv``:
    the same physics on ``(4, N)`` arrays, the same 500-step limit, next-step autoreset). Its
    reset draws every start from one generator, so the starts are set afterwards: sub-env
    ``j`` then steps exactly as a scalar env reset to ``starts[j]`` (``tests/rl/test_cartpole.py``
    compares them bit for bit). Observations of the starts: ``starts.astype(float32)``.
    """
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[1] != OBS_DIM or len(starts) < 1:
        raise ValueError(f"starts has shape {starts.shape}: must be (N, {OBS_DIM}) with N >= 1 (reset_states)")
    envs = gym.make_vec(ENV_ID, num_envs=len(starts), vectorization_mode="vector_entry_point")
    envs.reset(seed=0)  # zero step counters, no pending autoreset
    envs.unwrapped.state = np.ascontiguousarray(starts.T)  # (4, N): the layout CartPoleVectorEnv steps
    return envs


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
    q_net: nn.Module, n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED, env_id: str = ENV_ID
) -> np.ndarray:
    """Total reward of ``n_episodes`` greedy episodes ``(n_episodes,)`` float64.

    Episode ``i`` starts from ``reset(seed=seed + i)``; actions are ``argmax_a Q(s, a)``
    with the network in eval mode (dropout off) and no gradients, on one thread. The
    network's train/eval mode is restored afterwards. The defaults are the study's test
    episodes (seeds 10_000 .. 10_099).
    """
    _check_int("n_episodes", n_episodes, 1)
    _check_int("seed", seed, 0)
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


def collect_states(
    q_net: nn.Module,
    n_episodes: int,
    epsilon: float = DEFAULT_EPSILON,
    seed: int = COLLECT_SEED,
    env_id: str = ENV_ID,
) -> np.ndarray:
    """States visited by the epsilon-greedy network, ``(N, obs_dim)`` float32, episodes in order.

    Episode ``i`` starts from ``reset(seed=seed + i)``; at every step, with probability
    ``epsilon`` the action is uniform random, else ``argmax_a Q(s, a)`` (network in eval
    mode). All episodes are played at once (``rl.exploration.epsilon_greedy_states``), each
    exploring with its own generator, child ``i`` of ``numpy.random.SeedSequence(seed)``.
    Each row is the state *before* an action, so ``N`` is the sum of the episode lengths.
    """
    _check_int("n_episodes", n_episodes, 1)
    _check_epsilon(epsilon)
    _check_int("seed", seed, 0)
    from .exploration import epsilon_greedy_states  # it imports this module's evaluation side

    return epsilon_greedy_states(q_net, n_episodes, float(epsilon), seed, env_id)


def collect_buffers(
    q_net: nn.Module,
    n_train_episodes: int,
    n_eval_episodes: int,
    epsilon: float = DEFAULT_EPSILON,
    seed: int = COLLECT_SEED,
    env_id: str = ENV_ID,
) -> tuple[np.ndarray, np.ndarray]:
    """A training buffer and a held-out evaluation buffer from disjoint episodes.

    Training: ``collect_states(q_net, n_train_episodes, epsilon, seed)`` (episode seeds
    ``seed .. seed + n_train_episodes - 1``). Evaluation:
    ``collect_states(q_net, n_eval_episodes, epsilon, seed + n_train_episodes)``, i.e. the
    next ``n_eval_episodes`` seeds and its own exploration stream.
    """
    _check_int("n_train_episodes", n_train_episodes, 1)
    _check_int("n_eval_episodes", n_eval_episodes, 1)
    train = collect_states(q_net, n_train_episodes, epsilon, seed, env_id)
    held_out = collect_states(q_net, n_eval_episodes, epsilon, seed + n_train_episodes, env_id)
    return train, held_out


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


def cartpole_qnet() -> QNetwork:
    """An untrained teacher-architecture network ``QNetwork(4, 64, 2, dropout=0.1)``."""
    return QNetwork(OBS_DIM, TEACHER_HIDDEN, N_ACTIONS, dropout=TEACHER_DROPOUT)


def load_cartpole_teacher(path: str | Path | None = None) -> QNetwork:
    """The shipped DQN teacher (``assets/cartpole/teacher.pt``, or the state dict at ``path``), frozen."""
    return load_teacher(ENV_ID, path)
