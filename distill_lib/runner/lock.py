"""One study at a time per output folder: an OS-level lock that dies with its holder.

``FolderLock`` takes an exclusive ``fcntl.flock`` on ``OUTDIR/.distill-study.lock`` and
writes its process id there. A second run into the same folder fails at once, naming the
folder and the holder's pid; the operating system releases the lock when the holder exits,
however it exits (a ``kill -9`` included), so a stale lock never blocks the next run.

The holder removes the file when it is done (and when it cannot even write its pid, on a
full disk): no lock file is left behind. Removing a lock file races with a run that opened
it just before: that run may then hold a lock on a file no longer in the folder, so after
taking the lock a run checks that the path still names the file it locked, and starts
again if not.
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

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def __enter__(self) -> FolderLock:
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise FolderInUse(
                    f"output folder {str(self.folder)!r} is in use by another distill-study run (pid {holder}); "
                    "wait for it to finish, or choose another folder with -o"
                ) from None
            if self._names(fd):
                break
            os.close(fd)  # the holder before us removed the file after we opened it: take the new one
        self.fd = fd
        try:
            self._stamp(fd)
        except OSError as err:  # a full disk: no lock file may stay behind
            self.__exit__()
            raise OSError(err.errno, err.strerror, str(self.path)) from None
        return self

    @staticmethod
    def _stamp(fd: int) -> None:
        """Write the holder's pid (what a second run names)."""
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def _names(self, fd: int) -> bool:
        """Whether the lock file's path still names the file open as ``fd``."""
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # still held: no other run can have taken this file meanwhile
            os.close(self.fd)  # closing releases the lock
            self.fd = None
