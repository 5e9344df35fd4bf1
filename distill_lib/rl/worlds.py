"""The study's world: where its teacher and states come from (a synthetic world, a task's teacher, or your files).

``source`` chooses (``WorldParams``):

- ``synthetic``: a seeded random teacher (``networks.build_teacher(seed, ...)``) and seeded
  Gaussian states (``core.data.synthetic_states``), exactly as the original comparison;
- ``task``: the task's teacher (``env_id``: its shipped DQN, or your ``teacher_checkpoint``)
  and its own epsilon-greedy episodes (``rl.exploration.collect_states``), so the buffer's size
  is ``n_states``;
- ``file``: your ``.npy`` states and teacher checkpoint (loaded weights-only).

The student's initial weights (``build_student(seed, ...)``) complete the world
(``core.data.World``): every mode starts from the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.config import SeedParams, SizeParams, student_hidden_dim
from ..core.data import World, check_teacher_outputs, load_states, load_teacher, synthetic_states
from ..core.networks import build_student, build_teacher
from ..core.schema import ParamError, Params, param
from .episodes import COLLECT_SEED, BufferParams
from .exploration import collect_states
from .policies import describe
from .tasks import TaskParams

__all__ = ["SOURCES", "SourceParams", "TaskSourceParams", "WorldParams", "build_world"]

#: where teacher and states can come from
SOURCES = ("synthetic", "task", "file")


@dataclass(frozen=True)
class SourceParams(Params):
    """Where the study's teacher and states come from."""

    source: str = param(
        "synthetic",
        "where states and teacher come from: synthetic, task (env_id's teacher and its episodes) or file",
        choices=SOURCES,
    )


@dataclass(frozen=True)
class TaskSourceParams(SourceParams, TaskParams):
    """A real-task experiment's study parameters: with ``source='file'`` it is skipped, and the
    ``teacher_checkpoint`` is the synthetic-style comparison's teacher, not checked against ``env_id``."""

    def checkpoint_is_task_teacher(self) -> bool:
        return self.source != "file"


@dataclass(frozen=True)
class WorldParams(TaskSourceParams, BufferParams, SizeParams, SeedParams):
    """What makes the world: its source, seed and sizes."""

    states_file: str | None = param(None, "a .npy state buffer (n_states, input_dim) (source: file)", path=True)

    def check(self) -> None:
        super().check()
        if self.source == "task":
            t = self.task
            want = {"input_dim": t.obs_dim, "output_dim": t.n_actions, "teacher_hidden": self.teacher_width}
            for name, value in want.items():
                if getattr(self, name) != value:
                    raise self.fail(
                        name,
                        f"source='task' takes the sizes of {self.env_id}'s teacher: input_dim={t.obs_dim}, "
                        f"output_dim={t.n_actions}, teacher_hidden={self.teacher_width} (CartPole: add -f "
                        "params/cartpole.yaml)",
                    )
        if self.source == "file":
            for name in ("states_file", "teacher_checkpoint"):
                if not getattr(self, name):
                    raise self.fail(name, "is required with source='file'")

    def check_files(self) -> None:
        """Your states and teacher must be readable, of the configured sizes and finite, before anything runs."""
        super().check_files()
        if self.source == "task" and self.teacher_checkpoint is not None:
            self._check_world_teacher()
        if self.source != "file":
            return
        try:
            states = load_states(self.states_file, self.input_dim)
            if len(states) < 2:
                raise ValueError(f"states_file={self.states_file!r}: {len(states)} state(s); at least 2 are needed")
            teacher = load_teacher(self.teacher_checkpoint, self.input_dim, self.teacher_hidden, self.output_dim)
            check_teacher_outputs(teacher, states, f"teacher_checkpoint={self.teacher_checkpoint!r}")
        except ValueError as err:
            raise ParamError(str(err).splitlines()[0]) from None

    def _check_world_teacher(self) -> None:
        """With ``source='task'`` your teacher is saved into the world (``World``), which holds this project's
        ``QNetwork(input_dim, teacher_hidden, output_dim)``: any other form is studied by the real-task parts."""
        desc = describe(self.load_teacher())
        if desc.format != "qnetwork" or desc.hidden != (self.teacher_hidden,) * 2:
            raise ParamError(
                f"teacher_checkpoint: source='task' puts your teacher into the comparison's world, a QNetwork of "
                f"teacher_hidden={self.teacher_hidden}; {self.teacher_checkpoint} is {desc} (set teacher_hidden to "
                "its width if it is a QNetwork; any other teacher is studied by the real-task parts, source synthetic)"
            )

    def inputs(self) -> list[Path]:
        """The files whose content decides the world."""
        if self.source == "file":
            return [Path(self.states_file), Path(self.teacher_checkpoint)]  # type: ignore[arg-type]
        return [self.teacher_path] if self.source == "task" else []

    @property
    def student_width(self) -> int:
        return student_hidden_dim(self.teacher_hidden, self.student_hidden)


def build_world(c: WorldParams) -> World:
    """Build (or load) teacher and states, and initialise the student."""
    if c.source == "synthetic":
        teacher = build_teacher(c.seed, c.input_dim, c.teacher_hidden, c.output_dim)
        states = synthetic_states(c.seed, c.n_states, c.input_dim)
    elif c.source == "task":
        teacher = c.load_teacher()
        states = collect_states(teacher, c.buffer_episodes, c.buffer_epsilon, COLLECT_SEED, c.env_id)
    else:
        states = load_states(c.states_file, c.input_dim)
        teacher = load_teacher(c.teacher_checkpoint, c.input_dim, c.teacher_hidden, c.output_dim)
    if len(states) < 2:
        raise ValueError(f"the {c.source} buffer has {len(states)} state(s); at least 2 are needed")
    student = build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim, c.student_hidden)
    return World(teacher, states, student.state_dict(), c.seed, c.student_hidden)
