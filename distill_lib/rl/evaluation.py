"""Closed-loop evaluation: Q-networks acting greedily in CartPole, and their size.

A distilled student is judged by what it is for: the return it earns when it acts alone
(Rusu et al. 2016, "Policy Distillation", sec. 5.2). ``closed_loop_returns`` plays the
study's fixed test episodes (``rl.cartpole.TEST_SEED``) with each network.

Every episode of every network is stepped together: one vectorised environment holds all
``len(nets) x n_episodes`` episodes (gymnasium's ``CartPoleVectorEnv``, started from the
scalar environment's seeded resets, ``rl.cartpole.make_vector_env``), and the networks of
one architecture act in one stacked forward pass over a flat ``(S, P)`` weight buffer
(``core.stacked.stacked_forward``, the training loop's batched forward). The earlier
lockstep loop, one network at a time with a Python ``env.step`` per episode, is kept as
``_lockstep_returns``: the benchmark's old path and a second reference for the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.networks import QNetwork
from ..core.stacked import DROPOUT_INDEX, LINEAR_KEYS, NORM_KEYS, FlatLayout, stacked_forward
from ..core.training import single_thread
from .cartpole import TEST_EPISODES, TEST_SEED, make_env, make_vector_env, reset_states

__all__ = ["closed_loop_returns", "count_parameters"]

#: the greedy policy of a group of networks: observations ``(S, E, D)`` -> actions ``(S, E)`` int64
Policy = Callable[[torch.Tensor], torch.Tensor]


def count_parameters(net: nn.Module) -> int:
    """``sum(p.numel())`` over the parameters; ``h^2 + 12h + 2`` for ``QNetwork(4, h, 2)``."""
    return sum(p.numel() for p in net.parameters())


def _check_args(n_episodes: object, seed: object) -> None:
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r}: must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be an integer >= 0")


def _stackable(net: nn.Module) -> tuple | None:
    """The architecture key of a plain ``QNetwork`` (its stacked forward equals its own), else None."""
    if not isinstance(net, QNetwork) or type(net).forward is not nn.Sequential.forward or len(net) != 9:
        return None
    norms = [net[int(k)] for k in NORM_KEYS]
    if not all(isinstance(m, nn.LayerNorm) and m.elementwise_affine and m.bias is not None for m in norms):
        return None
    if not all(isinstance(net[i], nn.Dropout) for i in DROPOUT_INDEX) or not isinstance(net[2], nn.ReLU):
        return None
    if not all(isinstance(net[int(k)], nn.Linear) and net[int(k)].bias is not None for k in LINEAR_KEYS):
        return None
    shapes = tuple((k, tuple(v.shape), v.dtype) for k, v in net.state_dict().items())
    return shapes, tuple(m.eps for m in norms)


def _stacked_q(nets: Sequence[QNetwork], device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Networks of one architecture as one flat ``(S, P)`` buffer on ``device``: eval-mode Q-values, no dropout."""
    layout = FlatLayout(nets[0].state_dict())
    flat = layout.flatten([n.state_dict() for n in nets]).detach().to(device)  # (S, P) a copy: nets untouched
    params, eps = layout.views(flat), nets[0][int(NORM_KEYS[0])].eps

    def q_values(obs: torch.Tensor) -> torch.Tensor:  # (S, E, D) -> (S, E, A)
        return stacked_forward(params, obs.to(flat.dtype), eps)

    return q_values


def _module_policy(net: nn.Module) -> Policy:
    """Any other module, run on the device of its parameters (CPU if it has none), in eval mode."""
    where = next((p.device for p in net.parameters()), torch.device("cpu"))

    def act(obs: torch.Tensor) -> torch.Tensor:  # (1, E, D) -> (1, E)
        q = net(obs[0].to(where))  # (E, A)
        return q.argmax(-1).unsqueeze(0)

    return act


def _policies(nets: Sequence[nn.Module], device: torch.device) -> list[tuple[list[int], Policy]]:
    """Group the networks by architecture; each group ``(indices, policy)`` acts in one call."""
    stacks: dict[tuple, list[int]] = {}  # architecture -> networks
    alone: list[int] = []  # modules that run their own forward
    for k, net in enumerate(nets):
        key = _stackable(net)
        if key is None:
            alone.append(k)
        else:
            stacks.setdefault(key, []).append(k)
    out: list[tuple[list[int], Policy]] = []
    for idx in stacks.values():
        q_values = _stacked_q([nets[k] for k in idx], device)
        out.append((idx, lambda obs, q_values=q_values: q_values(obs).argmax(-1)))
    out += [([k], _module_policy(nets[k])) for k in alone]
    return out


def closed_loop_returns(
    nets: Sequence[nn.Module],
    n_episodes: int = TEST_EPISODES,
    seed: int = TEST_SEED,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Greedy returns of each network, ``(len(nets), n_episodes)`` float64.

    The same episodes as ``cartpole.greedy_returns(net, n_episodes, seed)`` (episode ``i``
    from ``reset(seed=seed + i)``, action ``argmax_a Q(s, a)``, network in eval mode, one
    thread), all stepped together: ``len(nets) * n_episodes`` sub-environments of one
    vectorised CartPole (numpy, on the CPU), and per step one forward pass per architecture
    over the observations of all its networks' episodes, ``(S, n_episodes, 4)`` on
    ``device``. ``QNetwork`` students of one width share a stacked forward on a copy of
    their weights; any other module runs alone on its own device. A finished episode's
    sub-environment keeps stepping (autoreset) until every episode has finished, but earns
    nothing. The Q-values of a state computed within a batch can differ from the one-row
    pass in the last float32 bits, which can change an action only at an exact tie (the
    tests check that the returns equal ``greedy_returns``'s). The networks are not modified.
    """
    _check_args(n_episodes, seed)
    device = torch.device(device)
    out = np.zeros((len(nets), n_episodes), dtype=np.float64)  # (K, E)
    if not nets:
        return out
    groups = _policies(nets, device)
    order = [k for idx, _ in groups for k in idx]  # networks in group order: one group, one block of episodes
    starts = reset_states(n_episodes, seed)  # (E, 4) float64
    envs = make_vector_env(np.tile(starts, (len(nets), 1)))  # sub-env j: network order[j // E], episode j % E
    returns = np.zeros(len(nets) * n_episodes, dtype=np.float64)  # (K * E,)
    running = np.ones(len(nets) * n_episodes, dtype=bool)
    obs = starts.astype(np.float32)[None].repeat(len(nets), 0)  # (K, E, 4)
    modes = [net.training for net in nets]
    try:
        for net in nets:
            net.eval()  # dropout off (the stacked groups never apply it)
        with single_thread(), torch.no_grad():
            while running.any():
                x = torch.from_numpy(obs).to(device)  # (K, E, 4)
                actions, row = [], 0
                for idx, act in groups:
                    actions.append(act(x[row : row + len(idx)]))  # (S, E)
                    row += len(idx)
                a = torch.cat(actions).reshape(-1).cpu().numpy()  # (K * E,)
                next_obs, reward, terminated, truncated, _ = envs.step(a)
                returns += np.where(running, reward, 0.0)
                running &= ~(terminated | truncated)
                obs = next_obs.reshape(len(nets), n_episodes, -1)
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)
        envs.close()
    out[order] = returns.reshape(len(nets), n_episodes)
    return out


def _lockstep_returns(
    nets: Sequence[nn.Module], n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED
) -> np.ndarray:
    """The earlier path: one network at a time, its running episodes in lockstep, ``(len(nets), n_episodes)``.

    Each step is one forward pass over the states of the network's running episodes
    ``(n_running, 4)`` and one Python ``env.step`` per episode (about 6x faster than
    ``greedy_returns``'s one state at a time; the benchmark's "old path").
    """
    _check_args(n_episodes, seed)
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
