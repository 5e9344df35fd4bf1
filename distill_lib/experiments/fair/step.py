"""Each objective at its own best settings, tuned with the same budget, on several teachers of a real task.

The task is ``env_id`` (CartPole by default; ``rl.tasks``). Every objective is the one its paper
defines (``core.objectives``: hard targets, Hinton's KL, the blend, Rusu's sharpened KL, MSE on
standardised Q-values, MSE on advantages, and the unscaled MSE as a labelled variant), and every
objective gets the same chance:

Protocol, one step per student width (``fair_width``):

1. Teachers (``rl.students.task_teachers``): the task's first ``n_teachers`` teachers (the shipped
   one, then its independent peers: the same recipe, other seeds), each with a transfer set of
   ``fair_transfer_steps`` environment steps of its own epsilon-greedy episodes, held-out states
   from other episodes, and its greedy return on the validation and test episodes.
2. Candidates (``core.objectives.candidates``): ``fair_candidates`` settings per objective drawn
   from its own grid - its own settings (T, tau, alpha) crossed with the optimiser's (learning rate,
   gradient steps) - the same number for every objective (an objective with a smaller grid is tried
   on all of it). Each candidate is trained under every teacher with every selection seed.
3. Checkpoints: every run keeps ``snapshots`` checkpoints, evenly spaced over its gradient steps;
   the one with the best greedy return on the validation episodes (``reset(seed=VALIDATION_SEED +
   i)``, disjoint from the test episodes and the buffers') stands for the run
   (``rl.students.pick_checkpoints``): the rule DQN from scratch's checkpoints follow too.
4. Selection: a candidate's score is its runs' mean validation return as a % of their teachers'
   (from the task's floor); per objective the best candidate wins. Ties are common where students
   reach the task's ceiling (CartPole's 500 in every validation episode, for a short and a long
   run alike); they are broken by the runs' mean action agreement with their teacher on its
   held-out states (never the test episodes), then by grid order.
5. Evaluation: fresh students (``student_seeds`` under every teacher, disjoint from the selection
   seeds) of each objective at its selected settings; a (teacher, seed)'s students share their
   initialisation and random stream, so objectives are compared on paired runs. Each run's test
   return on ``test_episodes`` episodes from ``TEST_SEED`` as a % of its own teacher's on the same
   episodes; agreement with its teacher on the teacher's held-out states and on the states the
   student visits itself (``rl.evaluation.closed_loop``).
6. What the objectives do to the gradient: for blended, the share of the soft term in the gradient
   at its selected settings (``core.losses.soft_share``, on an untrained student and the first
   teacher's buffer); the teacher's sharpness (the mean largest softmax probability of its Q-values)
   at every temperature tried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...core import losses, progress
from ...core.networks import build_student
from ...core.objectives import Setting, candidates
from ...records.record import Record
from ...rl.episodes import HELD_OUT_SEED, TEST_SEED, VALIDATION_SEED
from ...rl.evaluation import count_parameters
from ...rl.students import (
    Checkpointed,
    TeacherData,
    measure_runs,
    pick_checkpoints,
    run_numbers,
    task_teachers,
    train_settings,
)
from ..base import Units
from .params import FairConfig, FairStepConfig

__all__ = [
    "Candidate",
    "FairRecord",
    "FairRun",
    "candidate_evidence",
    "fair_run",
    "run",
    "select",
    "unit_name",
    "units",
]


@dataclass(frozen=True)
class Candidate(Record):
    """A candidate setting's selection evidence: each run's validation return (% of its teacher's), their mean."""

    setting: Setting
    val_pcts: list[float]  # one per (teacher, selection seed), teacher-major
    val_pct: float  # their mean: the selection score
    agreement: float = 0.0  # the runs' mean action agreement on their teachers' held-out states: the tie-break


@dataclass(frozen=True)
class FairRun(Record):
    """One evaluated student: its objective at its selected settings, teacher, seed, checkpoint and numbers."""

    objective: str
    setting: Setting
    teacher: int
    seed: int
    checkpoint: int  # which of the run's checkpoints validation picked (the last is the final one)
    checkpoints: int
    steps: int  # gradient steps of the whole run
    val_pct: float
    return_mean: float
    return_pct: float
    held_out: dict[str, float]  # fidelity on the teacher's held-out states
    own_agreement: float  # agreement with the teacher on the states the student visits in its test episodes


@dataclass(frozen=True)
class FairRecord(Record):
    """One width's step: the teachers, every candidate of every objective, the selection, every evaluated student."""

    params: dict[str, Any]
    width: int
    params_count: int
    params_pct: float
    env_id: str
    teachers: list[dict[str, Any]]
    sharpness: dict[str, float]
    soft_share: dict[str, float]
    candidates: dict[str, list[Candidate]]
    selected: dict[str, Setting]
    seeds: list[int]
    selection_seeds: list[int]
    episodes: dict[str, int]
    runs: list[FairRun]
    seconds: dict[str, float]


def candidate_evidence(
    grid: dict[str, list[Setting]], runs: list[Checkpointed], teachers: list[TeacherData]
) -> dict[str, list[Candidate]]:
    """Each candidate's validation returns (its runs' chosen checkpoints) and their held-out agreement with their
    teachers, in grid order per objective."""
    agreement = []
    for r in runs:
        t = teachers[r.teacher]
        with torch.no_grad():
            agreement.append(float((r.net(t.held_out).argmax(-1) == t.q_held.argmax(-1)).float().mean()))
    out = {}
    for objective, settings in grid.items():
        out[objective] = []
        for setting in settings:
            mine = [i for i, r in enumerate(runs) if r.setting == setting]
            pcts = [max(runs[i].val_returns or []) for i in mine]
            out[objective].append(
                Candidate(setting, pcts, float(np.mean(pcts)), float(np.mean([agreement[i] for i in mine])))
            )
    return out


def select(evidence: dict[str, list[Candidate]]) -> dict[str, Setting]:
    """Per objective the candidate with the highest mean validation return; ties broken by held-out agreement,
    then by grid order (the first)."""
    out = {}
    for obj, cands in evidence.items():
        best = max(range(len(cands)), key=lambda i: (cands[i].val_pct, cands[i].agreement, -i))
        out[obj] = cands[best].setting
    return out


def fair_run(run: Checkpointed, measured: dict[str, Any]) -> FairRun:
    """An evaluated run as the record keeps it: its chosen checkpoint's validation and test numbers."""
    return FairRun(
        objective=run.setting.objective,
        setting=run.setting,
        checkpoints=len(run.checkpoints),
        **run_numbers(run, measured),
    )


def _sharpness(q: torch.Tensor, temperatures: list[float]) -> dict[str, float]:
    """The mean largest probability of ``softmax(q / t)`` over the states ``q`` ``(N, A)``: how uniform targets are."""
    return {f"{t:g}": float(torch.softmax(q / t, -1).max(-1).values.mean()) for t in sorted(set(temperatures))}


def run(config: FairStepConfig, folder: Path | None = None) -> FairRecord:
    """One width: teachers, candidates, selection on validation, evaluation (steps 1-6 of the module docstring)."""
    p, seconds = config, {}
    started = time.perf_counter()
    # 1. the teachers, each with its transfer set and held-out states
    teachers = task_teachers(p, p.fair_transfer_steps)
    first = teachers[0]
    with torch.no_grad():
        q_first = first.net(first.states)  # (N, A)
    sharpness = _sharpness(q_first, [*p.fair_temperatures, *p.fair_taus, 1.0])
    seconds["teachers"] = time.perf_counter() - started

    # 2-4. every objective's candidates under every teacher, checkpoints picked, selection
    progress.report(f"width {p.fair_width}: selection; stages done", 0, 2)
    started = time.perf_counter()
    grid = {obj: candidates(obj, p.grid(), p.fair_candidates, p.fair_search_seed) for obj in p.fair_objectives}
    jobs = [(s, t.index, seed) for settings in grid.values() for s in settings for t in teachers
            for seed in p.fair_selection_seeds]  # fmt: skip
    runs = train_settings(p, teachers, jobs, p.fair_width)
    pick_checkpoints(p, teachers, runs)
    evidence = candidate_evidence(grid, runs, teachers)
    selected = select(evidence)
    seconds["selection"] = time.perf_counter() - started

    # 5. fresh seeds under every teacher at the selected settings
    progress.report(f"width {p.fair_width}: evaluation; stages done", 1, 2)
    started = time.perf_counter()
    jobs = [(selected[obj], t.index, seed) for obj in p.fair_objectives for t in teachers for seed in p.student_seeds]
    runs = train_settings(p, teachers, jobs, p.fair_width)
    pick_checkpoints(p, teachers, runs)
    measured = measure_runs(p, teachers, runs)
    records = [fair_run(r, m) for r, m in zip(runs, measured, strict=True)]
    seconds["evaluation"] = time.perf_counter() - started
    progress.report(f"width {p.fair_width}: stages done", 2, 2)

    # 6. the soft term's share of blended's gradient at its selected settings
    student = build_student(0, p.task.obs_dim, first.hidden or 64, p.task.n_actions, hidden_dim=p.fair_width)
    with torch.no_grad():
        logits = student.eval()(first.states)
    blended = selected.get("blended")
    share = {} if blended is None else {"blended": float(losses.soft_share(logits, q_first, blended.alpha,
                                                                             blended.temperature))}  # fmt: skip
    n_params = count_parameters(runs[0].net)
    n_teacher = count_parameters(first.net)
    return FairRecord(
        params=p.to_dict(),
        width=p.fair_width,
        params_count=n_params,
        params_pct=100.0 * n_params / n_teacher,
        env_id=p.env_id,
        teachers=[{**t.describe(), "shipped": p.teacher_checkpoint is None, "params": n_teacher} for t in teachers],
        sharpness=sharpness,
        soft_share=share,
        candidates=evidence,
        selected=selected,
        seeds=list(p.student_seeds),
        selection_seeds=list(p.fair_selection_seeds),
        episodes={
            "validation_seed": VALIDATION_SEED,
            "validation": p.val_episodes,
            "test_seed": TEST_SEED,
            "test": p.test_episodes,
            "held_out_seed": HELD_OUT_SEED,
            "held_out": p.held_out_episodes,
            "transfer_steps": p.fair_transfer_steps,
        },
        runs=records,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def unit_name(width: int) -> str:
    return f"w={width}"


def units(config: FairConfig) -> Units:
    """One step per width; none with source='file' (that teacher belongs to no task)."""
    if not config.fair_widths:
        return Units({}, reason="no fair-comparison widths given")
    if config.source == "file":
        return Units({}, "source='file': the fair comparison needs a task's teacher (env_id), not the file's; skipped")
    return Units({unit_name(w): {"fair_width": w} for w in config.fair_widths})
