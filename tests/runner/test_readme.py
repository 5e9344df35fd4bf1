"""Tests of distill_lib.runner.readme: the README's answer and docs/results.md are the committed results, and the
README answers in its first screen."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from distill_lib.experiments import across_tasks as at
from distill_lib.runner.readme import ANSWER_LINES, PAGES, answer, render, rewrite, tasks_summary
from distill_lib.runner.readme_scale import scale_studies

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
PAGE = "intro\n<!-- findings -->\nold\n<!-- /findings -->\nmiddle\n<!-- results-table -->\nold\n<!-- /results-table -->\nend\n"
README = "# Title\n\n## The answer\n\n<!-- answer -->\nold\n<!-- /answer -->\n\nmore\n"
OBJ = ("hard", "hinton", "rusu", "mse")


def _study(env_id: str, means: dict[str, float], pairs: dict[str, tuple[float, float, float, float]]) -> dict:
    """A results.json with one fair width (2 teachers x 3 seeds): each objective's mean return %, and 'a - b':
    (difference, low, high, p); DQN from scratch at 50%."""
    ci = {o: {"mean": m, "low": m - 2, "high": m + 2, "per_teacher": [m, m], "n_teachers": 2,
              "values": [[m - 1, m, m + 1]] * 2} for o, m in means.items()}  # fmt: skip
    agreement = {"mean": 0.9, "low": 0.8, "high": 1.0}
    objectives = [{"objective": o, "label": o, "candidates": 4, "return_pct": ci[o], "action_agreement": agreement,
                   "own_agreement": agreement, "below_half": 0.0} for o in OBJ]  # fmt: skip
    width = {"width": 8, "params_pct": 10.0, "n_seeds": 3, "env_id": env_id, "objectives": objectives,
             "teachers": [{"test_return": 1.0}] * 2,
             "pairs": {k: {"difference": {"mean": d, "low": lo, "high": hi}, "p_value": p, "p_floor": 0.0, "n": 6}
                       for k, (d, lo, hi, p) in pairs.items()}}  # fmt: skip
    scratch = {"width": 8, "env_steps": 100_000, "teacher_steps": 100_000, "n": 3, "action_agreement": agreement,
               "own_agreement": agreement, "return_pct": {"mean": 50.0, "low": 49.0, "high": 51.0, "values": [49, 50, 51]}}  # fmt: skip
    return {"fair": {"widths": [width]}, "baselines": {"scratch": [scratch], "teachers": None}, "provenance": {}}


def _tasks(reversed_on_acrobot: bool = True) -> dict:
    """A cross-task summary of two tasks: hard above hinton on CartPole, and on Acrobot hinton above hard (a reversal)
    or no detectable difference."""
    a = _study("CartPole-v1", {"hard": 100, "hinton": 80, "rusu": 99, "mse": 10}, {"hard - hinton": (20, 5, 35, 0.02)})
    pair = (5, 1, 9, 0.02) if reversed_on_acrobot else (5, -1, 11, 0.5)
    b = _study("Acrobot-v1", {"hard": 90, "hinton": 95, "rusu": 99, "mse": 10}, {"hinton - hard": pair})
    return at.summarize({"a": a, "b": b}) | {"provenance": {"commit": "1234567890"}, "_path": "reports/full/tasks"}


def _block(text: str, name: str) -> list[str]:
    return text.split(f"<!-- {name} -->\n")[1].split(f"<!-- /{name} -->")[0].splitlines()


def test_the_answer_says_what_distillation_needs_at_matched_environment_steps():
    tasks = _tasks()
    assert "environment steps distillation needs" not in answer(tasks)  # no data budgets measured: nothing said
    points = [{"budget": b, "return_pct": {"mean": m}} for b, m in ((1_000, 60.0), (10_000, 90.0))]
    tasks["tasks"][0]["budgets"] = [{"width": 8, "curves": [{"objective": "hard", "source": "teacher", "points": points}],
                                     "scratch": [{"budget": 100_000, "return_pct": {"mean": 85.0}}]}]  # fmt: skip
    text = answer(tasks)
    assert "CartPole width 8 (85% at 100,000): hard at 10,000." in text and len(text.splitlines()) <= ANSWER_LINES


def test_the_pages_say_what_the_committed_results_say():
    results = json.loads((ROOT / "reports" / "results.json").read_text())
    full_path = ROOT / "reports" / "full" / "results.json"
    full = json.loads(full_path.read_text()) if full_path.is_file() else None
    tasks, scale = tasks_summary(ROOT), scale_studies(ROOT)
    for page in PAGES:
        text = (ROOT / page).read_text()
        assert rewrite(text, results, full, tasks, page, scale) == text, (
            f"run `make readme`: {page} differs from the results"
        )


def test_the_readme_answers_in_its_first_screen():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    first = "\n".join(lines[:60])
    assert "## The answer" in first and "<!-- /answer -->" in first
    assert "make study" in first and "make test" in first and "](docs/results.md)" in first
    assert first.index("## The answer") < first.index("make study")  # the answer first
    assert len(_block("\n".join(lines), "answer")) <= ANSWER_LINES


def test_the_answer_is_the_verdict_in_at_most_ten_lines():
    tasks = _tasks()
    text = answer(tasks)
    lines = text.splitlines()
    assert len(lines) <= ANSWER_LINES
    assert lines[0].startswith("![Return against student size") and lines[0].endswith(
        "(reports/full/tasks/tasks_returns.png)"
    )
    assert "Over 2 tasks (CartPole, Acrobot)" in text and "Holm over all 2 pairwise tests" in text  # n, correction
    assert "does not hold across tasks: hard above hinton on CartPole but below it on Acrobot" in text
    assert "they can show a ranking that changes with the task, not that one holds" in text  # what it cannot tell
    assert "Rusu et al." not in text  # the rest of the context stays on docs/results.md
    assert "commit 1234567" in lines[-1]
    assert answer(tasks, "../").splitlines()[0].endswith("(../reports/full/tasks/tasks_returns.png)")
    assert "has not been made" in answer(None)


def test_a_flipped_result_changes_the_page():
    changed = json.loads(json.dumps(RESULTS))
    changed["sections"][0]["verdict"] = "It does not hold."
    assert render(changed)["findings"] != render(RESULTS)["findings"]
    # the same test no longer detectable on Acrobot: the answer drops the reversal
    assert "no pair of objectives is ordered one way" in answer(_tasks(reversed_on_acrobot=False))
    out = rewrite(README, RESULTS, None, _tasks(), "README.md")
    assert rewrite(out, RESULTS, None, _tasks(reversed_on_acrobot=False), "README.md") != out


def test_only_the_marked_blocks_change():
    out = rewrite(PAGE, RESULTS)
    assert out.startswith("intro\n") and "\nmiddle\n" in out and out.endswith("end\n") and "\nold\n" not in out
    assert "| x |\n|---|\n| 1 |\n<!-- /results-table -->" in out
    assert "- **First.** It holds." in out and "Second" not in out
    assert "commit 0123456" in out and "X (AVX2 kernels)" in out
    assert "[`reports/results.json`](../reports/results.json)" in out  # linked from docs/
    assert rewrite(out, RESULTS) == out
    # a page's blocks may start empty: two marker lines in a row
    empty = "<!-- findings -->\n<!-- /findings -->\n<!-- results-table -->\n<!-- /results-table -->\n"
    assert rewrite(empty, RESULTS) == rewrite(PAGE, RESULTS).removeprefix("intro\n").replace("middle\n", "")[:-4]


def test_a_missing_block_is_an_error():
    with pytest.raises(ValueError, match="docs/results.md has no <!-- findings -->"):
        rewrite("<!-- results-table -->\nx\n<!-- /results-table -->\n", RESULTS)
    with pytest.raises(ValueError, match="README.md has no <!-- answer -->"):
        rewrite("# Title\n", RESULTS, None, None, "README.md")
    with pytest.raises(ValueError, match="README.md has a <!-- findings --> block; it belongs on another page"):
        rewrite(README + "<!-- findings -->\nx\n<!-- /findings -->\n", RESULTS, None, None, "README.md")
    with pytest.raises(ValueError, match="page='NOTES.md'"):
        rewrite(README, RESULTS, None, None, "NOTES.md")


def test_the_full_grids_block_quotes_its_own_results():
    full = {**RESULTS, "sections": [{"experiment": "fair", "title": "Fair", "verdict": "Soft wins."},
                                    {"experiment": "budgets", "title": "Budgets", "verdict": "More helps."},
                                    {"experiment": "sweep", "title": "Sweep", "verdict": "Not quoted."}]}  # fmt: skip
    text = PAGE + "<!-- full-findings -->\nold\n<!-- /full-findings -->\n"
    out = rewrite(text, RESULTS, full)
    assert "reports/full/results.json" in out and "- **Fair.** Soft wins." in out and "\nold\n" not in out
    assert "- **Budgets.** More helps." in out and "Not quoted" not in out
    assert "has not been run" in rewrite(text, RESULTS, None)


def test_the_across_tasks_block_quotes_the_summary():
    text = PAGE + "<!-- tasks-findings -->\nold\n<!-- /tasks-findings -->\n"
    out = rewrite(text, RESULTS, None, _tasks())
    block = "\n".join(_block(out, "tasks-findings"))
    assert "[`reports/full/tasks/tasks.json`](../reports/full/tasks/tasks.json)" in block and "commit 1234567" in block
    assert "Over 2 tasks (CartPole, Acrobot)" in block and "Rusu et al." in block  # the whole verdict, with context
    assert "| CartPole | 8 |" in block and "\nold\n" not in out
    assert "has not been made" in rewrite(text, RESULTS, None, None)


def test_a_reanalysed_study_names_the_commit_of_its_steps():
    again = {**RESULTS, "provenance": {**RESULTS["provenance"], "steps": [{"commit": "fedcba9876543210"}]}}
    text = PAGE + "<!-- full-findings -->\nold\n<!-- /full-findings -->\n"
    assert "at commit 0123456 (analysis; its steps at fedcba9)" in rewrite(text, RESULTS, again)
    same = {**RESULTS, "provenance": {**RESULTS["provenance"], "steps": [{"commit": "0123456789abcdef"}]}}
    assert "at commit 0123456," in rewrite(text, RESULTS, same)  # a plain run: one commit, said once
