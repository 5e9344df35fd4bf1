"""Tests of distill_lib.runner.readme: the README's numbers are the committed results."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from distill_lib.runner.readme import render, rewrite, tasks_summary

RESULTS = {
    "sections": [
        {"experiment": "a", "title": "First", "verdict": "It holds.", "headline": "| x |\n|---|\n| 1 |\n"},
        {"experiment": "b", "title": "Second", "verdict": "", "headline": ""},
    ],
    "provenance": {
        "commit": "0123456789abcdef",
        "dirty": False,
        "cpu": {"model": "X", "torch_capability": "AVX2"},
        "versions": {"torch": "2.13.0"},
    },
}
README = "intro\n<!-- results-table -->\nold\n<!-- /results-table -->\nmiddle\n<!-- findings -->\nold\n<!-- /findings -->\nend\n"


def test_the_readme_says_what_the_committed_results_say():
    readme = (ROOT / "README.md").read_text()
    results = json.loads((ROOT / "reports" / "results.json").read_text())
    full_path = ROOT / "reports" / "full" / "results.json"
    full = json.loads(full_path.read_text()) if full_path.is_file() else None
    tasks = tasks_summary(ROOT)
    assert rewrite(readme, results, full, tasks) == readme, "run `make readme`: the README differs from the results"


def test_the_full_grids_block_quotes_its_own_results():
    full = {**RESULTS, "sections": [{"experiment": "fair", "title": "Fair", "verdict": "Soft wins."}]}
    text = "<!-- results-table -->\nx\n<!-- /results-table -->\n<!-- findings -->\nx\n<!-- /findings -->\n"
    text += "<!-- full-findings -->\nold\n<!-- /full-findings -->\n"
    out = rewrite(text, RESULTS, full)
    assert "reports/full/results.json" in out and "- **Fair.** Soft wins." in out and "\nold\n" not in out
    assert "has not been run" in rewrite(text, RESULTS, None)


def test_only_the_marked_blocks_change():
    out = rewrite(README, RESULTS)
    assert out.startswith("intro\n") and "\nmiddle\n" in out and out.endswith("end\n") and "\nold\n" not in out
    assert "| x |\n|---|\n| 1 |\n<!-- /results-table -->" in out
    assert "- **First.** It holds." in out and "Second" not in out
    assert "commit 0123456" in out and "X (AVX2 kernels)" in out
    assert rewrite(out, RESULTS) == out


def test_a_flipped_number_changes_the_readme():
    changed = json.loads(json.dumps(RESULTS))
    changed["sections"][0]["verdict"] = "It does not hold."
    assert render(changed)["findings"] != render(RESULTS)["findings"]


def test_a_missing_block_is_an_error():
    with pytest.raises(ValueError, match="findings"):
        rewrite("<!-- results-table -->\nx\n<!-- /results-table -->\n", RESULTS)


def test_the_across_tasks_block_quotes_the_summary():
    tasks = {
        "tasks": [{"env_id": "Acrobot-v1"}], "rows": [], "tests": [], "leaders": [], "reversals": [],
        "aggregate": None, "rusu": [], "family": "every pair (0 tests), Holm", "level": 0.05,
        "provenance": {"commit": "1234567890"},
    }  # fmt: skip
    text = "<!-- results-table -->\nx\n<!-- /results-table -->\n<!-- findings -->\nx\n<!-- /findings -->\n"
    text += "<!-- tasks-findings -->\nold\n<!-- /tasks-findings -->\n"
    out = rewrite(text, RESULTS, None, tasks)
    assert "reports/tasks/tasks.json" in out and "commit 1234567" in out and "Over 1 task (Acrobot)" in out
    assert "\nold\n" not in out
    assert "has not been made" in rewrite(text, RESULTS, None, None)
