"""distill_lib: a small library for distilling Q-network policies.

One concept per module: ``config`` (the validated run config), ``networks`` (teacher and
student Q-networks), ``losses`` and ``metrics`` (pure functions of logits), ``data``
(state buffers and checkpoints), ``training`` (the loop).
"""

from .config import LOSS_FNS, MODES, RunConfig
from .losses import distillation_loss, hard_ce_loss, mse_q_loss, soft_kl_loss
from .networks import QNetwork, build_student, build_teacher
from .training import TrainResult, train_student

__version__ = "0.1.0"

__all__ = [
    "LOSS_FNS",
    "MODES",
    "QNetwork",
    "RunConfig",
    "TrainResult",
    "build_student",
    "build_teacher",
    "distillation_loss",
    "hard_ce_loss",
    "mse_q_loss",
    "soft_kl_loss",
    "train_student",
]
