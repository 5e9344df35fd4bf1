"""A real teacher: the three objectives distilling a DQN policy of a real task, by student width.

The synthetic study's teacher is a random network, so "agreement" there measures how well
a student copies an arbitrary function. Here the teacher is a policy that solves a task
(a DQN of the task ``env_id``: its shipped teacher, or your ``teacher_checkpoint``;
``rl.tasks``), and a student can also be judged by what it is for: the return it earns when
it acts alone (Rusu et al. 2016, "Policy Distillation", ICLR, sec. 5.2: students with 4-25%
of the teacher's parameters reached 84-108% of its score on Atari).

Protocol (``run``):

1. Teacher and states (``rl.students.teacher_and_buffers``): the task's teacher, frozen, and
   its own epsilon-greedy episodes: ``buffer_episodes`` for training (``n_states`` = its
   size; ``val_fraction`` of it is the run's validation split), ``held_out_episodes`` more
   for the held-out states.
2. Students: for every width of ``real_task_widths``, all ``real_task_seeds`` x modes in one
   batched call (``rl.students.train_students``); a seed's students share their
   initialisation and random stream, so the modes are compared on paired runs.
3. Fidelity: each final (last-epoch) student against the teacher on the held-out states
   (``core.metrics.fidelity_metrics``).
4. Closed loop (every student of every width in one call, their episodes stepped together):
   the student acting greedily for ``test_episodes`` episodes from ``reset(seed=TEST_SEED + i)``
   (``rl.evaluation.closed_loop_returns``); mean return with its normal-approximation 95% CI
   and as a percentage of the teacher's mean on the same episodes, measured from the task's
   floor (``rl.tasks.pct_of_teacher``): ``100 * (mean(G_student) - floor) / (mean(G_teacher) - floor)``.
5. Size: parameters ``sum(p.numel())``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core import progress
from ...core.metrics import fidelity_metrics
from ...records.record import Record
from ...rl.episodes import COLLECT_SEED, TEST_SEED
from ...rl.episodes import mean_ci as return_ci
from ...rl.evaluation import closed_loop_returns, count_parameters
from ...rl.exploration import score_floor
from ...rl.students import teacher_and_buffers, train_students
from ...rl.tasks import pct_of_teacher
from ..base import Units
from .params import RealTaskConfig, RealTaskStudyConfig

__all__ = ["RealTaskRecord", "RealTaskRun", "run", "units"]


@dataclass(frozen=True)
class RealTaskRun(Record):
    """One (width, seed, mode) student: held-out fidelity and closed-loop return."""

    width: int
    seed: int
    mode: str
    alpha: float
    params: int
    held_out: dict[str, float]
    buffer_val: dict[str, float]
    best_epoch: int
    returns: list[float]
    return_mean: float
    return_ci: list[float]
    return_pct: float
    return_pct_ci: list[float]


@dataclass(frozen=True)
class RealTaskRecord(Record):
    """The step's record: the resolved parameters, the teacher, the buffers and every student."""

    params: dict[str, Any]
    protocol: str
    env: str
    widths: list[int]
    seeds: list[int]
    modes: dict[str, float]
    teacher: dict[str, Any]
    buffer: dict[str, Any]
    closed_loop: dict[str, Any]
    students: list[dict[str, Any]]
    runs: list[RealTaskRun]
    seconds: dict[str, float]


def run(config: RealTaskConfig, folder: Path | None = None) -> RealTaskRecord:
    """Distil the task's teacher into students of each width (steps 1-5 of the module docstring)."""
    p = config
    n_eval, env_task = p.test_episodes, p.task
    seconds: dict[str, float] = {}

    # 1. teacher and its state buffers
    started = time.perf_counter()
    teacher, x_train, x_held = teacher_and_buffers(p)  # (N, D), (M, D)
    with torch.no_grad():
        q_held = teacher(x_held)  # (M, A)
    teacher_returns = closed_loop_returns([teacher], n_eval, TEST_SEED, env_id=p.env_id)[0]
    teacher_mean, teacher_lo, teacher_hi = return_ci(teacher_returns)
    floor = score_floor(p.env_id, n_eval, TEST_SEED)
    teacher_params = count_parameters(teacher)
    seconds["collect"] = time.perf_counter() - started

    runs: list[RealTaskRun] = []
    students: list[dict[str, Any]] = []
    seconds["train"] = 0.0
    trained = []
    for done, width in enumerate(p.real_task_widths):
        # 2. every seed x mode of this width in one batched call
        started = time.perf_counter()
        configs = p.student_configs(width, len(x_train))
        progress.report(f"width {width}, training; widths done", done, len(p.real_task_widths))
        results, nets = train_students(teacher, x_train, configs, p.device)
        n_params = count_parameters(nets[0])
        students.append({"width": width, "params": n_params, "params_pct": 100.0 * n_params / teacher_params})
        trained.append((width, n_params, configs, results, nets))
        seconds["train"] += time.perf_counter() - started

    # 4. closed loop, every student of every width in one call (the episodes of all of them step together)
    progress.report("closed loop; widths trained", len(p.real_task_widths), len(p.real_task_widths))
    started = time.perf_counter()
    every = [net for *_, nets in trained for net in nets]
    all_returns = iter(closed_loop_returns(every, n_eval, TEST_SEED, device=p.device, env_id=p.env_id))
    seconds["closed_loop"] = time.perf_counter() - started

    for width, n_params, configs, results, nets in trained:
        for cfg, result, net in zip(configs, results, nets, strict=True):
            ret = next(all_returns)
            # 3. fidelity on the held-out states
            with torch.no_grad():
                held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
            mean, lo, hi = return_ci(ret)
            runs.append(
                RealTaskRun(
                    width=width,
                    seed=cfg.seed,
                    mode=cfg.mode,
                    alpha=cfg.alpha,
                    params=n_params,
                    held_out=held,
                    buffer_val={k: result.final[k] for k in ("action_agreement", "prob_similarity_t1")},
                    best_epoch=result.best_epoch,
                    returns=ret.tolist(),
                    return_mean=mean,
                    return_ci=[lo, hi],
                    return_pct=pct_of_teacher(mean, teacher_mean, floor),
                    return_pct_ci=[pct_of_teacher(x, teacher_mean, floor) for x in (lo, hi)],
                )
            )

    progress.report("widths done", len(p.real_task_widths), len(p.real_task_widths))
    return RealTaskRecord(
        params=p.to_dict(),
        protocol="per-student random streams (distill_lib.core.streams)",
        env=p.env_id,
        widths=list(p.real_task_widths),
        seeds=list(p.real_task_seeds),
        modes=p.mode_alphas(),
        teacher={
            **p.teacher_fields(teacher),
            "params": teacher_params,
            "returns": teacher_returns.tolist(),
            "return_mean": teacher_mean,
            "return_ci": [teacher_lo, teacher_hi],
        },
        buffer={
            "epsilon": p.buffer_epsilon,
            "collect_seed": COLLECT_SEED,
            "train_episodes": p.buffer_episodes,
            "held_out_episodes": p.held_out_episodes,
            "n_states": len(x_train),
            "n_val": configs[0].n_val,
            "n_held_out": len(x_held),
        },
        closed_loop={
            "episodes": n_eval,
            "seed": TEST_SEED,
            "max_steps": env_task.max_steps,
            "solved_return": env_task.bar,
            "score_floor": floor,
            "floor_rule": "fixed" if env_task.score_floor is not None else "random policy on the test episodes",
        },
        students=students,
        runs=runs,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def units(config: RealTaskStudyConfig) -> Units:
    if not config.real_task_widths:
        return Units({}, reason="no real-task widths given")
    if config.source == "file":
        return Units(
            {}, "source='file': the real-task section needs a task's teacher (env_id), not the file's; skipped"
        )
    return Units({"real_task": {}})
