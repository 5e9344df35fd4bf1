"""A real teacher: the three objectives distilling a DQN policy of a real task, by student width."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .params import RealTaskConfig, RealTaskStudyConfig
from .step import RealTaskRecord, RealTaskRun
from .summary import COMPARE_WIDTH, SUMMARY_METRICS, RealTaskSummary, summarize_record

__all__ = [
    "COMPARE_WIDTH",
    "EXPERIMENT",
    "SUMMARY_METRICS",
    "RealTaskConfig",
    "RealTaskRecord",
    "RealTaskRun",
    "RealTaskStudyConfig",
    "RealTaskSummary",
    "summarize_record",
]


def summarize(config: RealTaskStudyConfig, records: dict[str, RealTaskRecord]) -> RealTaskSummary:
    return summarize_record(records["real_task"])


EXPERIMENT: Experiment[RealTaskRecord] = Experiment(
    name="real_task",
    title="A real teacher (env_id; CartPole by default)",
    notebook=NOTEBOOK_DIR / "06_real_task.ipynb",
    params=RealTaskStudyConfig,
    step_params=RealTaskConfig,
    record=RealTaskRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    inputs=lambda config: [config.teacher_path],
    cost=85.0,  # seconds per step on the project's machine, default study (long steps start first)
)
