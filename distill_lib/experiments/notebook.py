"""What an experiment's notebook does with its parameters: run its step, then show what it found.

A notebook's first act after its ``parameters`` cell is ``step = notebook.run(EXPERIMENT,
globals())``: the step's config is built from the notebook's variables (a bad value fails
here, naming the parameter), the step runs into its folder (``base.step_folder``: the same
folder the runner computes) and saves its record. ``show(step)`` then displays the
experiment's own section (tables, sentences, figures) when the experiment is this one
step; the figures are drawn here, once, into the step folder, where the analysis finds them.

Relative paths (``work_dir``) are taken from the repository root, so a notebook means the
same thing in JupyterLab (which runs it in ``notebooks/``) and under papermill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Experiment, Section, execute, project_path

__all__ = ["NotebookStep", "params_of", "run", "show"]


@dataclass
class NotebookStep:
    """A step as its notebook ran it."""

    experiment: Experiment[Any]
    params: dict[str, Any]
    config: Any
    record: Any
    folder: Path
    work_dir: Path


def params_of(experiment: Experiment[Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment's parameters from a notebook's variables, with derived ones resolved."""
    from . import resolve

    specs = experiment.step_type.specs()
    names = set(specs)
    params = {k: namespace[k] for k in names if k in namespace}
    for name in names:  # file parameters: relative to the repository root, as for the command
        if specs[name].rule.path and isinstance(params.get(name), str):
            params[name] = str(project_path(params[name]))
    if params.get("source", "synthetic") != "synthetic":  # n_states comes from the buffer
        params = {k: v for k, v in resolve(params).items() if k in names}
    return params


def run(experiment: Experiment[Any], namespace: Mapping[str, Any]) -> NotebookStep:
    """Validate, run and save the notebook's step; ``namespace`` is the notebook's ``globals()``."""
    params = params_of(experiment, namespace)
    work_dir = project_path(namespace.get("work_dir", "build/lab/work"))
    record, folder = execute(experiment, params, work_dir)
    config = experiment.step_type.from_params(params)
    return NotebookStep(experiment, params, config, record, folder, work_dir)


def show(step: NotebookStep) -> Section | None:
    """Display the experiment's section (tables, sentences, figures) from this step's record alone.

    Only for an experiment that runs as one step; its figures are saved into the step folder.
    """
    from IPython.display import Image, Markdown, display

    from ..report.plots import save_figure

    experiment = step.experiment
    if experiment.section is None:
        return None
    config = experiment.params.from_params(step.params)
    summary = experiment.summarize(config, {experiment.unit_name(step.config): step.record})
    section = experiment.section(summary, {})
    display(Markdown(section.text))
    for name, draw in section.figures.items():
        display(Image(filename=str(save_figure(draw(), step.folder / name))))
    return section
