"""Reference points for the distilled students: DQN from scratch at each width, and independent teachers.

Two questions a distilled student's numbers cannot answer alone:

* *Does distillation beat simply training the small network?* For each width of
  ``fair_widths``, DQN trains the student's network (``QNetwork(obs_dim, w, n_actions)``) from
  scratch with the teacher's own recipe and environment-step budget (the ``config`` in the
  shipped ``teacher.json``, only ``hidden`` and ``seed`` changed; for your own teacher, the
  project's recipe for the task, ``rl.dqn_config.task_recipe``), once per ``scratch_seeds``,
  all seeds in one stacked run (``rl.dqn.train_dqn``). The seeds are not the teachers' (0-3).
* *How much agreement is enough?* Independently trained networks of the teacher's
  architecture that solve the task as well disagree with it on some states (Stanton et al.
  2021, "Does Knowledge Distillation Really Work?", NeurIPS, use such models as the
  reference for agreement). The shipped independent teachers (``assets/<task>/independent/``,
  the teacher's recipe with other seeds, trained beside it by ``rl.train_teachers``; each
  reached the task's bar) are measured as the students are. Your own teacher has none.

Every network, as in the fair comparison (``experiments.fair``): greedy return on
``cartpole_episodes_eval`` test episodes (``reset(seed=TEST_SEED + i)``) as a % of the
teacher's (from the task's floor); agreement with the teacher's action on its held-out states (teacher-visited) and
on every state the network visits in its own test episodes (``rl.evaluation.closed_loop``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import progress
from ..core.config import MAX_SEED
from ..core.metrics import fidelity_metrics
from ..core.networks import QNetwork
from ..core.schema import param
from ..records.atomic import read_json
from ..records.record import Record
from ..rl.cartpole import TEST_SEED, BufferParams
from ..rl.dqn import DQNConfig, agent_network, train_dqn
from ..rl.dqn_config import task_recipe
from ..rl.evaluation import closed_loop, count_parameters
from ..rl.tasks import load_teacher
from . import baselines_report
from .base import NOTEBOOK_DIR, Experiment, Units
from .cartpole import EpisodeParams, pct_of_teacher, teacher_and_states, teacher_fields
from .data import TaskSourceParams
from .fair import FairWidths

__all__ = [
    "EXPERIMENT",
    "INDEPENDENT",
    "BaselineRecord",
    "BaselineRun",
    "BaselinesConfig",
    "independent_teachers",
    "scratch_configs",
    "teacher_recipe",
]

#: the folder of a task's shipped independent teachers, beside its teacher: ``seed<s>.pt`` and ``seed<s>.json``
INDEPENDENT = "independent"


def independent_teachers(p: EpisodeParams | None = None) -> list[Path]:
    """The independent teachers' checkpoints of the task's shipped teacher, by seed; none for your own teacher."""
    p = p or EpisodeParams()
    if p.teacher_checkpoint is not None:
        return []
    folder = p.task.asset_dir / INDEPENDENT  # type: ignore[operator]
    return sorted(folder.glob("seed*.pt"), key=lambda f: int(f.stem.removeprefix("seed")))


def teacher_seeds(p: EpisodeParams | None = None) -> set[int]:
    """The seeds of the shipped teacher and of its independent peers (from their records)."""
    p = p or EpisodeParams()
    files = [p.teacher_path.with_suffix(".json")] + [f.with_suffix(".json") for f in independent_teachers(p)]
    return {int(read_json(f)["config"]["seed"]) for f in files if p.teacher_checkpoint is None and f.is_file()}


def teacher_recipe(p: EpisodeParams) -> dict[str, Any]:
    """The DQN config of the shipped teacher (its record), or the project's recipe for the task (your teacher)."""
    if p.teacher_checkpoint is None:
        return read_json(p.teacher_path.with_suffix(".json"))["config"] | {"env_id": p.env_id}
    return task_recipe(p.env_id, hidden=p.teacher_width).to_dict()


def teacher_steps(p: EpisodeParams | None = None) -> int:
    """The teacher's budget of environment steps (for your teacher: the task recipe's)."""
    return int(teacher_recipe(p or EpisodeParams())["total_steps"])


@dataclass(frozen=True)
class BaselineParams(BufferParams, EpisodeParams):
    """The seeds of the from-scratch DQN students."""

    scratch_seeds: list[int] = param(
        [10, 11, 12],
        "seeds of the DQN-from-scratch students at each width (not the teachers' seeds; empty: none)",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )

    scratch_steps: int | None = param(
        None,
        "environment steps of each from-scratch run (null: the teacher's own budget, the fair comparison)",
        low=1,
        high=10**9,
    )

    def check(self) -> None:
        super().check()
        if len(self.scratch_seeds) == 1:
            raise self.fail("scratch_seeds", "needs at least two seeds for an interval (or none)")
        if shared := sorted(set(self.scratch_seeds) & teacher_seeds(self)):
            raise self.fail("scratch_seeds", f"shares {shared} with the teachers' seeds: a width-64 run would be one")


@dataclass(frozen=True)
class BaselineStepConfig(BaselineParams):
    """One step: the independent teachers, or the from-scratch students of one width (set by the runner)."""

    baseline: str = param(
        "teachers", "one step's baseline: teachers or scratch", choices=("teachers", "scratch"), set_by="the runner"
    )
    scratch_width: int = param(32, "the from-scratch step's width (set by the runner)", low=1, high=100_000)


@dataclass(frozen=True)
class BaselinesConfig(TaskSourceParams, FairWidths, BaselineParams):
    """The baselines run beside the fair comparison: its widths."""


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
    teacher, _, x_held = teacher_and_states(p)
    with torch.no_grad():
        q_held = teacher(x_held)  # (M, A)
    teacher_test = closed_loop([teacher], p.cartpole_episodes_eval, TEST_SEED, env_id=p.env_id).returns[0]
    floor = p.task.floor(p.cartpole_episodes_eval, TEST_SEED)
    progress.report(f"{p.baseline}: stages done", 0, 2)
    nets, records, recipe = _networks(p)
    seconds["train" if p.baseline == "scratch" else "load"] = time.perf_counter() - started
    progress.report(f"{p.baseline}: stages done", 1, 2)
    started = time.perf_counter()
    loop = closed_loop(nets, p.cartpole_episodes_eval, TEST_SEED, reference=teacher, env_id=p.env_id)
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
            **teacher_fields(p, teacher),
            "test_return": float(teacher_test.mean()),
            "solved_return": p.task.bar,
            "score_floor": floor,
        },
        recipe={k: v for k, v in recipe.items() if k != "seed"} | {"teacher_steps": teacher_steps(p)},
        runs=runs,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


def _recipe_file(p: EpisodeParams) -> list[Path]:
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


def summarize(config: BaselinesConfig, records: dict[str, BaselineRecord]) -> baselines_report.BaselinesSummary:
    expected = ["teachers"] if independent_teachers(config) else []
    expected += [f"w={w}" for w in config.fair_widths] if config.scratch_seeds else []
    return baselines_report.summarize_records(records, [u for u in expected if u not in records])


EXPERIMENT: Experiment[BaselineRecord] = Experiment(
    name="baselines",
    title="Baselines: DQN from scratch and independent teachers",
    notebook=NOTEBOOK_DIR / "08_baselines.ipynb",
    params=BaselinesConfig,
    step_params=BaselineStepConfig,
    record=BaselineRecord,
    run=run,
    summarize=summarize,
    section=baselines_report.section,
    units=units,
    inputs=lambda config: [config.teacher_path, *_recipe_file(config), *independent_teachers(config)],
    unit_of=unit_name,
    cost=85.0,  # seconds per step on the project's machine, default study (long steps start first)
)
