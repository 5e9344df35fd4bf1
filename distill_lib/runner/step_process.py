"""A warm step server for a Dask worker: ``python -m distill_lib.runner.step_process``.

A Dask worker (``runner.cluster``) runs each step in a process of its own rather than in
its threads: a step sets process-wide state (signal handlers, its progress file in the
environment, its kernel's output), and a process of its own can be stopped cleanly
(SIGTERM: its kernel is shut down) while the worker goes on. Starting a new Python per
step would pay the study's imports (torch, matplotlib, papermill: seconds) every time, so
each worker starts this server once: a single-threaded process that imports them, then
forks one child per step, as the local runner forks its workers (``runner.execution``).

Protocol, one line each way: the worker writes a JSON request ``{"args": <base64 pickle
of (step, html_dir, hide_code)>, "result": PATH}``; the server forks and answers the
child's pid. The child runs the notebook on a kernel forked from it, renders its page
(``notebook.execute``) and writes ``[name, status, message]`` atomically to PATH; a child
that is stopped or killed writes nothing. The server ends with its worker (stdin closed,
or its parent gone).
"""

from __future__ import annotations

import base64
import contextvars
import json
import os
import pickle
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "run_child"]


def run_child(step: Any, html_dir: Path, hide_code: bool, result: Path) -> int:
    """In the forked child: run the step and write its result; the exit status."""
    from ..records.atomic import atomic_write_json
    from .execution import step_process_setup
    from .notebook import execute, shutdown_kernel, start_kernel

    step_process_setup(step)
    km = None
    try:
        try:
            km = start_kernel(step.notebook.parent, forked=True)
        except Exception as err:  # papermill starts a kernel of its own and reports properly
            print(f"kernel start failed: {err!r}", flush=True)
        status, message = execute(step, html_dir, km, hide_code)
    except KeyboardInterrupt:
        return 130
    finally:
        if km is not None:
            shutdown_kernel(km)
    atomic_write_json(result, [step.name, status, message])
    return 0


def _fork(request: dict[str, Any]) -> int:
    step, html_dir, hide_code = pickle.loads(base64.b64decode(request["args"]))
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # a fresh context: jupyter keeps its event loop in a context variable (see runner.execution)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the request pipe is the server's, not the step's
        os.close(devnull)
        code = contextvars.Context().run(run_child, step, html_dir, hide_code, Path(request["result"]))
    finally:
        os._exit(code)


def main() -> int:
    from .kernels import die_with_parent, preload
    from .notebook import quiet_imports

    answers = os.fdopen(os.dup(1), "w")  # stdout is for answers only: anything printed goes to stderr
    os.dup2(2, 1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped at once; results come as files
    die_with_parent("terminate", at_once=False)  # the worker's thread that started us may end before it does
    quiet_imports()
    preload()
    import distill_lib.runner.plan  # noqa: F401  (unpickling a step needs it)

    while line := sys.stdin.readline():
        try:
            answer: dict[str, Any] = {"pid": _fork(json.loads(line))}
        except Exception as err:
            answer = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
