"""The experiments: one module per question the study asks, and the registry the runner loops over.

``EXPERIMENTS`` is a plain dict, in the order the report shows them. An experiment outside
the library (a plug-in) is a module defining ``EXPERIMENT``; ``registry(["my.module"])``
adds it (the ``plugins`` parameter does the same for a study), with no edit here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from . import baselines, cartpole, comparison, data, fair, seeds, sources, sweep
from .base import Experiment, Section, Units, execute, load_step, step_folder, step_key

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "Section",
    "Units",
    "execute",
    "load_step",
    "registry",
    "resolve",
    "step_folder",
    "step_key",
]

#: the built-in experiments, in report order (the data step first: others need it)
EXPERIMENTS: dict[str, Experiment[Any]] = {
    e.name: e
    for e in (
        data.EXPERIMENT,
        comparison.EXPERIMENT,
        seeds.EXPERIMENT,
        sweep.EXPERIMENT,
        cartpole.EXPERIMENT,
        baselines.EXPERIMENT,
        fair.EXPERIMENT,
        sources.EXPERIMENT,
    )
}


def registry(plugins: list[str] = ()) -> dict[str, Experiment[Any]]:
    """The built-in experiments plus each plug-in module's ``EXPERIMENT`` (imported by name)."""
    out = dict(EXPERIMENTS)
    for name in plugins:
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"plugins: cannot import {name!r} ({err})") from None
        experiment = getattr(module, "EXPERIMENT", None)
        if not isinstance(experiment, Experiment):
            raise ValueError(f"plugins: module {name!r} defines no EXPERIMENT (an experiments.base.Experiment)")
        if experiment.name in out:
            raise ValueError(f"plugins: {name!r} names its experiment {experiment.name!r}, which is taken")
        out[experiment.name] = experiment
    return out


def resolve(params: Mapping[str, Any], experiments: Mapping[str, Experiment[Any]] = EXPERIMENTS) -> dict[str, Any]:
    """Apply every experiment's derived parameters (e.g. ``n_states`` from a CartPole buffer), in order."""
    out = dict(params)
    for experiment in experiments.values():
        if experiment.resolve is not None:
            out = experiment.resolve(out)
    return out
