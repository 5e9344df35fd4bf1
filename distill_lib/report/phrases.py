"""Phrases the real-task sections share: the teacher, the return scale, rankings of objectives, solved runs."""

from __future__ import annotations

from typing import Any

__all__ = ["rank_modes", "ranking_text", "scale_phrase", "solved_clause", "spread_text", "teacher_phrase"]


def teacher_phrase(teacher: dict[str, Any], start: bool = False) -> str:
    """The teacher in prose: "the shipped CartPole teacher", "your LunarLander teacher" ("The"/"Your" at a
    sentence's ``start``)."""
    phrase = f"the shipped {teacher['label']} teacher" if teacher["shipped"] else f"your {teacher['label']} teacher"
    return phrase[0].upper() + phrase[1:] if start else phrase


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


def solved_clause(group: dict[str, Any]) -> str:
    """ "; 3 of 5 runs solve the task", or nothing where the task has no solved bar."""
    return "" if group["solved"] is None else f"; {group['solved']} of {group['n']} runs solve the task"
