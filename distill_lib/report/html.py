"""The HTML report: each executed notebook as an offline page, and the index that leads to them.

Pages are rendered by nbconvert with JupyterLab's template minus everything it would fetch
from a CDN (``templates/offline``), so the folder opens without a network. The index shows
each experiment's verdict and figures (copied into the folder, so ``html/`` stands alone)
and links every page, in the notebooks' reading order.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..records.atomic import atomic_write_text

__all__ = ["IndexSection", "Page", "export_html", "notebook_title", "page", "write_index"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Page:
    """A rendered notebook: its file, title and the status of its step."""

    file: str
    title: str
    status: str


@dataclass(frozen=True)
class IndexSection:
    """An experiment on the index: its title, verdict (Markdown-free text), figures and pages."""

    title: str
    verdict: str
    figures: list[str]  # PNG files in the report's figures/ folder
    pages: list[tuple[str, str]]  # (page file, link text) of its steps


def export_html(notebook: str | os.PathLike[str], dest: str | os.PathLike[str], hide_code: bool = False) -> None:
    """Render an executed notebook to a self-contained HTML page that works offline (atomically)."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)])
    # the parameter cells (the notebook's own, and the whole study's that papermill injects) are not the story
    # a page tells: the step's record and results.json hold every parameter with its provenance
    remove = {"parameters", "injected-parameters"}
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=remove, enabled=True), enabled=True)
    exporter.exclude_input = hide_code
    exporter.exclude_input_prompt = hide_code
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    atomic_write_text(dest, body)


def notebook_title(notebook: str | os.PathLike[str]) -> str | None:
    """The first Markdown heading of a notebook, without its ``#`` (None if it has none)."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return None


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
img { max-width: 100%; border: 1px solid #eee; } figure { margin: 1em 0; }
.verdict { background: #f6f8fa; border-left: 4px solid #7570b3; padding: .6em 1em; }
.failed, .skipped, .missing { color: #b00; font-weight: bold; } .done, .reused { color: #080; }
ul.pages li { margin: .2em 0; } .note { color: #555; }
table { border-collapse: collapse; font-size: .9em; } th, td { border: 1px solid #ddd; padding: .25em .5em; }
td { text-align: right; } td:nth-child(1), td:nth-child(4) { text-align: left; } th { background: #f6f8fa; }
"""


def write_index(
    html_dir: str | os.PathLike[str],
    title: str,
    sections: list[IndexSection],
    pages: list[Page],
    figures_dir: str | os.PathLike[str],
    notes: list[str] = (),
) -> Path:
    """``index.html``: each section's verdict and figures, then every page; figures copied beside it."""
    out = Path(html_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for note in notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    by_file = {p.file: p for p in pages}
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for paragraph in [p for p in section.verdict.split("\n\n") if p.strip()]:
            parts.append(f'<p class="verdict">{html.escape(paragraph)}</p>')
        for name in section.figures:
            source = Path(figures_dir) / name
            if source.is_file():
                shutil.copyfile(source, out / "figures" / name)
                parts.append(
                    f'<figure><img src="figures/{html.escape(name)}" alt="{html.escape(Path(name).stem)}"></figure>'
                )
        links = [(file, label) for file, label in section.pages if file in by_file]
        if links:
            anchors = ", ".join(f'<a href="{html.escape(file)}">{html.escape(label)}</a>' for file, label in links)
            parts.append(f"<p>Notebooks: {anchors}</p>")
    parts.append('<h2>Every notebook</h2><ul class="pages">')
    for page in pages:
        status = html.escape(page.status)
        parts.append(
            f'<li><a href="{html.escape(page.file)}">{html.escape(page.title)}</a> <span class="{status}">{status}</span></li>'
        )
    parts.append("</ul>")
    body = "\n".join(parts)
    page = f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n'
    atomic_write_text(out / "index.html", page)
    return out / "index.html"


def page(title: str, body: str) -> str:
    """A standalone HTML page (the index's style, no outside resources) around ``body``."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
        f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )
