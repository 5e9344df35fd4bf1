"""Reference points for the distilled students: DQN from scratch at each width, and independent teachers."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .params import BaselinesConfig, BaselineStepConfig, independent_teachers, scratch_budgets, teacher_recipe
from .section import runs_table
from .step import BaselineRecord, BaselineRun, BudgetResult, recipe_files, scratch_configs, unit_name
from .summary import BaselinesSummary, summarize_records

__all__ = [
    "EXPERIMENT",
    "BaselineRecord",
    "BaselineRun",
    "BaselineStepConfig",
    "BaselinesConfig",
    "BaselinesSummary",
    "BudgetResult",
    "independent_teachers",
    "runs_table",
    "scratch_budgets",
    "scratch_configs",
    "teacher_recipe",
]


def summarize(config: BaselinesConfig, records: dict[str, BaselineRecord]) -> BaselinesSummary:
    expected = ["teachers"] if independent_teachers(config) else []
    expected += [f"w={w}" for w in config.fair_widths] if config.scratch_seeds else []
    return summarize_records(records, [u for u in expected if u not in records])


EXPERIMENT: Experiment[BaselineRecord] = Experiment(
    name="baselines",
    title="Baselines: DQN from scratch and independent teachers",
    notebook=NOTEBOOK_DIR / "08_baselines.ipynb",
    params=BaselinesConfig,
    step_params=BaselineStepConfig,
    record=BaselineRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    inputs=lambda config: [config.teacher_path, *recipe_files(config), *independent_teachers(config)],
    unit_of=unit_name,
    cost=85.0,  # seconds per step on the project's machine, default study (long steps start first)
)
