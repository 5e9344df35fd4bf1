"""The data budgets' sentences, each from the numbers by a small function of its own.

Distillation against DQN from scratch is read at matched environment steps: the smallest budget at
which each objective's mean reaches what DQN from scratch reaches with its whole budget, and, at
each budget both measured, an unpaired test of every objective against it, all of them (objectives
x budgets) one Holm family: picking the best objective at a budget after seeing the means is part
of what the correction must cover. DAgger against teacher-driven states is paired (the same teacher and seed), one test per
objective and budget, Holm over them; a claim needs the Holm p below 0.05 and the interval that
includes the teachers' variation clear of zero.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

from ...report.hierarchical import hierarchical_difference
from ...report.phrases import counted
from ...report.stats import MeanCI, comparison_record, difference_phrase, holm_family, paired_difference
from ...report.unpaired import unpaired_difference

__all__ = ["curve_sentence", "dagger_sentence", "matched_sentence", "reach_sentence", "scratch_curve"]


def scratch_curve(baselines: Any, width: int) -> list[dict[str, Any]] | None:
    """DQN from scratch at ``width``: one point per budget ``{"budget", "return_pct", ...}`` (or None)."""
    if baselines is None:
        return None
    group = next((g for g in baselines.scratch if g["width"] == width), None)
    if group is None:
        return None
    points = group.get("budgets") or [{"budget": group["env_steps"], **group}]
    return [{**pt, "budget": pt.get("budget", pt.get("steps"))} for pt in points]


def _curve(width: dict[str, Any], objective: str, source: str = "teacher") -> list[dict[str, Any]]:
    return next((c["points"] for c in width["curves"] if (c["objective"], c["source"]) == (objective, source)), [])


def _objectives(width: dict[str, Any], source: str = "teacher") -> list[str]:
    return [c["objective"] for c in width["curves"] if c["source"] == source]


def curve_sentence(width: dict[str, Any]) -> str:
    """Each objective's mean return at the smallest and the largest budget (teacher-driven states)."""
    lo, hi = width["budgets"][0], width["budgets"][-1]
    said = []
    for objective in _objectives(width):
        pts = {p["budget"]: p["return_pct"]["mean"] for p in _curve(width, objective)}
        said.append(f"{objective} {pts[lo]:.0f}% -> {pts[hi]:.0f}%")
    return (
        f"At width {width['width']}, from {lo:,} to {hi:,} environment steps of the teacher's own states (means over "
        f"{width['n_teachers']} teachers x {width['n_seeds']} seeds, % of each teacher's return): {'; '.join(said)}."
    )


def reach_sentence(width: dict[str, Any], scratch: list[dict[str, Any]] | None) -> str:
    """How many environment steps each objective needs to reach, on average, what DQN from scratch reaches with
    its whole budget (the smallest budget measured whose mean is at least as high), or that none does."""
    if not scratch:
        return ""
    full = max(scratch, key=lambda p: p["budget"])
    target = full["return_pct"]["mean"]
    said = []
    for objective in _objectives(width):
        hit = next((p["budget"] for p in _curve(width, objective) if p["return_pct"]["mean"] >= target), None)
        said.append(
            f"{objective} {'not within ' + format(width['budgets'][-1], ',') if hit is None else format(hit, ',')}"
        )
    return (
        f"DQN from scratch reaches {target:.1f}% of the teacher's return with its {full['budget']:,} environment "
        f"steps; the environment steps each objective needs for as much on average (the smallest budget measured): "
        f"{'; '.join(said)}. The teachers' own training steps are not counted: a distilled student needs a teacher."
    )


def _budgets_phrase(budgets: list[int]) -> str:
    said = [f"{b:,}" for b in budgets]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


def matched_sentence(width: dict[str, Any], scratch: list[dict[str, Any]] | None) -> str:
    """At every budget both measured: every objective's runs against DQN from scratch's (unpaired), one Holm family
    over objectives x budgets; per budget the objectives detectably above it (the largest difference in numbers),
    then those below it, then the budgets where nothing is detectable."""
    if not scratch:
        return ""
    at = {p["budget"]: p for p in scratch}
    common = [b for b in width["budgets"] if b in at and "values" in at[b]["return_pct"]]
    objectives = _objectives(width)
    if not common or not objectives:
        return ""
    cells, tests = list(product(common, objectives)), []
    for b, objective in cells:
        point = next(p for p in _curve(width, objective) if p["budget"] == b)
        distilled = [v for g in point["return_pct"]["values"] for v in g]
        tests.append(unpaired_difference(distilled, at[b]["return_pct"]["values"]))
    family = holm_family(
        tests, f"every objective vs DQN from scratch at matched environment steps, width {width['width']}"
    )
    entries = {
        cell: comparison_record(c, cell[1], "from scratch", 1.0, " points")
        for cell, c in zip(cells, family, strict=True)
    }
    found = {cell: e for cell, e in entries.items() if not e["verdict"].startswith("no detectable")}
    parts, quiet = [], []
    for b in common:
        above = [(o, found[b, o]) for o in objectives if (b, o) in found and found[b, o]["difference"]["mean"] > 0]
        if above:
            top, entry = max(above, key=lambda item: item[1]["difference"]["mean"])
            if len(above) == 1:
                phrase = difference_phrase(f"{top} - from scratch", entry, 1.0, " points", 3)
            else:
                d = entry["difference"]
                phrase = (
                    f"{len(above)} of {len(objectives)} objectives higher than from scratch, {top} the most, by "
                    f"{d['mean']:.3g} points (95% CI [{d['low']:.3g}, {d['high']:.3g}], {entry['p_text']})"
                )
            parts.append(f"at {b:,} steps {phrase}")
        elif not any(cell[0] == b for cell in found):
            quiet.append(b)
    below = {o: [b for b in common if (b, o) in found and found[b, o]["difference"]["mean"] < 0] for o in objectives}
    below_said = [f"{o} at {_budgets_phrase(bs)} steps" for o, bs in below.items() if bs]
    if below_said:
        parts.append(f"from scratch higher than {'; '.join(below_said)}")
    if quiet:
        parts.append(f"no detectable difference at {_budgets_phrase(quiet)} steps")
    head = (
        f"At matched environment steps (unpaired permutation tests of each of {len(objectives)} objectives against "
        f"DQN from scratch at {counted(len(common), 'budget')}, Holm over the {len(family)})"
    )
    return f"{head}: {'; '.join(parts)}."


def dagger_sentence(width: dict[str, Any]) -> str:
    """DAgger against the teacher's own states at the same number of labelled states, per objective and budget."""
    pairs = [(o, b) for o, b in product(_objectives(width, "dagger"), width["budgets"])]
    if not pairs:
        return ""
    tests, hier = [], []
    for o, b in pairs:
        d = next(p for p in _curve(width, o, "dagger") if p["budget"] == b)["return_pct"]["values"]
        t = next(p for p in _curve(width, o) if p["budget"] == b)["return_pct"]["values"]
        tests.append(paired_difference([v for g in d for v in g], [v for g in t for v in g]))
        hier.append(hierarchical_difference(d, t))
    family = holm_family(tests, f"DAgger vs teacher-driven states at equal size, width {width['width']}")
    found, none = [], []
    for (o, b), c, h in zip(pairs, family, hier, strict=True):
        entry = comparison_record(replace(c, difference=MeanCI(h.mean, h.low, h.high, h.confidence, h.n_runs, "two-stage")),
                                  "DAgger", "teacher's states", 1.0, " points")  # fmt: skip
        if entry["verdict"].startswith("no detectable"):
            none.append(f"{o} at {b:,}")
        else:
            found.append(
                f"{o} at {b:,} steps: {difference_phrase('DAgger - teacher states', entry, 1.0, ' points', 3)}"
            )
    head = f"DAgger ({counted(width['dagger']['rounds'], 'round')}, beta {width['dagger']['beta']:g}) against the teacher's own states at equal size (paired, Holm over {len(family)})"
    said = "; ".join(found) if found else "no detectable difference"
    return f"{head}: {said}{'' if not found or not none else '; none elsewhere'}."
