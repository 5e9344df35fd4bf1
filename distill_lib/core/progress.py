"""Progress of long work: on the runner's terminal display, and on a terminal, never in a notebook.

A step's notebook runs in a kernel whose output becomes its HTML page; a progress bar there
would end up in the report (and on stderr, a red box in JupyterLab). So work in progress is
reported on a side channel: when the runner sets ``DISTILL_PROGRESS`` to a file path for a
step, ``report(what, done, total)`` writes the latest state there (at most every half second,
and always the last one), and the runner shows it beside the step's name. Without the
variable (JupyterLab, papermill by hand) nothing is shown and nothing is written.

A library call made from a terminal (a script, ``python -m``) may still draw a bar:
``terminal_bar`` is tqdm's plain bar on stderr, drawn only where stderr is a terminal
(tqdm's ``disable=None``). A Jupyter kernel's stderr is not one, so a notebook shows
nothing. ``tqdm.auto`` is not used: in a kernel it picks the notebook widget, which needs
ipywidgets (not a dependency: widget state would land in the HTML pages), and without it
warns on stderr at import ("IProgress not found").
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm

__all__ = ["ENV", "read", "report", "terminal_bar"]

#: the environment variable naming a step's progress file
ENV = "DISTILL_PROGRESS"

_last = {"t": 0.0}


def report(what: str, done: int, total: int) -> None:
    """Say how far the current step is: ``what`` (e.g. "width 32: students trained"), ``done`` of ``total``."""
    path = os.environ.get(ENV)
    if not path:
        return
    now = time.monotonic()
    if done < total and now - _last["t"] < 0.5:
        return
    _last["t"] = now
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"what": what, "done": done, "total": total}, fh)
        os.replace(tmp, path)
    except OSError:  # progress is a courtesy: never fail a step for it
        pass


def read(path: str | os.PathLike[str]) -> str:
    """The latest state in a progress file as text (``"width 32: students trained 6/18"``), or ``""``."""
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        return f"{state['what']} {state['done']}/{state['total']}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def terminal_bar(iterable: Iterable[Any] | None = None, *, shown: bool = True, **options: Any) -> tqdm:
    """tqdm's plain bar on stderr (``options`` as tqdm's: ``total``, ``desc``, ``unit``, ...), drawn
    only when ``shown`` and stderr is a terminal: in a Jupyter kernel, or with ``shown=False``, a bar
    that counts and draws nothing."""
    return tqdm(iterable, file=sys.stderr, disable=None if shown else True, **options)
