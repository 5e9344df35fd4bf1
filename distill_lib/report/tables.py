"""Markdown tables and number formats shared by the experiments' reports.

Cells are escaped: a ``|`` inside a cell (as in ``KL(teacher || student)``) would end the
cell and break the table, so it is written ``\\|``, which Markdown renders as a bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ci_text", "escape", "markdown_table"]


def escape(cell: Any) -> str:
    """A table cell's text: ``|`` escaped, newlines folded into spaces."""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A GitHub Markdown table; ``align`` has one of ``l``/``r`` per column (default left)."""
    marks = {"l": "---", "r": "---:"}
    rule = [marks.get(a, "---") for a in (align or "l" * len(header)).ljust(len(header), "l")]
    lines = ["| " + " | ".join(escape(h) for h in header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def ci_text(ci: dict[str, Any] | Any, digits: int = 3) -> str:
    """``mean [low, high]`` of a ``stats.MeanCI`` (or its JSON form); the mean alone without bounds."""
    get = ci.get if isinstance(ci, dict) else lambda k: getattr(ci, k)
    if get("low") is None:
        return f"{get('mean'):.{digits}f}"
    return f"{get('mean'):.{digits}f} [{get('low'):.{digits}f}, {get('high'):.{digits}f}]"
