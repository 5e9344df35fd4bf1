"""The fair comparison's tables, and its students against the baselines' groups.

``decision_table`` is the report's answer per width: each objective at its selected settings,
the fixed-T arms, and, when the baselines ran, DQN from scratch at that width and the
independent teachers beside them. ``versus_scratch`` tests each selected objective against
DQN from scratch: the runs share no seed, so the test is unpaired (``report.unpaired``:
Welch's interval, a permutation p-value), Holm-corrected over the width's selected objectives.
The baselines' summary comes to the section as data (``others["baselines"]``): this
experiment does not import that one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report.stats import comparison_record, holm_family
from ...report.tables import ci_text, markdown_table
from ...report.unpaired import unpaired_difference

__all__ = ["SCRATCH_FAMILY", "candidates_table", "decision_table", "scratch_group", "versus_scratch"]

#: the family of the tests against the from-scratch baseline, per width
SCRATCH_FAMILY = "each selected objective vs DQN from scratch, on test return"


def scratch_group(baselines: Any, width: int) -> dict[str, Any] | None:
    """The from-scratch group of ``width`` in a ``BaselinesSummary`` (or None)."""
    if baselines is None:
        return None
    return next((g for g in baselines.scratch if g["width"] == width), None)


def decision_table(width: dict[str, Any], baselines: Any = None) -> str:
    """Markdown: each arm's settings, validation return, test return and both agreements, then the baselines."""
    rows = []
    for arm in width["arms"]:
        name = f"{arm['arm']} (as in the real-task section)" if arm["fixed"] else arm["arm"]
        val = "not a candidate" if arm["val_return_pct"] is None else f"{arm['val_return_pct']:.1f}"
        own = ci_text(arm["own_agreement"], 3) if "own_agreement" in arm else "not measured"
        rows.append([name, arm["label"], val, ci_text(arm["return_pct"], 1), ci_text(arm["action_agreement"], 3), own])
    scratch = scratch_group(baselines, width["width"])
    if scratch is not None:
        steps = f"{scratch['env_steps']:,} env steps"
        rows.append(_baseline_row(f"DQN from scratch ({scratch['n']} runs)", f"the teacher's recipe, {steps}", scratch))
    teachers = baselines.teachers if baselines is not None else None
    if teachers is not None:
        rows.append(_baseline_row(f"independent teachers ({teachers['n']})", f"width {teachers['width']}", teachers))
    header = [
        "objective",
        "settings",
        "validation return, %",
        "test return, % [95% CI]",
        "agreement, teacher's states [95% CI]",
        "agreement, student's states [95% CI]",
    ]
    return markdown_table(header, rows, align="llrrrr")


def _baseline_row(name: str, settings: str, group: dict[str, Any]) -> list[str]:
    return [
        name,
        settings,
        "baseline",
        ci_text(group["return_pct"], 1),
        ci_text(group["action_agreement"], 3),
        ci_text(group["own_agreement"], 3),
    ]


def candidates_table(width: dict[str, Any]) -> str:
    """Markdown: every candidate's validation return (% of the teacher's), the selected ones marked."""
    chosen = {a["label"] for a in width["arms"] if not a["fixed"]}
    rows = [
        [c["objective"], c["label"], f"{c['val_return_pct']:.1f}", "selected" if c["label"] in chosen else ""]
        for c in width["candidates"]
    ]
    return markdown_table(["objective", "settings", "validation return, %", ""], rows, align="llrl")


def versus_scratch(width: dict[str, Any], scratch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``"<objective> - from scratch"`` -> the comparison's JSON form, Holm-corrected over the selected objectives."""
    arms = [a for a in width["arms"] if not a["fixed"] and "values" in a["return_pct"]]
    base = np.asarray(scratch["return_pct"]["values"], dtype=np.float64)
    if len(arms) == 0 or base.size < 2:
        return {}
    compared = [unpaired_difference(np.asarray(a["return_pct"]["values"]), base) for a in arms]
    family = holm_family(compared, f"{SCRATCH_FAMILY}, width {width['width']}")
    return {
        f"{a['arm']} - from scratch": comparison_record(c, a["arm"], "from scratch", 1.0, "points")
        for a, c in zip(arms, family)
    }
