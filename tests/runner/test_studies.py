"""Tests of distill_lib.runner.studies: ``distill-study tasks`` reads only complete studies of distinct tasks.

The committed full-grid studies (``reports/full/``, ``reports/full/tasks/<env_id>/``) are the good input; each
bad case is one of them damaged the way the adversarial run did, and must be refused in
one line naming the file and what is missing (exit 2), where it used to give a traceback
or a summary of an unfinished study.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from distill_lib.core.schema import ParamError
from distill_lib.runner.cli import main
from distill_lib.runner.studies import validate_task_studies

FULL = ROOT / "reports" / "full"
#: the full grid's studies committed: CartPole's, then the other tasks' (LunarLander's joins when its grid lands)
COMMITTED = [FULL, *sorted(p.parent for p in (FULL / "tasks").glob("*/results.json"))]


def _copy(tmp_path: Path, source: Path | None = None) -> Path:
    source = source or COMMITTED[-1]
    dest = tmp_path / source.name
    dest.mkdir()
    shutil.copy(source / "results.json", dest / "results.json")
    return dest


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def _edit(folder: Path, change) -> Path:
    results = _results(folder)
    change(results)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_the_committed_studies_are_accepted():
    assert len(COMMITTED) >= 2, "the full grid's CartPole study and at least one other task's are committed"
    studies = validate_task_studies(COMMITTED)
    assert list(studies) == [str(p) for p in COMMITTED]
    tasks = [s["fair"]["widths"][0]["env_id"] for s in studies.values()]
    assert tasks[0] == "CartPole-v1" and len(set(tasks)) == len(tasks)
    assert {p.name for p in COMMITTED[1:]} == set(tasks[1:])


def _refused(folders: list[Path], *fragments: str) -> str:
    with pytest.raises(ParamError) as err:
        validate_task_studies(folders)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


CASES = {
    "results.json is []": (lambda f: (f / "results.json").write_text("[]"), ["results.json", "not a study's results"]),
    "a truncated results.json": (
        lambda f: (f / "results.json").write_text((f / "results.json").read_text()[:500]),
        ["results.json: cannot be read as JSON"],
    ),
    "no results.json": (lambda f: (f / "results.json").unlink(), ["results.json: no results.json"]),
    "the fair comparison's teacher left out": (
        lambda f: _edit(f, lambda r: r["fair"]["widths"][0].pop("teachers")),
        ["results.json", "fair.widths[0].teachers is missing"],
    ),
    "a teacher without its return": (
        lambda f: _edit(f, lambda r: r["fair"]["widths"][0]["teachers"][1].update(test_return="high")),
        ['fair.widths[0].teachers[1].test_return is "high", not a number'],
    ),
    "an objective without its interval": (
        lambda f: _edit(f, lambda r: r["fair"]["widths"][1]["objectives"][0]["return_pct"].pop("mean")),
        ["fair.widths[1].objectives[0].return_pct.mean is missing"],
    ),
    "no fair comparison": (lambda f: _edit(f, lambda r: r.pop("fair")), ["has no fair comparison"]),
    "results that list missing steps": (
        lambda f: _edit(f, lambda r: r.update(missing_steps=["fair 8"])),
        ["results.json: the study did not finish", "fair 8"],
    ),
    "an interrupted study": (
        lambda f: (f / "work").mkdir() or (f / "work" / "study.json").write_text('{"state": "interrupted"}'),
        ["study.json: the study is 'interrupted', not complete"],
    ),
    "a study.json that cannot be read": (
        lambda f: (f / "work").mkdir() or (f / "work" / "study.json").write_text('{"state": '),
        ["study.json: cannot be read"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_incomplete_or_damaged_study_is_refused_naming_its_file(tmp_path, case):
    damage, fragments = CASES[case]
    folder = _copy(tmp_path)
    damage(folder)
    message = _refused([COMMITTED[0], folder], *fragments)
    assert str(folder) in message


def test_a_complete_study_json_is_accepted(tmp_path):
    folder = _copy(tmp_path)
    (folder / "work").mkdir()
    (folder / "work" / "study.json").write_text('{"state": "complete", "out_dir": "x", "steps": {}, "errors": {}}')
    assert len(validate_task_studies([COMMITTED[0], folder])) == 2


def test_one_study_per_task(tmp_path):
    _refused([ROOT / "reports", FULL], "both studies of CartPole-v1")
    _refused([COMMITTED[-1], COMMITTED[-1]], "given twice")
    _refused([tmp_path / "nowhere"], str(tmp_path / "nowhere" / "results.json"), "no results.json")


def test_the_command_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    bad = _copy(tmp_path)
    (bad / "results.json").write_text("[]")
    out = tmp_path / "summary"
    assert main(["tasks", str(COMMITTED[0]), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distill-study: error: ") and str(bad / "results.json") in err[0]
    assert not out.exists()
    monkeypatch.chdir(tmp_path)
    assert main(["tasks", *map(str, COMMITTED[:2]), "-o", ""]) == 2
    assert "-o ''" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]  # nothing written into the current folder
