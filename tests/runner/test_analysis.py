"""Tests of distill_lib.runner.analysis: it reads exactly the planned steps, and says what is missing."""

from __future__ import annotations

import json

import pytest
from conftest import SMALL, plan_for, run_planned

from distill_lib.runner.analysis import analyse, write_results


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Data and the hard_only run of the small study, made step by step (no runner)."""
    out = tmp_path_factory.mktemp("out")
    plan = plan_for(SMALL, out)
    for name in ("world", "hard_only"):
        run_planned(plan, name)
    return out, plan


def test_a_missing_mode_is_reported_as_not_run_here(work):
    out, plan = work
    analysis = analyse(plan.params, out)
    summary = analysis.summaries["comparison"]
    assert [r.mode for r in summary.results] == ["hard_only"] and summary.missing_modes == ["blended", "soft_only"]
    assert analysis.missing == {"comparison": ["blended", "soft_only"]}
    assert "not run in this work folder" in analysis.sections["comparison"].text
    assert set(analysis.not_run) == {"seeds", "sweep", "real_task", "baselines", "fair", "budgets"}


def test_a_result_of_other_settings_is_never_read(work):
    out, plan = work
    other = analyse({**plan.params, "epochs": plan.params["epochs"] + 1}, out)
    assert "comparison" not in other.summaries and other.missing["comparison"] == ["hard_only", "blended", "soft_only"]
    assert "world" not in other.missing  # the world does not depend on epochs: still found


def test_results_files_and_figures(work, tmp_path):
    out, plan = work
    stale = out / "figures" / "sweep_heatmaps.png"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")  # a figure of an experiment that does not run any more
    payload = write_results(analyse(plan.params, out))
    assert payload["missing_steps"] == ["blended", "soft_only"] and payload["results"][0]["mode"] == "hard_only"
    assert json.loads((out / "results.json").read_text())["missing_modes"] == ["blended", "soft_only"]
    assert (out / "results.csv").read_text().splitlines()[1].startswith("hard_only,0.0,")
    md = (out / "results.md").read_text()
    assert "## The original comparison" in md and "*Not run: no sweep temperatures given.*" in md
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["final_metrics.png", "learning_curves.png"]
    sections = json.loads((plan.work_dir / "analysis" / "sections.json").read_text())
    assert [s["experiment"] for s in sections["sections"]] == ["comparison"]
    assert sections["sections"][0]["steps"] == ["hard_only", "blended", "soft_only"]
    # every file it wrote, for the analysis step's record (what a resume checks)
    assert sorted(sections["files"]) == [
        "figures/final_metrics.png",
        "figures/learning_curves.png",
        "results.csv",
        "results.json",
        "results.md",
    ]
