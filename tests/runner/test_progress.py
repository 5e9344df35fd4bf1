"""Tests of distill_lib.runner.display: the ETA comes from last run's timings or finished steps of a kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_lib.runner.display import Progress, progress_file
from distill_lib.runner.plan import Step


def _step(name: str, experiment: str) -> Step:
    return Step(name, experiment, name, Path("nb.ipynb"), {}, "k", Path("f"), Path(f"/tmp/w/notebooks/{name}.ipynb"))


STEPS = [_step("a", "sweep"), _step("b", "sweep"), _step("c", "real_task")]


def test_no_eta_without_any_estimate():
    p = Progress(STEPS, enabled=False, jobs=2)
    assert p.eta() is None
    p.close()


def test_eta_from_finished_steps_of_the_same_kind_and_last_timings():
    p = Progress(STEPS, enabled=False, jobs=1, timings={"c": 30.0})
    p.finished("a", "done", 10.0)
    assert p.estimate("b") == 10.0 and p.estimate("c") == 30.0
    assert p.eta() == pytest.approx(40.0)  # b (10) and c (30), one job
    p.finished("b", "failed", 1.0)
    assert p.eta() == pytest.approx(30.0)
    p.close()


def test_the_progress_file_sits_beside_the_executed_notebook():
    assert progress_file(STEPS[0]) == "/tmp/w/notebooks/a.progress"
