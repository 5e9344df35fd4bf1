"""Tests of distill_lib.runner.cluster: the study's steps on a Dask LocalCluster of 2 worker processes.

The same results as the local run, a worker killed mid-step (retried; or, past the
scheduler's allowed failures, a failed step the rest of the study survives), Ctrl-C that
leaves nothing running on the cluster, and one-line errors for a bad ``--cluster``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, SMALL, plan_for

from distill_lib.core.schema import ParamError
from distill_lib.runner import cluster as cluster_mod
from distill_lib.runner.cli import main
from distill_lib.runner.cluster import SCHEDULER_CONFIG, DaskExecution, connect, parse_cluster
from distill_lib.runner.execution import ForkedExecution
from distill_lib.runner.study import run_study

#: Dask clusters and the real command: the slow tier (make test-fast leaves them out)
pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find processes"),
    pytest.mark.slow,
]

#: two training steps, so that one can be lost while the other finishes
TINY = [*SMALL, "-p", "modes", "[hard_only, soft_only]"]
#: how long a killed worker may take to come back: its nanny starts a new process, which imports torch
#: and the study's modules; on a busy 2-core machine that has taken over a minute
RESTART_S = 180


@contextlib.contextmanager
def _local_cluster(marker: str) -> Iterator[object]:
    """A LocalCluster of 2 single-threaded worker processes whose process tree carries ``marker``."""
    import dask
    from distributed import Client, LocalCluster

    os.environ["DISTILL_TEST_MARK"] = marker  # the workers, their step processes and kernels inherit it
    try:
        with (
            dask.config.set(SCHEDULER_CONFIG),
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
            ) as local,
            Client(local) as client,
        ):
            yield client
    finally:
        os.environ.pop("DISTILL_TEST_MARK", None)


MARKER = uuid.uuid4().hex


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with _local_cluster(MARKER) as c:
        yield c


def _step_processes(marker: str | None = None) -> list[int]:
    """Pids of step processes (and the kernels forked from them), of this marker's tree if given."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes() if marker else b""
        except OSError:
            continue
        if b"distill_lib.runner.step_process" in cmdline and (not marker or marker.encode() in environ):
            pids.append(int(proc.name))
    return pids


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _results(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    data["provenance"].pop("timing")
    return data


def _kill_first(step: str, killed: list[int], starts: list[str] | None = None):
    """An ``on_start`` that SIGKILLs the worker running ``step`` the first time it starts (as the OOM killer would)."""

    def on_start(name: str, info: dict) -> None:
        if starts is not None:
            starts.append(name)
        if name == step and not killed:  # at once: a smoke step lasts a few seconds
            os.kill(info["pid"], signal.SIGKILL)
            killed.append(info["pid"])

    return on_start


def _left_behind(client, marker: str, seconds: float = 15.0) -> list[int]:
    """Step processes and kernels still there after ``seconds``, beyond each live worker's idle step server."""
    workers = set(client.run(os.getpid).values())
    deadline = time.time() + seconds
    while True:
        left = [pid for pid in _step_processes(marker) if _parent(pid) not in workers]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.2)


def test_a_study_on_a_local_cluster_gives_the_local_runs_results_even_when_a_worker_is_killed(client, tmp_path):
    # long enough (a few seconds of training) that the kill, sent when the start event reaches the client,
    # lands while hard_only runs even on a loaded machine: a step that had finished would not run again
    args = [*TINY, "-p", "epochs", "60"]
    local = plan_for(args, tmp_path / "local")
    assert not run_study(local, execution=ForkedExecution(jobs=2), progress=False).failed
    killed: list[int] = []
    starts: list[str] = []
    dask = plan_for(args, tmp_path / "dask")
    execution = DaskExecution(client, on_start=_kill_first("hard_only", killed, starts))
    outcome = run_study(dask, execution=execution, progress=False)
    assert not outcome.failed, outcome.errors
    assert killed and starts.count("hard_only") == 2, starts  # the scheduler ran it again on a live worker
    assert sorted(set(starts)) == sorted(s.name for s in dask.steps)
    assert _results(tmp_path / "local") == _results(tmp_path / "dask")
    assert sorted(p.name for p in (dask.out_dir / "html").glob("*.html")) == sorted(
        ["index.html", *(s.page for s in dask.steps)]
    )
    client.wait_for_workers(2, timeout=RESTART_S)  # the nanny has restarted the killed worker
    # a second run reuses every step, as locally
    again = run_study(plan_for(args, tmp_path / "dask"), execution=DaskExecution(client), progress=False)
    assert set(again.status.values()) == {"reused"}


def test_steps_lost_past_the_allowed_failures_fail_and_the_analysis_still_runs(client, tmp_path):
    def allowed(n: int):
        def set_it(dask_scheduler) -> int:
            old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, n
            return old

        return set_it

    before = client.run_on_scheduler(allowed(0))  # the first death of its worker fails the step
    try:
        plan = plan_for([*TINY, "-p", "epochs", "60"], tmp_path)  # long enough for the kill to land mid-step
        killed: list[int] = []
        execution = DaskExecution(client, on_start=_kill_first("hard_only", killed))
        outcome = run_study(plan, execution=execution, progress=False)
    finally:
        client.run_on_scheduler(allowed(before))
    assert killed
    assert outcome.status["hard_only"] == "failed" and "workers died" in outcome.errors["hard_only"]
    # soft_only needs the data step's result too, so Dask may have queued it on the same worker (data
    # locality); then it is lost with that worker. Either way the analysis runs on what finished.
    assert outcome.status["soft_only"] == "done" or "workers died" in outcome.errors["soft_only"]
    assert outcome.status["world"] == "done" and outcome.status["analysis"] == "done"
    assert "Did not finish: hard_only" in (plan.out_dir / "html" / "index.html").read_text()
    client.wait_for_workers(2, timeout=RESTART_S)
    assert _left_behind(client, MARKER) == []  # the killed worker's step process and kernel went with it


def test_ctrl_c_cancels_the_steps_and_leaves_nothing_running_on_the_cluster(client, tmp_path):
    plan = plan_for([*TINY, "-p", "epochs", "200"], tmp_path)
    address = client.scheduler.address
    cmd = [sys.executable, "-m", "distill_lib", "run", *TINY, "-p", "epochs", "200", "-o", str(tmp_path), "-q"]
    proc = subprocess.Popen(
        [*cmd, "--cluster", address], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while not plan.step("hard_only").kernel_log.is_file():  # a training step has started on a worker
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    assert _step_processes(MARKER)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert json.loads((plan.work_dir / "study.json").read_text())["state"] == "interrupted"
    assert not any(client.processing().values())  # no task of the study on any worker
    assert _left_behind(client, MARKER) == []  # nor any step process or kernel
    assert (plan.step("world").folder / "record.json").is_file()  # what finished is kept for the resume


@pytest.mark.parametrize("spec", ["lokal", "local:0", "127.0.0.1:8786", ""])
def test_a_bad_cluster_spec_is_one_line_and_exit_2(spec, tmp_path, capsys):
    assert main(["run", *TINY, "-o", str(tmp_path), "--cluster", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distill-study: error: --cluster"), err


def test_jobs_with_a_cluster_is_bad_input(tmp_path, capsys):
    assert main(["run", *TINY, "-o", str(tmp_path), "--cluster", "local:1", "--jobs", "2"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(ParamError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9")


def test_cluster_specs_parse():
    assert parse_cluster("local") == ("local", None)
    assert parse_cluster("local:1") == ("local", 1)
    assert parse_cluster(" tcp://10.0.0.5:8786 ") == ("tcp://10.0.0.5:8786", None)


def _spawned_workers(parent: int) -> list[int]:
    """Worker processes a LocalCluster in ``parent`` has spawned (multiprocessing's spawn)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if _parent(int(proc.name)) == parent and b"spawn_main" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.parametrize("when", ["while the cluster starts", "while a step runs"])
def test_ctrl_c_at_the_terminal_of_a_local_cluster_run_prints_no_worker_tracebacks(tmp_path, when):
    """As a terminal sends it: SIGINT to the command's whole process group, its local workers included."""
    from conftest import marked_processes

    marker = uuid.uuid4().hex
    plan = plan_for([*TINY, "-p", "epochs", "200"], tmp_path)
    cmd = [sys.executable, "-m", "distill_lib", "run", *TINY, "-p", "epochs", "200", "-o", str(tmp_path), "-q"]

    def terminal_like() -> None:  # a session of its own, SIGINT not inherited as ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    proc = subprocess.Popen(
        [*cmd, "--cluster", "local:2"],
        cwd=ROOT,
        env={**os.environ, "DISTILL_TEST_MARK": marker},
        preexec_fn=terminal_like,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + RESTART_S
    started = (lambda: _spawned_workers(proc.pid)) if when == "while the cluster starts" else (
        lambda: plan.step("hard_only").kernel_log.is_file() and _step_processes(marker)
    )  # fmt: skip
    while not started():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3 if when == "while the cluster starts" else 1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in lines[-1] and len(lines) <= 2 + 2, err  # the note, the interrupt; at most one per worker
    deadline = time.time() + 30
    while marked_processes(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []


def test_a_local_cluster_is_bounded_by_the_machine(tmp_path, capsys):
    cores = cluster_mod.usable_cores()
    assert parse_cluster(f"local:{cores}") == ("local", cores)
    for spec in (f"local:{cores + 1}", "local:100000"):
        started = time.time()
        assert main(["run", *TINY, "-o", str(tmp_path / "out"), "--cluster", spec]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"runs 1 to {cores} workers here" in err[0] and time.time() - started < 30, err
    assert not (tmp_path / "out").exists()
