"""Fast Jupyter kernels for the runner: forked, not exec'd.

A notebook execution's fixed cost is mostly its kernel's start-up: a new Python that
imports ipykernel, torch and matplotlib, over two seconds of CPU per notebook, several
times per study. ``ForkProvisioner`` is a ``jupyter_client`` kernel provisioner that starts
the kernel by ``os.fork()`` of a process that has already imported them (the runner
imports them once, see ``preload``), then runs ``IPKernelApp`` in the child, in a session
of its own, with the kernel's environment and working directory: the same IPython kernel
that ``python -m ipykernel_launcher`` would start, with the imports already done.

Fork safety: the parent must not hold ZeroMQ sockets or started thread pools when it
forks (the runner's worker forks before it opens its kernel client; torch's intra-op
pool is created lazily, and ``OMP_NUM_THREADS`` is set before torch is imported). The
fork happens in a helper thread so that the child does not inherit the running event
loop of the manager that launches it (see ``_fork_kernel``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

__all__ = ["PRELOAD", "ForkProvisioner", "die_with_parent", "preload"]

#: what a study's kernels import; loaded once in the runner before it forks
PRELOAD = (
    "numpy",
    "torch",
    "matplotlib.figure",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "IPython.display",
    "distill_lib.experiments",
    "distill_lib.runner.analysis",
)


def preload(modules: tuple[str, ...] = PRELOAD) -> None:
    """Import the kernels' heavy modules into this process (errors surface in the notebooks)."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the notebook will import it again and show the real error
            pass


def die_with_parent(action: str = "terminate", at_once: bool = True) -> None:
    """End this process when the process that started it dies, whatever killed it.

    A thread watches the parent's pid (a dead parent's children are re-parented); on Linux
    ``prctl(PR_SET_PDEATHSIG)`` also delivers SIGTERM at once (unless ``at_once`` is false:
    it fires when the parent's *thread* that started this process ends). ``action``:
    ``terminate`` sends SIGTERM to this process (so that it cleans up: a worker shuts its
    kernel down), ``kill`` SIGKILLs this process's group (a kernel and anything it started).
    """
    parent = os.getppid()
    if action == "terminate" and at_once and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        if action == "kill":
            os.killpg(os.getpid(), signal.SIGKILL)
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    import threading

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class _ForkedProcess:
    """The ``subprocess.Popen`` surface that ``LocalProvisioner`` uses, for a forked child."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None  # the child's streams are not piped

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _run_kernel(connection_file: str, env: dict[str, str] | None, cwd: str | None) -> None:
    """In the forked child: become an IPython kernel, never return."""
    code = 1
    try:
        os.setsid()  # like jupyter_client: interrupts reach the kernel's group, not ours
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd:
            os.chdir(cwd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent("kill")  # a kernel never outlives its worker
        asyncio.set_event_loop(asyncio.new_event_loop())  # the kernel's own loop
        from ipykernel.kernelapp import IPKernelApp

        # --parent: exit when the process that forked us dies (as an exec'd kernel does via
        # JPY_PARENT_PID, which ipykernel read when it was imported, before this fork)
        argv = ["-f", connection_file, f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = [sys.executable, "-m", "ipykernel_launcher", *argv]
        IPKernelApp.launch_instance(argv=argv)
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _fork_kernel(connection_file: str, env: dict[str, str] | None, cwd: str | None) -> int:
    """Fork; the child becomes the kernel (never returns), the parent gets its pid.

    Called in a thread of its own (``_in_new_thread``), not in the event loop's thread: the
    child then starts with no running event loop of the parent's, so the kernel can run
    its own; after a fork the forking thread is the child's main thread, so the kernel can
    install its signal handlers.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_kernel(connection_file, env, cwd)
    return pid


async def _in_new_thread(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a thread of its own, awaited. Not the loop's default executor: a process forked
    from one that used it inherits an executor whose threads are gone, and would wait forever."""
    import threading

    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as err:
            loop.call_soon_threadsafe(done.set_exception, err)
        else:
            loop.call_soon_threadsafe(done.set_result, result)

    threading.Thread(target=run, name="fork-kernel", daemon=True).start()
    return await done


class ForkProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Starts ``python -m ipykernel_launcher -f FILE`` kernels by forking this process."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        if "-f" not in cmd or "ipykernel_launcher" not in " ".join(cmd):
            return await super().launch_kernel(cmd, **kwargs)  # not an IPython kernel: exec it
        connection_file = cmd[cmd.index("-f") + 1]
        env, cwd = kwargs.get("env"), kwargs.get("cwd")
        pid = await _in_new_thread(_fork_kernel, connection_file, env, None if cwd is None else str(cwd))
        self.process = _ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the child's own session (setsid): never this process's group
        self.cwd = cwd
        return self.connection_info
