"""Data budgets: each objective's return against the environment steps of its transfer set, and DAgger."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .params import BudgetsConfig, BudgetsParams, BudgetsStepConfig
from .step import BudgetRun, BudgetsRecord, unit_name
from .summary import BudgetsSummary, summarize_record, summarize_records

__all__ = [
    "EXPERIMENT",
    "BudgetRun",
    "BudgetsConfig",
    "BudgetsParams",
    "BudgetsRecord",
    "BudgetsStepConfig",
    "BudgetsSummary",
    "summarize_record",
]


def summarize(config: BudgetsConfig, records: dict[str, BudgetsRecord]) -> BudgetsSummary:
    missing = [unit_name(w) for w in config.budget_widths if unit_name(w) not in records]
    return summarize_records(list(records.values()), missing)


EXPERIMENT: Experiment[BudgetsRecord] = Experiment(
    name="budgets",
    title="Data budgets: return against environment steps, and DAgger",
    notebook=NOTEBOOK_DIR / "09_budgets.ipynb",
    params=BudgetsConfig,
    step_params=BudgetsStepConfig,
    record=BudgetsRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    reads=lambda config: {"fair": unit_name(config.budget_width)},  # the fair comparison's step of this width
    inputs=lambda config: config.teacher_files()[: config.n_teachers],
    unit_of=lambda config: unit_name(config.budget_width),
    cost=80.0,  # seconds per step on the project's machine, default study (long steps start first)
)
