"""The fair comparison, summarised: per width, each arm with its CIs, the selection, and the Holm family of tests.

Per width: each arm's test return (% of the teacher's) and held-out agreement, mean and 95%
t-interval over the evaluation seeds; paired tests by seed on return, one Holm family per
width (every pair of the selected objectives, and each of soft and blended at its selected
settings against the same objective at the fixed settings). Every sentence is written from
these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ...records.record import Record
from ...report.aggregate import interval_estimates, performance_profile, probability_of_improvement
from ...report.stats import comparison_record, holm_family, mean_ci, paired_difference
from .step import FairRecord, FairRun

__all__ = [
    "ARM_ORDER",
    "FULL_CANDIDATES",
    "FULL_SEEDS",
    "PROFILE_THRESHOLDS",
    "FairSummary",
    "across_widths",
    "is_self_distillation",
    "summarize_record",
    "summarize_records",
]


#: the full grid's size (params/full.yaml): below it, the verdict says the grid is reduced
FULL_SEEDS, FULL_CANDIDATES = 20, 1 + 6 + 6 * 4 + 1
#: report order of the arms (JSON objects come back with sorted keys, so the order is restored here)
ARM_ORDER = ("hard", "soft", "blended", "mse", "soft, fixed", "blended, fixed")
_FAMILY = "every pair of the selected objectives, and soft and blended selected vs fixed, on test return"


@dataclass(frozen=True)
class FairSummary(Record):
    """``results.json``'s ``fair``: per width, arms with CIs, the selection, and the Holm family of tests."""

    widths: list[dict[str, Any]]
    missing: list[str]
    aggregate: dict[str, Any] | None = None  # across widths: IQM, probability of improvement, profiles

    def to_json(self) -> dict[str, Any]:
        return {"fair": {"widths": self.widths, "missing": self.missing, "aggregate": self.aggregate}}


def _ci(values: list[float]) -> dict[str, Any]:
    return dict(mean_ci(values).__dict__)


def _metric(run: FairRun, metric: str) -> float:
    """A run's test return % (``return_pct``), its agreement on its own states, or a held-out fidelity metric."""
    if metric in ("return_pct", "own_agreement"):
        return getattr(run, metric)
    return run.held_out[metric]


def summarize_record(record: FairRecord) -> dict[str, Any]:
    """One width: arms (settings, return % and agreement with t-intervals), selection, Holm-corrected pairs."""

    def values(arm: str, metric: str) -> np.ndarray:
        by_seed = {r.seed: _metric(r, metric) for r in record.runs if r.arm == arm}
        return np.array([by_seed[s] for s in record.seeds])

    t, f = record.teacher, record.teacher.get("val_score_floor", 0.0)
    val_pct = {c.setting.label: 100.0 * (c.val_return - f) / (t["val_return"] - f) for c in record.candidates}
    arms = [
        {
            "arm": name,
            "setting": setting.to_json(),
            "label": setting.label,
            "fixed": name.endswith("fixed"),
            "val_return_pct": val_pct.get(setting.label),
            "return_pct": _ci(values(name, "return_pct")) | {"values": values(name, "return_pct").tolist()},
            "action_agreement": _ci(values(name, "action_agreement")),
            "own_agreement": _ci(values(name, "own_agreement")),
        }
        for name, setting in sorted(record.arms.items(), key=lambda item: _rank(item[0]))
    ]
    selected = sorted(record.selected, key=_rank)
    tests = [(a, b) for a, b in combinations(selected, 2)]
    tests += [
        (obj, f"{obj}, fixed") for obj in ("soft", "blended") if obj in selected and f"{obj}, fixed" in record.arms
    ]
    compared = [paired_difference(values(a, "return_pct"), values(b, "return_pct")) for a, b in tests]
    family = holm_family(compared, f"{_FAMILY}, width {record.width}")
    pairs = {f"{a} - {b}": comparison_record(c, a, b, 1.0, "points") for (a, b), c in zip(tests, family)}
    return {
        "width": record.width,
        "params": record.params_count,
        "params_pct": record.params_pct,
        "n_seeds": len(record.seeds),
        "selection_seeds": record.selection_seeds,
        "episodes": record.episodes,
        "teacher": record.teacher,
        "sharpness": record.sharpness,
        "candidates": [
            {"label": c.setting.label, "objective": c.setting.objective, "val_return_pct": val_pct[c.setting.label]}
            for c in record.candidates
        ],
        "arms": arms,
        "pairs": pairs,
    }


def is_self_distillation(params_pct: float) -> bool:
    return params_pct >= 99.95


def _rank(arm: str) -> int:
    return ARM_ORDER.index(arm) if arm in ARM_ORDER else len(ARM_ORDER)


def summarize_records(records: list[FairRecord], missing: list[str]) -> FairSummary:
    ordered = sorted(records, key=lambda r: -r.width)
    return FairSummary([summarize_record(r) for r in ordered], missing, across_widths(ordered))


#: bootstrap resamples of the aggregates (IQM is cheap; each probability of improvement costs more)
IQM_REPS, POI_REPS = 2000, 500
#: performance-profile thresholds: test return as a fraction of the teacher's
PROFILE_THRESHOLDS = [round(0.05 * k, 2) for k in range(21)]


def across_widths(records: list[FairRecord]) -> dict[str, Any] | None:
    """Agarwal et al. (2021)'s aggregates over seeds x widths (``report.aggregate``, rliable), per arm.

    Scores are test return as a fraction of the teacher's, ``(seeds, widths)`` per arm; the
    bootstrap resamples seeds within each width. Needs two widths or more, with the same seeds;
    a student of the teacher's own size (self-distillation) is left out.
    """
    records = [r for r in records if not is_self_distillation(r.params_pct)]  # a ceiling, not a compression
    if len(records) < 2 or any(r.seeds != records[0].seeds for r in records):
        return None
    arms = sorted({a for r in records for a in r.arms}, key=_rank)

    def scores(arm: str) -> np.ndarray:
        columns = []
        for r in records:
            by_seed = {run.seed: run.return_pct / 100.0 for run in r.runs if run.arm == arm}
            columns.append([by_seed[s] for s in r.seeds])
        return np.array(columns).T  # (seeds, widths)

    table = {arm: scores(arm) for arm in arms}
    selected = [a for a in arms if not a.endswith("fixed")]
    poi = {
        f"{a} > {b}": probability_of_improvement(table[a], table[b], reps=POI_REPS)
        for a, b in combinations(selected, 2)
    }
    return {
        "widths": [r.width for r in records],
        "n_seeds": len(records[0].seeds),
        "reps": {"iqm": IQM_REPS, "probability_of_improvement": POI_REPS},
        "estimates": interval_estimates(table, reps=IQM_REPS),
        "probability_of_improvement": poi,
        "profile_thresholds": PROFILE_THRESHOLDS,
        "profiles": performance_profile(table, np.array(PROFILE_THRESHOLDS)),
    }
