"""Running a planned study: reuse what is finished, execute the rest, render the report.

``run_study`` takes a ``plan.Plan``. A step whose folder holds a record (its files
unchanged) is reused; the others run on an ``execution.Execution`` (forked workers by
default), each failure confined to its own step and the steps that need it. Then every
finished step's page is checked (a missing one is rendered again), the index is written,
and ``work/study.json`` says how the study ended: ``complete``, ``failed`` (a step did not
finish) or ``interrupted``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.schema import ParamError
from ..experiments import load_step
from ..records.atomic import atomic_write_json, read_json
from ..records.provenance import content_key
from .display import Progress
from .execution import Execution, ForkedExecution
from .lock import FolderLock
from .plan import Plan, Step

__all__ = ["Outcome", "RunFault", "run_study", "step_order"]

TITLE = "Distillation objectives for Q-network policies"
#: the signals that stop a study cleanly (SIGHUP: the terminal closed)
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):  # not an Exception: no "except Exception" may swallow it
    """SIGINT, SIGTERM or SIGHUP arrived; the study stops and says so."""


@dataclass
class Outcome:
    """What happened: per-step status, errors and seconds."""

    plan: Plan
    progress: Progress
    status: dict[str, str] = field(default_factory=dict)  # step -> done | reused | failed | skipped
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    pages_missing: list[str] = field(default_factory=list)  # finished steps whose page could not be made
    _started: dict[str, float] = field(default_factory=dict)

    def started(self, step: Step) -> None:
        self._started[step.name] = time.time()
        self.progress.running(step.name)

    def finished(self, step: Step, status: str, message: str = "") -> None:
        self.status[step.name] = status
        if message:
            self.errors[step.name] = message
        seconds = time.time() - self._started.pop(step.name, time.time())
        if status == "done":
            self.seconds[step.name] = round(seconds, 3)
        self.progress.finished(step.name, status, seconds, message)

    @property
    def failed(self) -> list[str]:
        """Steps that did not finish, and finished steps whose page is missing."""
        return [n for n, s in self.status.items() if s in ("failed", "skipped") or n in self.pages_missing]


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ParamError(
            f"output directory {str(path)!r}: cannot be created or written ({err.strerror or err})"
        ) from None


def _finished(plan: Plan, step: Step) -> bool:
    """A step is finished when its record is intact and its executed notebook is there to show it."""
    if step.experiment == "analysis" or not step.output.is_file():
        return False
    return load_step(step.folder, plan.experiments[step.experiment]) is not None


def _analysis_key(plan: Plan, status: dict[str, str]) -> str:
    """The analysis depends on which steps finished, too."""
    finished = sorted(n for n, s in status.items() if s in ("done", "reused") and n != "analysis")
    return content_key(plan.analysis.key, finished)


def step_order(plan: Plan) -> list[str]:
    """Step names, longest first: by the last run's timings, else by each experiment's ``cost`` hint."""
    timings = read_json(plan.work_dir / "timings.json") or {}
    if timings:
        return sorted(timings, key=lambda n: -timings[n])
    cost = {s.name: getattr(plan.experiments.get(s.experiment), "cost", 1.0) for s in plan.steps}
    return sorted((s.name for s in plan.steps), key=lambda n: -cost[n])  # stable: plan order among equals


def _write_state(plan: Plan, state: str, outcome: Outcome | None = None, error: str = "") -> None:
    """``work/study.json``: how the study stands. On a full disk, where an atomic write has no room for
    its temporary copy, the small file is overwritten in place: the state must still say ``failed``."""
    payload: dict[str, Any] = {"state": state, "out_dir": str(plan.out_dir)}
    if outcome is not None:
        payload["steps"] = outcome.status
        payload["errors"] = outcome.errors
    if error:
        payload["error"] = error
    path = plan.work_dir / "study.json"
    try:
        atomic_write_json(path, payload)
    except OSError:
        with open(path, "r+", encoding="utf-8") as fh:
            fh.write(json.dumps({"state": state, "error": error}))
            fh.truncate()


def _refresh_pages(plan: Plan, outcome: Outcome, html_dir: Path, hide_code: bool) -> None:
    """Every page shows its step's executed notebook for these settings.

    A page is rendered again when it is missing or was made from another setting's step
    (``html/.pages.json`` remembers which key each page shows); a step that just ran has
    had its page made by its worker.
    """
    from ..report.html import export_html

    shown_path = html_dir / ".pages.json"
    shown = read_json(shown_path) or {}
    for step in plan.steps:
        page = html_dir / step.page
        if outcome.status.get(step.name) in ("done", "failed") and page.is_file():
            shown[step.page] = step.key
        elif step.output.is_file() and (not page.is_file() or shown.get(step.page) != step.key):
            try:
                export_html(step.output, page, hide_code=hide_code)
                shown[step.page] = step.key
            except Exception as err:
                outcome.errors.setdefault(
                    step.name, f"HTML rendering failed: {type(err).__name__}: {err}".splitlines()[0]
                )
    atomic_write_json(shown_path, shown)


def _write_index(plan: Plan, outcome: Outcome, html_dir: Path) -> None:
    from ..report.html import IndexSection, Page, notebook_title, write_index

    data = read_json(plan.work_dir / "analysis" / "sections.json") or {"sections": [], "notes": []}
    by_name = {s.name: s for s in plan.steps}
    pages = []
    for step in sorted(plan.steps, key=lambda s: s.notebook.name):
        if (html_dir / step.page).is_file():
            title = notebook_title(step.output) or step.name
            suffix = f" ({step.name})" if step.name not in ("analysis", step.experiment) else ""
            pages.append(Page(step.page, title + suffix, outcome.status.get(step.name, "?")))
    sections = []
    for s in data["sections"]:
        steps = [by_name[n] for n in s["steps"] if n in by_name]
        single = len(steps) == 1
        links = [(st.page, (notebook_title(st.output) or st.name) if single else st.name) for st in steps]
        sections.append(IndexSection(s["title"], s["verdict"], s["figures"], links))
    notes = [*plan.notes, *data.get("notes", [])]
    if outcome.failed:
        notes.append(f"Did not finish: {', '.join(outcome.failed)}.")
    write_index(html_dir, TITLE, sections, pages, plan.out_dir / "figures", list(dict.fromkeys(notes)))


class RunFault(OSError):
    """The study could not go on for a reason outside the notebooks: a full or read-only disk, say."""


def _missing_pages(plan: Plan, outcome: Outcome, html_dir: Path) -> list[str]:
    """Steps that ran or were reused but have no HTML page: the report is not complete without them."""
    return [
        s.name
        for s in plan.steps
        if outcome.status.get(s.name) in ("done", "reused") and not (html_dir / s.page).is_file()
    ]


def run_study(
    plan: Plan,
    force: bool = False,
    jobs: int | None = None,
    hide_code: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
) -> Outcome:
    """Execute a validated plan; returns the outcome (a failing notebook does not raise).

    Raises ``lock.FolderInUse`` when another run holds the output folder (before anything is
    written), ``KeyboardInterrupt`` when interrupted, ``RunFault`` on a file-system error of
    the runner itself (the message names the path); ``work/study.json`` says how it ended.
    """
    _check_writable(plan.out_dir)
    with FolderLock(plan.out_dir):
        try:
            return _run_locked(plan, force, jobs, hide_code, progress, execution)
        except OSError as err:
            where = f"{err.filename}: " if getattr(err, "filename", None) else ""
            message = f"{where}{err.strerror or err}"
            with contextlib.suppress(OSError):
                _write_state(plan, "failed", error=message)
            raise RunFault(message) from None


def _run_locked(
    plan: Plan, force: bool, jobs: int | None, hide_code: bool, progress: bool, execution: Execution | None
) -> Outcome:
    started = time.time()
    html_dir = plan.out_dir / "html"
    html_dir.mkdir(parents=True, exist_ok=True)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    _write_state(plan, "running")
    parallel = [s for s in plan.steps if s.needs and s.experiment != "analysis"]
    jobs = jobs or max(1, min(len(parallel) or 1, (os.cpu_count() or 1) + 1))
    timings = read_json(plan.work_dir / "timings.json") or {}
    outcome = Outcome(plan, Progress(plan.steps, progress, jobs, timings))
    execution = execution or ForkedExecution(jobs, step_order(plan))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # training is single-threaded; keep kernels from spinning
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    def _on_signal(signum: int, frame: Any) -> None:
        for s in _SIGNALS:  # one interrupt is enough: a second one must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted

    previous = {s: signal.signal(s, _on_signal) for s in _SIGNALS}
    try:
        todo = set()
        for step in plan.steps[:-1]:
            if not force and _finished(plan, step):
                outcome.finished(step, "reused")
            else:
                todo.add(step.name)
        marker = read_json(plan.analysis.folder / "record.json") or {}
        current = not todo and marker.get("key") == _analysis_key(plan, outcome.status)
        if force or not current or not (html_dir / "index.html").is_file():
            todo.add("analysis")
        else:
            outcome.finished(plan.analysis, "reused")
        execution.run(plan.steps, todo, outcome, html_dir, hide_code)
        if outcome.status.get("analysis") == "done":
            atomic_write_json(plan.analysis.folder / "record.json", {"key": _analysis_key(plan, outcome.status)})
        _refresh_pages(plan, outcome, html_dir, hide_code)
        for name in _missing_pages(plan, outcome, html_dir):
            outcome.pages_missing.append(name)
            outcome.errors.setdefault(name, f"its HTML page {plan.step(name).page} is missing")
        _write_index(plan, outcome, html_dir)
        timings = {**(read_json(plan.work_dir / "timings.json") or {}), **outcome.seconds}
        atomic_write_json(plan.work_dir / "timings.json", timings)
    except Interrupted:
        outcome.progress.close()
        with contextlib.suppress(OSError):
            _write_state(plan, "interrupted", outcome)
        raise KeyboardInterrupt from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    outcome.progress.close()
    outcome.wall = time.time() - started
    _write_state(plan, "failed" if outcome.failed else "complete", outcome)
    return outcome
