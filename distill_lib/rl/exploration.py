"""Exploring episodes, all played at once: the teacher's epsilon-greedy buffers, and the random policy's floor.

Episode ``i`` of a call with ``seed`` starts from ``gymnasium.make(env_id).reset(seed=seed + i)``
and acts epsilon-greedily (Mnih et al. 2015): at its step ``t`` the action is uniform random
where ``u[i, t] < epsilon``, else ``argmax_a Q(s, a)`` (network in eval mode, one thread). The
draws of episode ``i`` come from its own generator, child ``i`` of
``numpy.random.SeedSequence(seed)`` (numpy's recipe for independent streams), in blocks of
``BLOCK`` steps: ``u = random(BLOCK)``, then the random actions ``integers(n_actions,
size=BLOCK)``. An episode's states therefore depend on its seed and index only, not on the
other episodes played beside it, and every episode steps in one bulk environment
(``rl.bulk_envs``; CartPole and Acrobot bit for bit as gymnasium's).

The earlier loop (``collect_states`` before the bulk environments) played the episodes one
after another with one generator ``default_rng(seed)`` drawing a uniform per step and a
random action only when exploring, so the same episodes explore at other steps now: buffers
collected with ``epsilon > 0`` differ from that loop's (with ``epsilon = 0`` they are its
greedy episodes, up to actions at float32 ties of a batched forward, as ``closed_loop``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.training import single_thread
from .bulk_envs import make_bulk
from .episodes import COLLECT_SEED, DEFAULT_EPSILON, check_epsilon, check_int
from .evaluation import _greedy_groups
from .tasks import DEFAULT_ENV_ID, task

__all__ = [
    "BLOCK",
    "collect_buffers",
    "collect_states",
    "episode_draws",
    "epsilon_greedy_states",
    "random_returns",
    "score_floor",
]

#: steps of exploration draws taken from an episode's generator at a time
BLOCK = 1_000


def episode_draws(generators: list[np.random.Generator], n_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """The next ``BLOCK`` steps of every episode's draws: uniforms ``(E, BLOCK)`` and random actions ``(E, BLOCK)``."""
    u = np.empty((len(generators), BLOCK))
    a = np.empty((len(generators), BLOCK), dtype=np.int64)
    for i, g in enumerate(generators):
        u[i] = g.random(BLOCK)
        a[i] = g.integers(n_actions, size=BLOCK)
    return u, a


def epsilon_greedy_states(q_net: nn.Module, n_episodes: int, epsilon: float, seed: int, env_id: str) -> np.ndarray:
    """States visited by the epsilon-greedy network, ``(N, obs_dim)`` float32, episode after episode.

    Each row is the state *before* an action, so ``N`` is the sum of the episode lengths.
    The network's train/eval mode is restored afterwards.
    """
    envs = make_bulk(env_id, n_episodes)
    obs = envs.reset(np.arange(n_episodes), seed + np.arange(n_episodes))  # (E, D)
    generators = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_episodes)]
    ((_, policy),) = _greedy_groups([q_net], torch.device("cpu"))
    running = np.ones(n_episodes, dtype=bool)
    visited, masks = [], []  # per step: (E, D) observations and which episodes were running
    was_training = q_net.training
    q_net.eval()
    try:
        with single_thread(), torch.no_grad():
            t = 0
            while running.any():
                if t % BLOCK == 0:
                    u, random_action = episode_draws(generators, envs.n_actions)  # (E, BLOCK) each
                visited.append(obs)
                masks.append(running.copy())
                actions = np.zeros(n_episodes, dtype=np.int64)
                _, cols, greedy = policy.act(torch.from_numpy(obs)[None], running[None])
                actions[cols] = greedy[0]
                explore = u[:, t % BLOCK] < epsilon
                actions = np.where(explore, random_action[:, t % BLOCK], actions)
                obs, _, terminated, truncated = envs.step(actions, running)
                running &= ~(terminated | truncated)
                t += 1
    finally:
        q_net.train(was_training)
        envs.close()
    states, mask = np.stack(visited, 1), np.stack(masks, 1)  # (E, T, D), (E, T): episode-major
    return states[mask].astype(np.float32, copy=False)  # (N, D)


def collect_states(
    q_net: nn.Module,
    n_episodes: int,
    epsilon: float = DEFAULT_EPSILON,
    seed: int = COLLECT_SEED,
    env_id: str = DEFAULT_ENV_ID,
) -> np.ndarray:
    """States visited by the epsilon-greedy network, ``(N, obs_dim)`` float32, episodes in order.

    Episode ``i`` starts from ``reset(seed=seed + i)``; at every step, with probability
    ``epsilon`` the action is uniform random, else ``argmax_a Q(s, a)`` (network in eval
    mode). All episodes are played at once (``rl.exploration.epsilon_greedy_states``), each
    exploring with its own generator, child ``i`` of ``numpy.random.SeedSequence(seed)``.
    Each row is the state *before* an action, so ``N`` is the sum of the episode lengths.
    """
    check_int("n_episodes", n_episodes, 1)
    check_epsilon(epsilon)
    check_int("seed", seed, 0)
    return epsilon_greedy_states(q_net, n_episodes, float(epsilon), seed, env_id)


def collect_buffers(
    q_net: nn.Module,
    n_train_episodes: int,
    n_eval_episodes: int,
    epsilon: float = DEFAULT_EPSILON,
    seed: int = COLLECT_SEED,
    env_id: str = DEFAULT_ENV_ID,
) -> tuple[np.ndarray, np.ndarray]:
    """A training buffer and a held-out evaluation buffer from disjoint episodes.

    Training: ``collect_states(q_net, n_train_episodes, epsilon, seed)`` (episode seeds
    ``seed .. seed + n_train_episodes - 1``). Evaluation:
    ``collect_states(q_net, n_eval_episodes, epsilon, seed + n_train_episodes)``, i.e. the
    next ``n_eval_episodes`` seeds and its own exploration stream.
    """
    check_int("n_train_episodes", n_train_episodes, 1)
    check_int("n_eval_episodes", n_eval_episodes, 1)
    train = collect_states(q_net, n_train_episodes, epsilon, seed, env_id)
    held_out = collect_states(q_net, n_eval_episodes, epsilon, seed + n_train_episodes, env_id)
    return train, held_out


def random_returns(env_id: str, n_episodes: int, seed: int) -> np.ndarray:
    """Returns ``(n_episodes,)`` of the uniform-random policy: episode ``i`` from ``reset(seed=seed + i)``,
    its actions from ``numpy.random.default_rng(seed + i)``. The floor of tasks without a fixed one.

    All episodes step at once in one bulk environment (``rl.bulk_envs``); each episode still
    draws its actions one ``integers(n_actions)`` call per step, so the returns are those of
    playing the episodes one by one in gymnasium.
    """
    envs, out = make_bulk(env_id, n_episodes), np.zeros(n_episodes, dtype=np.float64)
    envs.reset(np.arange(n_episodes), seed + np.arange(n_episodes))
    rngs = [np.random.default_rng(seed + i) for i in range(n_episodes)]
    running, actions = np.ones(n_episodes, dtype=bool), np.zeros(n_episodes, dtype=np.int64)
    try:
        while running.any():
            for i in np.flatnonzero(running):
                actions[i] = rngs[i].integers(envs.n_actions)
            _, reward, terminated, truncated = envs.step(actions, running)
            out += reward  # 0 where the episode no longer runs
            running &= ~(terminated | truncated)
    finally:
        envs.close()
    return out


def score_floor(env_id: str, n_episodes: int, seed: int) -> float:
    """0% of the task's return scale on these episodes: its fixed ``score_floor``, or the random policy's mean."""
    fixed = task(env_id).score_floor
    return fixed if fixed is not None else float(random_returns(env_id, n_episodes, seed).mean())
