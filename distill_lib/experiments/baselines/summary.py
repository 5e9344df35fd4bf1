"""The baselines, summarised (``results.json``'s ``baselines``): each group's return and agreements with CIs.

Each group (the independent teachers; the from-scratch students of one width) becomes its
return as a % of the teacher's and its two agreements with the teacher, each with a 95%
t-interval over its runs and the per-run values (the fair comparison's decision table tests
the distilled students against them, ``fair``), and how many runs solve the task.

A from-scratch group also has ``budgets``: per env-step budget (ascending), the same numbers
for the runs read at that budget, the raw test return (mean, interval, values: the bar is a
raw return), the env steps and gradient steps each run had spent, and the step of each run's
kept checkpoint; the per-run values let a distilled student whose transfer set cost as many
env steps be tested against them (``report.unpaired``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...records.record import Record
from ...report.stats import mean_ci
from .step import BaselineRecord, BaselineRun

__all__ = ["BaselinesSummary", "summarize_budgets", "summarize_record", "summarize_records"]


@dataclass(frozen=True)
class BaselinesSummary(Record):
    """The independent teachers (or None) and the from-scratch students per width (widest first)."""

    teachers: dict[str, Any] | None
    scratch: list[dict[str, Any]]
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"baselines": {"teachers": self.teachers, "scratch": self.scratch, "missing": self.missing}}


def _ci(values: list[float]) -> dict[str, Any]:
    if len(values) < 2:  # one run: no interval
        return {"mean": float(values[0]), "low": None, "high": None, "n": len(values), "method": "one run"}
    return dict(mean_ci(values).__dict__)


def summarize_record(record: BaselineRecord) -> dict[str, Any]:
    """One group: its runs' return % and agreements (t-intervals and values), and how many solve the task."""
    runs = sorted(record.runs, key=lambda r: r.seed)
    solved = record.teacher["solved_return"]
    returns = [r.return_pct for r in runs]
    agreement = [r.held_out["action_agreement"] for r in runs]
    own = [r.own_agreement for r in runs]
    return {
        "baseline": record.baseline,
        "width": record.width,
        "params": record.params_count,
        "params_pct": record.params_pct,
        "seeds": [r.seed for r in runs],
        "n": len(runs),
        "env_steps": record.recipe["total_steps"],
        "teacher_steps": record.recipe["teacher_steps"],
        "solved": None if solved is None else sum(r.return_mean >= solved for r in runs),
        "env_id": record.teacher["env_id"],
        "solved_return": solved,
        "return_pct": _ci(returns) | {"values": returns},
        "action_agreement": _ci(agreement) | {"values": agreement},
        "own_agreement": _ci(own) | {"values": own},
        "budgets": summarize_budgets(runs, solved),
    }


def summarize_budgets(runs: list[BaselineRun], solved_return: float | None) -> list[dict[str, Any]]:
    """Per budget (ascending): the runs read at it (module docstring); [] for runs without budgets."""
    steps = [b.steps for b in runs[0].budgets] if runs else []
    if any([b.steps for b in r.budgets] != steps for r in runs):
        raise ValueError(f"runs of one group read at different budgets {[[b.steps for b in r.budgets] for r in runs]}")
    out = []
    for i, budget in enumerate(steps):
        at = [r.budgets[i] for r in runs]
        returns, pcts = [b.return_mean for b in at], [b.return_pct for b in at]
        agreement, own = [b.held_out["action_agreement"] for b in at], [b.own_agreement for b in at]
        out.append({
            "steps": budget,
            "env_steps": at[0].env_steps,
            "gradient_steps": at[0].gradient_steps,  # one recipe: the same for every run
            "n": len(at),
            "solved": None if solved_return is None else sum(r >= solved_return for r in returns),
            "best_steps": [b.best_step for b in at],
            "return": _ci(returns) | {"values": returns},
            "return_pct": _ci(pcts) | {"values": pcts},
            "action_agreement": _ci(agreement) | {"values": agreement},
            "own_agreement": _ci(own) | {"values": own},
        })  # fmt: skip
    return out


def summarize_records(records: dict[str, BaselineRecord], missing: list[str]) -> BaselinesSummary:
    teachers = records.get("teachers")
    scratch = sorted((r for u, r in records.items() if u != "teachers"), key=lambda r: -r.width)
    return BaselinesSummary(
        summarize_record(teachers) if teachers else None, [summarize_record(r) for r in scratch], missing
    )
