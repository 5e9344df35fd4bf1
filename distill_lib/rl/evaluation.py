"""Closed-loop evaluation: a Q-network acting greedily in CartPole, and its size.

A distilled student is judged by what it is for: the return it earns when it acts alone
(Rusu et al. 2016, "Policy Distillation", sec. 5.2). ``closed_loop_returns`` plays the
study's fixed test episodes (``rl.cartpole.TEST_SEED``) with each network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..core.training import single_thread
from .cartpole import TEST_EPISODES, TEST_SEED, make_env

__all__ = ["closed_loop_returns", "count_parameters"]


def count_parameters(net: nn.Module) -> int:
    """``sum(p.numel())`` over the parameters; ``h^2 + 12h + 2`` for ``QNetwork(4, h, 2)``."""
    return sum(p.numel() for p in net.parameters())


def closed_loop_returns(
    nets: Sequence[nn.Module], n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED
) -> np.ndarray:
    """Greedy returns of each network, ``(len(nets), n_episodes)`` float64.

    The same episodes as ``cartpole.greedy_returns(net, n_episodes, seed)`` (episode ``i``
    from ``reset(seed=seed + i)``, action ``argmax_a Q(s, a)``, network in eval mode, one
    thread), stepped in lockstep: each step is one forward pass over the states of all
    running episodes ``(n_running, 4)``, about 6x faster than one state at a time. The
    Q-values of a state computed within a batch can differ from the one-row pass in the
    last float32 bits, which can change an action only at an exact tie (the tests check
    that the returns equal ``greedy_returns``'s). Each network's train/eval mode is restored.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r}: must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be an integer >= 0")
    envs = [make_env() for _ in range(n_episodes)]  # one per episode, reused by every network
    out = np.zeros((len(nets), n_episodes), dtype=np.float64)
    try:
        with single_thread(), torch.no_grad():
            for k, net in enumerate(nets):
                was_training = net.training
                net.eval()  # dropout off
                obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
                running = list(range(n_episodes))
                while running:
                    q = net(torch.from_numpy(obs[running]))  # (n_running, A)
                    still = []
                    for i, action in zip(running, q.argmax(-1).tolist(), strict=True):
                        obs_i, reward, terminated, truncated, _ = envs[i].step(action)
                        obs[i] = obs_i
                        out[k, i] += float(reward)
                        if not (terminated or truncated):
                            still.append(i)
                    running = still
                net.train(was_training)
    finally:
        for env in envs:
            env.close()
    return out
