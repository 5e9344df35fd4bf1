"""Running a planned study: reuse what is finished, execute the rest, render the report.

``run_study`` takes a ``plan.Plan``. A step is reused when its folder holds an intact record
(its own hash, which covers its list of files, and every listed file's hash unchanged) and
its executed notebook is whole; the others run on an ``execution.Execution`` (forked
workers by default), each failure confined to its own step and the steps that need it. The
analysis is reused when it read the same finished steps and every file it made
(``results.*``, figures, its sections) still has the hash its record holds; otherwise it
runs again and rebuilds them from the steps' records. Then every page is checked against
its manifest (``runner.pages``: a missing, changed or stale one is rendered again), the
index is written, and ``work/study.json`` says how the study ended: ``complete``,
``failed`` (a step did not finish) or ``interrupted``. Every file the runner reads back is
validated (``runner.state``): a malformed one counts as absent and is rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.schema import ParamError
from ..experiments import load_step
from ..records.atomic import atomic_write_json
from ..records.manifest import hash_files
from ..records.provenance import content_key
from .display import Progress
from .execution import Execution, ForkedExecution
from .lock import FolderLock
from .pages import notebook_intact, refresh_pages, write_index
from .plan import Plan, Step
from .state import (
    AnalysisRecord,
    Pages,
    StudyState,
    files_changed,
    read_analysis_record,
    read_pages,
    read_sections,
    read_timings,
    write_sealed,
    write_state,
)

__all__ = ["Outcome", "RunFault", "run_study", "step_order", "unfinished_steps"]

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


#: errors that say the output path itself is wrong (bad input), not that the disk is full or read-only
_BAD_PATH = (errno.ENOTDIR, errno.ENAMETOOLONG, errno.EEXIST, errno.ELOOP, errno.EINVAL)


def _check_writable(path: Path) -> bool:
    """Create the output folder if needed and check it can be written; whether it was created here.

    A path that cannot be a folder is bad input (``ParamError``); a disk that is full or
    read-only is a fault of the run (``OSError`` naming the folder).
    """
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        if err.errno in _BAD_PATH:
            raise ParamError(
                f"output directory {str(path)!r}: cannot be created or written ({err.strerror or err})"
            ) from None
        raise OSError(err.errno, err.strerror, str(path)) from None
    return created


def _finished(plan: Plan, step: Step, pages: Pages) -> bool:
    """A step is finished when its record is intact and its executed notebook is there, whole, to show it."""
    if step.experiment == "analysis" or not notebook_intact(step, pages):
        return False
    return load_step(step.folder, plan.experiments[step.experiment]) is not None


def unfinished_steps(plan: Plan) -> list[str]:
    """The plan's steps (the analysis aside) that are not finished in its work folder."""
    pages = read_pages(plan.out_dir / "html")
    return [s.name for s in plan.steps[:-1] if not _finished(plan, s, pages)]


def _analysis_key(plan: Plan, status: dict[str, str]) -> str:
    """The analysis depends on which steps finished, too."""
    finished = sorted(n for n, s in status.items() if s in ("done", "reused") and n != "analysis")
    return content_key(plan.analysis.key, finished)


def _analysis_current(plan: Plan, status: dict[str, str], pages: Pages) -> bool:
    """The analysis of these finished steps has run, and every file it made is as it left it."""
    record = read_analysis_record(plan.work_dir)
    return (
        record is not None
        and record.key == _analysis_key(plan, status)
        and not files_changed(plan.out_dir, record)
        and read_sections(plan.work_dir) is not None
        and notebook_intact(plan.analysis, pages)
    )


def _record_analysis(plan: Plan, status: dict[str, str]) -> None:
    """The analysis step's record: the key of what it read, and every file it made with its SHA-256."""
    sections = read_sections(plan.work_dir)
    if sections is None:
        return  # nothing to vouch for: the next run makes the analysis again
    names = [*sections.files, os.path.relpath(plan.work_dir / "analysis" / "sections.json", plan.out_dir)]
    if all((plan.out_dir / name).is_file() for name in names):
        record = AnalysisRecord(_analysis_key(plan, status), hash_files(plan.out_dir, names))
        write_sealed(plan.analysis.folder / "record.json", record)


def step_order(plan: Plan) -> list[str]:
    """Step names, longest first: by the last run's timings, else by each experiment's ``cost`` hint."""
    timings = read_timings(plan.work_dir)
    if timings:
        return sorted(timings, key=lambda n: -timings[n])
    cost = {s.name: getattr(plan.experiments.get(s.experiment), "cost", 1.0) for s in plan.steps}
    return sorted((s.name for s in plan.steps), key=lambda n: -cost[n])  # stable: plan order among equals


def _write_state(plan: Plan, state: str, outcome: Outcome | None = None, error: str = "") -> None:
    """``work/study.json``: how the study stands (``state.write_state``)."""
    steps, errors = (dict(outcome.status), dict(outcome.errors)) if outcome is not None else ({}, {})
    write_state(plan.work_dir, StudyState(state, str(plan.out_dir), steps, errors, error))


class RunFault(OSError):
    """The study could not go on for a reason outside the notebooks: a full or read-only disk, say."""


def _missing_pages(plan: Plan, outcome: Outcome, html_dir: Path) -> list[str]:
    """Steps that ran or were reused but have no HTML page: the report is not complete without them."""
    return [
        s.name
        for s in plan.steps
        if outcome.status.get(s.name) in ("done", "reused") and not (html_dir / s.page).is_file()
    ]


def _fault(err: OSError) -> str:
    """One line: the file, and what went wrong."""
    where = f"{err.filename}: " if getattr(err, "filename", None) else ""
    return f"{where}{err.strerror or err}"


def run_study(
    plan: Plan,
    force: bool = False,
    jobs: int | None = None,
    hide_code: bool = False,
    progress: bool = True,
    execution: Execution | None = None,
    analysis_only: bool = False,
) -> Outcome:
    """Execute a validated plan; returns the outcome (a failing notebook does not raise).

    ``analysis_only``: run the analysis again over the finished steps and run no other step
    (``distill-study run --analysis-only``); a step that is not finished is refused (``ParamError``).

    Raises ``lock.FolderInUse`` when another run holds the output folder (before anything is
    written), ``KeyboardInterrupt`` when interrupted, ``RunFault`` on a file-system error of
    the runner itself (the message names the path); ``work/study.json`` says how it ended.
    """
    if analysis_only:  # before anything is written: the analysis alone, over steps that have all finished
        unfinished = unfinished_steps(plan)
        if unfinished:
            raise ParamError(
                f"--analysis-only: {len(unfinished)} of {len(plan.steps) - 1} steps not finished in {plan.work_dir} "
                f"({', '.join(unfinished[:3])}{', ...' if len(unfinished) > 3 else ''}); run without --analysis-only"
            )
    created = False
    try:
        created = _check_writable(plan.out_dir)
        with FolderLock(plan.out_dir):
            try:
                return _run_locked(plan, force, jobs, hide_code, progress, execution, analysis_only)
            except Exception as err:  # whatever it was, the study is not running any more
                message = _fault(err) if isinstance(err, OSError) else f"{type(err).__name__}: {err}".splitlines()[0]
                with contextlib.suppress(OSError):
                    _write_state(plan, "failed", error=message)
                raise
    except OSError as err:
        if created:  # a folder made by this run for nothing: a full disk, say
            with contextlib.suppress(OSError):
                plan.out_dir.rmdir()
        raise RunFault(_fault(err)) from None


def _run_locked(
    plan: Plan,
    force: bool,
    jobs: int | None,
    hide_code: bool,
    progress: bool,
    execution: Execution | None,
    analysis_only: bool = False,
) -> Outcome:
    started = time.time()
    html_dir = plan.out_dir / "html"
    html_dir.mkdir(parents=True, exist_ok=True)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    _write_state(plan, "running")
    parallel = [s for s in plan.steps if s.needs and s.experiment != "analysis"]
    jobs = jobs or max(1, min(len(parallel) or 1, (os.cpu_count() or 1) + 1))
    outcome = Outcome(plan, Progress(plan.steps, progress, jobs, read_timings(plan.work_dir)))
    execution = execution or ForkedExecution(jobs, step_order(plan))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # training is single-threaded; keep kernels from spinning
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # ... and the seed-compatible path's two threads (cli.main)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    def _on_signal(signum: int, frame: Any) -> None:
        for s in _SIGNALS:  # one interrupt is enough: a second one must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted

    previous = {s: signal.signal(s, _on_signal) for s in _SIGNALS}
    try:
        pages, todo = read_pages(html_dir), set()
        for step in plan.steps[:-1]:
            if not force and _finished(plan, step, pages):
                outcome.finished(step, "reused")
            else:
                todo.add(step.name)
        if force or todo or analysis_only or not _analysis_current(plan, outcome.status, pages):
            todo.add("analysis")
        else:
            outcome.finished(plan.analysis, "reused")
        execution.run(plan.steps, todo, outcome, html_dir, hide_code)
        if outcome.status.get("analysis") == "done":
            _record_analysis(plan, outcome.status)
        pages = refresh_pages(plan, outcome, html_dir, hide_code)
        for name in _missing_pages(plan, outcome, html_dir):
            outcome.pages_missing.append(name)
            outcome.errors.setdefault(name, f"its HTML page {plan.step(name).page} is missing")
        write_index(plan, outcome, html_dir, pages)
        atomic_write_json(plan.work_dir / "timings.json", {**read_timings(plan.work_dir), **outcome.seconds})
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
