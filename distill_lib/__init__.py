"""distill_lib: a small library for distilling Q-network policies.

Four layers, one folder each (lower layers never import higher ones): ``core`` (what a
student is and how it learns: config, networks, losses, metrics, the training loop, data),
``rl`` (environments, closed-loop evaluation, the DQN that trains teachers), ``report``
(statistics, tables, figures, HTML), ``experiments`` (one module per question, and the
registry), ``runner`` (planning and executing a study); ``records`` below them all
(atomic files, provenance, JSON records).

The names below are imported on first use, so ``distill-study`` starts without loading
torch (its kernels load it while they wait for their turn).
"""

from __future__ import annotations

import importlib
from typing import Any

from .core.config import MODES, RunConfig

__version__ = "0.1.0"

_LAZY = {
    "distillation_loss": "core.losses",
    "hard_ce_loss": "core.losses",
    "mse_q_loss": "core.losses",
    "rusu_kl_loss": "core.losses",
    "soft_kl_loss": "core.losses",
    "soft_share": "core.losses",
    "PlainQNetwork": "core.networks",
    "QNetwork": "core.networks",
    "build_student": "core.networks",
    "build_teacher": "core.networks",
    "TrainResult": "core.training",
    "train_student": "core.training",
}

__all__ = ["MODES", "RunConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'distill_lib' has no attribute {name!r}")
