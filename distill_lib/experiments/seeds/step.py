"""Beyond one seed: the step that trains every objective over many seeds, all students in one batch.

Two kinds of variation, labelled everywhere they are reported:

- *world* seeds: teacher, states, student initialisation and training all change, derived
  from one base seed as the reference protocol derives them (``seed`` and its offsets);
- *training* seeds: the study's teacher and states (the world step's world) stay; only the
  student's initialisation and training stream change.

All seeds x modes are trained by ``core.training.train_batched``, which draws its
randomness per student (per-student random streams), not from torch's global RNG as the
seed-compatible path does; the seed-42 reference table stays on the seed-compatible path.
Per run the record keeps the final metrics, the best epoch and loss, and agreement and
regret per bin of the teacher's action gap on the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...core import progress
from ...core.config import MAX_SEED, DeviceParams, ModesParams, ObjectiveParams, RunConfig, ScheduleParams
from ...core.data import World, synthetic_world
from ...core.networks import QNetwork, build_student
from ...core.schema import param
from ...core.training import to_device, train_batched
from ...records.record import Record
from ...report.gaps import agreement_by_gap_bin
from ...rl.worlds import WorldParams
from ..base import Units

__all__ = ["SEED_KINDS", "SeedKind", "SeedRun", "SeedsConfig", "SeedsRecord", "run", "run_seeds", "units"]

SEED_KINDS = ("world", "training")


@dataclass(frozen=True)
class SeedsConfig(DeviceParams, ModesParams, ScheduleParams, ObjectiveParams, WorldParams):
    """The seed lists (an empty list turns that kind off) and the action-gap bins."""

    world_seeds: list[int] = param(
        list(range(20)),
        "world seeds of the multi-seed section: teacher, states, init and training all change",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )
    training_seeds: list[int] = param(
        list(range(10)),
        "training seeds: the study's teacher and states, other student init and training",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )
    n_bins: int = param(5, "action-gap quantile bins for the where-do-students-disagree analysis", low=1)

    def check(self) -> None:
        super().check()
        for name in ("world_seeds", "training_seeds"):
            if len(getattr(self, name)) == 1:
                raise self.fail(name, "a confidence interval needs at least 2 seeds (or [] to skip)")
        n_val = RunConfig.from_params({**self.to_dict(), "mode": "hard_only", "alpha": 0.0}).n_val
        if self.n_bins > n_val:
            raise self.fail(
                "n_bins",
                f"must be in [1, {n_val}]: the action-gap bins split the validation states, and "
                f"n_states={self.n_states} x val_fraction={self.val_fraction:g} gives {n_val}",
            )

    def base(self) -> RunConfig:
        """The run config every seed's students share (seed, mode and alpha are set per student)."""
        return RunConfig.from_params({**self.to_dict(), "mode": "blended", "alpha": 0.7})


@dataclass(frozen=True)
class GapBin(Record):
    """Agreement and regret in one quantile bin of the teacher's action gap."""

    bin: int
    gap_low: float
    gap_high: float
    n: int
    agreement: float
    mean_regret: float


@dataclass(frozen=True)
class SeedRun(Record):
    """One (seed, mode) student: final metrics, best epoch and loss, action-gap bins."""

    seed: int
    mode: str
    alpha: float
    final: dict[str, int | float]
    best_val_loss: float
    best_epoch: int
    gap_bins: list[GapBin]


@dataclass(frozen=True)
class SeedKind(Record):
    """Every student of one kind of seed (``world`` or ``training``)."""

    kind: str
    seeds: list[int]
    modes: dict[str, float]
    base: RunConfig
    n_bins: int
    protocol: str
    runs: list[SeedRun]

    def ordered_modes(self) -> list[str]:
        """The modes by increasing alpha."""
        return sorted(self.modes, key=lambda m: self.modes[m])

    def values(self, mode: str, metric: str) -> np.ndarray:
        """Per-seed values of ``metric`` for ``mode``, in seed order."""
        by_seed = {r.seed: r.final[metric] for r in self.runs if r.mode == mode}
        return np.array([by_seed[s] for s in self.seeds])


@dataclass(frozen=True)
class SeedsRecord(Record):
    """The step's record: each kind that ran."""

    modes: dict[str, float]
    sections: dict[str, SeedKind]


def _gap_bins(
    final_state: dict[str, torch.Tensor],
    val_idx: np.ndarray,
    teacher: Any,
    states: torch.Tensor,
    config: RunConfig,
    n_bins: int,
) -> list[GapBin]:
    probe = QNetwork(config.input_dim, config.student_width, config.output_dim, 0.05)
    probe.load_state_dict(final_state)
    probe.eval()
    x_val = states[torch.as_tensor(val_idx)]
    with torch.no_grad():
        return [GapBin(**b) for b in agreement_by_gap_bin(probe(x_val), teacher(x_val), n_bins)]


def run_seeds(
    kind: str,
    seeds: list[int],
    modes: dict[str, float],
    base: RunConfig,
    world: Any | None = None,
    n_bins: int = 5,
    device: str = "cpu",
) -> SeedKind:
    """Train every (seed, mode) student in one batch.

    ``modes``: mode name -> alpha. ``base`` gives every other run parameter. For
    ``kind="training"``, ``world`` is the data step's ``core.data.World`` (teacher, states).
    """
    if kind not in SEED_KINDS:
        raise ValueError(f"seed_kind={kind!r}: must be one of {', '.join(SEED_KINDS)}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r}: give at least one seed, each once")
    if kind == "training" and world is None:
        raise ValueError("training seeds need the study's world (the world step's teacher and states)")
    teachers, states, students, configs = [], [], [], []
    for seed in seeds:
        if kind == "world":
            teacher, x, student = synthetic_world(seed, base)
        else:
            teacher, x = world.teacher, world.states
            student = build_student(seed, base.input_dim, base.teacher_hidden, base.output_dim, base.student_hidden)
        for mode, alpha in modes.items():
            configs.append(
                RunConfig.from_params(
                    {**base.to_dict(), "seed": seed, "mode": mode, "alpha": alpha, "n_states": len(x)}
                )
            )
            teachers.append(teacher)
            states.append(torch.from_numpy(np.asarray(x)))
            students.append(student)
    shared = kind == "training"
    on, x_on = to_device(teachers[0] if shared else teachers, states[0] if shared else torch.stack(states), device)
    results = train_batched(on, x_on, students, configs)
    runs = [
        SeedRun(
            seed=cfg.seed,
            mode=cfg.mode,
            alpha=cfg.alpha,
            final=result.final,
            best_val_loss=result.best_val_loss,
            best_epoch=result.best_epoch,
            gap_bins=_gap_bins(result.final_state, result.val_idx, teacher, x, cfg, n_bins),
        )
        for cfg, result, teacher, x in zip(configs, results, teachers, states, strict=True)
    ]
    protocol = "per-student random streams (distill_lib.core.streams)"
    return SeedKind(kind, list(seeds), dict(modes), base, n_bins, protocol, runs)


def run(config: SeedsConfig, folder: Path, upstream: dict[str, Path]) -> SeedsRecord:
    """Every kind of seed that is given, each in one batch (the step of notebook 04)."""
    modes = config.mode_alphas()
    sections = {}
    kinds = [k for k, seeds in (("world", config.world_seeds), ("training", config.training_seeds)) if seeds]
    progress.report("kinds of seeds trained", 0, len(kinds))
    if config.world_seeds:
        sections["world"] = run_seeds(
            "world", config.world_seeds, modes, config.base(), n_bins=config.n_bins, device=config.device
        )
    if config.training_seeds:
        sizes = (config.input_dim, config.teacher_hidden, config.output_dim)
        world = World.load(upstream["world"], sizes, config.seed, config.student_hidden)
        progress.report("kinds of seeds trained", len(sections), len(kinds))
        sections["training"] = run_seeds(
            "training",
            config.training_seeds,
            modes,
            config.base(),
            world=world,
            n_bins=config.n_bins,
            device=config.device,
        )
    progress.report("kinds of seeds trained", len(kinds), len(kinds))
    return SeedsRecord(modes, sections)


def units(config: SeedsConfig) -> Units:
    """One step; world seeds need synthetic worlds, so another source leaves only training seeds."""
    overrides: dict[str, Any] = {}
    note = ""
    if config.world_seeds and config.source != "synthetic":
        overrides["world_seeds"] = []
        note = f"source={config.source!r}: world seeds make their own synthetic teachers, so they are skipped"
    if not (overrides.get("world_seeds", config.world_seeds) or config.training_seeds):
        return Units({}, note, "no world or training seeds given")
    return Units({"seeds": overrides}, note)
