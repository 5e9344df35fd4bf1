"""The study's HTML folder: every step's page kept current, and the index that leads to them.

A page shows one executed notebook. ``refresh_pages`` renders a page again when it is
missing, was made from another setting's step, or no longer has the SHA-256 recorded when
it was made (an edited or truncated page); a page that a step's worker has just made is
recorded as it is. ``write_index`` writes ``index.html`` and copies its figures beside it,
every run. ``html/.pages.json`` (``state.Pages``, sealed) records, for each page, the key of
the step it shows, its SHA-256 and its notebook's, and the SHA-256 of the index and its
figures: every file the folder presents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..records.manifest import hash_files
from ..records.provenance import file_sha256
from .plan import Plan, Step
from .state import PageEntry, Pages, notebook_is_whole, read_pages, read_sections, write_sealed

__all__ = ["TITLE", "notebook_intact", "refresh_pages", "write_index"]

TITLE = "Distillation objectives for Q-network policies"
#: the page manifest, in the HTML folder
PAGES_FILE = ".pages.json"


class Outcome(Protocol):
    """What the pages read of a run (``runner.study.Outcome``)."""

    status: dict[str, str]
    errors: dict[str, str]

    @property
    def failed(self) -> list[str]: ...


def notebook_intact(step: Step, pages: Pages) -> bool:
    """The step's executed notebook is whole and, if its page was made from it, unchanged since."""
    if not notebook_is_whole(step.output):
        return False
    entry = pages.pages.get(step.page)
    return entry is None or entry.key != step.key or entry.notebook == file_sha256(step.output)


def _current(step: Step, entry: PageEntry | None, page: Path, notebook: str) -> bool:
    return (
        entry is not None
        and (entry.key, entry.notebook) == (step.key, notebook)
        and page.is_file()
        and file_sha256(page) == entry.sha256
    )


def refresh_pages(plan: Plan, outcome: Outcome, html_dir: Path, hide_code: bool) -> Pages:
    """Every step's page shows its executed notebook for these settings (module docstring); the manifest."""
    from ..report.html import export_html

    pages = dict(read_pages(html_dir).pages)
    for step in plan.steps:
        if not notebook_is_whole(step.output):  # nothing to show (a damaged one has run again)
            continue
        page, notebook = html_dir / step.page, file_sha256(step.output)
        made_now = (
            outcome.status.get(step.name) in ("done", "failed")
            and page.is_file()
            and not outcome.errors.get(step.name, "").startswith("HTML rendering failed")
        )
        if not made_now and not _current(step, pages.get(step.page), page, notebook):
            try:
                export_html(step.output, page, hide_code=hide_code)
            except Exception as err:
                outcome.errors.setdefault(
                    step.name, f"HTML rendering failed: {type(err).__name__}: {err}".splitlines()[0]
                )
                pages.pop(step.page, None)
                continue
        pages[step.page] = PageEntry(step.key, file_sha256(page), notebook)
    manifest = Pages(pages=pages)
    write_sealed(html_dir / PAGES_FILE, manifest)
    return manifest


def write_index(plan: Plan, outcome: Outcome, html_dir: Path, pages: Pages) -> None:
    """``index.html`` from the analysis' sections (none if they are missing), and its figures; recorded."""
    from ..report.html import IndexSection, Page, notebook_title
    from ..report.html import write_index as write_html_index

    sections = read_sections(plan.work_dir)
    by_name = {s.name: s for s in plan.steps}
    shown = []
    for step in sorted(plan.steps, key=lambda s: s.notebook.name):
        if (html_dir / step.page).is_file():
            title = notebook_title(step.output) or step.name
            suffix = f" ({step.name})" if step.name not in ("analysis", step.experiment) else ""
            shown.append(Page(step.page, title + suffix, outcome.status.get(step.name, "?")))
    index = []
    for s in sections.sections if sections is not None else []:
        steps = [by_name[n] for n in s.steps if n in by_name]
        single = len(steps) == 1
        links = [(st.page, (notebook_title(st.output) or st.name) if single else st.name) for st in steps]
        index.append(IndexSection(s.title, s.verdict, s.figures, links))
    notes = [*plan.notes, *(sections.notes if sections is not None else [])]
    if outcome.failed:
        notes.append(f"Did not finish: {', '.join(outcome.failed)}.")
    write_html_index(html_dir, TITLE, index, shown, plan.out_dir / "figures", list(dict.fromkeys(notes)))
    figures = [f"figures/{f}" for s in index for f in s.figures if (html_dir / "figures" / f).is_file()]
    write_sealed(html_dir / PAGES_FILE, Pages(pages.pages, hash_files(html_dir, ["index.html", *figures])))
