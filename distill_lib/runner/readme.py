"""The README's numbers, written from the committed results: never typed by hand.

Two marked blocks of ``README.md`` are generated from ``reports/results.json``: the results
table (``<!-- results-table -->``: each section's headline table) and the findings
(``<!-- findings -->``: each section's verdict, and the machine and commit they came from).
A third, ``<!-- full-findings -->``, comes from the full grid's ``reports/full/results.json``
(``make full``) where the README has it, and a fourth, ``<!-- tasks-findings -->``, from the
cross-task summary (``reports/full/tasks/tasks.json`` from ``make full`` where it exists, else
``reports/tasks/tasks.json`` from ``make tasks``). ``make study`` and ``make full`` rewrite them;
``make readme`` does it alone, and a test fails when the README and the results disagree.

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

__all__ = ["BLOCKS", "render", "rewrite", "tasks_summary"]

#: the marked blocks, in README order (the last only where the README has it)
BLOCKS = ("results-table", "findings", "full-findings", "tasks-findings")
#: the blocks a README may leave out (the full grid's)
OPTIONAL = ("full-findings", "tasks-findings")
#: where the cross-task summaries are (``make full``, ``make tasks``), the first that exists quoted
TASKS_SUMMARIES = ("reports/full/tasks", "reports/tasks")
#: the full grid's sections the README quotes
FULL_SECTIONS = ("real_task", "baselines", "fair", "sources")


def _origin(results: dict[str, Any], what: str, path: str) -> str:
    p = results.get("provenance", {})
    cpu = p.get("cpu") or {}
    machine = f"{cpu.get('model') or 'an unnamed CPU'} ({cpu.get('torch_capability') or 'unknown'} kernels)"
    commit = (p.get("commit") or "an unknown commit")[:7] + (" with uncommitted changes" if p.get("dirty") else "")
    return (
        f"(Generated from [`{path}/results.json`]({path}/results.json) by `make readme`: {what} "
        f"at commit {commit}, on {machine}, torch {p.get('versions', {}).get('torch', '?')}. The tables and "
        f"the reasoning behind each sentence are in [`{path}/results.md`]({path}/results.md).)"
    )


def _verdicts(sections: list[dict[str, Any]]) -> list[str]:
    # a verdict's paragraphs stay inside its list item
    return [f"- **{s['title']}.** " + s["verdict"].replace("\n\n", "\n\n  ") for s in sections if s.get("verdict")]


def render(
    results: dict[str, Any], full: dict[str, Any] | None = None, tasks: dict[str, Any] | None = None
) -> dict[str, str]:
    """The text of each block from the default study's ``results.json``, the full grid's and the cross-task summary."""
    sections = results.get("sections", [])
    tables = "".join(s["headline"] for s in sections if s.get("headline"))
    lines = [_origin(results, "the default study", "reports"), "", *_verdicts(sections)]
    if full is None:
        full_text = "The full grid has not been run in this checkout: `make full` (see its time below)."
    else:
        chosen = [s for s in full.get("sections", []) if s.get("experiment") in FULL_SECTIONS]
        full_text = "\n".join([_origin(full, "the full grid", "reports/full"), "", *_verdicts(chosen)])
    if tasks is None:
        tasks_text = "The cross-task summary has not been made in this checkout: `make tasks` (see its time below)."
    else:
        from ..experiments.across_tasks import render_markdown

        p, where = tasks.get("provenance", {}), tasks.get("_path", "reports/tasks")
        grid = "full-grid" if where.startswith("reports/full") else "default-grid"
        origin = (
            f"(Generated from [`{where}/tasks.json`]({where}/tasks.json) by `make readme`: one {grid} study per "
            f"task, summarised at commit {(p.get('commit') or '?')[:7]}; the page, with its figure, is "
            f"[`{where}/index.html`]({where}/index.html).)"
        )
        body = render_markdown(tasks).split("\n", 2)[2]  # without its title
        tasks_text = origin + "\n\n" + body.rstrip("\n")
    return {
        "results-table": tables.rstrip("\n"),
        "findings": "\n".join(lines),
        "full-findings": full_text,
        "tasks-findings": tasks_text,
    }


def tasks_summary(root: Path = PROJECT_ROOT) -> dict[str, Any] | None:
    """The cross-task summary the README quotes: the full grid's where it has been made, else the default grid's."""
    for where in TASKS_SUMMARIES:
        if (root / where / "tasks.json").is_file():
            return json.loads((root / where / "tasks.json").read_text(encoding="utf-8")) | {"_path": where}
    return None


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name} -->\n)(.*?)(\n<!-- /{name} -->)", re.S)


def rewrite(
    readme: str, results: dict[str, Any], full: dict[str, Any] | None = None, tasks: dict[str, Any] | None = None
) -> str:
    """``readme`` with every marked block replaced by its rendering; raises if a required block is missing."""
    for name, text in render(results, full, tasks).items():
        pattern = _block(name)
        if not pattern.search(readme):
            if name in OPTIONAL:
                continue
            raise ValueError(f"README.md has no <!-- {name} --> ... <!-- /{name} --> block")
        readme = pattern.sub(lambda m, text=text: m.group(1) + text + m.group(3), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_lib.runner.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether README.md is up to date (exit 1 if not)")
    args = parser.parse_args(argv)
    readme_path, results_path = PROJECT_ROOT / "README.md", PROJECT_ROOT / "reports" / "results.json"
    full_path = PROJECT_ROOT / "reports" / "full" / "results.json"
    readme = readme_path.read_text(encoding="utf-8")
    full = json.loads(full_path.read_text(encoding="utf-8")) if full_path.is_file() else None
    tasks = tasks_summary()
    updated = rewrite(readme, json.loads(results_path.read_text(encoding="utf-8")), full, tasks)
    if args.check:
        print("README.md is up to date" if updated == readme else "README.md differs from reports/results.json")
        return 0 if updated == readme else 1
    if updated != readme:
        atomic_write_text(readme_path, updated)
        print("README.md: results blocks rewritten from reports/results.json")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
