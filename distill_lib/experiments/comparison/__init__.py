"""The original comparison: the three objectives on one world, one seed-compatible run each."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .step import ComparisonConfig, RunRecord, TrainConfig, load_student
from .summary import ComparisonSummary, ResultRow, result_table, summarize

__all__ = [
    "EXPERIMENT",
    "ComparisonConfig",
    "ComparisonSummary",
    "ResultRow",
    "RunRecord",
    "TrainConfig",
    "load_student",
    "result_table",
]

EXPERIMENT: Experiment[RunRecord] = Experiment(
    name="comparison",
    title="The original comparison",
    notebook=NOTEBOOK_DIR / "02_train.ipynb",
    params=ComparisonConfig,
    step_params=TrainConfig,
    record=RunRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    unit_of=lambda config: config.mode,
    reads=lambda config: {"world": "world"},
    label="{unit}",
)
