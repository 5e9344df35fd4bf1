"""Each objective at its own best settings on a real task's teacher, chosen without the test episodes."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .step import Candidate, FairConfig, FairRecord, FairRun, FairStepConfig, unit_name
from .summary import FairSummary, across_widths, summarize_record, summarize_records

__all__ = [
    "EXPERIMENT",
    "Candidate",
    "FairConfig",
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
    inputs=lambda config: [config.teacher_path],
    unit_of=lambda step: unit_name(step.fair_width),
    cost=45.0,  # seconds per step on the project's machine, default study (long steps start first)
)
