"""The project's own files: dependencies in step, notebooks clean and declaring a few of their parameters."""

import json
import tomllib

import pytest
import yaml
from conftest import ROOT

from distill_lib.core.config import MODES
from distill_lib.experiments import EXPERIMENTS
from distill_lib.runner.params import RunnerParams, specs_of
from distill_lib.runner.plan import ANALYSIS_NOTEBOOK, notebook_parameters

NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if p != "-e ."] == project["dependencies"] + project["optional-dependencies"]["dev"]
    assert "torch==2.13.0" in project["dependencies"]  # a looser pin pulls a multi-GB CUDA build
    assert any(p.startswith("stable-baselines3") for p in project["optional-dependencies"]["dev"])


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOK_FILES
    for path in NOTEBOOK_FILES:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


#: the most parameters a notebook declares: the few a reader would change by hand (the rest are the schema's)
MAX_DECLARED = 5
#: where a notebook's step writes: a runner parameter every notebook may declare
RUNNER = set(RunnerParams.specs())


@pytest.mark.parametrize("experiment", list(EXPERIMENTS.values()), ids=list(EXPERIMENTS))
def test_each_notebook_declares_a_few_of_its_parameters_with_their_defaults(experiment):
    declared = notebook_parameters(experiment.notebook)
    specs = {**experiment.params.specs(), **experiment.step_type.specs()}
    assert "work_dir" in declared and len(declared) <= MAX_DECLARED, experiment.notebook.name
    assert set(declared) <= set(specs) | RUNNER, (experiment.notebook.name, set(declared) - set(specs) - RUNNER)
    for name in set(declared) - RUNNER:
        assert declared[name] == specs[name].default, (experiment.notebook.name, name)


def test_the_analysis_notebook_declares_only_where_the_study_is():
    declared = notebook_parameters(ANALYSIS_NOTEBOOK)
    assert set(declared) == RUNNER
    assert all(declared[n] == s.default for n, s in RunnerParams.specs().items())


def test_the_default_study_file_holds_only_what_differs_from_the_defaults():
    study = yaml.safe_load((ROOT / "params" / "study.yaml").read_text()) or {}
    specs = specs_of(EXPERIMENTS)
    for name, value in study.items():
        assert specs[name].default != (float(value) if isinstance(specs[name].default, float) else value), name


def test_reference_params_are_the_original_comparison():
    ref = yaml.safe_load((ROOT / "params" / "reference.yaml").read_text())
    assert ref["seed"] == 42 and ref["modes"] == ["hard_only", "blended", "soft_only"]
    assert (ref["n_states"], ref["epochs"], ref["batch_size"], float(ref["lr"]), ref["temperature"]) == (
        5000,
        25,
        64,
        1e-3,
        3.0,
    )


def test_mode_files_name_each_mode_of_the_library():
    for mode in MODES:
        data = yaml.safe_load((ROOT / "params" / "modes" / f"{mode}.yaml").read_text())
        assert data == {"mode": mode}
