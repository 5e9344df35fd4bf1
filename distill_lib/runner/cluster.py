"""Running a study's steps on Dask: a ``LocalCluster`` on this machine, or any running scheduler.

``connect`` turns ``--cluster`` into a Dask client (``local``/``local:N`` starts a
``LocalCluster`` of N single-threaded worker processes; ``tcp://HOST:PORT`` joins a
running scheduler). ``DaskExecution`` is the ``runner.execution.Execution`` that submits
every step as one Dask task whose arguments are the futures of the steps it needs, so the
study's dependencies (data before training, training before analysis) are the task graph
and the scheduler places the steps on the workers.

What the workers must share with the client (the choice this module makes): the
repository and the output folder, at the same paths, on a shared file system. A step's
task runs the step's notebook in a process of its own (``runner.step_process``) on the
worker, which writes the executed notebook, record and page into the step's folder like
any other execution; only ``(status, message)`` travels back to the client. A task first
checks that its worker can see those paths and runs the client's code (``code_hash``),
and fails the step with one line naming the problem if not.

Faults: a worker that dies mid-step takes the step's process and kernel with it; Dask runs
the task again on another worker (steps are idempotent: a step writes its record last), up
to the scheduler's ``allowed-failures``. Ctrl-C cancels the run's futures and stops the
step processes it had started on every worker before the study reports the interrupt; the
workers of a local cluster, which share the client's terminal, ignore the Ctrl-C themselves
(``runner.worker_signals``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.schema import ParamError
from ..experiments.base import slug
from . import worker_signals
from .execution import Execution, Outcome, readiness, skip_reason
from .plan import Step
from .worker_signals import workers_ignore_sigint

__all__ = ["SCHEDULER_CONFIG", "Cluster", "DaskExecution", "connect", "parse_cluster", "usable_cores"]

_LOCAL = re.compile(r"local(?::(\d+))?")
#: seconds to wait for a scheduler (and for at least one worker on it)
CONNECT_TIMEOUT_S = 20.0
#: a worker thread takes one step at a time: with Dask's default saturation (1.1) a second step waits on
#: a busy worker (and dies with it) while another worker may be idle. Set it on your own scheduler
#: too: DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0 (docs/cluster.md).
SCHEDULER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0}


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_cluster(spec: str) -> tuple[str, int | None]:
    """``("local", N or None)`` or ``("scheduler", address)``-like pair; raises ``ParamError`` otherwise.

    A local cluster has 1 to one single-threaded worker per usable core (training is single-threaded).
    """
    spec = spec.strip()
    match = _LOCAL.fullmatch(spec)
    if match:
        workers, cores = (int(match.group(1)) if match.group(1) else None), usable_cores()
        if workers is not None and not 1 <= workers <= cores:
            raise ParamError(
                f"--cluster {spec}: a local cluster runs 1 to {cores} workers here, one single-threaded worker "
                f"per usable core of this machine (local:{cores}, or local for all of them)"
            )
        return "local", workers
    if re.fullmatch(r"(tcp|tls|ucx|inproc)://\S+", spec):
        return spec, None
    raise ParamError(f"--cluster {spec!r}: expected local, local:N or a scheduler address such as tcp://HOST:8786")


@dataclass
class Cluster:
    """A connected Dask client, and the ``LocalCluster`` behind it when this process started one."""

    client: Any
    local: Any = None

    @property
    def threads(self) -> int:
        """Steps that can run at once: the workers' threads in all."""
        return max(1, sum(self.client.nthreads().values()))

    def describe(self) -> str:
        workers = self.client.nthreads()
        where = "a local cluster" if self.local is not None else f"the scheduler at {self.client.scheduler.address}"
        dashboard = f"; dashboard {self.client.dashboard_link}" if self.client.dashboard_link else ""
        return f"running the steps on {where}: {len(workers)} worker(s), {self.threads} thread(s){dashboard}"

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


def connect(spec: str) -> Cluster:
    """A client for ``--cluster SPEC``; raises ``ParamError`` with one line when it cannot connect."""
    import logging

    kind, workers = parse_cluster(spec)
    # the study reports lost workers and failed steps itself, once, on its own progress display
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    from distributed import Client, LocalCluster

    if kind == "local":
        import dask

        n = workers or usable_cores()
        local = None
        try:  # the workers ignore a Ctrl-C: it is this process's to act on (runner.worker_signals)
            with workers_ignore_sigint(), dask.config.set(SCHEDULER_CONFIG):
                local = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":8787",
                    silence_logs=logging.CRITICAL,
                    preload=[worker_signals.__name__],
                )
            return Cluster(Client(local), local)
        except BaseException:
            if local is not None:
                local.close()
            raise
    try:
        client = Client(kind, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise ParamError(f"cannot reach the Dask scheduler at {kind}: {err}".splitlines()[0]) from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError):
        client.close()
        raise ParamError(
            f"the Dask scheduler at {kind} has no workers after {CONNECT_TIMEOUT_S:.0f} s: start some with 'dask worker {kind}'"
        ) from None
    return Cluster(client)


# ------------------------------------------------------------------------------------------
# On the worker
# ------------------------------------------------------------------------------------------


_SERVER: subprocess.Popen[str] | None = None  # this worker's step server (runner.step_process)
_SERVER_ENV = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # cli.main
_RUNNING: dict[str, set[int]] = {}  # run id -> pids of its step processes on this worker
_STOPPED: set[str] = set()  # runs the client has stopped: their tasks start nothing more
_LOCK = threading.Lock()


def _problem(step: Step, html_dir: Path, code: str) -> str:
    """Why this worker cannot run the step, or ''."""
    from ..records.provenance import code_hash

    for path in (step.notebook, html_dir):
        if not path.exists():
            return (
                f"cannot see {path}: the repository and the output folder must be on a file system "
                "the workers share, at the same path"
            )
    mine = code_hash.__wrapped__()  # not cached: a long-lived worker may outlive an edit
    if mine != code:
        return f"runs other code than the client (code hash {mine[:12]} vs {code[:12]}): use one checkout everywhere"
    return ""


def _run_step(
    step: Step,
    html_dir: Path,
    hide_code: bool,
    run_id: str,
    memo: Path,
    settled: dict[str, str],
    code: str,
    *needs: Any,
) -> tuple[str, str, str]:
    """The task: ``(name, status, message)`` of one step, run in a process of its own on this worker.

    ``needs`` are the results of the steps it needs (Dask passes them when they have
    finished); ``settled`` the statuses of those that were finished before the run. The
    result is kept in ``memo`` too: when a worker dies holding a finished step's result,
    Dask computes it again for the steps that still need it, and that must not run the
    step a second time (it would rewrite the files they are reading).
    """
    from distributed import get_worker

    from ..records.atomic import read_json

    if memo.is_file():
        return tuple(read_json(memo))  # type: ignore[return-value]
    worker = get_worker()
    status = {**settled, **{name: s for name, s, _ in needs}}
    if readiness(step, status) == "skip":
        return step.name, "skipped", skip_reason(step, status)
    problem = _problem(step, html_dir, code)
    if problem:
        return step.name, "failed", f"worker {worker.address} {problem}"
    with _LOCK:
        if run_id in _STOPPED:
            return step.name, "failed", "stopped"
        pid = _start(step, html_dir, hide_code, memo)
        _RUNNING.setdefault(run_id, set()).add(pid)
    worker.log_event(run_id, {"step": step.name, "worker": worker.address, "pid": os.getpid()})
    try:
        while _alive(pid) and not memo.is_file():
            time.sleep(0.2)
    finally:
        with _LOCK:
            _RUNNING.get(run_id, set()).discard(pid)
    if memo.is_file():
        return tuple(read_json(memo))  # type: ignore[return-value]
    if run_id in _STOPPED:
        return step.name, "failed", "stopped"
    return step.name, "failed", f"its process on worker {worker.address} ended without a result (see its log)"


def _start(step: Step, html_dir: Path, hide_code: bool, memo: Path) -> int:
    """Fork the step from this worker's step server (started on first use); the child's pid."""
    global _SERVER
    if _SERVER is None or _SERVER.poll() is not None:
        env = {**os.environ, **_SERVER_ENV}
        _SERVER = subprocess.Popen(
            [sys.executable, "-m", "distill_lib.runner.step_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
    args = base64.b64encode(pickle.dumps((step, html_dir, hide_code))).decode()
    assert _SERVER.stdin is not None and _SERVER.stdout is not None
    _SERVER.stdin.write(json.dumps({"args": args, "result": str(memo)}) + "\n")
    _SERVER.stdin.flush()
    answer = json.loads(_SERVER.stdout.readline() or '{"error": "the step server ended"}')
    if "error" in answer:
        raise RuntimeError(f"cannot start the step: {answer['error']}")
    return int(answer["pid"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # the server reaps its children at once: a finished child is gone
    except ProcessLookupError:
        return False
    return True


def _stop_run(run_id: str) -> int:
    """On a worker: stop the run's step processes (SIGTERM: each shuts its kernel down); how many."""
    with _LOCK:
        _STOPPED.add(run_id)
        pids = list(_RUNNING.pop(run_id, set()))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


# ------------------------------------------------------------------------------------------
# On the client
# ------------------------------------------------------------------------------------------


class DaskExecution(Execution):
    """Each step a Dask task on ``client``'s cluster (module docstring).

    ``order`` lists step names, longest first (as for the forked workers): the scheduler
    starts them in that order among the steps that are ready. ``on_start(name, info)`` is
    called when a step starts on a worker (``info``: the worker's address and pid).
    """

    def __init__(
        self,
        client: Any,
        order: list[str] | None = None,
        on_start: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.order = order or []
        self.on_start = on_start

    def run(self, steps: list[Step], todo: set[str], outcome: Outcome, html_dir: Path, hide_code: bool) -> None:
        from ..records.provenance import code_hash

        run_id = f"distill-{uuid.uuid4().hex[:12]}"
        memos = {s.name: s.kernel_log.with_name(f".{s.kernel_log.stem}.{run_id}.json") for s in steps}
        starts: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.client.subscribe_topic(run_id, lambda event: starts.put(event[1]))
        by_name = {s.name: s for s in steps}
        rank = {name: i for i, name in enumerate(self.order)}
        futures: dict[str, Any] = {}
        deferred: Step | None = None  # the analysis, when a step it reads was lost with its workers
        deferred_once = False

        def submit(step: Step, after: bool = True) -> None:
            needs = [futures[n] for n in step.needs if n in futures and after]
            settled = {n: outcome.status[n] for n in step.needs if n in outcome.status}
            futures[step.name] = self.client.submit(
                _run_step,
                step,
                html_dir,
                hide_code,
                run_id,
                memos[step.name],
                settled,
                code_hash(),
                *needs,
                key=f"{slug(step.name)}-{step.key}-{run_id}" + ("" if after else "-again"),
                priority=-rank.get(step.name, len(rank)),
                pure=False,
            )

        for step in steps:
            if step.name in todo:
                submit(step)
        pending = dict(futures)
        try:
            while pending or deferred is not None:
                self._started(starts, by_name, outcome)
                if deferred is not None and not pending:
                    submit(deferred, after=False)  # everything else has settled: it reads what finished
                    pending[deferred.name], deferred = futures[deferred.name], None
                done = [name for name, f in pending.items() if f.done()]
                if not done:
                    time.sleep(0.2)
                    continue
                self._started(starts, by_name, outcome)  # a step's start is reported before its end
                for name in done:
                    future, step = pending.pop(name), by_name[name]
                    if future.status == "finished":
                        _, status, message = future.result()
                        outcome.finished(step, status, message)
                        continue
                    lost = [n for n in step.needs if n in futures and futures[n].status == "error"]
                    if lost and step.experiment == "analysis" and not deferred_once:
                        deferred, deferred_once = step, True
                    elif lost:
                        outcome.finished(step, "skipped", f"not run: the {lost[0]} step did not finish")
                    else:
                        outcome.finished(step, "failed", _describe(future.exception()))
        finally:
            if pending:
                self._stop(run_id, list(pending.values()))
            self.client.unsubscribe_topic(run_id)
            for memo in memos.values():
                memo.unlink(missing_ok=True)

    def _started(self, starts: queue.SimpleQueue[dict[str, Any]], by_name: dict[str, Step], outcome: Outcome) -> None:
        while not starts.empty():
            info = starts.get()
            if info["step"] in by_name and info["step"] not in outcome.status:
                outcome.started(by_name[info["step"]])
                if self.on_start is not None:
                    self.on_start(info["step"], info)

    def _stop(self, run_id: str, futures: list[Any], seconds: float = 60.0) -> None:
        """Cancel the futures and stop their step processes; return once no task of the run is processing."""
        keys = {f.key for f in futures}
        self.client.cancel(futures, force=True)
        self.client.run(_stop_run, run_id)
        deadline = time.time() + seconds
        while time.time() < deadline:
            busy = {k for tasks in self.client.processing().values() for k in tasks}
            if not keys & busy:
                return
            time.sleep(0.2)


def _describe(err: BaseException | None) -> str:
    from distributed import KilledWorker

    if isinstance(err, KilledWorker):
        return "its workers died while running it, more times than the scheduler allows (allowed-failures)"
    return f"{type(err).__name__}: {err}".splitlines()[0]
