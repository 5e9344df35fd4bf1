"""The planner: parameters and file hashes in, steps out. Pure: it reads no teacher or states file,
steps no environment, starts no process and writes nothing.

``plan_study`` layers the params files and ``-p`` overrides, checks every value against the
experiments' declared parameters, builds each experiment's config (which validates it), asks
each experiment for its units, and returns a ``Plan``: the steps (one notebook execution each)
with their parameters, content keys, folders, the steps they read and their dependencies, then
the analysis. Checks that must read the files the parameters name (a checkpoint's shapes, a
states file) run once before the study starts (``runner.inputs``), and loading teachers and
collecting episodes happen inside the steps. Every notebook calls the same planner on its own
parameters (``plan_from_params``, through ``runner.notebook_step``), and so does the analysis:
each runs exactly the step, and reads exactly the steps, the runner planned.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.schema import ParamError, Params
from ..experiments import Experiment, registry, step_folder
from ..experiments.base import NOTEBOOK_DIR, PROJECT_ROOT, project_path, slug
from ..records.provenance import content_key
from .params import RunnerParams, layer_params, read_sources, specs_of

__all__ = [
    "ANALYSIS_NOTEBOOK",
    "DEFAULT_PARAMS_FILE",
    "Plan",
    "Step",
    "notebook_parameters",
    "plan_from_params",
    "plan_study",
]

DEFAULT_PARAMS_FILE = PROJECT_ROOT / "params" / "study.yaml"
#: the committed results of the default study
REPORTS = PROJECT_ROOT / "reports"
ANALYSIS_NOTEBOOK = NOTEBOOK_DIR / "03_analysis.ipynb"


@dataclass(frozen=True)
class Step:
    """One notebook execution."""

    name: str  # display name: "data", "blended", "sweep T=1", "analysis"
    experiment: str  # registry key ("analysis" for the analysis)
    unit: str
    notebook: Path
    parameters: dict[str, Any]  # the step's parameters: the study's, with its unit's overrides
    key: str  # content key
    folder: Path  # its record.json marks it finished
    output: Path  # the executed notebook, in the step's folder (it belongs to these settings)
    needs: tuple[str, ...] = ()  # names of the steps that must finish first
    log: Path | None = None  # the kernel's output of the latest execution (default: beside ``output``)
    upstream: dict[str, Path] = field(default_factory=dict)  # experiment -> the folder of the step it reads
    inject: dict[str, Any] | None = None  # what papermill passes (default: ``parameters``)

    @property
    def notebook_parameters(self) -> dict[str, Any]:
        """What papermill injects: the study's parameters and the per-step values that pick this step (the
        notebook plans the study again from them, ``runner.notebook_step``)."""
        return self.parameters if self.inject is None else self.inject

    @property
    def page(self) -> str:
        """File name of its HTML page."""
        return self.output.stem + ".html"

    @property
    def kernel_log(self) -> Path:
        return self.log or self.output.with_suffix(".log")


@dataclass
class Plan:
    """Everything a study will do, validated."""

    params: dict[str, Any]
    out_dir: Path
    work_dir: Path
    experiments: dict[str, Experiment[Any]]
    configs: dict[str, Params]  # experiment -> its validated study-level config
    units: dict[str, dict[str, str]]  # experiment -> unit -> step name
    steps: list[Step]  # dependency order; the analysis is last
    notes: list[str] = field(default_factory=list)  # what the plan left out, for the user

    @property
    def analysis(self) -> Step:
        return self.steps[-1]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Names and default values assigned in a notebook's ``parameters`` cell (no kernel)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            values = {}
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    values[node.targets[0].id] = ast.literal_eval(node.value)
            return values
    raise ValueError(f"{notebook}: no cell tagged 'parameters'")


def _defaults(specs: Mapping[str, Any]) -> dict[str, Any]:
    return {name: spec.default for name, spec in specs.items()}


def _config(experiment: Experiment[Any], cls: type[Params], params: Mapping[str, Any]) -> Params:
    try:
        return cls.from_params(params)
    except ValueError as err:
        raise ParamError(str(err).splitlines()[0]) from None


def _upstream(experiment: Experiment[Any], unit: str, config: Params, planned: list[Step]) -> dict[str, Path]:
    """The folders of the steps this step reads (``Experiment.reads``), from the steps planned before it."""
    if experiment.reads is None:
        return {}
    out = {}
    for name, wanted in experiment.reads(config).items():
        step = next((s for s in planned if s.experiment == name and s.unit == wanted), None)
        if step is None:
            raise ParamError(
                f"{experiment.name} {unit} reads the {name} step {wanted!r}, which this study does not run "
                f"(give the parameters that plan it; 'distill-study params' lists them)"
            )
        out[name] = step.folder
    return out


def plan_from_params(params: Mapping[str, Any], out_dir: str | os.PathLike[str] | None = None) -> Plan:
    """The plan for a complete, type-checked parameter mapping (defaults filled in)."""
    runner = RunnerParams.from_params(params)
    experiments = registry(runner.plugins)
    specs = specs_of(experiments)
    full = {**_defaults(specs), **{k: v for k, v in params.items() if k in specs}}
    for name, spec in specs.items():  # file parameters: relative to the repository root, everywhere
        if spec.rule.path and full.get(name):
            full[name] = str(project_path(full[name]))
    out = Path(out_dir if out_dir is not None else project_path(full["out_dir"])).expanduser().resolve()
    work = out / "work" if out_dir is not None else Path(project_path(full["work_dir"])).resolve()
    full["out_dir"], full["work_dir"] = str(out), str(work)
    study = {k: v for k, v in full.items() if k in specs}  # what every notebook gets: it plans the same study

    configs, units, steps, notes = {}, {}, [], []
    for name, experiment in experiments.items():
        config = _config(experiment, experiment.params, full)
        configs[name] = config
        plan = experiment.plan_units(config)
        if plan.note:
            notes.append(plan.note)
        units[name] = {}
        set_by = {k for k, spec in experiment.step_type.specs().items() if spec.rule.set_by}
        for unit, overrides in plan.steps.items():
            step_params = {**full, **overrides}
            step_config = _config(experiment, experiment.step_type, step_params)  # every step's own parameters
            upstream = _upstream(experiment, unit, step_config, steps)
            label = experiment.step_label(unit, len(plan.steps))
            stem = experiment.notebook.stem if len(plan.steps) == 1 else f"{experiment.notebook.stem}_{slug(unit)}"
            folder = step_folder(work, experiment, unit, step_params, upstream)
            needs = [s.name for s in steps if s.experiment in experiment.needs or s.folder in upstream.values()]
            steps.append(
                Step(
                    name=label,
                    experiment=name,
                    unit=unit,
                    notebook=experiment.notebook,
                    parameters={**study, **overrides},
                    key=folder.name.rsplit("-", 1)[-1],
                    folder=folder,
                    output=folder / f"{stem}.ipynb",
                    needs=tuple(dict.fromkeys(needs)),
                    log=work / "logs" / f"{stem}.log",
                    upstream=upstream,
                    inject={**study, **{k: v for k, v in overrides.items() if k in set_by}},
                )
            )
            units[name][unit] = label
    analysis_params = {k: v for k, v in full.items() if k in specs}
    key = content_key("analysis", [s.key for s in steps], analysis_params)
    steps.append(
        Step(
            name="analysis",
            experiment="analysis",
            unit="analysis",
            notebook=ANALYSIS_NOTEBOOK,
            parameters=analysis_params,
            key=key,
            folder=work / "analysis",
            output=work / "analysis" / f"{ANALYSIS_NOTEBOOK.stem}.ipynb",
            needs=tuple(s.name for s in steps),
            log=work / "logs" / f"{ANALYSIS_NOTEBOOK.stem}.log",
        )
    )
    return Plan(full, out, work, experiments, configs, units, steps, notes)


def plan_study(
    files: list[str | os.PathLike[str]] | None = None,
    overrides: list[tuple[str, str]] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> Plan:
    """Layer and validate the parameters and inputs; raises ``ParamError`` on bad input.

    ``reports/`` holds the committed results of the default study (``params/study.yaml`` and
    nothing else), so only that study writes there, and it is where it goes without ``-o``;
    any other study needs an output folder of its own.
    """
    if out_dir is not None and str(out_dir).strip() == "":
        raise ParamError("output directory '': give a folder name (-o OUTDIR)")
    entries = read_sources([DEFAULT_PARAMS_FILE] if not files else list(files), overrides)
    plugins = [v for _, k, v in entries if k == "plugins"]
    runner = layer_params([("", "plugins", plugins[-1])], RunnerParams.specs()) if plugins else {}
    specs = specs_of(registry(runner.get("plugins", [])))
    given = layer_params(entries, specs)
    for name, value in given.items():
        if specs[name].rule.set_by:
            raise ParamError(f"parameter {name}={value!r}: {specs[name].rule.set_by}")
    defaults = _defaults(specs)
    default = {**defaults, **given} == {**defaults, **layer_params(read_sources([DEFAULT_PARAMS_FILE]), specs)}
    if out_dir is None and not default:
        raise ParamError(
            "this is not the default study, and reports/ holds only the default study's results: "
            "give this one its own folder with -o OUTDIR"
        )
    out = REPORTS if out_dir is None else Path(out_dir).expanduser().resolve()
    if out == REPORTS and not default:
        raise ParamError(
            f"-o {out_dir}: reports/ holds the committed results of the default study (params/study.yaml, "
            "no -p); write this study to another folder"
        )
    return plan_from_params(given, out)
