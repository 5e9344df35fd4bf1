"""The baselines as the report shows them: the table of groups and the sentences written from it.

From scratch at matched budgets: a table of the test return per budget (rows) and width
(columns), and per width one sentence saying at which budget the runs' mean test return first
reaches the task's bar (the solved threshold the teacher had to reach), or that no budget does.
"""

from __future__ import annotations

from typing import Any

from ...report.phrases import counted, solved_clause, solved_count, teacher_shape_phrase
from ...report.tables import ci_text, markdown_table
from ...rl.tasks import task
from ..base import Section
from .step import BaselineRecord
from .summary import BaselinesSummary

__all__ = [
    "HEADER",
    "bar_sentence",
    "budget_table",
    "first_at_bar",
    "group_row",
    "interval_note",
    "runs_budget_table",
    "runs_table",
    "scratch_sentence",
    "section",
    "teachers_sentence",
]


def _seeds(seeds: list[int]) -> str:
    contiguous = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if contiguous and len(seeds) > 2 else ", ".join(map(str, seeds))


def group_row(group: dict[str, Any], name: str) -> list[str]:
    """A table row: name, n, return % and the two agreements with their intervals, runs that solve the task."""
    return [
        name,
        str(group["n"]),
        ci_text(group["return_pct"], 1),
        "no bar" if group["solved"] is None else f"{group['solved']} of {group['n']}",
        ci_text(group["action_agreement"], 3),
        ci_text(group["own_agreement"], 3),
    ]


HEADER = [
    "networks",
    "runs",
    "test return, % [95% CI]",
    "solve the task",
    "agreement, teacher's states [95% CI]",
    "agreement, own states [95% CI]",
]


def teachers_sentence(teachers: dict[str, Any]) -> str:
    """How much two policies that both solve the task agree, conditioned on whether they all solve it."""
    agree, own = teachers["action_agreement"], teachers["own_agreement"]
    low, high = min(agree["values"]), max(agree["values"])
    n, solved = teachers["n"], teachers["solved"]
    who = (
        f"All {n} independent teachers solve the task"
        if solved == n
        else f"{solved} of {n} independent teachers solve the task on these test episodes"
        if solved is not None
        else f"The {n} independent teachers (the task has no solved bar)"
    )
    text = (
        f"{who} (mean return {teachers['return_pct']['mean']:.1f}% of the teacher's) and choose the teacher's action "
        f"on {100 * agree['mean']:.1f}% of its held-out states (per teacher {100 * low:.1f}-{100 * high:.1f}%) and on "
        f"{100 * own['mean']:.1f}% of the states they reach themselves."
    )
    if solved == n:
        text += (
            f" Two policies that both solve {task(teachers['env_id']).label} thus differ on about {100 * (1 - agree['mean']):.0f}% of the "
            "teacher's states: a student below full agreement is not for that reason a worse policy, and a student "
            f"that agrees on {100 * low:.0f}% or more agrees as much as an equally good policy does."
        )
    return text


def scratch_sentence(group: dict[str, Any]) -> str:
    """One width's from-scratch result, with the budget and how many runs solve the task."""
    ret = group["return_pct"]
    spread = f"per run {min(ret['values']):.1f}-{max(ret['values']):.1f}%"
    return (
        f"Width {group['width']} ({group['params_pct']:.0f}% of the teacher's parameters) from scratch: "
        f"{ret['mean']:.1f}% of the teacher's return ({spread}){solved_clause(group)}."
    )


def budget_table(groups: list[dict[str, Any]]) -> str:
    """Markdown: per budget, the env and gradient steps a run had spent, and per width the test return as a % of
    the teacher's [95% CI over runs] with how many runs solve the task there."""
    steps = sorted({b["steps"] for g in groups for b in g["budgets"]})
    rows = []
    for budget in steps:
        at = [next((b for b in g["budgets"] if b["steps"] == budget), None) for g in groups]
        first = next(b for b in at if b is not None)
        cells = [
            "-" if b is None else ci_text(b["return_pct"], 1) + ("" if b["solved"] is None else f"; {b['solved']} of {b['n']} solve")
            for b in at
        ]  # fmt: skip
        rows.append([f"{first['env_steps']:,}", f"{first['gradient_steps']:,}", *cells])
    header = ["env steps per run", "gradient steps per run"]
    header += [f"width {g['width']}: test return, % [95% CI]" for g in groups]
    return markdown_table(header, rows, align="r" * len(header))


def first_at_bar(group: dict[str, Any]) -> dict[str, Any] | None:
    """The smallest budget at which the runs' mean test return reaches the task's bar (None: none does, or no bar)."""
    bar = group["solved_return"]
    return None if bar is None else next((b for b in group["budgets"] if b["return"]["mean"] >= bar), None)


def bar_sentence(group: dict[str, Any]) -> str:
    """At which budget one width's DQN from scratch first reaches the bar (mean test return), or that it does not."""
    budgets, bar = group["budgets"], group["solved_return"]
    if not budgets:
        return ""
    last = budgets[-1]
    if bar is None:
        return (
            f"Width {group['width']} from scratch: {task(group['env_id']).label} has no solved bar to reach (at "
            f"{last['env_steps']:,} env steps, {last['return_pct']['mean']:.1f}% of the teacher's return)."
        )
    who = f"Width {group['width']} from scratch: the mean test return of its {counted(group['n'], 'run')}"
    first = first_at_bar(group)
    if first is None:
        return (
            f"{who} stays below the bar ({bar:g}) at every budget up to {last['env_steps']:,} env steps (there: "
            f"{last['return']['mean']:.1f}, {last['return_pct']['mean']:.1f}% of the teacher's return; "
            f"{solved_count(last['solved'], last['n'])} the task)."
        )
    smallest = " (the smallest budget measured)" if first is budgets[0] else ""
    below = [b for b in budgets if b["steps"] > first["steps"] and b["return"]["mean"] < bar]
    again = f", and falls below it again at {below[0]['env_steps']:,}" if below else ""
    return (
        f"{who} first reaches the bar ({bar:g}) at {first['env_steps']:,} env steps{smallest} "
        f"({first['gradient_steps']:,} gradient steps; {solved_count(first['solved'], first['n'])} the task "
        f"there){again}."
    )


def interval_note(summary: BaselinesSummary) -> str:
    """How the groups' intervals were made, and a warning where a group has few runs (the counts said are the
    groups' own: "with 2 runs each", or "2 to 3 runs per group" where they differ)."""
    groups = ([summary.teachers] if summary.teachers else []) + summary.scratch
    fewest, most = min(g["n"] for g in groups), max(g["n"] for g in groups)
    if fewest < 2:
        return "Intervals: 95% t-intervals over runs (a group of one run has none)."
    if fewest > 5:
        return "Intervals: 95% t-intervals over runs."
    each = " each" if len(groups) > 1 else ""
    counts = f"with {fewest} runs{each}" if fewest == most else f"{fewest} to {most} runs per group"
    return f"Intervals: 95% t-intervals over runs ({counts}: wide)."


def section(summary: BaselinesSummary, others: dict[str, Any] | None = None) -> Section:
    """The table of baseline groups and its sentences."""
    rows, lines = [], []
    if summary.teachers:
        t = summary.teachers
        rows.append(group_row(t, f"independent teachers (width {t['width']}, seeds {_seeds(t['seeds'])})"))
    for group in summary.scratch:
        rows.append(group_row(group, f"DQN from scratch, width {group['width']} (seeds {_seeds(group['seeds'])})"))
    if not rows:
        return Section("Baselines: DQN from scratch and independent teachers", "Not finished.", "")
    lines.append(markdown_table(HEADER, rows, align="lrrrrr"))
    if summary.teachers:
        lines.append(teachers_sentence(summary.teachers))
    if summary.scratch:
        first = summary.scratch[0]
        budget, teacher = first["env_steps"], first["teacher_steps"]
        same = (
            f"and budget ({budget:,} environment steps"
            if budget == teacher
            else f"but a budget of {budget:,} environment steps, not the teacher's {teacher:,} (a reduced run: these "
            "numbers do not say how DQN does with the teacher's budget"
        )
        lines.append("")
        lines.append(
            f"DQN from scratch uses the teacher's own recipe {same}; each run keeps its best checkpoint on the selection "
            f"episodes), with only the width and the seed changed: its networks are {teacher_shape_phrase()} at each "
            "width, whichever family the distilled students are. "
            + " ".join(scratch_sentence(g) for g in summary.scratch)
        )
    if any(g["budgets"] for g in summary.scratch):
        lines += [
            "",
            "At matched budgets. Each from-scratch run is also read at smaller budgets of env steps: the checkpoint "
            "it would have kept had it stopped there (the best on the selection episodes up to that budget, the rule "
            "every side of the comparison uses), tested on the same test episodes. A budget is a point on the run's "
            "learning curve: its exploration follows the full run's schedule, not that of a run planned for the "
            "budget.",
            "",
            budget_table(summary.scratch),
            " ".join(bar_sentence(g) for g in summary.scratch if g["budgets"]),
        ]
    lines.append("")
    lines.append(
        "Return: greedy, on the same test episodes as the students, as a % of the teacher's. Agreement: the share of "
        "states where the network picks the teacher's action, on the teacher's held-out states and on every state the "
        f"network visits in its own test episodes. {interval_note(summary)}"
    )
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    verdict = " ".join(
        [teachers_sentence(summary.teachers).split(". ")[0] + "." if summary.teachers else ""]
        + [scratch_sentence(g) for g in summary.scratch]
        + [bar_sentence(g) for g in summary.scratch if g["budgets"]]
    ).strip()
    return Section("Baselines: DQN from scratch and independent teachers", "\n".join(lines), verdict)


def runs_table(record: BaselineRecord) -> str:
    """Markdown: every run of one step (seed, return, agreements, the checkpoint training kept)."""
    rows = [
        [
            str(r.seed),
            f"{r.return_mean:.1f}",
            f"{r.return_pct:.1f}",
            "-"
            if record.teacher["solved_return"] is None
            else "yes"
            if r.return_mean >= record.teacher["solved_return"]
            else "no",
            f"{r.held_out['action_agreement']:.3f}",
            f"{r.own_agreement:.3f}",
            str(r.training["best_step"]),
        ]
        for r in sorted(record.runs, key=lambda r: r.seed)
    ]
    header = ["seed", "test return", "% of teacher", "solves", "agreement, teacher's states", "agreement, own states"]
    return markdown_table([*header, "kept checkpoint (env step)"], rows, align="rrrlrrr")


def runs_budget_table(record: BaselineRecord) -> str:
    """Markdown: every from-scratch run's test return at each budget, with the env step of the checkpoint kept."""
    runs = sorted(record.runs, key=lambda r: r.seed)
    if not runs or not runs[0].budgets:
        return ""
    header = ["seed"] + [f"{b.env_steps:,} env steps: return (kept step)" for b in runs[0].budgets]
    rows = [[str(r.seed)] + [f"{b.return_mean:.1f} ({b.best_step:,})" for b in r.budgets] for r in runs]
    return markdown_table(header, rows, align="r" * len(header))
