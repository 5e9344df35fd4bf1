"""DQN training of the CartPole teacher (deterministic on the CPU).

Deep Q-learning (Mnih et al. 2015, "Human-level control through deep reinforcement
learning", Nature 518): an epsilon-greedy agent fills a replay buffer; each gradient step
regresses ``Q(s, a)`` on the bootstrapped target of a periodically copied target network,

    y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a'))      (double DQN)
    y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')                (plain DQN)

with the Huber loss (Mnih et al.'s error clipping) or the squared error, and Adam. Double
DQN is van Hasselt, Guez & Silver 2016, "Deep Reinforcement Learning with Double
Q-learning", AAAI. Only ``terminated`` cuts the bootstrap: CartPole's 500-step time limit
(``truncated``) is not a property of the state (Pardo et al. 2018, "Time Limits in
Reinforcement Learning", ICML). The layout follows cleanrl's ``dqn.py``.

Dropout. The network is the study's teacher, ``QNetwork(4, 64, 2, dropout=0.1)``, but it
is trained in eval mode (dropout off), as the target network and the greedy policy are
used: the teacher is always *used* with dropout off, and dropout in the online network
would add noise to the TD errors (and consume the torch RNG) without a benefit we need.

Checkpoint selection. DQN on CartPole oscillates (the greedy return can fall from 500 to
~100 within a few thousand steps), so every ``eval_every`` steps the greedy network is
run on ``eval_episodes`` selection episodes (seeds ``eval_seed + i``, disjoint from the
test seeds of ``cartpole.TEST_SEED``) and the best weights are kept (the first to reach
the highest mean; ties keep the earlier checkpoint).

Determinism: one thread, ``random``/numpy/torch seeded with ``seed``; the training
environment is reset once with ``seed`` and continues its own RNG; exploration and
replay sampling draw from ``numpy.random.default_rng(seed)``. The same config gives
bit-identical weights on the same machine and library versions.
"""

from __future__ import annotations

import copy
import hashlib
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.networks import freeze
from ..core.schema import Params, param
from ..core.streams import seed_everything
from ..core.training import single_thread
from ..records.atomic import atomic_torch_save, atomic_write_json
from .cartpole import (
    N_ACTIONS,
    OBS_DIM,
    TEST_EPISODES,
    TEST_SEED,
    cartpole_qnet,
    greedy_action,
    greedy_returns,
    make_env,
    mean_ci,
)

__all__ = [
    "TD_LOSSES",
    "DQNConfig",
    "ReplayBuffer",
    "linear_epsilon",
    "state_dict_digest",
    "td_targets",
    "train_and_save",
    "train_dqn",
]

#: TD-error losses: Huber (``smooth_l1``, beta 1; Mnih et al.'s error clipping) or squared error.
TD_LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


@dataclass(frozen=True)
class DQNConfig(Params):
    """Everything that determines one DQN training run (defaults: the shipped teacher)."""

    seed: int = param(
        0, "base seed: network init, exploration and replay sampling, the env's first reset", low=0, high=2**32 - 1
    )
    total_steps: int = param(100_000, "environment steps of training", low=1, high=10**9)
    buffer_size: int = param(50_000, "replay buffer capacity in transitions (>= batch_size)", low=1, high=10**9)
    batch_size: int = param(128, "transitions per gradient step", low=1, high=10**6)
    lr: float = param(5e-4, "Adam learning rate", low=0.0, high=1.0, low_open=True)
    gamma: float = param(0.99, "discount factor", low=0.0, high=1.0, high_open=True)
    target_update_every: int = param(
        500, "copy the online network into the target network every this many env steps", low=1
    )
    eps_start: float = param(1.0, "exploration rate at step 0", low=0.0, high=1.0)
    eps_end: float = param(0.02, "exploration rate after the decay (<= eps_start)", low=0.0, high=1.0)
    eps_fraction: float = param(
        0.2, "fraction of total_steps over which epsilon decays linearly", low=0.0, high=1.0, low_open=True
    )
    learning_starts: int = param(
        1_000, "env steps of pure collection before the first gradient step (>= batch_size)", low=1
    )
    train_every: int = param(1, "one gradient step every this many env steps", low=1)
    loss_fn: str = param("huber", "TD loss: huber or mse", choices=tuple(TD_LOSSES))
    double_dqn: bool = param(
        True, "double DQN targets (online argmax, target value) instead of max over the target network"
    )
    max_grad_norm: float | None = param(
        10.0, "gradient-norm clip (null: no clipping)", low=0.0, high=1e6, low_open=True
    )
    eval_every: int = param(
        5_000, "evaluate the greedy network every this many env steps to pick the best checkpoint", low=1
    )
    eval_episodes: int = param(10, "selection episodes per evaluation", low=1, high=100_000)
    eval_seed: int = param(
        20_000, "first seed of the selection episodes; must not overlap the test seeds", low=0, high=2**31
    )

    def check(self) -> None:
        super().check()
        if self.buffer_size < self.batch_size:
            raise self.fail("buffer_size", f"must be >= batch_size={self.batch_size}")
        if self.eps_end > self.eps_start:
            raise self.fail("eps_end", f"must be in [0, eps_start={self.eps_start:g}]")
        if self.learning_starts < self.batch_size:
            raise self.fail("learning_starts", f"must be >= batch_size={self.batch_size}")
        disjoint = self.eval_seed + self.eval_episodes <= TEST_SEED or self.eval_seed >= TEST_SEED + TEST_EPISODES
        if not disjoint:
            raise self.fail(
                "eval_seed",
                f"selection seeds {self.eval_seed}..{self.eval_seed + self.eval_episodes - 1} overlap the test seeds "
                f"{TEST_SEED}..{TEST_SEED + TEST_EPISODES - 1}; choose eval_seed >= {TEST_SEED + TEST_EPISODES}",
            )


class ReplayBuffer:
    """A fixed-capacity ring buffer of transitions ``(s, a, r, s', terminated)`` in numpy arrays."""

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.capacity, self.size, self._next = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Store one transition, overwriting the oldest once full."""
        i = self._next
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """``batch_size`` transitions drawn uniformly with replacement: ``(B, d), (B,), (B,), (B, d), (B,)``."""
        idx = rng.integers(self.size, size=batch_size)
        return tuple(
            torch.from_numpy(a[idx]) for a in (self.obs, self.actions, self.rewards, self.next_obs, self.terminated)
        )


def linear_epsilon(step: int, config: DQNConfig) -> float:
    """``eps_start -> eps_end`` linearly over the first ``eps_fraction * total_steps`` steps, then flat."""
    duration = config.eps_fraction * config.total_steps
    progress = min(1.0, step / duration)
    return config.eps_start + progress * (config.eps_end - config.eps_start)


def td_targets(
    online: nn.Module,
    target: nn.Module,
    rewards: torch.Tensor,
    next_obs: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    double_dqn: bool,
) -> torch.Tensor:
    """The bootstrapped targets ``y`` (B,) of the module docstring, without gradients."""
    with torch.no_grad():
        q_next = target(next_obs)  # (B, A)
        if double_dqn:
            best = online(next_obs).argmax(-1, keepdim=True)  # (B, 1)
            v_next = q_next.gather(-1, best).squeeze(-1)  # (B,)
        else:
            v_next = q_next.max(-1).values  # (B,)
        return rewards + gamma * (1.0 - terminated) * v_next


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in state-dict order.

    Unlike the bytes of a ``.pt`` file (whose zip records the file name), it depends only
    on the weights: two trainings agree bit-for-bit iff their digests agree.
    """
    h = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def train_dqn(config: DQNConfig, progress: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train a ``QNetwork(4, 64, 2, dropout=0.1)`` on CartPole-v1 with DQN.

    Returns the best checkpoint's state dict (by selection return) and a JSON-ready record:
    the config, the training episodes' returns and end steps, the selection evaluations,
    the mean TD loss between evaluations, the best step and the wall time.
    """
    start_time = time.perf_counter()
    with single_thread():
        # 1. seeding: random, numpy and torch; one numpy generator for exploration and replay
        seed_everything(config.seed)
        rng = np.random.default_rng(config.seed)
        env = make_env()
        env.action_space.seed(config.seed)

        # 2. networks and optimiser; dropout off in training (module docstring)
        q_net = cartpole_qnet().eval()
        target_net = freeze(copy.deepcopy(q_net))
        optimizer = torch.optim.Adam(q_net.parameters(), lr=config.lr)
        loss_fn = TD_LOSSES[config.loss_fn]
        buffer = ReplayBuffer(config.buffer_size, OBS_DIM)

        episode_returns: list[float] = []
        episode_end_steps: list[int] = []
        evals: list[dict[str, float]] = []
        window_losses: list[float] = []
        best_mean, best_step = -math.inf, -1
        best_state = copy.deepcopy(q_net.state_dict())

        obs, _ = env.reset(seed=config.seed)
        episode_return = 0.0
        bar = tqdm(total=config.total_steps, disable=not progress, desc="DQN", mininterval=1.0)
        for step in range(config.total_steps):
            # 3. act epsilon-greedily and store the transition
            if rng.random() < linear_epsilon(step, config):
                action = int(rng.integers(N_ACTIONS))
            else:
                with torch.no_grad():
                    action = greedy_action(q_net, obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, float(reward), next_obs, terminated)
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated:
                episode_returns.append(episode_return)
                episode_end_steps.append(step + 1)
                obs, _ = env.reset()
                episode_return = 0.0

            # 4. one gradient step on a replayed minibatch
            if step >= config.learning_starts and step % config.train_every == 0:
                s, a, r, s_next, term = buffer.sample(config.batch_size, rng)
                y = td_targets(q_net, target_net, r, s_next, term, config.gamma, config.double_dqn)  # (B,)
                q_sa = q_net(s).gather(-1, a.unsqueeze(-1)).squeeze(-1)  # (B,)
                loss = loss_fn(q_sa, y)
                optimizer.zero_grad()
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(q_net.parameters(), config.max_grad_norm)
                optimizer.step()
                window_losses.append(loss.item())

            # 5. refresh the target network
            if (step + 1) % config.target_update_every == 0:
                target_net.load_state_dict(q_net.state_dict())

            # 6. evaluate greedily on the selection episodes; keep the best checkpoint
            if (step + 1) % config.eval_every == 0 or step + 1 == config.total_steps:
                returns = greedy_returns(q_net, config.eval_episodes, config.eval_seed)
                mean_loss = float(np.mean(window_losses)) if window_losses else None
                evals.append({"step": step + 1, "mean_return": float(returns.mean()), "mean_loss": mean_loss})
                window_losses = []
                if returns.mean() > best_mean:
                    best_mean, best_step = float(returns.mean()), step + 1
                    best_state = copy.deepcopy(q_net.state_dict())
                recent = float(np.mean(episode_returns[-10:])) if episode_returns else 0.0
                bar.set_postfix(train_ret=f"{recent:.0f}", eval_ret=f"{returns.mean():.0f}", best=f"{best_mean:.0f}")
            bar.update(1)
        bar.close()
        env.close()

    record: dict[str, Any] = {
        "config": config.to_dict(),
        "episode_returns": episode_returns,
        "episode_end_steps": episode_end_steps,
        "evals": evals,
        "best_step": best_step,
        "best_selection_return": best_mean,
        "state_sha256": state_dict_digest(best_state),
        "train_wall_time_s": time.perf_counter() - start_time,
    }
    return best_state, record


def _versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "platform": platform.platform(),
    }


def train_and_save(config: DQNConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train, test on the 100 test episodes, and write ``teacher.pt`` and ``teacher.json``.

    ``teacher.pt`` is the best checkpoint's state dict only (load it with
    ``cartpole.load_cartpole_teacher``); ``teacher.json`` is ``train_dqn``'s record plus
    the test returns (seeds ``TEST_SEED + i``), their mean and 95% CI, and library
    versions. Returns that record.
    """
    out = Path(out_dir)
    state, record = train_dqn(config, progress=progress)
    teacher = cartpole_qnet()
    teacher.load_state_dict(state)
    freeze(teacher)
    returns = greedy_returns(teacher, TEST_EPISODES, TEST_SEED)
    mean, lo, hi = mean_ci(returns)
    record.update(
        {
            "architecture": "QNetwork(4, 64, 2, dropout=0.1)",
            "test_seed": TEST_SEED,
            "test_episodes": TEST_EPISODES,
            "test_returns": returns.tolist(),
            "test_mean": mean,
            "test_ci95": [lo, hi],
            "versions": _versions(),
        }
    )
    atomic_torch_save(out / "teacher.pt", state)
    atomic_write_json(out / "teacher.json", record)
    return record
