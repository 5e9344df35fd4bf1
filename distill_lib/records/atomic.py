"""Atomic file writes: a crash or kill leaves the old complete file or the new one.

Each writer writes to a temporary file in the destination folder, flushes and fsyncs it,
then ``os.replace``s it over the destination (atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_path",
    "atomic_savefig",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On an exception the temporary file is removed and ``path`` is untouched; an ``OSError``
    (a full or read-only disk) is raised again naming ``path``.
    ``suffix`` keeps an extension for writers that look at it (e.g. matplotlib).
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(dest)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(err, OSError) and err.errno is not None:  # name the file meant, not the temporary one
            raise OSError(err.errno, err.strerror, str(dest)) from None
        raise


def _write(path: str | os.PathLike[str], mode: str, writer: Callable[[IO[Any]], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else "utf-8") as fh:
        writer(fh)


def read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file's content, or None when it is absent or unreadable (e.g. not finished)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    _write(path, "w", lambda fh: fh.write(text))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` atomically."""
    _write(path, "wb", lambda fh: fh.write(data))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON (stable bytes for equal content)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def atomic_torch_save(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save`` atomically.

    Serialised in memory first: ``torch.save`` names the archive's inner folder after the
    file it writes, so saving to the temporary file would make equal weights differ in bytes.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_savefig(path: str | os.PathLike[str], fig: Any, **kwargs: Any) -> None:
    """``fig.savefig`` atomically (format taken from ``path``'s extension)."""
    ext = Path(path).suffix
    with atomic_path(path, suffix=ext) as tmp:
        fig.savefig(tmp, format=ext.lstrip(".") or None, **kwargs)
