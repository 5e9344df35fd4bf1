"""Tests of distill_lib.runner.lock: one run per output folder, and no lock file left behind."""

from __future__ import annotations

import errno
import os

import pytest

import distill_lib.runner.lock as lock_mod
from distill_lib.runner.lock import LOCK_FILE, FolderInUse, FolderLock


def test_a_second_holder_is_refused_and_the_file_goes_with_the_holder(tmp_path):
    with FolderLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(FolderInUse, match=f"in use by another distill-study run \\(pid {os.getpid()}\\)"):
            FolderLock(tmp_path).__enter__()
    assert not (tmp_path / LOCK_FILE).exists()
    with FolderLock(tmp_path):  # and the folder is free again
        pass


def test_a_stale_lock_file_does_not_block(tmp_path):
    (tmp_path / LOCK_FILE).write_text("12345\n")  # left by a run killed with SIGKILL
    with FolderLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_lock_file_removed_after_it_was_opened_is_not_trusted(tmp_path, monkeypatch):
    """The holder before us removed the file between our open and our lock: we take a new file."""
    real_open, opened = lock_mod.FolderLock._open, []

    def open_then_lose_it(self):
        fd = real_open(self)
        if not opened:  # the first file vanishes, as when its holder finishes just then
            os.unlink(self.path)
        opened.append(fd)
        return fd

    monkeypatch.setattr(lock_mod.FolderLock, "_open", open_then_lose_it)
    with FolderLock(tmp_path) as held:
        assert len(opened) == 2 and held.fd == opened[1]
        assert os.fstat(held.fd).st_ino == os.stat(tmp_path / LOCK_FILE).st_ino


def test_a_full_disk_leaves_no_lock_file_and_names_it(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lock_mod.FolderLock, "_stamp", staticmethod(full))
    with pytest.raises(OSError) as err:
        FolderLock(tmp_path).__enter__()
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / LOCK_FILE)
    assert not (tmp_path / LOCK_FILE).exists()
