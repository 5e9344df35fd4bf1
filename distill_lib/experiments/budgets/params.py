"""The data budgets' parameters: the transfer-set sizes in environment steps, DAgger's rounds, the widths."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.objectives import OBJECTIVES, VARIANTS
from ...core.schema import param
from ...rl.dqn_config import budget_grid, task_recipe
from ...rl.students import ComparedWidths, ProtocolParams
from ...rl.worlds import TaskSourceParams

__all__ = ["BudgetsConfig", "BudgetsParams", "BudgetsStepConfig"]


@dataclass(frozen=True)
class BudgetsParams(ProtocolParams):
    """The environment-step budgets, the objectives trained at each, and DAgger's rounds."""

    budget_steps: list[int] | None = param(
        [1000, 5000],
        "transfer-set sizes in environment steps (of the teacher's own, or DAgger's, episodes); null: 1000, 3000, "
        "10000, ... up to the env steps of the task's DQN recipe (the budget DQN from scratch gets)",
        low=10, high=10_000_000, unique=True, min_len=1, max_len=20,
    )  # fmt: skip
    budget_objectives: list[str] = param(
        list(OBJECTIVES), "the objectives trained at every budget, at the settings the fair comparison selected",
        choices=(*OBJECTIVES, *VARIANTS), unique=True, min_len=1, max_len=20,
    )  # fmt: skip
    dagger_objectives: list[str] = param(
        ["hard"], "the objectives also trained on DAgger's states at every budget (empty: no DAgger)",
        choices=(*OBJECTIVES, *VARIANTS), unique=True, max_len=20,
    )  # fmt: skip
    dagger_rounds: int = param(3, "DAgger rounds after the teacher-driven round 0", low=1, high=20)
    dagger_beta: float = param(
        0.5, "the teacher's share of the actions in round r is dagger_beta ** r", low=0.0, high=1.0
    )

    def budgets(self) -> list[int]:
        """``budget_steps`` ascending, or ``rl.dqn_config.budget_grid`` up to the task recipe's env steps."""
        if self.budget_steps:
            return sorted(self.budget_steps)
        return budget_grid(task_recipe(self.env_id).total_steps)

    def check(self) -> None:
        super().check()
        if extra := sorted(set(self.dagger_objectives) - set(self.budget_objectives)):
            raise self.fail("dagger_objectives", f"{extra} not in budget_objectives: DAgger is compared with them")
        if self.budget_steps and min(self.budget_steps) < 2 * (self.dagger_rounds + 1) and self.dagger_objectives:
            raise self.fail("budget_steps", f"each needs at least {2 * (self.dagger_rounds + 1)} states for DAgger")


@dataclass(frozen=True)
class BudgetsStepConfig(BudgetsParams):
    """One step: one width (set by the runner)."""

    budget_width: int = param(
        8, "one step's student width (set by the runner)", low=1, high=100_000, set_by="the runner sets it per width"
    )


@dataclass(frozen=True)
class BudgetsConfig(TaskSourceParams, ComparedWidths, BudgetsParams):
    """The widths of this experiment: a subset of the fair comparison's (empty: none)."""

    budget_widths: list[int] = param(
        [8], "widths whose data budgets are measured (each also in fair_widths)", low=1, high=100_000, unique=True,
        max_len=100,
    )  # fmt: skip

    def check(self) -> None:
        super().check()
        if self.fair_widths and (extra := sorted(set(self.budget_widths) - set(self.fair_widths))):
            raise self.fail("budget_widths", f"{extra} not in fair_widths: their selected settings would not exist")
