"""The alpha x temperature sweep: how agreement and distribution match move over the grid.

One grid cell is one temperature with every alpha and every seed; the runner executes the
sweep notebook once per cell (and once for the MSE-on-Q-values comparison row), so cells
run in parallel and a new temperature adds one step. A cell's students
(``len(alphas) * len(seeds)``) are trained in one batch (``core.training.train_batched``,
per-student random streams); students of one seed share their world (teacher, states,
initialisation) and their random stream, so within a cell the alphas are compared on
paired runs. Temperatures below 1 sharpen the teacher's softmax (Rusu et al. 2016,
"Policy Distillation", distil DQN policies with T < 1). The MSE row (``loss_fn="mse"``:
MSE on raw Q-values, no temperature, no hard term) is its own cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...core.config import (
    MAX_SEED,
    DeviceParams,
    ModesParams,
    ObjectiveParams,
    RunConfig,
    ScheduleParams,
    SizeParams,
    loss_names,
    mode_for_alpha,
)
from ...core.data import synthetic_world
from ...core.schema import Params, param
from ...core.training import to_device, train_batched
from ...records.record import Record
from ...rl.worlds import SourceParams
from ..base import Units

__all__ = ["CELL_METRICS", "CellRun", "SweepCell", "SweepCellConfig", "SweepConfig", "cell_name", "run", "units"]

#: final metrics kept per student in a sweep cell
CELL_METRICS = ("action_agreement", "prob_similarity_t1", "regret", "kl_t1", "top2_agreement", "mean_prob_similarity")


def cell_name(temperature: float, loss_fn: str = "kl") -> str:
    """A grid cell's unit name: ``T=0.25`` or ``mse``."""
    return "mse" if loss_fn == "mse" else f"T={temperature:g}"


@dataclass(frozen=True)
class GridParams(Params):
    """The alphas and world seeds of every cell."""

    sweep_alphas: list[float] = param(
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        "alphas of the sweep grid",
        low=0.0,
        high=1.0,
        unique=True,
        max_len=100,
    )
    sweep_seeds: list[int] = param(
        [0, 1, 2], "world seeds of every sweep cell", low=0, high=MAX_SEED, unique=True, max_len=1000
    )


@dataclass(frozen=True)
class SweepCellConfig(DeviceParams, GridParams, ScheduleParams, SizeParams):
    """One cell: its temperature and loss (set by the runner), the grid and the training schedule."""

    sweep_temperature: float = param(
        3.0,
        "one sweep cell's temperature (set by the runner)",
        low=0.0,
        high=1000.0,
        low_open=True,
        set_by="the runner sets each cell's temperature from 'sweep_temperatures'",
    )
    sweep_loss_fn: str = param(
        "kl",
        "one sweep cell's loss, kl or mse (set by the runner)",
        choices=loss_names,
        set_by="the runner sets each cell's loss; use 'sweep_mse' for the MSE row",
    )

    def check(self) -> None:
        super().check()
        if not self.sweep_alphas or not self.sweep_seeds:
            raise self.fail(
                "sweep_alphas" if not self.sweep_alphas else "sweep_seeds", "a sweep cell needs alphas and seeds"
            )
        self.base()  # the cell's run parameters, validated (temperature schedule, split)

    def base(self) -> RunConfig:
        """The run config the cell's students share (seed and alpha set per student)."""
        run = {k: v for k, v in self.to_dict().items() if k in RunConfig.specs()}
        return RunConfig.from_params(
            {
                **run,
                "temperature": self.sweep_temperature,
                "loss_fn": self.sweep_loss_fn,
                "mode": "blended",
                "alpha": 0.7,
            }
        )


@dataclass(frozen=True)
class SweepConfig(DeviceParams, ModesParams, GridParams, SourceParams, ObjectiveParams, ScheduleParams, SizeParams):
    """The grid: temperatures (an empty list turns the sweep off) and the MSE row.

    ``modes``, ``alpha`` and ``temperature`` only place the study's own objectives on the heatmaps.
    """

    sweep_temperatures: list[float] = param(
        [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0],
        "temperatures of the sweep grid (empty: no sweep)",
        low=0.0,
        high=1000.0,
        low_open=True,
        unique=True,
        max_len=100,
    )
    sweep_mse: bool = param(True, "add the MSE-on-Q-values comparison row to the sweep")

    def check(self) -> None:
        super().check()
        if self.sweep_temperatures:
            for name in ("sweep_alphas", "sweep_seeds"):
                if not getattr(self, name):
                    raise self.fail(name, "must not be empty when sweep_temperatures is given")
            for cell in units(self).steps.values():
                SweepCellConfig.from_params({**self.to_dict(), **cell})


@dataclass(frozen=True)
class CellRun(Record):
    """One (seed, alpha) student of a cell: its final metrics."""

    seed: int
    alpha: float
    final: dict[str, float]
    best_epoch: int


@dataclass(frozen=True)
class SweepCell(Record):
    """One cell's record."""

    temperature: float
    loss_fn: str
    alphas: list[float]
    seeds: list[int]
    base: RunConfig
    protocol: str
    runs: list[CellRun]

    def seed_mean(self, alpha: float, metric: str) -> float:
        return float(np.mean([r.final[metric] for r in self.runs if r.alpha == alpha]))


def run(config: SweepCellConfig, folder: Path | None = None) -> SweepCell:
    """Train one cell (every alpha x seed at the cell's temperature) in one batch."""
    base = config.base()
    alphas = [1.0] if config.sweep_loss_fn == "mse" else list(config.sweep_alphas)  # MSE has no hard term
    teachers, states, students, configs = [], [], [], []
    for seed in config.sweep_seeds:
        teacher, x, student = synthetic_world(seed, base)
        for alpha in alphas:
            configs.append(
                RunConfig.from_params({**base.to_dict(), "seed": seed, "alpha": alpha, "mode": mode_for_alpha(alpha)})
            )
            teachers.append(teacher)
            states.append(torch.from_numpy(x))
            students.append(student)
    results = train_batched(*to_device(teachers, torch.stack(states), config.device), students, configs)
    runs = [
        CellRun(c.seed, c.alpha, {k: r.final[k] for k in CELL_METRICS}, r.best_epoch)
        for c, r in zip(configs, results, strict=True)
    ]
    protocol = "per-student random streams (distill_lib.core.streams)"
    return SweepCell(
        config.sweep_temperature, config.sweep_loss_fn, alphas, list(config.sweep_seeds), base, protocol, runs
    )


def units(config: SweepConfig) -> Units:
    """One step per temperature, plus the MSE row; none for a source that has no synthetic worlds."""
    if not config.sweep_temperatures:
        return Units({}, reason="no sweep temperatures given")
    if config.source != "synthetic":
        return Units({}, f"source={config.source!r}: the sweep makes its own synthetic worlds, so it is skipped")
    cells = [(t, "kl") for t in config.sweep_temperatures] + ([(1.0, "mse")] if config.sweep_mse else [])
    return Units({cell_name(t, loss): {"sweep_temperature": t, "sweep_loss_fn": loss} for t, loss in cells})
