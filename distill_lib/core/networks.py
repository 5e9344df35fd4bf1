"""Teacher and student Q-networks.

Both are the same two-hidden-layer MLP, ``Linear -> LayerNorm -> ReLU -> Dropout`` twice
and a linear head, as in the earlier codebase's ``BaseQNetwork`` / ``StudentQNetwork``.
The student is narrower (``max(16, h // 2)``) and uses lighter dropout. ``PlainQNetwork`` is
the student users deploy, ``Linear -> ReLU`` twice and a linear head (no LayerNorm, no
dropout), initialised the same way (``build_student(..., kind="plain")``,
``RunConfig.student_kind``).

Reference protocol (what "seed-compatible" means), steps 1 and 3:

1. ``torch.manual_seed(seed)``; construct the modules in order with PyTorch's default
   initialisation (this consumes the RNG exactly as the original did); then re-initialise
   every Linear weight with ``xavier_uniform_`` in module order and zero every bias.
3. The student is built the same way after ``torch.manual_seed(seed + 20000)``.

Why a ``PairedLayerNorm``: on the CPU, ATen's LayerNorm backward sums the gamma/beta
gradients per intra-op thread and then adds the per-thread partial sums, so the bits of
a training run depend on ``torch.get_num_threads()``. The original table was produced on a
two-core machine, i.e. with the batch split into two halves. ``PairedLayerNorm`` computes
exactly that partition explicitly (two LayerNorm calls on ``ceil(B/2)`` and ``floor(B/2)``
rows, whose gradient contributions autograd adds) when training runs with one intra-op
thread: its LayerNorm is then bit-identical to the two-thread run on any machine, and several
students can train in parallel processes without oversubscribing the cores. With more
threads it is ``nn.LayerNorm`` (ATen partitions the batch itself): the seed-compatible path
trains with the original's two threads (``training.ORIGINAL_THREADS``), because MKL's
matrix products split some batch shapes between threads too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import STUDENT_DROPOUT, STUDENT_KINDS, STUDENT_SEED_OFFSET, TEACHER_DROPOUT, student_hidden_dim

__all__ = [
    "PairedLayerNorm",
    "PlainQNetwork",
    "QNetwork",
    "build_student",
    "build_teacher",
    "dropout_rate",
    "freeze",
    "student_hidden_dim",
    "student_kind",
]


class PairedLayerNorm(nn.LayerNorm):
    """LayerNorm whose backward reduces the batch in two halves (see module docstring).

    The forward value is identical to ``nn.LayerNorm`` (rows are normalised
    independently); only the summation order of the parameter gradients is fixed.
    The state dict is the same as ``nn.LayerNorm``'s.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H)
        if not (torch.is_grad_enabled() and self.weight.requires_grad) or x.shape[0] < 2 or torch.get_num_threads() > 1:
            return super().forward(x)  # with threads, ATen partitions the batch itself
        half = (x.shape[0] + 1) // 2  # ATen's chunk size for 2 threads: ceil(B / 2)
        args = (self.normalized_shape, self.weight, self.bias, self.eps)
        return torch.cat([F.layer_norm(x[:half], *args), F.layer_norm(x[half:], *args)])


def _xavier_init(net: nn.Sequential) -> None:
    """Xavier-uniform weights and zero biases for every ``Linear`` of ``net``, in module order."""
    for module in net:
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


class QNetwork(nn.Sequential):
    """``Linear(in,h) -> LN -> ReLU -> Dropout -> Linear(h,h) -> LN -> ReLU -> Dropout -> Linear(h,out)``.

    Maps states ``(B, input_dim)`` to Q-values ``(B, output_dim)``; the Q-values are the
    logits of the distillation losses.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        dropout: float,
        layer_norm: type[nn.LayerNorm] = nn.LayerNorm,
    ) -> None:
        super().__init__(
            nn.Linear(input_dim, hidden_dim),
            layer_norm(hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim),
            layer_norm(hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, output_dim),
        )
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        # Xavier weights, zero biases, in module order (after the default init above,
        # which has already consumed the RNG: the order matters for seed compatibility).
        _xavier_init(self)


class PlainQNetwork(nn.Sequential):
    """``Linear(in,h) -> ReLU -> Linear(h,h) -> ReLU -> Linear(h,out)``: the student users deploy.

    ``QNetwork`` without LayerNorm and dropout; the same sizes and attributes, and the same
    initialisation (PyTorch's default, then Xavier weights and zero biases in module order).
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
        )
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        _xavier_init(self)


def student_kind(net: nn.Module) -> str | None:
    """``"study"`` for a ``QNetwork``, ``"plain"`` for a ``PlainQNetwork``, else None (``RunConfig.student_kind``)."""
    return "study" if isinstance(net, QNetwork) else "plain" if isinstance(net, PlainQNetwork) else None


def dropout_rate(net: nn.Module) -> float | None:
    """The ``p`` of a network's ``nn.Dropout`` layers (one value for all of them), or None if it has none."""
    rates = {m.p for m in net.modules() if isinstance(m, nn.Dropout)}
    if len(rates) > 1:
        raise ValueError(f"the network's dropout layers differ in p ({sorted(rates)}); give them one value")
    return rates.pop() if rates else None


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False``: the teacher's dropout must never fire."""
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def build_teacher(seed: int, input_dim: int, hidden_dim: int, output_dim: int) -> QNetwork:
    """The frozen teacher: seeded with ``seed``, in eval mode, no gradients."""
    torch.manual_seed(seed)
    teacher = QNetwork(input_dim, hidden_dim, output_dim, dropout=TEACHER_DROPOUT)
    return freeze(teacher)


def build_student(
    seed: int,
    input_dim: int,
    teacher_hidden: int,
    output_dim: int,
    hidden_dim: int | None = None,
    kind: str = "study",
) -> QNetwork | PlainQNetwork:
    """The student, seeded with ``seed + 20000`` (protocol step 3).

    ``hidden_dim`` defaults to ``student_hidden_dim(teacher_hidden)``; the compression
    sweep passes other widths. ``kind`` (``RunConfig.student_kind``): ``"study"``, the
    original's ``QNetwork`` (LayerNorm, dropout 0.05), or ``"plain"``, a ``PlainQNetwork``.
    """
    if kind not in STUDENT_KINDS:
        raise ValueError(f"kind={kind!r}: must be one of {', '.join(STUDENT_KINDS)}")
    torch.manual_seed(seed + STUDENT_SEED_OFFSET)
    width = student_hidden_dim(teacher_hidden, hidden_dim)
    if kind == "plain":
        return PlainQNetwork(input_dim, width, output_dim)
    return QNetwork(input_dim, width, output_dim, dropout=STUDENT_DROPOUT, layer_norm=PairedLayerNorm)
