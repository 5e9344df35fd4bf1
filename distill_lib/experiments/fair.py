"""Each objective at its own best settings on a real task's teacher, chosen without the test episodes.

The task is ``env_id`` (CartPole by default; ``rl.tasks``). The real-task section trains every objective at the synthetic study's ``T = 3``. The shipped
CartPole teacher's Q-values are large (about 65) and close (a median gap of about 0.1 between its two
actions), so at ``T = 3`` its soft targets are nearly uniform: that comparison may rank the
temperature, not the objective. Rusu et al. (2016, "Policy Distillation", sec. 4) sharpen
the teacher (``tau = 0.01``) and tune ``tau``. Here every objective gets the same chance:

Protocol, one step per student width (``fair_widths``):

1. Teacher and states as in the real-task section: the task's teacher, its epsilon-greedy
   training buffer and held-out states (``rl.cartpole.collect_buffers``).
2. Candidates (``candidates``): hard (CE on the teacher's argmax), soft (KL at each
   ``tau`` of ``fair_temperatures``), blended (each ``alpha`` of ``fair_alphas`` x each
   ``tau``) and MSE on Q-values; each trained once per selection seed
   (``fair_selection_seeds``), all in one batched call (``core.training.train_batched``).
3. Selection: each candidate's greedy return on ``fair_val_episodes`` *validation* episodes
   (``reset(seed=VALIDATION_SEED + i)``, disjoint from the test episodes and from the
   buffer's episodes; ``check`` refuses overlaps), averaged over the selection seeds. Per
   objective the best candidate wins; ties go to the higher agreement on the buffer's
   validation split, then to the earlier candidate (smaller ``tau``, then smaller ``alpha``).
4. Evaluation: fresh students (``fair_seeds``, disjoint from the selection seeds) of each
   objective at its selected settings, and, labelled *fixed*, soft and blended at the
   study's ``temperature`` and ``alpha`` (the CartPole section's settings), so the
   confound shows beside the fair answer. A seed's students share their initialisation and
   random stream (paired runs). Test return on ``cartpole_episodes_eval`` episodes from
   ``TEST_SEED`` as a % of the teacher's on the same episodes (from the task's floor,
   ``cartpole.pct_of_teacher``); fidelity on the held-out states
   (teacher-visited), and agreement with the teacher on every state the student visits in
   its own test episodes (student-visited; ``rl.evaluation.closed_loop``).
5. The teacher's sharpness: the mean of ``max_a softmax(q / tau)`` over the training buffer
   at each temperature, the number that says how uniform the soft targets are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import progress
from ..core.config import (
    MAX_SEED,
    AlphaParams,
    DeviceParams,
    ObjectiveParams,
    RunConfig,
    ScheduleParams,
    mode_for_alpha,
)
from ..core.metrics import fidelity_metrics
from ..core.networks import QNetwork
from ..core.schema import Params, param
from ..core.training import TrainResult
from ..records.record import Record
from ..rl.cartpole import COLLECT_SEED, TEST_SEED, BufferParams
from ..rl.evaluation import closed_loop, closed_loop_returns, count_parameters
from . import fair_report
from .base import NOTEBOOK_DIR, Experiment, Units
from .cartpole import EpisodeParams, pct_of_teacher, teacher_and_states, teacher_fields, train_students
from .data import TaskSourceParams

__all__ = [
    "EXPERIMENT",
    "OBJECTIVES",
    "VALIDATION_SEED",
    "FairConfig",
    "FairRecord",
    "FairRun",
    "FairWidths",
    "Setting",
]

#: validation episodes start here: reset seeds VALIDATION_SEED + i (test: TEST_SEED + i; buffer: COLLECT_SEED + i)
VALIDATION_SEED = 20_000
#: the objectives compared, in report order
OBJECTIVES = ("hard", "soft", "blended", "mse")


@dataclass(frozen=True)
class Setting(Record):
    """One way to train a student: an objective and its settings (``alpha``, ``temperature``, ``loss_fn``)."""

    objective: str
    alpha: float
    temperature: float
    loss_fn: str

    @property
    def label(self) -> str:
        """``soft, tau = 0.01``; ``blended, alpha = 0.5, tau = 1``; ``hard``; ``mse``."""
        if self.objective == "soft":
            return f"soft, tau = {self.temperature:g}"
        if self.objective == "blended":
            return f"blended, alpha = {self.alpha:g}, tau = {self.temperature:g}"
        return self.objective


def candidates(temperatures: list[float], alphas: list[float]) -> list[Setting]:
    """The selection grid: hard, soft at each tau, blended at each alpha x tau (tau-major), MSE; in tie-break order."""
    temps, alphs = sorted(temperatures), sorted(alphas)
    grid = [Setting("hard", 0.0, 1.0, "kl")]  # alpha 0: the soft term (and so tau) is not computed
    grid += [Setting("soft", 1.0, t, "kl") for t in temps]
    grid += [Setting("blended", a, t, "kl") for t in temps for a in alphs]
    grid.append(Setting("mse", 1.0, 1.0, "mse"))  # MSE on raw Q-values: no temperature, no hard term
    return grid


@dataclass(frozen=True)
class FairParams(BufferParams, EpisodeParams, ScheduleParams, DeviceParams, AlphaParams, ObjectiveParams):
    """The selection grid, its seeds and validation episodes, and the evaluation seeds."""

    fair_temperatures: list[float] = param(
        [0.01, 0.1, 1.0, 3.0],
        "temperatures tau tried for soft and blended (selected per objective and width)",
        low=1e-3,
        high=1000.0,
        unique=True,
        max_len=100,
        min_len=1,
    )
    fair_alphas: list[float] = param(
        [0.5, 0.9], "alphas tried for blended (each in (0, 1))", low=0.0, high=1.0, unique=True, max_len=100, min_len=1
    )
    fair_selection_seeds: list[int] = param(
        [100, 101], "student seeds that train the candidates (never evaluated)", low=0, high=MAX_SEED, unique=True,
        max_len=1000,
    )  # fmt: skip
    fair_seeds: list[int] = param(
        list(range(10)), "student seeds of the evaluation at the selected settings", low=0, high=MAX_SEED, unique=True,
        max_len=1000,
    )  # fmt: skip
    fair_val_episodes: int = param(20, "validation episodes that select the settings", low=1, high=100_000)

    def check(self) -> None:
        super().check()
        if any(not 0.0 < a < 1.0 for a in self.fair_alphas):
            raise self.fail("fair_alphas", "each alpha must be in (0, 1): 0 is hard, 1 is soft, both tried already")
        if not self.fair_selection_seeds:
            raise self.fail("fair_selection_seeds", "needs at least one seed")
        if len(self.fair_seeds) < 2:
            raise self.fail("fair_seeds", "needs at least two seeds (intervals and paired tests)")
        if shared := sorted(set(self.fair_seeds) & set(self.fair_selection_seeds)):
            raise self.fail("fair_seeds", f"shares {shared} with fair_selection_seeds; evaluation needs fresh seeds")
        spans = {
            "validation": (VALIDATION_SEED, VALIDATION_SEED + self.fair_val_episodes),
            "test": (TEST_SEED, TEST_SEED + self.cartpole_episodes_eval),
            "buffer": (COLLECT_SEED, COLLECT_SEED + self.cartpole_episodes + self.cartpole_eval_episodes),
        }
        for other in ("test", "buffer"):
            (a, b), (c, d) = spans["validation"], spans[other]
            if a < d and c < b:
                raise self.fail(
                    "fair_val_episodes",
                    f"validation episode seeds {a}..{b - 1} overlap the {other} episodes' {c}..{d - 1}; use fewer",
                )


@dataclass(frozen=True)
class FairStepConfig(FairParams):
    """One step: one width (set by the runner)."""

    fair_width: int = param(
        32, "one step's student width (set by the runner)", low=1, high=100_000, set_by="the runner sets it per width"
    )

    def run_config(self, setting: Setting, seed: int, n_states: int) -> RunConfig:
        run = {k: v for k, v in self.to_dict().items() if k in RunConfig.specs()}
        return RunConfig.from_params(
            {
                **run,
                "input_dim": self.task.obs_dim,
                "output_dim": self.task.n_actions,
                "teacher_hidden": self.teacher_width,
                "student_hidden": self.fair_width,
                "n_states": n_states,
                "seed": seed,
                "mode": mode_for_alpha(setting.alpha),
                "alpha": setting.alpha,
                "temperature": setting.temperature,
                "loss_fn": setting.loss_fn,
            }
        )

    def fixed(self) -> dict[str, Setting]:
        """The CartPole section's settings for the objectives a temperature changes, labelled as arms."""
        return {
            "soft, fixed": Setting("soft", 1.0, self.temperature, "kl"),
            "blended, fixed": Setting("blended", self.alpha, self.temperature, "kl"),
        }


@dataclass(frozen=True)
class FairWidths(Params):
    """The student widths of the fair comparison and of its baselines (``experiments.baselines``)."""

    fair_widths: list[int] = param(
        [32, 8], "student widths of the fair comparison and its baselines (empty: none)", low=1, high=100_000,
        unique=True, max_len=100,
    )  # fmt: skip


@dataclass(frozen=True)
class FairConfig(TaskSourceParams, FairWidths, FairParams):
    """The widths of the fair comparison (an empty list turns it off)."""


@dataclass(frozen=True)
class Candidate(Record):
    """A candidate setting's selection evidence: validation returns per selection seed, buffer agreement."""

    setting: Setting
    val_returns: list[float]  # mean validation-episode return, one per selection seed
    val_return: float  # their mean: the selection score
    buffer_agreement: float  # mean agreement on the buffer's validation split: the tie-break


@dataclass(frozen=True)
class FairRun(Record):
    """One evaluated student: its arm (an objective, or a fixed-setting arm), seed, return and fidelity."""

    arm: str
    setting: Setting
    seed: int
    return_mean: float
    return_pct: float
    held_out: dict[str, float]  # fidelity on the teacher's held-out states
    own_agreement: float  # agreement with the teacher's action on the states the student visits in its test episodes


@dataclass(frozen=True)
class FairRecord(Record):
    """One width's step: teacher, sharpness, every candidate, the selection, every evaluated student."""

    params: dict[str, Any]
    width: int
    params_count: int
    params_pct: float
    teacher: dict[str, Any]
    sharpness: dict[str, float]
    candidates: list[Candidate]
    selected: dict[str, Setting]
    arms: dict[str, Setting]
    seeds: list[int]
    selection_seeds: list[int]
    episodes: dict[str, int]
    runs: list[FairRun]
    seconds: dict[str, float]


def _train(
    config: FairStepConfig, teacher: QNetwork, states: torch.Tensor, jobs: list[tuple[Setting, int]]
) -> tuple[list[TrainResult], list[QNetwork]]:
    """Train one student per (setting, seed) in one batched call (``cartpole.train_students``)."""
    configs = [config.run_config(s, seed, len(states)) for s, seed in jobs]
    return train_students(teacher, states, configs, config.device)


def _select(grid: list[Candidate]) -> dict[str, Setting]:
    """Per objective the highest validation return; ties: higher buffer agreement, then grid order."""
    best: dict[str, Candidate] = {}
    for cand in grid:  # grid order: a later candidate wins only if strictly better
        held = best.get(cand.setting.objective)
        if held is None or (cand.val_return, cand.buffer_agreement) > (held.val_return, held.buffer_agreement):
            best[cand.setting.objective] = cand
    return {obj: best[obj].setting for obj in OBJECTIVES if obj in best}


def run(config: FairStepConfig, folder: Path | None = None) -> FairRecord:
    """One width: candidates, selection on validation episodes, evaluation (steps 1-5 of the module docstring)."""
    p = config
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    # 1. teacher and states
    teacher, x_train, x_held = teacher_and_states(p)  # (N, D), (M, D)
    with torch.no_grad():
        q_train, q_held = teacher(x_train), teacher(x_held)  # (N, A), (M, A)
    teacher_test = closed_loop_returns([teacher], p.cartpole_episodes_eval, TEST_SEED, env_id=p.env_id)[0]
    teacher_val = closed_loop_returns([teacher], p.fair_val_episodes, VALIDATION_SEED, env_id=p.env_id)[0]
    floor = p.task.floor(p.cartpole_episodes_eval, TEST_SEED)
    val_floor = p.task.floor(p.fair_val_episodes, VALIDATION_SEED)
    # 5. how uniform the soft targets are at each temperature
    temps = sorted({*p.fair_temperatures, p.temperature, 1.0})
    sharpness = {f"{t:g}": float(torch.softmax(q_train / t, -1).max(-1).values.mean()) for t in temps}
    seconds["teacher"] = time.perf_counter() - started

    # 2. candidates x selection seeds, one batch
    progress.report(f"width {p.fair_width}: selection; stages done", 0, 2)
    started = time.perf_counter()
    grid = candidates(p.fair_temperatures, p.fair_alphas)
    jobs = [(s, seed) for seed in p.fair_selection_seeds for s in grid]
    results, nets = _train(p, teacher, x_train, jobs)
    # 3. selection by validation return
    val = closed_loop_returns(nets, p.fair_val_episodes, VALIDATION_SEED, device=p.device, env_id=p.env_id).mean(1)
    evidence = []
    for setting in grid:
        rows = [j for j, (s, _) in enumerate(jobs) if s == setting]
        evidence.append(
            Candidate(
                setting,
                [float(val[j]) for j in rows],
                float(np.mean(val[rows])),
                float(np.mean([results[j].final["action_agreement"] for j in rows])),
            )
        )
    selected = _select(evidence)
    seconds["selection"] = time.perf_counter() - started

    # 4. fresh seeds at the selected settings, and the fixed settings beside them
    progress.report(f"width {p.fair_width}: evaluation; stages done", 1, 2)
    started = time.perf_counter()
    arms = {**selected, **p.fixed()}
    jobs = [(s, seed) for seed in p.fair_seeds for s in arms.values()]
    names = [name for _ in p.fair_seeds for name in arms]
    results, nets = _train(p, teacher, x_train, jobs)
    loop = closed_loop(nets, p.cartpole_episodes_eval, TEST_SEED, device=p.device, reference=teacher, env_id=p.env_id)
    runs = []
    for name, (setting, seed), net, ret, own in zip(names, jobs, nets, loop.returns, loop.agreement, strict=True):
        with torch.no_grad():
            held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
        mean = float(ret.mean())
        pct = pct_of_teacher(mean, float(teacher_test.mean()), floor)
        runs.append(FairRun(name, setting, seed, mean, pct, held, float(own)))
    seconds["evaluation"] = time.perf_counter() - started
    progress.report(f"width {p.fair_width}: stages done", 2, 2)

    n_params, n_teacher = count_parameters(nets[0]), count_parameters(teacher)
    return FairRecord(
        params=p.to_dict(),
        width=p.fair_width,
        params_count=n_params,
        params_pct=100.0 * n_params / n_teacher,
        teacher={
            **teacher_fields(p, teacher),
            "params": n_teacher,
            "score_floor": floor,
            "val_score_floor": val_floor,
            "solved_return": p.task.bar,
            "test_return": float(teacher_test.mean()),
            "val_return": float(teacher_val.mean()),
        },
        sharpness=sharpness,
        candidates=evidence,
        selected=selected,
        arms=arms,
        seeds=list(p.fair_seeds),
        selection_seeds=list(p.fair_selection_seeds),
        episodes={
            "validation_seed": VALIDATION_SEED,
            "validation": p.fair_val_episodes,
            "test_seed": TEST_SEED,
            "test": p.cartpole_episodes_eval,
            "buffer_states": len(x_train),
            "held_out_states": len(x_held),
        },
        runs=runs,
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


def summarize(config: FairConfig, records: dict[str, FairRecord]) -> fair_report.FairSummary:
    missing = [unit_name(w) for w in config.fair_widths if unit_name(w) not in records]
    return fair_report.summarize_records(list(records.values()), missing)


EXPERIMENT: Experiment[FairRecord] = Experiment(
    name="fair",
    title="Each objective at its best (env_id; CartPole by default)",
    notebook=NOTEBOOK_DIR / "07_fair.ipynb",
    params=FairConfig,
    step_params=FairStepConfig,
    record=FairRecord,
    run=run,
    summarize=summarize,
    section=fair_report.section,
    units=units,
    inputs=lambda config: [config.teacher_path],
    unit_of=lambda step: unit_name(step.fair_width),
    cost=45.0,  # seconds per step on the project's machine, default study (long steps start first)
)
