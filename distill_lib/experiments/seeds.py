"""Beyond one seed: the three objectives over many seeds, trained in one batch.

Two kinds of variation (labelled everywhere they are reported):

- *world* seeds: teacher, states, student initialisation and training all change, derived
  from one base seed as the reference protocol derives them (``seed``, ``+10000``,
  ``+20000``, ``+30000``);
- *training* seeds: the study's teacher and states (its data folder) stay; only the
  student's initialisation (``seed + 20000``) and the training stream (``seed + 30000``)
  change.

All seeds x modes are trained at once by ``batched.train_batched``, which draws its
randomness per student (``distill_lib.core.batched``'s stream protocol), not from torch's global
RNG as the seed-compatible path does; the seed-42 reference table stays on the
seed-compatible path. Per run the record keeps the final metrics, the best epoch and
loss, and agreement and regret per bin of the teacher's action gap on the validation split.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import torch

from ..core.batched import train_batched
from ..core.config import RunConfig
from ..core.data import synthetic_states
from ..core.networks import QNetwork, build_student, build_teacher
from ..report.stats import agreement_by_gap_bin, mean_ci, paired_difference, verdict
from .keys import base_config
from .keys import seeds_key as section_key

__all__ = [
    "SEED_KINDS",
    "SUMMARY_METRICS",
    "base_config",
    "ordered_modes",
    "run_seeds",
    "section_key",
    "summarize",
    "synthetic_world",
]

SEED_KINDS = ("world", "training")

#: metrics summarised over seeds: key in a run's ``final`` -> label
SUMMARY_METRICS = {
    "action_agreement": "top-1 agreement",
    "top2_agreement": "top-2 agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "mean_prob_similarity": "prob. similarity (run T)",
    "kl_t1": "KL(teacher || student), T = 1",
    "regret": "regret (teacher Q)",
    "q_cosine": "Q cosine",
    "q_mse": "Q MSE",
}

#: how paired differences are worded: fractions in percentage points, the rest in raw units
_UNITS = {
    m: (100.0, "points")
    for m in ("action_agreement", "top2_agreement", "prob_similarity_t1", "mean_prob_similarity", "q_cosine")
}


def synthetic_world(seed: int, config: RunConfig) -> tuple[QNetwork, np.ndarray, QNetwork]:
    """Teacher, states and initial student of one world seed (the reference derivation)."""
    teacher = build_teacher(seed, config.input_dim, config.teacher_hidden, config.output_dim)
    states = synthetic_states(seed, config.n_states, config.input_dim)
    student = build_student(seed, config.input_dim, config.teacher_hidden, config.output_dim, config.student_hidden)
    return teacher, states, student


def _gap_records(
    result: Any, teacher: torch.nn.Module, states: torch.Tensor, student: QNetwork, n_bins: int
) -> list[dict[str, float]]:
    student.load_state_dict(result.final_state)
    student.eval()
    x_val = states[torch.as_tensor(result.val_idx)]
    with torch.no_grad():
        return agreement_by_gap_bin(student(x_val), teacher(x_val), n_bins)


def run_seeds(
    kind: str,
    seeds: list[int],
    modes: dict[str, float],
    base: RunConfig,
    world: Any | None = None,
    n_bins: int = 5,
    progress: bool = False,
) -> dict[str, Any]:
    """Train every (seed, mode) student in one batch; returns a JSON-able record.

    ``modes``: mode name -> alpha. ``base`` gives every other run parameter. For
    ``kind="training"``, ``world`` is the study's ``artifacts.World`` (teacher, states).
    """
    if kind not in SEED_KINDS:
        raise ValueError(f"seed_kind={kind!r}: must be one of {', '.join(SEED_KINDS)}")
    if not seeds:
        raise ValueError("seeds=[]: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r}: a seed is listed twice")
    if kind == "training" and world is None:
        raise ValueError("training seeds need the study's data folder (its teacher and states)")
    teachers, states, students, configs = [], [], [], []
    for seed in seeds:
        if kind == "world":
            teacher, x, student = synthetic_world(seed, base)
        else:
            teacher, x = world.teacher, world.states
            student = build_student(seed, base.input_dim, base.teacher_hidden, base.output_dim, base.student_hidden)
        for mode, alpha in modes.items():
            configs.append(
                RunConfig(**{**base.to_dict(), "seed": seed, "mode": mode, "alpha": alpha, "n_states": len(x)})
            )
            teachers.append(teacher)
            states.append(torch.from_numpy(np.asarray(x)))
            students.append(student)
    shared = kind == "training"
    results = train_batched(
        teachers[0] if shared else teachers,
        states[0] if shared else torch.stack(states),
        students,
        configs,
        progress=progress,
    )
    runs = []
    for cfg, result, teacher, x, student in zip(configs, results, teachers, states, students, strict=True):
        probe = QNetwork(cfg.input_dim, cfg.student_width, cfg.output_dim, 0.05)
        runs.append(
            {
                "seed": cfg.seed,
                "mode": cfg.mode,
                "alpha": cfg.alpha,
                "final": result.final,
                "best_val_loss": result.best_val_loss,
                "best_epoch": result.best_epoch,
                "gap_bins": _gap_records(result, teacher, x, probe, n_bins),
            }
        )
        del student
    return {
        "kind": kind,
        "seeds": list(seeds),
        "modes": dict(modes),
        "base": base.to_dict(),
        "n_bins": n_bins,
        "protocol": "per-student random streams (distill_lib.core.batched)",
        "runs": runs,
    }


def ordered_modes(record: dict[str, Any]) -> list[str]:
    """The record's modes by increasing alpha (JSON files keep keys sorted by name)."""
    return sorted(record["modes"], key=lambda m: record["modes"][m])


def _by_mode(record: dict[str, Any], metric: str) -> dict[str, np.ndarray]:
    """mode -> per-seed values in seed order."""
    out: dict[str, dict[int, float]] = {}
    for run in record["runs"]:
        out.setdefault(run["mode"], {})[run["seed"]] = run["final"][metric]
    return {mode: np.array([values[s] for s in record["seeds"]]) for mode, values in out.items()}


def summarize(record: dict[str, Any], metrics: dict[str, str] | None = None) -> dict[str, Any]:
    """Mean and 95% bootstrap CI per metric and mode; paired differences per pair of modes."""
    metrics = metrics or SUMMARY_METRICS
    modes = ordered_modes(record)
    per_mode: dict[str, dict[str, Any]] = {}
    pairs: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        values = _by_mode(record, metric)
        per_mode[metric] = {m: mean_ci(values[m]).__dict__ for m in modes}
        for a, b in combinations(modes, 2):
            if len(record["seeds"]) < 2:
                continue
            cmp = paired_difference(values[a], values[b])
            pairs.setdefault(metric, {})[f"{a} - {b}"] = {
                "mean_a": cmp.mean_a,
                "mean_b": cmp.mean_b,
                "difference": cmp.difference.__dict__,
                "p_value": cmp.p_value,
                "n": cmp.n,
                "test": cmp.test,
                "verdict": verdict(cmp, a, b, *_UNITS.get(metric, (1.0, ""))),
            }
    gap = {}
    for mode in modes:
        bins = [run["gap_bins"] for run in record["runs"] if run["mode"] == mode]
        gap[mode] = [
            {
                "bin": k,
                "agreement": float(np.mean([b[k]["agreement"] for b in bins])),
                "mean_regret": float(np.mean([b[k]["mean_regret"] for b in bins])),
                "gap_low": float(np.mean([b[k]["gap_low"] for b in bins])),
                "gap_high": float(np.mean([b[k]["gap_high"] for b in bins])),
            }
            for k in range(record["n_bins"])
        ]
    return {"kind": record["kind"], "n_seeds": len(record["seeds"]), "per_mode": per_mode, "pairs": pairs, "gap": gap}
