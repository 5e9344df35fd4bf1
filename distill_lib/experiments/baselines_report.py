"""The baselines' summary (``results.json``'s ``baselines``) and their report section.

Each group (the independent teachers; the from-scratch students of one width) becomes its
return as a % of the teacher's and its two agreements with the teacher, each with a 95%
t-interval over its runs and the per-run values (the fair comparison's decision table tests
the distilled students against them, ``fair_tables``), and how many runs solve the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..records.record import Record
from ..report.stats import mean_ci
from ..report.tables import ci_text, markdown_table
from ..rl.tasks import DEFAULT_ENV_ID, task
from .base import Section
from .task_text import solved_clause

if TYPE_CHECKING:
    from .baselines import BaselineRecord

__all__ = [
    "BaselinesSummary",
    "group_row",
    "runs_table",
    "section",
    "summarize_record",
    "summarize_records",
]


@dataclass(frozen=True)
class BaselinesSummary(Record):
    """The independent teachers (or None) and the from-scratch students per width (widest first)."""

    teachers: dict[str, Any] | None
    scratch: list[dict[str, Any]]
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"baselines": {"teachers": self.teachers, "scratch": self.scratch, "missing": self.missing}}


def _ci(values: list[float]) -> dict[str, Any]:
    if len(values) < 2:  # one run: no interval
        return {"mean": float(values[0]), "low": None, "high": None, "n": len(values), "method": "one run"}
    return dict(mean_ci(values).__dict__)


def summarize_record(record: BaselineRecord) -> dict[str, Any]:
    """One group: its runs' return % and agreements (t-intervals and values), and how many solve the task."""
    runs = sorted(record.runs, key=lambda r: r.seed)
    solved = record.teacher["solved_return"]
    returns = [r.return_pct for r in runs]
    agreement = [r.held_out["action_agreement"] for r in runs]
    own = [r.own_agreement for r in runs]
    return {
        "baseline": record.baseline,
        "width": record.width,
        "params": record.params_count,
        "params_pct": record.params_pct,
        "seeds": [r.seed for r in runs],
        "n": len(runs),
        "env_steps": record.recipe["total_steps"],
        "teacher_steps": record.recipe["teacher_steps"],
        "solved": None if solved is None else sum(r.return_mean >= solved for r in runs),
        "env_id": record.teacher.get("env_id", DEFAULT_ENV_ID),
        "solved_return": solved,
        "return_pct": _ci(returns) | {"values": returns},
        "action_agreement": _ci(agreement) | {"values": agreement},
        "own_agreement": _ci(own) | {"values": own},
    }


def summarize_records(records: dict[str, BaselineRecord], missing: list[str]) -> BaselinesSummary:
    teachers = records.get("teachers")
    scratch = sorted((r for u, r in records.items() if u != "teachers"), key=lambda r: -r.width)
    return BaselinesSummary(
        summarize_record(teachers) if teachers else None, [summarize_record(r) for r in scratch], missing
    )


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
            "episodes), with only the width and the seed changed. "
            + " ".join(scratch_sentence(g) for g in summary.scratch)
        )
    lines.append("")
    lines.append(
        "Return: greedy, on the same test episodes as the students, as a % of the teacher's. Agreement: the share of "
        "states where the network picks the teacher's action, on the teacher's held-out states and on every state the "
        "network visits in its own test episodes. Intervals: 95% t-intervals over runs (with 3 runs, wide)."
    )
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    verdict = " ".join(
        [teachers_sentence(summary.teachers).split(". ")[0] + "." if summary.teachers else ""]
        + [scratch_sentence(g) for g in summary.scratch]
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
