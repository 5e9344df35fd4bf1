"""Fidelity metrics of a student against its teacher: pure functions of ``(B, A)`` Q-values.

All take the student's Q-values first and the teacher's second and return a Python float
(a mean over the batch) unless stated otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def action_agreement(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Fraction of states where the student's greedy action equals the teacher's."""
    return (student.argmax(-1) == teacher.argmax(-1)).double().mean().item()


def top2_agreement(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Fraction of states where the teacher's greedy action is among the student's top two."""
    top2 = student.topk(2, dim=-1).indices  # (B, 2)
    return (top2 == teacher.argmax(-1, keepdim=True)).any(-1).double().mean().item()


def prob_similarity(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> float:
    """``1 - mean |softmax(t/T) - softmax(s/T)|`` over actions and states (the original's metric)."""
    p_t = F.softmax(teacher / temperature, dim=-1)
    p_s = F.softmax(student / temperature, dim=-1)
    return (1.0 - (p_t - p_s).abs().mean()).item()


def kl_divergence(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> float:
    """``KL(p_t || p_s)`` at temperature T, mean over states (no ``T^2`` factor)."""
    log_p_s = F.log_softmax(student / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher / temperature, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean().item()


def q_mse(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Mean squared error of the Q-values."""
    return F.mse_loss(student, teacher).item()


def q_mae(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Mean absolute error of the Q-values."""
    return F.l1_loss(student, teacher).item()


def q_cosine(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """Mean cosine similarity of the per-state Q-vectors."""
    return F.cosine_similarity(student, teacher, dim=-1).mean().item()


def regret(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Per-state cost of the student's choice in teacher Q terms: ``q_t[a_t*] - q_t[a_s*]`` (B,)."""
    best = teacher.max(-1).values
    chosen = teacher.gather(-1, student.argmax(-1, keepdim=True)).squeeze(-1)
    return best - chosen


def action_gap(teacher: torch.Tensor) -> torch.Tensor:
    """Per-state gap between the teacher's two largest Q-values (B,): small means a near-tie."""
    top2 = teacher.topk(2, dim=-1).values
    return top2[:, 0] - top2[:, 1]


def fidelity_metrics(student: torch.Tensor, teacher: torch.Tensor) -> dict[str, float]:
    """Every temperature-free metric (probabilities at T = 1) over a whole set of states."""
    return {
        "action_agreement": action_agreement(student, teacher),
        "top2_agreement": top2_agreement(student, teacher),
        "prob_similarity_t1": prob_similarity(student, teacher, 1.0),
        "kl_t1": kl_divergence(student, teacher, 1.0),
        "q_mse": q_mse(student, teacher),
        "q_mae": q_mae(student, teacher),
        "q_cosine": q_cosine(student, teacher),
        "regret": regret(student, teacher).mean().item(),
    }
