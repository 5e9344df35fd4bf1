"""Students of a task's teacher: the teacher and its state buffers, and many students trained on them at once.

What every real-task experiment does before it asks its own question:

1. ``teacher_and_buffers``: the task's teacher (``TaskParams.load_teacher``, frozen) and its own
   epsilon-greedy episodes (``rl.exploration.collect_buffers``): ``buffer_episodes`` episodes from
   ``COLLECT_SEED`` form the training buffer, the next ``held_out_episodes`` the held-out
   states. The exploration rate ``buffer_epsilon`` puts recovery states in the buffer, which a
   slightly wrong student will visit (Ross et al. 2011, "A Reduction of Imitation Learning ...
   to No-Regret Online Learning").
2. ``train_students``: one student per ``RunConfig``, all of one width, in one batched call
   (``core.training.train_batched``: per-student random streams); a seed's students share their
   initialisation (``build_student(seed)``), so objectives are compared on paired runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import (
    MAX_SEED,
    STUDENT_DROPOUT,
    AlphaParams,
    DeviceParams,
    ObjectiveParams,
    RunConfig,
    ScheduleParams,
    mode_for_alpha,
)
from ..core.networks import QNetwork, build_student
from ..core.objectives import Setting
from ..core.schema import Params, param
from ..core.training import TrainResult, to_device, train_batched
from .episodes import COLLECT_SEED, TEST_SEED, VALIDATION_SEED, BufferParams, EpisodeParams
from .exploration import collect_buffers
from .policies import describe

__all__ = [
    "ComparedWidths",
    "SelectionParams",
    "TaskBufferParams",
    "teacher_and_buffers",
    "train_students",
]


@dataclass(frozen=True)
class TaskBufferParams(BufferParams, EpisodeParams):
    """The task, its teacher and how its buffers are collected: what ``teacher_and_buffers`` reads."""


@dataclass(frozen=True)
class ComparedWidths(Params):
    """The student widths of the fair comparison, which its baselines are measured at too."""

    fair_widths: list[int] = param(
        [32, 8],
        "student widths of the fair comparison and its baselines (empty: none)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )


@dataclass(frozen=True)
class SelectionParams(TaskBufferParams, ScheduleParams, DeviceParams, AlphaParams, ObjectiveParams):
    """How each objective's settings are selected (the grid, its seeds and validation episodes) and the fresh
    seeds its students are evaluated with: the fair comparison's, and what reads its selection."""

    fair_temperatures: list[float] = param(
        [0.01, 0.1, 1.0, 3.0],
        "temperatures tau tried for soft and blended (selected per objective and width)",
        low=1e-3,
        high=1000.0,
        unique=True,
        min_len=1,
        max_len=100,
    )
    fair_alphas: list[float] = param(
        [0.5, 0.9], "alphas tried for blended (each in (0, 1))", low=0.0, high=1.0, unique=True, min_len=1, max_len=100
    )
    fair_selection_seeds: list[int] = param(
        [100, 101],
        "student seeds that train the candidates (never evaluated)",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )
    fair_seeds: list[int] = param(
        list(range(10)),
        "student seeds of the evaluation at the selected settings",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )
    fair_val_episodes: int = param(20, "validation episodes that select the settings", low=1, high=100_000)

    def check(self) -> None:
        super().check()
        if any(not 0.0 < a < 1.0 for a in self.fair_alphas):
            raise self.fail("fair_alphas", "each alpha must be in (0, 1): 0 is hard, 1 is soft, both tried already")
        if not self.fair_selection_seeds:
            raise self.fail("fair_selection_seeds", "needs at least one seed")
        if len(self.fair_seeds) < 2:
            raise self.fail("fair_seeds", "needs at least two seeds (intervals and paired tests)")
        if shared := sorted(set(self.fair_seeds) & set(self.fair_selection_seeds)):
            raise self.fail("fair_seeds", f"shares {shared} with fair_selection_seeds; evaluation needs fresh seeds")
        spans = {
            "validation": (VALIDATION_SEED, VALIDATION_SEED + self.fair_val_episodes),
            "test": (TEST_SEED, TEST_SEED + self.test_episodes),
            "buffer": (COLLECT_SEED, COLLECT_SEED + self.buffer_episodes + self.held_out_episodes),
        }
        for other in ("test", "buffer"):
            (a, b), (c, d) = spans["validation"], spans[other]
            if a < d and c < b:
                raise self.fail(
                    "fair_val_episodes",
                    f"validation episode seeds {a}..{b - 1} overlap the {other} episodes' {c}..{d - 1}; use fewer",
                )

    def setting_config(self, setting: Setting, seed: int, width: int, n_states: int) -> RunConfig:
        """The ``RunConfig`` of one student of ``width`` trained at ``setting`` on ``n_states`` states."""
        run = {k: v for k, v in self.to_dict().items() if k in RunConfig.specs()}
        return RunConfig.from_params(
            {
                **run,
                "input_dim": self.task.obs_dim,
                "output_dim": self.task.n_actions,
                "teacher_hidden": self.teacher_width,
                "student_hidden": width,
                "n_states": n_states,
                "seed": seed,
                "mode": mode_for_alpha(setting.alpha),
                "alpha": setting.alpha,
                "temperature": setting.temperature,
                "loss_fn": setting.loss_fn,
            }
        )


def teacher_and_buffers(p: TaskBufferParams) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The task's teacher (frozen) and its training and held-out states, ``(N, D)`` and ``(M, D)``."""
    teacher = p.load_teacher()
    train_states, held_out = collect_buffers(
        teacher, p.buffer_episodes, p.held_out_episodes, p.buffer_epsilon, COLLECT_SEED, p.env_id
    )
    return teacher, torch.from_numpy(train_states), torch.from_numpy(held_out)


def train_students(
    teacher: nn.Module, states: torch.Tensor, configs: list[RunConfig], device: str
) -> tuple[list[TrainResult], list[QNetwork]]:
    """One student per config, all of one width, in one batched call; a seed's students share their
    initialisation (``build_student(seed)``). Returns the results and the final students in eval mode.

    The teacher is any module from states to Q-values (``rl.policies``): its state and action counts
    come from its description, the students' width from the configs."""
    desc = describe(teacher)
    width, d, a = configs[0].student_width, desc.input_dim, desc.output_dim
    initial = {c.seed: build_student(c.seed, d, c.teacher_hidden, a, hidden_dim=width) for c in configs}
    results = train_batched(*to_device(teacher, states, device), [initial[c.seed] for c in configs], configs)
    nets = []
    for result in results:
        net = QNetwork(d, width, a, dropout=STUDENT_DROPOUT)
        net.load_state_dict(result.final_state)
        nets.append(net.eval())
    return results, nets
