"""The fair comparison's tables, and its students against the baselines' groups.

``decision_table`` is the report's answer per width: each objective at its selected settings,
its test return with the interval that includes the teachers' variation and each teacher's mean,
and, when the baselines ran, DQN from scratch at that width and the independent teachers beside
them. ``versus_scratch`` tests each objective against DQN from scratch: the runs share nothing,
so the test is unpaired (``report.unpaired``: Welch's interval, a permutation p-value) over
every distilled run of every teacher, Holm-corrected over the width's objectives. The
baselines' summary comes to the section as data (``others["baselines"]``): this experiment does
not import that one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report.stats import comparison_record, holm_family
from ...report.tables import ci_text, markdown_table
from ...report.unpaired import unpaired_difference

__all__ = ["SCRATCH_FAMILY", "candidates_table", "decision_table", "scratch_group", "versus_scratch"]

#: the family of the tests against the from-scratch baseline, per width
SCRATCH_FAMILY = "each objective vs DQN from scratch, on test return"


def scratch_group(baselines: Any, width: int) -> dict[str, Any] | None:
    """The from-scratch group of ``width`` at its full budget in a ``BaselinesSummary`` (or None)."""
    if baselines is None:
        return None
    return next((g for g in baselines.scratch if g["width"] == width), None)


def _per_teacher(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def decision_table(width: dict[str, Any], baselines: Any = None) -> str:
    """Markdown: each objective's selected settings, candidates, test return (with each teacher's mean), runs
    below half the teacher's return, both agreements; then the baselines."""
    rows = []
    for o in width["objectives"]:
        r = o["return_pct"]
        rows.append([
            o["objective"], o["label"].split(" (", 1)[0].partition(", ")[2] or "-",
            f"lr {o['setting']['lr']:g}, {o['setting']['steps']:,} steps", str(o["candidates"]),
            ci_text(r, 1), _per_teacher(r["per_teacher"]), f"{100 * o['below_half']:.0f}%",
            ci_text(o["action_agreement"], 3), ci_text(o["own_agreement"], 3),
        ])  # fmt: skip
    scratch = scratch_group(baselines, width["width"])
    if scratch is not None:
        rows.append(_baseline_row(f"DQN from scratch ({scratch['n']} runs)", f"{scratch['env_steps']:,} env steps",
                                  scratch))  # fmt: skip
    teachers = baselines.teachers if baselines is not None else None
    if teachers is not None:
        rows.append(_baseline_row(f"independent teachers ({teachers['n']})", f"width {teachers['width']}", teachers))
    header = [
        "objective", "selected settings", "optimiser", "candidates", "test return, % of teacher [95% CI]",
        "per teacher", "runs below 50%", "agreement, teacher's states", "agreement, student's states",
    ]  # fmt: skip
    return markdown_table(header, rows, align="lllrrrrrr")


def _baseline_row(name: str, settings: str, group: dict[str, Any]) -> list[str]:
    below = np.mean([v < 50.0 for v in group["return_pct"]["values"]]) if "values" in group["return_pct"] else None
    return [
        name, settings, "its recipe", "-", ci_text(group["return_pct"], 1), "-",
        "-" if below is None else f"{100 * below:.0f}%", ci_text(group["action_agreement"], 3),
        ci_text(group["own_agreement"], 3),
    ]  # fmt: skip


def candidates_table(width: dict[str, Any]) -> str:
    """Markdown: every candidate's validation return (% of the teacher's) and held-out agreement (the tie-break),
    the selected ones marked."""
    chosen = {o["label"] for o in width["objectives"]}
    rows = [
        [c["objective"], c["label"], f"{c['val_pct']:.1f}", "-" if c.get("agreement") is None else
         f"{c['agreement']:.3f}", "selected" if c["label"] in chosen else ""]
        for c in width["candidates"]
    ]  # fmt: skip
    head = ["objective", "candidate", "validation return, %", "held-out agreement (ties)", ""]
    return markdown_table(head, rows, align="llrrl")


def versus_scratch(width: dict[str, Any], scratch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``"<objective> - from scratch"`` -> the comparison's JSON form, Holm-corrected over the width's objectives."""
    objectives = [o for o in width["objectives"] if "values" in o["return_pct"]]
    base = np.asarray(scratch["return_pct"]["values"], dtype=np.float64)
    if not objectives or base.size < 2:
        return {}
    compared = [unpaired_difference(np.concatenate(o["return_pct"]["values"]), base) for o in objectives]
    family = holm_family(compared, f"{SCRATCH_FAMILY}, width {width['width']}")
    return {
        f"{o['objective']} - from scratch": comparison_record(c, o["objective"], "from scratch", 1.0, "points")
        for o, c in zip(objectives, family, strict=True)
    }
