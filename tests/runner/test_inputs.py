"""Tests of distill_lib.runner.inputs: what only your files can tell is checked once, before a study starts,
and your real-task teacher must be better than chance."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.stats
import torch
from conftest import SMALL, plan_for

from distill_lib.core.schema import ParamError
from distill_lib.rl.tasks import task, teacher_network
from distill_lib.runner import inputs
from distill_lib.runner.inputs import check_inputs


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ("nan", "0.weight holds NaN or infinite weights"),
        ("shape", "maps 4 state variables to 2 actions; Acrobot-v1 has 6 and 3"),
        ("junk", "not a loadable weights-only state dict"),
    ],
)
def test_a_bad_checkpoint_plans_but_is_refused_before_anything_runs(tmp_path, damage, match):
    path = tmp_path / "mine.pt"
    state = teacher_network("Acrobot-v1").state_dict()
    if damage == "nan":
        state["0.weight"][0, 0] = float("nan")
    if damage == "shape":
        state = teacher_network("CartPole-v1", hidden=32).state_dict()  # another task's teacher
    torch.save(state, path) if damage != "junk" else path.write_bytes(b"not a checkpoint")
    args = [*SMALL, "-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(path), "-p", "teacher_hidden", "64",
            "-p", "real_task_widths", "[8]"]  # fmt: skip
    plan = plan_for(args, tmp_path / "out")  # the planner reads no file
    with pytest.raises(ParamError, match=f"^teacher_checkpoint: .*{match}") as err:
        check_inputs(plan)
    assert "\n" not in str(err.value)


def _acrobot_args(path) -> list[str]:
    """The original comparison and one real-task width, on Acrobot with your teacher (no teacher_hidden)."""
    return [*SMALL, "-p", "env_id", "Acrobot-v1", "-p", "teacher_checkpoint", str(path),
            "-p", "real_task_widths", "[8]"]  # fmt: skip


def test_good_inputs_pass(tmp_path):
    path = tmp_path / "mine.pt"
    shutil.copy(task("Acrobot-v1").teacher_file, path)  # a trained policy, as yours
    check_inputs(plan_for(_acrobot_args(path), tmp_path / "out"))  # no teacher_hidden: the width is read


def test_an_untrained_teacher_is_refused_naming_both_means_and_the_interval(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "untrained.pt"
    torch.save(teacher_network("Acrobot-v1").state_dict(), path)
    with pytest.raises(ParamError, match=r"^teacher_checkpoint: untrained.pt is no better than chance") as err:
        check_inputs(plan_for(_acrobot_args(path), tmp_path / "out"))
    message = str(err.value)
    assert "\n" not in message and "uniform-random policy's" in message and "Welch interval [" in message
    assert "on the same 3 test episodes (seeds 10000..10002)" in message  # the study's (smoke) test episodes


def test_the_chance_test_runs_once_for_your_teacher_and_never_for_a_shipped_one(tmp_path, monkeypatch):
    calls = []

    def measure(config, n_episodes):
        calls.append((config.env_id, config.teacher_path.name, n_episodes))

    monkeypatch.setattr(inputs, "check_better_than_chance", measure)
    shipped = [*SMALL, "-p", "env_id", "Acrobot-v1", "-p", "real_task_widths", "[8]", "-p", "fair_widths", "[8]"]
    check_inputs(plan_for(shipped, tmp_path / "a"))
    assert calls == []
    path = tmp_path / "mine.pt"
    shutil.copy(task("Acrobot-v1").teacher_file, path)
    check_inputs(plan_for([*shipped, "-p", "teacher_checkpoint", str(path)], tmp_path / "b"))
    assert calls == [("Acrobot-v1", "mine.pt", 3)]  # real_task and fair both read it: measured once


def test_better_than_chance_is_a_one_sided_welch_bound_above_zero():
    rng = np.random.default_rng(0)
    chance = rng.normal(20.0, 10.0, 100)
    clear = inputs.chance_test(chance + 30.0, chance)
    assert clear.better and clear.teacher_mean == pytest.approx(chance.mean() + 30.0)
    # higher on average, but not detectably so
    mine = chance[::-1] + 1.5  # the same spread, 1.5 higher: under one standard error of the difference
    close = inputs.chance_test(mine, chance)
    assert close.teacher_mean > close.random_mean and not close.better
    va, vb = mine.var(ddof=1) / 100, chance.var(ddof=1) / 100  # Welch (1947), by hand
    nu = (va + vb) ** 2 / (va**2 / 99 + vb**2 / 99)
    expected = mine.mean() - chance.mean() - scipy.stats.t.ppf(0.95, nu) * np.sqrt(va + vb)
    assert close.lower == pytest.approx(expected, rel=1e-12)
    assert not inputs.chance_test(chance - 5.0, chance).better
    constant = inputs.chance_test(np.full(5, 9.0), np.full(5, 9.0))  # no spread, no difference
    assert constant.lower == 0.0 and not constant.better
