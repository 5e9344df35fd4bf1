"""Reliability: what an adversarial user found, each with a test that failed before the fix.

Kills of the parent (SIGKILL, SIGHUP), a page that cannot be rendered, stale results of
other settings, two runs into one folder, damaged finished steps, full disks, and bad input
that used to be found late. Subprocess tests run the real command at a tiny size.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, SMALL, marked_processes, plan_for, run_cli

from distill_lib.runner.cli import main

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out)
pytestmark = pytest.mark.slow

#: the original comparison at toy size, two modes: the cheapest real study
TINY = [*SMALL, "-p", "modes", "[hard_only, soft_only]"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The tiny study, run once; tests copy it (a copy resumes: its steps are reused)."""
    out = tmp_path_factory.mktemp("finished")
    assert main(["run", *TINY, "-o", str(out), "-q"]) == 0
    return out


def _copy(finished: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(finished, dest, symlinks=True, ignore=shutil.ignore_patterns(".distill-study.lock"))
    return dest


def _state(out: Path) -> dict:
    return json.loads((out / "work" / "study.json").read_text())


def _start(args: list[str], out: Path, marker: str) -> subprocess.Popen:
    env = {**os.environ, "DISTILL_TEST_MARK": marker}
    cmd = [sys.executable, "-m", "distill_lib", "run", *args, "-o", str(out), "-q"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.is_file():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)


# 1. ----------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
def test_workers_and_kernels_die_with_a_killed_parent(tmp_path):
    marker = uuid.uuid4().hex
    proc = _start([*TINY, "-p", "epochs", "30"], tmp_path, marker)
    _wait_for(plan_for(TINY, tmp_path).step("hard_only").kernel_log, proc)
    time.sleep(1.0)  # kernels up and training
    assert len(marked_processes(marker)) > 2
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.communicate(timeout=30)
    deadline = time.time() + 15
    while marked_processes(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find child processes")
def test_sighup_to_the_group_is_an_interrupt(tmp_path):
    marker = uuid.uuid4().hex
    proc = _start([*TINY, "-p", "epochs", "30"], tmp_path, marker)
    _wait_for(plan_for(TINY, tmp_path).step("world").folder / "record.json", proc)
    time.sleep(1.0)
    os.killpg(os.getpgid(proc.pid), signal.SIGHUP) if os.getpgid(proc.pid) != os.getpgid(0) else proc.send_signal(
        signal.SIGHUP
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert _state(tmp_path)["state"] == "interrupted"


# 2. ----------------------------------------------------------------------------------------
def test_a_page_that_cannot_be_made_is_a_missing_step_and_a_resume_makes_it(finished, tmp_path, monkeypatch, capsys):
    tmp_path = _copy(finished, tmp_path / "out")
    page = tmp_path / "html" / "02_train_soft_only.html"
    page.unlink()
    import distill_lib.report.html as html

    real = html.export_html

    def broken(notebook, dest, hide_code=False):
        if Path(dest).name == page.name:
            raise RuntimeError("renderer crashed")
        return real(notebook, dest, hide_code)

    monkeypatch.setattr(html, "export_html", broken)
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 1
    state = _state(tmp_path)
    assert state["state"] == "failed" and "soft_only" in state["errors"] and not page.exists()
    assert "soft_only" in capsys.readouterr().err
    monkeypatch.setattr(html, "export_html", real)
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 0  # the resume renders it
    assert page.is_file() and _state(tmp_path)["state"] == "complete"


def test_an_interrupt_while_pages_are_rendered_is_an_interrupt(finished, tmp_path, monkeypatch):
    tmp_path = _copy(finished, tmp_path / "out")
    (tmp_path / "html" / "01_world.html").unlink()
    import distill_lib.report.html as html

    monkeypatch.setattr(html, "export_html", lambda *a, **k: os.kill(os.getpid(), signal.SIGINT))
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 130
    assert _state(tmp_path)["state"] == "interrupted"


# 3. ----------------------------------------------------------------------------------------
def test_a_failed_steps_old_result_of_other_settings_is_never_shown(finished, tmp_path):
    tmp_path = _copy(finished, tmp_path / "out")
    changed = [*TINY, "-p", "epochs", "3"]
    blocker = plan_for(changed, tmp_path).step("soft_only").folder
    blocker.write_text("in the way")  # the new soft_only run cannot save
    proc = run_cli("run", *changed, "-o", str(tmp_path))
    assert proc.returncode == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["missing_modes"] == ["soft_only"] and [r["mode"] for r in results["results"]] == ["hard_only"]
    assert results["study"]["run"]["epochs"] == 3


# 4. ----------------------------------------------------------------------------------------
def test_a_second_run_into_a_folder_in_use_fails_at_once_naming_it(tmp_path):
    marker = uuid.uuid4().hex
    first = _start([*TINY, "-p", "epochs", "20"], tmp_path, marker)
    _wait_for(tmp_path / "work" / "study.json", first)
    second = run_cli("run", *TINY, "-p", "seed", "7", "-o", str(tmp_path), timeout=60)
    assert second.returncode == 2
    assert f"output folder {str(tmp_path)!r} is in use by another distill-study run (pid {first.pid})" in second.stderr
    first.communicate(timeout=300)
    assert first.returncode == 0 and _state(tmp_path)["state"] == "complete"


# 5. ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate a checkpoint", "truncate the states", "edit a record"])
def test_a_damaged_finished_step_runs_again(finished, tmp_path, damage):
    tmp_path = _copy(finished, tmp_path / "out")
    plan = plan_for(TINY, tmp_path)
    if damage == "truncate a checkpoint":
        target, step = plan.step("hard_only").folder / "final.pt", "hard_only"
        os.truncate(target, 100)
    elif damage == "truncate the states":
        target, step = plan.step("world").folder / "states.npy", "world"
        os.truncate(target, 100)
    else:
        target, step = plan.step("soft_only").folder / "record.json", "soft_only"
        envelope = json.loads(target.read_text())
        envelope["record"]["best_val_loss"] = 0.0
        target.write_text(json.dumps(envelope))
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 0
    steps = _state(tmp_path)["steps"]
    assert steps[step] == "done" and [s for s, v in steps.items() if v == "done" and s not in (step, "analysis")] == []


# 7. ----------------------------------------------------------------------------------------
def test_a_full_disk_at_run_time_is_a_fault_naming_the_file(tmp_path, monkeypatch, capsys):
    import errno

    import distill_lib.runner.study as study

    real = study.atomic_write_json

    def full(path, obj):
        if Path(path).name == "timings.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, obj)

    monkeypatch.setattr(study, "atomic_write_json", full)
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("distill-study: error: ") and "timings.json: No space left on device" in err[-1]
    assert _state(tmp_path)["state"] == "failed" and (tmp_path / "results.json").is_file()  # nothing complete lost


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return ok.returncode == 0


@pytest.mark.parametrize("size", ["200k", "2m"])
def test_a_really_full_disk_fails_with_exit_1_and_a_failed_state(tmp_path, size):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, size):
        pytest.skip("cannot mount a tmpfs here (the injected OSError test covers the same path)")
    try:
        proc = run_cli("run", *TINY, "-o", str(disk / "out"), timeout=300)
        assert proc.returncode == 1, proc.stderr
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        if (disk / "out" / "work" / "study.json").is_file():
            assert json.loads((disk / "out" / "work" / "study.json").read_text())["state"] == "failed"
        for nb in (disk / "out" / "work").rglob("*.ipynb"):
            json.loads(nb.read_text())  # every executed notebook left is whole
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_truncated_executed_notebook_never_replaces_a_whole_one(tmp_path):
    from distill_lib.runner.notebook import _keep_if_whole

    whole, partial = tmp_path / "n.ipynb", tmp_path / ".n.partial.ipynb"
    whole.write_text('{"cells": []}')
    partial.write_text('{"cells": [')
    _keep_if_whole(partial, whole)
    assert whole.read_text() == '{"cells": []}' and not partial.exists()
    partial.write_text('{"cells": [1]}')
    _keep_if_whole(partial, whole)
    assert whole.read_text() == '{"cells": [1]}'


# 9. ----------------------------------------------------------------------------------------
def test_ctrl_c_while_parameters_are_checked_is_one_line_and_130(monkeypatch, capsys, tmp_path):
    import distill_lib.runner.plan as plan

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plan, "plan_study", interrupted)
    assert main(["run", *TINY, "-o", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["distill-study: interrupted before anything ran"]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_second_ctrl_c_still_exits_130(tmp_path):
    marker = uuid.uuid4().hex
    proc = _start([*TINY, "-p", "epochs", "30"], tmp_path, marker)
    _wait_for(plan_for(TINY, tmp_path).step("world").folder / "record.json", proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    deadline = time.time() + 15
    while marked_processes(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []


def test_pages_show_the_settings_of_the_study_that_was_run_last(finished, tmp_path):
    out = _copy(finished, tmp_path / "out")
    page = out / "html" / "02_train_hard_only.html"
    assert main(["run", *TINY, "-p", "epochs", "3", "-o", str(out), "-q"]) == 0
    assert "after 3 epochs" in page.read_text()
    assert main(["run", *TINY, "-o", str(out), "-q"]) == 0  # back: the steps are reused ...
    assert _state(out)["steps"]["hard_only"] == "reused"
    assert "after 2 epochs" in page.read_text()  # ... and the page is theirs again


# Round three: disk faults are run-time faults (exit 1, the file named), and leave no lock --------
LOCK = ".distill-study.lock"


def test_a_lock_that_cannot_be_written_is_exit_1_naming_it_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import errno

    import distill_lib.runner.lock as lock

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(lock.FolderLock, "_stamp", staticmethod(full))
    out = tmp_path / "out"
    assert main(["run", *TINY, "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out / LOCK}: No space left on device" in err[0], err
    assert not out.exists()  # the folder it made for nothing is gone, lock file and all


def test_a_read_only_output_folder_is_exit_1_naming_it(tmp_path, monkeypatch, capsys):
    import errno

    real = Path.write_bytes

    def read_only(self, data):
        if self.name.startswith(".write-test"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    assert main(["run", *TINY, "-o", str(tmp_path), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{tmp_path}: Read-only file system" in err[0], err
    assert not (tmp_path / LOCK).exists() and not (tmp_path / "work").exists()


def test_an_already_full_disk_is_exit_1_naming_a_file_and_leaves_no_lock(tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "1m"):
        pytest.skip("cannot mount a tmpfs here (the injected OSError tests cover the same path)")
    try:
        out = disk / "out"
        out.mkdir()
        with open(disk / "filler", "wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        proc = run_cli("run", *TINY, "-o", str(out), timeout=300)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr
        assert "No space left on device" in lines[0] and str(out) in lines[0]
        assert not (out / LOCK).exists()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_read_only_disk_is_exit_1(tmp_path):
    disk = tmp_path / "ro"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (the injected OSError test covers the same path)")
    try:
        for out in (disk, disk / "new"):  # an existing folder, and one that cannot be made
            proc = run_cli("run", *TINY, "-o", str(out), timeout=120)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 1 and len(lines) == 1, proc.stderr
            assert f"{out}: Read-only file system" in lines[0]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_an_unexpected_error_never_leaves_the_study_running(tmp_path, monkeypatch):
    import distill_lib.runner.study as study

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(study, "write_index", broken)
    with pytest.raises(TypeError):
        main(["run", *TINY, "-o", str(tmp_path), "-q"])
    state = _state(tmp_path)
    assert state["state"] == "failed" and state["error"] == "TypeError: a bug"
    assert not (tmp_path / LOCK).exists()
