"""The data budgets, summarised (``results.json``'s ``budgets``): every objective's return against environment steps.

Per width, objective, source (teacher-driven, DAgger) and budget: test return (% of each run's own
teacher's), agreement on the teacher's held-out states and on the student's own states, each as
the mean over teachers with the two-stage bootstrap interval that includes the teachers' variation
(``report.hierarchical``), and the gradient steps the runs took (the same at every budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...records.record import Record
from ...report.hierarchical import hierarchical_ci
from .step import BudgetRun, BudgetsRecord

__all__ = ["BudgetsSummary", "summarize_record", "summarize_records"]


@dataclass(frozen=True)
class BudgetsSummary(Record):
    """Per width: the curves of every objective and source."""

    widths: list[dict[str, Any]]
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"budgets": {"widths": self.widths, "missing": self.missing}}


def _value(run: BudgetRun, metric: str) -> float:
    return float(getattr(run, metric)) if metric in ("return_pct", "own_agreement") else float(run.held_out[metric])


def _groups(runs: list[BudgetRun], metric: str, seeds: list[int]) -> list[list[float]]:
    out = []
    for t in sorted({r.teacher for r in runs}):
        by_seed = {r.seed: _value(r, metric) for r in runs if r.teacher == t}
        out.append([by_seed[s] for s in seeds if s in by_seed])
    return out


def summarize_record(record: BudgetsRecord) -> dict[str, Any]:
    """One width: per objective and source, a point per budget with its intervals."""
    seeds = sorted({r.seed for r in record.runs})
    curves = []
    for source in ("teacher", "dagger"):
        for objective in record.selected:
            points = []
            for b in record.budgets:
                runs = [r for r in record.runs if (r.objective, r.source, r.budget) == (objective, source, b)]
                if not runs:
                    continue
                returns = _groups(runs, "return_pct", seeds)
                points.append({
                    "budget": b,
                    "return_pct": hierarchical_ci(returns).to_json() | {"values": returns},
                    "action_agreement": hierarchical_ci(_groups(runs, "action_agreement", seeds)).to_json(),
                    "own_agreement": hierarchical_ci(_groups(runs, "own_agreement", seeds)).to_json(),
                    "steps": runs[0].steps,
                })  # fmt: skip
            if points:
                curves.append({"objective": objective, "source": source, "points": points})
    return {
        "width": record.width,
        "env_id": record.env_id,
        "student_kind": record.params.get("student_kind", "study"),
        "n_teachers": len(record.teachers),
        "n_seeds": len(seeds),
        "budgets": record.budgets,
        "selected": {o: s.label for o, s in record.selected.items()},
        "dagger": record.dagger,
        "curves": curves,
    }


def summarize_records(records: list[BudgetsRecord], missing: list[str]) -> BudgetsSummary:
    return BudgetsSummary([summarize_record(r) for r in sorted(records, key=lambda r: -r.width)], missing)
