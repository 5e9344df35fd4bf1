"""Data budgets: each objective at its selected settings, on transfer sets of 10^3 environment steps up to many.

DQN from scratch learns from its own environment steps (the baselines experiment records its
return at the same budgets); a distilled student learns from the teacher's labels on states
someone collected. The comparison is fair only at matched environment steps, so the transfer set
is measured in environment steps and swept, per width of ``budget_widths``:

1. Settings: each objective's settings as the fair comparison selected them for this width (its
   step's record is read, ``reads``): the same learning rate and the same number of *gradient*
   steps at every budget, so a larger transfer set is not trained longer.
2. Teachers (``rl.students.task_teachers``): the task's first ``n_teachers`` teachers, each with a
   transfer set of the largest budget; a smaller budget is a prefix of it (the first ``b`` states
   of the teacher's own epsilon-greedy episodes from ``COLLECT_SEED``).
3. Teacher-driven: for every budget ``b``, every objective of ``budget_objectives``, teacher and seed
   of ``student_seeds``: a student trained on the first ``b`` states.
4. DAgger (Ross, Gordon & Bagnell 2011), for ``dagger_objectives``, at the same totals: round 0 is the
   first ``b / (R + 1)`` teacher-driven states; in round ``r = 1..R`` each student acts mixed with its
   teacher (the teacher's action with probability ``dagger_beta ** r``; ``rl.rollouts``, reset seeds
   ``DAGGER_SEED + r``, disjoint from every other episode), its first ``b / (R + 1)`` decision states
   join its own aggregate, and it is retrained from its initialisation on the aggregate: ``b``
   labelled states in all, ``b R / (R + 1)`` of them from the student's own episodes.
5. Every run keeps its best checkpoint by validation return; test return as a % of its teacher's,
   agreement with its teacher on the teacher's held-out states and on the states it visits itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core import progress
from ...core.objectives import Setting
from ...records.record import Record
from ...rl.episodes import DAGGER_SEED
from ...rl.rollouts import mixed_rollout_states
from ...rl.students import (
    Checkpointed,
    TeacherData,
    measure_runs,
    pick_checkpoints,
    run_numbers,
    task_teachers,
    train_settings,
)
from ..base import Units, read_step
from .params import BudgetsConfig, BudgetsStepConfig

__all__ = ["BudgetRun", "BudgetsRecord", "measure", "run", "unit_name", "units"]


@dataclass(frozen=True)
class BudgetRun(Record):
    """One student: its objective, data source and budget, teacher and seed, chosen checkpoint and numbers."""

    objective: str
    source: str  # "teacher" (teacher-driven states) or "dagger"
    budget: int  # environment steps of its transfer set (labelled states)
    teacher: int
    seed: int
    steps: int  # gradient steps of the run
    checkpoint: int
    val_pct: float
    return_mean: float
    return_pct: float
    held_out: dict[str, float]
    own_agreement: float


@dataclass(frozen=True)
class BudgetsRecord(Record):
    """One width's step: the settings used, the teachers, the budgets and every student."""

    params: dict[str, Any]
    width: int
    env_id: str
    selected: dict[str, Setting]
    teachers: list[dict[str, Any]]
    budgets: list[int]
    dagger: dict[str, Any]
    runs: list[BudgetRun]
    seconds: dict[str, float]


def _dagger(
    p: BudgetsStepConfig, teachers: list[TeacherData], jobs: list[tuple[Setting, int, int]], budget: int
) -> list[Checkpointed]:
    """DAgger's rounds at a total of ``budget`` labelled states per student (step 4 of the module docstring)."""
    per_round = budget // (p.dagger_rounds + 1)
    buffers = [teachers[t].states[:per_round] for _, t, _ in jobs]  # round 0: the teacher's own states
    runs = train_settings(p, teachers, jobs, p.budget_width, states=buffers)
    for r in range(1, p.dagger_rounds + 1):
        for t in teachers:  # each teacher's students roll out beside it
            idx = [i for i, (_, ti, _) in enumerate(jobs) if ti == t.index]
            if not idx:
                continue
            nets = [runs[i].checkpoints[-1] for i in idx]  # the round's final students act
            visited = mixed_rollout_states(nets, t.net, per_round, p.dagger_beta**r, DAGGER_SEED + r, env_id=p.env_id)
            for k, i in enumerate(idx):
                buffers[i] = torch.cat([buffers[i], visited[k]]).contiguous()
        runs = train_settings(p, teachers, jobs, p.budget_width, states=buffers)
    return runs


def measure(config: BudgetsStepConfig, selected: dict[str, Setting]) -> BudgetsRecord:
    """Every budget, objective, source, teacher and seed at ``selected`` settings (steps 2-5 of the docstring)."""
    p, seconds = config, {}
    started = time.perf_counter()
    budgets = p.budgets()
    teachers = task_teachers(p, budgets[-1])
    seconds["teachers"] = time.perf_counter() - started
    runs: list[tuple[str, int, Checkpointed]] = []
    stages = len(budgets) * (1 + bool(p.dagger_objectives))
    done = 0
    for b in budgets:
        started = time.perf_counter()
        progress.report(f"width {p.budget_width}: budgets done", done, stages)
        jobs = [(selected[o], t.index, s) for o in p.budget_objectives for t in teachers for s in p.student_seeds]
        trained = train_settings(p, teachers, jobs, p.budget_width, states=[teachers[t].states[:b] for _, t, _ in jobs])
        runs += [("teacher", b, r) for r in trained]
        done += 1
        seconds["teacher-driven"] = seconds.get("teacher-driven", 0.0) + time.perf_counter() - started
        if p.dagger_objectives:
            started = time.perf_counter()
            progress.report(f"width {p.budget_width}: budgets done", done, stages)
            jobs = [(selected[o], t.index, s) for o in p.dagger_objectives for t in teachers for s in p.student_seeds]
            runs += [("dagger", b, r) for r in _dagger(p, teachers, jobs, b)]
            done += 1
            seconds["dagger"] = seconds.get("dagger", 0.0) + time.perf_counter() - started
    progress.report(f"width {p.budget_width}: budgets done", stages, stages)
    started = time.perf_counter()
    every = [r for _, _, r in runs]
    pick_checkpoints(p, teachers, every)
    measured = measure_runs(p, teachers, every)
    seconds["evaluation"] = time.perf_counter() - started
    records = [
        BudgetRun(objective=r.setting.objective, source=source, budget=b, **run_numbers(r, m))
        for (source, b, r), m in zip(runs, measured, strict=True)
    ]
    return BudgetsRecord(
        params=p.to_dict(),
        width=p.budget_width,
        env_id=p.env_id,
        selected={o: selected[o] for o in p.budget_objectives},
        teachers=[t.describe() for t in teachers],
        budgets=budgets,
        dagger={
            "objectives": list(p.dagger_objectives),
            "rounds": p.dagger_rounds,
            "beta": p.dagger_beta,
            "seed": DAGGER_SEED,
        },
        runs=records,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def run(config: BudgetsStepConfig, folder: Path, upstream: dict[str, Path]) -> BudgetsRecord:
    """Read the fair comparison's selected settings for this width (its step's record), then ``measure``."""
    record = read_step(upstream["fair"], "fair")
    if record is None:
        raise RuntimeError(f"{upstream['fair']}: the fair comparison of width {config.budget_width} has not finished")
    selected = {name: Setting.from_json(s) for name, s in record["selected"].items()}
    if missing := sorted(set(config.budget_objectives) - set(selected)):
        raise ValueError(f"budget_objectives {missing} were not compared by the fair comparison (fair_objectives)")
    return measure(config, selected)


def unit_name(width: int) -> str:
    """A width's unit: ``w=8``, the same name as the fair comparison's step of that width."""
    return f"w={width}"


def units(config: BudgetsConfig) -> Units:
    if not config.budget_widths or not config.fair_widths:
        return Units({}, reason="no widths given for the data budgets")
    if config.source == "file":
        return Units({}, "source='file': the data budgets need a task's teacher (env_id); skipped")
    return Units({unit_name(w): {"budget_width": w} for w in config.budget_widths})
