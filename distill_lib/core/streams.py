"""Where a training run's random draws come from: torch's global RNG, or one generator per student.

The training loop draws three things, always in this order: the train/validation split
once; each epoch, the order of the training batches and the dropout masks; after each
epoch, the order of the validation batches. Two protocols make these draws; each is an
object with the same three methods (``split``, ``order``, ``dropout``), so the loop is one.

Global RNG (``GlobalDraws``; seed-compatible with the original trainer, reference protocol
steps 4, 5 and 7): ``random``, numpy and torch seeded with ``seed + 30000``
(``TRAINING_SEED_OFFSET``); split with ``numpy.random.permutation`` (train = the first
``N - n_val``); batch orders from ``torch.randperm``; the dropout masks are drawn by
``nn.Dropout`` inside each forward pass, from the same RNG, interleaved with nothing else.
It is one stream for the whole process, so it serves one student at a time.

Per-student streams (``StudentStreams``), which batch: S students' draws cannot share one RNG.

1. student ``s`` owns ``g = torch.Generator(device).manual_seed(seed + 30000)``
   (``STREAM_SEED_OFFSET``), on the device of the states, and a dropout stream: SplitMix64
   (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators") seeded with
   the same ``seed + 30000``, whose output ``n`` (from 0) is ``mix64(key + (n + 1) * gamma)``
   (``splitmix64_mix``: Stafford's variant-13 mixer, as in Vigna's splitmix64.c;
   ``gamma = 0x9E3779B97F4A7C15``);
2. split: ``perm = torch.randperm(n_states, generator=g)``; train = the first
   ``n_states - n_val`` entries, validation = the rest;
3. each epoch, before training: ``order = torch.randperm(n_train, generator=g)``; the epoch's
   dropout takes the next ``L * n_train * hidden`` outputs of the dropout stream (``L`` the
   student's dropout layers: 2 for the study's ``QNetwork``; a plain student has none and takes
   none), laid out ``(layer, position, unit)``: the state at position ``j`` of ``order`` keeps hidden unit ``h``
   of dropout layer ``k`` iff the top 32 bits of its output are at least ``ceil(p * 2^32)``
   (a uniform ``u = top / 2^32`` with ``u >= p``: probability ``1 - p`` to within 2^-32), and
   dropout is ``y = x * keep * (1 / (1 - p))`` (the multiplier rounded to the states' dtype);
4. each epoch, after training: ``torch.randperm(n_val, generator=g)``, the order of the
   validation mini-batches (it only changes the batch-mean ``val_loss`` and
   ``mean_prob_similarity``).

Students with the same ``seed`` therefore share split, batch order and dropout masks: a
sweep over alpha or temperature at fixed seeds is a paired design. Nothing depends on S or
on the other students. The dropout stream is counter-based: any position is computed
directly, so the masks of all S students are made in bulk, inside the fused forward kernel
(``fused.mlp_forward``), with the same integers on any device; the split and the
orders come from the generator, and so depend on the device type (CPU and CUDA generators
differ). (Earlier versions drew the masks with ``torch.rand`` from ``g``, a Mersenne
Twister, one student at a time: 17% of a batched step's time.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import torch

from . import fused
from .config import TRAINING_SEED_OFFSET
from .fused import signed64

__all__ = [
    "STREAM_SEED_OFFSET",
    "DropoutRows",
    "DropoutStream",
    "GlobalDraws",
    "StudentStreams",
    "draw_split",
    "dropout_threshold",
    "seed_everything",
    "split_indices",
    "splitmix64_mix",
    "stream_generator",
]

#: offset added to a run's seed to seed its training stream (as the global protocol's step 4)
STREAM_SEED_OFFSET = TRAINING_SEED_OFFSET

#: SplitMix64's increment (2^64 / golden ratio) and the multipliers of its output function
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_MULTIPLIERS = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


# ----------------------------------------------------------------------------------------
# The global RNG (seed-compatible)
# ----------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy's global RNG and torch's global RNG."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_indices(n_states: int, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices from numpy's global RNG (call after ``seed_everything``)."""
    perm = np.random.permutation(n_states)
    return perm[: n_states - n_val], perm[n_states - n_val :]


class GlobalDraws:
    """The seed-compatible draws of one student from the global RNGs; indices come back as ``(1, n)``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def split(self, n_states: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Seed everything with ``seed + 30000``, then ``numpy.random.permutation``."""
        seed_everything(self.seed + TRAINING_SEED_OFFSET)
        train_idx, val_idx = split_indices(n_states, n_val)
        return torch.from_numpy(train_idx)[None], torch.from_numpy(val_idx)[None]

    def order(self, n: int) -> torch.Tensor:
        """``torch.randperm(n)`` from the global RNG: ``(1, n)``."""
        return torch.randperm(n)[None]

    def dropout(self, n_rows: int, hidden: int, p: Sequence[float], dtype: torch.dtype, n_layers: int = 2) -> None:
        """Nothing: ``nn.Dropout`` draws its masks inside each forward pass, from this same RNG."""
        return None


# ----------------------------------------------------------------------------------------
# Per-student streams (steps 1-4 of the module docstring)
# ----------------------------------------------------------------------------------------


def stream_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Step 1: the student's own generator, seeded with ``seed + STREAM_SEED_OFFSET``."""
    return torch.Generator(device=device).manual_seed(seed + STREAM_SEED_OFFSET)


def draw_split(g: torch.Generator, n_states: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 2: ``(train_idx, val_idx)`` from one ``randperm(n_states)`` of the stream."""
    perm = torch.randperm(n_states, generator=g, device=g.device)
    return perm[: n_states - n_val], perm[n_states - n_val :]


def _shift_right(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def splitmix64_mix(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's output function on int64 bit patterns (wrapping arithmetic: unsigned 64-bit)."""
    z = (z ^ _shift_right(z, 30)) * signed64(SPLITMIX_MULTIPLIERS[0])
    z = (z ^ _shift_right(z, 27)) * signed64(SPLITMIX_MULTIPLIERS[1])
    return z ^ _shift_right(z, 31)


def dropout_multipliers(
    keys: torch.Tensor, thresholds: torch.Tensor, scales: torch.Tensor, first: int, layer_stride: int, shape: tuple
) -> torch.Tensor:
    """Step 3's multipliers ``(S, L, n, H)`` of stream positions ``first + l * layer_stride + r * H + u``.

    ``fused.dropout_multipliers`` where it runs, else this, in torch's int64 arithmetic: the same integers.
    """
    out = fused.dropout_multipliers(keys, thresholds, scales, first, layer_stride, shape)
    if out is not None:
        return out
    n_layers, n_rows, hidden = shape
    device = keys.device
    position = (
        torch.arange(n_layers, device=device).view(-1, 1, 1) * layer_stride
        + torch.arange(n_rows, device=device).view(-1, 1) * hidden
        + torch.arange(hidden, device=device)
        + signed64(first + 1)
    )  # (L, n, H): each unit's stream position, plus one
    x = splitmix64_mix(keys.view(-1, 1, 1, 1) + position * signed64(SPLITMIX_GAMMA))  # (S, L, n, H)
    keep = _shift_right(x, 32) >= thresholds.view(-1, 1, 1, 1)
    return keep.to(scales.dtype) * scales.view(-1, 1, 1, 1)


def dropout_threshold(p: float) -> int:
    """Step 3's threshold ``ceil(p * 2^32)``: a unit is kept iff its output's top 32 bits reach it."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout p={p}: must be in [0, 1) (a student that drops every unit cannot learn)")
    return math.ceil(p * 2**32)  # exact: p * 2^32 is p with its exponent moved


class DropoutRows:
    """Positions ``start:stop`` of an epoch's dropout (``DropoutStream.rows``): a batch's masks."""

    def __init__(self, stream: DropoutStream, start: int, stop: int) -> None:
        self.stream, self.start, self.n_rows = stream, start, stop - start
        self.scales = stream.scales  # (S,) the multiplier of a kept unit, 1 / (1 - p)

    def layer(self, k: int) -> fused.Dropout:
        """Dropout layer ``k`` of these rows, as the fused kernels take it: row b at position ``first + b * H``."""
        s = self.stream
        first = s.first + k * s.n_rows * s.hidden + self.start * s.hidden
        return s.keys, s.thresholds, s.scales, first

    def multipliers(self) -> torch.Tensor:
        """The multipliers ``(S, L, n_rows, H)``: ``1 / (1 - p_s)`` where student s keeps the unit, else 0."""
        s = self.stream
        first = s.first + self.start * s.hidden
        return dropout_multipliers(
            s.keys, s.thresholds, s.scales, first, s.n_rows * s.hidden, (s.n_layers, self.n_rows, s.hidden)
        )


class DropoutStream:
    """Step 3's dropout of one epoch for S students: positions ``first`` on of each student's SplitMix64 stream."""

    def __init__(
        self,
        keys: torch.Tensor,
        p: Sequence[float],
        first: int,
        n_rows: int,
        hidden: int,
        dtype: torch.dtype,
        n_layers: int = 2,
    ) -> None:
        device = keys.device
        self.keys, self.first, self.n_rows, self.hidden = keys, first, n_rows, hidden  # keys (S,) int64
        self.n_layers = n_layers  # the student's dropout layers (QNetwork: 2)
        self.thresholds = torch.tensor([dropout_threshold(q) for q in p], dtype=torch.int64, device=device)
        self.scales = torch.tensor([1.0 / (1.0 - q) for q in p], dtype=dtype, device=device)  # (S,) rounded once

    def rows(self, start: int, stop: int) -> DropoutRows:
        """The masks of epoch positions ``start:stop`` (made when a kernel needs them)."""
        return DropoutRows(self, start, stop)


class StudentStreams:
    """The draws of S students, each from its own generator and dropout stream; indices come back as ``(S, n)``."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.generators = [stream_generator(seed, device) for seed in seeds]
        keys = [signed64(seed + STREAM_SEED_OFFSET) for seed in seeds]
        self.keys = torch.tensor(keys, dtype=torch.int64, device=device)  # (S,) SplitMix64 seeds
        self.position = 0  # outputs of the dropout streams used so far (the same for every student)

    def split(self, n_states: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 2 for every student: ``(S, n_train)``, ``(S, n_val)``."""
        splits = [draw_split(g, n_states, n_val) for g in self.generators]
        return torch.stack([tr for tr, _ in splits]), torch.stack([va for _, va in splits])

    def order(self, n: int) -> torch.Tensor:
        """One ``randperm(n)`` per stream: ``(S, n)`` (steps 3 and 4)."""
        return torch.stack([torch.randperm(n, generator=g, device=g.device) for g in self.generators])

    def dropout(
        self, n_rows: int, hidden: int, p: Sequence[float], dtype: torch.dtype, n_layers: int = 2
    ) -> DropoutStream | None:
        """Step 3's masks of the next epoch: the next ``n_layers * n_rows * hidden`` outputs of each dropout
        stream (None for students without dropout layers, ``n_layers`` 0: nothing is drawn)."""
        if n_layers == 0:
            return None
        stream = DropoutStream(self.keys, p, self.position, n_rows, hidden, dtype, n_layers)
        self.position += n_layers * n_rows * hidden
        return stream
