"""Students of a task's teachers: the teachers and their buffers, students trained on them, checkpoints picked.

What every real-task experiment does before it asks its own question:

1. ``teacher_and_buffers``: the task's teacher (``TaskParams.load_teacher``, frozen) and its own
   epsilon-greedy episodes (``rl.exploration.collect_buffers``): ``buffer_episodes`` episodes from
   ``COLLECT_SEED`` form the training buffer, the next ``held_out_episodes`` the held-out states.
   The exploration rate ``buffer_epsilon`` puts recovery states in the buffer, which a slightly
   wrong student will visit (Ross et al. 2011, "A Reduction of Imitation Learning ... to
   No-Regret Online Learning").
2. ``train_students``: one student per ``RunConfig``, all of one width, in one batched call
   (``core.training.train_batched``: per-student random streams); a seed's students share their
   initialisation (``build_student(seed)``), so objectives are compared on paired runs.

The fair comparison and the data budgets distil *several* teachers of a task (``ProtocolParams``:
the shipped teacher and its independent peers, each with its own buffer), so that what they
report varies with the teacher, not only with the student's seed:

3. ``task_teachers``: the teachers, each with a transfer set of a fixed number of environment
   steps (the first ``n`` states of its epsilon-greedy episodes, ``teacher_states``), held-out
   states, and its greedy return on the validation and test episodes;
4. ``train_settings``: students at settings (``core.objectives.Setting``: an objective with its
   learning rate and gradient steps) under any of those teachers, batched by (learning rate, steps),
   each with ``snapshots`` checkpoints; ``pick_checkpoints`` keeps, per run, the checkpoint with the
   best greedy return on the validation episodes (disjoint from the test episodes), the rule the
   DQN baseline's checkpoints follow too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.config import MAX_SEED, BatchParams, DeviceParams, RunConfig, StudentKindParams, mode_for_alpha
from ..core.networks import QNetwork, build_student
from ..core.objectives import Setting
from ..core.schema import Params, param
from ..core.training import TrainResult, to_device, train_batched
from ..records.provenance import file_sha256
from .episodes import COLLECT_SEED, HELD_OUT_SEED, TEST_SEED, VALIDATION_SEED, BufferParams, EpisodeParams
from .evaluation import closed_loop, closed_loop_returns
from .exploration import collect_buffers, collect_states, score_floor
from .policies import describe
from .tasks import load_teacher, pct_of_teacher
from .tasks import task_teachers as shipped_teachers

__all__ = [
    "Checkpointed",
    "ComparedWidths",
    "ProtocolParams",
    "TaskBufferParams",
    "TeacherData",
    "measure_runs",
    "pick_checkpoints",
    "run_numbers",
    "task_teachers",
    "teacher_and_buffers",
    "teacher_paths",
    "teacher_states",
    "train_settings",
    "train_students",
]

#: the most teachers a task ships: its teacher and three independent peers
MAX_TEACHERS = 4


@dataclass(frozen=True)
class TaskBufferParams(BufferParams, EpisodeParams):
    """The task, its teacher and how its buffers are collected: what ``teacher_and_buffers`` reads."""


@dataclass(frozen=True)
class ComparedWidths(Params):
    """The student widths of the fair comparison, which its baselines are measured at too."""

    fair_widths: list[int] = param(
        [32, 8],
        "student widths of the fair comparison and its baselines (empty: none)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )


@dataclass(frozen=True)
class ProtocolParams(StudentKindParams, BatchParams, BufferParams, EpisodeParams, DeviceParams):
    """How students of a task's teachers are trained and measured, in the fair comparison and the data budgets."""

    n_teachers: int = param(
        2,
        "teachers of the task each objective distils: the shipped one, then its independent peers (your own: 1)",
        low=1,
        high=MAX_TEACHERS,
    )
    student_seeds: list[int] = param(
        [0, 1, 2, 3, 4],
        "student seeds under each teacher at the selected settings (paired across objectives)",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )
    val_episodes: int = param(
        20, "validation episodes: they pick each objective's settings and each run's checkpoint", low=1, high=10_000
    )
    snapshots: int = param(
        3, "checkpoints of each run, evenly spaced in its gradient steps, that validation picks from", low=1, high=50
    )

    def check(self) -> None:
        super().check()
        if len(self.student_seeds) * min(self.n_teachers, len(self.teacher_files())) < 2:
            raise self.fail("student_seeds", "needs two runs or more per objective (intervals and paired tests)")
        spans = {
            "validation": (VALIDATION_SEED, VALIDATION_SEED + self.val_episodes),
            "test": (TEST_SEED, TEST_SEED + self.test_episodes),
            "held-out": (HELD_OUT_SEED, HELD_OUT_SEED + self.held_out_episodes),
        }
        for one, two in (("validation", "test"), ("held-out", "test"), ("held-out", "validation")):
            (a, b), (c, d) = spans[one], spans[two]
            if a < d and c < b:
                name = "val_episodes" if one == "validation" else "held_out_episodes"
                raise self.fail(
                    name, f"the {one} episodes' seeds {a}..{b - 1} overlap the {two} episodes' {c}..{d - 1}"
                )

    def teacher_files(self) -> list[Path]:
        """Your checkpoint, or the task's shipped teacher and its independent peers (``teacher_paths``)."""
        return teacher_paths(self)

    def setting_config(self, setting: Setting, seed: int, width: int, n_states: int, teacher_hidden: int) -> RunConfig:
        """The ``RunConfig`` of one student of ``width`` at ``setting`` on ``n_states`` states (its epochs from steps)."""
        batch = {k: v for k, v in self.to_dict().items() if k in BatchParams.specs()}
        config = RunConfig.from_params(
            {
                **batch,
                "input_dim": self.task.obs_dim,
                "output_dim": self.task.n_actions,
                "teacher_hidden": teacher_hidden,
                "student_hidden": width,
                "n_states": n_states,
                "seed": seed,
                "mode": mode_for_alpha(setting.alpha),
                "alpha": setting.alpha,
                "temperature": setting.temperature,
                "loss_fn": setting.loss_fn,
                "lr": setting.lr,
                "epochs": 1,
                "q_targets": setting.q_targets,
                "student_kind": self.student_kind,
            }
        )
        return RunConfig.from_params({**config.to_dict(), "epochs": epochs_for(setting.steps, config)})


def epochs_for(steps: int, config: RunConfig) -> int:
    """Epochs of ``config``'s split that give at least ``steps`` gradient steps (a budget in steps, whatever the
    transfer set's size: a large set does not multiply the training)."""
    per_epoch = math.ceil((config.n_states - config.n_val) / config.batch_size)
    return max(1, math.ceil(steps / per_epoch))


def teacher_paths(p: EpisodeParams, n: int = MAX_TEACHERS) -> list[Path]:
    """The teachers of ``p``'s task: your checkpoint alone, or the shipped teacher then its independent peers
    (``assets/<task>/independent/seed*.pt``, by seed), at most ``n``."""
    if p.teacher_checkpoint is not None:
        return [p.teacher_path]
    return shipped_teachers(p.env_id)[:n]


def teacher_and_buffers(p: TaskBufferParams) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The task's teacher (frozen) and its training and held-out states, ``(N, D)`` and ``(M, D)``."""
    teacher = p.load_teacher()
    train_states, held_out = collect_buffers(
        teacher, p.buffer_episodes, p.held_out_episodes, p.buffer_epsilon, COLLECT_SEED, p.env_id
    )
    return teacher, torch.from_numpy(train_states), torch.from_numpy(held_out)


def teacher_states(teacher: nn.Module, n_steps: int, epsilon: float, env_id: str) -> torch.Tensor:
    """The first ``n_steps`` states of the teacher's epsilon-greedy episodes from ``COLLECT_SEED``, ``(n, D)``: a
    transfer set of ``n_steps`` environment steps (a smaller set is a prefix of a larger one)."""
    episodes = max(1, n_steps // 500)
    while True:
        states = collect_states(teacher, episodes, epsilon, COLLECT_SEED, env_id)
        if len(states) >= n_steps:
            return torch.from_numpy(np.ascontiguousarray(states[:n_steps]))
        episodes *= 2


@dataclass
class TeacherData:
    """One teacher of the task with what its students are trained and measured on."""

    index: int
    path: Path
    net: nn.Module
    states: torch.Tensor  # (N, D) the transfer set
    held_out: torch.Tensor  # (M, D) held-out states (other episodes)
    q_held: torch.Tensor  # (M, A) the teacher's Q-values there
    val_return: float  # mean greedy return on the validation episodes
    test_return: float
    val_floor: float  # 0% of the return scale on those episodes (rl.exploration.score_floor)
    test_floor: float

    @property
    def hidden(self) -> int:
        hidden = describe(self.net).hidden
        return int(hidden[0]) if hidden else 0

    def describe(self) -> dict[str, object]:
        desc = describe(self.net)
        return {"index": self.index, "file": self.path.name, "sha256": file_sha256(self.path), "format": desc.format,
                "layers": desc.layers, "hidden": desc.width, "val_return": self.val_return,
                "test_return": self.test_return, "val_floor": self.val_floor, "test_floor": self.test_floor,
                "transfer_states": len(self.states), "held_out_states": len(self.held_out)}  # fmt: skip


def task_teachers(p: ProtocolParams, transfer_steps: int) -> list[TeacherData]:
    """The first ``n_teachers`` teachers of the task, each with a transfer set of ``transfer_steps`` environment
    steps, its held-out states (episodes from ``HELD_OUT_SEED``) and its return on validation and test episodes."""
    out = []
    paths = p.teacher_files()[: p.n_teachers]
    nets = [load_teacher(p.env_id, path) for path in paths]
    val = closed_loop_returns(nets, p.val_episodes, VALIDATION_SEED, env_id=p.env_id).mean(1)
    test = closed_loop_returns(nets, p.test_episodes, TEST_SEED, env_id=p.env_id).mean(1)
    val_floor = score_floor(p.env_id, p.val_episodes, VALIDATION_SEED)
    test_floor = score_floor(p.env_id, p.test_episodes, TEST_SEED)
    for i, (path, net) in enumerate(zip(paths, nets, strict=True)):
        states = teacher_states(net, transfer_steps, p.buffer_epsilon, p.env_id)
        held = torch.from_numpy(collect_states(net, p.held_out_episodes, p.buffer_epsilon, HELD_OUT_SEED, p.env_id))
        with torch.no_grad():
            q_held = net(held)
        out.append(TeacherData(i, path, net, states, held, q_held, float(val[i]), float(test[i]), val_floor,
                               test_floor))  # fmt: skip
    return out


@dataclass
class Checkpointed:
    """One trained run: its setting, teacher and seed, and every checkpoint (networks in eval mode, last = final)."""

    setting: Setting
    teacher: int
    seed: int
    result: TrainResult
    checkpoints: list[nn.Module]
    steps: int  # gradient steps taken (epochs x batches per epoch)
    chosen: int = -1  # the checkpoint validation picked (index into ``checkpoints``)
    val_returns: list[float] | None = None  # greedy return of each checkpoint on the validation episodes

    @property
    def net(self) -> nn.Module:
        return self.checkpoints[self.chosen]


def _snapshot_epochs(epochs: int, k: int) -> list[int]:
    """``k`` epochs (0-based) evenly spaced over ``epochs``, the last one last (fewer when there are fewer epochs)."""
    return sorted({max(0, round(epochs * (j + 1) / k) - 1) for j in range(k)})


def train_settings(
    p: ProtocolParams,
    teachers: list[TeacherData],
    jobs: list[tuple[Setting, int, int]],
    width: int,
    states: list[torch.Tensor] | None = None,
) -> list[Checkpointed]:
    """Train one student per ``(setting, teacher index, seed)`` on that teacher's transfer set (or ``states[job]``).

    Students of one (learning rate, gradient steps, transfer-set size) are trained in one batched call
    whatever their objective and teacher (per-student teachers and states); a seed's students share
    their initialisation. Each run keeps ``p.snapshots`` checkpoints.
    """
    groups: dict[tuple[float, int, int], list[int]] = defaultdict(list)
    for j, (setting, t, _) in enumerate(jobs):
        size = len(states[j] if states is not None else teachers[t].states)
        groups[(setting.lr, setting.steps, size)].append(j)
    out: list[Checkpointed | None] = [None] * len(jobs)
    for idx in groups.values():
        data = [states[j] if states is not None else teachers[jobs[j][1]].states for j in idx]
        n_states = len(data[0])
        configs = [
            p.setting_config(jobs[j][0], jobs[j][2], width, n_states, teachers[jobs[j][1]].hidden or p.teacher_width)
            for j in idx
        ]
        d, a = p.task.obs_dim, p.task.n_actions
        students = [
            build_student(c.seed, d, c.teacher_hidden, a, hidden_dim=width, kind=c.student_kind) for c in configs
        ]
        nets = [teachers[jobs[j][1]].net for j in idx]
        snaps = _snapshot_epochs(configs[0].epochs, p.snapshots)
        stacked = torch.stack(data)  # (S, N, D)
        moved, x = to_device(nets, stacked, p.device)
        kwargs = {"snapshot_epochs": snaps[:-1]} if p.snapshots > 1 else {}
        results = train_batched(moved, x, students, configs, **kwargs)
        per_epoch = math.ceil((n_states - configs[0].n_val) / configs[0].batch_size)
        for j, config, result in zip(idx, configs, results, strict=True):
            states_of = [result.snapshots[e] for e in snaps[:-1]] if p.snapshots > 1 else []
            checkpoints = [_network(s, config) for s in [*states_of, result.final_state]]
            out[j] = Checkpointed(jobs[j][0], jobs[j][1], jobs[j][2], result, checkpoints, config.epochs * per_epoch)
    return out  # type: ignore[return-value]


def _network(state: dict[str, torch.Tensor], config: RunConfig) -> nn.Module:
    """A trained student of ``config``'s kind and width holding ``state``, in eval mode."""
    net = build_student(0, config.input_dim, config.teacher_hidden, config.output_dim, config.student_width,
                        kind=config.student_kind)  # fmt: skip
    net.load_state_dict(state)
    return net.eval()


def pick_checkpoints(p: ProtocolParams, teachers: list[TeacherData], runs: list[Checkpointed]) -> None:
    """Each run's checkpoint with the best greedy return on the validation episodes (ties: the later one).

    Sets ``chosen`` and ``val_returns`` (the returns as % of the run's teacher's on the same episodes).
    """
    every = [net for run in runs for net in run.checkpoints]
    returns = closed_loop_returns(every, p.val_episodes, VALIDATION_SEED, device=p.device, env_id=p.env_id).mean(1)
    k = 0
    for run in runs:
        t = teachers[run.teacher]
        pcts = [pct_of_teacher(float(r), t.val_return, t.val_floor) for r in returns[k : k + len(run.checkpoints)]]
        k += len(run.checkpoints)
        run.val_returns = pcts
        run.chosen = max(range(len(pcts)), key=lambda i: (pcts[i], i))


def measure_runs(p: ProtocolParams, teachers: list[TeacherData], runs: list[Checkpointed]) -> list[dict[str, object]]:
    """Each run's chosen checkpoint on the test episodes, against its own teacher: return (and % of the teacher's
    from the floor), agreement on the states the network visits itself, and fidelity on the held-out states."""
    from ..core.metrics import fidelity_metrics

    out: list[dict[str, object] | None] = [None] * len(runs)
    for t in teachers:
        idx = [i for i, run in enumerate(runs) if run.teacher == t.index]
        if not idx:
            continue
        loop = closed_loop([runs[i].net for i in idx], p.test_episodes, TEST_SEED, device=p.device, reference=t.net,
                           env_id=p.env_id)  # fmt: skip
        for i, returns, own in zip(idx, loop.returns, loop.agreement, strict=True):
            with torch.no_grad():
                held = {k: v.item() for k, v in fidelity_metrics(runs[i].net(t.held_out), t.q_held).items()}
            mean = float(returns.mean())
            out[i] = {"return_mean": mean, "return_pct": pct_of_teacher(mean, t.test_return, t.test_floor),
                      "own_agreement": float(own), "held_out": held}  # fmt: skip
    return out  # type: ignore[return-value]


def run_numbers(run: Checkpointed, measured: dict[str, Any]) -> dict[str, Any]:
    """What every experiment's record keeps of an evaluated run (``measure_runs``' entry for it): teacher, seed,
    gradient steps, the chosen checkpoint and its validation return, the test return, and the agreements."""
    return {
        "teacher": run.teacher,
        "seed": run.seed,
        "steps": run.steps,
        "checkpoint": run.chosen,
        "val_pct": (run.val_returns or [])[run.chosen],
        **{k: measured[k] for k in ("return_mean", "return_pct", "held_out", "own_agreement")},
    }


def train_students(
    teacher: nn.Module, states: torch.Tensor, configs: list[RunConfig], device: str
) -> tuple[list[TrainResult], list[QNetwork]]:
    """One student per config, all of one width, in one batched call; a seed's students share their
    initialisation (``build_student(seed)``). Returns the results and the final students in eval mode.

    The teacher is any module from states to Q-values (``rl.policies``): its state and action counts
    come from its description, the students' width and kind from the configs."""
    desc = describe(teacher)
    width, d, a, kind = configs[0].student_width, desc.input_dim, desc.output_dim, configs[0].student_kind
    initial = {c.seed: build_student(c.seed, d, c.teacher_hidden, a, hidden_dim=width, kind=kind) for c in configs}
    results = train_batched(*to_device(teacher, states, device), [initial[c.seed] for c in configs], configs)
    return results, [_network(r.final_state, r.config) for r in results]
