"""The original comparison's summary: the published table (the original's columns and more), as rows, Markdown and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from ...records.record import Record
from ...report.tables import markdown_table
from .step import ComparisonConfig, RunRecord

__all__ = ["NOTES", "TABLE_COLUMNS", "ComparisonSummary", "ResultRow", "result_csv", "result_table", "summarize"]

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


def summarize(config: ComparisonConfig, records: dict[str, RunRecord]) -> ComparisonSummary:
    """The results table of the modes that finished, in the order of ``modes``."""
    runs = [records[m] for m in config.modes if m in records]
    common = {k: v for k, v in runs[-1].config.to_dict().items() if k not in ("mode", "alpha")} if runs else {}
    data = {k: getattr(config, k) for k in _DATA_KEYS}
    data.update(states_file=config.states_file, teacher_checkpoint=config.teacher_checkpoint)
    if runs:
        data["n_states"] = runs[-1].config.n_states  # a task's or a file's buffer sets its own size
    if config.source == "task":
        data.update(env_id=config.env_id, buffer_episodes=config.buffer_episodes, buffer_epsilon=config.buffer_epsilon)
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
