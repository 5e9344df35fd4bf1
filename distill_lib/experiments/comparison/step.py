"""The original comparison's step: one mode trained on the world step's world, seed-compatible.

The question of the original note: holding the teacher, the state buffer and the student's
initialisation fixed (the world step), does changing only the objective change how well
the student copies the teacher? One step per mode runs the training notebook, which
trains with ``core.training.train_student`` (the seed-compatible reference protocol, bit
for bit the original's numbers for any seed) and saves the run. The summary is the
original table (``results.json``'s ``results``) with every other metric beside it.

``final_mean_prob_similarity`` is, as in the original table, computed at the run
temperature (T = 3 by default) although the original note says T = 1;
``final_prob_similarity_t1`` is the T = 1 value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...core import progress
from ...core.config import ModesParams, ObjectiveParams, RunConfig, ScheduleParams
from ...core.data import World
from ...core.networks import QNetwork, build_student
from ...core.training import TrainResult, train_student
from ...records.atomic import atomic_torch_save
from ...records.record import Record
from ...rl.worlds import WorldParams
from ..base import Units

__all__ = ["ComparisonConfig", "RunRecord", "TrainConfig", "load_student", "run", "units"]


@dataclass(frozen=True)
class ComparisonConfig(ModesParams, ScheduleParams, ObjectiveParams, WorldParams):
    """The study-level parameters of the comparison: which modes, on which world, trained how."""


@dataclass(frozen=True)
class TrainConfig(RunConfig, WorldParams):
    """One training step: the run's config and the world it trains on."""

    def run_config(self, n_states: int) -> RunConfig:
        """The run's config on a world of ``n_states`` states (a task's or a file's buffer sets its own size)."""
        return RunConfig.from_params({**self.to_dict(), "n_states": n_states})


@dataclass(frozen=True)
class RunRecord(Record):
    """One finished run: its config, per-epoch validation history, best epoch, final metrics."""

    config: RunConfig
    history: list[dict[str, int | float]]
    best_epoch: int
    best_val_loss: float
    n_train: int
    n_val: int

    @property
    def final(self) -> dict[str, int | float]:
        """The last epoch's validation metrics."""
        return self.history[-1]


def run(config: TrainConfig, folder: Path, upstream: dict[str, Path]) -> RunRecord:
    """Train the student of one mode on the world step's world; save its checkpoints to ``folder``."""
    sizes = (config.input_dim, config.teacher_hidden, config.output_dim)
    world = World.load(upstream["world"], sizes, config.seed, config.student_hidden)
    run_config = config.run_config(len(world.states))
    epochs = run_config.epochs
    result = train_student(
        world.teacher,
        world.new_student(),
        torch.from_numpy(world.states),
        run_config,
        on_epoch=lambda record: progress.report("epochs", record["epoch"] + 1, epochs),
    )
    save_checkpoints(folder, result)
    return RunRecord(
        config=run_config,
        history=result.history,
        best_epoch=result.best_epoch,
        best_val_loss=result.best_val_loss,
        n_train=len(result.train_idx),
        n_val=len(result.val_idx),
    )


def save_checkpoints(folder: Path, result: TrainResult) -> None:
    """``best.pt`` and ``final.pt``: the state dict with the run's full config inside."""
    cfg = result.config.to_dict()
    atomic_torch_save(folder / "best.pt", {"state_dict": result.best_state, "config": cfg, "epoch": result.best_epoch})
    last = len(result.history) - 1
    atomic_torch_save(folder / "final.pt", {"state_dict": result.final_state, "config": cfg, "epoch": last})


def load_student(folder: str | Path, which: str = "final") -> tuple[QNetwork, RunConfig]:
    """A trained student from a step folder (``which``: final or best), in eval mode."""
    ckpt = torch.load(Path(folder) / f"{which}.pt", map_location="cpu", weights_only=True)
    config = RunConfig.from_params(ckpt["config"])
    student = build_student(config.seed, config.input_dim, config.teacher_hidden, config.output_dim,
                            config.student_width, kind=config.student_kind)  # fmt: skip
    student.load_state_dict(ckpt["state_dict"])
    return student.eval(), config


def units(config: ComparisonConfig) -> Units:
    """One training step per mode, each with its own alpha."""
    return Units({mode: {"mode": mode, "alpha": alpha} for mode, alpha in config.mode_alphas().items()})
