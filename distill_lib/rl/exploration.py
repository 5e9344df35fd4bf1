"""Epsilon-greedy episodes of one network, all played at once: the states of the teacher's buffers.

Episode ``i`` of a call with ``seed`` starts from ``gymnasium.make(env_id).reset(seed=seed + i)``
and acts epsilon-greedily (Mnih et al. 2015): at its step ``t`` the action is uniform random
where ``u[i, t] < epsilon``, else ``argmax_a Q(s, a)`` (network in eval mode, one thread). The
draws of episode ``i`` come from its own generator, child ``i`` of
``numpy.random.SeedSequence(seed)`` (numpy's recipe for independent streams), in blocks of
``BLOCK`` steps: ``u = random(BLOCK)``, then the random actions ``integers(n_actions,
size=BLOCK)``. An episode's states therefore depend on its seed and index only, not on the
other episodes played beside it, and every episode steps in one bulk environment
(``rl.bulk_envs``; CartPole and Acrobot bit for bit as gymnasium's).

The earlier loop (``rl.cartpole.collect_states`` before this module) played the episodes one
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
from .evaluation import _greedy_groups

__all__ = ["BLOCK", "episode_draws", "epsilon_greedy_states"]

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
