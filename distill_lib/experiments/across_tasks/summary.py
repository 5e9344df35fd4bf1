"""Across tasks, summarised: the task x width x objective table, one Holm family over every task, the aggregate.

One study per task (``distill-study run -p env_id ...``, each with the fair comparison, its
baselines and the data budgets) answers for that task; this module reads their ``results.json``
files and asks whether the answer is a property of distillation or of the task (Rusu et al. 2016
ran ten Atari games for the same reason).

The table: task x width x objective, each objective at the settings the fair comparison selected
for that task and width (``experiments.fair``): test return as a % of each run's own teacher's
(from the task's floor) with the interval that includes the variation between the task's
teachers (a two-stage bootstrap: teachers, then runs), agreement with the teacher on its held-out
states and on the student's own states, and DQN from scratch at the width beside them.

The verdict. Every pairwise comparison of the objectives (paired sign-flip tests over (teacher,
seed), as each study stores them) enters one family: all pairs x widths x tasks, Holm-corrected
together. A pair is *ordered* in a (task, width) cell only when the Holm p is below ``LEVEL`` and
the interval with the teachers' variation is clear of zero. An objective *leads* a cell if no other
is ordered above it. The ranking *holds* across tasks if no pair is ordered one way on one task and
the other way on another (a *reversal*). DQN from scratch is compared with every objective in every
cell in a family of its own (unpaired permutation tests, Holm over all of them): "distilling did
worse than training the small network" is said only where that test says so.

Aggregate: the interquartile mean of return (fraction of the teacher's) over runs x (task, width)
columns per objective, with the plain mean and the share of runs below half the teacher's return
beside it (Agarwal et al. 2021, ``report.aggregate``), leaving out self-distillation.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ...records.provenance import earlier_step_commits
from ...report.aggregate import interval_estimates
from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.stats import comparison_record, holm, holm_family
from ...report.unpaired import unpaired_difference

__all__ = ["LEVEL", "load_study", "power", "summarize"]

#: the family-wise error rate of the cross-task verdict
LEVEL = 0.05
#: a run below this share of its teacher's return counts as a failure in the aggregate
HALF = 50.0


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
    return results["fair"]["widths"][0]["env_id"]


def _objectives(results: dict[str, Any]) -> list[str]:
    return [o["objective"] for o in results["fair"]["widths"][0]["objectives"]]


def _scratch(results: dict[str, Any], width: int) -> dict[str, Any] | None:
    groups = (results.get("baselines") or {}).get("scratch") or []
    return next((g for g in groups if g["width"] == width), None)


def _row(env_id: str, width: dict[str, Any], objective: str, label: str, cell: dict[str, Any]) -> dict[str, Any]:
    """One line of the table: an objective's students at its selected settings, or DQN from scratch."""
    return {
        "task": env_id,
        "width": width["width"],
        "params_pct": width["params_pct"],
        "objective": objective,
        "setting": label,
        "return_pct": cell["return_pct"],
        "action_agreement": cell["action_agreement"],
        "own_agreement": cell["own_agreement"],
        "below_half": cell.get("below_half"),
    }


def _pair_test(env_id: str, width: dict[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The study's paired comparison of ``a`` and ``b`` at ``width``, as ``a - b`` (p, floor, the interval)."""
    pairs = width["pairs"]
    pair, sign = (pairs.get(f"{a} - {b}"), 1) if f"{a} - {b}" in pairs else (pairs.get(f"{b} - {a}"), -1)
    if pair is None:
        return None
    d = pair["difference"]
    low, high = (d["low"], d["high"]) if sign > 0 else (-d["high"], -d["low"])
    return {"task": env_id, "width": width["width"], "a": a, "b": b, "difference": sign * d["mean"], "low": low,
            "high": high, "p_value": pair["p_value"], "p_floor": pair.get("p_floor", 0.0), "n": pair["n"]}  # fmt: skip


def _scratch_tests(by_task: dict[str, tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every objective against DQN from scratch in every cell (unpaired, over every distilled run), one Holm family."""
    found, compared = [], []
    for env_id, (_, results) in by_task.items():
        for width in results["fair"]["widths"]:
            scratch = _scratch(results, width["width"])
            if scratch is None or len(scratch["return_pct"].get("values", [])) < 2:
                continue
            for o in width["objectives"]:
                runs = np.concatenate([np.asarray(g, dtype=float) for g in o["return_pct"]["values"]])
                compared.append(unpaired_difference(runs, np.asarray(scratch["return_pct"]["values"], dtype=float)))
                found.append({"task": env_id, "width": width["width"], "params_pct": width["params_pct"],
                              "objective": o["objective"], "scratch": scratch["return_pct"]["mean"],
                              "distilled": o["return_pct"]["mean"], "env_steps": scratch["env_steps"]})  # fmt: skip
    family = holm_family(compared, f"every objective vs DQN from scratch in every cell ({len(compared)} tests)")
    for entry, c in zip(found, family, strict=True):
        record = comparison_record(c, entry["objective"], "from scratch", 1.0, " points")
        entry["verdict"] = record["verdict"]
        entry["p_adjusted"] = c.p_adjusted
        entry["sign"] = 0 if record["verdict"].startswith("no detectable") else (1 if c.difference.mean > 0 else -1)
    return found


def summarize(studies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cross-task summary of ``{folder: results.json}`` (one study per task; module docstring)."""
    by_task: dict[str, tuple[str, dict[str, Any]]] = {}
    for folder, results in studies.items():
        env_id = _env_id(results)
        if env_id in by_task:
            raise ValueError(f"{folder} and {by_task[env_id][0]} are both studies of {env_id}: give one per task")
        by_task[env_id] = (folder, results)
    objectives = list(dict.fromkeys(o for _, r in by_task.values() for o in _objectives(r)))
    rows, tests = [], []
    for env_id, (_, results) in by_task.items():
        for width in results["fair"]["widths"]:
            for o in width["objectives"]:
                rows.append(_row(env_id, width, o["objective"], o["label"], o))
            if (scratch := _scratch(results, width["width"])) is not None:
                rows.append(_row(env_id, width, "scratch", "DQN from scratch (baseline)", scratch))
            for a, b in combinations(objectives, 2):
                if (test := _pair_test(env_id, width, a, b)) is not None:
                    tests.append(test)
    for t, p in zip(tests, holm([t["p_value"] for t in tests]) if tests else []):
        t["p_holm"] = float(p)
        clear = t["low"] > 0 or t["high"] < 0
        t["sign"] = 0 if p >= LEVEL or not clear else (1 if t["difference"] > 0 else -1)
    first = {env_id: results["fair"]["widths"][0] for env_id, (_, results) in by_task.items()}
    return {
        "objectives": objectives,
        "tasks": [
            {
                "env_id": env_id,
                "folder": folder,
                "teachers": len(first[env_id]["teachers"]),
                "teacher_returns": [t["test_return"] for t in first[env_id]["teachers"]],
                "n_seeds": first[env_id]["n_seeds"],
                "student_kind": first[env_id].get(
                    "student_kind", "study"
                ),  # as the study's fair comparison recorded it
                "candidates": {o["objective"]: o["candidates"] for o in first[env_id]["objectives"]},
                "commit": results["provenance"].get("commit"),
                "code_hash": results["provenance"].get("code_hash"),
                "steps_commits": earlier_step_commits(results["provenance"]),  # --analysis-only: the steps' own
                "independent_agreement": _independent_agreement(results),
                "budgets": _budgets(results),
            }
            for env_id, (folder, results) in by_task.items()
        ],
        "rows": rows,
        "tests": tests,
        "family": f"every pair of the objectives at every width of every task ({len(tests)} tests), Holm",
        "level": LEVEL,
        "leaders": _leaders(rows, tests, objectives),
        "power": power(tests),
        "reversals": _reversals(tests, objectives),
        "width_changes": _width_changes(tests, objectives),
        "scratch_tests": _scratch_tests(by_task),
        "aggregate": _aggregate(by_task, objectives),
        "rusu": _rusu(rows, objectives),
    }


def _independent_agreement(results: dict[str, Any]) -> float | None:
    teachers = (results.get("baselines") or {}).get("teachers")
    return None if not teachers else teachers["action_agreement"]["mean"]


def _budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's data-budget curves (teacher-driven; DAgger's apart), and DQN from scratch's at the same widths."""
    out = []
    for width in (results.get("budgets") or {}).get("widths") or []:
        scratch = _scratch(results, width["width"])
        points = (scratch or {}).get("budgets") or []
        out.append({
            "width": width["width"],
            "curves": [c for c in width["curves"] if c["source"] == "teacher"],
            "dagger_curves": [c for c in width["curves"] if c["source"] == "dagger"],
            "scratch": [{"budget": p.get("budget", p.get("steps")), "return_pct": p["return_pct"]} for p in points],
        })  # fmt: skip
    return out


def _leaders(rows: list[dict[str, Any]], tests: list[dict[str, Any]], objectives: list[str]) -> list[dict[str, Any]]:
    """Per (task, width): the objectives no other is ordered above (after the cross-task Holm and the interval)."""
    cells: dict[tuple[str, int], list[str]] = {}
    for r in rows:
        if r["objective"] in objectives:
            cells.setdefault((r["task"], r["width"]), []).append(r["objective"])
    out = []
    for (env_id, width), present in cells.items():
        below = {t["b"] if t["sign"] > 0 else t["a"] for t in tests
                 if (t["task"], t["width"]) == (env_id, width) and t["sign"] != 0}  # fmt: skip
        out.append({"task": env_id, "width": width, "leaders": [o for o in present if o not in below]})
    return out


def power(tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the family can reject at all: Holm's first step needs ``p < level / m``, and an exact
    sign-flip test over n runs cannot go below ``2 / 2^n`` (its ``p_floor``)."""
    m = len(tests)
    floor = min((t["p_floor"] for t in tests), default=0.0)
    return {
        "tests": m,
        "needed": LEVEL / m if m else None,
        "smallest_p": floor,
        "can_reject": bool(m) and floor < LEVEL / m,
    }


def _reversals(tests: list[dict[str, Any]], objectives: list[str]) -> list[dict[str, Any]]:
    """Pairs ordered only one way on one task and only the other way on another (at any widths there).

    A pair ordered both ways within one task changes with the width, not with the task
    (``_width_changes``); it is not called a reversal across tasks.
    """
    out = []
    for a, b in combinations(objectives, 2):
        signs: dict[str, set[int]] = {}
        for t in tests:
            if (t["a"], t["b"]) == (a, b) and t["sign"] != 0:
                signs.setdefault(t["task"], set()).add(t["sign"])
        above = [task for task, s in signs.items() if s == {1}]
        below = [task for task, s in signs.items() if s == {-1}]
        if above and below:
            out.append({"a": a, "b": b, "a_above_on": above[0], "b_above_on": below[0]})
    return out


def _width_changes(tests: list[dict[str, Any]], objectives: list[str]) -> list[dict[str, Any]]:
    """Pairs ordered one way at some widths of a task and the other way at others: ``{"a", "b", "task",
    "a_above_at", "b_above_at"}`` (widths, largest first)."""
    out = []
    for a, b in combinations(objectives, 2):
        for task in dict.fromkeys(t["task"] for t in tests):
            mine = [t for t in tests if (t["a"], t["b"], t["task"]) == (a, b, task) and t["sign"] != 0]
            up = sorted((t["width"] for t in mine if t["sign"] == 1), reverse=True)
            down = sorted((t["width"] for t in mine if t["sign"] == -1), reverse=True)
            if up and down:
                out.append({"a": a, "b": b, "task": task, "a_above_at": up, "b_above_at": down})
    return out


def _aggregate(by_task: dict[str, tuple[str, dict[str, Any]]], objectives: list[str]) -> dict[str, Any] | None:
    """IQM, mean and the share of runs below half, of return/100 over runs x (task, width) columns, per objective;
    None where the columns hold different numbers of runs."""
    columns: dict[str, list[list[float]]] = {o: [] for o in objectives}
    for _, results in by_task.values():
        for width in results["fair"]["widths"]:
            if width["params_pct"] >= 99.95:  # self-distillation: the ceiling, not compression
                continue
            for o in width["objectives"]:
                columns[o["objective"]].append([v / 100.0 for g in o["return_pct"]["values"] for v in g])
    columns = {o: c for o, c in columns.items() if c}
    shapes = {(len(c), len(col)) for c in columns.values() for col in c}  # (columns, runs) must be one shape
    if len(shapes) != 1:
        return None
    scores = {o: np.array(c).T for o, c in columns.items()}  # (runs, task-width columns)
    n_columns, n_runs = shapes.pop()
    return {
        "columns": n_columns,
        "runs": n_runs,
        "estimates": interval_estimates(scores),
        "below_half": {o: float((s < HALF / 100.0).mean()) for o, s in scores.items()},
    }


def _rusu(rows: list[dict[str, Any]], objectives: list[str]) -> list[dict[str, Any]]:
    """Per task, at widths with 4-25% of the teacher's parameters: the best *distilled* objective's return %."""
    out = []
    for env_id in dict.fromkeys(r["task"] for r in rows):
        inside = [
            r for r in rows
            if r["task"] == env_id and r["objective"] in objectives
            and RUSU_PARAMS_PCT[0] <= r["params_pct"] <= RUSU_PARAMS_PCT[1]
        ]  # fmt: skip
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
