"""Tests of distill_lib.runner.execution: dependencies, and the two ways of running a study agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SMALL, plan_for

from distill_lib.runner.execution import ForkedExecution, PapermillExecution, readiness
from distill_lib.runner.plan import Step
from distill_lib.runner.study import run_study


def _step(name: str, needs: tuple[str, ...] = (), experiment: str = "x") -> Step:
    return Step(name, experiment, name, Path("nb.ipynb"), {}, "k", Path("f"), Path("o.ipynb"), needs)


@pytest.mark.parametrize(
    "needs, status, expected",
    [
        ((), {}, "go"),
        (("world",), {}, "wait"),
        (("world",), {"world": "done"}, "go"),
        (("world",), {"world": "reused"}, "go"),
        (("world",), {"world": "failed"}, "skip"),
        (("world", "b"), {"world": "done", "b": "skipped"}, "skip"),
    ],
)
def test_a_step_goes_when_what_it_needs_has_finished(needs, status, expected):
    assert readiness(_step("s", needs), status) == expected


def test_the_analysis_waits_for_everything_and_runs_if_anything_finished():
    analysis = _step("analysis", ("a", "b"), experiment="analysis")
    assert readiness(analysis, {"a": "done"}) == "wait"
    assert readiness(analysis, {"a": "done", "b": "failed"}) == "go"
    assert readiness(analysis, {"a": "failed", "b": "skipped"}) == "skip"


def _results(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    data["provenance"].pop("timing")
    return data


@pytest.mark.slow  # two whole studies
def test_plain_papermill_and_forked_kernels_give_identical_results(tmp_path):
    plain = plan_for([*SMALL, "-p", "modes", "[blended]"], tmp_path / "plain")
    outcome = run_study(plain, execution=PapermillExecution(), progress=False)
    assert not outcome.failed, outcome.errors
    forked = plan_for([*SMALL, "-p", "modes", "[blended]"], tmp_path / "forked")
    outcome = run_study(forked, execution=ForkedExecution(jobs=2), progress=False)
    assert not outcome.failed, outcome.errors
    assert _results(tmp_path / "plain") == _results(tmp_path / "forked")
    for plan in (plain, forked):
        assert sorted(p.name for p in (plan.out_dir / "html").glob("*.html")) == sorted(
            ["index.html", *(s.page for s in plan.steps)]
        )
