"""Finished studies read back: which output folders ``distill-study tasks`` may summarise together.

The cross-task summary (``experiments.across_tasks``) reads each study's ``results.json``.
Before it does, ``validate_task_studies`` checks every folder it is given and refuses the
first problem in one line that names the file and what is missing (``ParamError``, exit 2):

- the folder and its ``results.json`` exist, and that file is a whole JSON object;
- the study is complete: its ``work/study.json`` (where there is one: the committed results
  of a study carry only ``results.json``) says ``complete``, and ``results.json`` lists no
  missing steps;
- what the summary reads is there, with the right types: the fair comparison's widths, each
  with its teachers, objectives (runs per teacher), pairwise tests and seed count; DQN from scratch where it ran;
- one study per task: no folder twice, no two studies of the same ``env_id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.schema import ParamError
from .state import read_state

__all__ = ["validate_task_studies"]

#: an interval as the reports store it (``report.stats.MeanCI`` as JSON)
_CI = {"mean": float, "low": (float, None), "high": (float, None)}
#: what the cross-task summary reads of one width of the fair comparison (runs per teacher: lists of values)
_OBJECTIVE = {"objective": str, "label": str, "candidates": int, "return_pct": {**_CI, "values": [[float]]},
              "action_agreement": _CI, "own_agreement": _CI}  # fmt: skip
_PAIR = {"difference": {"mean": float, "low": float, "high": float}, "p_value": float, "n": int}
_WIDTH = {"width": int, "params_pct": float, "n_seeds": int, "env_id": str, "objectives": [_OBJECTIVE],
          "pairs": {str: _PAIR}}  # fmt: skip
_FIRST_WIDTH = {"teachers": [{"test_return": float}]}
_SCRATCH = {"width": int, "return_pct": _CI, "action_agreement": _CI, "own_agreement": (_CI, None)}


def _kind(spec: Any) -> str:
    if isinstance(spec, tuple):
        return " or ".join(_kind(s) for s in spec)
    if isinstance(spec, list):
        return "a list"
    if isinstance(spec, dict):
        return "an object"
    return {float: "a number", int: "an integer", str: "a string", None: "null"}[spec]


def _problem(value: Any, spec: Any, where: str) -> str:
    """What is wrong with ``value`` at ``where`` under ``spec`` ('' if nothing).

    ``spec``: a type, None, a tuple of alternatives, ``[item]`` (a list of items), ``{str: v}``
    (an object of any keys with values ``v``) or ``{key: spec}`` (an object with those keys).
    """
    if isinstance(spec, tuple):
        problems = [_problem(value, s, where) for s in spec]
        return "" if "" in problems else problems[0]
    if spec is None:
        return "" if value is None else f"{where} is {_short(value)}, not null"
    if spec is float or spec is int:
        ok = isinstance(value, (int, float) if spec is float else int) and not isinstance(value, bool)
        return "" if ok else f"{where} is {_short(value)}, not {_kind(spec)}"
    if spec is str:
        return "" if isinstance(value, str) else f"{where} is {_short(value)}, not a string"
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} is {_short(value)}, not a list"
        return next((p for i, v in enumerate(value) if (p := _problem(v, spec[0], f"{where}[{i}]"))), "")
    if not isinstance(value, dict):
        return f"{where} is {_short(value)}, not an object"
    if str in spec:
        return next((p for k, v in value.items() if (p := _problem(v, spec[str], f"{where}[{k!r}]"))), "")
    for key, sub in spec.items():
        if key not in value:
            if isinstance(sub, tuple) and None in sub:
                continue  # may be left out
            return f"{where}.{key} is missing"
        if problem := _problem(value[key], sub, f"{where}.{key}"):
            return problem
    return ""


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read(folder: Path) -> dict[str, Any]:
    """One study's ``results.json``, checked (module docstring)."""
    path = folder / "results.json"
    if not path.is_file():
        raise ParamError(f"{path}: no results.json; run the study first (distill-study run ... -o {folder})")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ParamError(f"{path}: cannot be read as JSON ({why}); run the study again to rewrite it") from None
    if not isinstance(results, dict):
        raise ParamError(f"{path}: holds {_short(results)}, not a study's results (a JSON object)")
    state_path = folder / "work" / "study.json"
    if state_path.exists():
        state = read_state(folder / "work")
        if state is None:
            raise ParamError(f"{state_path}: cannot be read; run the study again to finish it")
        if state.state != "complete":
            raise ParamError(f"{state_path}: the study is {state.state!r}, not complete; run it again to finish it")
    missing = results.get("missing_steps")
    if missing:
        shown = ", ".join(map(str, missing[:3])) + (", ..." if len(missing) > 3 else "")
        raise ParamError(f"{path}: the study did not finish (missing steps: {shown}); run it again to finish it")
    fair = results.get("fair")
    if not isinstance(fair, dict) or not fair.get("widths"):
        raise ParamError(f"{path}: has no fair comparison (give fair_widths) to compare across tasks")
    problem = (
        _problem(fair["widths"], [_WIDTH], "fair.widths")
        or _problem(fair["widths"][0], _FIRST_WIDTH, "fair.widths[0]")
        or _problem((results.get("baselines") or {}).get("scratch") or [], [_SCRATCH], "baselines.scratch")
        or _problem(results.get("provenance"), {"commit": (str, None)}, "provenance")
    )
    if problem:
        raise ParamError(f"{path}: {problem}; not the results of a finished study with the fair comparison")
    return results


def validate_task_studies(folders: Sequence[str | os.PathLike[str]]) -> dict[str, dict[str, Any]]:
    """``{folder: results.json}`` of studies of distinct tasks, each complete (module docstring).

    Raises ``ParamError`` with one line naming the file and what is missing or wrong.
    """
    out: dict[str, dict[str, Any]] = {}
    seen: dict[Path, str] = {}
    tasks: dict[str, str] = {}
    for given in folders:
        folder = Path(given)
        if folder.resolve() in seen:
            raise ParamError(f"{folder}: given twice (as {seen[folder.resolve()]}); give each task's study once")
        seen[folder.resolve()] = str(folder)
        results = _read(folder)
        env_id = results["fair"]["widths"][0]["env_id"]
        if env_id in tasks:
            raise ParamError(f"{folder} and {tasks[env_id]} are both studies of {env_id}: give one study per task")
        tasks[env_id] = str(folder)
        out[str(given)] = results
    return out
