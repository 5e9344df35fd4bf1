"""Distillation losses: pure functions of Q-value logits, for one student or many at once.

The student's and teacher's Q-values are treated as logits over actions. Every loss takes
logits with the actions on axis ``dim`` of the last two (``(B, A)`` with ``dim=-1`` for one
student; ``(S, B, A)``, or ``(S, A, B)`` with ``dim=-2``, for S students) and returns one
value per student: a scalar for ``(B, A)``, ``(S,)`` for a leading student axis. Per-student
``alpha`` and ``temperature`` may be Python floats or tensors of shape ``(...)``.

- Soft term (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
  Network"): ``KL(softmax(t/T) || softmax(s/T)) * T^2``. The ``T^2`` keeps the gradient
  magnitude of the soft term roughly independent of T, since the softened logits'
  gradients scale as ``1/T^2``.
- Hard term: cross-entropy of the student's logits against the teacher's argmax action.
- Blend (``"kl"``): ``alpha * soft + (1 - alpha) * hard``; at ``alpha == 1`` the hard term is
  not computed at all, at ``alpha == 0`` the soft term (as in the original trainer).
- MSE alternative (``"mse"``; Rusu et al. 2016, "Policy Distillation", sec. 3): mean squared
  error on the Q-values; it has no temperature and no hard term.
- Rusu's KL (``"rusu_kl"``; Rusu et al. 2016, sec. 3, eq. 3): ``KL(softmax(t/tau) ||
  softmax(s))``, the teacher sharpened by ``tau`` (the run's ``temperature``, typically
  < 1), the student at T = 1, no ``T^2`` and no hard term (``RunConfig`` requires alpha 1).

The teacher's logits are its Q-values on the run's scale (``RunConfig.q_targets``, ``q_targets``):
raw, standardized or centred; the losses read whatever they are given.

``soft_share`` measures how much of the blended objective's gradient the soft term carries.

``LOSSES`` is the one place an objective is defined: a new objective is one entry there
(``RunConfig.loss_fn`` names it; the training loop calls it for one student or for S).

The teacher's side may be passed as logits or as ``Targets``, the teacher's probabilities
and greedy actions computed once (the stacked trainer builds them once per temperature for
its whole buffer: a softmax over a size-4 last axis is slow on the CPU, so the stacked
trainer also keeps its logits as ``(S, A, B)``, ``dim=-2``, where the student's softmax runs
vectorised over states).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F

from . import fused

__all__ = [
    "LOSSES",
    "Loss",
    "PerStudent",
    "Targets",
    "distillation_loss",
    "expand_per_student",
    "greedy_action",
    "hard_ce_loss",
    "kl_blend_loss",
    "mse_q_loss",
    "per_student_loss",
    "rusu_kl_loss",
    "soft_kl_loss",
    "soft_share",
    "teacher_logits",
    "teacher_probs",
]

#: a per-student hyper-parameter: one float for every student, or a tensor ``(...)``, one value each
PerStudent = float | torch.Tensor


def expand_per_student(value: PerStudent, like: torch.Tensor) -> PerStudent:
    """A per-student value ``(...)`` broadcast over the last two axes, ``(..., 1, 1)``, in ``like``'s dtype."""
    return value.to(like.dtype)[..., None, None] if isinstance(value, torch.Tensor) else value


class Targets(NamedTuple):
    """The teacher's side of the losses at one temperature, laid out as its logits (actions on ``dim``)."""

    q: torch.Tensor  # (..., B, A) the teacher's logits
    p: torch.Tensor  # (..., B, A) softmax(q / T)
    plogp: torch.Tensor  # (..., B, A) xlogy(p, p): the teacher's part of KL(p || p_s)
    action: torch.Tensor  # (..., B, 1) greedy action (keepdim on the action axis)

    @classmethod
    def of(cls, teacher: torch.Tensor, temperature: PerStudent) -> Targets:
        """From the teacher's logits ``(..., B, A)`` (actions last) at per-student temperatures ``(...)``."""
        # Row by row, as per-batch code does, whatever layout the caller wants afterwards: a softmax
        # along the other axis of a transposed copy differs in the last bit (the stacked trainer's
        # published numbers come from this form).
        p = F.softmax(teacher / expand_per_student(temperature, teacher), dim=-1)  # (..., B, A)
        return cls(q=teacher, p=p, plogp=torch.xlogy(p, p), action=teacher.argmax(-1, keepdim=True))

    def narrow(self, dim: int, start: int, length: int) -> Targets:
        """States ``start:start + length`` along ``dim`` of every field (``torch.Tensor.narrow``)."""
        return Targets(*(t.narrow(dim, start, length) for t in self))


def teacher_logits(teacher: torch.Tensor | Targets) -> torch.Tensor:
    """The teacher's Q-values, from logits or ``Targets``."""
    return teacher.q if isinstance(teacher, Targets) else teacher


def teacher_probs(
    teacher: torch.Tensor | Targets, temperature: PerStudent, dim: int = -1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, xlogy(p, p))`` with ``p = softmax(t / T)`` over the action axis ``dim``."""
    if isinstance(teacher, Targets):
        return teacher.p, teacher.plogp
    p = F.softmax(teacher / expand_per_student(temperature, teacher), dim=dim)
    return p, torch.xlogy(p, p)


def greedy_action(logits: torch.Tensor | Targets, dim: int = -1) -> torch.Tensor:
    """The argmax action over axis ``dim``, kept as a size-1 axis (``Targets`` carry the teacher's).

    Along another axis than the last, the same index (the first maximum; a NaN counts as the
    maximum, as in ``argmax``) comes from ``amax`` and comparisons: on the CPU ATen's argmax
    along a short strided axis is about 50 times slower.
    """
    if isinstance(logits, Targets):
        return logits.action
    dim = dim - logits.ndim if dim >= 0 else dim
    if dim == -1:
        return logits.argmax(-1, keepdim=True)
    n = logits.shape[dim]
    is_top = (logits == logits.amax(dim, keepdim=True)) | logits.isnan()  # a NaN maximum: the NaNs
    countdown = torch.arange(n, 0, -1, device=logits.device).view(n, *[1] * (-dim - 1))  # n - a
    return n - (is_top * countdown).amax(dim, keepdim=True)  # the first top index


def soft_kl_loss(
    student: torch.Tensor, teacher: torch.Tensor | Targets, temperature: PerStudent, dim: int = -1
) -> torch.Tensor:
    """``KL(softmax(t/T) || softmax(s/T)) * T^2``, summed over actions, averaged over states (Hinton et al. 2015).

    The expression of ``F.kl_div(log_p_s, p_t, reduction="batchmean")`` (``sum(xlogy(p_t, p_t)
    - p_t * log_p_s) / B``), written out so that it reduces per student; for ``(B, A)`` input it
    is bit for bit ``F.kl_div``'s value and gradient.
    """
    p, plogp = teacher_probs(teacher, temperature, dim)
    log_p_s = F.log_softmax(student / expand_per_student(temperature, student), dim=dim)
    t = _scalar(temperature, student)
    return (plogp - p * log_p_s).sum((-2, -1)) / _n_states(student, dim) * t * t


def hard_ce_loss(student: torch.Tensor, teacher: torch.Tensor | Targets, dim: int = -1) -> torch.Tensor:
    """``-mean_b log softmax(s_b)[argmax t_b]``: cross-entropy against the teacher's greedy action.

    The "hard target" term of Hinton et al. 2015, with the teacher's argmax as the label.
    """
    action = greedy_action(teacher, dim)
    if student.ndim == 2 and dim in (-1, 1):
        # Exact form for one student: F.cross_entropy's nll_loss sums the batch in cascaded partial
        # sums of 16, which round differently from a tensor sum. The seed-compatible path's losses
        # (its train/val loss, hence its best epoch and the acceptance table) depend on those bits;
        # the gradient is the same either way.
        return F.cross_entropy(student, action.squeeze(-1))
    return -F.log_softmax(student, dim=dim).gather(dim, action).sum((-2, -1)) / _n_states(student, dim)


def mse_q_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | Targets,
    alpha: PerStudent | None = None,
    temperature: PerStudent | None = None,
    dim: int = -1,
) -> torch.Tensor:
    """``mean (s - t)^2`` over states and actions (Rusu et al. 2016); ``alpha`` and ``temperature`` are ignored.

    For ``(B, A)`` input this is bit for bit ``F.mse_loss(s, t)``'s value and gradient.
    """
    del alpha, temperature, dim
    return F.mse_loss(student, teacher_logits(teacher), reduction="none").mean((-2, -1))


def kl_blend_loss(
    student: torch.Tensor, teacher: torch.Tensor | Targets, alpha: PerStudent, temperature: PerStudent, dim: int = -1
) -> torch.Tensor:
    """``alpha * KL(p_t^T || p_s^T) * T^2 + (1 - alpha) * CE(s, argmax t)`` (Hinton et al. 2015).

    A term whose weight is zero for every student is not computed (``alpha == 1``: soft only,
    as the original trainer; ``alpha == 0``: hard only). Where only some students need a
    term, the others multiply it by an exact zero, which changes neither value nor gradient.
    For a tensor ``alpha`` pass float64 (the configs' Python floats): ``1 - alpha`` is then
    rounded once, as with Python floats. S students' logits ``(S, A, B)`` on the CPU with
    ``Targets`` take ``fused.kl_blend_loss``: this formula and its gradient in one pass, in
    autograd's order of operations (to float32 rounding; both terms, each weighted).
    """
    if isinstance(teacher, Targets) and fused.kl_blend_runs(student, (teacher.p, teacher.plogp, teacher.action), dim):
        # S students on the CPU: this formula and its gradient in one pass (fused.c), to float32 rounding
        return fused.kl_blend_loss(student, (teacher.p, teacher.plogp, teacher.action), alpha, temperature)
    if _everywhere(alpha, 0.0):
        return hard_ce_loss(student, teacher, dim)  # 0 * soft + 1 * hard is hard exactly, value and gradient
    soft = soft_kl_loss(student, teacher, temperature, dim)
    if _everywhere(alpha, 1.0):
        return soft
    hard = hard_ce_loss(student, teacher, dim)
    return _scalar(alpha, soft) * soft + _scalar(1.0 - alpha, soft) * hard


def rusu_kl_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | Targets,
    alpha: PerStudent | None = None,
    temperature: PerStudent = 1.0,
    dim: int = -1,
) -> torch.Tensor:
    """``KL(softmax(t/tau) || softmax(s))``, summed over actions, averaged over states (Rusu et al. 2016, eq. 3).

    The teacher's Q-values are sharpened by ``tau`` (``temperature``; Rusu et al. use 0.01),
    the student's logits are read at T = 1, and there is no ``T^2`` factor: unlike Hinton's
    soft term (``soft_kl_loss``), whose ``T^2`` and softened student keep the gradient's scale,
    this gradient is ``softmax(s) - softmax(t/tau)`` per state whatever tau. ``alpha`` is
    ignored (no hard term; ``RunConfig`` requires alpha 1). It runs through autograd for S
    students too: ``fused.kl_blend_loss`` at alpha 1 and T = 1 computes this formula, but at 200
    students its loss and gradient took 1.6-1.7 times as long as these torch operations (0.37-0.42
    ms against 0.24 ms a step, of a step of about 8 ms; ``benchmarks/bench_objectives.py``).
    """
    del alpha
    p, plogp = teacher_probs(teacher, temperature, dim)  # softmax(t / tau)
    log_p_s = F.log_softmax(student, dim=dim)  # the student at T = 1
    return (plogp - p * log_p_s).sum((-2, -1)) / _n_states(student, dim)


def soft_share(
    student_logits: torch.Tensor, teacher_q: torch.Tensor, alpha: float, temperature: float, dim: int = -1
) -> float:
    """The soft term's share of the blended objective's gradient: ``||g_soft|| / (||g_soft|| + ||g_hard||)``.

    ``g_soft`` is the gradient with respect to the student's logits ``(B, A)`` of ``alpha *
    KL_T * T^2`` (``soft_kl_loss``), ``g_hard`` that of ``(1 - alpha) * CE`` (``hard_ce_loss``),
    each summed over the given states; norms are Frobenius norms over states and actions. Per
    state ``g_soft = alpha T (softmax(s/T) - softmax(t/T))`` and ``g_hard = (1 - alpha)
    (softmax(s) - onehot(argmax t))``: as T falls, ``g_soft`` shrinks with T, so at a small
    temperature the "blended" objective is the hard one. 0 at alpha 0, 1 at alpha 1 (NaN where
    both gradients vanish).

    Measured on the shipped CartPole teacher (its 10,000 buffer states, ``rl.students.
    teacher_and_buffers`` at the defaults; Q = 76.8 +- 0.28, median action gap 0.036) for
    untrained students (``build_student``, seeds 0-4, width 32, eval mode) at alpha 0.5, for
    tau = 0.01 / 0.03 / 0.1: 1.2 / 3.1 / 8.3 % (widths 8 and 64 within 0.5 points; at alpha
    0.9: 9.8 / 22.5 / 44.9 %; ``benchmarks/bench_objectives.py --share`` prints the table).
    The review's 1.5 / 4 / 11 % is a quarter to a third higher at every tau, with the same
    trend; the share of the gradient with respect to the student's *parameters*
    (backpropagated through the network; same students) is 1.7 / 4.7 / 13.2 %: the review's
    figures lie between the two definitions. Either way, at tau <= 0.1 a blend at alpha 0.5 is at least 90 % hard.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha}: must be in [0, 1]")
    s = student_logits.detach().clone().requires_grad_()
    n = _n_states(s, dim)
    (g_soft,) = torch.autograd.grad(alpha * soft_kl_loss(s, teacher_q, temperature, dim) * n, s)  # summed over states
    (g_hard,) = torch.autograd.grad((1.0 - alpha) * hard_ce_loss(s, teacher_q, dim) * n, s)
    soft, hard = torch.linalg.vector_norm(g_soft).item(), torch.linalg.vector_norm(g_hard).item()
    return soft / (soft + hard) if soft + hard > 0 else float("nan")


class Loss(Protocol):
    """An objective: per-student loss ``(...)`` from student and teacher logits ``(..., B, A)``."""

    def __call__(
        self,
        student: torch.Tensor,
        teacher: torch.Tensor | Targets,
        alpha: PerStudent,
        temperature: PerStudent,
        dim: int = -1,
    ) -> torch.Tensor: ...


#: objective by ``RunConfig.loss_fn``: the one place an objective is defined
LOSSES: dict[str, Loss] = {
    "kl": kl_blend_loss,
    "mse": mse_q_loss,
    "rusu_kl": rusu_kl_loss,
}


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor | Targets,
    alpha: PerStudent,
    temperature: PerStudent,
    loss_fn: str = "kl",
    dim: int = -1,
) -> torch.Tensor:
    """The objective ``LOSSES[loss_fn]`` for one student (``(B, A)``) or S (``(S, B, A)``).

    ``"kl"``: ``alpha * KL(p_t^T || p_s^T) * T^2 + (1 - alpha) * CE(s, argmax t)`` (Hinton et al.
    2015); ``"mse"``: ``mean (s - t)^2`` on the Q-values (Rusu et al. 2016); ``"rusu_kl"``:
    ``KL(softmax(t / tau) || softmax(s))`` (Rusu et al. 2016, eq. 3).
    """
    return LOSSES[loss_fn](student, teacher, alpha, temperature, dim=dim)


def per_student_loss(
    names: Sequence[str],
    student: torch.Tensor,
    teacher: torch.Tensor | Targets,
    alpha: PerStudent,
    temperature: PerStudent,
    dim: int = -1,
) -> torch.Tensor:
    """Each student's own objective ``LOSSES[names[s]]``, S students at once: ``(S,)`` (a scalar for one student).

    Students are grouped by objective; a student's value does not depend on its group (every
    reduction is per student), so a batch may mix objectives.
    """
    if len(set(names)) == 1:
        return LOSSES[names[0]](student, teacher, alpha, temperature, dim=dim)
    groups, inverse = _groups(tuple(names), student.device)
    parts = []
    for name, idx in groups:
        pick = _pick(idx)
        parts.append(LOSSES[name](student[idx], pick(teacher), pick(alpha), pick(temperature), dim=dim))
    return torch.cat(parts)[inverse]


@functools.lru_cache(maxsize=64)
def _groups(names: tuple[str, ...], device: torch.device) -> tuple[list[tuple[str, torch.Tensor]], torch.Tensor]:
    """The students of each objective ``[(name, rows)]`` and the permutation back to student order.

    Cached: built once per call of the training loop, not once per step (on an accelerator each
    index tensor would be a copy from the host).
    """
    groups, order = [], []
    for name in dict.fromkeys(names):
        rows = [s for s, n in enumerate(names) if n == name]
        groups.append((name, torch.tensor(rows, device=device)))
        order += rows
    inverse = torch.empty(len(order), dtype=torch.long, device=device)
    inverse[torch.tensor(order, device=device)] = torch.arange(len(order), device=device)
    return groups, inverse


# ----------------------------------------------------------------------------------------
# Per-student arguments
# ----------------------------------------------------------------------------------------


def _pick(idx: torch.Tensor) -> Callable[[Any], Any]:
    """Rows ``idx`` of the student axis of a tensor, ``Targets`` or per-student value (floats pass through)."""

    def pick(value: Any) -> Any:
        if isinstance(value, Targets):
            return Targets(*(t[idx] for t in value))
        return value[idx] if isinstance(value, torch.Tensor) else value

    return pick


def _scalar(value: PerStudent, like: torch.Tensor) -> PerStudent:
    """A per-student value ``(...)`` in ``like``'s dtype (a float stays a float)."""
    return value.to(like.dtype) if isinstance(value, torch.Tensor) else value


def _everywhere(value: PerStudent, target: float) -> bool:
    """Whether every student's value is ``target`` (a host-side check: cheaper than two tensor ops).

    Always False for a tensor on an accelerator: reading it would wait for the device at every
    step, and computing a term whose weight is an exact zero changes neither value nor gradient.
    """
    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu":
            return False
        return all(v == target for v in value.reshape(-1).tolist())
    return value == target


def _n_states(logits: torch.Tensor, dim: int) -> int:
    """The number of states of the batch: the one of the last two axes that is not ``dim``."""
    if dim not in (-1, -2, logits.ndim - 1, logits.ndim - 2):
        raise ValueError(f"dim={dim}: the action axis must be one of the last two (-1 or -2)")
    return logits.shape[-2] if dim in (-1, logits.ndim - 1) else logits.shape[-1]
