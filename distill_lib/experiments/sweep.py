"""The alpha x temperature sweep: one grid cell = one temperature, every alpha, every seed.

A cell's students (``len(alphas) * len(seeds)``) are trained in one batch
(``batched.train_batched``, per-student random streams); students of one seed share their
world (teacher, states, initialisation) and their random stream, so within a cell the
alphas are compared on paired runs. Temperatures below 1 sharpen the teacher's softmax
(Rusu et al. 2016, "Policy Distillation", distil DQN policies with T < 1). The MSE row
(``loss_fn="mse"``: MSE on raw Q-values, no temperature, no hard term) is its own cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.batched import train_batched
from ..core.config import RunConfig, mode_for_alpha
from .keys import cell_config, cell_key, cell_name
from .seeds import synthetic_world

__all__ = ["CELL_METRICS", "cell_config", "cell_key", "cell_name", "grid", "run_cell"]

#: final metrics kept per student in a sweep cell
CELL_METRICS = ("action_agreement", "prob_similarity_t1", "regret", "kl_t1", "top2_agreement", "mean_prob_similarity")


def run_cell(
    temperature: float,
    alphas: list[float],
    seeds: list[int],
    base: RunConfig,
    loss_fn: str = "kl",
    progress: bool = False,
) -> dict[str, Any]:
    """Train one cell (every alpha x seed at ``temperature``) in one batch; a JSON-able record."""
    if not alphas or not seeds:
        raise ValueError(f"a sweep cell needs alphas and seeds (got alphas={alphas!r}, seeds={seeds!r})")
    if loss_fn == "mse":
        alphas = [1.0]  # MSE has no hard term: alpha plays no part
    teachers, states, students, configs = [], [], [], []
    for seed in seeds:
        teacher, x, student = synthetic_world(seed, base)
        for alpha in alphas:
            configs.append(
                RunConfig(
                    **{
                        **base.to_dict(),
                        "seed": seed,
                        "alpha": alpha,
                        "mode": mode_for_alpha(alpha),
                        "temperature": temperature,
                        "loss_fn": loss_fn,
                    }
                )
            )
            teachers.append(teacher)
            states.append(torch.from_numpy(x))
            students.append(student)
    results = train_batched(teachers, torch.stack(states), students, configs, progress=progress)
    runs = [
        {"seed": c.seed, "alpha": c.alpha, "final": {k: r.final[k] for k in CELL_METRICS}, "best_epoch": r.best_epoch}
        for c, r in zip(configs, results, strict=True)
    ]
    return {
        "temperature": temperature,
        "loss_fn": loss_fn,
        "alphas": list(alphas),
        "seeds": list(seeds),
        "base": base.to_dict(),
        "protocol": "per-student random streams (distill_lib.core.batched)",
        "runs": runs,
    }


def grid(cells: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float], np.ndarray]:
    """KL cells as a (temperature x alpha) array of the seed-mean of ``metric``."""
    kl = sorted((c for c in cells if c["loss_fn"] == "kl"), key=lambda c: c["temperature"])
    temps = [c["temperature"] for c in kl]
    alphas = sorted({a for c in kl for a in c["alphas"]})
    table = np.full((len(temps), len(alphas)), np.nan)
    for i, cell in enumerate(kl):
        for j, alpha in enumerate(alphas):
            values = [r["final"][metric] for r in cell["runs"] if r["alpha"] == alpha]
            if values:
                table[i, j] = float(np.mean(values))
    return temps, alphas, table
