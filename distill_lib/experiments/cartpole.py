"""A real teacher: the three objectives distilling a DQN policy of a real task, by student width.

The synthetic study's teacher is a random network, so "agreement" there measures how well
a student copies an arbitrary function. Here the teacher is a policy that solves a task
(a DQN of the task ``env_id``: CartPole's shipped ``QNetwork(4, 64, 2)`` by default, another
task's shipped teacher, or your ``teacher_checkpoint``; ``rl.tasks``), and a student can also be judged
by what it is for: the return it earns when it acts alone (Rusu et al. 2016, "Policy
Distillation", ICLR, sec. 5.2: students with 4-25% of the teacher's parameters reached
84-108% of its score on Atari).

Protocol (``run``):

1. Teacher: ``TaskParams.load_teacher()``, frozen; its file is an input of the step.
2. States: the teacher's own epsilon-greedy episodes (``rl.cartpole.collect_buffers``):
   ``cartpole_episodes`` episodes from seeds ``COLLECT_SEED ..`` form the training buffer
   (``n_states`` = its size; ``val_fraction`` of it is the run's validation split), the next
   ``cartpole_eval_episodes`` episodes the held-out states. The exploration rate
   ``cartpole_epsilon`` puts recovery states in the buffer, which a slightly wrong student
   will visit (Ross et al. 2011, "A Reduction of Imitation Learning ... to No-Regret Online Learning").
3. Students: for every width of ``cartpole_widths``, all ``cartpole_seeds`` x modes in one
   ``core.training.train_batched`` call (per-student random streams); a seed's students share
   their initialisation and random stream, so the modes are compared on paired runs.
4. Fidelity: each final (last-epoch) student against the teacher on the held-out states
   (``core.metrics.fidelity_metrics``).
5. Closed loop (every student of every width in one call, their episodes stepped together):
   the student acting greedily for ``cartpole_episodes_eval`` episodes from
   ``reset(seed=TEST_SEED + i)`` (``rl.evaluation.closed_loop_returns``); mean return with
   its normal-approximation 95% CI and as a percentage of the teacher's mean on the same
   episodes, measured from the task's floor (``rl.tasks``; 0 on CartPole):
   ``100 * (mean(G_student) - floor) / (mean(G_teacher) - floor)`` (the teacher's mean treated as fixed).
6. Size: parameters ``sum(p.numel())``; ``h^2 + 12h + 2`` for CartPole's ``QNetwork(4, h, 2)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import progress
from ..core.config import (
    MAX_SEED,
    MODES,
    STUDENT_DROPOUT,
    AlphaParams,
    DeviceParams,
    ObjectiveParams,
    RunConfig,
    ScheduleParams,
    alpha_for,
)
from ..core.metrics import fidelity_metrics
from ..core.networks import QNetwork, build_student
from ..core.schema import param
from ..core.training import TrainResult, to_device, train_batched
from ..records.provenance import file_sha256
from ..records.record import Record
from ..rl.cartpole import COLLECT_SEED, TEST_EPISODES, TEST_SEED, BufferParams, collect_buffers
from ..rl.cartpole import mean_ci as return_ci
from ..rl.evaluation import closed_loop_returns, count_parameters
from ..rl.tasks import TaskParams
from . import cartpole_report
from .base import NOTEBOOK_DIR, Experiment, Units
from .data import TaskSourceParams

__all__ = [
    "EXPERIMENT",
    "CartpoleConfig",
    "CartpoleRecord",
    "CartpoleRun",
    "CartpoleStudyConfig",
    "EpisodeParams",
    "pct_of_teacher",
    "teacher_and_states",
    "teacher_fields",
    "train_students",
]


@dataclass(frozen=True)
class EpisodeParams(TaskParams):
    """The task, its teacher, the held-out states and the closed-loop test episodes of the real-task experiments."""

    cartpole_eval_episodes: int = param(
        5, "further teacher episodes for the held-out CartPole states", low=1, high=100_000
    )
    cartpole_episodes_eval: int = param(
        TEST_EPISODES, "closed-loop test episodes per network (the return's 95% CI needs two)", low=2, high=100_000
    )


@dataclass(frozen=True)
class CartpoleConfig(DeviceParams, AlphaParams, ScheduleParams, ObjectiveParams, EpisodeParams, BufferParams):
    """Widths, seeds and episodes of the CartPole section (an empty width list turns it off)."""

    cartpole_widths: list[int] = param(
        [32, 16, 8, 4],
        "student hidden widths distilled from the CartPole teacher (empty: no section)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )
    cartpole_seeds: list[int] = param(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        "student seeds of the CartPole section",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )

    def check(self) -> None:
        super().check()
        if not 0.0 < self.alpha < 1.0:
            raise self.fail("alpha", "the blended objective's alpha must be in (0, 1) (0 is hard_only, 1 soft_only)")
        if self.cartpole_widths and not self.cartpole_seeds:
            raise self.fail("cartpole_seeds", "needs at least one seed when cartpole_widths is given")

    def mode_alphas(self) -> dict[str, float]:
        """The three objectives and their alpha, in increasing alpha: blended takes ``alpha``."""
        return {mode: alpha_for(mode, self.alpha) for mode in MODES}

    def student_configs(self, width: int, n_states: int) -> list[RunConfig]:
        """Seed-major, modes in increasing alpha: the order of one width's batched call."""
        run = {k: v for k, v in self.to_dict().items() if k in RunConfig.specs()}
        sizes = {
            "input_dim": self.task.obs_dim,
            "output_dim": self.task.n_actions,
            "teacher_hidden": self.teacher_width,
        }
        return [
            RunConfig.from_params(
                {
                    **run,
                    **sizes,
                    "seed": seed,
                    "mode": mode,
                    "alpha": alpha,
                    "student_hidden": width,
                    "n_states": n_states,
                }
            )
            for seed in self.cartpole_seeds
            for mode, alpha in self.mode_alphas().items()
        ]


@dataclass(frozen=True)
class CartpoleRun(Record):
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
class CartpoleRecord(Record):
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
    runs: list[CartpoleRun]
    seconds: dict[str, float]


def teacher_fields(p: EpisodeParams, teacher: QNetwork) -> dict[str, Any]:
    """What a real-task record says about its teacher: task, file (content hash), shipped or yours, width."""
    return {
        "env_id": p.env_id,
        "file": p.teacher_path.name,
        "shipped": p.teacher_checkpoint is None,
        "sha256": file_sha256(p.teacher_path),
        "hidden": teacher.hidden_dim,
    }


def pct_of_teacher(value: float, teacher_mean: float, floor: float) -> float:
    """A return as a % of the teacher's mean, measured from the task's floor: ``100 (G - f) / (G_T - f)``.

    A teacher no better than the floor (an untrained one, or one of another task) has no scale to measure by.
    """
    if not teacher_mean > floor:
        raise ValueError(
            f"the teacher returns {teacher_mean:.1f} on the test episodes, no more than the task's floor {floor:.1f} "
            "(0% of the scale): a student's return cannot be a % of it; is the teacher trained for this env_id?"
        )
    return 100.0 * (value - floor) / (teacher_mean - floor)


class _TaskBuffer(BufferParams, EpisodeParams):
    """What ``teacher_and_states`` reads."""


def teacher_and_states(p: _TaskBuffer) -> tuple[QNetwork, torch.Tensor, torch.Tensor]:
    """The task's teacher (frozen) and its training and held-out states, ``(N, D)`` and ``(M, D)``."""
    teacher = p.load_teacher()
    train_states, held_out = collect_buffers(
        teacher, p.cartpole_episodes, p.cartpole_eval_episodes, p.cartpole_epsilon, COLLECT_SEED, p.env_id
    )
    return teacher, torch.from_numpy(train_states), torch.from_numpy(held_out)


def train_students(
    teacher: QNetwork, states: torch.Tensor, configs: list[RunConfig], device: str
) -> tuple[list[TrainResult], list[QNetwork]]:
    """One student per config, all of one width, in one batched call; a seed's students share their
    initialisation (``build_student(seed)``). Returns the results and the final students in eval mode."""
    width, d, a = configs[0].student_width, teacher.input_dim, teacher.output_dim
    initial = {c.seed: build_student(c.seed, d, teacher.hidden_dim, a, hidden_dim=width) for c in configs}
    results = train_batched(*to_device(teacher, states, device), [initial[c.seed] for c in configs], configs)
    nets = []
    for result in results:
        net = QNetwork(d, width, a, dropout=STUDENT_DROPOUT)
        net.load_state_dict(result.final_state)
        nets.append(net.eval())
    return results, nets


def run(config: CartpoleConfig, folder: Path | None = None) -> CartpoleRecord:
    """Distil the task's teacher into students of each width (steps 1-6 of the module docstring)."""
    p = config
    n_eval, env_task = p.cartpole_episodes_eval, p.task
    seconds: dict[str, float] = {}

    # 1-2. teacher and its state buffers
    started = time.perf_counter()
    teacher, x_train, x_held = teacher_and_states(p)  # (N, D), (M, D)
    with torch.no_grad():
        q_held = teacher(x_held)  # (M, A)
    teacher_returns = closed_loop_returns([teacher], n_eval, TEST_SEED, env_id=p.env_id)[0]
    teacher_mean, teacher_lo, teacher_hi = return_ci(teacher_returns)
    floor = env_task.floor(n_eval, TEST_SEED)
    teacher_params = count_parameters(teacher)
    seconds["collect"] = time.perf_counter() - started

    runs: list[CartpoleRun] = []
    students: list[dict[str, Any]] = []
    seconds["train"] = 0.0
    trained = []
    for done, width in enumerate(p.cartpole_widths):
        # 3. every seed x mode of this width in one batched call
        started = time.perf_counter()
        configs = p.student_configs(width, len(x_train))
        progress.report(f"width {width}, training; widths done", done, len(p.cartpole_widths))
        results, nets = train_students(teacher, x_train, configs, p.device)
        n_params = count_parameters(nets[0])
        students.append({"width": width, "params": n_params, "params_pct": 100.0 * n_params / teacher_params})
        trained.append((width, n_params, configs, results, nets))
        seconds["train"] += time.perf_counter() - started

    # 5. closed loop, every student of every width in one call (the episodes of all of them step together)
    progress.report("closed loop; widths trained", len(p.cartpole_widths), len(p.cartpole_widths))
    started = time.perf_counter()
    every = [net for *_, nets in trained for net in nets]
    all_returns = iter(closed_loop_returns(every, n_eval, TEST_SEED, device=p.device, env_id=p.env_id))
    seconds["closed_loop"] = time.perf_counter() - started

    for width, n_params, configs, results, nets in trained:
        for cfg, result, net in zip(configs, results, nets, strict=True):
            ret = next(all_returns)
            # 4. fidelity on the held-out states
            with torch.no_grad():
                held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
            mean, lo, hi = return_ci(ret)
            runs.append(
                CartpoleRun(
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

    progress.report("widths done", len(p.cartpole_widths), len(p.cartpole_widths))
    return CartpoleRecord(
        params=p.to_dict(),
        protocol="per-student random streams (distill_lib.core.streams)",
        env=p.env_id,
        widths=list(p.cartpole_widths),
        seeds=list(p.cartpole_seeds),
        modes=p.mode_alphas(),
        teacher={
            **teacher_fields(p, teacher),
            "params": teacher_params,
            "returns": teacher_returns.tolist(),
            "return_mean": teacher_mean,
            "return_ci": [teacher_lo, teacher_hi],
        },
        buffer={
            "epsilon": p.cartpole_epsilon,
            "collect_seed": COLLECT_SEED,
            "train_episodes": p.cartpole_episodes,
            "held_out_episodes": p.cartpole_eval_episodes,
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


def summarize(config: CartpoleConfig, records: dict[str, CartpoleRecord]) -> cartpole_report.CartpoleSummary:
    return cartpole_report.summarize_record(records["cartpole"])


@dataclass(frozen=True)
class CartpoleStudyConfig(TaskSourceParams, CartpoleConfig):
    """The section's parameters and the study's source (it does not apply to a user's own teacher)."""


def units(config: CartpoleStudyConfig) -> Units:
    if not config.cartpole_widths:
        return Units({}, reason="no CartPole widths given")
    if config.source == "file":
        return Units(
            {}, "source='file': the real-task section needs a task's teacher (env_id), not the file's; skipped"
        )
    return Units({"cartpole": {}})


EXPERIMENT: Experiment[CartpoleRecord] = Experiment(
    name="cartpole",
    title="A real teacher (env_id; CartPole by default)",
    notebook=NOTEBOOK_DIR / "06_cartpole.ipynb",
    params=CartpoleStudyConfig,
    step_params=CartpoleConfig,
    record=CartpoleRecord,
    run=run,
    summarize=summarize,
    section=cartpole_report.section,
    units=units,
    inputs=lambda config: [config.teacher_path],
    cost=85.0,  # seconds per step on the project's machine, default study (long steps start first)
)
