"""The sweep's reading: the best cells and the MSE row in words, and each cell's own table and sentence."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report.tables import markdown_table
from ..base import Section
from .figures import heatmaps
from .step import SweepCell, cell_name
from .summary import SWEEP_METRICS, SweepSummary

__all__ = ["cell_sentence", "cell_table", "section", "verdict"]


def section(summary: SweepSummary, others: dict[str, Any] | None = None) -> Section:
    """The best cells and the MSE row in words, and the heatmaps."""
    lines = []
    if summary.temperatures:
        for label in SWEEP_METRICS:
            table = summary.table(label)
            better = np.nanargmin if label == "regret" else np.nanargmax
            i, j = np.unravel_index(better(table), table.shape)
            lines.append(
                f"- Best seed-mean {label}: {table[i, j]:.4f} at T = {summary.temperatures[i]:g}, alpha = {summary.alphas[j]:g}."
            )
    if summary.mse_row:
        lines.append(
            "- MSE on raw (unscaled) Q-values, no temperature: "
            + ", ".join(f"{k} {v:.4f}" for k, v in summary.mse_row.items())
            + "."
        )
    lines.append(
        f"- Each cell: {len(summary.seeds)} world seeds ({', '.join(map(str, summary.seeds))}); values are seed means."
    )
    if summary.missing:
        lines.append(f"- Not finished: {', '.join(summary.missing)}.")
    text = "\n".join(lines)
    figures = {"sweep_heatmaps.png": lambda: heatmaps(summary)} if summary.temperatures else {}
    return Section("The alpha x temperature sweep", text, verdict(summary), figures)


def verdict(summary: SweepSummary) -> str:
    """The grid in two sentences: how much agreement moves, where the distribution is matched best, MSE."""
    if not summary.temperatures:
        return "Only the MSE row finished." if summary.mse_row else ""
    agree, sim = summary.table("top-1 agreement"), summary.table("prob. similarity (T = 1)")
    i, j = np.unravel_index(np.nanargmax(agree), agree.shape)
    k, m = np.unravel_index(np.nanargmax(sim), sim.shape)
    n_cells, n_alphas, n_seeds = len(summary.temperatures), len(summary.alphas), len(summary.seeds)
    text = (
        f"Over {n_cells} temperatures x {n_alphas} alphas ({n_seeds} world seeds per cell, seed means, no intervals), "
        f"top-1 agreement stays within {100 * (np.nanmax(agree) - np.nanmin(agree)):.1f} points "
        f"({np.nanmin(agree):.3f}-{np.nanmax(agree):.3f}; highest at T = {summary.temperatures[i]:g}, alpha = "
        f"{summary.alphas[j]:g}), while the teacher's distribution is matched best at T = {summary.temperatures[k]:g}, "
        f"alpha = {summary.alphas[m]:g} (probability similarity {np.nanmax(sim):.3f} at T = 1)."
    )
    if summary.mse_row:
        mse = summary.mse_row
        text += (
            f" MSE on raw (unscaled) Q-values agrees {mse['top-1 agreement']:.3f} of the time and matches the distribution to "
            f"{mse['prob. similarity (T = 1)']:.3f}."
        )
    return text


def cell_table(cell: SweepCell) -> str:
    """One cell's seed means per alpha (the cell notebook's own table)."""
    metrics = list(SWEEP_METRICS.items())
    rows = [[f"{a:g}", *(f"{cell.seed_mean(a, m):.4f}" for _, m in metrics)] for a in cell.alphas]
    return markdown_table(["alpha", *(label for label, _ in metrics)], rows, align="r" * (1 + len(metrics)))


def cell_sentence(cell: SweepCell) -> str:
    """Where this cell's agreement is highest (ties named together)."""
    values = {a: round(cell.seed_mean(a, "action_agreement"), 4) for a in cell.alphas}
    best = [a for a, v in values.items() if v == max(values.values())]
    where = "alpha = " + " and ".join(f"{a:g}" for a in best) if len(best) < len(values) else "every alpha alike"
    return (
        f"At {cell_name(cell.temperature, cell.loss_fn)}, top-1 agreement is highest at {where} "
        f"({max(values.values()):.3f}, mean over {len(cell.seeds)} seeds); the analysis notebook compares the cells."
    )
