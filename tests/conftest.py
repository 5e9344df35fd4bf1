"""Shared fixtures: small seeded worlds and a way to run the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
#: the whole study at toy size: three modes, seeds, sweep
SMOKE = ["-f", str(ROOT / "params" / "reference.yaml"), "-f", str(ROOT / "params" / "smoke.yaml")]
#: only the original comparison at toy size
SMALL = [
    *SMOKE,
    *("-p", "world_seeds", "[]", "-p", "training_seeds", "[]", "-p", "sweep_temperatures", "[]"),
    *("-p", "real_task_widths", "[]", "-p", "fair_widths", "[]"),
]


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m distill_lib ARGS`` as a user would run it; returns the finished process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "distill_lib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=full_env,
    )


def plan_for(args: list[str], out: Path):
    """The plan the command would make for these ``-f``/``-p`` arguments and output folder."""
    from distill_lib.runner.plan import plan_study

    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    overrides = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "-p"]
    return plan_study(files, overrides, out)


def marked_processes(marker: str) -> list[int]:
    """Pids of the processes whose environment carries ``DISTILL_TEST_MARK=marker`` (a run's whole tree)."""
    pids = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"DISTILL_TEST_MARK={marker}".encode() in env.read_bytes():
                pids.append(int(env.parent.name))
        except OSError:
            continue
    return pids


def plain_qnetwork(d: int, h: int, a: int):
    """The README's teacher architecture written in plain PyTorch, as a user's own DQN script would hold it."""
    from torch import nn

    return nn.Sequential(
        nn.Linear(d, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(h, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(h, a),
    )  # fmt: skip


def run_step(experiment, params: dict, work_dir: Path):
    """One step as its notebook runs it: the study planned from ``params`` (every other parameter at its
    default), the step of ``experiment`` whose per-step values ``params`` name, run into its planned folder.
    Returns ``(record, folder)``."""
    from distill_lib.runner import notebook_step

    step = notebook_step.run(experiment, {**params, "work_dir": str(work_dir)})
    return step.record, step.folder


def run_planned(plan, name: str):
    """The planned step ``name`` run in this process, as its notebook would (no runner, no kernel)."""
    from distill_lib.experiments.base import execute

    step = plan.step(name)
    experiment = plan.experiments[step.experiment]
    return execute(experiment, experiment.step_type.from_params(step.parameters), step.folder, step.upstream)
