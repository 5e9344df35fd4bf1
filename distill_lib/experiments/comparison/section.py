"""The original comparison's reading: which world it ran on, and sentences written from the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import Section
from .figures import final_comparison, study_curves
from .summary import ComparisonSummary, ResultRow, result_csv, result_table

__all__ = ["interpretation", "section", "world_text"]


def world_text(data: dict[str, Any]) -> str:
    """Which teacher and states the comparison ran on, in words (from ``results.json``'s ``study.data``)."""
    n, source = data["n_states"], data["source"]
    if source == "file":
        states, teacher = Path(data["states_file"] or "").name, Path(data["teacher_checkpoint"] or "").name
        return f"Your teacher ({teacher}) and your {n:,} states ({states})."
    if source == "task":
        task = data.get("env_id", "").rsplit("-v", 1)[0]
        who = "your" if data.get("teacher_checkpoint") else "the shipped"
        return f"{who.capitalize()} {task} DQN teacher and {n:,} states from its own epsilon-greedy episodes."
    h = data["teacher_hidden"]
    return (
        f"A synthetic world (seed {data['seed']}): a random teacher network {data['input_dim']}→{h}→{h}→"
        f"{data['output_dim']} and {n:,} Gaussian states."
    )


def interpretation(rows: list[ResultRow], missing: list[str] = ()) -> str:
    """A few sentences on the table, written from the numbers (Markdown)."""
    absent = f" ({', '.join(missing)} did not run in this work folder)" if missing else ""
    if not rows:
        return f"No mode finished{absent}, so there is nothing to interpret."
    n_val = rows[0].n_val
    if len(rows) == 1:
        row = rows[0]
        return (
            f"Only {row.mode} finished{absent}: it agrees with the teacher's greedy action on "
            f"{row.final_action_agreement:.1%} of {n_val} validation states, with probability similarity "
            f"{row.final_prob_similarity_t1:.3f} at T = 1 (KL {row.final_kl_t1:.4f}). With one objective there "
            "is nothing to compare it with."
        )
    by_agree = sorted(rows, key=lambda r: r.final_action_agreement, reverse=True)
    by_sim = sorted(rows, key=lambda r: r.final_prob_similarity_t1, reverse=True)
    top, low = by_agree[0], by_agree[-1]
    spread = top.final_action_agreement - low.final_action_agreement
    parts = []
    if spread == 0:
        parts.append(
            f"All modes agree with the teacher's greedy action equally often ({top.final_action_agreement:.1%})."
        )
    else:
        parts.append(
            f"Top-1 agreement ranges from {low.final_action_agreement:.1%} ({low.mode}) to "
            f"{top.final_action_agreement:.1%} ({top.mode}), a spread of {spread * 100:.1f} percentage points"
            f" — {round(spread * n_val)} of {n_val} validation states. One seed cannot say whether a gap this "
            "size is real."
        )
    best, worst = by_sim[0], by_sim[-1]
    parts.append(
        f"The full action distribution is matched best by {best.mode} (probability similarity "
        f"{best.final_prob_similarity_t1:.3f} at T = 1, KL {best.final_kl_t1:.4f}) and worst by "
        f"{worst.mode} ({worst.final_prob_similarity_t1:.3f}, KL {worst.final_kl_t1:.4f})."
    )
    parts.append(
        "Best validation losses are each mode's own objective (CE for hard_only, scaled KL for soft_only), so they "
        "are not comparable across rows."
    )
    if missing:
        parts.append(f"Missing: {', '.join(missing)} (not run in this work folder).")
    return " ".join(parts)


def section(summary: ComparisonSummary, others: dict[str, Any] | None = None) -> Section:
    """Which world, the table, its reading, and the two figures."""
    rows = summary.results
    world = world_text(summary.study["data"])
    table = result_table(rows)
    text = f"{world}\n\n{table}"
    if summary.missing_modes:
        text += f"\n**Missing:** {', '.join(summary.missing_modes)} (failed or not run in this work folder).\n"
    verdict = interpretation(rows, summary.missing_modes)
    figures = {}
    if rows:
        figures = {
            "learning_curves.png": lambda: study_curves(summary.histories),
            "final_metrics.png": lambda: final_comparison(rows),
        }
    title = "The original comparison (seed-compatible)"
    return Section(title, f"{text}\n{verdict}", f"{world} {verdict}", figures, result_csv(rows), table)
