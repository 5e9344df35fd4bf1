"""The real-task section, summarised: per width and mode, means and 95% t-intervals over seeds; paired tests."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ...records.record import Record
from ...report.stats import comparison_record, holm_family, mean_ci, paired_difference
from ...rl.tasks import task
from .step import RealTaskRecord

__all__ = ["COMPARE_WIDTH", "SUMMARY_METRICS", "RealTaskSummary", "summarize_record"]

#: per-student metrics summarised over seeds: key -> label
SUMMARY_METRICS = {
    "return_pct": "return (% of teacher)",
    "action_agreement": "held-out agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "regret": "regret (teacher Q)",
}
#: how paired differences are worded (``stats.verdict``'s scale and unit)
_UNITS = {"return_pct": (1.0, "points"), "action_agreement": (100.0, "points")}

#: the width whose modes are compared pairwise (the widest one if it is not in the list)
COMPARE_WIDTH = 32


def _ci(values: np.ndarray) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds (``stats.mean_ci``); a single seed has no interval."""
    if len(values) >= 2:
        return dict(mean_ci(values).__dict__)
    return {"mean": float(values[0]), "low": None, "high": None, "confidence": None, "n": 1, "method": "single seed"}


@dataclass(frozen=True)
class RealTaskSummary(Record):
    """``results.json``'s ``real_task``: per width and mode, means and CIs over seeds; paired tests."""

    teacher: dict[str, Any]
    widths: list[int]
    modes: list[str]
    n_seeds: int
    compare_width: int
    buffer: dict[str, Any]
    rows: list[dict[str, Any]]
    pairs: dict[str, dict[str, Any]]
    student_kind: str = "study"  # the students' family (``RunConfig.student_kind``), as the step recorded it

    def to_json(self) -> dict[str, Any]:
        return {"real_task": {name: getattr(self, name) for name in self.__dataclass_fields__}}

    def row(self, width: int, mode: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["width"] == width and r["mode"] == mode)


def summarize_record(record: RealTaskRecord) -> RealTaskSummary:
    """Per width and mode: mean (and 95% t-interval over seeds) of each ``SUMMARY_METRICS``.

    With two or more seeds, also paired comparisons of the modes at ``COMPARE_WIDTH`` (or
    the widest width) for return and agreement (``stats.paired_difference``): one family of
    ``2 x pairs`` tests, Holm-corrected together (``stats.holm_family``).
    """
    modes = sorted(record.modes, key=lambda m: record.modes[m])  # by alpha
    seeds = list(record.seeds)
    size = {s["width"]: s for s in record.students}

    def values(width: int, mode: str, metric: str) -> np.ndarray:
        by_seed = {
            r.seed: float(r.return_pct if metric == "return_pct" else r.held_out[metric])
            for r in record.runs
            if r.width == width and r.mode == mode
        }
        return np.array([by_seed[s] for s in seeds])

    rows = []
    for width in record.widths:
        for mode in modes:
            row = {"width": width, "mode": mode, "alpha": record.modes[mode]}
            row.update(params=size[width]["params"], params_pct=size[width]["params_pct"])
            row.update({metric: _ci(values(width, mode, metric)) for metric in SUMMARY_METRICS})
            rows.append(row)
    compare = COMPARE_WIDTH if COMPARE_WIDTH in record.widths else max(record.widths)
    pairs: dict[str, dict[str, Any]] = {}
    if len(seeds) >= 2:
        tests = [
            (metric, a, b, paired_difference(values(compare, a, metric), values(compare, b, metric)))
            for metric in _UNITS
            for a, b in combinations(modes, 2)
        ]
        family = f"every pair of modes on return and agreement at width {compare}"
        corrected = holm_family([cmp for *_, cmp in tests], family)
        for (metric, a, b, _), cmp in zip(tests, corrected):
            pairs.setdefault(metric, {})[f"{a} - {b}"] = comparison_record(cmp, a, b, *_UNITS[metric])
    teacher = record.teacher
    return RealTaskSummary(
        teacher={
            "params": teacher["params"],
            "hidden": teacher["hidden"],
            "env_id": record.env,
            "label": task(record.env).label,
            "shipped": teacher["shipped"],
            "solved_return": record.closed_loop.get("solved_return"),
            "max_steps": record.closed_loop["max_steps"],
            "max_return": task(record.env).max_return,
            "score_floor": record.closed_loop["score_floor"],
            "floor_rule": record.closed_loop["floor_rule"],
            "return_mean": teacher["return_mean"],
            "return_ci": teacher["return_ci"],
            "episodes": len(teacher["returns"]),
        },
        widths=list(record.widths),
        modes=modes,
        n_seeds=len(seeds),
        compare_width=compare,
        buffer=dict(record.buffer),
        rows=rows,
        pairs=pairs,
        student_kind=record.params.get("student_kind", "study"),
    )
