"""The baselines' step: the independent teachers measured, or DQN trained from scratch at one width.

A from-scratch step trains its seeds in one stacked run, read at each of ``scratch_budgets``
(``rl.dqn.train_dqn``'s budgets: per budget, the checkpoint the run would have kept had it
stopped there), and measures every checkpoint it keeps, the full run's and each budget's, as a
student is measured: greedy return on the test episodes (as a % of the teacher's on the same
episodes, from the task's floor), agreement with the teacher on its held-out states and on the
network's own states. A checkpoint kept at several budgets (same weights, same digest) is
measured once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...core import progress
from ...core.metrics import fidelity_metrics
from ...core.networks import QNetwork
from ...records.atomic import read_json
from ...records.record import Record
from ...rl.dqn import DQNConfig, TrainedAgent, agent_network, train_dqn
from ...rl.episodes import TEST_SEED
from ...rl.evaluation import closed_loop, count_parameters
from ...rl.exploration import score_floor
from ...rl.students import teacher_and_buffers
from ...rl.tasks import load_teacher, pct_of_teacher
from ..base import Units
from .params import (
    BaselinesConfig,
    BaselineStepConfig,
    independent_teachers,
    scratch_budgets,
    teacher_recipe,
    teacher_steps,
)

__all__ = [
    "BaselineRecord",
    "BaselineRun",
    "BudgetResult",
    "recipe_files",
    "run",
    "scratch_configs",
    "unit_name",
    "units",
]


@dataclass(frozen=True)
class BudgetResult(Record):
    """One from-scratch run read at one budget: the checkpoint kept by then, its cost, its test numbers."""

    steps: int  # the budget, in env steps per run
    env_steps: int  # the env steps taken: the budget rounded up to whole vector steps
    gradient_steps: int  # the gradient steps taken by then
    best_step: int  # the env step of the checkpoint kept (best on the selection episodes up to the budget)
    selection_return: float
    return_mean: float
    return_pct: float
    held_out: dict[str, float]  # fidelity on the teacher's held-out states
    own_agreement: float
    state_sha256: str


@dataclass(frozen=True)
class BaselineRun(Record):
    """One baseline network: its seed, return, and agreement with the teacher on both kinds of states."""

    seed: int
    return_mean: float
    return_pct: float
    held_out: dict[str, float]  # fidelity on the teacher's held-out states
    own_agreement: float  # agreement with the teacher on the states it visits in its own test episodes
    training: dict[str, Any]  # best checkpoint step, selection return, weights' digest
    budgets: list[BudgetResult] = field(default_factory=list)  # from scratch: the run read at each budget


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


def _networks(p: BaselineStepConfig) -> tuple[dict[str, QNetwork], list[dict[str, Any]], dict[str, Any]]:
    """The step's distinct networks by digest (every run's kept checkpoint and, from scratch, each budget's), the
    runs' training records, and the recipe they share."""
    if p.baseline == "teachers":
        files = independent_teachers(p)
        if not files:
            raise FileNotFoundError(
                f"no independent teachers of {p.env_id}'s shipped teacher; retrain them (make teachers; docs/your-policy.md)"
            )
        records = [read_json(f.with_suffix(".json")) | {"budgets": []} for f in files]
        nets = {r["state_sha256"]: load_teacher(p.env_id, f) for r, f in zip(records, files, strict=True)}
        return nets, records, records[0]["config"]
    configs = scratch_configs(p)
    agents: list[TrainedAgent] = train_dqn(configs, progress=False, budgets=scratch_budgets(p))
    nets = {}
    for config, agent in zip(configs, agents, strict=True):
        states = [agent.state, *agent.budget_states]
        digests = [agent.record["state_sha256"]] + [b["state_sha256"] for b in agent.record["budgets"]]
        for digest, state in zip(digests, states, strict=True):
            if digest not in nets:
                nets[digest] = agent_network(config)
                nets[digest].load_state_dict(state)
                nets[digest].eval()
    return nets, [a.record for a in agents], configs[0].to_dict()


@dataclass(frozen=True)
class _Measured:
    return_mean: float
    return_pct: float
    held_out: dict[str, float]
    own_agreement: float


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
    # every distinct network at once: one stacked forward per step of the test episodes
    loop = closed_loop(list(nets.values()), p.test_episodes, TEST_SEED, reference=teacher, env_id=p.env_id)
    measured = {}
    for (digest, net), ret, own in zip(nets.items(), loop.returns, loop.agreement, strict=True):
        with torch.no_grad():
            held = {k: v.item() for k, v in fidelity_metrics(net(x_held), q_held).items()}
        mean = float(ret.mean())
        measured[digest] = _Measured(mean, pct_of_teacher(mean, float(teacher_test.mean()), floor), held, float(own))
    runs = []
    for record in records:
        m = measured[record["state_sha256"]]
        training = {k: record[k] for k in ("best_step", "best_selection_return", "state_sha256")}
        budgets = [BudgetResult(**b, **asdict(measured[b["state_sha256"]])) for b in record["budgets"]]
        seed = int(record["config"]["seed"])
        runs.append(BaselineRun(seed, m.return_mean, m.return_pct, m.held_out, m.own_agreement, training, budgets))
    seconds["evaluation"] = time.perf_counter() - started
    progress.report(f"{p.baseline}: stages done", 2, 2)
    n_params, n_teacher = count_parameters(next(iter(nets.values()))), count_parameters(teacher)
    return BaselineRecord(
        params=p.to_dict(),
        baseline=p.baseline,
        width=next(iter(nets.values())).hidden_dim,
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
