"""Closed-loop evaluation: Q-networks acting greedily in a task's episodes (CartPole by default), and their size.

A distilled student is judged by what it is for: the return it earns when it acts alone
(Rusu et al. 2016, "Policy Distillation", sec. 5.2). ``closed_loop_returns`` plays the
study's fixed test episodes (``rl.episodes.TEST_SEED``) with each network.

Every episode of every network is stepped together: one bulk environment holds all
``len(nets) x n_episodes`` episodes (``rl.bulk_envs``: CartPole and Acrobot ported to numpy,
started from gymnasium's seeded resets and stepping bit for bit as gymnasium's environment;
other tasks one gymnasium environment per episode; only the running episodes step), and
the networks of one architecture act in one stacked
forward pass (``StackedGreedy``: the leading network axis of ``core.stacked``). The earlier
lockstep loop, one network at a time with a Python ``env.step`` per episode, is kept as
``_lockstep_returns``: the benchmark's old path and a second reference for the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.networks import PlainQNetwork, QNetwork
from ..core.stacked import DROPOUT_INDEX, LINEAR_KEYS, NORM_KEYS
from ..core.training import single_thread
from .bulk_envs import PORTS, make_bulk
from .episodes import TEST_EPISODES, TEST_SEED, make_env
from .tasks import DEFAULT_ENV_ID

__all__ = ["ClosedLoop", "ModuleGreedy", "StackedGreedy", "closed_loop", "closed_loop_returns", "count_parameters"]


def count_parameters(net: nn.Module) -> int:
    """``sum(p.numel())`` over the parameters; ``h^2 + 12h + 2`` for ``QNetwork(4, h, 2)``."""
    return sum(p.numel() for p in net.parameters())


def _check_args(n_episodes: object, seed: object) -> None:
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r}: must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be an integer >= 0")


def _architecture(net: nn.Module) -> tuple | None:
    """The architecture of a ``QNetwork`` or ``PlainQNetwork`` as built (one ``StackedGreedy`` can hold it), else None."""
    if isinstance(net, PlainQNetwork) and type(net).forward is nn.Sequential.forward and len(net) == 5:
        if all(isinstance(net[i], nn.Linear) and net[i].bias is not None for i in (0, 2, 4)):
            return tuple((k, tuple(v.shape), v.dtype) for k, v in net.state_dict().items()), None
        return None
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


class StackedGreedy:
    """S ``QNetwork`` s (or S ``PlainQNetwork`` s: no LayerNorm) of one architecture acting greedily at once, on a
    copy of their weights on ``device``.

    The forward of ``QNetwork`` in eval mode (no dropout), batched over a leading network
    axis as ``core.stacked.stacked_forward`` (``baddbmm``), with LayerNorm (Ba et al. 2016)
    written out: ATen's LayerNorm kernel costs about 100 ns per row at width 32, two thirds
    of the forward. Centring is linear, so it is folded into the Linear layer before it::

        d = h - mean_j h_j = x @ (W^T C) + b C,   C = I - 1 1^T / H   (weights centred once)
        LN(h) * gain + shift = d / sqrt(mean_j d_j^2 + eps) * gain + shift = RMSNorm(d) * gain + shift

    The Q-values equal the one-row ``nn.Module`` pass to float32 rounding of the same order
    as the module's own pass over a batch of states, the lockstep loop's standard (the
    tests bound it and check the actions); the networks' weights are copied, not shared.
    """

    def __init__(self, nets: Sequence[QNetwork | PlainQNetwork], device: torch.device) -> None:
        states = [net.state_dict() for net in nets]

        def stack(key: str) -> torch.Tensor:
            return torch.stack([s[key].detach() for s in states]).to(device)  # (S, *shape): a copy, nets untouched

        linear = ("0", "2", "4") if isinstance(nets[0], PlainQNetwork) else LINEAR_KEYS
        weight = [stack(f"{k}.weight").transpose(1, 2) for k in linear]  # (S, in, out)
        bias = [stack(f"{k}.bias").unsqueeze(1) for k in linear]  # (S, 1, out)
        self.device, self.dtype = device, weight[0].dtype
        self._subset: tuple[tuple[int, ...], list[list[torch.Tensor]]] | None = None
        if linear != LINEAR_KEYS:  # a plain MLP: relu(x W + b) twice and the head, no LayerNorm
            self.weight, self.bias, self.gain, self.shift = [w.contiguous() for w in weight], bias, [], []
            return
        hidden = weight[0].shape[-1]
        center = torch.eye(hidden, dtype=weight[0].dtype, device=device) - 1.0 / hidden  # (H, H)
        # the two hidden layers output their centred pre-activations d; the head is plain
        self.weight = [(w @ center).contiguous() for w in weight[:2]] + [weight[2].contiguous()]
        self.bias = [b @ center for b in bias[:2]] + [bias[2]]
        self.gain = [stack(f"{k}.weight").unsqueeze(1) for k in NORM_KEYS]  # (S, 1, H)
        self.shift = [stack(f"{k}.bias").unsqueeze(1) for k in NORM_KEYS]  # (S, 1, H)
        self.eps = [nets[0][int(k)].eps for k in NORM_KEYS]

    def _params(self, nets: np.ndarray | None) -> list[list[torch.Tensor]]:
        """The stacked parameters of networks ``nets`` (all if None); a subset is kept until it changes."""
        full = [self.weight, self.bias, self.gain, self.shift]
        if nets is None:
            return full
        key = tuple(nets.tolist())
        if self._subset is None or self._subset[0] != key:
            index = torch.from_numpy(nets).to(self.device)
            self._subset = key, [[t.index_select(0, index) for t in ts] for ts in full]
        return self._subset[1]

    def q_values(self, obs: torch.Tensor, nets: np.ndarray | None = None) -> torch.Tensor:
        """Q-values ``(S', E, A)`` of observations ``(S', E, D)`` for networks ``nets`` (default: all S)."""
        weight, bias, gain, shift = self._params(nets)
        h = obs.to(self.dtype)
        for layer in range(2):
            d = torch.baddbmm(bias[layer], h, weight[layer])  # (S', E, H) pre-activations, centred with LayerNorm
            if gain:  # QNetwork's LayerNorm (a PlainQNetwork has none)
                xhat = F.rms_norm(d, d.shape[-1:], eps=self.eps[layer])  # d / sqrt(mean(d^2) + eps): d is centred
                d = torch.addcmul(shift[layer], xhat, gain[layer])
            h = d.relu_()
        return torch.baddbmm(bias[2], h, weight[2])  # (S', E, A)

    def act(self, obs: torch.Tensor, running: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Greedy actions of the running episodes: obs ``(S, E, D)``, running ``(S, E)`` bool.

        Returns ``(nets, episodes, actions)``: the actions ``(len(nets), len(episodes))`` of the
        smallest rectangle of networks x episodes that holds every running episode.
        """
        nets, episodes = np.flatnonzero(running.any(1)), np.flatnonzero(running.any(0))
        if len(nets) * len(episodes) == running.size:
            return nets, episodes, self.q_values(obs).argmax(-1).cpu().numpy()
        rows = torch.from_numpy(nets).to(obs.device)
        cols = torch.from_numpy(episodes).to(obs.device)
        x = obs.index_select(0, rows).index_select(1, cols)  # (S', E', D)
        return nets, episodes, self.q_values(x, nets).argmax(-1).cpu().numpy()


class ModuleGreedy:
    """Any other module acting greedily on its running episodes, on the device of its parameters (CPU if none)."""

    def __init__(self, net: nn.Module) -> None:
        self.net, self.device = net, next((p.device for p in net.parameters()), torch.device("cpu"))

    def act(self, obs: torch.Tensor, running: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As ``StackedGreedy.act`` for one network: obs ``(1, E, D)``, running ``(1, E)``."""
        episodes = np.flatnonzero(running[0])
        q = self.net(obs[0, torch.from_numpy(episodes).to(obs.device)].to(self.device))  # (E', A)
        return np.zeros(1, dtype=np.int64), episodes, q.argmax(-1).cpu().numpy()[None]


def _greedy_groups(
    nets: Sequence[nn.Module], device: torch.device
) -> list[tuple[list[int], StackedGreedy | ModuleGreedy]]:
    """The networks grouped by architecture, ``(indices, policy)``; other modules one by one."""
    stacks: dict[tuple, list[int]] = {}
    alone: list[int] = []
    for k, net in enumerate(nets):
        key = _architecture(net)
        if key is None:
            alone.append(k)
        else:
            stacks.setdefault(key, []).append(k)
    groups: list[tuple[list[int], StackedGreedy | ModuleGreedy]] = [
        (idx, StackedGreedy([nets[k] for k in idx], device)) for idx in stacks.values()
    ]
    return groups + [([k], ModuleGreedy(nets[k])) for k in alone]


@dataclass(frozen=True)
class ClosedLoop:
    """What the networks did in their episodes: returns ``(K, E)``, and, with a reference network,
    on how many of the states each network visited (``steps`` ``(K,)``) it chose the reference's
    greedy action (``matches`` ``(K,)``)."""

    returns: np.ndarray
    steps: np.ndarray
    matches: np.ndarray | None = None

    @property
    def agreement(self) -> np.ndarray | None:
        """``matches / steps`` ``(K,)``: agreement with the reference on the network's own states."""
        return None if self.matches is None else self.matches / self.steps


def closed_loop_returns(
    nets: Sequence[nn.Module],
    n_episodes: int = TEST_EPISODES,
    seed: int = TEST_SEED,
    device: torch.device | str = "cpu",
    env_id: str = DEFAULT_ENV_ID,
) -> np.ndarray:
    """Greedy returns of each network, ``(len(nets), n_episodes)`` float64 (``closed_loop(...).returns``)."""
    return closed_loop(nets, n_episodes, seed, device, env_id=env_id).returns


#: at most this many gymnasium environments at once (tasks without a numpy port; more networks run in chunks)
MAX_ENVS = 4096


def closed_loop(
    nets: Sequence[nn.Module],
    n_episodes: int = TEST_EPISODES,
    seed: int = TEST_SEED,
    device: torch.device | str = "cpu",
    reference: nn.Module | None = None,
    env_id: str = DEFAULT_ENV_ID,
) -> ClosedLoop:
    """Greedy returns of each network, ``(len(nets), n_episodes)`` float64, and its agreement with ``reference``.

    The same episodes as ``episodes.greedy_returns(net, n_episodes, seed, env_id)`` (episode ``i``
    from ``reset(seed=seed + i)``, action ``argmax_a Q(s, a)``, network in eval mode, one
    thread), all stepped together: ``len(nets) * n_episodes`` slots of one bulk environment
    (``rl.bulk_envs.make_bulk``: a numpy port, on the CPU; on other tasks one gymnasium
    environment per episode, in chunks of at most ``MAX_ENVS`` environments), and per step one
    forward pass per architecture (``StackedGreedy``, on ``device``) over the observations
    ``(S, E', D)`` of the networks and episodes still running (a finished episode no longer
    steps and is left out of the forward once no network of its group needs its column). Any module that is not a plain ``QNetwork`` runs its own forward, on the device
    of its parameters. The Q-values of a state computed within a batch differ from the
    one-row pass by float32 rounding (as the module's own batched pass does), which can
    change an action only where the two Q-values tie to within that rounding (the tests
    check that the returns equal ``greedy_returns``'s). The networks are not modified;
    their train/eval mode is restored.

    With ``reference`` (the teacher, say; a module on the CPU, run in eval mode), every state a
    network visits while its episode runs is also shown to the reference, and the network's
    action is compared with the reference's greedy one: fidelity on the states the *network*
    reaches, where a teacher-driven buffer may have none (Ross et al. 2011, DAgger).
    """
    _check_args(n_episodes, seed)
    chunk = max(1, MAX_ENVS // n_episodes)
    if env_id not in PORTS and len(nets) > chunk:
        parts = [closed_loop(nets[i : i + chunk], n_episodes, seed, device, reference, env_id)
                 for i in range(0, len(nets), chunk)]  # fmt: skip
        matches = None if reference is None else np.concatenate([p.matches for p in parts])
        return ClosedLoop(np.concatenate([p.returns for p in parts]), np.concatenate([p.steps for p in parts]), matches)
    device = torch.device(device)
    out = np.zeros((len(nets), n_episodes), dtype=np.float64)  # (K, E)
    steps_out = np.zeros(len(nets), dtype=np.int64)
    matches_out = None if reference is None else np.zeros(len(nets), dtype=np.int64)
    if not nets:
        return ClosedLoop(out, steps_out, matches_out)
    groups = _greedy_groups(nets, device)
    order = [k for idx, _ in groups for k in idx]  # networks in group order: a group's episodes are one block
    n = len(nets)
    envs = make_bulk(env_id, n * n_episodes)  # slot j: network order[j // E], episode j % E
    envs.reset(np.arange(n * n_episodes), np.tile(seed + np.arange(n_episodes), n))
    returns = np.zeros((n, n_episodes), dtype=np.float64)  # (K, E) in group order
    running = np.ones((n, n_episodes), dtype=bool)
    actions = np.zeros((n, n_episodes), dtype=np.int64)
    steps, matches = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)  # (K,) in group order
    modes = [net.training for net in nets]
    reference_mode = reference is not None and reference.training
    try:
        if reference is not None:
            reference.eval()
        for net in nets:
            net.eval()  # dropout off (StackedGreedy never applies it)
        with single_thread(), torch.no_grad():
            while running.any():
                obs = envs.obs  # (K * E, D)
                x = torch.from_numpy(obs).to(device).view(n, n_episodes, -1)  # (K, E, D)
                row = 0
                for idx, policy in groups:
                    block = slice(row, row + len(idx))
                    rows, cols, acts = policy.act(x[block], running[block])
                    actions[block][np.ix_(rows, cols)] = acts
                    row += len(idx)
                steps += running.sum(1)
                if reference is not None:
                    k, e = np.nonzero(running)
                    x_run = torch.from_numpy(obs.reshape(n, n_episodes, -1)[k, e])  # (R, D) the running states
                    same = reference(x_run).argmax(-1).numpy() == actions[k, e]  # (R,)
                    matches += np.bincount(k, weights=same, minlength=n).astype(np.int64)
                _, reward, terminated, truncated = envs.step(actions.reshape(-1), running.reshape(-1))
                done = terminated | truncated
                returns += np.where(running, reward.reshape(n, n_episodes), 0.0)
                running &= ~done.reshape(n, n_episodes)
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)
        if reference is not None:
            reference.train(reference_mode)
        envs.close()
    out[order], steps_out[order] = returns, steps
    if matches_out is not None:
        matches_out[order] = matches
    return ClosedLoop(out, steps_out, matches_out)


def _lockstep_returns(nets: Sequence[nn.Module], n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED) -> np.ndarray:
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
