"""What an experiment's notebook does with its parameters: run its step, then show what it found.

A notebook's first act after its ``parameters`` cell is ``step = notebook_step.run(EXPERIMENT,
globals())``. The notebook's variables that name study parameters, over the schema's defaults
(``core.schema``: every default is declared once), are planned exactly as the runner plans a
study (``runner.plan.plan_from_params``: pure, the same function), and the notebook runs the
planned step of its experiment and unit: the same config, the same folder, the same steps it
reads. A bad value fails here, naming the parameter. Under the runner, papermill injects the
whole study's parameters (the rendered pages hide that cell); in JupyterLab, the notebook's own
parameters cell and the defaults decide.

``show(step)`` then displays the experiment's own section (tables, sentences, figures) when
the experiment is this one step; the figures are drawn here, once, into the step folder, where
the analysis finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.schema import ParamError
from ..experiments.base import Experiment, Section, execute
from .plan import Plan, Step, plan_from_params

__all__ = ["NotebookStep", "planned_step", "run", "show"]


@dataclass
class NotebookStep:
    """A step as its notebook ran it."""

    experiment: Experiment[Any]
    step: Step
    plan: Plan
    config: Any
    record: Any

    @property
    def folder(self) -> Path:
        return self.step.folder

    @property
    def work_dir(self) -> Path:
        return self.plan.work_dir

    @property
    def params(self) -> dict[str, Any]:
        return self.step.parameters


def planned_step(experiment: Experiment[Any], namespace: Mapping[str, Any]) -> tuple[Plan, Step, Any]:
    """The plan of the notebook's parameters, and the planned step of ``experiment`` they name.

    An experiment of several steps tells them apart by the values the runner sets per step
    (``set_by``: a width, a mode, a temperature): the step whose values equal the notebook's runs.
    """
    plan = plan_from_params(_study_params(namespace))
    steps = [s for s in plan.steps if s.experiment == experiment.name]
    given = _step_overrides(experiment, namespace)
    matches = [s for s in steps if all(s.parameters.get(k) == v for k, v in given.items())]
    if len(matches) != 1:
        units = ", ".join(s.unit for s in steps) or "none"
        named = ", ".join(f"{k}={v!r}" for k, v in given.items()) or "no per-step value"
        why = experiment.plan_units(plan.configs[experiment.name])
        reason = f": {why.note or why.reason}" if not steps and (why.note or why.reason) else ""
        raise ParamError(
            f"{experiment.name}: {named} names {'no' if not matches else 'more than one'} step of the study with "
            f"these parameters (its steps: {units}{reason})"
        )
    step = matches[0]
    return plan, step, experiment.step_type.from_params(step.parameters)


def _study_params(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's variables that name study parameters (the planner fills in every other default); the
    per-step values (``set_by``: a mode, a width) pick the step instead (``_step_overrides``)."""
    from ..experiments import registry
    from .params import RunnerParams, specs_of

    plugins = namespace.get("plugins") or []
    specs = specs_of(registry(RunnerParams.from_params({"plugins": plugins}).plugins))
    runner = set(RunnerParams.specs())  # where the study is (the runner sets these too; a notebook may name them)
    return {k: namespace[k] for k, spec in specs.items() if k in namespace and (not spec.rule.set_by or k in runner)}


def _step_overrides(experiment: Experiment[Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The per-step values the runner sets (``set_by``: a width, a mode) as the notebook gives them."""
    specs = experiment.step_type.specs()
    return {k: namespace[k] for k, spec in specs.items() if spec.rule.set_by and k in namespace}


def run(experiment: Experiment[Any], namespace: Mapping[str, Any]) -> NotebookStep:
    """Plan, run and save the notebook's step; ``namespace`` is the notebook's ``globals()``."""
    plan, step, config = planned_step(experiment, namespace)
    record = execute(experiment, config, step.folder, step.upstream)
    return NotebookStep(experiment, step, plan, config, record)


def show(step: NotebookStep) -> Section | None:
    """Display the experiment's section (tables, sentences, figures) from this step's record alone.

    Only for an experiment that runs as one step; its figures are saved into the step folder.
    """
    from IPython.display import Image, Markdown, display

    from ..report.plots import save_figure

    experiment = step.experiment
    if experiment.section is None:
        return None
    config = step.plan.configs[experiment.name]
    summary = experiment.summarize(config, {experiment.unit_name(step.config): step.record})
    section = experiment.section(summary, {})
    display(Markdown(section.text))
    for name, draw in section.figures.items():
        display(Image(filename=str(save_figure(draw(), step.folder / name))))
    return section
