"""The analysis of the study's later sections: multi-seed statistics, action-gap bins, sweep.

``collect_sections`` reads what the seeds and sweep notebooks saved under ``work_dir`` and
turns it into tables, sentences (written from the numbers) and a JSON-able summary for
``results.json``. A section that was not run (empty seed list, no sweep temperatures) or
did not finish is reported as such, never invented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..records.atomic import read_json as read_record
from .keys import cell_name

__all__ = ["Sections", "collect_sections"]

_SWEEP_METRICS = {
    "top-1 agreement": "action_agreement",
    "prob. similarity (T = 1)": "prob_similarity_t1",
    "regret": "regret",
}


def _fmt(ci: dict[str, Any], digits: int = 3) -> str:
    return f"{ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


@dataclass
class Sections:
    """Everything the analysis notebook shows about the later sections."""

    seed_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> run_seeds record
    seed_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> summarize()
    sweep_cells: list[dict[str, Any]] = field(default_factory=list)
    cartpole: dict[str, Any] | None = None  # the CartPole section's record
    missing: list[str] = field(default_factory=list)

    # -- CartPole -----------------------------------------------------------------------
    @cached_property
    def cartpole_summary(self) -> dict[str, Any] | None:
        from .cartpole import summarize as summarize_cartpole

        return summarize_cartpole(self.cartpole) if self.cartpole else None

    def cartpole_figures(self) -> dict[str, Any]:
        from .cartpole import figure_fidelity, figure_returns

        summary = self.cartpole_summary
        return {"cartpole_returns.png": figure_returns(summary), "cartpole_fidelity.png": figure_fidelity(summary)}

    def cartpole_markdown(self, synthetic_rows: list[dict[str, Any]] | None) -> str:
        from .cartpole import compression_table, interpretation

        summary = self.cartpole_summary
        return compression_table(summary) + "\n\n" + interpretation(summary, synthetic_rows)

    # -- multi-seed ---------------------------------------------------------------------
    @property
    def seeds_markdown(self) -> str:
        from .seeds import SUMMARY_METRICS, ordered_modes

        parts = []
        for kind, summary in self.seed_summaries.items():
            modes = ordered_modes(self.seed_records[kind])
            head = "| metric | " + " | ".join(modes) + " |\n|---|" + "---|" * len(modes) + "\n"
            body = "".join(
                f"| {label} | "
                + " | ".join(
                    _fmt(summary["per_mode"][metric][m], 4 if metric in ("kl_t1", "q_mse", "regret") else 3)
                    for m in modes
                )
                + " |\n"
                for metric, label in SUMMARY_METRICS.items()
            )
            parts.append(f"### {kind.capitalize()} seeds (n = {summary['n_seeds']}): mean [95% CI]\n\n{head}{body}")
            verdicts = self.verdicts(kind)
            if verdicts:
                parts.append("**Verdict.** " + verdicts)
        if self.missing:
            parts.append(f"*Not finished: {', '.join(self.missing)}.*")
        return "\n\n".join(parts)

    def verdicts(self, kind: str) -> str:
        """Sentences on agreement, distribution match and regret, from the paired tests."""
        pairs = self.seed_summaries[kind]["pairs"]
        if not pairs:
            return ""
        out = []
        agree = pairs.get("action_agreement", {})
        undetected = [p for p, c in agree.items() if c["verdict"].startswith("no detectable")]
        if agree and len(undetected) == len(agree):
            out.append(
                f"No detectable difference in top-1 agreement between any two objectives over {self.seed_summaries[kind]['n_seeds']} {kind} seeds."
            )
        else:
            out.extend(
                f"Top-1 agreement: {c['verdict']}."
                for c in agree.values()
                if not c["verdict"].startswith("no detectable")
            )
        for metric, label in (("prob_similarity_t1", "Probability similarity at T = 1"), ("regret", "Regret")):
            for c in pairs.get(metric, {}).values():
                out.append(f"{label}: {c['verdict']}.")
        return " ".join(out)

    @property
    def gap_summary(self) -> dict[str, Any] | None:
        return self.seed_summaries.get("world") or self.seed_summaries.get("training")

    @property
    def gap_markdown(self) -> str:
        summary = self.gap_summary
        if not summary:
            return ""
        modes = list(summary["gap"])
        first = summary["gap"][modes[0]]
        head = (
            "| action-gap bin | "
            + " | ".join(f"{m} agreement" for m in modes)
            + " | "
            + " | ".join(f"{m} regret" for m in modes)
            + " |\n"
        )
        head += "|---|" + "---|" * (2 * len(modes)) + "\n"
        body = "".join(
            f"| {b['gap_low']:.3f}-{b['gap_high']:.3f} | "
            + " | ".join(f"{summary['gap'][m][k]['agreement']:.3f}" for m in modes)
            + " | "
            + " | ".join(f"{summary['gap'][m][k]['mean_regret']:.4f}" for m in modes)
            + " |\n"
            for k, b in enumerate(first)
        )
        low = {m: summary["gap"][m][0]["agreement"] for m in modes}
        high = {m: summary["gap"][m][-1]["agreement"] for m in modes}
        best_low = max(low, key=low.get)
        text = (
            f"\nIn the smallest-gap bin (near-ties) agreement is {', '.join(f'{m} {v:.1%}' for m, v in low.items())}; "
            f"in the largest-gap bin {', '.join(f'{m} {v:.1%}' for m, v in high.items())}. "
            f"Near ties, {best_low} agrees most often. Disagreements concentrate where the teacher itself barely "
            "prefers one action, which is why their regret stays small."
        )
        return head + body + text

    # -- sweep --------------------------------------------------------------------------
    @property
    def sweep_grid(self) -> tuple[list[float], list[float], dict[str, np.ndarray]]:
        from .sweep import grid

        tables = {}
        temps, alphas = [], []
        for label, metric in _SWEEP_METRICS.items():
            temps, alphas, tables[label] = grid(self.sweep_cells, metric)
        return temps, alphas, tables

    @property
    def sweep_mse_row(self) -> dict[str, float] | None:
        mse = [c for c in self.sweep_cells if c["loss_fn"] == "mse"]
        if not mse:
            return None
        return {
            label: float(np.mean([r["final"][metric] for r in mse[0]["runs"]]))
            for label, metric in _SWEEP_METRICS.items()
        }

    def sweep_marks(self, rows: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
        """The seed-42 table's objectives as (temperature, alpha, mode) points on the grid."""
        return [(float(r["temperature"]), round(float(r["alpha"]), 1), r["mode"]) for r in rows]

    @property
    def sweep_markdown(self) -> str:
        temps, alphas, tables = self.sweep_grid
        if not temps:
            return ""
        lines = []
        for label, table in tables.items():
            better = np.nanargmin if label == "regret" else np.nanargmax
            i, j = np.unravel_index(better(table), table.shape)
            lines.append(f"- Best seed-mean {label}: {table[i, j]:.4f} at T = {temps[i]:g}, alpha = {alphas[j]:g}.")
        mse = self.sweep_mse_row
        if mse:
            lines.append(
                "- MSE on Q-values (no temperature): " + ", ".join(f"{k} {v:.4f}" for k, v in mse.items()) + "."
            )
        seeds = self.sweep_cells[0]["seeds"]
        lines.append(f"- Each cell: {len(seeds)} world seeds ({', '.join(map(str, seeds))}); values are seed means.")
        if self.missing:
            lines.append(f"- Not finished: {', '.join(self.missing)}.")
        return "\n".join(lines)

    def markdown(self, synthetic_rows: list[dict[str, Any]] | None = None) -> str:
        """Every section that ran, as Markdown (for ``results.md``)."""
        parts = []
        if self.seed_summaries or "seeds" in self.missing:
            parts.append("## Beyond one seed\n\n" + self.seeds_markdown)
        if self.gap_summary:
            parts.append("## Where students disagree with the teacher (world seeds)\n\n" + self.gap_markdown)
        if self.sweep_cells:
            parts.append("## The alpha x temperature sweep\n\n" + self.sweep_markdown)
        if self.cartpole:
            parts.append("## A real teacher: CartPole\n\n" + self.cartpole_markdown(synthetic_rows))
        elif "cartpole" in self.missing:
            parts.append("## A real teacher: CartPole\n\n*Not finished.*")
        return "\n\n".join(parts)

    # -- results.json -------------------------------------------------------------------
    @property
    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.seed_summaries:
            out["seeds"] = self.seed_summaries
        if self.sweep_cells:
            temps, alphas, tables = self.sweep_grid
            out["sweep"] = {
                "temperatures": temps,
                "alphas": alphas,
                "seed_mean": {
                    label: [[None if np.isnan(v) else float(v) for v in row] for row in t]
                    for label, t in tables.items()
                },
                "mse_row": self.sweep_mse_row,
                "seeds": self.sweep_cells[0]["seeds"],
            }
        if self.cartpole:
            out["cartpole"] = self.cartpole_summary
        if self.missing:
            out["missing_sections"] = self.missing
        return out


def collect_sections(
    work_dir: str | os.PathLike[str],
    world_seeds: list[int],
    training_seeds: list[int],
    sweep_temperatures: list[float],
    sweep_mse: bool,
    cartpole: bool = False,
) -> Sections:
    """Read the seeds and sweep records that the study asked for; note what is missing."""
    work = Path(work_dir)
    sections = Sections()
    if world_seeds or training_seeds:
        record = read_record(work / "seeds" / "seeds.json")
        if record is None:
            sections.missing.append("seeds")
        else:
            from .seeds import summarize  # scipy: only when there is something to summarise

            for kind, rec in record["sections"].items():
                sections.seed_records[kind] = rec
                sections.seed_summaries[kind] = summarize(rec)
    names = [cell_name(t) for t in sweep_temperatures] + (["mse"] if sweep_temperatures and sweep_mse else [])
    for name in names:
        cell = read_record(work / "sweep" / name / "cell.json")
        if cell is None:
            sections.missing.append(f"sweep {name}")
        else:
            sections.sweep_cells.append(cell)
    if cartpole:
        sections.cartpole = read_record(work / "cartpole" / "cartpole.json")
        if sections.cartpole is None:
            sections.missing.append("cartpole")
    return sections
