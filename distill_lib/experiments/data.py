"""The world every objective shares: the teacher, the state buffer and the student's starting weights.

Not a question of its own but the first step of the study: the comparison and the
training seeds read its folder. ``source`` says where teacher and states come from:

- ``synthetic``: a seeded random teacher (``networks.build_teacher(seed, ...)``) and seeded
  Gaussian states (``core.data.synthetic_states``), exactly as the original comparison;
- ``cartpole``: the shipped CartPole DQN teacher and its own epsilon-greedy episodes
  (``rl.cartpole.collect_states``), so ``n_states`` is the buffer's size;
- ``file``: the user's ``.npy`` states and teacher checkpoint (loaded weights-only).

The student's initial weights (``build_student(seed, ...)``) are saved too: every mode
starts from the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from ..core.config import SeedParams, SizeParams, TeacherFileParams, student_hidden_dim
from ..core.data import (
    check_teacher_outputs,
    load_state_dict,
    load_states,
    load_teacher,
    save_checkpoint,
    save_states,
    synthetic_states,
)
from ..core.networks import QNetwork, build_student, build_teacher
from ..core.schema import Params, param
from ..records.record import Record
from ..rl.cartpole import ASSET_DIR, COLLECT_SEED, BufferParams, collect_states, load_cartpole_teacher
from .base import NOTEBOOK_DIR, Experiment, load_step, step_folder

__all__ = [
    "EXPERIMENT",
    "SOURCES",
    "DataConfig",
    "SourceParams",
    "TaskSourceParams",
    "World",
    "WorldRecord",
    "load_world",
    "world_folder",
]

#: where teacher and states can come from
SOURCES = ("synthetic", "cartpole", "file")
#: the teacher architecture of ``source="cartpole"``: (input_dim, output_dim, teacher_hidden)
CARTPOLE_SIZES = {"input_dim": 4, "output_dim": 2, "teacher_hidden": 64}
CARTPOLE_TEACHER = ASSET_DIR / "teacher.pt"


@dataclass(frozen=True)
class SourceParams(Params):
    """Where the study's teacher and states come from."""

    source: str = param(
        "synthetic",
        "where states and teacher come from: synthetic, cartpole (the shipped teacher) or file",
        choices=SOURCES,
    )


@dataclass(frozen=True)
class TaskSourceParams(SourceParams):
    """A real-task experiment's study parameters: with ``source='file'`` it is skipped, and the
    ``teacher_checkpoint`` is the synthetic-style comparison's teacher, not checked against ``env_id``."""

    def checkpoint_is_task_teacher(self) -> bool:
        return self.source != "file"


@dataclass(frozen=True)
class DataConfig(SourceParams, BufferParams, TeacherFileParams, SizeParams, SeedParams):
    """What makes the world: its source, seed and sizes."""

    states_file: str | None = param(None, "a .npy state buffer (n_states, input_dim) (source: file)", path=True)

    def check(self) -> None:
        super().check()
        if self.source == "cartpole":
            for name, want in CARTPOLE_SIZES.items():
                if getattr(self, name) != want:
                    raise self.fail(
                        name,
                        "source='cartpole' needs input_dim=4, output_dim=2, teacher_hidden=64 (the shipped "
                        "teacher); add -f params/cartpole.yaml",
                    )
        if self.source == "file":
            for name in ("states_file", "teacher_checkpoint"):
                if not getattr(self, name):
                    raise self.fail(name, "is required with source='file'")


@dataclass(frozen=True)
class WorldRecord(Record):
    """What the data step made (its files are in the step folder)."""

    source: str
    n_states: int
    input_dim: int
    output_dim: int
    teacher_hidden: int
    student_width: int


@dataclass
class World:
    """Teacher, state buffer and the student's initial weights: what every mode shares."""

    teacher: QNetwork
    states: np.ndarray  # (N, input_dim) float32
    student_init: dict[str, torch.Tensor]
    record: WorldRecord
    seed: int

    def new_student(self) -> QNetwork:
        """A fresh student holding the shared initial weights."""
        r = self.record
        student = build_student(self.seed, r.input_dim, r.teacher_hidden, r.output_dim, r.student_width)
        student.load_state_dict(self.student_init)
        return student


def cartpole_states(episodes: int, epsilon: float) -> np.ndarray:
    """The shipped CartPole teacher's own epsilon-greedy states (``rl.cartpole.collect_states``)."""
    return collect_states(load_cartpole_teacher(), episodes, epsilon, COLLECT_SEED)


def resolve(params: dict[str, Any]) -> dict[str, Any]:
    """Check the user's files (or collect the CartPole buffer) and set ``n_states`` to the buffer's size."""
    config = DataConfig.from_params({**params, "n_states": params.get("n_states", 2)})
    if config.source == "file":
        states = load_states(config.states_file, config.input_dim)
        if len(states) < 2:
            raise ValueError(f"states_file={config.states_file!r}: {len(states)} state(s); at least 2 are needed")
        teacher = load_teacher(config.teacher_checkpoint, config.input_dim, config.teacher_hidden, config.output_dim)
        check_teacher_outputs(teacher, states, f"teacher_checkpoint={config.teacher_checkpoint!r}")
        return {**params, "n_states": len(states)}
    if config.source == "cartpole":
        return {**params, "n_states": len(cartpole_states(config.cartpole_episodes, config.cartpole_epsilon))}
    return params


def inputs(config: DataConfig) -> list[Path]:
    """The files whose content decides the world."""
    if config.source == "file":
        return [Path(config.states_file), Path(config.teacher_checkpoint)]  # type: ignore[arg-type]
    return [CARTPOLE_TEACHER] if config.source == "cartpole" else []


def run(config: DataConfig, folder: Path) -> WorldRecord:
    """Build (or load) teacher and states, initialise the student, save all three to ``folder``."""
    c = config
    if c.source == "synthetic":
        teacher = build_teacher(c.seed, c.input_dim, c.teacher_hidden, c.output_dim)
        states = synthetic_states(c.seed, c.n_states, c.input_dim)
    elif c.source == "cartpole":
        teacher = load_cartpole_teacher(CARTPOLE_TEACHER)
        states = cartpole_states(c.cartpole_episodes, c.cartpole_epsilon)
    else:
        states = load_states(c.states_file, c.input_dim)
        teacher = load_teacher(c.teacher_checkpoint, c.input_dim, c.teacher_hidden, c.output_dim)
    if len(states) != c.n_states:
        raise ValueError(f"n_states={c.n_states}: the {c.source} buffer has {len(states)} states")
    student = build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim, c.student_hidden)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "teacher.pt", teacher.state_dict())
    save_states(folder / "states.npy", states)
    save_checkpoint(folder / "student_init.pt", student.state_dict())
    width = student_hidden_dim(c.teacher_hidden, c.student_hidden)
    return WorldRecord(c.source, len(states), c.input_dim, c.output_dim, c.teacher_hidden, width)


def world_folder(work_dir: str | Path, params: dict[str, Any]) -> Path:
    """The data step's folder for these parameters (any mapping holding the data parameters)."""
    return step_folder(work_dir, EXPERIMENT, "data", params)


def load_world(work_dir: str | Path, params: dict[str, Any]) -> World:
    """The world the data step made for these parameters (its files checked against their hashes)."""
    folder = world_folder(work_dir, params)
    record = load_step(folder, EXPERIMENT)
    if record is None:
        raise ValueError(
            f"no finished data step in {str(folder)!r}: run the data notebook (01_data) with the same parameters first"
        )
    teacher = load_teacher(folder / "teacher.pt", record.input_dim, record.teacher_hidden, record.output_dim)
    states = np.load(folder / "states.npy", allow_pickle=False)
    init = load_state_dict(folder / "student_init.pt", label="student_init")
    return World(teacher, states, init, record, int(params["seed"]))


def action_gaps(q_values: np.ndarray) -> np.ndarray:
    """Per-state gap between the teacher's two largest Q-values ``(N,)``: small means a near-tie."""
    top2 = np.sort(q_values, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def teacher_overview(q_values: np.ndarray) -> Figure:
    """The teacher's greedy-action frequencies and the histogram of its action gap; ``q_values`` ``(N, A)``."""
    actions = q_values.argmax(1)
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    counts = np.bincount(actions, minlength=q_values.shape[1]) / len(actions)
    ax1.bar(np.arange(len(counts)), counts, color="#666666")
    ax1.set(xlabel="action", ylabel="share of states", title="Teacher's greedy action", xticks=np.arange(len(counts)))
    ax2.hist(action_gaps(q_values), bins=50, color="#666666")
    ax2.set(xlabel="Q(best) - Q(second best)", ylabel="states", title="Teacher's action gap")
    return fig


EXPERIMENT: Experiment[WorldRecord] = Experiment(
    name="data",
    title="The world: teacher, states and the student's starting point",
    notebook=NOTEBOOK_DIR / "01_data.ipynb",
    params=DataConfig,
    record=WorldRecord,
    run=run,
    summarize=lambda config, records: None,
    section=None,
    inputs=inputs,
    resolve=resolve,
)
