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
   (``STREAM_SEED_OFFSET``), on the device of the states;
2. split: ``perm = torch.randperm(n_states, generator=g)``; train = the first
   ``n_states - n_val`` entries, validation = the rest;
3. each epoch, before training: ``order = torch.randperm(n_train, generator=g)``, then
   ``u = torch.rand((2, n_train, hidden), generator=g)``; the state at position ``j`` of
   ``order`` keeps hidden unit ``h`` of dropout layer ``k`` iff ``u[k, j, h] >= p``, and
   dropout is ``y = x * keep * (1 / (1 - p))`` (``stream_dropout``);
4. each epoch, after training: ``torch.randperm(n_val, generator=g)``, the order of the
   validation mini-batches (it only changes the batch-mean ``val_loss`` and
   ``mean_prob_similarity``).

Students with the same ``seed`` therefore share split, batch order and dropout masks: a
sweep over alpha or temperature at fixed seeds is a paired design. The streams depend on
the device type (CPU and CUDA generators differ), not on S or on the other students.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch

from .config import TRAINING_SEED_OFFSET

__all__ = [
    "STREAM_SEED_OFFSET",
    "GlobalDraws",
    "StudentStreams",
    "draw_dropout_noise",
    "draw_split",
    "seed_everything",
    "split_indices",
    "stream_dropout",
    "stream_generator",
]

#: offset added to a run's seed to seed its training stream (as the global protocol's step 4)
STREAM_SEED_OFFSET = TRAINING_SEED_OFFSET


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

    def dropout(self, n_rows: int, hidden: int, p: Sequence[float], dtype: torch.dtype) -> None:
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


def draw_dropout_noise(
    g: torch.Generator, n_rows: int, hidden: int, dtype: torch.dtype, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Step 3: uniform noise ``(2, n_rows, hidden)`` for an epoch's two dropout layers; keep where ``>= p``.

    ``out`` (contiguous, that shape and dtype) receives the same numbers without an allocation.
    """
    if out is not None:
        return torch.rand((2, n_rows, hidden), generator=g, out=out, device=out.device)
    return torch.rand((2, n_rows, hidden), generator=g, device=g.device, dtype=dtype)


def stream_dropout(x: torch.Tensor, keep: torch.Tensor, p: float) -> torch.Tensor:
    """Step 3's inverted dropout with the stream's mask: ``x * (keep * (1 / (1 - p)))``.

    The multiplier is 0 or ``1 / (1 - p)`` rounded to ``x.dtype``, as ``nn.Dropout``'s.
    """
    return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


class StudentStreams:
    """The draws of S students, each from its own generator; indices come back as ``(S, n)``."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.generators = [stream_generator(seed, device) for seed in seeds]
        self._multipliers: torch.Tensor | None = None  # reused every epoch: (S, 2, n_rows, hidden)

    def split(self, n_states: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 2 for every student: ``(S, n_train)``, ``(S, n_val)``."""
        splits = [draw_split(g, n_states, n_val) for g in self.generators]
        return torch.stack([tr for tr, _ in splits]), torch.stack([va for _, va in splits])

    def order(self, n: int) -> torch.Tensor:
        """One ``randperm(n)`` per stream: ``(S, n)`` (steps 3 and 4)."""
        return torch.stack([torch.randperm(n, generator=g, device=g.device) for g in self.generators])

    def dropout(self, n_rows: int, hidden: int, p: Sequence[float], dtype: torch.dtype) -> torch.Tensor:
        """Step 3's masks as multipliers ``keep / (1 - p_s)``: ``(S, 2, n_rows, hidden)``, 0 or ``1 / (1 - p_s)``.

        The same numbers as ``stream_dropout``'s multiplier, drawn into one buffer reused every epoch.
        """
        shape = (len(self.generators), 2, n_rows, hidden)
        device = self.generators[0].device
        if self._multipliers is None or self._multipliers.shape != shape or self._multipliers.dtype != dtype:
            self._multipliers = torch.empty(shape, dtype=dtype, device=device)
        mult = self._multipliers
        scale = torch.tensor([1.0 / (1.0 - q) for q in p], dtype=dtype, device=device)  # (S,) rounded once
        for i, (g, q) in enumerate(zip(self.generators, p)):
            # keep (1.0 / 0.0) times the scale: 0 or 1 / (1 - p), stream_dropout's multiplier; one
            # student at a time, while its block (2 x n_rows x hidden) is still in cache
            draw_dropout_noise(g, n_rows, hidden, dtype, out=mult[i]).ge_(q).mul_(scale[i])
        return mult
