"""What a call of the training loop (``training.train``) accepts, checked before it starts.

Each check raises ``ValueError`` with one line that names the argument and says how to fix
it: the execution (``streams``, ``stacked``), the students (a ``networks.QNetwork`` or
``PlainQNetwork`` of the config's kind and sizes; one kind and width per stacked call), the
configs (the fields in ``SHARED_FIELDS`` agree within a call), the states and the teachers
(shapes, devices), and the epochs to snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .networks import student_kind

__all__ = ["SHARED_FIELDS", "check_call", "check_snapshots"]

#: the keys shared by every run of one stacked call (the rest may differ per student)
SHARED_FIELDS = (
    "input_dim", "output_dim", "n_states", "epochs", "batch_size", "lr", "val_fraction", "student_width", "student_kind"
)  # fmt: skip


def _check_student(student: nn.Module, config: RunConfig, i: int) -> None:
    kind = student_kind(student)
    if kind is None:
        raise ValueError(
            f"students[{i}] is a {type(student).__name__}; expected a networks.QNetwork or PlainQNetwork (build_student)"
        )
    if kind != config.student_kind:
        raise ValueError(
            f"students[{i}] is a {type(student).__name__} ({kind}); configs[{i}] has student_kind="
            f"{config.student_kind!r} (build_student(..., kind=config.student_kind))"
        )
    dims = (student.input_dim, student.hidden_dim, student.output_dim)
    want = (config.input_dim, config.student_width, config.output_dim)
    if dims != want:
        raise ValueError(
            f"students[{i}] has (input, hidden, output) = {dims}; configs[{i}] expects {want} "
            "(set RunConfig.student_hidden to the student's width)"
        )


def check_call(
    teachers: nn.Module | Sequence[nn.Module],
    states: torch.Tensor,
    students: Sequence[nn.Module],
    configs: Sequence[RunConfig],
    streams: str,
    stacked: bool,
) -> list[nn.Module]:
    """Validate a call of ``train``; returns the teachers as a list (length 1 or S)."""
    if streams not in ("global", "per_student"):
        raise ValueError(f"streams={streams!r}: must be 'global' or 'per_student'")
    if streams == "global" and stacked:
        raise ValueError("streams='global' draws dropout inside nn.Dropout, one student at a time: use stacked=False")
    if len(configs) == 0:
        raise ValueError("configs is empty; pass one RunConfig per student (at least one)")
    if len(students) != len(configs):
        raise ValueError(f"len(students)={len(students)} != len(configs)={len(configs)}; pass one student per config")
    if not stacked and len(configs) != 1:
        raise ValueError(
            f"{len(configs)} students with stacked=False; a module student trains alone (use stacked=True)"
        )
    for i, config in enumerate(configs):
        if not isinstance(config, RunConfig):
            raise ValueError(f"configs[{i}] is a {type(config).__name__}; expected a RunConfig")
    for name in SHARED_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(
                f"{name} differs between configs ({sorted(values)}); one batched call needs one {name} "
                "(group the runs by it and make one call per group)"
            )
    for i, (student, config) in enumerate(zip(students, configs)):
        kind = student_kind(student)
        if kind is not None and kind != config.student_kind:  # any module may train on the global path
            _check_student(student, config, i)
    if streams == "per_student" or stacked:  # the streams' dropout replaces the students' Dropout layers
        for i, (student, config) in enumerate(zip(students, configs)):
            _check_student(student, config, i)
        eps = {m.eps for s in students for m in s.modules() if isinstance(m, nn.LayerNorm)}
        if len(eps) > 1:
            raise ValueError(f"LayerNorm eps differs between students ({sorted(eps)}); it must be one value")
    if not isinstance(states, torch.Tensor) or not states.is_floating_point():
        raise ValueError(f"states must be a floating-point tensor, got {type(states).__name__}")
    tail = (configs[0].n_states, configs[0].input_dim)
    if tuple(states.shape) not in (tail, *([(len(configs), *tail)] if stacked else [])):
        allowed = f"({tail[0]}, {tail[1]})" + (f" or ({len(configs)}, {tail[0]}, {tail[1]})" if stacked else "")
        raise ValueError(f"states has shape {tuple(states.shape)}; the config expects {allowed} (n_states, input_dim)")
    teacher_list = [teachers] if isinstance(teachers, nn.Module) else list(teachers)
    if len(teacher_list) not in (1, len(configs)):
        raise ValueError(
            f"len(teachers)={len(teacher_list)}; allowed: one shared teacher or one per student ({len(configs)})"
        )
    for i, teacher in enumerate(teacher_list):
        devices = {p.device for p in teacher.parameters()}
        if devices - {states.device}:
            raise ValueError(
                f"teachers[{i}] is on {sorted(map(str, devices))}, states on {states.device}; move them together"
            )
    return teacher_list


def check_snapshots(snapshot_epochs: Sequence[int], epochs: int) -> set[int]:
    """The epochs to snapshot, each an integer in ``[0, epochs)``."""
    bad = [
        e for e in snapshot_epochs if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or not 0 <= e < epochs
    ]
    if bad:
        raise ValueError(f"snapshot_epochs has {bad}; each must be an epoch index in [0, {epochs - 1}] (0-based)")
    return {int(e) for e in snapshot_epochs}
