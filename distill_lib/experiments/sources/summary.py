"""The data-source comparison, summarised (``results.json``'s ``sources``): every arm x objective, two test families.

Per width, two families of paired tests (by seed: a seed's students share their
initialisation), each Holm-corrected:

* *DAgger vs the teacher's states at equal size*: per objective, test return of the DAgger
  student minus the student trained on as many teacher-driven states.
* *Soft targets with little data* (Hinton et al. 2015): per objective other than hard, the
  difference-in-differences ``(obj - hard)`` at the smallest transfer set minus
  ``(obj - hard)`` at the largest, on test return; positive means the objective's advantage
  over hard targets is larger with little data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.objectives import OBJECTIVES
from ...records.record import Record
from ...report.stats import comparison_record, holm_family, mean_ci, paired_difference
from .step import SourcesRecord

__all__ = ["DAGGER_FAMILY", "SMALL_DATA_FAMILY", "SourcesSummary", "summarize_record", "summarize_records"]

DAGGER_FAMILY = "DAgger vs teacher-driven states of equal size, per objective, on test return"
SMALL_DATA_FAMILY = "each objective's advantage over hard: smallest minus largest transfer set, on test return"


@dataclass(frozen=True)
class SourcesSummary(Record):
    """Per width: every arm x objective with intervals, and the two families of tests."""

    widths: list[dict[str, Any]]
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"sources": {"widths": self.widths, "missing": self.missing}}


def _values(record: SourcesRecord, arm: str, objective: str, metric: str) -> np.ndarray:
    by_seed = {
        r.seed: (r.return_pct if metric == "return_pct" else r.own_agreement if metric == "own" else r.held_out[metric])
        for r in record.runs
        if r.arm == arm and r.objective == objective
    }
    return np.array([by_seed[s] for s in sorted(by_seed)])


def _cell(values: np.ndarray) -> dict[str, Any]:
    return dict(mean_ci(values).__dict__) | {"values": values.tolist()} if len(values) > 1 else {"mean": values[0]}


def summarize_record(record: SourcesRecord) -> dict[str, Any]:
    """One width: cells per (arm, objective), and both families of tests."""
    objectives = [o for o in OBJECTIVES if o in record.selected]
    episodes = {a: int(a.split()[1]) for a in record.sizes if a.startswith("teacher, ") and a != "teacher, same size"}
    transfer = sorted(episodes, key=episodes.get)  # by size (JSON returns the keys sorted by name)
    arms = transfer + [a for a in ("DAgger", "teacher, same size") if a in record.sizes]
    cells = {
        arm: {
            obj: {
                "return_pct": _cell(_values(record, arm, obj, "return_pct")),
                "action_agreement": _cell(_values(record, arm, obj, "action_agreement")),
                "own_agreement": _cell(_values(record, arm, obj, "own")),
            }
            for obj in objectives
        }
        for arm in arms
    }
    dagger: dict[str, Any] = {}
    if "DAgger" in record.sizes:
        compared = [
            paired_difference(
                _values(record, "DAgger", o, "return_pct"), _values(record, "teacher, same size", o, "return_pct")
            )
            for o in objectives
        ]
        family = holm_family(compared, f"{DAGGER_FAMILY}, width {record.width}")
        dagger = {
            f"{o}: DAgger - teacher-driven states": comparison_record(
                c, f"{o} DAgger", f"{o} teacher-driven", 1.0, "points"
            )
            for o, c in zip(objectives, family)
        }
    small_data: dict[str, Any] = {}
    if len(transfer) >= 2 and "hard" in objectives:
        small, large = transfer[0], transfer[-1]

        def gap(arm: str, obj: str) -> np.ndarray:
            return _values(record, arm, obj, "return_pct") - _values(record, arm, "hard", "return_pct")

        others = [o for o in objectives if o != "hard"]
        compared = [paired_difference(gap(small, o), gap(large, o)) for o in others]
        family = holm_family(compared, f"{SMALL_DATA_FAMILY}, width {record.width}")
        small_data = {
            o: comparison_record(c, small, large, 1.0, "points")
            | {
                "small": episodes[small],
                "large": episodes[large],
                "lead_small": float(gap(small, o).mean()),  # the objective's lead over hard, points
                "lead_large": float(gap(large, o).mean()),
            }
            for o, c in zip(others, family)
        }
    return {
        "width": record.width,
        "n_seeds": len({r.seed for r in record.runs}),
        "selected": {o: s.label for o, s in record.selected.items()},
        "arms": [{"arm": a, "n_states": record.sizes[a], "episodes": episodes.get(a)} for a in arms],
        "dagger_design": record.dagger,
        "objectives": objectives,
        "cells": cells,
        "dagger": dagger,
        "small_data": small_data,
    }


def summarize_records(records: list[SourcesRecord], missing: list[str]) -> SourcesSummary:
    return SourcesSummary([summarize_record(r) for r in sorted(records, key=lambda r: -r.width)], missing)
