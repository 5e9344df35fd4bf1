"""State buffers, teacher checkpoints, and the world they make with the student's starting weights.

States come from a seeded Gaussian (protocol step 2:
``numpy.random.default_rng(seed + 10000).standard_normal((n_states, input_dim))`` as
float32) or from a user's ``.npy`` file. Teacher checkpoints are plain state dicts,
loaded with ``weights_only=True`` so that a checkpoint can never run code.

Every loader validates what it reads and raises ``ValueError`` with a one-line message
naming the file, what was found and what is expected.

The world every objective shares (``World``): the teacher, the state buffer and the student's
starting weights. The original comparison holds these three fixed and changes only the
objective. A world is made once (the study's world step, or ``synthetic_world`` for one world
seed) and saved as three files in a folder (``teacher.pt``, ``states.npy``,
``student_init.pt``), which every step that trains on it reads back (``World.load``). The
synthetic world is the original's seed protocol: teacher ``build_teacher(seed)``, states
``synthetic_states(seed)``, student ``build_student(seed)``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..records.atomic import atomic_path, atomic_torch_save
from .config import STATES_SEED_OFFSET, TEACHER_DROPOUT, RunConfig
from .networks import PlainQNetwork, QNetwork, build_student, build_teacher, freeze

__all__ = [
    "WORLD_FILES",
    "World",
    "check_teacher_outputs",
    "load_state_dict",
    "load_states",
    "load_teacher",
    "save_checkpoint",
    "save_states",
    "synthetic_states",
    "synthetic_world",
]


def synthetic_states(seed: int, n_states: int, input_dim: int) -> np.ndarray:
    """The seed-compatible Gaussian state buffer ``(n_states, input_dim)``, float32."""
    return np.random.default_rng(seed + STATES_SEED_OFFSET).standard_normal((n_states, input_dim)).astype(np.float32)


def validate_states(states: Any, input_dim: int, source: str = "states") -> np.ndarray:
    """Check a state array: 2-D, ``input_dim`` wide, non-empty, finite; returns float32."""
    if not isinstance(states, np.ndarray) or states.dtype == object:
        raise ValueError(f"{source}: expected a numeric numpy array, got {type(states).__name__}")
    if not np.issubdtype(states.dtype, np.number) or np.issubdtype(states.dtype, np.complexfloating):
        raise ValueError(f"{source}: expected a real numeric array, got dtype {states.dtype}")
    if states.ndim != 2:
        raise ValueError(f"{source}: expected a 2-D array (n_states, input_dim), got shape {states.shape}")
    if states.shape[0] == 0:
        raise ValueError(f"{source}: the array is empty (shape {states.shape})")
    if states.shape[1] != input_dim:
        raise ValueError(f"{source}: states are {states.shape[1]} wide, but input_dim={input_dim}")
    if not np.isfinite(states).all():
        bad = int((~np.isfinite(states)).any(axis=1).sum())
        raise ValueError(f"{source}: {bad} state(s) contain NaN or infinity; all values must be finite")
    with np.errstate(over="ignore"):
        as32 = states.astype(np.float32, copy=False)
    if not np.isfinite(as32).all():  # e.g. float64 values beyond float32's range (~3.4e38)
        bad = int((~np.isfinite(as32)).any(axis=1).sum())
        raise ValueError(f"{source}: {bad} state(s) overflow float32 (|x| > 3.4e38); the networks compute in float32")
    return as32


def _npy_bytes(path: Path) -> int:
    """The memory a ``.npy`` file's header says its array needs (read from the header only)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
    return int(np.prod(shape, dtype=np.float64) * dtype.itemsize)


def _available_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def load_states(path: str | os.PathLike[str], input_dim: int) -> np.ndarray:
    """Load and validate a ``.npy`` state buffer (pickles refused)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"states_file={str(p)!r}: no such file")
    try:
        needed = _npy_bytes(p)
        if needed > _available_memory() // 2:
            raise ValueError(
                f"states_file={str(p)!r}: its header declares {needed / 2**30:.1f} GiB of states, more than half "
                f"of this machine's memory ({_available_memory() / 2**30:.1f} GiB)"
            )
        states = np.load(p, allow_pickle=False)
    except ValueError as err:
        if "declares" in str(err):
            raise
        raise ValueError(f"states_file={str(p)!r}: not a readable .npy array ({str(err).splitlines()[0]})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"states_file={str(p)!r}: not a readable .npy array ({str(err).splitlines()[0]})") from None
    if not isinstance(states, np.ndarray):  # an .npz archive
        raise ValueError(f"states_file={str(p)!r}: expected a .npy array, got an archive")
    return validate_states(states, input_dim, source=f"states_file={str(p)!r}")


def save_states(path: str | os.PathLike[str], states: np.ndarray) -> None:
    """Save a state buffer as ``.npy``, atomically."""
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, states)


def save_checkpoint(path: str | os.PathLike[str], state_dict: dict[str, torch.Tensor]) -> None:
    """Save a state dict (tensors only, so it loads with ``weights_only=True``), atomically."""
    atomic_torch_save(path, {k: v.detach().cpu().clone() for k, v in state_dict.items()})


def load_state_dict(
    path: str | os.PathLike[str], label: str = "checkpoint", where: str | None = None
) -> dict[str, torch.Tensor]:
    """Load a state dict safely (``weights_only=True``) and check it is one: dense, real, finite tensors.

    Errors start with ``where`` (default ``label='path'``).
    """
    p = Path(path)
    where = where or f"{label}={str(p)!r}"
    if not p.is_file():
        raise ValueError(f"{where}: no such file")
    try:
        with warnings.catch_warnings():  # torch warns about legacy pickles before refusing them
            warnings.simplefilter("ignore")
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad or unsafe files
        text = str(err).strip()
        unsafe = "weights_only" in text or "Unsupported global" in text or "pickle" in text.lower()
        why = (
            "it holds Python objects, which a weights-only load refuses (save model.state_dict(), tensors only)"
            if unsafe
            else (text.splitlines()[0] if text else type(err).__name__)
        )
        raise ValueError(f"{where}: not a loadable weights-only state dict: {why}") from None
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        if isinstance(obj, dict) and obj:  # e.g. {"model": ..., "optimizer": ...}
            keys = sorted(map(str, obj))[:4]
            raise ValueError(f"{where}: holds {keys}, not a state dict of tensors (save net.state_dict() itself)")
        raise ValueError(f"{where}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    for key, value in obj.items():
        if value.layout != torch.strided or value.is_meta or not value.dtype.is_floating_point or value.is_complex():
            kind = "a meta tensor" if value.is_meta else f"a {value.layout} {value.dtype} tensor"
            raise ValueError(f"{where}: {key} is {kind}; a state dict of dense real float tensors is needed")
        if not torch.isfinite(value).all():
            raise ValueError(f"{where}: {key} holds NaN or infinite weights")
    return obj


def load_into(net: torch.nn.Module, state: dict[str, torch.Tensor], label: str) -> None:
    """``load_state_dict`` with a one-line error on missing keys or mismatched shapes."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{label}: keys do not fit the network (missing {missing[:4]}, unexpected {unexpected[:4]})")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise ValueError(
                f"{label}: {key} has shape {tuple(state[key].shape)}, the configured network needs {tuple(tensor.shape)}"
            )
    net.load_state_dict(state)


def load_teacher(path: str | os.PathLike[str], input_dim: int, hidden_dim: int, output_dim: int) -> QNetwork:
    """A frozen teacher from a state-dict checkpoint, checked against the configured sizes."""
    state = load_state_dict(path, label="teacher_checkpoint")
    net = QNetwork(input_dim, hidden_dim, output_dim, dropout=TEACHER_DROPOUT)
    load_into(net, state, label=f"teacher_checkpoint={str(path)!r}")
    return freeze(net)  # type: ignore[return-value]


def check_teacher_outputs(teacher: torch.nn.Module, states: np.ndarray, label: str) -> None:
    """The teacher's Q-values on the states must be finite (a diverged teacher fails here, not mid-study)."""
    with torch.no_grad():
        for start in range(0, len(states), 65536):
            q = teacher(torch.from_numpy(np.ascontiguousarray(states[start : start + 65536])))
            if not torch.isfinite(q).all():
                raise ValueError(f"{label}: the teacher's Q-values on the states are not all finite")


#: the files of a saved world
WORLD_FILES = ("teacher.pt", "states.npy", "student_init.pt")


@dataclass
class World:
    """Teacher, state buffer and the student's initial weights: what every mode shares."""

    teacher: QNetwork
    states: np.ndarray  # (N, input_dim) float32
    student_init: dict[str, torch.Tensor]
    seed: int
    student_hidden: int | None  # the configured student width (None: the original's rule)

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(input_dim, teacher_hidden, output_dim)`` of the teacher."""
        return self.teacher.input_dim, self.teacher.hidden_dim, self.teacher.output_dim

    def new_student(self) -> QNetwork:
        """A fresh student holding the shared initial weights."""
        d, h, a = self.sizes
        student = build_student(self.seed, d, h, a, self.student_hidden)
        student.load_state_dict(self.student_init)
        return student

    def save(self, folder: Path) -> None:
        """The three files into ``folder`` (atomically, each)."""
        folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(folder / "teacher.pt", self.teacher.state_dict())
        save_states(folder / "states.npy", self.states)
        save_checkpoint(folder / "student_init.pt", self.student_init)

    @classmethod
    def load(cls, folder: Path, sizes: tuple[int, int, int], seed: int, student_hidden: int | None = None) -> World:
        """The world saved in ``folder``; ``sizes`` are ``(input_dim, teacher_hidden, output_dim)``."""
        d, h, a = sizes
        teacher = load_teacher(folder / "teacher.pt", d, h, a)
        states = np.load(folder / "states.npy", allow_pickle=False)
        init = load_state_dict(folder / "student_init.pt", label="student_init")
        return cls(teacher, states, init, seed, student_hidden)


def synthetic_world(seed: int, config: RunConfig) -> tuple[QNetwork, np.ndarray, QNetwork | PlainQNetwork]:
    """Teacher, states and initial student (of ``config.student_kind``) of one world seed (the reference derivation)."""
    teacher = build_teacher(seed, config.input_dim, config.teacher_hidden, config.output_dim)
    states = synthetic_states(seed, config.n_states, config.input_dim)
    student = build_student(
        seed, config.input_dim, config.teacher_hidden, config.output_dim, config.student_hidden, config.student_kind
    )
    return teacher, states, student
