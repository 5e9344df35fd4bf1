"""Your own policy end to end: a checkpoint saved by a plain PyTorch script, the whole real-task study on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import SMOKE, plain_qnetwork, run_cli

from distill_lib.rl.tasks import task

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out)
pytestmark = pytest.mark.slow

#: only the real-task sections (the synthetic ones do not read the task), at smoke size
REAL_ONLY = [*SMOKE, *("-p", "world_seeds", "[]", "-p", "training_seeds", "[]", "-p", "sweep_temperatures", "[]")]


@pytest.fixture(scope="module")
def mine(tmp_path_factory):
    """The study on an Acrobot policy held by a plain ``nn.Sequential`` and saved with ``torch.save(net.state_dict())``.

    Its weights are the shipped Acrobot teacher's (a policy that solves the task), so the file is what a
    user's own DQN script of the documented architecture would write.
    """
    folder = tmp_path_factory.mktemp("mine")
    net = plain_qnetwork(6, 64, 3)
    net.load_state_dict(torch.load(task("Acrobot-v1").teacher_file, weights_only=True))
    torch.save(net.state_dict(), folder / "my_dqn.pt")
    out = folder / "out"
    args = ["-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(folder / "my_dqn.pt")]
    proc = run_cli("run", *REAL_ONLY, *args, "-p", "teacher_hidden", "64", "-o", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_every_real_task_section_runs_on_your_teacher(mine) -> None:
    out, _ = mine
    results = json.loads((out / "results.json").read_text())
    section = results["real_task"]
    assert section["teacher"]["env_id"] == "Acrobot-v1" and section["teacher"]["hidden"] == 64
    assert section["teacher"]["shipped"] is False and section["teacher"]["score_floor"] == -500.0
    assert section["widths"] == [8] and section["n_seeds"] == 2
    assert [w["width"] for w in results["fair"]["widths"]] == [8]
    assert results["fair"]["widths"][0]["teacher"]["env_id"] == "Acrobot-v1"
    # no independent teachers ship for your policy: the from-scratch baseline runs, with the task's recipe
    assert results["baselines"]["teachers"] is None and [g["width"] for g in results["baselines"]["scratch"]] == [8]
    assert results["baselines"]["scratch"][0]["env_id"] == "Acrobot-v1"
    assert results["budgets"]["widths"][0]["width"] == 8
    index = (out / "html" / "index.html").read_text()
    assert "A real teacher: Acrobot" in index and "Each objective at its best: Acrobot" in index
    assert "Your Acrobot teacher" in (out / "html" / "06_real_task.html").read_text()


def test_the_run_records_your_checkpoint_by_content(mine) -> None:
    out, _ = mine
    state = json.loads((out / "work" / "study.json").read_text())
    assert "baselines teachers" not in state["steps"] and state["steps"]["real_task"] == "done"
    record = json.loads(next((out / "work" / "real_task").glob("*/record.json")).read_text())
    teacher = record["record"]["teacher"]
    assert teacher["file"] == "my_dqn.pt" and len(teacher["sha256"]) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "env_id", "Pendulum-v1"], "env_id='Pendulum-v1' acts in Box"),
        (["-p", "env_id", "CarRacing-v3"], "1-D Box observation"),
        (["-p", "env_id", "NoSuchEnv-v0"], "gymnasium does not know it"),
        (["-p", "env_id", "MountainCar-v0"], "has no shipped teacher: give yours"),
    ],
)
def test_an_unsuitable_task_fails_up_front_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_cli("run", *REAL_ONLY, *args, "-o", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_checkpoint_of_the_wrong_width_fails_in_one_line(tmp_path: Path) -> None:
    torch.save(plain_qnetwork(6, 24, 3).state_dict(), tmp_path / "my_dqn.pt")
    args = ["-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(tmp_path / "my_dqn.pt")]
    proc = run_cli("run", *REAL_ONLY, *args, "-p", "teacher_hidden", "32", "-o", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2 and "needs (32, 6)" in proc.stderr and "teacher_hidden" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_untrained_teacher_is_refused_with_the_reason(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(plain_qnetwork(6, 24, 3).state_dict(), tmp_path / "untrained.pt")  # never reaches Acrobot's goal
    args = ["-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(tmp_path / "untrained.pt")]
    only = ["-p", "fair_widths", "[]"]
    proc = run_cli(
        "run", *REAL_ONLY, *only, *args, "-p", "teacher_hidden", "24", "-o", str(tmp_path / "o"), timeout=300
    )
    assert proc.returncode == 1 and "no more than the task's floor -500.0" in proc.stderr, proc.stderr
