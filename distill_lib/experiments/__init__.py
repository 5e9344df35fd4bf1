"""The experiments: one package per question the study asks, and the registry the runner loops over.

``EXPERIMENTS`` is a plain dict, in the order the report shows them. Experiments never import
one another: what two of them share lives in a lower layer (``core``, ``rl``, ``report``), and
a step that needs another experiment's result names the step it reads (``Experiment.reads``)
and reads its record as data. An experiment outside the library (a plug-in) is a module
defining ``EXPERIMENT``; ``registry(["my.module"])`` adds it (the ``plugins`` parameter does
the same for a study), with no edit here.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import baselines, budgets, comparison, fair, real_task, seeds, sweep, world
from .base import Experiment, Section, Units, execute, load_step, read_step, step_folder, step_key

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "Section",
    "Units",
    "execute",
    "load_step",
    "read_step",
    "registry",
    "step_folder",
    "step_key",
]

#: the built-in experiments, in report order (the world step first: others read it; the baselines
#: before the fair comparison, whose section reads their summary)
EXPERIMENTS: dict[str, Experiment[Any]] = {
    e.name: e
    for e in (
        world.EXPERIMENT,
        comparison.EXPERIMENT,
        seeds.EXPERIMENT,
        sweep.EXPERIMENT,
        real_task.EXPERIMENT,
        baselines.EXPERIMENT,
        fair.EXPERIMENT,
        budgets.EXPERIMENT,
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
