"""The world every objective shares, made once: not a question of its own but the study's first step.

The comparison and the training seeds read its folder (``reads``). ``source`` says where
teacher and states come from (``rl.worlds``: a synthetic world, a task's teacher and its
episodes, or your files); the student's initial weights are saved too, so every mode
starts from the same ones (``core.data.World``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.data import World
from ...records.record import Record
from ...rl.worlds import WorldParams, build_world
from ..base import NOTEBOOK_DIR, Experiment

__all__ = ["EXPERIMENT", "WorldRecord", "load_world"]


@dataclass(frozen=True)
class WorldRecord(Record):
    """What the world step made (its files are in the step folder)."""

    source: str
    n_states: int
    input_dim: int
    output_dim: int
    teacher_hidden: int
    student_width: int


def run(config: WorldParams, folder: Path) -> WorldRecord:
    """Build teacher, states and the student's initialisation; save all three to ``folder``."""
    world = build_world(config)
    world.save(folder)
    d, h, a = world.sizes
    return WorldRecord(config.source, len(world.states), d, a, h, config.student_width)


def load_world(folder: Path, record: WorldRecord, config: WorldParams) -> World:
    """The world a finished world step saved into ``folder``."""
    sizes = (record.input_dim, record.teacher_hidden, record.output_dim)
    return World.load(Path(folder), sizes, config.seed, config.student_hidden)


EXPERIMENT: Experiment[WorldRecord] = Experiment(
    name="world",
    title="The world: teacher, states and the student's starting point",
    notebook=NOTEBOOK_DIR / "01_world.ipynb",
    params=WorldParams,
    record=WorldRecord,
    run=run,
    summarize=lambda config, records: None,
    section=None,
    inputs=lambda config: config.inputs(),
    cost=5.0,
)
