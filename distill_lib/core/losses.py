"""Distillation losses: pure functions of ``(B, A)`` logit tensors.

The student's and teacher's Q-values are treated as logits over actions.

- Soft term (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
  Network"): ``KL(softmax(t/T) || softmax(s/T)) * T^2``. The ``T^2`` keeps the gradient
  magnitude of the soft term roughly independent of T, since the softened logits'
  gradients scale as ``1/T^2``.
- Hard term: cross-entropy of the student's logits against the teacher's argmax action.
- Blend: ``alpha * soft + (1 - alpha) * hard``; at ``alpha == 1`` the hard term is not
  computed at all (as in the original trainer).
- MSE alternative (Rusu et al. 2016, "Policy Distillation", sec. 3): mean squared error on
  the raw Q-values; it has no temperature and no hard term.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["SOFT_LOSSES", "distillation_loss", "hard_ce_loss", "mse_q_loss", "soft_kl_loss"]


def soft_kl_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``KL(softmax(t/T) || softmax(s/T)) * T^2``, averaged over the batch (``batchmean``)."""
    log_p_s = F.log_softmax(student / temperature, dim=-1)  # (B, A)
    p_t = F.softmax(teacher / temperature, dim=-1)  # (B, A)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * temperature * temperature


def hard_ce_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student's logits against the teacher's greedy action."""
    return F.cross_entropy(student, teacher.argmax(dim=-1))


def mse_q_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean squared error on raw Q-values; ``temperature`` is accepted and ignored."""
    del temperature
    return F.mse_loss(student, teacher)


#: soft-term choice by ``RunConfig.loss_fn``
SOFT_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "kl": soft_kl_loss,
    "mse": mse_q_loss,
}


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    alpha: float,
    temperature: float,
    loss_fn: str = "kl",
) -> torch.Tensor:
    """``alpha * soft + (1 - alpha) * hard``, or the soft term alone when ``alpha == 1``.

    With ``loss_fn == "mse"`` the objective is the MSE on Q-values alone.
    """
    if loss_fn == "kl" and alpha == 0.0:
        # 0 * soft + 1 * hard is hard exactly, in value and gradient: skip the unused term
        return hard_ce_loss(student, teacher)
    soft = SOFT_LOSSES[loss_fn](student, teacher, temperature)
    if loss_fn == "mse" or alpha == 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * hard_ce_loss(student, teacher)


#: every objective by name (temporary alias; the unified losses module defines it)
LOSSES = SOFT_LOSSES
