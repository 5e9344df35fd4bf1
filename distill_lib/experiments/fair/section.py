"""The fair comparison as the report shows it: per width, the decision table and its sentences; the figures."""

from __future__ import annotations

from typing import Any

from ...report.phrases import students_sentence
from ...rl.tasks import task
from ..base import Section
from .figures import figure_decision, figure_profiles
from .sentences import (
    aggregate_sentence,
    rusu_sentence,
    scratch_sentence,
    sharpness_sentence,
    short_verdict,
    tuning_sentence,
    width_sentences,
)
from .summary import FairSummary
from .tables import decision_table, scratch_group

__all__ = ["section"]


def section(summary: FairSummary, others: dict[str, Any] | None = None) -> Section:
    """Per width: the decision table and its sentences; how the settings were chosen; the aggregates; figures."""
    if not summary.widths:
        return Section("Each objective at its best", "Not finished: " + ", ".join(summary.missing), "")
    first = summary.widths[0]
    baselines = (others or {}).get("baselines")
    kinds = {f"width {w['width']}": w.get("student_kind") for w in summary.widths}
    lines = [students_sentence(kinds) + " " + tuning_sentence(first), "", sharpness_sentence(first), ""]
    for width in summary.widths:
        lines += [decision_table(width, baselines), "", width_sentences(width), ""]
        if (scratch := scratch_group(baselines, width["width"])) is not None:
            lines += [scratch_sentence(width, scratch), ""]
    lines.append(rusu_sentence(summary.widths))
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    if aggregate := aggregate_sentence(summary.aggregate):
        lines.append(aggregate)
    figures = {"fair_returns.png": lambda: figure_decision(summary)}
    if summary.aggregate:
        figures["fair_profiles.png"] = lambda: figure_profiles(summary.aggregate)
    title = f"Each objective at its best: {task(first['env_id']).label}"
    return Section(title, "\n".join(lines), short_verdict(summary, baselines), figures)
