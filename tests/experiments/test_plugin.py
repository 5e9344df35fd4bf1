"""An experiment is one module + one notebook + one params block: a toy one runs through the real runner.

The toy lives in ``tests/plugins/`` (``toy_experiment.py``, ``toy.ipynb``, ``toy.yaml``);
the library does not know it. The params block names the module (``plugins``) and the
command does the rest: plans its step, runs its notebook, summarises it into
``results.json``, puts its section and figure on the index, and reuses it on a rerun.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import ROOT, SMALL, run_cli

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out)
pytestmark = pytest.mark.slow

PLUGINS = ROOT / "tests" / "plugins"


@pytest.fixture(scope="module")
def toy_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    env = {"PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    args = ("run", *SMALL, "-f", str(PLUGINS / "toy.yaml"), "-o", str(out))
    proc = run_cli(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    return out, args, env


def test_the_toy_runs_through_the_runner_and_reaches_the_report(toy_study):
    out, _, _ = toy_study
    results = json.loads((out / "results.json").read_text())
    assert results["toy"]["n"] == 4 and isinstance(results["toy"]["mean"], float)
    assert json.loads((out / "work" / "study.json").read_text())["steps"]["toy"] == "done"
    index = (out / "html" / "index.html").read_text()
    assert "A toy question" in index and "The toy draws average" in index and 'src="figures/toy_mean.png"' in index
    assert (out / "html" / "toy.html").is_file() and (out / "figures" / "toy_mean.png").is_file()
    (folder,) = (out / "work" / "toy").iterdir()
    assert folder.name.startswith("toy-") and (folder / "values.txt").is_file() and (folder / "toy_mean.png").is_file()


def test_a_rerun_reuses_the_toy(toy_study):
    out, args, env = toy_study
    proc = run_cli(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((out / "work" / "study.json").read_text())["steps"].values()) == {"reused"}


def test_the_library_does_not_know_the_toy():
    for path in (ROOT / "distill_lib").rglob("*.py"):
        assert "toy" not in path.read_text().lower(), path
