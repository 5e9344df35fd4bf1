"""The data budgets as the report shows them: the table of returns by budget, the sentences, the figure."""

from __future__ import annotations

from typing import Any

from ...report.phrases import students_sentence
from ...report.tables import ci_text, markdown_table
from ..base import Section
from .figures import figure_budgets
from .sentences import curve_sentence, dagger_sentence, matched_sentence, reach_sentence, scratch_curve
from .summary import BudgetsSummary

__all__ = ["returns_table", "section"]


def returns_table(width: dict[str, Any], scratch: list[dict[str, Any]] | None = None) -> str:
    """Markdown: test return (% of the teacher's, interval with the teachers' variation) per objective and budget."""
    budgets = width["budgets"]
    rows = []
    for curve in width["curves"]:
        at = {p["budget"]: p for p in curve["points"]}
        name = f"{curve['objective']}{' (DAgger)' if curve['source'] == 'dagger' else ''}"
        rows.append([name, *(ci_text(at[b]["return_pct"], 1) if b in at else "-" for b in budgets)])
    if scratch:
        at = {p["budget"]: p for p in scratch}
        rows.append(["DQN from scratch", *(ci_text(at[b]["return_pct"], 1) if b in at else "-" for b in budgets)])
    header = ["objective", *(f"{b:,} env steps" for b in budgets)]
    return markdown_table(header, rows, align="l" + "r" * len(budgets))


def section(summary: BudgetsSummary, others: dict[str, Any] | None = None) -> Section:
    title = "Data budgets: return against environment steps, and DAgger"
    if not summary.widths:
        return Section(title, "Not finished: " + ", ".join(summary.missing), "")
    baselines = (others or {}).get("baselines")
    lines = [students_sentence({f"width {w['width']}": w.get("student_kind") for w in summary.widths}), ""]
    verdict = []
    for width in summary.widths:
        scratch = scratch_curve(baselines, width["width"])
        said = [curve_sentence(width), reach_sentence(width, scratch), matched_sentence(width, scratch),
                dagger_sentence(width)]  # fmt: skip
        lines += [returns_table(width, scratch), "", " ".join(s for s in said if s), ""]
        verdict.append(" ".join(s for s in said[:2] if s))
    lines.append(
        "Each objective at the settings the fair comparison selected for the width, with the same gradient steps at "
        "every budget; a smaller transfer set is a prefix of a larger one; each run's checkpoint picked on the "
        "validation episodes, as DQN from scratch's. Intervals: two-stage bootstrap over teachers, then runs."
    )
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    figures = {"budgets_returns.png": lambda: figure_budgets(summary, baselines)}
    return Section(title, "\n".join(lines), " ".join(verdict), figures)
