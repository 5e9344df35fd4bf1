"""Resume repairs what it finds damaged: the study's own outputs are part of what it checks.

Each case damages a finished tiny study the way the adversarial run did (a truncated,
edited or deleted results file, figure, page or executed notebook; a record with a file
taken off its list; a runner file of the wrong shape), runs the same command again, and
checks that it ends ``complete`` with exit 0, that what was damaged is whole again, and
that only what had to run again did. Every case failed before the runner recorded and
checked the files it presents (``runner.state``, ``runner.pages``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SMALL, plan_for

from distill_lib.runner.cli import main

TINY = [*SMALL, "-p", "modes", "[hard_only, soft_only]"]


@pytest.fixture(scope="module")
def _pristine(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny study, run once, and a copy of it (restored at the same path: nothing re-runs by moving)."""
    out = tmp_path_factory.mktemp("repair") / "out"
    assert main(["run", *TINY, "-o", str(out), "-q"]) == 0
    backup = out.with_name("pristine")
    shutil.copytree(out, backup)
    return out, backup


@pytest.fixture
def study(_pristine) -> Path:
    out, backup = _pristine
    shutil.rmtree(out)
    shutil.copytree(backup, out)
    return out


def _resume(out: Path, capsys) -> dict[str, str]:
    """Run the same command again: exit 0, one study complete, no error; the steps' statuses."""
    code = main(["run", *TINY, "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err, err
    state = json.loads((out / "work" / "study.json").read_text())
    assert state["state"] == "complete" and state["errors"] == {}
    return state["steps"]


def _ran(steps: dict[str, str]) -> set[str]:
    return {name for name, status in steps.items() if status == "done"}


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


# 1. The results files and figures --------------------------------------------------------------
DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated results.json": ("results.json", _truncate),
    "edited results.json": ("results.json", lambda p: p.write_text(p.read_text().replace('"hard_only"', '"x"'))),
    "deleted results.json": ("results.json", Path.unlink),
    "deleted results.csv": ("results.csv", Path.unlink),
    "deleted results.md": ("results.md", Path.unlink),
    "edited results.md": ("results.md", lambda p: p.write_text("# nothing\n")),
    "deleted figure": ("figures/learning_curves.png", Path.unlink),
    "truncated figure": ("figures/final_metrics.png", _truncate),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_results_file_or_figure_is_rebuilt_from_the_records(study, capsys, case):
    name, damage = DAMAGE[case]
    before = (study / name).read_bytes()
    damage(study / name)
    assert _ran(_resume(study, capsys)) == {"analysis"}  # rebuilt from the steps' records, which are reused
    after = (study / name).read_bytes()
    if name == "results.json":  # only the time stamp may differ
        old, new = json.loads(before), json.loads(after)
        old["provenance"].pop("timing"), new["provenance"].pop("timing")
        assert new == old
    else:
        assert after == before


@pytest.mark.parametrize(
    "name", ["html/figures/learning_curves.png", "html/index.html", "html/02_train_soft_only.html"]
)
def test_a_damaged_page_or_index_figure_is_made_again(study, capsys, name):
    before = (study / name).read_bytes()
    (study / name).write_text("<html>edited</html>")
    assert _ran(_resume(study, capsys)) == set()
    after = (study / name).read_bytes()
    if name == "html/index.html":  # it shows each step's status: reused now, done before
        after = after.replace(b'"reused">reused', b'"done">done')
    assert after == before


# 2. Damage a resume used to be unable to repair -----------------------------------------------
def test_a_truncated_executed_notebook_without_its_page_runs_its_step_again(study, capsys):
    step = plan_for(TINY, study).step("hard_only")
    _truncate(step.output)
    (study / "html" / step.page).unlink()
    assert _ran(_resume(study, capsys)) == {"hard_only", "analysis"}
    json.loads(step.output.read_text())
    assert (study / "html" / step.page).is_file()


def test_an_executed_notebook_edited_after_its_page_was_made_runs_its_step_again(study, capsys):
    step = plan_for(TINY, study).step("soft_only")
    nb = json.loads(step.output.read_text())
    nb["cells"] = nb["cells"][:1]  # still a notebook, no longer the one that ran
    step.output.write_text(json.dumps(nb))
    assert _ran(_resume(study, capsys)) == {"soft_only", "analysis"}


def test_the_analysis_notebook_and_its_page_deleted_are_made_again(study, capsys):
    analysis = plan_for(TINY, study).analysis
    analysis.output.unlink()
    (study / "html" / analysis.page).unlink()
    assert _ran(_resume(study, capsys)) == {"analysis"}
    assert analysis.output.is_file() and (study / "html" / analysis.page).is_file()


def test_a_file_taken_off_a_records_list_is_not_trusted(study, capsys):
    step = plan_for(TINY, study).step("hard_only")
    record = json.loads((step.folder / "record.json").read_text())
    del record["files"]["final.pt"]
    (step.folder / "record.json").write_text(json.dumps(record))
    _truncate(step.folder / "final.pt")
    assert _ran(_resume(study, capsys)) == {"hard_only", "analysis"}
    assert "final.pt" in json.loads((step.folder / "record.json").read_text())["files"]


# 3. Runner files of the wrong shape -----------------------------------------------------------
RUNNER_FILES = {
    "sections.json holding {'sections': 5}": ("work/analysis/sections.json", '{"sections": 5}', {"analysis"}),
    "timings.json holding {'data': 'x'}": ("work/timings.json", '{"data": "x"}', set()),
    "a truncated timings.json": ("work/timings.json", '{"data": 1.', set()),
    "study.json of another shape": ("work/study.json", '{"state": ["running"]}', set()),
    "the analysis record of another shape": ("work/analysis/record.json", '{"key": 5}', {"analysis"}),
    "a truncated page manifest": ("html/.pages.json", '{"pages": {', set()),
}


@pytest.mark.parametrize("case", list(RUNNER_FILES))
def test_a_malformed_runner_file_is_rebuilt_never_a_traceback(study, capsys, case):
    name, text, reruns = RUNNER_FILES[case]
    (study / name).write_text(text)
    assert _ran(_resume(study, capsys)) == reruns
    assert (study / name).read_text() != text
