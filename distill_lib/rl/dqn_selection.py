"""Which checkpoint a DQN run keeps: the best by selection return, at its full budget and at smaller ones.

The rule. DQN's greedy return oscillates during training (on CartPole it can fall from 500 to
~100 within a few thousand steps), so a run does not return its last weights. Every
``eval_every`` environment steps, and at its last vector step, each agent's greedy network
plays the selection episodes (``eval_episodes`` of them from ``eval_seed``, disjoint from the
test episodes of ``episodes.TEST_SEED``), and the run keeps the checkpoint with the highest
mean return; a tie keeps the earlier checkpoint. This is model selection on validation
episodes, the rule the study applies on both sides of a comparison (the test episodes never
choose a checkpoint).

Budgets. A run of ``total_steps`` read at a budget ``b <= total_steps`` (env steps per agent)
is the checkpoint that run would have kept had it stopped at ``b``: the best among its regular
evaluations at env steps ``<= b`` and one evaluation at ``b`` itself (a run always evaluates
at its last vector step), ``b`` rounded up to whole vector steps of ``n_envs`` env steps, as
``total_steps`` is. The evaluation at ``b`` is a candidate at ``b`` only, so the full budget
keeps exactly the checkpoint of the run read without budgets, and the extra evaluations
change nothing else (they use their own environments and no random stream of the training).

A caveat the reader of a learning curve needs: the run read at ``b`` is not a run *planned*
for ``b``. Its exploration rate decays over ``eps_fraction * total_steps`` env steps
(``dqn_config.linear_epsilon``), so at small budgets it still explores more than a run of
``b`` steps would. Read at its budgets, one run gives the learning curve of its kept
checkpoint, not the best DQN could do with each budget planned for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["BudgetCheckpoint", "CheckpointSelection", "budget_end"]


def budget_end(budget: int, n_envs: int) -> int:
    """The env step at which a budget's last vector step ends: ``ceil(budget / n_envs) * n_envs``."""
    return -(-budget // n_envs) * n_envs


@dataclass(frozen=True)
class BudgetCheckpoint:
    """Each agent's kept checkpoint at one budget: weights ``flat`` ``(K, P)``, its step and selection return ``(K,)``."""

    steps: int  # the budget asked for, in env steps per agent
    env_steps: int  # the env steps actually taken: the budget rounded up to whole vector steps
    gradient_steps: int  # the gradient steps each agent had taken by then
    best_step: np.ndarray  # (K,) int: the env step of the kept checkpoint
    selection_return: np.ndarray  # (K,) float: its mean return on the selection episodes
    flat: torch.Tensor  # (K, P): its weights

    def agent_record(self, k: int, state_sha256: str) -> dict[str, Any]:
        """Agent ``k``'s entry of its record's ``budgets`` (JSON-ready), with the digest of its weights."""
        return {
            "steps": self.steps,
            "env_steps": self.env_steps,
            "gradient_steps": self.gradient_steps,
            "best_step": int(self.best_step[k]),
            "selection_return": float(self.selection_return[k]),
            "state_sha256": state_sha256,
        }


class CheckpointSelection:
    """The module docstring's rule for K agents stacked in a flat ``(K, P)`` tensor, at their budgets."""

    def __init__(self, flat: torch.Tensor, budgets: Sequence[int], n_envs: int) -> None:
        n_agents = len(flat)
        self.best_flat = flat.clone()  # (K, P)
        self.best_return = np.full(n_agents, -math.inf)
        self.best_step = np.full(n_agents, -1)
        self.budgets = list(budgets)
        self.ends = [budget_end(b, n_envs) for b in self.budgets]
        self.at_budget: list[BudgetCheckpoint | None] = [None] * len(self.budgets)

    def budget_ends_at(self, step: int) -> bool:
        """Whether a budget's last vector step ends at env step ``step`` (it needs an evaluation there)."""
        return step in self.ends

    def offer(self, step: int, returns: np.ndarray, flat: torch.Tensor) -> None:
        """A regular evaluation at env step ``step``: returns ``(K,)`` of the weights ``flat`` ``(K, P)``."""
        for k in np.flatnonzero(returns > self.best_return):  # strictly better: a tie keeps the earlier one
            self.best_return[k], self.best_step[k] = returns[k], step
            self.best_flat[k] = flat[k]

    def close_budgets(self, step: int, returns: np.ndarray, flat: torch.Tensor, gradient_steps: int) -> None:
        """Keep each budget ending at ``step``: the best regular checkpoint so far or the weights now, if better."""
        now = returns > self.best_return  # (K,) the evaluation at the budget's end beats every earlier one
        for i, end in enumerate(self.ends):
            if end != step:
                continue
            self.at_budget[i] = BudgetCheckpoint(
                steps=self.budgets[i],
                env_steps=end,
                gradient_steps=gradient_steps,
                best_step=np.where(now, step, self.best_step),
                selection_return=np.where(now, returns, self.best_return),
                flat=torch.where(torch.from_numpy(now)[:, None], flat, self.best_flat),  # (K, P) a new tensor
            )

    def budget_checkpoints(self) -> list[BudgetCheckpoint]:
        """Every budget's checkpoints, in the order of ``budgets`` (all must have closed)."""
        missing = [b for b, c in zip(self.budgets, self.at_budget) if c is None]
        if missing:
            raise ValueError(f"budgets {missing} never ended: the run stopped before them; give budgets <= total_steps")
        return list(self.at_budget)  # type: ignore[arg-type]
