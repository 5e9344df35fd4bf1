"""The fair comparison, summarised: per width, each objective with intervals that include the teachers' variation.

Per width and objective: test return (% of each run's own teacher's), agreement on the teacher's
held-out states and on the student's own states, each as the mean over teachers of the teachers'
means with a two-stage bootstrap interval (teachers, then runs: ``report.hierarchical``), the
per-teacher means beside it, and the share of runs below 50 % of their teacher's return.

Per width, every pair of objectives is compared on test return, paired by (teacher, seed): a
two-sided sign-flip test over those pairs (conditional on these teachers), Holm-corrected over
the width's pairs, and the two-stage bootstrap interval of the mean difference (which includes
the teachers' variation). A pair is called different only when *both* say so: the Holm p below
0.05 and the interval clear of zero.

Across widths (teachers' own size left out): Agarwal et al. (2021)'s interquartile mean and
probabilities of improvement over runs x widths (``report.aggregate``, rliable), with the plain
mean and the share of runs below 50 % beside them: the IQM drops the worst quarter of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np

from ...records.record import Record
from ...report.aggregate import interval_estimates, performance_profile, probability_of_improvement
from ...report.hierarchical import hierarchical_ci, hierarchical_difference
from ...report.stats import MeanCI, comparison_record, holm_family, paired_difference
from .step import FairRecord, FairRun

__all__ = [
    "LEVEL",
    "PROFILE_THRESHOLDS",
    "FairSummary",
    "across_widths",
    "is_self_distillation",
    "summarize_record",
    "summarize_records",
]

#: the family-wise error rate of every claim
LEVEL = 0.05
#: the share of the teacher's return below which a run is counted as a failure
HALF = 50.0
_FAMILY = "every pair of the objectives at their selected settings, on test return"


@dataclass(frozen=True)
class FairSummary(Record):
    """``results.json``'s ``fair``: per width, objectives with intervals, the selection, the Holm family."""

    widths: list[dict[str, Any]]
    missing: list[str]
    aggregate: dict[str, Any] | None = None  # across widths: IQM, mean, probability of improvement, profiles

    def to_json(self) -> dict[str, Any]:
        return {"fair": {"widths": self.widths, "missing": self.missing, "aggregate": self.aggregate}}


def is_self_distillation(params_pct: float) -> bool:
    """A student of the teacher's own size: the ceiling of what an objective can copy, not a compression."""
    return params_pct >= 99.95


def _metric(run: FairRun, metric: str) -> float:
    if metric in ("return_pct", "own_agreement"):
        return float(getattr(run, metric))
    return float(run.held_out[metric])


def _by_teacher(record: FairRecord, objective: str, metric: str) -> list[list[float]]:
    """The runs' values of ``metric`` per teacher, seeds in order: ``[[teacher 0's], [teacher 1's], ...]``."""
    out = []
    for t in sorted({r.teacher for r in record.runs}):
        by_seed = {r.seed: _metric(r, metric) for r in record.runs if r.objective == objective and r.teacher == t}
        out.append([by_seed[s] for s in record.seeds])
    return out


def _objective(record: FairRecord, objective: str) -> dict[str, Any]:
    setting = record.selected[objective]
    returns = _by_teacher(record, objective, "return_pct")
    flat = [v for g in returns for v in g]
    return {
        "objective": objective,
        "setting": setting.to_json(),
        "label": setting.label,
        "settings": setting.settings,
        "candidates": len(record.candidates[objective]),
        "return_pct": hierarchical_ci(returns).to_json() | {"values": returns},
        "action_agreement": hierarchical_ci(_by_teacher(record, objective, "action_agreement")).to_json(),
        "own_agreement": hierarchical_ci(_by_teacher(record, objective, "own_agreement")).to_json(),
        "below_half": float(np.mean([v < HALF for v in flat])),
        "checkpoints": [r.checkpoint for r in record.runs if r.objective == objective],
        "steps": int(np.mean([r.steps for r in record.runs if r.objective == objective])),
    }


def _pair(record: FairRecord, a: str, b: str) -> tuple[Any, Any]:
    """The paired sign-flip test over (teacher, seed) and the two-stage bootstrap interval of ``a - b``."""
    ga, gb = _by_teacher(record, a, "return_pct"), _by_teacher(record, b, "return_pct")
    flat_a, flat_b = [v for g in ga for v in g], [v for g in gb for v in g]
    return paired_difference(flat_a, flat_b), hierarchical_difference(ga, gb)


def summarize_record(record: FairRecord) -> dict[str, Any]:
    """One width: the teachers, each objective's candidates, selection and intervals, the Holm family of pairs."""
    objectives = list(record.selected)
    pairs = list(combinations(objectives, 2))
    tests = [_pair(record, a, b) for a, b in pairs]
    family = holm_family([t for t, _ in tests], f"{_FAMILY}, width {record.width}")
    compared = {}
    for (a, b), test, (_, hier) in zip(pairs, family, tests, strict=True):
        # the decision's interval is the one that includes the teachers' variation
        interval = MeanCI(hier.mean, hier.low, hier.high, hier.confidence, hier.n_runs, "two-stage bootstrap")
        entry = comparison_record(replace(test, difference=interval), a, b, 1.0, "points")
        entry["per_teacher"] = hier.per_teacher
        entry["detectable"] = not entry["verdict"].startswith("no detectable")
        compared[f"{a} - {b}"] = entry
    return {
        "width": record.width,
        "params": record.params_count,
        "params_pct": record.params_pct,
        "env_id": record.env_id,
        "student_kind": record.params.get("student_kind", "study"),
        "n_teachers": len(record.teachers),
        "n_seeds": len(record.seeds),
        "teachers": record.teachers,
        "selection_seeds": record.selection_seeds,
        "episodes": record.episodes,
        "sharpness": record.sharpness,
        "soft_share": record.soft_share,
        "candidates": [
            {"objective": c.setting.objective, "label": c.setting.label, "val_pct": c.val_pct, "agreement": c.agreement}
            for cands in record.candidates.values()
            for c in cands
        ],
        "objectives": [_objective(record, o) for o in objectives],
        "pairs": compared,
    }


def summarize_records(records: list[FairRecord], missing: list[str]) -> FairSummary:
    ordered = sorted(records, key=lambda r: -r.width)
    return FairSummary([summarize_record(r) for r in ordered], missing, across_widths(ordered))


#: bootstrap resamples of the aggregates (IQM is cheap; each probability of improvement costs more)
IQM_REPS, POI_REPS = 2000, 500
#: performance-profile thresholds: test return as a fraction of the teacher's
PROFILE_THRESHOLDS = [round(0.05 * k, 2) for k in range(21)]


def across_widths(records: list[FairRecord]) -> dict[str, Any] | None:
    """Agarwal et al. (2021)'s aggregates over runs x widths per objective (``report.aggregate``, rliable).

    Scores are test return as a fraction of the teacher's, ``(runs, widths)`` per objective (runs:
    every teacher's seeds); the bootstrap resamples runs within each width. Needs two widths or
    more with the same runs; a student of the teacher's own size is left out.
    """
    records = [r for r in records if not is_self_distillation(r.params_pct)]
    if len(records) < 2 or any(r.seeds != records[0].seeds or len(r.teachers) != len(records[0].teachers)
                               for r in records):  # fmt: skip
        return None
    objectives = list(records[0].selected)

    def scores(objective: str) -> np.ndarray:
        columns = [[v / 100.0 for g in _by_teacher(r, objective, "return_pct") for v in g] for r in records]
        return np.array(columns).T  # (runs, widths)

    table = {o: scores(o) for o in objectives}
    poi = {
        f"{a} > {b}": probability_of_improvement(table[a], table[b], reps=POI_REPS)
        for a, b in combinations(objectives, 2)
    }
    return {
        "widths": [r.width for r in records],
        "n_runs": int(table[objectives[0]].shape[0]),
        "reps": {"iqm": IQM_REPS, "probability_of_improvement": POI_REPS},
        "estimates": interval_estimates(table, reps=IQM_REPS),  # per objective: iqm and mean, with intervals
        "below_half": {o: float((table[o] < HALF / 100.0).mean()) for o in objectives},
        "probability_of_improvement": poi,
        "profile_thresholds": PROFILE_THRESHOLDS,
        "profiles": performance_profile(table, np.array(PROFILE_THRESHOLDS)),
    }
