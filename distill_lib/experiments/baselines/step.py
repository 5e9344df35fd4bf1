"""The baselines' step: the independent teachers measured, or DQN trained from scratch at one width."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core import progress
from ...core.metrics import fidelity_metrics
from ...core.networks import QNetwork
from ...records.atomic import read_json
from ...records.record import Record
from ...rl.dqn import DQNConfig, agent_network, train_dqn
from ...rl.episodes import TEST_SEED
from ...rl.evaluation import closed_loop, count_parameters
from ...rl.exploration import score_floor
from ...rl.students import teacher_and_buffers
from ...rl.tasks import load_teacher, pct_of_teacher
from ..base import Units
from .params import BaselinesConfig, BaselineStepConfig, independent_teachers, teacher_recipe, teacher_steps

__all__ = ["BaselineRecord", "BaselineRun", "recipe_files", "run", "scratch_configs", "unit_name", "units"]


@dataclass(frozen=True)
class BaselineRun(Record):
    """One baseline network: its seed, return, and agreement with the teacher on both kinds of states."""

    seed: int
    return_mean: float
    return_pct: float
    held_out: dict[str, float]  # fidelity on the teacher's held-out states
    own_agreement: float  # agreement with the teacher on the states it visits in its own test episodes
    training: dict[str, Any]  # best checkpoint step, selection return, weights' digest


@dataclass(frozen=True)
class BaselineRecord(Record):
    """One step: what was trained (or loaded), how, and every network's numbers."""

    params: dict[str, Any]
    baseline: str
    width: int
    params_count: int
    params_pct: float
    teacher: dict[str, Any]
    recipe: dict[str, Any]  # the DQN config shared by the runs (seed aside)
    runs: list[BaselineRun]
    seconds: dict[str, float]


def scratch_configs(p: BaselineStepConfig) -> list[DQNConfig]:
    """The from-scratch runs: the teacher's DQN config with the step's width and each scratch seed.

    With ``scratch_steps`` set (smoke tests), the budget is that many environment steps (the
    report then says it is not the teacher's).
    """
    recipe = teacher_recipe(p) | {"hidden": p.scratch_width}
    if p.scratch_steps is not None:
        recipe |= {"total_steps": p.scratch_steps, "eval_every": min(recipe["eval_every"], p.scratch_steps)}
    return [DQNConfig.from_params(recipe | {"seed": s}) for s in p.scratch_seeds]


def _networks(p: BaselineStepConfig) -> tuple[list[QNetwork], list[dict[str, Any]], dict[str, Any]]:
    """The step's networks, their training records, and the recipe they share."""
    if p.baseline == "teachers":
        files = independent_teachers(p)
        if not files:
            raise FileNotFoundError(f"no independent teachers of {p.env_id}'s shipped teacher; retrain them (README)")
        records = [read_json(f.with_suffix(".json")) for f in files]
        return [load_teacher(p.env_id, f) for f in files], records, records[0]["config"]
    configs = scratch_configs(p)
    recipe = configs[0].to_dict()
    nets, records = [], []
    for config, (state, record) in zip(configs, train_dqn(configs, progress=False), strict=True):
        net = agent_network(config)
        net.load_state_dict(state)
        nets.append(net.eval())
        records.append(record)
    return nets, records, recipe


def run(config: BaselineStepConfig, folder: Path | None = None) -> BaselineRecord:
    """Train (or load) the step's networks and measure each as the fair comparison measures a student."""
    p, seconds = config, {}
    started = time.perf_counter()
    teacher, _, x_held = teacher_and_buffers(p)
    with torch.no_grad():
        q_held = teacher(x_held)  # (M, A)
    teacher_test = closed_loop([teacher], p.test_episodes, TEST_SEED, env_id=p.env_id).returns[0]
    floor = score_floor(p.env_id, p.test_episodes, TEST_SEED)
    progress.report(f"{p.baseline}: stages done", 0, 2)
    nets, records, recipe = _networks(p)
    seconds["train" if p.baseline == "scratch" else "load"] = time.perf_counter() - started
    progress.report(f"{p.baseline}: stages done", 1, 2)
    started = time.perf_counter()
    loop = closed_loop(nets, p.test_episodes, TEST_SEED, reference=teacher, env_id=p.env_id)
    runs = []
    for net, record, ret, own in zip(nets, records, loop.returns, loop.agreement, strict=True):
        with torch.no_grad():
            held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
        mean = float(ret.mean())
        training = {k: record[k] for k in ("best_step", "best_selection_return", "state_sha256")}
        seed = int(record["config"]["seed"])
        pct = pct_of_teacher(mean, float(teacher_test.mean()), floor)
        runs.append(BaselineRun(seed, mean, pct, held, float(own), training))
    seconds["evaluation"] = time.perf_counter() - started
    progress.report(f"{p.baseline}: stages done", 2, 2)
    n_params, n_teacher = count_parameters(nets[0]), count_parameters(teacher)
    return BaselineRecord(
        params=p.to_dict(),
        baseline=p.baseline,
        width=nets[0].hidden_dim,
        params_count=n_params,
        params_pct=100.0 * n_params / n_teacher,
        teacher={
            **p.teacher_fields(teacher),
            "test_return": float(teacher_test.mean()),
            "solved_return": p.task.bar,
            "score_floor": floor,
        },
        recipe={k: v for k, v in recipe.items() if k != "seed"} | {"teacher_steps": teacher_steps(p)},
        runs=runs,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def recipe_files(p: BaselinesConfig) -> list[Path]:
    """The shipped teacher's record (its recipe is the from-scratch runs'); your teacher has none."""
    return [p.teacher_path.with_suffix(".json")] if p.teacher_checkpoint is None else []


def unit_name(step: BaselineStepConfig) -> str:
    return "teachers" if step.baseline == "teachers" else f"w={step.scratch_width}"


def units(config: BaselinesConfig) -> Units:
    """The independent teachers (a shipped teacher's), and one from-scratch step per width."""
    if not config.fair_widths:
        return Units({}, reason="no fair-comparison widths given")
    if config.source == "file":
        return Units({}, "source='file': the baselines need a task's teacher (env_id), not the file's; skipped")
    steps: dict[str, dict[str, Any]] = {}
    note = ""
    if independent_teachers(config):
        steps["teachers"] = {"baseline": "teachers"}
    else:
        note = f"no independent teachers ship for this {config.env_id} teacher: that baseline is left out"
    if config.scratch_seeds:
        steps |= {f"w={w}": {"baseline": "scratch", "scratch_width": w} for w in config.fair_widths}
    return Units(steps, note=note, reason="" if steps else note)
