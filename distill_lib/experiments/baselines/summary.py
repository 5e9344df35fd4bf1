"""The baselines, summarised (``results.json``'s ``baselines``): each group's return and agreements with CIs.

Each group (the independent teachers; the from-scratch students of one width) becomes its
return as a % of the teacher's and its two agreements with the teacher, each with a 95%
t-interval over its runs and the per-run values (the fair comparison's decision table tests
the distilled students against them, ``fair``), and how many runs solve the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...records.record import Record
from ...report.stats import mean_ci
from .step import BaselineRecord

__all__ = ["BaselinesSummary", "summarize_record", "summarize_records"]


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
    }


def summarize_records(records: dict[str, BaselineRecord], missing: list[str]) -> BaselinesSummary:
    teachers = records.get("teachers")
    scratch = sorted((r for u, r in records.items() if u != "teachers"), key=lambda r: -r.width)
    return BaselinesSummary(
        summarize_record(teachers) if teachers else None, [summarize_record(r) for r in scratch], missing
    )
