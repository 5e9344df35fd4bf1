"""Tests of distill_lib.report.html: offline pages, and an index that stands alone."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from distill_lib.report.html import IndexSection, Page, export_html, notebook_title, write_index


def _notebook(path):
    nb = new_notebook(cells=[new_markdown_cell("# 7 · A title\n\ntext"), new_code_cell("1 + 1")])
    nb.cells[1].outputs = [new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nbformat.write(nb, path)
    return path


def test_pages_fetch_nothing_from_the_network(tmp_path):
    export_html(_notebook(tmp_path / "n.ipynb"), tmp_path / "n.html")
    text = (tmp_path / "n.html").read_text()
    assert "A title" in text
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", text)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", text)
    assert notebook_title(tmp_path / "n.ipynb") == "7 · A title"


def test_index_has_verdicts_figures_inside_the_folder_and_links(tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "f.png").write_bytes(b"\x89PNG fake")
    html_dir = tmp_path / "html"
    sections = [IndexSection("First <question>", "It holds & here.", ["f.png", "absent.png"], [("a.html", "step a")])]
    pages = [Page("a.html", "Notebook A", "done"), Page("b.html", "Notebook B", "failed")]
    index = write_index(html_dir, "Title", sections, pages, figures, notes=["a note"]).read_text()
    assert "First &lt;question&gt;" in index and "It holds &amp; here." in index and "a note" in index
    assert 'src="figures/f.png"' in index and (html_dir / "figures" / "f.png").is_file() and "absent.png" not in index
    assert ">step a</a>" in index and index.index("a.html") < index.index("b.html") and 'class="failed"' in index
