"""Tests of ``distill-study run --analysis-only`` (runner.reanalysis): the analysis again over steps an earlier
version of the code made, nothing trained; refused where the steps are not all finished."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SMALL, run_cli

#: end-to-end runs of the real command: the slow tier
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A finished small study, made by this checkout's code."""
    out = tmp_path_factory.mktemp("made")
    proc = run_cli("run", *SMALL, "-q", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def later(tmp_path_factory) -> Path:
    """A copy of the library, notebooks and parameter files one comment later: another code hash, as after an edit."""
    code = tmp_path_factory.mktemp("later")
    shutil.copytree(ROOT / "distill_lib", code / "distill_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", code / "notebooks")
    shutil.copytree(ROOT / "params", code / "params")
    init = code / "distill_lib" / "__init__.py"
    init.write_text(init.read_text() + "\n# a later version of the code\n")
    return code


def _run_later(code: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd first on sys.path: ``-m distill_lib`` imports the later copy
    return subprocess.run(
        [sys.executable, "-m", "distill_lib", *args], capture_output=True, text=True, timeout=300, cwd=code
    )


def _folders(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in (out / "work").glob("*/*") if p.is_dir()}


def _provenance(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["provenance"]


def test_the_later_code_analyses_the_earlier_steps_without_training(made, later, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made, out)
    before, rows = _folders(out), json.loads((made / "results.json").read_text())["results"]
    made_by = _provenance(made)
    proc = _run_later(later, "run", "--analysis-only", *SMALL, "-q", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "the analysis alone, over steps made at commit" in proc.stderr
    assert _folders(out) == before  # no step planned under the later code's keys, none trained
    after = _provenance(out)
    assert after["code_hash"] != made_by["code_hash"]  # the analysis: the later code ...
    assert [s["code_hash"] for s in after["steps"]] == [made_by["code_hash"]]  # ... over the earlier steps
    assert json.loads((out / "results.json").read_text())["results"] == rows
    assert (out / "html" / "03_analysis.html").is_file()


def test_a_plain_run_records_its_own_code_as_the_steps(made):
    provenance = _provenance(made)
    assert [s["code_hash"] for s in provenance["steps"]] == [provenance["code_hash"]]


def test_steps_not_all_finished_are_refused_and_nothing_is_written(made, later, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(made, out)
    (next((out / "work" / "comparison").glob("blended-*")) / "record.json").unlink()
    state = (out / "work" / "study.json").read_bytes()
    proc = _run_later(later, "run", "--analysis-only", *SMALL, "-q", "-o", str(out))
    assert proc.returncode == 2
    assert "no one version of the code finished every step" in proc.stderr and "lacks 1 of" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (out / "work" / "study.json").read_bytes() == state


def test_analysis_only_takes_neither_force_nor_a_cluster(made):
    proc = run_cli("run", "--analysis-only", "--force", *SMALL, "-o", str(made))
    assert proc.returncode == 2 and "neither --force nor --cluster" in proc.stderr


def test_a_folder_where_nothing_ran_is_refused(tmp_path):
    proc = run_cli("run", "--analysis-only", *SMALL, "-o", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "no step of this study has run there" in proc.stderr
    assert not (tmp_path / "nothing").exists()
