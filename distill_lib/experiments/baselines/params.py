"""Reference points for the distilled students: DQN from scratch at each width, and independent teachers.

Two questions a distilled student's numbers cannot answer alone:

* *Does distillation beat simply training the small network?* For each width of
  ``fair_widths``, DQN trains the student's network (``QNetwork(obs_dim, w, n_actions)``) from
  scratch with the teacher's own recipe and environment-step budget (the ``config`` in the
  shipped ``teacher.json``, only ``hidden`` and ``seed`` changed; for your own teacher, the
  project's recipe for the task, ``rl.dqn_config.task_recipe``), once per ``scratch_seeds``,
  all seeds in one stacked run (``rl.dqn.train_dqn``). The seeds are not the teachers' (0-3).
  *At matched budgets:* each run is also read at ``scratch_budgets`` env steps (default
  1e3, 3e3, 1e4, ... up to the run's own budget: a learning curve), each budget's checkpoint
  chosen by the rule every side of the comparison uses, the best of the run's checkpoints up to
  that budget by greedy return on the selection episodes (``rl.dqn_selection``), and tested
  as the full run is. A distilled student whose transfer set cost ``b`` env steps is compared
  with DQN from scratch at budget ``b``, not with DQN at the teacher's whole budget.
* *How much agreement is enough?* Independently trained networks of the teacher's
  architecture that solve the task as well disagree with it on some states (Stanton et al.
  2021, "Does Knowledge Distillation Really Work?", NeurIPS, use such models as the
  reference for agreement). The shipped independent teachers (``assets/<task>/independent/``,
  the teacher's recipe with other seeds, trained beside it by ``rl.train_teachers``; each
  reached the task's bar) are measured as the students are. Your own teacher has none.

Every network is measured as the fair comparison measures a student: greedy return on
``test_episodes`` test episodes (``reset(seed=TEST_SEED + i)``) as a % of the
teacher's (from the task's floor); agreement with the teacher's action on its held-out states (teacher-visited) and
on every state the network visits in its own test episodes (``rl.evaluation.closed_loop``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.config import MAX_SEED
from ...core.schema import param
from ...records.atomic import read_json
from ...rl.dqn_config import budget_grid, task_recipe
from ...rl.episodes import BufferParams, EpisodeParams
from ...rl.students import ComparedWidths
from ...rl.tasks import INDEPENDENT, task_teachers
from ...rl.worlds import TaskSourceParams

__all__ = [
    "INDEPENDENT",
    "BaselineParams",
    "BaselineStepConfig",
    "BaselinesConfig",
    "independent_teachers",
    "scratch_budgets",
    "scratch_run_steps",
    "teacher_recipe",
    "teacher_seeds",
    "teacher_steps",
]


def independent_teachers(p: EpisodeParams | None = None) -> list[Path]:
    """The independent teachers' checkpoints of the task's shipped teacher, by seed (``rl.tasks.task_teachers``
    less the shipped one); none for your own teacher."""
    p = p or EpisodeParams()
    return [] if p.teacher_checkpoint is not None else task_teachers(p.env_id)[1:]


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


def scratch_run_steps(p: BaselineParams) -> int:
    """The env steps of each from-scratch run: ``scratch_steps``, or the teacher's budget."""
    return p.scratch_steps if p.scratch_steps is not None else teacher_steps(p)


def scratch_budgets(p: BaselineParams) -> list[int]:
    """The budgets each from-scratch run is read at, ascending: ``scratch_budgets``, or ``rl.dqn_config.budget_grid``."""
    return sorted(p.scratch_budgets) if p.scratch_budgets else budget_grid(scratch_run_steps(p))


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

    scratch_budgets: list[int] | None = param(
        None,
        "env-step budgets at which each from-scratch run is read and tested, each <= its steps "
        "(null: 1000, 3000, 10000, ... up to and including the run's steps)",
        low=1,
        high=10**9,
        unique=True,
        min_len=1,
        max_len=50,
    )

    def check(self) -> None:
        super().check()
        if len(self.scratch_seeds) == 1:
            raise self.fail("scratch_seeds", "needs at least two seeds for an interval (or none)")
        if self.scratch_budgets and self.scratch_steps is not None and max(self.scratch_budgets) > self.scratch_steps:
            raise self.fail("scratch_budgets", f"must each be <= scratch_steps={self.scratch_steps} (a run's length)")

    def check_files(self) -> None:
        super().check_files()
        if shared := sorted(set(self.scratch_seeds) & teacher_seeds(self)):
            raise self.fail("scratch_seeds", f"shares {shared} with the teachers' seeds: a width-64 run would be one")
        if self.scratch_budgets and max(self.scratch_budgets) > (steps := scratch_run_steps(self)):
            raise self.fail("scratch_budgets", f"must each be <= {steps:,}, the from-scratch runs' env steps")


@dataclass(frozen=True)
class BaselineStepConfig(BaselineParams):
    """One step: the independent teachers, or the from-scratch students of one width (set by the runner)."""

    baseline: str = param(
        "teachers", "one step's baseline: teachers or scratch", choices=("teachers", "scratch"), set_by="the runner"
    )
    scratch_width: int = param(
        32,
        "the from-scratch step's width (set by the runner)",
        low=1,
        high=100_000,
        set_by="the runner sets it per width",
    )


@dataclass(frozen=True)
class BaselinesConfig(TaskSourceParams, ComparedWidths, BaselineParams):
    """The baselines run beside the fair comparison: its widths."""
