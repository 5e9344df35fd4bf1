"""The sweep, summarised: seed means over the (temperature x alpha) grid, the MSE row, the study's objectives marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...records.record import Record
from .step import SweepCell, SweepConfig, units

__all__ = ["SWEEP_METRICS", "SweepSummary", "grid", "summarize"]

#: the metrics of the heatmaps and the summary: label -> key
SWEEP_METRICS = {
    "top-1 agreement": "action_agreement",
    "prob. similarity (T = 1)": "prob_similarity_t1",
    "regret": "regret",
}


def grid(cells: list[SweepCell], metric: str) -> tuple[list[float], list[float], np.ndarray]:
    """KL cells as a (temperature x alpha) array of the seed-mean of ``metric``."""
    kl = sorted((c for c in cells if c.loss_fn == "kl"), key=lambda c: c.temperature)
    temps = [c.temperature for c in kl]
    alphas = sorted({a for c in kl for a in c.alphas})
    table = np.full((len(temps), len(alphas)), np.nan)
    for i, cell in enumerate(kl):
        for j, alpha in enumerate(alphas):
            if alpha in cell.alphas:
                table[i, j] = cell.seed_mean(alpha, metric)
    return temps, alphas, table


@dataclass(frozen=True)
class SweepSummary(Record):
    """``results.json``'s ``sweep``: seed means over the grid, the MSE row, the marks of the study's objectives."""

    temperatures: list[float]
    alphas: list[float]
    seed_mean: dict[str, list[list[float | None]]]
    mse_row: dict[str, float] | None
    seeds: list[int]
    missing: list[str]
    marks: list[tuple[float, float, str]]

    def to_json(self) -> dict[str, Any]:
        keys = ("temperatures", "alphas", "seed_mean", "mse_row", "seeds")
        return {"sweep": {k: getattr(self, k) for k in keys}}

    def table(self, label: str) -> np.ndarray:
        return np.array([[np.nan if v is None else v for v in row] for row in self.seed_mean[label]], dtype=float)


def summarize(config: SweepConfig, records: dict[str, SweepCell]) -> SweepSummary:
    cells = list(records.values())
    temps, alphas, tables = [], [], {}
    for label, metric in SWEEP_METRICS.items():
        temps, alphas, tables[label] = grid(cells, metric)
    mse = [c for c in cells if c.loss_fn == "mse"]
    mse_row = (
        {label: float(np.mean([r.final[m] for r in mse[0].runs])) for label, m in SWEEP_METRICS.items()}
        if mse
        else None
    )
    seed_mean = {label: [[None if np.isnan(v) else float(v) for v in row] for row in t] for label, t in tables.items()}
    marks = [(config.temperature, round(alpha, 1), mode) for mode, alpha in config.mode_alphas().items()]
    missing = [f"sweep {u}" for u in units(config).steps if u not in records]
    return SweepSummary(temps, alphas, seed_mean, mse_row, cells[0].seeds, missing, marks)
