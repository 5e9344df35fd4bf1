"""The execution layer: what runs a study's steps, and where.

Three ways, with the same results (tests run them side by side):

- ``ForkedExecution`` (the default): one forked worker process per step, ``jobs`` at a time.
  A worker starts its Jupyter kernel as soon as it is forked ("warming": a kernel forked
  from a process that has already imported torch and matplotlib, ``runner.kernels``),
  then waits for the go-ahead, which it gets once the steps it needs have finished:
  training kernels warm up while the data notebook runs, the analysis kernel while the
  modes train. papermill then executes the notebook on that kernel, and the worker renders
  its HTML page.
- ``PapermillExecution``: papermill in this process, one step after another, each on an
  ordinary kernel that papermill starts. Slower; the plain reference.
- ``runner.cluster.DaskExecution`` (``--cluster``): each step a Dask task, on a local
  cluster or on many machines.

All take steps in dependency order and report each result to the study's ``Outcome``.
"""

from __future__ import annotations

import contextvars
import multiprocessing as mp
import os
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from ..core.progress import ENV as PROGRESS_ENV
from .display import progress_file
from .kernels import die_with_parent
from .notebook import execute, quiet_imports, shutdown_kernel, start_kernel
from .plan import Step

__all__ = ["Execution", "ForkedExecution", "PapermillExecution", "readiness", "skip_reason", "step_process_setup"]

DONE = ("done", "reused")


class Outcome(Protocol):
    """What an execution reports to (``runner.study.Outcome``)."""

    status: dict[str, str]

    def started(self, step: Step) -> None: ...

    def finished(self, step: Step, status: str, message: str = "") -> None: ...


def readiness(step: Step, status: dict[str, str]) -> str:
    """``go`` when what the step needs has finished, ``wait`` while it runs, ``skip`` when it cannot run.

    The analysis runs once everything else has settled, if anything finished; any other step
    needs all of its dependencies to have finished.
    """
    settled = [status.get(n) for n in step.needs]
    if step.experiment == "analysis":
        if any(s is None for s in settled):
            return "wait"
        return "go" if any(s in DONE for s in settled) or not settled else "skip"
    if any(s in ("failed", "skipped") for s in settled):
        return "skip"
    return "go" if all(s in DONE for s in settled) else "wait"


def skip_reason(step: Step, status: dict[str, str]) -> str:
    failed = [n for n in step.needs if status.get(n) in ("failed", "skipped")]
    return f"not run: the {failed[0]} step did not finish" if failed else "not run: nothing it reads finished"


class Execution(ABC):
    """Runs ``steps`` (dependency order; those not in ``todo`` are already settled in the outcome)."""

    @abstractmethod
    def run(self, steps: list[Step], todo: set[str], outcome: Outcome, html_dir: Path, hide_code: bool) -> None: ...


class PapermillExecution(Execution):
    """papermill in this process, one step at a time, on ordinary kernels."""

    def run(self, steps: list[Step], todo: set[str], outcome: Outcome, html_dir: Path, hide_code: bool) -> None:
        for step in (s for s in steps if s.name in todo):
            if readiness(step, outcome.status) == "skip":
                outcome.finished(step, "skipped", skip_reason(step, outcome.status))
                continue
            outcome.started(step)
            os.environ[PROGRESS_ENV] = progress_file(step)  # the kernel papermill starts inherits it
            Path(progress_file(step)).parent.mkdir(parents=True, exist_ok=True)
            Path(progress_file(step)).unlink(missing_ok=True)
            try:
                status, message = execute(step, html_dir, hide_code=hide_code)
            finally:
                os.environ.pop(PROGRESS_ENV, None)
            outcome.finished(step, status, message)


# ------------------------------------------------------------------------------------------
# Forked workers
# ------------------------------------------------------------------------------------------


def _worker(step: Step, conn: Connection, nice: int, html_dir: Path, hide_code: bool) -> None:
    """Child process: warm a kernel, wait for "go", run the notebook, report.

    It runs in a fresh ``contextvars.Context``: jupyter's helpers keep their event loop in a
    context variable, and a loop inherited from the forking process (its selector shared with
    the parent, its executor's threads gone) must not be used here.
    """
    contextvars.Context().run(_work, step, conn, nice, html_dir, hide_code)


def step_process_setup(step: Step, nice: int = 0) -> None:
    """What a process that runs one step does first: it stops cleanly on SIGTERM/SIGHUP (the
    kernel is shut down), dies with the process that started it, sends its output (and its
    kernel's) to the step's log, and tells the kernel where to report progress."""

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds papermill and the caller's finally: the kernel is shut down

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # not the parent's handler
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a local Dask worker blocks it (runner.cluster)
    die_with_parent()  # the runner killed (even by SIGKILL): this worker and its kernel go too
    import logging
    import warnings

    # The kernel inherits these descriptors: its chatter goes to a log beside the notebook.
    step.kernel_log.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(step.kernel_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if nice:
        os.nice(nice)  # a waiting kernel's warm-up must not slow the notebook that runs now
    os.environ[PROGRESS_ENV] = progress_file(step)  # the kernel reports its progress there
    Path(progress_file(step)).unlink(missing_ok=True)  # not an earlier run's


def _work(step: Step, conn: Connection, nice: int, html_dir: Path, hide_code: bool) -> None:
    step_process_setup(step, nice)
    km = None
    try:
        try:
            km = start_kernel(step.notebook.parent, os.environ.get("DISTILL_KERNELS", "fork") == "fork", nice)
        except Exception as err:  # papermill will start a kernel of its own and report properly
            print(f"warm-up failed: {err!r}", flush=True)
        conn.send(("ready", ""))
        if conn.recv() != "go":
            return
        conn.send(execute(step, html_dir, km, hide_code))
    except KeyboardInterrupt:
        return
    finally:
        if km is not None:
            shutdown_kernel(km)


@dataclass
class _Worker:
    step: Step
    proc: Any
    conn: Connection
    ready: bool = False
    started: float | None = None  # when it got "go"


class ForkedExecution(Execution):
    """Forked workers with warm kernels, ``jobs`` steps at a time (module docstring).

    ``order`` lists step names, longest first, to start the critical path early; steps not
    in it keep the plan's order.
    """

    def __init__(self, jobs: int, order: list[str] | None = None) -> None:
        self.jobs = jobs
        self.order = order or []
        self.ctx = mp.get_context("fork")
        self.workers: dict[str, _Worker] = {}

    def _spawn(self, step: Step, nice: int, html_dir: Path, hide_code: bool) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_worker, args=(step, child, nice, html_dir, hide_code), name=f"distill-{step.name}"
        )
        proc.start()
        child.close()
        self.workers[step.name] = _Worker(step, proc, parent)

    def run(self, steps: list[Step], todo: set[str], outcome: Outcome, html_dir: Path, hide_code: bool) -> None:
        quiet_imports()  # before forking: the workers share the imports
        if os.environ.get("DISTILL_KERNELS", "fork") == "fork":
            from .kernels import preload

            preload()  # ... and so do the kernels they fork
        needed = {n for s in steps if s.experiment != "analysis" for n in s.needs}
        rank = {name: i for i, name in enumerate(self.order)}
        pending = [s for s in steps if s.name in todo]
        # what others need first, then the longest steps (the critical path), the analysis last
        pending.sort(key=lambda s: (s.experiment == "analysis", s.name not in needed, rank.get(s.name, len(rank))))
        try:
            while pending or self.workers:
                for step in [s for s in pending if readiness(s, outcome.status) == "skip"]:
                    pending.remove(step)
                    outcome.finished(step, "skipped", skip_reason(step, outcome.status))
                for w in [w for w in self.workers.values() if readiness(w.step, outcome.status) == "skip"]:
                    self._stop(self.workers.pop(w.step.name))
                    outcome.finished(w.step, "skipped", skip_reason(w.step, outcome.status))
                # keep up to jobs + 1 workers warming or running; the analysis warms once all others have started
                for step in list(pending):
                    others = [w for w in self.workers.values() if w.step.experiment != "analysis"]
                    if step.experiment == "analysis":
                        if len(pending) > 1:
                            continue
                    elif len(others) > self.jobs:
                        break
                    pending.remove(step)
                    self._spawn(step, 0 if step.name in needed else 19, html_dir, hide_code)
                # hand out go-aheads, at most `jobs` running at once
                running = sum(1 for w in self.workers.values() if w.started is not None)
                for w in self.workers.values():
                    if (
                        w.ready
                        and w.started is None
                        and running < self.jobs
                        and readiness(w.step, outcome.status) == "go"
                    ):
                        w.conn.send("go")
                        w.started = time.time()
                        running += 1
                        outcome.started(w.step)
                if not self.workers:
                    continue
                ready = mp.connection.wait([w.conn for w in self.workers.values()], timeout=0.5)
                for w in [w for w in self.workers.values() if w.conn in ready]:
                    try:
                        status, message = w.conn.recv()
                    except EOFError:
                        status, message = "failed", f"worker process died (exit code {w.proc.exitcode})"
                    if status == "ready":
                        w.ready = True
                        continue
                    w.proc.join(timeout=30)
                    del self.workers[w.step.name]
                    outcome.finished(w.step, status, message)
        finally:
            for w in self.workers.values():
                self._stop(w)
            self.workers.clear()

    @staticmethod
    def _stop(w: _Worker) -> None:
        if w.proc.is_alive():
            w.proc.terminate()  # SIGTERM -> KeyboardInterrupt in the worker -> kernel shutdown
        w.proc.join(timeout=10)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
