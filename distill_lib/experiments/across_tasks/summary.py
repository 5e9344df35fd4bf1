"""Across tasks, summarised: the task x width x objective table, one Holm family over every task, the aggregate.

One study per task (``distill-study run -p env_id ...``, each with the fair comparison and its
baselines) answers for that task; this module reads their ``results.json`` files and asks
whether the answer is a property of distillation or of the task (Rusu et al. 2016 ran ten
Atari games for the same reason).

The table: task x width x objective, each objective at the settings the fair comparison
selected for that task and width (``experiments.fair``): test return as a % of the teacher's
(from the task's floor) with its 95% t-interval over seeds, agreement with the teacher on its
held-out states and on the student's own states, and beside it DQN from scratch at the width.

The verdict. Every pairwise test of the selected objectives (exact sign-flip tests by seed,
as stored by each study) enters one family: all pairs x widths x tasks, Holm-corrected
together (a study corrects only within a width). An objective *leads* a (task, width) cell if
no other is detectably above it after this correction. The ranking *holds* across tasks if no
pair is detectably ordered one way on one task and the other way on another (a *reversal*);
objectives that lead in every cell are the answer. With few tasks and a ceiling (students at
100% of the teacher on an easy task) "no detectable difference" is common: it says the
seeds cannot tell the objectives apart, not that they are equal.

Aggregate: the interquartile mean of return (fraction of the teacher's) over seeds x (task,
width) columns per objective, with stratified bootstrap intervals (Agarwal et al. 2021,
``report.aggregate``), leaving out self-distillation (a student of the teacher's own size).
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ...core.objectives import OBJECTIVES
from ...report.aggregate import interval_estimates
from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.stats import holm

__all__ = ["LEVEL", "load_study", "power", "summarize"]

#: the family-wise error rate of the cross-task verdict
LEVEL = 0.05


def load_study(folder: str | Path) -> dict[str, Any]:
    """A study's ``results.json`` with its fair comparison; one-line errors for anything else."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results.json; run the study first (distill-study run -o {folder})")
    results = json.loads(path.read_text())
    widths = (results.get("fair") or {}).get("widths") or []
    if not widths:
        raise ValueError(f"{path}: has no fair comparison (give fair_widths) to compare across tasks")
    return results


def _env_id(results: dict[str, Any]) -> str:
    return results["fair"]["widths"][0]["teacher"]["env_id"]


def _arm(width: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in width["arms"] if a["arm"] == name), None)


def _scratch(results: dict[str, Any], width: int) -> dict[str, Any] | None:
    groups = (results.get("baselines") or {}).get("scratch") or []
    return next((g for g in groups if g["width"] == width), None)


def summarize(studies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cross-task summary of ``{folder: results.json}`` (one study per task; module docstring)."""
    by_task: dict[str, tuple[str, dict[str, Any]]] = {}
    for folder, results in studies.items():
        env_id = _env_id(results)
        if env_id in by_task:
            raise ValueError(f"{folder} and {by_task[env_id][0]} are both studies of {env_id}: give one per task")
        by_task[env_id] = (folder, results)
    rows, tests = [], []
    for env_id, (_, results) in by_task.items():
        for width in results["fair"]["widths"]:
            for objective in OBJECTIVES:
                arm = _arm(width, objective)
                if arm is not None:
                    rows.append(_row(env_id, width, objective, arm["label"], arm))
            if (scratch := _scratch(results, width["width"])) is not None:
                rows.append(_row(env_id, width, "scratch", "DQN from scratch (baseline)", scratch))
            for a, b in combinations(OBJECTIVES, 2):
                pair = width["pairs"].get(f"{a} - {b}") or width["pairs"].get(f"{b} - {a}")
                if pair is None:
                    continue
                diff = pair["difference"]["mean"] * (1 if f"{a} - {b}" in width["pairs"] else -1)  # a - b
                tests.append({"task": env_id, "width": width["width"], "a": a, "b": b, "difference": diff,
                              "p_value": pair["p_value"], "p_floor": pair.get("p_floor", 0.0), "n": pair["n"]})  # fmt: skip
    for t, p in zip(tests, holm([t["p_value"] for t in tests]) if tests else []):
        t["p_holm"] = float(p)
        t["sign"] = 0 if p >= LEVEL or t["difference"] == 0 else (1 if t["difference"] > 0 else -1)
    return {
        "tasks": [
            {
                "env_id": env_id,
                "folder": folder,
                "teacher_return": results["fair"]["widths"][0]["teacher"]["test_return"],
                "n_seeds": results["fair"]["widths"][0]["n_seeds"],
                "commit": results["provenance"].get("commit"),
                "code_hash": results["provenance"].get("code_hash"),
                "independent_agreement": _independent_agreement(results),
            }
            for env_id, (folder, results) in by_task.items()
        ],
        "rows": rows,
        "tests": tests,
        "family": f"every pair of the selected objectives at every width of every task ({len(tests)} tests), Holm",
        "level": LEVEL,
        "leaders": _leaders(rows, tests),
        "power": power(tests),
        "reversals": _reversals(tests),
        "aggregate": _aggregate(by_task),
        "rusu": _rusu(rows),
    }


def _row(env_id: str, width: dict[str, Any], objective: str, label: str, arm: dict[str, Any]) -> dict[str, Any]:
    """One line of the table: a selected objective's students, or the from-scratch baseline of the width."""
    return {
        "task": env_id,
        "width": width["width"],
        "params_pct": width["params_pct"],
        "objective": objective,
        "setting": label,
        "return_pct": arm["return_pct"],
        "action_agreement": arm["action_agreement"],
        "own_agreement": arm["own_agreement"],
    }


def _independent_agreement(results: dict[str, Any]) -> float | None:
    teachers = (results.get("baselines") or {}).get("teachers")
    return None if not teachers else teachers["action_agreement"]["mean"]


def _leaders(rows: list[dict[str, Any]], tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, width): the objectives no other is detectably above (after the cross-task Holm)."""
    cells: dict[tuple[str, int], list[str]] = {}
    for r in rows:
        if r["objective"] in OBJECTIVES:
            cells.setdefault((r["task"], r["width"]), []).append(r["objective"])
    out = []
    for (env_id, width), objectives in cells.items():
        below = {t["b"] if t["sign"] > 0 else t["a"] for t in tests
                 if (t["task"], t["width"]) == (env_id, width) and t["sign"] != 0}  # fmt: skip
        out.append({"task": env_id, "width": width, "leaders": [o for o in objectives if o not in below]})
    return out


def power(tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the family can reject at all: Holm's first step needs ``p < level / m``, and an exact
    sign-flip test over n seeds cannot go below ``2 / 2^n`` (its ``p_floor``)."""
    m = len(tests)
    floor = min((t["p_floor"] for t in tests), default=0.0)
    return {
        "tests": m,
        "needed": LEVEL / m if m else None,
        "smallest_p": floor,
        "can_reject": bool(m) and floor < LEVEL / m,
    }


def _reversals(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs detectably ordered one way on one task and the other way on another (at any widths)."""
    out = []
    for a, b in combinations(OBJECTIVES, 2):
        ways = {t["sign"]: t for t in tests if (t["a"], t["b"]) == (a, b) and t["sign"] != 0}
        if len(ways) == 2 and ways[1]["task"] != ways[-1]["task"]:
            out.append({"a": a, "b": b, "a_above_on": ways[1]["task"], "b_above_on": ways[-1]["task"]})
    return out


def _aggregate(by_task: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """IQM and mean of return/100 over seeds x (task, width), per objective; None if seed counts differ."""
    columns: dict[str, list[list[float]]] = {o: [] for o in OBJECTIVES}
    for _, results in by_task.values():
        for width in results["fair"]["widths"]:
            if width["params_pct"] >= 100.0:  # self-distillation: the ceiling, not compression
                continue
            for o in OBJECTIVES:
                arm = _arm(width, o)
                if arm is not None:
                    columns[o].append([v / 100.0 for v in arm["return_pct"]["values"]])
    columns = {o: c for o, c in columns.items() if c}
    shapes = {(len(c), len(col)) for c in columns.values() for col in c}  # (columns, seeds) must be one shape
    if len(shapes) != 1:
        return None
    scores = {o: np.array(c).T for o, c in columns.items()}  # (seeds, task-width columns)
    n_columns, n_seeds = shapes.pop()
    return {"columns": n_columns, "seeds": n_seeds, "estimates": interval_estimates(scores)}


def _rusu(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task, at widths with 4-25% of the teacher's parameters: the best selected objective's return %."""
    out = []
    for env_id in dict.fromkeys(r["task"] for r in rows):
        inside = [
            r for r in rows if r["task"] == env_id and RUSU_PARAMS_PCT[0] <= r["params_pct"] <= RUSU_PARAMS_PCT[1]
        ]
        for width in sorted({r["width"] for r in inside}, reverse=True):
            best = max((r for r in inside if r["width"] == width), key=lambda r: r["return_pct"]["mean"])
            pct = best["return_pct"]["mean"]
            where = (
                "within"
                if RUSU_SCORE_PCT[0] <= pct <= RUSU_SCORE_PCT[1]
                else ("below" if pct < RUSU_SCORE_PCT[0] else "above")
            )
            out.append({"task": env_id, "width": width, "params_pct": best["params_pct"],
                        "objective": best["objective"], "return_pct": pct, "where": where})  # fmt: skip
    return out
