"""The fair comparison as the report shows it: per width, the decision table and its sentences; the figures."""

from __future__ import annotations

from typing import Any

from ...rl.tasks import task
from ..base import Section
from .figures import figure_decision, figure_profiles
from .sentences import (
    aggregate_sentence,
    rusu_sentence,
    scratch_sentence,
    sharpness_sentence,
    short_verdict,
    width_sentences,
)
from .summary import FairSummary
from .tables import decision_table, scratch_group

__all__ = ["section"]


def section(summary: FairSummary, others: dict[str, Any] | None = None) -> Section:
    """Per width: the decision table and its sentences; the sharpness of the teacher's targets; the figure."""
    if not summary.widths:
        return Section("Each objective at its best", "Not finished: " + ", ".join(summary.missing), "")
    first = summary.widths[0]
    fixed_t = next(a["setting"]["temperature"] for a in first["arms"] if a["fixed"])
    lines = [sharpness_sentence(first, fixed_t), ""]
    baselines = (others or {}).get("baselines")
    for width in summary.widths:
        lines += [decision_table(width, baselines), "", width_sentences(width), ""]
        if (scratch := scratch_group(baselines, width["width"])) is not None:
            lines += [scratch_sentence(width, scratch), ""]
    sel = first["selection_seeds"]
    eps = first["episodes"]
    lines.append(
        f"Selection: {len(first['candidates'])} candidate settings per width, each trained with {len(sel)} selection "
        f"seed{'s' * (len(sel) != 1)} ({', '.join(map(str, sel))}) and scored by greedy return on {eps['validation']} "
        f"validation episodes (reset seeds {eps['validation_seed']}..); the test episodes (reset seeds "
        f"{eps['test_seed']}.., {eps['test']} of them) and the evaluation seeds play no part in it. Tests: two-sided "
        "sign-flip tests by seed, Holm-corrected per width over every pair of the selected objectives and each of soft "
        "and blended selected vs fixed; 95% t-intervals."
    )
    lines.append(rusu_sentence(summary.widths))
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    if aggregate := aggregate_sentence(summary.aggregate):
        lines.append(aggregate)
    figures = {"fair_returns.png": lambda: figure_decision(summary)}
    if summary.aggregate:
        figures["fair_profiles.png"] = lambda: figure_profiles(summary.aggregate)
    title = f"Each objective at its best: {task(first['teacher']['env_id']).label}"
    return Section(title, "\n".join(lines), short_verdict(summary, baselines), figures)
