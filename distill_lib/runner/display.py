"""The study's progress on the terminal: a ticking bar over the steps, what each running step is
doing, an ETA, and a line per finished step.

In-step progress comes from the steps themselves (``core.progress``: a kernel writes its
latest state to ``work/logs/<notebook>.progress``, named by ``DISTILL_PROGRESS``). The ETA
uses, for each step still to run, the last run's time of that step (``work/timings.json``)
or else the mean time of the finished steps of the same experiment, shared over the
parallel jobs; it appears once there is any such estimate.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping

from ..core.progress import read as read_progress
from .plan import Step

__all__ = ["Progress", "progress_file"]


def progress_file(step: Step) -> str:
    """Where the step's kernel reports its progress (beside its log)."""
    return str(step.kernel_log.with_suffix(".progress"))


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


class Progress:
    """Progress display on stderr (a bar on a terminal; finished-step lines anywhere unless disabled)."""

    def __init__(
        self, steps: list[Step], enabled: bool, jobs: int = 1, timings: Mapping[str, float] | None = None
    ) -> None:
        from tqdm import tqdm

        self.steps = {s.name: s for s in steps}
        self.name_width = max([12, *(len(name) for name in self.steps)])  # finished-step lines stay aligned
        self.enabled, self.jobs = enabled, max(1, jobs)
        self.timings = dict(timings or {})  # the last run's seconds per step
        self.done: dict[str, float] = {}  # this run: finished step -> seconds
        self.settled: set[str] = set()
        self.active: dict[str, float] = {}  # running step -> start time
        self.t0 = time.time()
        tty = enabled and sys.stderr.isatty()
        self.bar = tqdm(
            total=len(steps),
            desc="study",
            unit="step",
            disable=not tty,
            file=sys.stderr,
            leave=False,
            bar_format="{desc}: {n_fmt}/{total_fmt} steps |{bar:20}| {elapsed}{postfix}",
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if tty:
            threading.Thread(target=self._tick, daemon=True).start()

    def estimate(self, name: str) -> float | None:
        """Expected seconds of a step: its last run's, else the mean of its experiment's finished steps."""
        if name in self.timings:
            return self.timings[name]
        kind = self.steps[name].experiment
        same = [s for n, s in self.done.items() if self.steps[n].experiment == kind]
        return sum(same) / len(same) if same else None

    def eta(self) -> float | None:
        """Seconds until every step has settled, or None without any estimate."""
        now = time.time()
        left, known = [], False
        for name in self.steps:
            if name in self.settled:
                continue
            guess = self.estimate(name)
            if guess is None:
                continue
            known = True
            left.append(max(0.0, guess - (now - self.active[name])) if name in self.active else guess)
        if not known:
            return None
        remaining = len(self.steps) - len(self.settled)
        return sum(left) / max(1, min(self.jobs, remaining))

    def status_line(self) -> str:
        parts = []
        for name in self.active:
            inside = read_progress(progress_file(self.steps[name]))
            parts.append(f"{name} ({inside})" if inside else name)
        eta = self.eta()
        text = ("running: " + ", ".join(parts)) if parts else ""
        return f"{text}  ETA {_clock(eta)}" if eta is not None else text

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self.bar.set_postfix_str(self.status_line(), refresh=False)
                self.bar.refresh()

    def running(self, name: str) -> None:
        with self._lock:
            if os.environ.get("DISTILL_TRACE"):
                print(f"  {name} go at {time.time() - self.t0:.1f}s", file=sys.stderr)
            self.active[name] = time.time()
            self.bar.set_postfix_str(self.status_line())

    def finished(self, name: str, status: str, seconds: float, message: str = "") -> None:
        with self._lock:
            self.active.pop(name, None)
            self.settled.add(name)
            if status == "done":
                self.done[name] = seconds
            mark = {"done": "ok", "reused": "reused", "failed": "FAILED"}.get(status, status)
            detail = f" - {message}" if message and status in ("failed", "skipped") else ""
            if self.enabled:
                at = time.time() - self.t0
                self.bar.write(
                    f"  {name:<{self.name_width}} {mark:<7} {seconds:6.1f}s  (at {at:5.1f}s){detail}", file=sys.stderr
                )
            self.bar.set_postfix_str(self.status_line())
            self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self.bar.close()
