"""One study at a time per output folder: an OS-level lock that dies with its holder.

``FolderLock`` takes an exclusive ``fcntl.flock`` on ``OUTDIR/.distill-study.lock`` and
writes its process id there. A second run into the same folder fails at once, naming the
folder and the holder's pid; the operating system releases the lock when the holder exits,
however it exits (a ``kill -9`` included), so a stale lock never blocks the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ..core.schema import ParamError

__all__ = ["FolderInUse", "FolderLock"]

LOCK_FILE = ".distill-study.lock"


class FolderInUse(ParamError):
    """Another run holds the output folder."""


class FolderLock:
    """Context manager: hold ``folder``'s lock for the duration of a study."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        path = self.folder / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUse(
                f"output folder {str(self.folder)!r} is in use by another distill-study run (pid {holder}); "
                "wait for it to finish, or choose another folder with -o"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing releases the lock
            self.fd = None
