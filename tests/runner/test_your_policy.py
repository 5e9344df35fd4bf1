"""Your own policy end to end: docs/your-policy.md's command for each form a DQN policy comes in (a Stable-Baselines3 zip,
a CleanRL checkpoint, TorchScript, a plain PyTorch state dict) runs the study to the end on it; an untrained
teacher is refused before anything runs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
from conftest import ROOT, SMOKE, plain_qnetwork, run_cli
from torch import nn

from distill_lib.rl.episodes import TEST_SEED
from distill_lib.rl.evaluation import closed_loop_returns
from distill_lib.rl.exploration import random_returns
from distill_lib.rl.tasks import load_teacher, task, teacher_network
from distill_lib.runner.inputs import chance_test

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out); torch 2.13 deprecates
#: TorchScript (torch.jit.script, save) for torch.export, and a test writes such a file
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")]

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
    proc = run_cli("run", *REAL_ONLY, *args, "-o", str(out), timeout=900)  # no width: it is read from the file
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_every_real_task_section_runs_on_your_teacher(mine) -> None:
    out, _ = mine
    results = json.loads((out / "results.json").read_text())
    section = results["real_task"]
    assert section["teacher"]["env_id"] == "Acrobot-v1" and section["teacher"]["hidden"] == 64
    teacher = recorded_teacher(out, "real_task")
    assert (teacher["format"], teacher["layers"]) == ("qnetwork", "6-64-64-3")
    assert section["teacher"]["shipped"] is False and section["teacher"]["score_floor"] == -500.0
    assert section["widths"] == [8] and section["n_seeds"] == 2
    assert [w["width"] for w in results["fair"]["widths"]] == [8]
    fair = results["fair"]["widths"][0]
    assert fair["env_id"] == "Acrobot-v1" and [t["file"] for t in fair["teachers"]] == ["my_dqn.pt"]
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


def test_another_tasks_checkpoint_fails_in_one_line(tmp_path: Path) -> None:
    torch.save(plain_qnetwork(4, 24, 2).state_dict(), tmp_path / "my_dqn.pt")  # a CartPole network
    args = ["-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(tmp_path / "my_dqn.pt")]
    proc = run_cli("run", *REAL_ONLY, *args, "-o", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 2 and "maps 4 state variables to 2 actions; Acrobot-v1 has 6 and 3" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_random_weights_teacher_is_refused_with_exit_2_and_one_line(tmp_path: Path) -> None:
    torch.manual_seed(7)
    net = teacher_network("CartPole-v1")  # untrained: it pushes the cart mostly one way
    torch.save(net.state_dict(), tmp_path / "untrained.pt")
    n = 3  # the smoke size's test episodes
    mine = closed_loop_returns([net], n, TEST_SEED)[0]
    assert mine.mean() < random_returns("CartPole-v1", n, TEST_SEED).mean()  # worse than chance, measured here
    proc = run_cli("run", *SMOKE, "-p", "teacher_checkpoint", str(tmp_path / "untrained.pt"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "untrained.pt is no better than chance on CartPole-v1: its greedy return" in proc.stderr
    assert f"its greedy return {mine.mean():.1f} against the uniform-random policy's" in proc.stderr
    assert not (tmp_path / "o").exists()


# docs/your-policy.md's command for each form ---------------------------------------------------------


def page_command(file_name: str) -> list[str]:
    """The arguments after ``distill-study`` of docs/your-policy.md's command for a teacher file called ``file_name``."""
    section = (ROOT / "docs" / "your-policy.md").read_text().split("\n## Your own DQN\n")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines()
             if line.startswith(".venv/bin/distill-study run") and f"teacher_checkpoint {file_name} " in line]  # fmt: skip
    assert len(lines) == 1, f"docs/your-policy.md shows no single command for {file_name}"
    return shlex.split(lines[0])[1:]


def run_page_command(file_name: str, path: Path, out: Path, size: list[str]) -> tuple[dict, str]:
    """docs/your-policy.md's command with ``path`` for its file, ``out`` for its folder and ``size`` (params files, -p) after
    ``run``; returns the results and stderr."""
    args = page_command(file_name)
    assert args[0] == "run" and args[args.index("-o") + 1].startswith("build/")
    args[args.index(file_name)] = str(path)
    args[args.index("-o") + 1] = str(out)
    proc = run_cli("run", *size, *args[1:], timeout=1200)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text()), proc.stderr


def _controller(x: torch.Tensor) -> torch.Tensor:
    """A linear CartPole controller: push right where ``0.1 x + 0.5 x' + 10 theta + 2 theta' > 0`` (it balances the
    pole for all 500 steps), as ``(B,)`` scores."""
    return x @ torch.tensor([0.1, 0.5, 10.0, 2.0])


def cleanrl_network() -> nn.Module:
    """CleanRL's ``QNetwork`` (``self.network``: 120 and 84 ReLU units) holding the controller:
    ``Q(s, right) - Q(s, left) = relu(w s) - relu(-w s) = w s``."""
    net = nn.Module()
    net.network = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    with torch.no_grad():
        for layer in net.network[::2]:
            layer.weight.zero_()
            layer.bias.zero_()
        w = torch.tensor([0.1, 0.5, 10.0, 2.0])
        net.network[0].weight[0], net.network[0].weight[1] = w, -w
        net.network[2].weight[0, 0] = net.network[2].weight[1, 1] = 1.0
        net.network[4].weight[1, 0] = net.network[4].weight[0, 1] = 1.0  # Q(right) = relu(w s), Q(left) = relu(-w s)
    return net


class ScriptedController(nn.Module):
    """The controller as a module no state dict describes: ``Q = (-score, score)``."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.1, 0.5, 10.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 2)
        score = x @ self.w
        return torch.stack([-score, score], dim=1)


def test_the_cleanrl_network_is_the_controller() -> None:
    x = torch.randn(256, 4)
    q = cleanrl_network().network(x)
    torch.testing.assert_close(q[:, 1] - q[:, 0], _controller(x))


@pytest.fixture(scope="module")
def sb3_zip(tmp_path_factory) -> Path:
    """A real Stable-Baselines3 DQN trained on CartPole (64 x 64, its defaults but for a short schedule), trained
    on until it beats chance on the smoke size's test episodes, saved with ``model.save``."""
    sb3 = pytest.importorskip("stable_baselines3", reason="stable-baselines3 is a dev dependency")
    path = tmp_path_factory.mktemp("sb3") / "sb3_dqn.zip"
    torch.manual_seed(0)
    model = sb3.DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", learning_rate=2.3e-3, batch_size=64,
                    learning_starts=1000, target_update_interval=10, train_freq=256, gradient_steps=128,
                    exploration_fraction=0.16, exploration_final_eps=0.04)  # fmt: skip
    n = 3
    chance = random_returns("CartPole-v1", n, TEST_SEED)
    for _ in range(8):
        model.learn(5_000, reset_num_timesteps=False)
        model.save(path)
        mine = closed_loop_returns([load_teacher("CartPole-v1", path)], n, TEST_SEED)[0]
        if chance_test(mine, chance).better:
            break
    assert chance_test(mine, chance).better, f"the DQN returns {mine.mean()} after {model.num_timesteps} steps"
    return path


def recorded_teacher(out: Path, experiment: str) -> dict:
    """The teacher as the first step record of ``experiment`` describes it (``TaskParams.teacher_fields``)."""
    record = json.loads(next((out / "work" / experiment).glob("*/record.json")).read_text())
    return record["record"]["teacher"]


def fair_teachers(out: Path) -> list[dict]:
    """The teachers as the fair comparison's first step record lists them (``rl.students.TeacherData.describe``)."""
    record = json.loads(next((out / "work" / "fair").glob("*/record.json")).read_text())
    return record["record"]["teachers"]


def test_the_page_command_for_a_stable_baselines3_zip_runs_the_smoke_study(sb3_zip: Path, tmp_path: Path) -> None:
    results, _ = run_page_command("sb3_dqn.zip", sb3_zip, tmp_path / "out", SMOKE)
    teacher = recorded_teacher(tmp_path / "out", "real_task")
    assert (teacher["format"], teacher["layers"], teacher["hidden"]) == ("sb3", "4-64-64-2", 64)
    assert teacher["file"] == "sb3_dqn.zip" and teacher["shipped"] is False and teacher["params"] == 4_610
    assert fair_teachers(tmp_path / "out")[0]["format"] == "sb3"
    assert results["real_task"]["teacher"]["hidden"] == 64 and results["real_task"]["widths"] == [8]
    assert {"training", "world"} <= set(results["seeds"]) and results["sweep"]  # the whole smoke-size study ran


def test_the_page_command_for_a_cleanrl_checkpoint_runs_the_study(tmp_path: Path) -> None:
    torch.save(cleanrl_network().state_dict(), tmp_path / "dqn.cleanrl_model")
    results, _ = run_page_command("dqn.cleanrl_model", tmp_path / "dqn.cleanrl_model", tmp_path / "out", REAL_ONLY)
    teacher = recorded_teacher(tmp_path / "out", "real_task")
    assert (teacher["format"], teacher["hidden"], teacher["layers"]) == ("cleanrl", "120-84", "4-120-84-2")
    assert results["real_task"]["teacher"]["return_mean"] == 500.0  # the controller balances the pole every time
    assert [w["width"] for w in results["fair"]["widths"]] == [8]


def test_the_page_command_for_a_torchscript_teacher_runs_the_study(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(ScriptedController()), tmp_path / "q_net_script.pt")
    results, _ = run_page_command("q_net_script.pt", tmp_path / "q_net_script.pt", tmp_path / "out", REAL_ONLY)
    teacher = recorded_teacher(tmp_path / "out", "real_task")
    assert (teacher["format"], teacher["hidden"], teacher["params"]) == ("torchscript", "unknown", 4)
    assert results["real_task"]["teacher"]["return_mean"] == 500.0
    assert results["budgets"]["widths"][0]["width"] == 8
