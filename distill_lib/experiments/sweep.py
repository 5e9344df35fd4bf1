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
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from ..core.config import (
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
from ..core.schema import Params, param
from ..core.training import to_device, train_batched
from ..records.record import Record
from ..report.tables import markdown_table
from .base import NOTEBOOK_DIR, Experiment, Section, Units
from .data import SourceParams
from .seeds import synthetic_world

__all__ = ["CELL_METRICS", "EXPERIMENT", "SweepCell", "SweepCellConfig", "SweepConfig", "cell_name", "grid"]

#: final metrics kept per student in a sweep cell
CELL_METRICS = ("action_agreement", "prob_similarity_t1", "regret", "kl_t1", "top2_agreement", "mean_prob_similarity")
#: the metrics of the heatmaps and the summary: label -> key
SWEEP_METRICS = {
    "top-1 agreement": "action_agreement",
    "prob. similarity (T = 1)": "prob_similarity_t1",
    "regret": "regret",
}


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


def grid(cells: list[SweepCell], metric: str) -> tuple[list[float], list[float], np.ndarray]:
    """KL cells as a (temperature x alpha) array of the seed-mean of ``metric``."""
    kl = sorted((c for c in cells if c.loss_fn == "kl"), key=lambda c: c.temperature)
    temps = [c.temperature for c in kl]
    alphas = sorted({a for c in kl for a in c.alphas})
    table = np.full((len(temps), len(alphas)), np.nan)
    for i, cell in enumerate(kl):
        for j, alpha in enumerate(alphas):
            if alpha in cell.alphas:
                table[i, j] = cell.seed_mean(alpha, metric)
    return temps, alphas, table


@dataclass(frozen=True)
class SweepSummary(Record):
    """``results.json``'s ``sweep``: seed means over the grid, the MSE row, the marks of the study's objectives."""

    temperatures: list[float]
    alphas: list[float]
    seed_mean: dict[str, list[list[float | None]]]
    mse_row: dict[str, float] | None
    seeds: list[int]
    missing: list[str]
    marks: list[tuple[float, float, str]]

    def to_json(self) -> dict[str, Any]:
        keys = ("temperatures", "alphas", "seed_mean", "mse_row", "seeds")
        return {"sweep": {k: getattr(self, k) for k in keys}}

    def table(self, label: str) -> np.ndarray:
        return np.array([[np.nan if v is None else v for v in row] for row in self.seed_mean[label]], dtype=float)


def summarize(config: SweepConfig, records: dict[str, SweepCell]) -> SweepSummary:
    cells = list(records.values())
    temps, alphas, tables = [], [], {}
    for label, metric in SWEEP_METRICS.items():
        temps, alphas, tables[label] = grid(cells, metric)
    mse = [c for c in cells if c.loss_fn == "mse"]
    mse_row = (
        {label: float(np.mean([r.final[m] for r in mse[0].runs])) for label, m in SWEEP_METRICS.items()}
        if mse
        else None
    )
    seed_mean = {label: [[None if np.isnan(v) else float(v) for v in row] for row in t] for label, t in tables.items()}
    marks = [(config.temperature, round(alpha, 1), mode) for mode, alpha in config.mode_alphas().items()]
    missing = [f"sweep {u}" for u in units(config).steps if u not in records]
    return SweepSummary(temps, alphas, seed_mean, mse_row, cells[0].seeds, missing, marks)


def section(summary: SweepSummary, others: dict[str, Any] | None = None) -> Section:
    """The best cells and the MSE row in words, and the heatmaps."""
    lines = []
    if summary.temperatures:
        for label in SWEEP_METRICS:
            table = summary.table(label)
            better = np.nanargmin if label == "regret" else np.nanargmax
            i, j = np.unravel_index(better(table), table.shape)
            lines.append(
                f"- Best seed-mean {label}: {table[i, j]:.4f} at T = {summary.temperatures[i]:g}, alpha = {summary.alphas[j]:g}."
            )
    if summary.mse_row:
        lines.append(
            "- MSE on Q-values (no temperature): " + ", ".join(f"{k} {v:.4f}" for k, v in summary.mse_row.items()) + "."
        )
    lines.append(
        f"- Each cell: {len(summary.seeds)} world seeds ({', '.join(map(str, summary.seeds))}); values are seed means."
    )
    if summary.missing:
        lines.append(f"- Not finished: {', '.join(summary.missing)}.")
    text = "\n".join(lines)
    figures = {"sweep_heatmaps.png": lambda: heatmaps(summary)} if summary.temperatures else {}
    return Section("The alpha x temperature sweep", text, verdict(summary), figures)


def verdict(summary: SweepSummary) -> str:
    """The grid in two sentences: how much agreement moves, where the distribution is matched best, MSE."""
    if not summary.temperatures:
        return "Only the MSE row finished." if summary.mse_row else ""
    agree, sim = summary.table("top-1 agreement"), summary.table("prob. similarity (T = 1)")
    i, j = np.unravel_index(np.nanargmax(agree), agree.shape)
    k, m = np.unravel_index(np.nanargmax(sim), sim.shape)
    n_cells, n_alphas, n_seeds = len(summary.temperatures), len(summary.alphas), len(summary.seeds)
    text = (
        f"Over {n_cells} temperatures x {n_alphas} alphas ({n_seeds} world seeds per cell, seed means, no intervals), "
        f"top-1 agreement stays within {100 * (np.nanmax(agree) - np.nanmin(agree)):.1f} points "
        f"({np.nanmin(agree):.3f}-{np.nanmax(agree):.3f}; highest at T = {summary.temperatures[i]:g}, alpha = "
        f"{summary.alphas[j]:g}), while the teacher's distribution is matched best at T = {summary.temperatures[k]:g}, "
        f"alpha = {summary.alphas[m]:g} (probability similarity {np.nanmax(sim):.3f} at T = 1)."
    )
    if summary.mse_row:
        mse = summary.mse_row
        text += (
            f" MSE on Q-values agrees {mse['top-1 agreement']:.3f} of the time and matches the distribution to "
            f"{mse['prob. similarity (T = 1)']:.3f}."
        )
    return text


def cell_table(cell: SweepCell) -> str:
    """One cell's seed means per alpha (the cell notebook's own table)."""
    metrics = list(SWEEP_METRICS.items())
    rows = [[f"{a:g}", *(f"{cell.seed_mean(a, m):.4f}" for _, m in metrics)] for a in cell.alphas]
    return markdown_table(["alpha", *(label for label, _ in metrics)], rows, align="r" * (1 + len(metrics)))


def cell_sentence(cell: SweepCell) -> str:
    """Where this cell's agreement is highest (ties named together)."""
    values = {a: round(cell.seed_mean(a, "action_agreement"), 4) for a in cell.alphas}
    best = [a for a, v in values.items() if v == max(values.values())]
    where = "alpha = " + " and ".join(f"{a:g}" for a in best) if len(best) < len(values) else "every alpha alike"
    return (
        f"At {cell_name(cell.temperature, cell.loss_fn)}, top-1 agreement is highest at {where} "
        f"({max(values.values()):.3f}, mean over {len(cell.seeds)} seeds); the analysis notebook compares the cells."
    )


def cell_figure(cell: SweepCell) -> Figure:
    """One cell's metrics against alpha, one panel per metric."""
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    for ax, (label, metric) in zip(fig.subplots(1, len(SWEEP_METRICS)), SWEEP_METRICS.items(), strict=True):
        ax.plot(cell.alphas, [cell.seed_mean(a, metric) for a in cell.alphas], marker="o")
        ax.set(xlabel="alpha", title=label)
    fig.suptitle(f"Cell {cell_name(cell.temperature, cell.loss_fn)}: seed means over {len(cell.seeds)} world seeds")
    return fig


def heatmaps(summary: SweepSummary) -> Figure:
    """One heatmap per metric over (temperature, alpha), the study's objectives marked."""
    temps, alphas = summary.temperatures, summary.alphas
    labels = list(SWEEP_METRICS)
    fig = Figure(figsize=(5.6 * len(labels), 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(labels)))
    for ax, label in zip(axes, labels, strict=True):
        im = ax.imshow(summary.table(label), aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=9)
        ax.set_yticks(range(len(temps)), [f"{t:g}" for t in temps], fontsize=9)
        mse = summary.mse_row
        title = label + (f"\n(MSE on Q: {mse[label]:.3f})" if mse and label in mse else "")
        ax.set_xlabel("alpha (weight of the soft term)", fontsize=10)
        ax.set_ylabel("temperature", fontsize=10)
        ax.set_title(title, fontsize=11)
        fig.colorbar(im, ax=ax, shrink=0.8)
        for t, a, name in summary.marks:
            if t in temps and a in alphas:
                x, y = alphas.index(a), temps.index(t)
                ax.scatter([x], [y], marker="o", s=110, facecolors="none", edgecolors="white", lw=1.8)
                ha = "right" if x > len(alphas) / 2 else "left"
                ax.annotate(
                    name,
                    (x, y),
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                    ha=ha,
                    xytext=(-6 if ha == "right" else 6, 6),
                    textcoords="offset points",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "black", "alpha": 0.45, "lw": 0},
                )
    return fig


EXPERIMENT: Experiment[SweepCell] = Experiment(
    name="sweep",
    title="The alpha x temperature sweep",
    notebook=NOTEBOOK_DIR / "05_sweep.ipynb",
    params=SweepConfig,
    step_params=SweepCellConfig,
    record=SweepCell,
    run=run,
    summarize=summarize,
    section=section,
    units=units,
    unit_of=lambda config: cell_name(config.sweep_temperature, config.sweep_loss_fn),
)
