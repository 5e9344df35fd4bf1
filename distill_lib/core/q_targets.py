"""The teacher's Q-values on the scale the student learns: raw, standardized or centred (``RunConfig.q_targets``).

A DQN teacher's Q-values sit far from zero and differ little between actions: the shipped
CartPole teacher's are 76.8 +- 0.28 over its states with a median action gap of 0.036
(Acrobot -71.6 +- 17.3, LunarLander 42.7 +- 33.1). Regressed as they are (``"mse"``; Rusu et
al. 2016, "Policy Distillation", sec. 3), a student spends its capacity on the common offset
and its errors swamp the gaps that decide the policy. ``q_targets`` chooses how the teacher's
Q-values are put on a scale before any loss or metric reads them:

- ``"raw"``: unchanged (the original's protocol; the seed-compatible path runs no operation);
- ``"standardized"``: ``(q - mu) / sigma``, ``mu`` and ``sigma`` the mean and the population
  standard deviation (divisor ``n * A``) of every entry of the teacher's Q-values on the run's
  *training split* (never its validation split): one affine map per student, fitted once
  (``QScale.fit``); for the softmax objectives this is a temperature ``sigma * T`` on the raw
  Q-values (``softmax((q - mu) / (sigma T)) = softmax(q / (sigma T))``);
- ``"centered"``: ``q - mean_a q`` per state, the advantages of the dueling architecture's
  identifiable form (Wang et al. 2016, "Dueling Network Architectures for Deep Reinforcement
  Learning", eq. 9); softmax objectives see the same probabilities (a softmax is
  shift-invariant), only MSE changes;
- ``"centered_scaled"``: the centred values divided by ``sigma_c``, their population standard
  deviation (divisor ``n * A``) on the training split: advantages on a unit scale. Centring
  alone leaves them as small as the teacher's action gaps (CartPole's shipped teacher: sd 0.047),
  and a student regressing targets that small gets 59.9% of the teacher's return at width 8
  where the scaled targets get 98.7% (the same search, teachers and seeds; ``docs/results.md``,
  "The advantage objective's scale").

Every map keeps each state's greedy action (it adds the same number to, or multiplies by the
same positive number, every action of a state), so the agreement metrics (``action_agreement``,
``top2_agreement``) are comparable across scales; every other metric of a non-raw run, the
probability similarities and KL at T included, is on the transformed scale, as is what the
trained student outputs (``QScale.inverse`` maps it back). The map is computed in float64 and
rounded once to the Q-values' dtype. The stacked students apply it once to the teacher's
Q-values of the whole buffer (``stacked.StackedStudents``); a module student, whose teacher
runs per batch as the original's did, applies the same map to each batch's Q-values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .config import Q_TARGETS

__all__ = ["FITTED", "QScale"]

#: the scales fitted on the teacher's Q-values of a run's training split (the others need none)
FITTED = ("standardized", "centered_scaled")


@dataclass(frozen=True)
class QScale:
    """One student's map from the teacher's Q-values ``(..., A)`` (actions last) to its targets.

    ``mean`` and ``std`` are ``mu`` and ``sigma`` for ``"standardized"``, 0 and ``sigma_c`` for
    ``"centered_scaled"``, 0 and 1 otherwise.
    """

    q_targets: str = "raw"
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, q_targets: str, q_train: torch.Tensor | None = None) -> QScale:
        """The map of ``q_targets``; a ``FITTED`` one reads the teacher's Q-values of the training split ``(n, A)``."""
        if q_targets not in Q_TARGETS:
            raise ValueError(f"q_targets={q_targets!r}: must be one of {', '.join(Q_TARGETS)}")
        if q_targets not in FITTED:
            return cls(q_targets)
        if q_train is None:
            raise ValueError(f"q_targets={q_targets!r} needs the teacher's Q-values of the training split (q_train)")
        q = q_train.detach().double()  # (n, A)
        if q_targets == "centered_scaled":
            q = q - q.mean(-1, keepdim=True)  # (n, A) advantages
        mean = q.mean().item() if q_targets == "standardized" else 0.0
        std = q.std(correction=0).item()
        if not (math.isfinite(std) and std > 0.0):
            raise ValueError(
                f"q_targets={q_targets!r}: the teacher's {'advantages' if q_targets == 'centered_scaled' else 'Q-values'} on the "
                f"training split have std {std:g}; use raw or centered"
            )
        return cls(q_targets, mean, std)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        """The targets ``(..., A)`` of the teacher's Q-values ``q`` ``(..., A)``; ``q`` itself when raw."""
        if self.q_targets == "raw":
            return q
        x = q.double()
        if self.q_targets == "centered":
            return (x - x.mean(-1, keepdim=True)).to(q.dtype)  # (..., A) advantages
        if self.q_targets == "centered_scaled":
            return ((x - x.mean(-1, keepdim=True)) / self.std).to(q.dtype)  # (..., A) advantages / sigma_c
        return ((x - self.mean) / self.std).to(q.dtype)  # (..., A)

    def inverse(self, targets: torch.Tensor) -> torch.Tensor:
        """Raw Q-values from standardized ones (``t * sigma + mu``), advantages from scaled ones (``t * sigma_c``); raw
        and centred targets are returned as they are (a state's mean Q-value is not recoverable from its advantages)."""
        if self.q_targets == "centered_scaled":
            return (targets.double() * self.std).to(targets.dtype)
        if self.q_targets != "standardized":
            return targets
        return (targets.double() * self.std + self.mean).to(targets.dtype)

    def to_dict(self) -> dict[str, str | float]:
        """``{"q_targets", "mean", "std"}``: JSON-able, for a run's record."""
        return asdict(self)
