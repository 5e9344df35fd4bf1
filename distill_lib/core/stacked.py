"""S students held as one stacked tensor: a way of executing the training loop for many students at once.

A run of the study's student is almost pure framework overhead (about 1 GFLOP for 25
epochs, yet seconds of wall time), so a seed list or an alpha x temperature sweep is
trained as one "wide" run: the S students' weights are rows of one flat ``(S, P)`` buffer
(``flat.FlatLayout``), as in model ensembling with ``torch.func.stack_module_state``
(PyTorch tutorial "Model ensembling"), but written out by hand so that LayerNorm, dropout,
gradient clipping and Adam are all batched without ``vmap``. Students are independent:
student ``s`` only ever reads row ``s`` of each stacked tensor, and the summed loss
``sum_s L_s`` has ``dL/dtheta_s = dL_s/dtheta_s``.

``StackedStudents`` is the stacked counterpart of ``module_student.ModuleStudent``: the
training loop (``training.train``) calls the same methods on either. Its step is not
autograd over ``stacked_forward`` but the hand-written forward and backward of
``stacked_mlp.StackedMLP`` (on the CPU two C kernels a step, ``fused``), with the loss's
gradient from autograd (or ``fused.kl_blend_loss``), then per-student clipping and Adam.
Against one ``nn.Module`` student on the same per-student streams it agrees to float32
rounding, not bit for bit: the kernels normalise and sum in another order than ATen's, so
logits and gradients differ by a few ulps a step (tests/core/test_stacked.py states the
tolerance and why). A student stacked alone and the same student among S are bit-identical:
every kernel computes a student from its own rows only.

The students are ``networks.QNetwork`` s or ``networks.PlainQNetwork`` s (no LayerNorm, no
dropout), one kind per call: ``stacked_mlp.read_layers`` reads the blocks of either.

Choices for speed, none of which changes what is computed: the teacher's Q-values of the
whole buffer are computed once (the teacher is frozen and row-wise) and put on each student's
scale once (``q_targets.QScale``: one table per distinct teacher and scale, so that students
sharing a teacher and a scale share a table), and its softmax targets once per temperature
(``losses.Targets``; once per distinct table and temperature, ``TargetTable``); each batch's
states and targets are gathered into the layout the kernels read, units first (``fused.gather_transposed``); the losses and the metrics read
logits as ``(S, A, B)`` (actions on ``dim=-2``), because operations over a size-4 last axis
are slow on the CPU. ``stacked_forward`` (autograd, ATen's LayerNorm with an identity
affine, ``_layer_norm``) serves the DQN agents (``rl.dqn``) and the tests. What a step
costs, and the FLOP floor it is measured against, is in ``benchmarks/bench_batched.py``.

References: Kingma & Ba 2015, "Adam"; Pascanu et al. 2013 (gradient-norm clipping, per
student); Ba, Kiros & Hinton 2016 (LayerNorm).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import fused
from .config import RunConfig
from .flat import FlatAdam, FlatLayout, clip_per_student_
from .losses import PerStudent, Targets
from .networks import QNetwork, dropout_rate
from .q_targets import FITTED, QScale
from .stacked_mlp import StackedMLP, read_layers
from .streams import DropoutRows

__all__ = [
    "DROPOUT_INDEX",
    "LINEAR_KEYS",
    "NORM_KEYS",
    "FlatAdam",
    "FlatLayout",
    "StackedStudents",
    "TargetTable",
    "clip_per_student_",
    "gather_rows",
    "stacked_forward",
]

#: the state-dict keys of ``networks.QNetwork`` that carry parameters, in module order
LINEAR_KEYS = ("0", "4", "8")
NORM_KEYS = ("1", "5")
#: the positions of ``QNetwork``'s two ``nn.Dropout`` layers
DROPOUT_INDEX = (3, 7)


def gather_rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[s, rows[s]]`` for every s: table ``(S, N, F)`` (maybe expanded), rows ``(S, M)`` -> ``(S, M, F)``.

    A table shared by every student (expanded along S) is read with one ``index_select``
    over the flattened rows: the same copy, about 3x faster than advanced indexing.
    """
    if table.stride(0) == 0:
        n, m = rows.shape
        return table[0].index_select(0, rows.reshape(-1)).view(n, m, *table.shape[2:])
    student = torch.arange(rows.shape[0], device=rows.device).unsqueeze(1)
    return table[student, rows]


class TargetTable:
    """The teachers' targets (``losses.Targets``) of the whole buffer at the students' temperatures.

    ``q_tables`` ``(G, N, A)``: the distinct tables of teacher Q-values (on the students'
    scales), student s reading table ``q_group[s]``. One row per state and distinct (table,
    temperature): students sharing a table (one teacher, one scale) share its targets at each
    distinct temperature, so the table stays small enough to sit in cache; each field is bit
    for bit the per-student value (the softmax is row-wise). The fields are packed side by
    side, ``(groups * N, 3A + 1)``, so that a batch is one ``index_select``.
    """

    def __init__(self, q_tables: torch.Tensor, q_group: Sequence[int], temperatures: Sequence[float]) -> None:
        device, dtype = q_tables.device, q_tables.dtype
        _, n_states, self.n_actions = q_tables.shape
        keys = list(zip(q_group, temperatures))
        distinct = list(dict.fromkeys(keys))  # (table, temperature) in order of first use
        group = [distinct.index(k) for k in keys]
        q = q_tables[[table for table, _ in distinct]]  # (G, N, A)
        t = Targets.of(q, torch.tensor([temp for _, temp in distinct], dtype=dtype, device=device))  # (G, N, A)
        fields = [t.q.expand_as(t.p), t.p, t.plogp, t.action.to(dtype)]
        width = 3 * self.n_actions + 1
        pad = -width % 16  # rows of 64 bytes: a row is one cache line, whose miss a batch waits for
        packed = torch.cat([*fields, torch.zeros(*t.p.shape[:-1], pad, dtype=dtype, device=device)], -1)
        self.packed = packed.reshape(-1, width + pad)  # (G * N, 3A + 1 + pad)
        self.first_row = torch.tensor(group, device=device) * n_states  # (S,)

    def take(self, rows: torch.Tensor) -> Targets:
        """States ``rows[s]`` ``(S, m)`` of every student, as ``Targets`` laid out ``(S, A, m)``."""
        a = self.n_actions
        picked = fused.gather_transposed(self.packed, self.first_row, rows)  # (S, 3A + 1 + pad, m)
        q, p, plogp, action, _ = picked.split([a, a, a, 1, picked.shape[1] - 3 * a - 1], 1)
        return Targets(q, p, plogp, action.long())


@functools.cache
def _unit_affine(width: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Ones and zeros ``(width,)``: LayerNorm's identity affine."""
    return torch.ones(width, dtype=dtype, device=device), torch.zeros(width, dtype=dtype, device=device)


def _layer_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-student affine LayerNorm: h ``(S, B, H)``, weight/bias ``(S, H)``.

    ``F.layer_norm`` with the identity affine, then one fused ``addcmul``: bit for bit the
    forward value of ``nn.LayerNorm`` with that student's weight and bias. The identity
    affine (``x * 1 + 0``) gives the same bits as no affine, forward and backward (a test
    checks it), and takes ATen's vectorised kernel instead of its scalar loop: on the CPU
    about 20% less time for the LayerNorm's forward and backward.
    """
    ones, zeros = _unit_affine(h.shape[-1], h.dtype, h.device)
    xhat = F.layer_norm(h, h.shape[-1:], ones, zeros, eps)
    return torch.addcmul(bias.unsqueeze(1), xhat, weight.unsqueeze(1))


def stacked_forward(
    params: dict[str, torch.Tensor], x: torch.Tensor, eps: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """S QNetworks at once: x ``(S, B, D)`` -> Q ``(S, B, A)``.

    ``mask`` ``(S, 2, B, H)`` holds the dropout multipliers ``keep / (1 - p)`` of the two
    dropout layers (train mode), or is None (eval mode: no dropout).
    """
    h = x
    for layer, (lin, norm) in enumerate(zip(LINEAR_KEYS[:2], NORM_KEYS)):
        h = torch.baddbmm(params[f"{lin}.bias"].unsqueeze(1), h, params[f"{lin}.weight"].transpose(1, 2))  # (S, B, H)
        h = torch.relu(_layer_norm(h, params[f"{norm}.weight"], params[f"{norm}.bias"], eps))
        if mask is not None:
            h = h * mask[:, layer]
    head = LINEAR_KEYS[2]
    return torch.baddbmm(params[f"{head}.bias"].unsqueeze(1), h, params[f"{head}.weight"].transpose(1, 2))  # (S, B, A)


class StackedStudents:
    """S students (``QNetwork`` or ``PlainQNetwork``) as one flat ``(S, P)`` buffer, with their teachers' Q-values
    precomputed on each student's scale (``q_scales``; ``q_tables`` ``(G, N, A)``, student s reading ``q_group[s]``).

    The students passed in are read, not modified. Logits go to the losses as ``(S, A, B)``.
    """

    action_dim = -2

    def __init__(
        self,
        teachers: Sequence[nn.Module],
        states: torch.Tensor,
        students: Sequence[QNetwork],
        configs: Sequence[RunConfig],
        train_idx: torch.Tensor,
        val_idx: torch.Tensor,
    ) -> None:
        n_students, ref = len(configs), configs[0]
        self.device, self.dtype = states.device, states.dtype
        norms = [m for m in students[0].modules() if isinstance(m, nn.LayerNorm)]
        self.width, self.eps = ref.student_width, norms[0].eps if norms else 1e-5  # eps: unused without LayerNorm
        # the streams' dropout replaces the students' Dropout layers (QNetwork: two of p each; PlainQNetwork: none)
        self.dropout_layers = sum(isinstance(m, nn.Dropout) for m in students[0].modules())
        self.dropout_p = [dropout_rate(s) or 0.0 for s in students]
        self.clip = torch.tensor([c.max_grad_norm is not None for c in configs], device=self.device)
        self.max_norm = torch.tensor([c.max_grad_norm or 1.0 for c in configs], dtype=self.dtype, device=self.device)
        with torch.no_grad():
            # The teachers' Q-values of the whole buffer, once: one table per teacher (T, N, A).
            self.x_all = states if states.ndim == 3 else states.expand(n_students, -1, -1)  # (S, N, D)
            if len(teachers) == 1 and states.ndim == 2:
                raw, teacher_of = teachers[0](states).unsqueeze(0), [0] * n_students
            else:
                raw = torch.stack([teachers[i % len(teachers)](self.x_all[i]) for i in range(n_students)])
                teacher_of = list(range(n_students))
            if tuple(raw.shape[1:]) != (ref.n_states, ref.output_dim):
                raise ValueError(
                    f"teacher output has shape {tuple(raw.shape[1:])}; expected ({ref.n_states}, {ref.output_dim})"
                )
            # ... on each student's scale, fitted on its own training split: one table per (teacher, scale)
            self.q_scales = [
                QScale.fit(c.q_targets, raw[t][train_idx[s]] if c.q_targets in FITTED else None)
                for s, (c, t) in enumerate(zip(configs, teacher_of))
            ]
            tables = list(dict.fromkeys(zip(teacher_of, self.q_scales)))  # distinct (teacher, scale), in order
            self.q_tables = torch.stack([scale(raw[t]) for t, scale in tables])  # (G, N, A)
            self.q_group = [tables.index(key) for key in zip(teacher_of, self.q_scales)]  # student -> table
            self.train_idx, self.val_idx = train_idx, val_idx  # (S, n_train), (S, n_val)
            self.x_val_t = gather_rows(self.x_all, val_idx).transpose(1, 2).contiguous()  # (S, D, n_val)
            # the states as one table (R, D) and where each student's rows start in it (fused.gather_transposed)
            shared = self.x_all.stride(0) == 0
            self.x_table = self.x_all[0] if shared else self.x_all.reshape(-1, self.x_all.shape[-1])
            self.x_first_row = torch.arange(n_students, device=self.device) * (0 if shared else ref.n_states)
            group = torch.tensor(self.q_group, device=self.device).unsqueeze(1)  # (S, 1)
            self.q_val = self.q_tables[group, val_idx].transpose(1, 2).contiguous()  # (S, A, n_val)
        self.layout = FlatLayout(students[0].state_dict())
        flat = self.layout.flatten([s.state_dict() for s in students])
        self.flat = flat.to(device=self.device, dtype=self.dtype)  # (S, P); no autograd: StackedMLP's backward
        self.mlp = StackedMLP(*read_layers(students[0]), self.layout, self.eps, n_students)
        self.optimizer = FlatAdam(self.flat, ref.lr)
        self.best_flat = self.flat.clone()
        self.table: TargetTable | None = None  # the teachers' targets of the whole buffer at table_temperatures
        self.table_temperatures: list[float] | None = None

    def per_student(self, values: Sequence[float], dtype: torch.dtype | None = None) -> PerStudent:
        """Per-student values as a tensor ``(S,)`` (in the states' dtype unless given)."""
        return torch.tensor(list(values), dtype=dtype or self.dtype, device=self.device)

    @torch.no_grad()
    def start_epoch(self, order: torch.Tensor, temperatures: list[float]) -> None:
        """The epoch's buffer rows in batch order ``(S, n_train)``; rebuild the targets if T changed."""
        if temperatures != self.table_temperatures:
            self.table = TargetTable(self.q_tables, self.q_group, temperatures)
            self.table_temperatures = list(temperatures)
        self.rows = self.train_idx.gather(1, order)  # (S, n_train)

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, Targets]:
        """States ``(S, D, B)`` (units first) and the teachers' targets ``(S, A, B)`` of positions ``start:stop``.

        Gathered per batch, not per epoch: the same copies, but small ones that stay in cache.
        """
        rows = self.rows[:, start:stop]
        return fused.gather_transposed(self.x_table, self.x_first_row, rows), self.table.take(rows)

    def forward(self, x_t: torch.Tensor, keep: DropoutRows | None) -> torch.Tensor:
        """Train-mode logits ``(S, A, B)`` of states ``(S, D, B)``; ``keep``: the batch's rows of the streams' dropout."""
        # the logits are the leaf of the loss's autograd graph; the network's gradient is StackedMLP's
        self.q = self.mlp.forward(self.flat, x_t, keep, train=True).requires_grad_()
        return self.q

    def step(self, loss: torch.Tensor) -> None:
        """Backward, per-student clipping and Adam. ``loss`` ``(S,)``."""
        # d(sum_s L_s) / dq_s = dL_s / dq_s: one backward pass of the losses serves every student
        (dq,) = torch.autograd.grad(loss.sum(), self.q)  # (S, A, B)
        self.mlp.step(self.flat, dq, self.optimizer, self.max_norm, self.clip)

    @torch.no_grad()
    def predict(self, order: torch.Tensor) -> tuple[torch.Tensor, Targets]:
        """The validation split in ``order`` ``(S, n_val)``: logits ``(S, A, n_val)`` and targets."""
        self.q_split = self.mlp.forward(self.flat, self.x_val_t, None, train=False)  # (S, A, n_val), split order
        q_s = self.q_split.gather(2, order.unsqueeze(1).expand(-1, self.q_split.shape[1], -1))  # (S, A, n_val)
        return q_s, self.table.take(self.val_idx.gather(1, order))

    def predict_split(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Student and teacher Q-values of the validation split in split order ``(S, A, n_val)`` (after ``predict``)."""
        return self.q_split, self.q_val

    def keep_best(self, improved: list[int]) -> None:
        """Students ``improved`` reached a new best validation loss: keep their weights."""
        if improved:
            idx = torch.tensor(improved, device=self.device)
            self.best_flat[idx] = self.flat[idx]

    def state_dict(self, i: int, best: bool = False) -> dict[str, torch.Tensor]:
        """Student ``i``'s final (or best) weights as a state dict of its network."""
        return self.layout.state_dict(self.best_flat if best else self.flat, i)
