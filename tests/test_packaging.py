"""The project's own files: dependencies in step, notebooks clean and in step with params/."""

import json
import tomllib

import yaml
from conftest import ROOT

from distill_lib.core.config import MODES
from distill_lib.runner.params import SPECS
from distill_lib.runner.study import NOTEBOOKS, notebook_parameters

NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_environment_yml_declares_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if p != "-e ."] == project
    assert "torch==2.13.0" in project  # a looser pin pulls a multi-GB CUDA build


def test_notebooks_are_committed_without_outputs():
    assert NOTEBOOK_FILES
    for path in NOTEBOOK_FILES:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


def test_every_notebook_has_a_parameters_cell_declared_in_specs():
    declared = set()
    for path in NOTEBOOK_FILES:
        names = set(notebook_parameters(path))
        assert names, path.name
        declared |= names
    study_names = set()
    for name in NOTEBOOKS.values():
        study_names |= set(notebook_parameters(ROOT / "notebooks" / name))
    assert study_names == set(SPECS)


def test_notebook_defaults_are_the_default_study():
    study = yaml.safe_load((ROOT / "params" / "study.yaml").read_text())
    for name in NOTEBOOKS.values():
        for key, value in notebook_parameters(ROOT / "notebooks" / name).items():
            if key in study and key not in ("lr",):
                assert study[key] == value, (name, key)
            if key == "lr":
                assert float(study[key]) == value


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


def test_mode_files_agree_with_the_library():
    for mode, alpha in MODES.items():
        data = yaml.safe_load((ROOT / "params" / "modes" / f"{mode}.yaml").read_text())
        assert data == {"mode": mode, "alpha": alpha}
