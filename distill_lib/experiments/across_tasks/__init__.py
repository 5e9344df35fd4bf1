"""Across tasks: does the ranking of the objectives hold beyond one environment?

One study per task (``distill-study run -p env_id ...``, each with the fair comparison and its
baselines) answers for that task; ``distill-study tasks`` reads their ``results.json`` files
(as data: this package imports no experiment) and asks whether the answer is a property of
distillation or of the task (Rusu et al. 2016 ran ten Atari games for the same reason).
"""

from __future__ import annotations

from .page import render_markdown, write_summary
from .sentences import aggregate_sentence, scratch_sentence, verdict
from .summary import LEVEL, load_study, summarize

__all__ = [
    "LEVEL",
    "aggregate_sentence",
    "load_study",
    "render_markdown",
    "scratch_sentence",
    "summarize",
    "verdict",
    "write_summary",
]
