"""DQN's experience replay for K stacked agents: one ring buffer per agent, all in one tensor.

Uniform replay (Lin 1992; Mnih et al. 2015): each gradient step of an agent regresses on
transitions drawn uniformly with replacement from the agent's last ``capacity`` ones. Agent
``k``'s ring is row ``k`` of one float32 tensor, so a minibatch of every agent is one
``index_select``; the indices are ``floor(u * size)`` of uniforms ``u`` in [0, 1) that the
caller draws from each agent's own generator (``rl.dqn``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["StackedReplay"]


class StackedReplay:
    """K fixed-capacity ring buffers of transitions ``(s, a, r, s', terminated)``, one per agent.

    Held as one float32 tensor ``(K, capacity, 2 D + 3)``, a row per transition (``s``, ``s'``,
    ``a``, ``r``, ``terminated``), so a minibatch of every agent is one ``index_select``; each
    agent has its own write position and size, because the transitions an agent stores per
    vector step vary (an environment's autoreset step is no transition and is not stored).
    """

    def __init__(self, n_agents: int, capacity: int, obs_dim: int) -> None:
        self.capacity, self.obs_dim = capacity, obs_dim
        self.size = np.zeros(n_agents, dtype=np.int64)
        self._next = np.zeros(n_agents, dtype=np.int64)
        self.rows = torch.zeros(n_agents, capacity, 2 * obs_dim + 3)  # (K, C, F)
        self._base = np.arange(n_agents)[:, None] * capacity  # (K, 1) each agent's first flat row

    @property
    def obs(self) -> torch.Tensor:
        return self.rows[..., : self.obs_dim]  # (K, C, D)

    @property
    def next_obs(self) -> torch.Tensor:
        return self.rows[..., self.obs_dim : 2 * self.obs_dim]

    @property
    def rewards(self) -> torch.Tensor:
        return self.rows[..., -2]

    @property
    def terminated(self) -> torch.Tensor:
        return self.rows[..., -1]

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Store the ``valid`` ``(K, M)`` rows of one vector step (obs ``(K, M, D)``), oldest overwritten first.

        A step with no valid row (every environment of every agent resetting at once: episodes that all
        end at the time limit together, as on Acrobot before any agent reaches the goal) stores nothing.
        """
        if not valid.any():
            return
        rank = np.cumsum(valid, axis=1) - 1  # (K, M) the row's place among its agent's valid rows
        slot = (self._next[:, None] + rank) % self.capacity  # (K, M)
        k, m = np.nonzero(valid)
        columns = [obs[k, m], next_obs[k, m], actions[k, m, None], rewards[k, m, None], terminated[k, m, None]]
        rows = np.concatenate([np.asarray(c, dtype=np.float32).reshape(len(k), -1) for c in columns], axis=1)
        self.rows.view(-1, self.rows.shape[-1])[torch.from_numpy(self._base[k, 0] + slot[k, m])] = torch.from_numpy(
            rows
        )
        counts = valid.sum(axis=1)
        self._next = (self._next + counts) % self.capacity
        self.size = np.minimum(self.size + counts, self.capacity)

    def sample_at(self, u: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The transitions at uniforms ``u`` ``(K, B)`` in [0, 1): row ``floor(u * size)`` of each agent's ring."""
        index = self._base + (u * self.size[:, None]).astype(np.int64)  # (K, B) flat rows
        batch = self.rows.view(-1, self.rows.shape[-1]).index_select(0, torch.from_numpy(index.reshape(-1)))
        batch = batch.view(*u.shape, -1)  # (K, B, F)
        d = self.obs_dim
        return batch[..., :d], batch[..., -3].long(), batch[..., -2], batch[..., d : 2 * d], batch[..., -1]

    def sample(self, batch_size: int, rngs: Sequence[np.random.Generator]) -> tuple[torch.Tensor, ...]:
        """``batch_size`` transitions per agent, uniform with replacement from its own rng: ``(K, B, ...)``."""
        return self.sample_at(np.stack([rng.random(batch_size) for rng in rngs]))
