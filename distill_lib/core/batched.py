"""Many students trained at once: one set of batched tensor ops for S independent runs.

A run of the study's student is almost pure framework overhead (about 1 GFLOP for 25
epochs, yet seconds of wall time), so a seed list or an alpha x temperature sweep is
trained as one "wide" run: the S students' weights are stacked along a leading axis (one
row of a flat ``(S, P)`` buffer per student) and every layer is a batched matmul
(``torch.baddbmm``), as in model ensembling with ``torch.func.stack_module_state`` (PyTorch
tutorial "Model ensembling"), but written out by hand so that LayerNorm, dropout, the
loss, gradient clipping and Adam are all batched without ``vmap``. Students are
independent: student ``s`` only ever reads row ``s`` of each stacked tensor, and the summed
loss ``sum_s L_s`` has ``dL/dtheta_s = dL_s/dtheta_s``.

Per-student random streams (this module's protocol; it replaces steps 4, 5 and 7 of
``training.py``, which draw from torch's *global* RNG and so cannot be batched):

1. student ``s`` owns ``g = torch.Generator(device).manual_seed(seed + 30000)``
   (``STREAM_SEED_OFFSET``, the offset ``training.py`` uses), on the device of the states;
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

The executable specification is ``train_alone``: one ``QNetwork`` trained by ordinary
per-student code (``nn.Module`` forward, ``losses.distillation_loss``,
``nn.utils.clip_grad_norm_``, ``torch.optim.Adam``, ``metrics.fidelity_metrics``) on the
same streams. ``train_batched`` matches it to float32 rounding, not bit for bit: the
forward pass (matmuls, LayerNorm, dropout) is bit-identical per student, and so is the
Adam update, but ATen's LayerNorm backward fuses the affine gradient into its own
reduction order and the losses and the gradient norm are sums taken in another order,
which stacked ops cannot reproduce; the weights drift apart by a few ulps per step (after
3 epochs of 5 steps, metrics differ by ~2e-7; the test's bar is 1e-5). A student trained
in a batch of 1 and the same student in a batch of S are bit-identical.

Other differences from ``training.train_student``: the teacher's Q-values for the whole
buffer are computed once (the teacher is frozen and row-wise, so they are the values the
per-batch forward would give), and the CPU path runs with one intra-op thread.

References: Kingma & Ba 2015, "Adam" (``torch.optim.Adam``'s update, reproduced op for op
on the flat buffer: Adam is elementwise, so one optimizer over stacked weights is S
optimizers); Pascanu et al. 2013 (gradient-norm clipping, per student).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import TRAINING_SEED_OFFSET, RunConfig
from .losses import distillation_loss
from .networks import QNetwork
from .training import TrainResult, evaluate, single_thread

__all__ = [
    "STREAM_SEED_OFFSET",
    "draw_dropout_noise",
    "draw_split",
    "stream_dropout",
    "stream_generator",
    "train_alone",
    "train_batched",
]

#: offset added to a run's seed to seed its training stream (as ``training.py``, step 4)
STREAM_SEED_OFFSET = TRAINING_SEED_OFFSET

#: the state-dict keys of ``networks.QNetwork`` that carry parameters, in module order
_LINEAR_KEYS = ("0", "4", "8")
_NORM_KEYS = ("1", "5")
_DROPOUT_INDEX = (3, 7)

#: the keys shared by every run of one batched call (the rest may differ per student)
_SHARED_FIELDS = ("input_dim", "output_dim", "n_states", "epochs", "batch_size", "lr", "val_fraction", "student_width")


# ----------------------------------------------------------------------------------------
# The per-student stream protocol (steps 1-4 of the module docstring)
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
        return torch.rand((2, n_rows, hidden), generator=g, out=out)
    return torch.rand((2, n_rows, hidden), generator=g, device=g.device, dtype=dtype)


def stream_dropout(x: torch.Tensor, keep: torch.Tensor, p: float) -> torch.Tensor:
    """Step 3's inverted dropout with the stream's mask: ``x * (keep * (1 / (1 - p)))``.

    The multiplier is 0 or ``1 / (1 - p)`` rounded to ``x.dtype``, as ``nn.Dropout``'s.
    """
    return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


# ----------------------------------------------------------------------------------------
# The specification: one student trained alone by ordinary per-student code
# ----------------------------------------------------------------------------------------


def _forward_with_keep(student: QNetwork, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The student's train-mode forward, its two ``nn.Dropout`` layers fed from the stream."""
    k = 0
    for module in student:
        if isinstance(module, nn.Dropout):
            x = stream_dropout(x, keep[k], module.p)
            k += 1
        else:
            x = module(x)
    return x


def train_alone(teacher: nn.Module, student: QNetwork, states: torch.Tensor, config: RunConfig) -> TrainResult:
    """Train one ``student`` (in place) on the per-student streams: the spec of ``train_batched``.

    Same loop as ``training.train_student`` (steps 5-8), with every random draw taken from
    the student's own generator (module docstring, steps 1-4).
    """
    _check_student(student, config, 0)
    _check_states(states, config, expect_stack=None)
    teacher.eval()  # the teacher is frozen: dropout off, always
    device = states.device
    n_train = config.n_states - config.n_val
    with single_thread() if device.type == "cpu" else contextlib.nullcontext():
        g = stream_generator(config.seed, device)
        train_idx, val_idx = draw_split(g, config.n_states, config.n_val)
        x_train, x_val = states[train_idx], states[val_idx]
        optimizer = torch.optim.Adam(student.parameters(), lr=config.lr)
        temperature = config.temperature
        history: list[dict[str, float]] = []
        best_val_loss, best_epoch = float("inf"), -1
        best_state = {k: v.clone() for k, v in student.state_dict().items()}

        for epoch in range(config.epochs):
            student.train()
            order = torch.randperm(n_train, generator=g, device=device)
            noise = draw_dropout_noise(g, n_train, student.hidden_dim, states.dtype)  # (2, n_train, H)
            keep = noise >= student[_DROPOUT_INDEX[0]].p
            train_losses = []
            for start in range(0, n_train, config.batch_size):
                stop = start + config.batch_size
                xb = x_train[order[start:stop]]
                with torch.no_grad():
                    q_t = teacher(xb)  # (B, A)
                q_s = _forward_with_keep(student, xb, keep[:, start:stop])  # (B, A)
                loss = distillation_loss(q_s, q_t, config.alpha, temperature, config.loss_fn)
                optimizer.zero_grad()
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(student.parameters(), config.max_grad_norm)
                optimizer.step()
                train_losses.append(loss.item())

            val_order = torch.randperm(config.n_val, generator=g, device=device)
            record = {"epoch": epoch, "temperature": temperature, "train_loss": float(np.mean(train_losses))}
            record.update(evaluate(student, teacher, x_val, val_order, config, temperature))
            history.append(record)
            if record["val_loss"] < best_val_loss:
                best_val_loss, best_epoch = record["val_loss"], epoch
                best_state = {k: v.clone() for k, v in student.state_dict().items()}
            temperature *= config.temp_decay

    return TrainResult(
        config=config,
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_val_loss,
        best_state=best_state,
        final_state={k: v.clone() for k, v in student.state_dict().items()},
        train_idx=train_idx.cpu().numpy(),
        val_idx=val_idx.cpu().numpy(),
        extra={"protocol": "per-student streams (distill_lib.core.batched)"},
    )


# ----------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------


def _check_student(student: nn.Module, config: RunConfig, i: int) -> None:
    if not isinstance(student, QNetwork):
        raise ValueError(f"students[{i}] is a {type(student).__name__}; expected a networks.QNetwork (build_student)")
    dims = (student.input_dim, student.hidden_dim, student.output_dim)
    want = (config.input_dim, config.student_width, config.output_dim)
    if dims != want:
        raise ValueError(
            f"students[{i}] has (input, hidden, output) = {dims}; configs[{i}] expects {want} "
            "(set RunConfig.student_hidden to the student's width)"
        )


def _check_states(states: torch.Tensor, config: RunConfig, expect_stack: int | None) -> None:
    if not isinstance(states, torch.Tensor) or not states.is_floating_point():
        raise ValueError(f"states must be a floating-point tensor, got {type(states).__name__}")
    tail = (config.n_states, config.input_dim)
    ok_plain = states.ndim == 2 and tuple(states.shape) == tail
    ok_stack = expect_stack is not None and states.ndim == 3 and tuple(states.shape) == (expect_stack, *tail)
    if not (ok_plain or ok_stack):
        allowed = f"({tail[0]}, {tail[1]})" + (f" or ({expect_stack}, {tail[0]}, {tail[1]})" if expect_stack else "")
        raise ValueError(f"states has shape {tuple(states.shape)}; allowed: {allowed} (n_states, input_dim)")


def _check_batch(
    teachers: nn.Module | Sequence[nn.Module],
    states: torch.Tensor,
    students: Sequence[QNetwork],
    configs: Sequence[RunConfig],
) -> list[nn.Module]:
    """Validate a batched call; returns the teachers as a list (length 1 or S)."""
    if len(configs) == 0:
        raise ValueError("configs is empty; pass one RunConfig per student (at least one)")
    if len(students) != len(configs):
        raise ValueError(f"len(students)={len(students)} != len(configs)={len(configs)}; pass one student per config")
    for i, config in enumerate(configs):
        if not isinstance(config, RunConfig):
            raise ValueError(f"configs[{i}] is a {type(config).__name__}; expected a RunConfig")
    for name in _SHARED_FIELDS:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise ValueError(
                f"{name} differs between configs ({sorted(values)}); one batched call needs one {name} "
                "(group the runs by it and make one call per group)"
            )
    for i, (student, config) in enumerate(zip(students, configs)):
        _check_student(student, config, i)
    eps = {students[i][int(k)].eps for i in range(len(students)) for k in _NORM_KEYS}
    if len(eps) > 1:
        raise ValueError(f"LayerNorm eps differs between students ({sorted(eps)}); it must be one value")
    _check_states(states, configs[0], expect_stack=len(configs))
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


# ----------------------------------------------------------------------------------------
# Batched building blocks: every tensor carries the student axis S first
# ----------------------------------------------------------------------------------------


class _FlatLayout:
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


class _Adam:
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


def _clip_(grad: torch.Tensor, max_norm: torch.Tensor, clip: torch.Tensor) -> None:
    """``nn.utils.clip_grad_norm_`` per student on flat grads ``(S, P)``, in place.

    ``coef_s = min(1, max_norm_s / (||g_s||_2 + 1e-6))`` where ``g_s`` is all of student
    s's gradient (Pascanu et al. 2013); students with ``clip`` False keep ``coef = 1``.
    """
    total = torch.linalg.vector_norm(grad, dim=1)  # (S,)
    coef = torch.where(clip, torch.clamp(max_norm / (total + 1e-6), max=1.0), 1.0)
    grad.mul_(coef.unsqueeze(1))


def _gather_rows(table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``table[s, rows[s]]`` for every s: table ``(S, N, F)`` (maybe expanded), rows ``(S, M)`` -> ``(S, M, F)``."""
    student = torch.arange(rows.shape[0], device=rows.device).unsqueeze(1)
    return table[student, rows]


def _layer_norm(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-student affine LayerNorm (Ba, Kiros & Hinton 2016): h ``(S, B, H)``, weight/bias ``(S, H)``.

    ``F.layer_norm`` without affine, then one fused ``addcmul``: bit for bit the forward
    value of ``nn.LayerNorm`` with that student's weight and bias.
    """
    xhat = F.layer_norm(h, h.shape[-1:], eps=eps)
    return torch.addcmul(bias.unsqueeze(1), xhat, weight.unsqueeze(1))


def _forward(
    params: dict[str, torch.Tensor], x: torch.Tensor, eps: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """S QNetworks at once: x ``(S, B, D)`` -> Q ``(S, B, A)``.

    ``mask`` ``(S, 2, B, H)`` holds the dropout multipliers ``keep / (1 - p)`` of the two
    dropout layers (train mode), or is None (eval mode: no dropout).
    """
    h = x
    for layer, (lin, norm) in enumerate(zip(_LINEAR_KEYS[:2], _NORM_KEYS)):
        h = torch.baddbmm(params[f"{lin}.bias"].unsqueeze(1), h, params[f"{lin}.weight"].transpose(1, 2))  # (S, B, H)
        h = torch.relu(_layer_norm(h, params[f"{norm}.weight"], params[f"{norm}.bias"], eps))
        if mask is not None:
            h = h * mask[:, layer]
    head = _LINEAR_KEYS[2]
    return torch.baddbmm(params[f"{head}.bias"].unsqueeze(1), h, params[f"{head}.weight"].transpose(1, 2))  # (S, B, A)


class _Targets(NamedTuple):
    """The teacher's side of the loss for a block of states, actions on axis 1: ``(S, A, n)``.

    The softmax over a size-4 last axis is slow on the CPU; with actions on axis 1 the
    student's ``log_softmax`` runs vectorised over states (same values, bit for bit).
    """

    q: torch.Tensor  # (S, A, n) teacher Q-values
    p: torch.Tensor  # (S, A, n) softmax(q / T)
    plogp: torch.Tensor  # (S, A, n) xlogy(p, p): the teacher's part of F.kl_div
    action: torch.Tensor  # (S, 1, n) teacher's greedy action

    @classmethod
    def build(cls, q_rows: torch.Tensor, temperature: torch.Tensor) -> _Targets:
        """From teacher Q-values ``(S, n, A)`` at per-student temperatures ``(S,)``."""
        p = F.softmax(q_rows / temperature.view(-1, 1, 1), dim=-1)  # (S, n, A), row by row as the reference
        return cls(
            q=q_rows.transpose(1, 2).contiguous(),
            p=p.transpose(1, 2).contiguous(),
            plogp=torch.xlogy(p, p).transpose(1, 2).contiguous(),
            action=q_rows.argmax(-1).unsqueeze(1),
        )

    def take(self, rows: torch.Tensor) -> _Targets:
        """States ``rows[s]`` ``(S, m)`` of every student's block, in that order."""
        index = rows.unsqueeze(1)  # (S, 1, m)
        return _Targets(*(t.gather(2, index.expand(-1, t.shape[1], -1)) for t in self))

    def cols(self, start: int, stop: int) -> _Targets:
        """States ``start:stop`` of the block."""
        return _Targets(*(t[..., start:stop] for t in self))


class _Objective(NamedTuple):
    """Per-student loss weights ``(S,)`` and which terms any student needs."""

    alpha: torch.Tensor
    one_minus_alpha: torch.Tensor
    is_mse: torch.Tensor
    need_soft: bool
    need_hard: bool
    need_mse: bool

    @classmethod
    def build(cls, configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> _Objective:
        kl = [c for c in configs if c.loss_fn == "kl"]
        return cls(
            alpha=torch.tensor([c.alpha for c in configs], dtype=dtype, device=device),
            one_minus_alpha=torch.tensor([1.0 - c.alpha for c in configs], dtype=dtype, device=device),
            is_mse=torch.tensor([c.loss_fn == "mse" for c in configs], device=device),
            need_soft=any(c.alpha > 0.0 for c in kl),
            need_hard=any(c.alpha < 1.0 for c in kl),
            need_mse=len(kl) < len(configs),
        )


def _loss(q_s: torch.Tensor, target: _Targets, objective: _Objective, temperature: torch.Tensor) -> torch.Tensor:
    """``losses.distillation_loss`` per student: q_s ``(S, A, B)`` -> ``(S,)``.

    KL students: ``alpha * KL(p_t^T || p_s^T) * T^2 + (1 - alpha) * CE(s, argmax t)``
    (Hinton et al. 2015); MSE students: ``mean (s - t)^2`` (Rusu et al. 2016). A term no
    student needs is skipped; a term multiplied by an exact zero changes neither value nor
    gradient, so ``alpha == 1`` matches the reference, which never computes the hard term.
    """
    n = q_s.shape[2]
    zero = q_s.new_zeros(q_s.shape[0])
    soft = hard = mse = zero
    if objective.need_soft:
        log_p_s = F.log_softmax(q_s / temperature.view(-1, 1, 1), dim=1)
        soft = (target.plogp - target.p * log_p_s).sum((1, 2)) / n * temperature * temperature
    if objective.need_hard:
        hard = -F.log_softmax(q_s, dim=1).gather(1, target.action).sum((1, 2)) / n
    if objective.need_mse:
        mse = F.mse_loss(q_s, target.q, reduction="none").mean((1, 2))
    return torch.where(objective.is_mse, mse, objective.alpha * soft + objective.one_minus_alpha * hard)


def _prob_similarity(q_s: torch.Tensor, target: _Targets, temperature: torch.Tensor) -> torch.Tensor:
    """``metrics.prob_similarity`` per student: ``1 - mean |p_t^T - p_s^T|``, q_s ``(S, A, B)`` -> ``(S,)``."""
    p_s = F.softmax(q_s / temperature.view(-1, 1, 1), dim=1)
    return 1.0 - (target.p - p_s).abs().mean((1, 2))


def _fidelity(q_s: torch.Tensor, q_t: torch.Tensor) -> dict[str, torch.Tensor]:
    """``metrics.fidelity_metrics`` per student (less action_agreement): ``(S, N, A)`` -> each ``(S,)``."""
    a_t = q_t.argmax(-1, keepdim=True)  # (S, N, 1)
    log_p_s, log_p_t = F.log_softmax(q_s, dim=-1), F.log_softmax(q_t, dim=-1)
    chosen = q_t.gather(-1, q_s.argmax(-1, keepdim=True)).squeeze(-1)  # (S, N)
    return {
        "top2_agreement": (q_s.topk(2, dim=-1).indices == a_t).any(-1).double().mean(-1),
        "prob_similarity_t1": 1.0 - (log_p_t.exp() - log_p_s.exp()).abs().mean((1, 2)),
        "kl_t1": (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean(-1),
        "q_mse": F.mse_loss(q_s, q_t, reduction="none").mean((1, 2)),
        "q_mae": F.l1_loss(q_s, q_t, reduction="none").mean((1, 2)),
        "q_cosine": F.cosine_similarity(q_s, q_t, dim=-1).mean(-1),
        "regret": (q_t.max(-1).values - chosen).mean(-1),
    }


# ----------------------------------------------------------------------------------------
# The batched trainer
# ----------------------------------------------------------------------------------------


def train_batched(
    teachers: nn.Module | Sequence[nn.Module],
    states: torch.Tensor,
    students: Sequence[QNetwork],
    configs: Sequence[RunConfig],
    progress: bool = False,
) -> list[TrainResult]:
    """Train S students at once, each as ``train_alone`` would; one ``TrainResult`` per student.

    Args:
        teachers: one frozen teacher for all students, or one per student (any module
            mapping ``(N, D)`` states to ``(N, A)`` Q-values; put in eval mode here).
        states: the buffer, ``(n_states, input_dim)`` shared or ``(S, n_states, input_dim)``
            one per student; its device is the device of the whole run.
        students: the initial students (``networks.QNetwork``, e.g. ``build_student``), all
            of one width; they are read, not modified.
        configs: one ``RunConfig`` per student. ``seed``, ``alpha``, ``mode``,
            ``temperature``, ``temp_decay``, ``loss_fn`` and ``max_grad_norm`` may differ
            per student; sizes, epochs, batch size, lr, val_fraction and the student width
            (``_SHARED_FIELDS``) must agree.
        progress: show a tqdm bar over epochs.

    Returns:
        Per student, a ``training.TrainResult``: history records with the keys of
        ``train_student``'s, ``best_state``/``final_state`` as ``QNetwork`` state dicts, and
        the split indices.

    Memory: about 3 MB per student at the study's size (the epoch's dropout multipliers
    ``(S, 2, n_train, width)`` and the gathered states and targets; 200 students peaked at
    0.94 GB resident on the CPU, PyTorch included).
    """
    teacher_list = _check_batch(teachers, states, students, configs)
    ref = configs[0]
    n_students, device, dtype = len(configs), states.device, states.dtype
    n_train, n_val, batch = ref.n_states - ref.n_val, ref.n_val, ref.batch_size
    width = ref.student_width
    eps = students[0][int(_NORM_KEYS[0])].eps
    p_drop = [s[_DROPOUT_INDEX[0]].p for s in students]
    scale = torch.tensor([1.0 / (1.0 - p) for p in p_drop], dtype=dtype, device=device).view(-1, 1, 1, 1)
    objective = _Objective.build(configs, device, dtype)
    clip = torch.tensor([c.max_grad_norm is not None for c in configs], device=device)
    max_norm = torch.tensor([c.max_grad_norm or 1.0 for c in configs], dtype=dtype, device=device)
    temperatures = [c.temperature for c in configs]  # Python floats, decayed as the reference does

    with single_thread() if device.type == "cpu" else contextlib.nullcontext():
        with torch.no_grad():
            # The teacher's Q-values of the whole buffer, once: (S, N, A) (an expanded view when shared).
            for teacher in teacher_list:
                teacher.eval()
            x_all = states if states.ndim == 3 else states.expand(n_students, -1, -1)  # (S, N, D)
            if len(teacher_list) == 1 and states.ndim == 2:
                q_all = teacher_list[0](states).expand(n_students, -1, -1)
            else:
                q_all = torch.stack([teacher_list[i % len(teacher_list)](x_all[i]) for i in range(n_students)])
            if tuple(q_all.shape[1:]) != (ref.n_states, ref.output_dim):
                raise ValueError(
                    f"teacher output has shape {tuple(q_all.shape[1:])}; expected ({ref.n_states}, {ref.output_dim})"
                )
            # Stream step 2: the split, per student.
            gens = [stream_generator(c.seed, device) for c in configs]
            splits = [draw_split(g, ref.n_states, n_val) for g in gens]
            train_idx = torch.stack([tr for tr, _ in splits])  # (S, n_train)
            val_idx = torch.stack([va for _, va in splits])  # (S, n_val)
            x_val, q_val = _gather_rows(x_all, val_idx), _gather_rows(q_all, val_idx)  # (S, n_val, D), (S, n_val, A)

        layout = _FlatLayout(students[0].state_dict())
        flat = layout.flatten([s.state_dict() for s in students]).to(device=device, dtype=dtype).requires_grad_()
        optimizer = _Adam(flat, ref.lr)
        best_flat = flat.detach().clone()
        best_val_loss, best_epoch = [float("inf")] * n_students, [-1] * n_students
        histories: list[list[dict[str, float]]] = [[] for _ in range(n_students)]

        mask = torch.empty((n_students, 2, n_train, width), dtype=dtype, device=device)  # dropout multipliers
        table, table_temperatures = None, None
        for epoch in tqdm(range(ref.epochs), disable=not progress, desc=f"{n_students} students", unit="epoch"):
            temp = torch.tensor(temperatures, dtype=dtype, device=device)  # (S,)
            with torch.no_grad():
                if temperatures != table_temperatures:  # the teacher's targets for the whole buffer at T
                    table, table_temperatures = _Targets.build(q_all, temp), list(temperatures)
                # Stream step 3: this epoch's order and dropout masks, per student.
                orders = []
                for i, (g, p) in enumerate(zip(gens, p_drop)):
                    orders.append(torch.randperm(n_train, generator=g, device=device))
                    draw_dropout_noise(g, n_train, width, dtype, out=mask[i]).ge_(p)  # keep: 1.0 / 0.0
                mask.mul_(scale)  # 0 or 1 / (1 - p): stream_dropout's multiplier
                rows = train_idx.gather(1, torch.stack(orders))  # (S, n_train) buffer rows in batch order
                x_epoch = _gather_rows(x_all, rows)  # (S, n_train, D)
                target = table.take(rows)  # (S, A, n_train)

            # Steps 5-6: one pass over the training split, all students in lockstep.
            train_losses = []
            for start in range(0, n_train, batch):
                stop = start + batch
                params = layout.views(flat)
                q_s = _forward(params, x_epoch[:, start:stop], eps, mask[:, :, start:stop])  # (S, B, A)
                loss = _loss(q_s.transpose(1, 2).contiguous(), target.cols(start, stop), objective, temp)  # (S,)
                # d(sum_s L_s) / d theta_s = dL_s / d theta_s: one backward pass serves every student
                grads = torch.autograd.grad(loss.sum(), list(params.values()))
                grad = torch.cat([g.reshape(n_students, -1) for g in grads], dim=1)  # (S, P)
                _clip_(grad, max_norm, clip)
                optimizer.step(grad)
                train_losses.append(loss.detach())

            # Step 7 (stream step 4): batch means in the stream's order, the rest on the whole split.
            with torch.no_grad():
                val_order = torch.stack([torch.randperm(n_val, generator=g, device=device) for g in gens])
                q_s = _forward(layout.views(flat), x_val, eps)  # (S, n_val, A), split order
                whole = _fidelity(q_s, q_val)
                q_so, q_to = _gather_rows(q_s, val_order), _gather_rows(q_val, val_order)
                val_target = table.take(val_idx.gather(1, val_order))
                q_so_t = q_so.transpose(1, 2).contiguous()  # (S, A, n_val)
                batch_loss, batch_sim = [], []
                for start in range(0, n_val, batch):
                    qs_b, tg_b = q_so_t[..., start : start + batch], val_target.cols(start, start + batch)
                    batch_loss.append(_loss(qs_b, tg_b, objective, temp))
                    batch_sim.append(_prob_similarity(qs_b, tg_b, temp))
                agree = (q_so.argmax(-1) == q_to.argmax(-1)).sum(1).tolist()
                per_batch = {
                    "train_loss": torch.stack(train_losses, 1).double().cpu().numpy(),  # (S, n_batches)
                    "val_loss": torch.stack(batch_loss, 1).double().cpu().numpy(),
                    "mean_prob_similarity": torch.stack(batch_sim, 1).double().cpu().numpy(),
                }
                whole_lists = {k: v.tolist() for k, v in whole.items()}

            # Step 8: records, best epoch, temperature schedule.
            improved = []
            for i in range(n_students):
                record = {
                    "epoch": epoch,
                    "temperature": temperatures[i],
                    "train_loss": float(np.mean(per_batch["train_loss"][i])),
                    "val_loss": float(np.mean(per_batch["val_loss"][i])),
                    "action_agreement": agree[i] / n_val,
                    "mean_prob_similarity": float(np.mean(per_batch["mean_prob_similarity"][i])),
                    **{k: v[i] for k, v in whole_lists.items()},
                }
                histories[i].append(record)
                if record["val_loss"] < best_val_loss[i]:
                    best_val_loss[i], best_epoch[i] = record["val_loss"], epoch
                    improved.append(i)
                temperatures[i] *= configs[i].temp_decay
            if improved:
                with torch.no_grad():
                    idx = torch.tensor(improved, device=device)
                    best_flat[idx] = flat.detach()[idx]

    train_np, val_np = train_idx.cpu().numpy(), val_idx.cpu().numpy()
    return [
        TrainResult(
            config=configs[i],
            history=histories[i],
            best_epoch=best_epoch[i],
            best_val_loss=best_val_loss[i],
            best_state=layout.state_dict(best_flat, i),
            final_state=layout.state_dict(flat, i),
            train_idx=train_np[i].copy(),
            val_idx=val_np[i].copy(),
            extra={"protocol": "per-student streams (distill_lib.core.batched)", "batched_with": n_students},
        )
        for i in range(n_students)
    ]
