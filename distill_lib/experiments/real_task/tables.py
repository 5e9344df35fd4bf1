"""The real-task section's tables: the compression table (Rusu et al. 2016's analogue) and fidelity per width."""

from __future__ import annotations

from ...report.tables import ci_text, markdown_table
from .summary import RealTaskSummary

__all__ = ["compression_table", "fidelity_table"]


def compression_table(summary: RealTaskSummary) -> str:
    """Markdown: width, parameters, % of the teacher's, return % of the teacher per mode.

    The analogue of Rusu et al. (2016)'s compression table; returns are seed means with
    their 95% t-interval over seeds when there are two or more seeds.
    """
    modes, teacher = summary.modes, summary.teacher
    ci = " [95% CI]" if summary.n_seeds >= 2 else ""
    header = ["network", "parameters", "% of teacher's parameters", *(f"{m} return, % of teacher{ci}" for m in modes)]
    rows = [[f"teacher (width {teacher['hidden']})", f"{teacher['params']:,}", "100.0", *("100.0" for _ in modes)]]
    for width in summary.widths:
        first = summary.row(width, modes[0])
        cells = [ci_text(summary.row(width, m)["return_pct"], 1) for m in modes]
        rows.append([f"student width {width}", f"{first['params']:,}", f"{first['params_pct']:.1f}", *cells])
    return markdown_table(header, rows, align="lrr" + "r" * len(modes))


def fidelity_table(summary: RealTaskSummary) -> str:
    """Markdown: held-out agreement, probability similarity (T = 1) and regret per width and mode."""
    header = ["width", "mode", "held-out agreement", "prob. similarity (T = 1)", "regret (teacher Q)"]
    rows = [
        [
            row["width"],
            row["mode"],
            ci_text(row["action_agreement"], 3),
            ci_text(row["prob_similarity_t1"], 3),
            ci_text(row["regret"], 4),
        ]
        for row in summary.rows
    ]
    return markdown_table(header, rows, align="rlrrr")
