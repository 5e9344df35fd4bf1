"""Where the student's states come from: how many teacher episodes, and the student's own states (DAgger)."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .params import SourcesConfig, SourcesStepConfig
from .step import SourceRun, SourcesRecord, dagger_buffers, measure, unit_name
from .summary import SourcesSummary, summarize_record, summarize_records

__all__ = [
    "EXPERIMENT",
    "SourceRun",
    "SourcesConfig",
    "SourcesRecord",
    "SourcesStepConfig",
    "SourcesSummary",
    "dagger_buffers",
    "measure",
    "summarize_record",
]


def summarize(config: SourcesConfig, records: dict[str, SourcesRecord]) -> SourcesSummary:
    missing = [unit_name(w) for w in config.sources_widths if unit_name(w) not in records]
    return summarize_records(list(records.values()), missing)


EXPERIMENT: Experiment[SourcesRecord] = Experiment(
    name="sources",
    title="Where the states come from: transfer-set size and DAgger",
    notebook=NOTEBOOK_DIR / "09_sources.ipynb",
    params=SourcesConfig,
    step_params=SourcesStepConfig,
    record=SourcesRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    reads=lambda step: {"fair": unit_name(step.sources_width)},  # the fair comparison's step of this width
    inputs=lambda config: [config.teacher_path],
    unit_of=lambda step: unit_name(step.sources_width),
    cost=80.0,  # seconds per step on the project's machine, default study (long steps start first)
)
