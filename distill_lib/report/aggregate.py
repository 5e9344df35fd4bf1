"""Aggregates over runs and tasks, after Agarwal et al. (2021), "Deep Reinforcement Learning at
the Edge of the Statistical Precipice" (NeurIPS), computed with their ``rliable`` package.

Scores are ``(runs, tasks)`` arrays per objective: here runs are seeds and "tasks" the
student widths (later, environments). The tools:

- ``interval_estimates``: the interquartile mean (IQM: the mean of the middle 50% of all
  ``runs x tasks`` scores, robust to a few failed runs yet less noisy than the median) and
  the mean, each with a *stratified* bootstrap CI (runs resampled within each task, so every
  task keeps its weight);
- ``probability_of_improvement``: ``P(X > Y)`` for a random run of X and one of Y on the same
  task, averaged over tasks (the Mann-Whitney statistic ``U / (n m)``; ties count half), with
  its stratified bootstrap CI;
- ``performance_profile``: the fraction of all runs whose score exceeds each threshold.

Bootstraps are seeded (``seed``): the same scores give the same intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

__all__ = ["interval_estimates", "performance_profile", "probability_of_improvement"]


def _check(scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in scores.items():
        array = np.asarray(value, dtype=float)
        if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
            raise ValueError(f"scores[{name!r}] has shape {array.shape}; expected (runs >= 2, tasks >= 1)")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"scores[{name!r}] contains NaN or infinite values")
        out[name] = array
    return out


def _bootstrap(scores: dict[str, object], func, reps: int, seed: int, confidence: float):
    from rliable import library as rly  # imported on first use: it loads arch and pandas

    if reps < 100:
        raise ValueError(f"reps={reps!r}: must be >= 100 for a usable interval")
    # rliable 1.2.0's StratifiedBootstrap draws its indices from numpy's *global* RNG (its
    # ``random_state`` reaches arch but not ``update_indices``): seed that, and put it back after.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # rliable passes a RandomState the way arch has deprecated
            warnings.simplefilter("ignore", FutureWarning)
            return rly.get_interval_estimates(
                scores, func, reps=reps, confidence_interval_size=confidence, random_state=np.random.RandomState(seed)
            )
    finally:
        np.random.set_state(saved)


def interval_estimates(
    scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict[str, dict[str, dict[str, float]]]:
    """Per objective, ``{"iqm": {mean, low, high}, "mean": {...}}`` with stratified bootstrap CIs."""
    from rliable import metrics

    checked = _check(scores)
    points, cis = _bootstrap(
        checked,
        lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]),
        reps,
        seed,
        confidence,
    )
    return {
        name: {
            stat: {"mean": float(points[name][i]), "low": float(cis[name][0][i]), "high": float(cis[name][1][i])}
            for i, stat in enumerate(("iqm", "mean"))
        }
        for name in checked
    }


def probability_of_improvement(
    x: np.ndarray, y: np.ndarray, reps: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, float]:
    """``P(X > Y)`` averaged over tasks, with a stratified bootstrap CI: ``{mean, low, high}``."""
    from rliable import metrics

    checked = _check({"x": x, "y": y})
    if checked["x"].shape[1] != checked["y"].shape[1]:
        raise ValueError(f"x has {checked['x'].shape[1]} tasks and y {checked['y'].shape[1]}; they must match")
    points, cis = _bootstrap(
        {"pair": (checked["x"], checked["y"])}, metrics.probability_of_improvement, reps, seed, confidence
    )
    return {"mean": float(points["pair"]), "low": float(cis["pair"][0][0]), "high": float(cis["pair"][1][0])}


def performance_profile(scores: Mapping[str, np.ndarray], thresholds: np.ndarray) -> dict[str, list[float]]:
    """Per objective, the fraction of all ``runs x tasks`` scores above each threshold (no interval)."""
    checked = _check(scores)
    taus = np.asarray(thresholds, dtype=float)
    return {name: [float(np.mean(s > t)) for t in taus] for name, s in checked.items()}
