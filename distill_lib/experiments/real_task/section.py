"""The real-task section as the report shows it: the tables, the sentences and the two figures."""

from __future__ import annotations

from typing import Any

from ..base import Section
from .figures import figure_fidelity, figure_returns
from .sentences import interpretation, short_verdict
from .summary import RealTaskSummary
from .tables import compression_table, fidelity_table

__all__ = ["section"]


def section(summary: RealTaskSummary, others: dict[str, Any] | None = None) -> Section:
    """The compression and fidelity tables, the sentences, and the two figures."""
    comparison = (others or {}).get("comparison")  # the original comparison's summary, if it ran
    rows = comparison.results if comparison is not None else None
    text = compression_table(summary) + "\n" + fidelity_table(summary) + "\n" + interpretation(summary, rows)
    figures = {
        "real_task_returns.png": lambda: figure_returns(summary),
        "real_task_fidelity.png": lambda: figure_fidelity(summary),
    }
    return Section(f"A real teacher: {summary.teacher['label']}", text, short_verdict(summary), figures)
