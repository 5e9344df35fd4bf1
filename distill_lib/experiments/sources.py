"""Where the student's states come from: how many teacher episodes, and the student's own states (DAgger).

The study's students learn on states the *teacher* visits; at test time they visit their own.
Two questions about that data, asked per width of ``sources_widths`` with every objective at
the settings the fair comparison selected for that width (its step record is read, so this
step runs after it, ``needs``):

1. **Transfer-set size.** Hinton, Vinyals & Dean (2015, "Distilling the Knowledge in a
   Neural Network", sec. 3) argue that soft targets carry much more information per example
   than hard ones, so they should matter most when the transfer set is small. Students
   learn on the first ``k`` episodes of the study's teacher-driven buffer (the same
   epsilon-greedy episodes from ``COLLECT_SEED``; a smaller buffer is a prefix of a larger
   one) for each ``k`` in ``transfer_episodes``.
2. **Student-driven data (DAgger; Ross et al. 2011).** Round 0: the teacher-driven buffer of
   ``dagger_init_episodes`` episodes (``N0`` states). Round ``r = 1..dagger_rounds``: each
   student acts, mixed with the teacher at ``beta_r = dagger_beta ** r``
   (``rl.rollouts.mixed_rollout_states``; reset seeds from ``DAGGER_SEED``, disjoint from
   the test, validation and buffer episodes), its first ``N0`` decision states join *its
   own* aggregate buffer, and it is retrained from its initialisation on the aggregate.
   Against it, at equal numbers of labelled states: the same students trained on the first
   ``N0 * (dagger_rounds + 1)`` states of the teacher-driven episodes.

Every student: ``fair_seeds`` (paired: a seed's students share their initialisation), test
return on ``cartpole_episodes_eval`` episodes of the task ``env_id`` as a % of the teacher's
(from the task's floor), agreement with the
teacher on its held-out states and on the states the student visits itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import progress
from ..core.metrics import fidelity_metrics
from ..core.networks import QNetwork
from ..core.schema import param
from ..records.record import Record
from ..rl.cartpole import COLLECT_SEED, TEST_SEED, collect_states
from ..rl.evaluation import closed_loop
from ..rl.rollouts import mixed_rollout_states
from ..rl.tasks import DEFAULT_ENV_ID
from . import fair, sources_report
from .base import NOTEBOOK_DIR, Experiment, Units, load_step, step_folder
from .cartpole import pct_of_teacher, teacher_and_states, train_students
from .data import TaskSourceParams
from .fair import FairParams, FairStepConfig, FairWidths, Setting

__all__ = ["DAGGER_SEED", "EXPERIMENT", "SourceRun", "SourcesConfig", "SourcesRecord", "dagger_buffers", "measure"]

#: DAgger's rollouts reset from DAGGER_SEED + round (test: 10_000.., validation: 20_000.., buffer: 1_000..)
DAGGER_SEED = 30_000


@dataclass(frozen=True)
class SourcesParams(FairParams):
    """The transfer-set sizes and DAgger's rounds."""

    transfer_episodes: list[int] = param(
        [1, 5, 20], "teacher episodes in the buffer, one arm per size", low=1, high=100_000, unique=True, max_len=100
    )
    dagger_rounds: int = param(3, "DAgger rounds after the teacher-driven round 0 (0: no DAgger)", low=0, high=100)
    dagger_beta: float = param(
        0.5, "the teacher's share of the actions in round r is dagger_beta ** r", low=0.0, high=1.0
    )
    dagger_init_episodes: int = param(
        2, "teacher episodes of DAgger's round 0; each round adds as many states", low=1, high=100_000
    )


@dataclass(frozen=True)
class SourcesStepConfig(SourcesParams):
    """One step: one width (set by the runner)."""

    sources_width: int = param(8, "one step's student width (set by the runner)", low=1, high=100_000, set_by="runner")

    def fair_step(self) -> FairStepConfig:
        return FairStepConfig.from_params(self.to_dict() | {"fair_width": self.sources_width})


@dataclass(frozen=True)
class SourcesConfig(TaskSourceParams, FairWidths, SourcesParams):
    """The widths of this experiment: a subset of the fair comparison's (empty: none)."""

    sources_widths: list[int] = param(
        [8],
        "widths whose data sources are compared (each also in fair_widths)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )

    def check(self) -> None:
        super().check()
        if self.fair_widths and (extra := sorted(set(self.sources_widths) - set(self.fair_widths))):
            raise self.fail("sources_widths", f"{extra} not in fair_widths: their selected settings would not exist")


@dataclass(frozen=True)
class SourceRun(Record):
    """One student: its data arm, objective and seed, buffer size, return and agreements."""

    arm: str  # "teacher, k episodes", "DAgger", "teacher, same size"
    objective: str
    seed: int
    n_states: int
    return_mean: float
    return_pct: float
    held_out: dict[str, float]
    own_agreement: float


@dataclass(frozen=True)
class SourcesRecord(Record):
    """One width's step: the settings used, the buffers' sizes and every student."""

    params: dict[str, Any]
    width: int
    selected: dict[str, Setting]
    teacher_return: float
    env_id: str
    score_floor: float  # 0% of the return scale (rl.tasks)
    sizes: dict[str, int]  # arm -> labelled states per student
    dagger: dict[str, Any]  # rounds, betas, states per round, seeds
    runs: list[SourceRun]
    seconds: dict[str, float]


def dagger_buffers(
    teacher: QNetwork,
    initial: torch.Tensor,
    train: Any,
    n_students: int,
    rounds: int,
    beta: float,
    env_id: str = DEFAULT_ENV_ID,
) -> tuple[list[QNetwork], torch.Tensor]:
    """DAgger's rounds (module docstring): the final students and their aggregate buffers ``(S, N0 * (R + 1), D)``.

    ``train(states)`` trains the students on ``states`` (``(N, D)`` shared or ``(S, N, D)``)
    from their initialisation and returns them; round ``r``'s rollouts reset from
    ``DAGGER_SEED + r``. Each round appends, so a round's buffer is a prefix of the next.
    """
    n0 = len(initial)
    buffers = initial.unsqueeze(0).expand(n_students, -1, -1)  # (S, N0, D) round 0: the teacher's states
    nets = train(initial)
    for r in range(1, rounds + 1):
        visited = mixed_rollout_states(nets, teacher, n0, beta**r, DAGGER_SEED + r, env_id=env_id)  # (S, N0, D)
        buffers = torch.cat([buffers, visited], dim=1).contiguous()
        nets = train(buffers)
    return nets, buffers


def _teacher_states(teacher: QNetwork, n_states: int, epsilon: float, env_id: str) -> torch.Tensor:
    """The first ``n_states`` states of the teacher's epsilon-greedy episodes from ``COLLECT_SEED``."""
    episodes = 1
    while True:
        states = collect_states(teacher, episodes, epsilon, COLLECT_SEED, env_id)
        if len(states) >= n_states:
            return torch.from_numpy(states[:n_states])
        episodes *= 2


def measure(config: SourcesStepConfig, selected: dict[str, Setting]) -> SourcesRecord:
    """Every arm at ``selected`` settings per objective (steps 1 and 2 of the module docstring)."""
    p, seconds = config, {}
    started = time.perf_counter()
    teacher, _, x_held = teacher_and_states(p)  # (M, D) held-out states
    with torch.no_grad():
        q_held = teacher(x_held)
    teacher_test = float(closed_loop([teacher], p.cartpole_episodes_eval, TEST_SEED, env_id=p.env_id).returns[0].mean())
    floor = p.task.floor(p.cartpole_episodes_eval, TEST_SEED)
    fair_step = p.fair_step()
    jobs = [(obj, s, seed) for seed in p.fair_seeds for obj, s in selected.items()]

    def train(states: torch.Tensor) -> list[QNetwork]:
        configs = [fair_step.run_config(s, seed, states.shape[-2]) for _, s, seed in jobs]
        return train_students(teacher, states, configs, p.device)[1]

    arms: list[tuple[str, int, list[QNetwork]]] = []
    stages = len(p.transfer_episodes) + (2 if p.dagger_rounds else 0)
    for i, k in enumerate(sorted(p.transfer_episodes)):
        progress.report(f"width {p.sources_width}: arms trained", i, stages)
        states = torch.from_numpy(collect_states(teacher, k, p.cartpole_epsilon, COLLECT_SEED, p.env_id))
        arms.append((f"teacher, {k} episode{'s' * (k > 1)}", len(states), train(states)))
    seconds["transfer"] = time.perf_counter() - started
    dagger: dict[str, Any] = {"rounds": p.dagger_rounds}
    if p.dagger_rounds:
        started = time.perf_counter()
        first = collect_states(teacher, p.dagger_init_episodes, p.cartpole_epsilon, COLLECT_SEED, p.env_id)
        initial = torch.from_numpy(first)
        nets, buffers = dagger_buffers(teacher, initial, train, len(jobs), p.dagger_rounds, p.dagger_beta, p.env_id)
        arms.append(("DAgger", buffers.shape[1], nets))
        progress.report(f"width {p.sources_width}: arms trained", stages - 1, stages)
        same = _teacher_states(teacher, buffers.shape[1], p.cartpole_epsilon, p.env_id)
        arms.append(("teacher, same size", len(same), train(same)))
        dagger |= {
            "betas": [p.dagger_beta**r for r in range(1, p.dagger_rounds + 1)],
            "states_per_round": len(initial),
            "init_episodes": p.dagger_init_episodes,
            "seed": DAGGER_SEED,
        }
        seconds["dagger"] = time.perf_counter() - started
    progress.report(f"width {p.sources_width}: arms trained", stages, stages)

    started = time.perf_counter()
    every = [net for _, _, nets in arms for net in nets]
    loop = closed_loop(every, p.cartpole_episodes_eval, TEST_SEED, device=p.device, reference=teacher, env_id=p.env_id)
    runs, i = [], 0
    for arm, n_states, nets in arms:
        for (obj, _, seed), net in zip(jobs, nets, strict=True):
            with torch.no_grad():
                held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
            mean = float(loop.returns[i].mean())
            pct = pct_of_teacher(mean, teacher_test, floor)
            runs.append(SourceRun(arm, obj, seed, n_states, mean, pct, held, float(loop.agreement[i])))
            i += 1
    seconds["evaluation"] = time.perf_counter() - started
    return SourcesRecord(
        params=p.to_dict(),
        width=p.sources_width,
        selected=selected,
        teacher_return=teacher_test,
        env_id=p.env_id,
        score_floor=floor,
        sizes={arm: n for arm, n, _ in arms},
        dagger=dagger,
        runs=runs,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def run(config: SourcesStepConfig, folder: Path | None = None) -> SourcesRecord:
    """Read the fair comparison's selected settings for this width, then ``measure``."""
    if folder is None:
        raise ValueError("the sources step reads the fair comparison's record from its work folder; give the folder")
    fair_step = config.fair_step()
    fair_folder = step_folder(Path(folder).parent.parent, fair.EXPERIMENT, fair.unit_name(config.sources_width),
                              fair_step.to_dict())  # fmt: skip
    record = load_step(fair_folder, fair.EXPERIMENT)
    if record is None:
        raise RuntimeError(f"{fair_folder}: the fair comparison of width {config.sources_width} has not finished")
    return measure(config, record.selected)


def units(config: SourcesConfig) -> Units:
    if not config.sources_widths or not config.fair_widths:
        return Units({}, reason="no widths given for the data sources")
    if config.source == "file":
        return Units({}, "source='file': the data-source comparison needs a task's teacher (env_id); skipped")
    return Units({fair.unit_name(w): {"sources_width": w} for w in config.sources_widths})


def summarize(config: SourcesConfig, records: dict[str, SourcesRecord]) -> sources_report.SourcesSummary:
    missing = [fair.unit_name(w) for w in config.sources_widths if fair.unit_name(w) not in records]
    return sources_report.summarize_records(list(records.values()), missing)


EXPERIMENT: Experiment[SourcesRecord] = Experiment(
    name="sources",
    title="Where the states come from: transfer-set size and DAgger",
    notebook=NOTEBOOK_DIR / "09_sources.ipynb",
    params=SourcesConfig,
    step_params=SourcesStepConfig,
    record=SourcesRecord,
    run=run,
    summarize=summarize,
    section=sources_report.section,
    units=units,
    needs=("fair",),
    inputs=lambda config: [config.teacher_path],
    unit_of=lambda step: fair.unit_name(step.sources_width),
    cost=80.0,  # seconds per step on the project's machine, default study (long steps start first)
)
