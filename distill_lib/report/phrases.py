"""Phrases the real-task sections share: the teacher, the students' family, the return scale, rankings of
objectives, solved runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.config import STUDENT_DROPOUT, TEACHER_DROPOUT

__all__ = [
    "counted",
    "rank_modes",
    "ranking_text",
    "scale_phrase",
    "solved_clause",
    "solved_count",
    "spread_text",
    "students_phrase",
    "students_sentence",
    "teacher_phrase",
    "teacher_shape_phrase",
]

#: the student families in words (``RunConfig.student_kind``; ``networks.build_student``)
STUDENT_FAMILIES = {
    "study": f"the study's students (LayerNorm, dropout {STUDENT_DROPOUT:g})",
    "plain": "plain MLP students (Linear-ReLU, no LayerNorm or dropout)",
}


def counted(n: int, noun: str) -> str:
    """``n`` and the noun in its number: "1 run", "2 runs" (``noun`` singular, plural by an "s")."""
    return f"{n} {noun}{'s' * (n != 1)}"


def teacher_phrase(teacher: dict[str, Any], start: bool = False) -> str:
    """The teacher in prose: "the shipped CartPole teacher", "your LunarLander teacher" ("The"/"Your" at a
    sentence's ``start``)."""
    phrase = f"the shipped {teacher['label']} teacher" if teacher["shipped"] else f"your {teacher['label']} teacher"
    return phrase[0].upper() + phrase[1:] if start else phrase


def students_phrase(kind: str | None) -> str:
    """The students' family from a recorded ``student_kind``: "plain MLP students (Linear-ReLU, no LayerNorm or
    dropout)" or "the study's students (LayerNorm, dropout 0.05)" (a record from before the parameter: the study's)."""
    kind = kind or "study"
    if kind not in STUDENT_FAMILIES:
        raise ValueError(f"student_kind={kind!r}: must be one of {', '.join(STUDENT_FAMILIES)}")
    return STUDENT_FAMILIES[kind]


def students_sentence(kinds: Mapping[str, str | None]) -> str:
    """Which family the students are, from each part's recorded ``student_kind`` (part -> kind, e.g. task ->
    kind): "The students are plain MLP students (...)." where all agree, else each family with its parts."""
    by_family: dict[str, list[str]] = {}
    for part, kind in kinds.items():
        by_family.setdefault(students_phrase(kind), []).append(part)
    if len(by_family) == 1:
        return f"The students are {next(iter(by_family))}."
    said = " and ".join(f"{family} ({', '.join(parts)})" for family, parts in by_family.items())
    return f"The students are {said}."


def teacher_shape_phrase() -> str:
    """The network DQN trains (a teacher's shape, at any width): "the teachers' network (LayerNorm, dropout 0.1)"."""
    return f"the teachers' network (LayerNorm, dropout {TEACHER_DROPOUT:g})"


def scale_phrase(teacher: dict[str, Any]) -> str:
    """What the task's returns mean: the solved bar, the maximum where there is one, and the floor of the %."""
    bar, floor = teacher.get("solved_return"), teacher.get("score_floor", 0.0)
    said = []
    if teacher.get("max_return") is not None:
        said.append(f"{teacher['max_return']:g} is the maximum")
    if bar is not None:
        said.append(f"{bar:g} counts as solved")
    if floor:
        rule = (
            "the random policy's mean on these episodes" if teacher.get("floor_rule") != "fixed" else "the task's floor"
        )
        said.append(f"returns as a % of the teacher's are measured from {floor:.1f} ({rule})")
    return ", ".join(said) if said else "no solved bar is known for this task"


def rank_modes(values: dict[str, float], digits: int) -> list[list[str]]:
    """Modes from highest to lowest value, grouped where equal after rounding to ``digits``.

    ``{"a": 0.91, "b": 0.95, "c": 0.9504}`` with 3 digits -> ``[["b", "c"], ["a"]]``
    (ties keep the input order).
    """
    groups: list[list[str]] = []
    for mode in sorted(values, key=lambda m: -round(values[m], digits)):
        if groups and round(values[groups[-1][0]], digits) == round(values[mode], digits):
            groups[-1].append(mode)
        else:
            groups.append([mode])
    return groups


def ranking_text(groups: list[list[str]], values: dict[str, float], fmt: str) -> str:
    if len(groups) == 1 and len(groups[0]) > 1:
        return f"a tie between all modes ({fmt.format(values[groups[0][0]])})"
    return " > ".join(" = ".join(f"{m} ({fmt.format(values[m])})" for m in group) for group in groups)


def spread_text(pcts: list[float]) -> str:
    lo, hi = min(pcts), max(pcts)
    return f"{lo:.1f}%" if round(lo, 1) == round(hi, 1) else f"{lo:.1f}-{hi:.1f}%"


def solved_count(solved: int, n: int) -> str:
    """ "3 of 5 runs solve", "1 of 2 runs solves", "1 of 1 run solves": the counts as they were."""
    return f"{solved} of {counted(n, 'run')} solve{'s' * (solved == 1)}"


def solved_clause(group: dict[str, Any]) -> str:
    """ "; 3 of 5 runs solve the task", or nothing where the task has no solved bar."""
    return "" if group["solved"] is None else f"; {solved_count(group['solved'], group['n'])} the task"
