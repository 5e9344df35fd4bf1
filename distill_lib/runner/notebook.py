"""Running one step's notebook: papermill on a kernel, the kernel's watchdog, the HTML page.

``execute`` runs a step's notebook with papermill, on a kernel the caller started (a warm
one, see ``start_kernel``) or on one papermill starts itself, then renders the executed
notebook to its HTML page. Both execution paths of ``runner.execution`` call it: the
forked workers and the plain in-process one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from .plan import Step

__all__ = ["KernelWatchdog", "execute", "quiet_imports", "shutdown_kernel", "start_kernel"]

#: imported by an exec'd kernel while it waits (a forked kernel has them already)
_WARMUP = """
try:
    import numpy, torch, matplotlib.figure, IPython.display
    import distill_lib.experiments, distill_lib.runner.analysis
except Exception:
    pass
"""


def quiet_imports() -> None:
    """Import papermill (and nbformat) once, so forked workers share them.

    ``jsonschema`` imports ``rfc3987_syntax`` when installed, which builds a parser at import
    time (over a second); notebook validation never uses its IRI formats, so it is skipped.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import papermill  # noqa: F401


def _lower_priority(pid: int, nice: int) -> None:
    """Lower a kernel's CPU priority, best effort.

    Kernels run in sessions of their own, and where the scheduler groups processes by
    session (Linux autogroup) a nice value only counts within its group: the group's own
    nice value (``/proc/PID/autogroup``) is what makes a warming kernel yield to the
    running one.
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as fh:
        fh.write(str(nice))


def start_kernel(cwd: Path, forked: bool, nice: int = 0) -> Any:
    """A started kernel manager (forked from this process, or an ordinary exec'd kernel, warmed)."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    # IPC sockets under a name of our own: TCP ports picked by several processes at once can collide
    ipc = str(Path(tempfile.gettempdir()) / f"distill-{uuid.uuid4().hex[:12]}")
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=ipc)
    if forked:
        from .kernels import ForkProvisioner

        km.kernel_id = str(uuid.uuid4())
        km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    run_sync(km.start_kernel)(cwd=str(cwd))
    if nice:
        _lower_priority(km.provisioner.process.pid, nice)  # type: ignore[union-attr]
    if not forked:  # an exec'd kernel imports the heavy libraries now, while it waits
        client = km.blocking_client()  # asks the manager, not the heartbeat, whether it lives
        client.start_channels()
        client.wait_for_ready(timeout=120)
        client.execute_interactive(_WARMUP, silent=True, store_history=False, timeout=300)
        client.stop_channels()
    return km


def shutdown_kernel(km: Any) -> None:
    """Stop a kernel; if the manager cannot (interrupted mid-call), kill its process group."""
    try:
        if km.has_kernel:
            from jupyter_core.utils import run_sync

            run_sync(km.shutdown_kernel)(now=True)
    except BaseException:
        process = getattr(km.provisioner, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)  # the kernel runs in a session of its own
            with contextlib.suppress(OSError):
                process.kill()


def _keep_if_whole(partial: Path, dest: Path) -> None:
    """Move papermill's output over ``dest`` if it is a whole notebook; else drop it (the old one stays)."""
    import json

    try:
        json.loads(partial.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        partial.unlink(missing_ok=True)
        return
    os.replace(partial, dest)


class KernelWatchdog:
    """Interrupts this process if its kernel dies while papermill is still waiting on it.

    nbclient notices a dead kernel in most states; not while it is blocked sending to a
    kernel that died before it ever connected. A real signal interrupts that blocking call.
    """

    GRACE_S = 5.0  # let papermill report the death itself first

    def __init__(self, km: Any) -> None:
        self.process = getattr(getattr(km, "provisioner", None), "process", None)
        self.fired, self.exit_code = False, None
        self._done = threading.Event()
        if self.process is not None:
            threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            code = self.process.poll()
            if code is not None:
                if not self._done.wait(self.GRACE_S):
                    self.fired, self.exit_code = True, code
                    os.kill(os.getpid(), signal.SIGINT)
                return

    def stop(self) -> None:
        self._done.set()


def execute(step: Step, html_dir: Path, km: Any = None, hide_code: bool = False) -> tuple[str, str]:
    """Run the step's notebook (on ``km`` if given), render its page; returns ``(status, message)``.

    Status ``done`` or ``failed`` (with a one-line message); a KeyboardInterrupt propagates
    unless the watchdog raised it for a dead kernel.
    """
    import logging

    import papermill as pm

    # the whole study's parameters are injected, most of them undeclared by the notebook: not worth a warning each
    logging.getLogger("papermill").setLevel(logging.ERROR)
    step.output.parent.mkdir(parents=True, exist_ok=True)
    partial = step.output.with_name(f".{step.output.stem}.partial.ipynb")  # papermill writes here; moved when whole
    watchdog = KernelWatchdog(km)
    try:
        pm.execute_notebook(
            str(step.notebook),
            str(partial),
            parameters=step.notebook_parameters,
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            cwd=str(step.notebook.parent),
            km=km if km is not None and km.has_kernel else None,
            request_save_on_cell_execute=False,
        )
        status, message = "done", ""
    except pm.PapermillExecutionError as err:
        status, message = "failed", f"{err.ename}: {err.evalue}".splitlines()[0]
    except Exception as err:  # kernel died, notebook unreadable, ...
        status, message = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
    except KeyboardInterrupt:
        if not watchdog.fired:
            raise
        status, message = "failed", f"the kernel died (exit code {watchdog.exit_code}) and papermill did not notice"
    finally:
        watchdog.stop()
        _keep_if_whole(partial, step.output)
    if step.output.is_file():
        from ..report.html import export_html

        try:
            export_html(step.output, html_dir / step.page, hide_code=hide_code)
        except Exception as err:  # a rendering problem must not hide the notebook's own status
            if status == "done":
                message = f"HTML rendering failed: {type(err).__name__}: {err}".splitlines()[0]
    return status, message
