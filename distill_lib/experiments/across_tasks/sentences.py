"""Across tasks in words: the verdict, DQN from scratch, the pooled aggregate and Rusu et al.'s range.

No sentence claims an ordering its test does not support: "A above B" comes only from a pair the
cross-task Holm family *and* the interval with the teachers' variation order (``summary``), "DQN
from scratch above" only from its own Holm family of unpaired tests; a difference of means
without such a test is not said to be one.
"""

from __future__ import annotations

from typing import Any

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.phrases import students_sentence
from ...rl.tasks import task
from .summary import power

__all__ = [
    "aggregate_sentence",
    "context_sentences",
    "leaders_sentence",
    "reach_sentence",
    "rusu_sentence",
    "scratch_sentence",
    "verdict",
]


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _head(summary: dict[str, Any]) -> str:
    tasks = [task(t["env_id"]).label for t in summary["tasks"]]
    teachers = sorted({t["teachers"] for t in summary["tasks"]})
    cells, n = summary["leaders"], len(summary["tests"])
    return (
        f"Over {len(tasks)} task{'s' * (len(tasks) != 1)} ({', '.join(tasks)}), {len(cells)} task x width cells and "
        f"{'/'.join(map(str, teachers))} teachers per task (Holm over all {n} pairwise tests of the objectives; a pair "
        "is ordered only when its Holm p is below 0.05 and its interval, which includes the teachers' variation, is "
        "clear of zero):"
    )


def leaders_sentence(summary: dict[str, Any]) -> str:
    """Which objectives lead (none ordered above them) in every cell, or how many cells each leads."""
    cells, objectives = summary["leaders"], summary["objectives"]
    everywhere = [o for o in objectives if cells and all(o in c["leaders"] for c in cells)]
    if everywhere:
        verb = "leads" if len(everywhere) == 1 else "lead"
        return f"{_names(everywhere)} {verb} (no objective ordered above) in every cell."
    counts = ", ".join(f"{o} {sum(o in c['leaders'] for c in cells)} of {len(cells)}" for o in objectives)
    return f"No objective leads in every cell; cells led: {counts}."


def _widths(widths: list[int]) -> str:
    return ", ".join(map(str, widths))


def verdict(summary: dict[str, Any]) -> str:
    """The answer in a few sentences, each from its test."""
    parts = [_head(summary)]
    tested = summary.get("power") or power(summary["tests"])
    if summary["tests"] and not tested["can_reject"]:
        runs = min(t["n"] for t in summary["tests"])
        parts.append(
            f"these runs cannot order the objectives across tasks: with {runs} runs the exact sign-flip test's "
            f"smallest p-value is {tested['smallest_p']:.2g}, and Holm over {len(summary['tests'])} tests needs one "
            f"below {tested['needed']:.2g}. The table's means and intervals still show where the objectives stand."
        )
        return " ".join(parts + context_sentences(summary))
    if summary["reversals"]:
        said = "; ".join(
            f"{r['a']} above {r['b']} on {task(r['a_above_on']).label} but below it on {task(r['b_above_on']).label}"
            for r in summary["reversals"]
        )
        parts.append(f"the ranking does not hold across tasks: {said}.")
    else:
        parts.append("no pair of objectives is ordered one way on one task and the other way on another.")
    if changes := summary.get("width_changes"):
        said = "; ".join(
            f"{c['b']} above {c['a']} at {task(c['task']).label} width {_widths(c['b_above_at'])}, below it at "
            f"width {_widths(c['a_above_at'])}"
            for c in changes
        )
        parts.append(f"Within a task the order can change with the student's width: {said}.")
    parts.append(leaders_sentence(summary))
    return " ".join(parts + context_sentences(summary))


def scratch_sentence(summary: dict[str, Any]) -> str:
    """Where DQN from scratch is detectably above or below the objectives (its own Holm family), else nothing claimed.

    Three kinds of cell: DQN from scratch detectably above every objective; at least one objective
    detectably above it; DQN from scratch detectably above some objectives only (named, grouped by
    task and the objectives beaten). Self-distillation widths (a student of the teacher's size) are
    left out: there the small network the question is about does not exist.
    """
    tests = [t for t in summary["scratch_tests"] if t["params_pct"] < 99.95]
    if not tests:
        return ""
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for t in tests:
        cells.setdefault((t["task"], t["width"]), []).append(t)
    above_all = [k for k, ts in cells.items() if all(t["sign"] < 0 for t in ts)]
    below_best = [k for k, ts in cells.items() if any(t["sign"] > 0 for t in ts)]
    # cells where it beats some objectives, not all: (task, the objectives beaten, the others) -> widths
    some: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for (env_id, width), ts in cells.items():
        beaten = tuple(t["objective"] for t in ts if t["sign"] < 0)
        if beaten and (env_id, width) not in above_all:
            others = tuple(t["objective"] for t in ts if t["sign"] >= 0)
            some.setdefault((env_id, beaten, others), []).append(width)
    steps = {t["task"]: t["env_steps"] for t in tests}

    def where(keys: list[tuple[str, int]]) -> str:
        return "; ".join(f"{task(e).label} width {w}" for e, w in keys)

    def beaten_at(env_id: str, beaten: tuple[str, ...], others: tuple[str, ...], widths: list[int]) -> str:
        said = f"every objective but {_names(list(others))}" if len(beaten) > len(others) else _names(list(beaten))
        return f"{task(env_id).label} width {_widths(widths)} ({said})"

    parts = [
        f"Against DQN from scratch with the teacher's recipe ({', '.join(f'{task(e).label} {s:,}' for e, s in steps.items())} "
        f"environment steps; unpaired permutation tests, Holm over all {len(tests)})"
    ]
    if above_all:
        parts.append(f"DQN from scratch is detectably above every objective at {where(above_all)}")
    if below_best:
        parts.append(f"at least one objective is detectably above it at {where(below_best)}")
    if some:
        parts.append(
            "it is detectably above some objectives at " + "; ".join(beaten_at(*k, w) for k, w in some.items())
        )
    said = set(above_all) | set(below_best) | {(e, w) for (e, _, _), ws in some.items() for w in ws}
    if not said:
        parts.append("no objective differs detectably from it anywhere")
    elif len(said) < len(cells):
        parts.append("elsewhere no difference from it is detectable")
    return parts[0] + ": " + "; ".join(parts[1:]) + "."


def _first_reach(curves: list[dict[str, Any]], target: float) -> tuple[int, str] | None:
    """The smallest budget at which a curve's mean reaches ``target``, and its objective (None: none does)."""
    hits = [
        (hit, curve["objective"])
        for curve in curves
        if (hit := next((p["budget"] for p in curve["points"] if p["return_pct"]["mean"] >= target), None)) is not None
    ]
    return min(hits) if hits else None


def reach_sentence(summary: dict[str, Any]) -> str:
    """Per task: the environment steps the best objective needs to reach, on average, what DQN from scratch reaches
    with its whole budget (from the data budgets at their widths); DAgger's too, where it gets there sooner or
    only it does."""
    said = []
    for t in summary["tasks"]:
        for width in t["budgets"]:
            if not width["scratch"] or not width["curves"]:
                continue
            full = max(width["scratch"], key=lambda p: p["budget"])
            target = full["return_pct"]["mean"]
            own = _first_reach(width["curves"], target)
            what = (
                f"{own[1]} at {own[0]:,}" if own else "no objective on the teacher's states within the budgets measured"
            )
            dagger = _first_reach(width.get("dagger_curves") or [], target)
            if dagger and (own is None or dagger[0] < own[0]):
                what += f", {dagger[1]} with DAgger at {dagger[0]:,}"
            said.append(
                f"{task(t['env_id']).label} width {width['width']} ({target:.0f}% at {full['budget']:,}): {what}"
            )
    if not said:
        return ""
    return (
        "The environment steps distillation needs, on average, to reach what DQN from scratch reaches with its whole "
        "budget (the teacher's own training not counted): " + "; ".join(said) + "."
    )


def aggregate_sentence(summary: dict[str, Any]) -> str:
    """The pooled aggregate: each objective's IQM, mean and share of runs below half the teacher's return."""
    agg = summary["aggregate"]
    if not agg:
        return ""
    est, below = agg["estimates"], agg["below_half"]
    ranked = sorted(est, key=lambda o: -est[o]["iqm"]["mean"])
    each = "; ".join(
        f"{o} IQM {100 * est[o]['iqm']['mean']:.1f}% [{100 * est[o]['iqm']['low']:.1f}, {100 * est[o]['iqm']['high']:.1f}], "
        f"mean {100 * est[o]['mean']['mean']:.1f}% [{100 * est[o]['mean']['low']:.1f}, {100 * est[o]['mean']['high']:.1f}], "
        f"{100 * below[o]:.0f}% of runs below half"
        for o in ranked
    )
    return (
        f"Pooled over {agg['runs']} runs x {agg['columns']} task-width columns (stratified bootstrap; the IQM drops the "
        f"best and worst quarter of runs, so the mean and the failures are beside it): {each}."
    )


def rusu_sentence(summary: dict[str, Any]) -> str:
    """Rusu et al.'s compression range against the best *distilled* objective (never the baseline)."""
    if not summary["rusu"]:
        return ""
    within = sum(r["where"] == "within" for r in summary["rusu"])
    return (
        f"Rusu et al. (2016) report distilled students at {RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of the "
        f"teacher's score with {RUSU_PARAMS_PCT[0]:g}-{RUSU_PARAMS_PCT[1]:g}% of its parameters (Atari); here the best "
        f"distilled objective's mean is within that range in {within} of {len(summary['rusu'])} such task x width cells."
    )


def context_sentences(summary: dict[str, Any]) -> list[str]:
    """The students' family, DQN from scratch, the data budgets, the pooled aggregate, Rusu's claim, and what a few
    tasks cannot show."""
    kinds = {task(t["env_id"]).label: t.get("student_kind") for t in summary["tasks"]}
    parts = [
        students_sentence(kinds),
        scratch_sentence(summary),
        reach_sentence(summary),
        aggregate_sentence(summary),
        rusu_sentence(summary),
    ]
    n = len(summary["tasks"])
    count = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))
    parts.append(
        f"These are {count} small gymnasium task{'s' * (n != 1)}, each distilled from a few teachers trained by one "
        "recipe: they can show a ranking that changes with the task, not that one holds on every task or every kind "
        "of teacher."
    )
    return [p for p in parts if p]
