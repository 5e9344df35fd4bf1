"""Fidelity metrics of a student against its teacher: pure functions of Q-values, one student or many.

All take the student's Q-values first and the teacher's second, states on the second-last
axis and actions on the last (``(N, A)`` for one student, ``(S, N, A)`` for S), and return
a tensor with one value per student: a scalar for ``(N, A)``, ``(S,)`` for ``(S, N, A)``
(``.item()`` / ``.tolist()`` give Python floats). ``regret`` and ``action_gap`` are
per-state ``(..., N)``. All but ``kl_divergence`` and ``action_gap`` also take the actions on
axis ``dim=-2`` (``(S, A, N)``, the stacked trainer's layout, where the CPU computes them over
vectors of states), ``prob_similarity`` and ``action_agreement`` the teacher as
``losses.Targets``.

The probability metrics follow the original note (``1 - mean |p_t - p_s|``); the KL is the
soft term of Hinton et al. 2015 without its ``T^2``; regret is measured in the teacher's
Q-values; the action gap is the gap between the teacher's two best actions (Farahmand 2011).

The training loop passes the teacher's Q-values on the run's scale (``RunConfig.q_targets``,
``q_targets.QScale``): for a standardized or centred run the probability similarities, the
KL, the Q errors, the cosine and the regret are on that transformed scale (a standardized
run's softmax at T is the raw one's at ``sigma T``), and only the agreement metrics
(``action_agreement``, ``top2_agreement``) compare with a raw run's as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import PerStudent, Targets, expand_per_student, greedy_action, teacher_probs

__all__ = [
    "action_agreement",
    "action_gap",
    "fidelity_metrics",
    "kl_divergence",
    "prob_similarity",
    "q_cosine",
    "q_mae",
    "q_mse",
    "regret",
    "top2_agreement",
]


def action_agreement(student: torch.Tensor, teacher: torch.Tensor | Targets, dim: int = -1) -> torch.Tensor:
    """Fraction of states where the student's greedy action equals the teacher's (float64)."""
    same = greedy_action(student, dim) == greedy_action(teacher, dim)  # (..., N, 1) or (..., 1, N)
    return same.double().mean((-2, -1))


def top2_agreement(student: torch.Tensor, teacher: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Fraction of states where the teacher's greedy action is among the student's top two (float64).

    Along ``dim=-2``: at most one action the student values strictly higher (the same unless
    the student's values tie at the second place, where ``topk``'s choice is unspecified).
    """
    if dim in (-1, student.ndim - 1):
        top2 = student.topk(2, dim=-1).indices  # (..., N, 2)
        return (top2 == teacher.argmax(-1, keepdim=True)).any(-1).double().mean(-1)
    at_teacher = student.gather(dim, greedy_action(teacher, dim))  # (..., 1, N)
    return ((student > at_teacher).sum(dim) < 2).double().mean(-1)


def prob_similarity(
    student: torch.Tensor, teacher: torch.Tensor | Targets, temperature: PerStudent = 1.0, dim: int = -1
) -> torch.Tensor:
    """``1 - mean |softmax(t/T) - softmax(s/T)|`` over actions and states (the original's metric)."""
    p_t, _ = teacher_probs(teacher, temperature, dim)
    p_s = F.softmax(student / expand_per_student(temperature, student), dim=dim)
    return 1.0 - (p_t - p_s).abs().mean((-2, -1))


def kl_divergence(student: torch.Tensor, teacher: torch.Tensor, temperature: PerStudent = 1.0) -> torch.Tensor:
    """``KL(p_t || p_s)`` at temperature T, mean over states (no ``T^2`` factor)."""
    log_p_s = F.log_softmax(student / expand_per_student(temperature, student), dim=-1)
    log_p_t = F.log_softmax(teacher / expand_per_student(temperature, teacher), dim=-1)
    return _kl(log_p_s, log_p_t)


def _kl(log_p_s: torch.Tensor, log_p_t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``sum_a p_t (log p_t - log p_s)``, mean over states, from log-probabilities (actions on ``dim``)."""
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim).mean(-1)


def q_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the Q-values."""
    return F.mse_loss(student, teacher, reduction="none").mean((-2, -1))


def q_mae(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of the Q-values."""
    return F.l1_loss(student, teacher, reduction="none").mean((-2, -1))


def q_cosine(student: torch.Tensor, teacher: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Mean cosine similarity of the per-state Q-vectors (``F.cosine_similarity``'s, eps 1e-8)."""
    if dim in (-1, student.ndim - 1):
        return F.cosine_similarity(student, teacher, dim=-1).mean(-1)
    # F.cosine_similarity along a short strided axis is slow on the CPU: its formula, written out
    norms = (student * student).sum(dim).sqrt() * (teacher * teacher).sum(dim).sqrt()
    return ((student * teacher).sum(dim) / norms.clamp_min(1e-8)).mean(-1)


def regret(student: torch.Tensor, teacher: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Per-state cost of the student's choice in teacher Q terms: ``q_t[a_t*] - q_t[a_s*]`` ``(..., N)``."""
    if dim in (-1, student.ndim - 1):
        best = teacher.max(-1).values
        chosen = teacher.gather(-1, student.argmax(-1, keepdim=True)).squeeze(-1)
        return best - chosen
    return teacher.amax(dim) - teacher.gather(dim, greedy_action(student, dim)).squeeze(dim)


def action_gap(teacher: torch.Tensor) -> torch.Tensor:
    """Per-state gap between the teacher's two largest Q-values ``(..., N)``: small means a near-tie."""
    top2 = teacher.topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def fidelity_metrics(student: torch.Tensor, teacher: torch.Tensor, dim: int = -1) -> dict[str, torch.Tensor]:
    """Every temperature-free metric (probabilities at T = 1) over a whole set of states: each ``(...)``.

    ``dim``: the actions' axis, the last (``(..., N, A)``) or, for S students, ``-2`` (``(S, A, N)``).
    """
    log_p_s, log_p_t = F.log_softmax(student, dim=dim), F.log_softmax(teacher, dim=dim)  # T = 1: x / 1 is x
    if student.ndim == 2:
        similarity = prob_similarity(student, teacher, 1.0)
    else:
        # Exact form of the stacked trainer's published numbers: exp(log_softmax), not softmax
        # (the two differ in the last bit); one student keeps the original's softmax above.
        similarity = 1.0 - (log_p_t.exp() - log_p_s.exp()).abs().mean((-2, -1))
    return {
        "action_agreement": action_agreement(student, teacher, dim),
        "top2_agreement": top2_agreement(student, teacher, dim),
        "prob_similarity_t1": similarity,
        "kl_t1": _kl(log_p_s, log_p_t, dim),
        "q_mse": q_mse(student, teacher),
        "q_mae": q_mae(student, teacher),
        "q_cosine": q_cosine(student, teacher, dim),
        "regret": regret(student, teacher, dim).mean(-1),
    }
