"""Ctrl-C and a local Dask cluster: the workers leave it to the client.

A terminal sends SIGINT to its whole foreground process group: with ``--cluster local`` that
is the client and every worker process it started (and their step servers), and each worker
would print its own KeyboardInterrupt tracebacks (74 lines for two workers). The client alone
acts on a Ctrl-C: it stops the study's step processes on every worker, then closes the cluster
(``runner.cluster``). So the workers ignore SIGINT:

- ``workers_ignore_sigint``: while the cluster starts, SIGINT is ignored in the client, and
  the workers it spawns inherit that (an ignored signal stays ignored across ``exec``; a handler
  does not). A Ctrl-C in that window would be lost, so a sentinel child that still takes
  SIGINT waits beside it; if the sentinel died of one, the client raises ``KeyboardInterrupt``
  once the window closes.
- ``dask_setup``: preloaded by each worker (Dask's ``preload``), so a worker the nanny
  restarts later (after a kill) ignores SIGINT too, once it has started.

Step processes set their own SIGINT handler (``execution.step_process_setup``) and send their
output to the step's log, so a Ctrl-C that reaches them shows nowhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["dask_setup", "workers_ignore_sigint"]


def dask_setup(worker: Any) -> None:
    """Run by each worker of a local cluster as it starts: it ignores SIGINT (module docstring)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _sentinel() -> int:
    """A child that dies of the first SIGINT the process group gets (and of nothing else it expects)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            while True:
                signal.pause()
        finally:
            os._exit(0)
    return pid


@contextlib.contextmanager
def workers_ignore_sigint() -> Iterator[None]:
    """The processes started inside ignore SIGINT; a Ctrl-C meanwhile is raised here afterwards."""
    sentinel = _sentinel()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        with contextlib.suppress(ProcessLookupError):
            os.kill(sentinel, signal.SIGKILL)
        _, status = os.waitpid(sentinel, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
        raise KeyboardInterrupt
