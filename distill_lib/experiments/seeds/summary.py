"""Beyond one seed, summarised: mean and 95% t-interval per metric and mode, paired tests per pair of modes.

Paired per-seed differences with an exact sign-flip test, Holm-corrected over every comparison
of one kind of seeds; and agreement and regret per bin of the teacher's action gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ...records.record import Record
from ...report.stats import PairedComparison, comparison_record, holm_family, mean_ci, paired_difference
from .step import SEED_KINDS, SeedKind, SeedsConfig, SeedsRecord

__all__ = ["SUMMARY_METRICS", "SeedsSummary", "summarize", "summarize_kind"]

#: metrics summarised over seeds: key in a run's ``final`` -> label
SUMMARY_METRICS = {
    "action_agreement": "top-1 agreement",
    "top2_agreement": "top-2 agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "mean_prob_similarity": "prob. similarity (run T)",
    "kl_t1": "KL(teacher || student), T = 1",
    "regret": "regret (teacher Q)",
    "q_cosine": "Q cosine",
    "q_mse": "Q MSE",
}

#: how paired differences are worded: fractions in percentage points, the rest in raw units
_UNITS = {
    m: (100.0, "points")
    for m in ("action_agreement", "top2_agreement", "prob_similarity_t1", "mean_prob_similarity", "q_cosine")
}


def summarize_kind(record: SeedKind) -> dict[str, Any]:
    """Mean and 95% t-interval per metric and mode; paired differences per pair of modes; gap bins.

    The paired tests of one kind of seeds (every pair of modes on every ``SUMMARY_METRICS``)
    are one family, Holm-corrected together: a verdict speaks only of differences that
    survive the correction over all of them.
    """
    modes = record.ordered_modes()
    per_mode: dict[str, dict[str, Any]] = {}
    tests: list[tuple[str, str, str, PairedComparison]] = []
    for metric in SUMMARY_METRICS:
        per_mode[metric] = {m: mean_ci(record.values(m, metric)).__dict__ for m in modes}
        if len(record.seeds) < 2:
            continue
        for a, b in combinations(modes, 2):
            tests.append((metric, a, b, paired_difference(record.values(a, metric), record.values(b, metric))))
    family = f"every pair of modes on every metric, {record.kind} seeds"
    corrected = holm_family([cmp for *_, cmp in tests], family)
    pairs: dict[str, dict[str, Any]] = {}
    for (metric, a, b, _), cmp in zip(tests, corrected):
        pairs.setdefault(metric, {})[f"{a} - {b}"] = comparison_record(cmp, a, b, *_UNITS.get(metric, (1.0, "")))
    gap = {}
    for mode in modes:
        bins = [run.gap_bins for run in record.runs if run.mode == mode]
        gap[mode] = [
            {
                "bin": k,
                "agreement": float(np.mean([b[k].agreement for b in bins])),
                "mean_regret": float(np.mean([b[k].mean_regret for b in bins])),
                "gap_low": float(np.mean([b[k].gap_low for b in bins])),
                "gap_high": float(np.mean([b[k].gap_high for b in bins])),
            }
            for k in range(record.n_bins)
        ]
    return {"kind": record.kind, "n_seeds": len(record.seeds), "per_mode": per_mode, "pairs": pairs, "gap": gap}


@dataclass(frozen=True)
class SeedsSummary(Record):
    """``results.json``'s ``seeds``: one summary per kind of seed."""

    kinds: dict[str, dict[str, Any]]
    records: dict[str, SeedKind]

    def to_json(self) -> dict[str, Any]:
        return {"seeds": self.kinds}


def summarize(config: SeedsConfig, records: dict[str, SeedsRecord]) -> SeedsSummary:
    sections = records["seeds"].sections
    kinds = [kind for kind in SEED_KINDS if kind in sections]  # world first, whatever the JSON order
    return SeedsSummary({k: summarize_kind(sections[k]) for k in kinds}, {k: sections[k] for k in kinds})
