"""Each objective as its paper defines it, tuned with the same budget, on several teachers of a real task."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .params import FairConfig, FairParams, FairStepConfig
from .step import Candidate, FairRecord, FairRun, unit_name
from .summary import FairSummary, across_widths, summarize_record, summarize_records

__all__ = [
    "EXPERIMENT",
    "Candidate",
    "FairConfig",
    "FairParams",
    "FairRecord",
    "FairRun",
    "FairStepConfig",
    "FairSummary",
    "across_widths",
    "summarize_record",
    "summarize_records",
]


def summarize(config: FairConfig, records: dict[str, FairRecord]) -> FairSummary:
    missing = [unit_name(w) for w in config.fair_widths if unit_name(w) not in records]
    return summarize_records(list(records.values()), missing)


EXPERIMENT: Experiment[FairRecord] = Experiment(
    name="fair",
    title="Each objective at its best (env_id; CartPole by default)",
    notebook=NOTEBOOK_DIR / "07_fair.ipynb",
    params=FairConfig,
    step_params=FairStepConfig,
    record=FairRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    inputs=lambda config: config.teacher_files()[: config.n_teachers],
    unit_of=lambda config: unit_name(config.fair_width),
    cost=60.0,  # seconds per step on the project's machine, default study (long steps start first)
)
