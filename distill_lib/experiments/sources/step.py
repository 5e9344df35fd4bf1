"""Where the student's states come from: how many teacher episodes, and the student's own states (DAgger).

The study's students learn on states the *teacher* visits; at test time they visit their own.
Two questions about that data, asked per width of ``sources_widths`` with every objective at
the settings the fair comparison selected for that width (its step record is read, ``reads``, so this
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
return on ``test_episodes`` episodes of the task ``env_id`` as a % of the teacher's
(from the task's floor), agreement with the
teacher on its held-out states and on the states the student visits itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core import progress
from ...core.metrics import fidelity_metrics
from ...core.networks import QNetwork
from ...core.objectives import Setting
from ...records.record import Record
from ...rl.episodes import COLLECT_SEED, DAGGER_SEED, TEST_SEED
from ...rl.evaluation import closed_loop
from ...rl.exploration import collect_states, score_floor
from ...rl.rollouts import mixed_rollout_states
from ...rl.students import teacher_and_buffers, train_students
from ...rl.tasks import DEFAULT_ENV_ID, pct_of_teacher
from ..base import Units, read_step
from .params import SourcesConfig, SourcesStepConfig

__all__ = ["SourceRun", "SourcesRecord", "dagger_buffers", "measure", "run", "unit_name", "units"]


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
    teacher, _, x_held = teacher_and_buffers(p)  # (M, D) held-out states
    with torch.no_grad():
        q_held = teacher(x_held)
    teacher_test = float(closed_loop([teacher], p.test_episodes, TEST_SEED, env_id=p.env_id).returns[0].mean())
    floor = score_floor(p.env_id, p.test_episodes, TEST_SEED)
    jobs = [(obj, s, seed) for seed in p.fair_seeds for obj, s in selected.items()]

    def train(states: torch.Tensor) -> list[QNetwork]:
        configs = [p.setting_config(s, seed, p.sources_width, states.shape[-2]) for _, s, seed in jobs]
        return train_students(teacher, states, configs, p.device)[1]

    arms: list[tuple[str, int, list[QNetwork]]] = []
    stages = len(p.transfer_episodes) + (2 if p.dagger_rounds else 0)
    for i, k in enumerate(sorted(p.transfer_episodes)):
        progress.report(f"width {p.sources_width}: arms trained", i, stages)
        states = torch.from_numpy(collect_states(teacher, k, p.buffer_epsilon, COLLECT_SEED, p.env_id))
        arms.append((f"teacher, {k} episode{'s' * (k > 1)}", len(states), train(states)))
    seconds["transfer"] = time.perf_counter() - started
    dagger: dict[str, Any] = {"rounds": p.dagger_rounds}
    if p.dagger_rounds:
        started = time.perf_counter()
        first = collect_states(teacher, p.dagger_init_episodes, p.buffer_epsilon, COLLECT_SEED, p.env_id)
        initial = torch.from_numpy(first)
        nets, buffers = dagger_buffers(teacher, initial, train, len(jobs), p.dagger_rounds, p.dagger_beta, p.env_id)
        arms.append(("DAgger", buffers.shape[1], nets))
        progress.report(f"width {p.sources_width}: arms trained", stages - 1, stages)
        same = _teacher_states(teacher, buffers.shape[1], p.buffer_epsilon, p.env_id)
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
    loop = closed_loop(every, p.test_episodes, TEST_SEED, device=p.device, reference=teacher, env_id=p.env_id)
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


def run(config: SourcesStepConfig, folder: Path, upstream: dict[str, Path]) -> SourcesRecord:
    """Read the fair comparison's selected settings for this width (its step's record), then ``measure``."""
    record = read_step(upstream["fair"], "fair")
    if record is None:
        raise RuntimeError(f"{upstream['fair']}: the fair comparison of width {config.sources_width} has not finished")
    return measure(config, {name: Setting.from_json(s) for name, s in record["selected"].items()})


def unit_name(width: int) -> str:
    """A width's unit: ``w=8``, the same name as the fair comparison's step of that width."""
    return f"w={width}"


def units(config: SourcesConfig) -> Units:
    if not config.sources_widths or not config.fair_widths:
        return Units({}, reason="no widths given for the data sources")
    if config.source == "file":
        return Units({}, "source='file': the data-source comparison needs a task's teacher (env_id); skipped")
    return Units({unit_name(w): {"sources_width": w} for w in config.sources_widths})
