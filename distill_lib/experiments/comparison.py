"""The original comparison: the three objectives on one world, one seed-compatible run each.

The question of the original note: holding the teacher, the state buffer and the student's
initialisation fixed (the data step), does changing only the objective change how well
the student copies the teacher? One step per mode runs the training notebook, which
trains with ``core.training.train_student`` (the seed-compatible reference protocol, bit
for bit the original's numbers for any seed) and saves the run. The summary is the
original table (``results.json``'s ``results``) with every other metric beside it.

``final_mean_prob_similarity`` is, as in the original table, computed at the run
temperature (T = 3 by default) although the original note says T = 1;
``final_prob_similarity_t1`` is the T = 1 value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import progress
from ..core.config import STUDENT_DROPOUT, ModesParams, ObjectiveParams, RunConfig, ScheduleParams
from ..core.networks import QNetwork
from ..core.training import TrainResult, train_student
from ..records.atomic import atomic_torch_save
from ..records.record import Record
from ..report.tables import markdown_table
from . import comparison_report as report
from .base import NOTEBOOK_DIR, Experiment, Section, Units
from .data import DataConfig, load_world

__all__ = [
    "EXPERIMENT",
    "TABLE_COLUMNS",
    "ComparisonConfig",
    "ComparisonSummary",
    "ResultRow",
    "RunRecord",
    "TrainConfig",
    "load_student",
    "result_table",
]

#: (key, header, format) of the published table: the original's shape plus the T = 1 column
TABLE_COLUMNS: list[tuple[str, str, str]] = [
    ("mode", "mode", "{}"),
    ("alpha", "alpha", "{:g}"),
    ("temperature", "T", "{:g}"),
    ("loss_fn", "loss", "{}"),
    ("final_action_agreement", "final action agreement", "{:.3f}"),
    ("final_mean_prob_similarity", "final mean prob. similarity (T = run temperature)", "{:.6f}"),
    ("final_prob_similarity_t1", "final mean prob. similarity (T = 1)", "{:.6f}"),
    ("best_val_loss", "best val loss", "{:.6f}"),
    ("best_epoch", "best epoch", "{}"),
]

#: what the notes of ``results.json`` say about the table's less obvious columns
NOTES = {
    "final_mean_prob_similarity": "1 - mean|p_t - p_s| at the run temperature, mean over validation batches (as the original table)",
    "final_prob_similarity_t1": "the same at T = 1, over all validation states",
    "best_val_loss": "each mode's own objective; not comparable across modes",
}

#: the parameters of the data step that ``results.json`` records under ``study.data``
_DATA_KEYS = ("seed", "input_dim", "output_dim", "teacher_hidden", "student_hidden", "n_states", "source")


@dataclass(frozen=True)
class ComparisonConfig(ModesParams, ScheduleParams, ObjectiveParams, DataConfig):
    """The study-level parameters of the comparison: which modes, on which world, trained how."""


@dataclass(frozen=True)
class TrainConfig(RunConfig, DataConfig):
    """One training step: the run's config and the world it trains on."""

    def run_config(self) -> RunConfig:
        return RunConfig.from_params(self.to_dict())


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


@dataclass(frozen=True)
class ResultRow(Record):
    """One row of the results table: a mode's final metrics (the original's columns and more)."""

    mode: str
    alpha: float
    temperature: float
    loss_fn: str
    n_val: int
    best_val_loss: float
    best_epoch: int
    final_action_agreement: float
    final_mean_prob_similarity: float
    final_prob_similarity_t1: float
    final_kl_t1: float
    final_q_mse: float
    final_q_mae: float
    final_q_cosine: float
    final_top2_agreement: float
    final_regret: float
    final_val_loss: float
    final_train_loss: float
    final_temperature: float

    @classmethod
    def of(cls, run: RunRecord) -> ResultRow:
        final, cfg = run.final, run.config
        names = [name for name in cls.__dataclass_fields__ if name.startswith("final_")]
        metrics = {name: float(final[name.removeprefix("final_")]) for name in names}
        return cls(
            mode=cfg.mode,
            alpha=cfg.alpha,
            temperature=cfg.temperature,
            loss_fn=cfg.loss_fn,
            n_val=run.n_val,
            best_val_loss=run.best_val_loss,
            best_epoch=run.best_epoch,
            **metrics,
        )


@dataclass(frozen=True)
class ComparisonSummary(Record):
    """``results.json``'s table part: parameters, one row per finished mode, what is missing."""

    study: dict[str, Any]
    results: list[ResultRow]
    missing_modes: list[str]
    notes: dict[str, str]
    histories: dict[str, list[dict[str, int | float]]]

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "results": [r.to_json() for r in self.results],
            "missing_modes": list(self.missing_modes),
            "notes": dict(self.notes),
        }


def run(config: TrainConfig, folder: Path) -> RunRecord:
    """Train the student of one mode on the data step's world; save its checkpoints to ``folder``.

    ``folder`` is the step's folder, ``work_dir/comparison/<mode>-<key>``: the world is the
    data step's folder of the same ``work_dir``.
    """
    world = load_world(folder.parents[1], config.to_dict())
    run_config = config.run_config()
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
    student = QNetwork(config.input_dim, config.student_width, config.output_dim, dropout=STUDENT_DROPOUT)
    student.load_state_dict(ckpt["state_dict"])
    return student.eval(), config


def units(config: ComparisonConfig) -> Units:
    """One training step per mode, each with its own alpha."""
    return Units({mode: {"mode": mode, "alpha": alpha} for mode, alpha in config.mode_alphas().items()})


def summarize(config: ComparisonConfig, records: dict[str, RunRecord]) -> ComparisonSummary:
    """The results table of the modes that finished, in the order of ``modes``."""
    runs = [records[m] for m in config.modes if m in records]
    common = {k: v for k, v in runs[-1].config.to_dict().items() if k not in ("mode", "alpha")} if runs else {}
    data = {k: getattr(config, k) for k in _DATA_KEYS}
    data.update(states_file=config.states_file, teacher_checkpoint=config.teacher_checkpoint)
    if config.source == "cartpole":
        data.update(cartpole_episodes=config.cartpole_episodes, cartpole_epsilon=config.cartpole_epsilon)
    return ComparisonSummary(
        study={"modes": list(config.modes), "data": data, "run": common},
        results=[ResultRow.of(r) for r in runs],
        missing_modes=[m for m in config.modes if m not in records],
        notes=dict(NOTES),
        histories={r.config.mode: r.history for r in runs},
    )


def result_table(rows: list[ResultRow]) -> str:
    """The published table as Markdown."""
    return markdown_table(
        [h for _, h, _ in TABLE_COLUMNS],
        [[fmt.format(getattr(row, key)) for key, _, fmt in TABLE_COLUMNS] for row in rows],
    )


def result_csv(rows: list[ResultRow]) -> str:
    """The published table's columns as CSV (unformatted numbers)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([key for key, _, _ in TABLE_COLUMNS])
    writer.writerows([[getattr(row, key) for key, _, _ in TABLE_COLUMNS] for row in rows])
    return buffer.getvalue()


def section(summary: ComparisonSummary, others: dict[str, Any] | None = None) -> Section:
    """Which world, the table, its reading, and the two figures."""
    rows = summary.results
    world = report.world_text(summary.study["data"])
    table = result_table(rows)
    text = f"{world}\n\n{table}"
    if summary.missing_modes:
        text += f"\n**Missing:** {', '.join(summary.missing_modes)} (failed or not run in this work folder).\n"
    verdict = report.interpretation(rows, summary.missing_modes)
    figures = {}
    if rows:
        figures = {
            "learning_curves.png": lambda: report.study_curves(summary.histories),
            "final_metrics.png": lambda: report.final_comparison(rows),
        }
    title = "The original comparison (seed-compatible)"
    return Section(title, f"{text}\n{verdict}", f"{world} {verdict}", figures, result_csv(rows), table)


EXPERIMENT: Experiment[RunRecord] = Experiment(
    name="comparison",
    title="The original comparison",
    notebook=NOTEBOOK_DIR / "02_train.ipynb",
    params=ComparisonConfig,
    step_params=TrainConfig,
    record=RunRecord,
    run=run,
    summarize=summarize,
    section=section,
    units=units,
    unit_of=lambda config: config.mode,
    needs=("data",),
    label="{unit}",
)
