"""S students held as one stacked tensor: a way of executing the training loop for many students at once.

A run of the study's student is almost pure framework overhead (about 1 GFLOP for 25
epochs, yet seconds of wall time), so a seed list or an alpha x temperature sweep is
trained as one "wide" run: the S students' weights are stacked along a leading axis (one
row of a flat ``(S, P)`` buffer per student) and every layer is a batched matmul
(``torch.baddbmm``), as in model ensembling with ``torch.func.stack_module_state`` (PyTorch
tutorial "Model ensembling"), but written out by hand so that LayerNorm, dropout, gradient
clipping and Adam are all batched without ``vmap``. Students are independent: student ``s``
only ever reads row ``s`` of each stacked tensor, and the summed loss ``sum_s L_s`` has
``dL/dtheta_s = dL_s/dtheta_s``.

``StackedStudents`` is the stacked counterpart of ``training.ModuleStudent``: the training
loop (``training.train``) calls the same methods on either. Against one ``nn.Module``
student on the same per-student streams it agrees to float32 rounding, not bit for bit:
the forward pass (matmuls, LayerNorm, dropout) is bit-identical per student, and so is the
Adam update, but ATen's LayerNorm backward fuses the affine gradient into its own reduction
order and the losses and the gradient norm are sums taken in another order, which stacked
ops cannot reproduce; the weights drift apart by a few ulps per step (after 3 epochs of 5
steps, metrics differ by ~2e-7). A student stacked alone and the same student among S are
bit-identical.

Choices for speed, none of which changes a bit of the results: the teacher's Q-values of
the whole buffer are computed once (the teacher is frozen and row-wise), and its softmax
targets once per temperature (``losses.Targets``; with one shared teacher, once per distinct
temperature, ``targets_table``); the losses read logits as ``(S, A, B)`` (actions on
``dim=-2``), because a softmax over a size-4 last axis is slow on the CPU; the LayerNorm runs
ATen's affine kernel with an identity affine (``_layer_norm``). What a step costs, and the
FLOP floor it is measured against, is in ``benchmarks/bench_batched.py``.

References: Kingma & Ba 2015, "Adam" (``torch.optim.Adam``'s update, reproduced op for op
on the flat buffer: Adam is elementwise, so one optimizer over stacked weights is S
optimizers); Pascanu et al. 2013 (gradient-norm clipping, per student); Ba, Kiros & Hinton
2016 (LayerNorm).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import RunConfig
from .losses import PerStudent, Targets
from .networks import QNetwork

__all__ = [
    "DROPOUT_INDEX",
    "LINEAR_KEYS",
    "NORM_KEYS",
    "FlatAdam",
    "FlatLayout",
    "StackedStudents",
    "clip_per_student_",
    "gather_rows",
    "stacked_forward",
    "targets_table",
]

#: the state-dict keys of ``networks.QNetwork`` that carry parameters, in module order
LINEAR_KEYS = ("0", "4", "8")
NORM_KEYS = ("1", "5")
#: the positions of ``QNetwork``'s two ``nn.Dropout`` layers
DROPOUT_INDEX = (3, 7)


class FlatLayout:
    """Where each ``QNetwork`` parameter lives in a flat ``(S, P)`` buffer, one row per student.

    With a student's parameters in one row, its gradient norm is one reduction and Adam is
    six elementwise ops, whatever the number of layers. ``views`` gives the parameters in
    ``nn.Linear`` layout (weight ``(S, out, in)``), so a row unflattens to a state dict.
    """

    def __init__(self, example: dict[str, torch.Tensor]) -> None:
        self.keys = list(example)
        self.shapes = [tuple(v.shape) for v in example.values()]
        sizes = [v.numel() for v in example.values()]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes = sizes

    def flatten(self, dicts: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """State dicts -> ``(S, P)``."""
        return torch.stack([torch.cat([d[k].reshape(-1) for k in self.keys]) for d in dicts])

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(S, P)`` -> ``{key: (S, *shape)}`` views (differentiable slices of ``flat``)."""
        n = flat.shape[0]
        return {
            k: flat[:, o : o + size].view(n, *shape)
            for k, shape, o, size in zip(self.keys, self.shapes, self.offsets, self.sizes)
        }

    def state_dict(self, flat: torch.Tensor, i: int) -> dict[str, torch.Tensor]:
        """Row ``i`` as a ``QNetwork`` state dict (fresh tensors)."""
        return {k: v[0].detach().clone() for k, v in self.views(flat[i : i + 1]).items()}


class FlatAdam:
    """``torch.optim.Adam`` (betas 0.9/0.999, eps 1e-8, no weight decay) on one flat tensor.

    The single-tensor update of ``torch.optim.Adam``, op for op (Kingma & Ba 2015, Alg. 1)::

        m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2
        theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    It is elementwise, so one instance over the stacked ``(S, P)`` weights is S optimizers.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.step_count = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        step = float(self.step_count)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-(self.lr / bias_correction1))


def clip_per_student_(grad: torch.Tensor, max_norm: torch.Tensor, clip: torch.Tensor) -> None:
    """``nn.utils.clip_grad_norm_`` per student on flat grads ``(S, P)``, in place.

    ``coef_s = min(1, max_norm_s / (||g_s||_2 + 1e-6))`` where ``g_s`` is all of student
    s's gradient (Pascanu et al. 2013); students with ``clip`` False keep ``coef = 1``.
    """
    total = torch.linalg.vector_norm(grad, dim=1)  # (S,)
    coef = torch.where(clip, torch.clamp(max_norm / (total + 1e-6), max=1.0), 1.0)
    grad.mul_(coef.unsqueeze(1))


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


def targets_table(q_all: torch.Tensor, temperatures: Sequence[float]) -> Targets:
    """The teachers' targets of the whole buffer, ``(S, A, N)`` (``losses.Targets`` laid out actions first).

    ``q_all`` ``(S, N, A)``; with one teacher shared by every student (expanded along S) the
    targets are computed once per distinct temperature and shared or copied, bit for bit the
    per-student values (the softmax is row-wise).
    """
    device, dtype = q_all.device, q_all.dtype
    if q_all.stride(0) != 0:
        return _actions_first(Targets.of(q_all, torch.tensor(list(temperatures), dtype=dtype, device=device)))
    distinct = list(dict.fromkeys(temperatures))
    temperature = torch.tensor(distinct, dtype=dtype, device=device)
    table = _actions_first(Targets.of(q_all[: len(distinct)], temperature))  # (T, A, N)
    if len(distinct) == 1:
        return Targets(*(t.expand(len(temperatures), -1, -1) for t in table))
    index = torch.tensor([distinct.index(t) for t in temperatures], device=device)
    return Targets(*(t.index_select(0, index) for t in table))


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


def _actions_first(targets: Targets) -> Targets:
    """``Targets`` ``(S, n, A)`` -> ``(S, A, n)``, contiguous: the layout the losses read here."""
    return Targets(*(t.transpose(1, 2).contiguous() for t in targets))


def _take(targets: Targets, rows: torch.Tensor) -> Targets:
    """States ``rows[s]`` ``(S, m)`` of every student's ``(S, A, n)`` targets, in that order."""
    index = rows.unsqueeze(1)  # (S, 1, m)
    return Targets(*(t.gather(2, index.expand(-1, t.shape[1], -1)) for t in targets))


class StackedStudents:
    """S ``QNetwork`` students as one flat ``(S, P)`` buffer, with their teachers' Q-values precomputed.

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
        self.width, self.eps = ref.student_width, students[0][int(NORM_KEYS[0])].eps
        self.dropout_p = [s[DROPOUT_INDEX[0]].p for s in students]
        self.clip = torch.tensor([c.max_grad_norm is not None for c in configs], device=self.device)
        self.max_norm = torch.tensor([c.max_grad_norm or 1.0 for c in configs], dtype=self.dtype, device=self.device)
        with torch.no_grad():
            # The teachers' Q-values of the whole buffer, once: (S, N, A) (an expanded view when shared).
            self.x_all = states if states.ndim == 3 else states.expand(n_students, -1, -1)  # (S, N, D)
            if len(teachers) == 1 and states.ndim == 2:
                self.q_all = teachers[0](states).expand(n_students, -1, -1)
            else:
                self.q_all = torch.stack([teachers[i % len(teachers)](self.x_all[i]) for i in range(n_students)])
            if tuple(self.q_all.shape[1:]) != (ref.n_states, ref.output_dim):
                raise ValueError(
                    f"teacher output has shape {tuple(self.q_all.shape[1:])}; "
                    f"expected ({ref.n_states}, {ref.output_dim})"
                )
            self.train_idx, self.val_idx = train_idx, val_idx  # (S, n_train), (S, n_val)
            self.x_val, self.q_val = gather_rows(self.x_all, val_idx), gather_rows(self.q_all, val_idx)
        self.layout = FlatLayout(students[0].state_dict())
        flat = self.layout.flatten([s.state_dict() for s in students])
        self.flat = flat.to(device=self.device, dtype=self.dtype).requires_grad_()  # (S, P)
        self.optimizer = FlatAdam(self.flat, ref.lr)
        self.best_flat = self.flat.detach().clone()
        self.table: Targets | None = None  # the teachers' targets of the whole buffer at table_temperatures
        self.table_temperatures: list[float] | None = None

    def per_student(self, values: Sequence[float], dtype: torch.dtype | None = None) -> PerStudent:
        """Per-student values as a tensor ``(S,)`` (in the states' dtype unless given)."""
        return torch.tensor(list(values), dtype=dtype or self.dtype, device=self.device)

    @torch.no_grad()
    def start_epoch(self, order: torch.Tensor, temperatures: list[float]) -> None:
        """Gather the epoch's states and targets in batch order ``(S, n_train)``; rebuild targets if T changed."""
        if temperatures != self.table_temperatures:
            self.table = targets_table(self.q_all, temperatures)  # (S, A, N)
            self.table_temperatures = list(temperatures)
        rows = self.train_idx.gather(1, order)  # (S, n_train) buffer rows in batch order
        self.x_epoch = gather_rows(self.x_all, rows)  # (S, n_train, D)
        self.target_epoch = _take(self.table, rows)  # (S, A, n_train)

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, Targets]:
        """States ``(S, B, D)`` and the teachers' targets ``(S, A, B)`` of positions ``start:stop``."""
        x = self.x_epoch[:, start:stop]
        return x, self.target_epoch.narrow(-1, start, x.shape[1])

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """Train-mode logits ``(S, A, B)``, dropout multipliers ``keep`` ``(S, 2, B, H)`` from the streams."""
        self.params = self.layout.views(self.flat)
        return stacked_forward(self.params, x, self.eps, keep).transpose(1, 2).contiguous()

    def step(self, loss: torch.Tensor) -> None:
        """Backward, per-student clipping and Adam. ``loss`` ``(S,)``."""
        # d(sum_s L_s) / d theta_s = dL_s / d theta_s: one backward pass serves every student
        grads = torch.autograd.grad(loss.sum(), list(self.params.values()))
        grad = torch.cat([g.reshape(len(self.flat), -1) for g in grads], dim=1)  # (S, P)
        clip_per_student_(grad, self.max_norm, self.clip)
        self.optimizer.step(grad)

    @torch.no_grad()
    def predict(self, order: torch.Tensor) -> tuple[torch.Tensor, Targets]:
        """The validation split in ``order`` ``(S, n_val)``: logits ``(S, A, n_val)`` and targets."""
        self.q_split = stacked_forward(self.layout.views(self.flat), self.x_val, self.eps)  # (S, n_val, A)
        q_s = gather_rows(self.q_split, order).transpose(1, 2).contiguous()
        return q_s, _take(self.table, self.val_idx.gather(1, order))

    def predict_split(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Student and teacher Q-values of the validation split in split order ``(S, n_val, A)`` (after ``predict``)."""
        return self.q_split, self.q_val

    def keep_best(self, improved: list[int]) -> None:
        """Students ``improved`` reached a new best validation loss: keep their weights."""
        if improved:
            with torch.no_grad():
                idx = torch.tensor(improved, device=self.device)
                self.best_flat[idx] = self.flat.detach()[idx]

    def state_dict(self, i: int, best: bool = False) -> dict[str, torch.Tensor]:
        """Student ``i``'s final (or best) weights as a ``QNetwork`` state dict."""
        return self.layout.state_dict(self.best_flat if best else self.flat, i)
