"""The README's and docs/results.md's numbers, written from the committed results: never typed by hand.

Marked blocks (``<!-- name -->`` ... ``<!-- /name -->``) of two pages are generated:

- ``README.md``: ``answer``, the across-tasks answer in at most ten lines (the cross-task
  figure, the verdict with its n and its correction, DQN from scratch, the pooled aggregate and
  what a few tasks cannot tell), from the cross-task summary (``reports/full/tasks/tasks.json``
  from ``make full`` where it exists, else ``reports/tasks/tasks.json`` from ``make tasks``).
- ``docs/results.md``: ``tasks-findings`` (the cross-task table and its verdict), ``findings``
  (each section's verdict of ``reports/results.json``, and the machine and commit they came
  from), ``full-findings`` (the full grid's ``reports/full/results.json``, ``make full``) and
  ``results-table`` (each section's headline table), ``advantage-scale`` (the experiment behind
  the advantage objective's scale, ``runner.readme_scale``).

Each page's links are written relative to that page. ``make study``, ``make tasks`` and
``make full`` rewrite the blocks; ``make readme`` does it alone, ``--check`` only says whether
both pages are current, and a test fails when a page and the results disagree.

    python -m distill_lib.runner.readme [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ..experiments.base import PROJECT_ROOT
from ..records.atomic import atomic_write_text
from ..records.provenance import earlier_step_commits
from .readme_scale import scale_block, scale_studies

__all__ = ["ANSWER_LINES", "BLOCKS", "PAGES", "answer", "render", "rewrite", "tasks_summary"]

#: every generated block, in the order ``render`` returns them
BLOCKS = ("answer", "tasks-findings", "findings", "full-findings", "results-table", "advantage-scale")
#: page (relative to the project root) -> (the blocks it must have, the blocks it may leave out)
PAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "README.md": (("answer",), ()),
    "docs/results.md": (("findings", "results-table"), ("tasks-findings", "full-findings", "advantage-scale")),
}
#: the most lines the README's answer block may take
ANSWER_LINES = 10
#: where the cross-task summaries are (``make full``, ``make tasks``), the first that exists quoted
TASKS_SUMMARIES = ("reports/full/tasks", "reports/tasks")
#: the full grid's sections the results page quotes
FULL_SECTIONS = ("real_task", "baselines", "fair", "budgets")


def _prefix(page: str) -> str:
    """What turns a path from the project root into a link from ``page`` (``../`` from ``docs/``)."""
    return "../" * page.count("/")


def _origin(results: dict[str, Any], what: str, path: str, up: str) -> str:
    p = results.get("provenance", {})
    cpu = p.get("cpu") or {}
    machine = f"{cpu.get('model') or 'an unnamed CPU'} ({cpu.get('torch_capability') or 'unknown'} kernels)"
    commit = (p.get("commit") or "an unknown commit")[:7] + (" with uncommitted changes" if p.get("dirty") else "")
    earlier = earlier_step_commits(p)
    if earlier:  # run --analysis-only: the analysis at this commit over steps an earlier one made
        commit += f" (analysis; its steps at {', '.join(c[:7] for c in earlier)})"
    return (
        f"(Generated from [`{path}/results.json`]({up}{path}/results.json) by `make readme`: {what} "
        f"at commit {commit}, on {machine}, torch {p.get('versions', {}).get('torch', '?')}. The tables and "
        f"the reasoning behind each sentence are in [`{path}/results.md`]({up}{path}/results.md).)"
    )


def _verdicts(sections: list[dict[str, Any]]) -> list[str]:
    # a verdict's paragraphs stay inside its list item
    return [f"- **{s['title']}.** " + s["verdict"].replace("\n\n", "\n\n  ") for s in sections if s.get("verdict")]


def _tasks_origin(tasks: dict[str, Any], up: str) -> str:
    p, where = tasks.get("provenance", {}), tasks.get("_path", "reports/tasks")
    grid = "full-grid" if where.startswith("reports/full") else "default-grid"
    return (
        f"(Generated from [`{where}/tasks.json`]({up}{where}/tasks.json) by `make readme`: one {grid} study per "
        f"task, summarised at commit {(p.get('commit') or '?')[:7]}; the page, with its figures, is "
        f"[`{where}/index.html`]({up}{where}/index.html).)"
    )


def answer(tasks: dict[str, Any] | None, up: str = "") -> str:
    """The README's answer: the cross-task figure, then one line per sentence (the verdict with its n and its
    correction, DQN from scratch at its whole budget and at matched environment steps, the pooled aggregate, what a
    few tasks cannot tell), then where it came from."""
    if tasks is None:
        return "The cross-task summary has not been made in this checkout: `make tasks` (or `make full`)."
    from ..experiments.across_tasks import aggregate_sentence, scratch_sentence, verdict
    from ..experiments.across_tasks.sentences import context_sentences, reach_sentence

    context = context_sentences(tasks)
    # the verdict ends with the context sentences; the answer keeps its head and picks its context
    head = verdict(tasks).removesuffix(" " + " ".join(context))
    lines = [head, scratch_sentence(tasks), reach_sentence(tasks), aggregate_sentence(tasks), context[-1]]
    where = tasks.get("_path", "reports/tasks")
    figure = f"![Return against student size, per task, with DQN from scratch]({up}{where}/tasks_returns.png)"
    return "\n".join([figure, "", *(line for line in lines if line), "", _tasks_origin(tasks, up)])


def render(
    results: dict[str, Any],
    full: dict[str, Any] | None = None,
    tasks: dict[str, Any] | None = None,
    page: str = "docs/results.md",
    scale: list[dict[str, Any]] | None = None,
) -> dict[str, str]:
    """The text of each block (``BLOCKS``) for ``page``, from the default study's ``results.json``, the full grid's,
    the cross-task summary and the advantage-scale studies (``readme_scale.scale_studies``)."""
    up = _prefix(page)
    sections = results.get("sections", [])
    tables = "".join(s["headline"] for s in sections if s.get("headline"))
    lines = [_origin(results, "the default study", "reports", up), "", *_verdicts(sections)]
    if full is None:
        full_text = "The full grid has not been run in this checkout: `make full` (its time: docs/full-grid.md)."
    else:
        chosen = [s for s in full.get("sections", []) if s.get("experiment") in FULL_SECTIONS]
        full_text = "\n".join([_origin(full, "the full grid", "reports/full", up), "", *_verdicts(chosen)])
    if tasks is None:
        tasks_text = (
            "The cross-task summary has not been made in this checkout: `make tasks` (its time: docs/full-grid.md)."
        )
    else:
        from ..experiments.across_tasks import render_markdown

        body = render_markdown(tasks).split("\n", 2)[2]  # without its title
        tasks_text = _tasks_origin(tasks, up) + "\n\n" + body.rstrip("\n")
    return {
        "answer": answer(tasks, up),
        "tasks-findings": tasks_text,
        "findings": "\n".join(lines),
        "full-findings": full_text,
        "results-table": tables.rstrip("\n"),
        "advantage-scale": scale_block(scale, up),
    }


def tasks_summary(root: Path = PROJECT_ROOT) -> dict[str, Any] | None:
    """The cross-task summary the pages quote: the full grid's where it has been made, else the default grid's."""
    for where in TASKS_SUMMARIES:
        if (root / where / "tasks.json").is_file():
            return json.loads((root / where / "tasks.json").read_text(encoding="utf-8")) | {"_path": where}
    return None


def _block(name: str) -> re.Pattern[str]:
    # the block's text may be empty (two marker lines in a row): a new page starts so
    return re.compile(rf"(<!-- {name} -->\n)(?:.*?\n)?(<!-- /{name} -->)", re.S)


def rewrite(
    text: str,
    results: dict[str, Any],
    full: dict[str, Any] | None = None,
    tasks: dict[str, Any] | None = None,
    page: str = "docs/results.md",
    scale: list[dict[str, Any]] | None = None,
) -> str:
    """``text`` (of ``page``, a key of ``PAGES``) with each of its marked blocks replaced by its rendering; raises if
    a block the page must have is missing, or the page has a block that is not its own."""
    if page not in PAGES:
        raise ValueError(f"page={page!r}: the generated pages are {', '.join(PAGES)}")
    required, optional = PAGES[page]
    for name, rendered in render(results, full, tasks, page, scale).items():
        pattern = _block(name)
        if name not in required + optional:
            if pattern.search(text):
                raise ValueError(f"{page} has a <!-- {name} --> block; it belongs on another page ({', '.join(PAGES)})")
            continue
        if not pattern.search(text):
            if name in optional:
                continue
            raise ValueError(f"{page} has no <!-- {name} --> ... <!-- /{name} --> block; add the two marker lines")
        text = pattern.sub(lambda m, rendered=rendered: m.group(1) + rendered + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_lib.runner.readme", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only say whether the pages are up to date (exit 1 if not)"
    )
    args = parser.parse_args(argv)
    results = json.loads((PROJECT_ROOT / "reports" / "results.json").read_text(encoding="utf-8"))
    full_path = PROJECT_ROOT / "reports" / "full" / "results.json"
    full = json.loads(full_path.read_text(encoding="utf-8")) if full_path.is_file() else None
    tasks, scale = tasks_summary(), scale_studies(PROJECT_ROOT)
    stale = []
    for page in PAGES:
        path = PROJECT_ROOT / page
        text = path.read_text(encoding="utf-8")
        updated = rewrite(text, results, full, tasks, page, scale)
        if updated == text:
            continue
        stale.append(page)
        if not args.check:
            atomic_write_text(path, updated)
            print(f"{page}: results blocks rewritten from reports/")
    if args.check:
        print(f"{', '.join(stale)} differ(s) from reports/: run make readme" if stale else "the pages are up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
