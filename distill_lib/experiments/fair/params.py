"""The fair comparison's parameters: the objectives, the grid each is tuned over, and the equal tuning budget."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.config import MAX_SEED
from ...core.objectives import OBJECTIVES, VARIANTS, SearchGrid
from ...core.schema import param
from ...rl.students import ComparedWidths, ProtocolParams
from ...rl.worlds import TaskSourceParams

__all__ = ["FairConfig", "FairParams", "FairStepConfig"]


@dataclass(frozen=True)
class FairParams(ProtocolParams):
    """The objectives, their grids, how many candidates each draws, the transfer set, the selection's seeds."""

    fair_objectives: list[str] = param(
        list(OBJECTIVES),
        "the objectives compared, each as its paper defines it (core.objectives; mse_raw and advantage_raw: the "
        "unscaled variants)",
        choices=(*OBJECTIVES, *VARIANTS),
        unique=True,
        min_len=2,
        max_len=20,
    )
    fair_candidates: int = param(
        4, "candidate settings per objective, drawn from its grid: the same number for every objective", low=1, high=500
    )
    fair_search_seed: int = param(0, "seed of the draw of every objective's candidates", low=0, high=MAX_SEED)
    fair_lrs: list[float] = param(
        [3e-4, 1e-3, 3e-3], "learning rates every objective is tuned over", low=0.0, high=1.0, low_open=True,
        unique=True, min_len=1, max_len=20,
    )  # fmt: skip
    fair_steps: list[int] = param(
        [1000, 4000], "gradient-step budgets every objective is tuned over", low=1, high=10_000_000, unique=True,
        min_len=1, max_len=20,
    )  # fmt: skip
    fair_temperatures: list[float] = param(
        [0.1, 1.0, 3.0], "Hinton's temperatures T (hinton, blended)", low=1e-3, high=1000.0, unique=True, min_len=1,
        max_len=20,
    )  # fmt: skip
    fair_taus: list[float] = param(
        [0.01, 0.1, 1.0], "Rusu's temperatures tau of the sharpened teacher (rusu)", low=1e-3, high=1000.0,
        unique=True, min_len=1, max_len=20,
    )  # fmt: skip
    fair_alphas: list[float] = param(
        [0.3, 0.7], "blended's weights of the soft term, each in (0, 1)", low=0.0, high=1.0, unique=True, min_len=1,
        max_len=20,
    )  # fmt: skip
    fair_selection_seeds: list[int] = param(
        [100], "student seeds (under each teacher) that train the candidates; never evaluated", low=0,
        high=MAX_SEED, unique=True, min_len=1, max_len=100,
    )  # fmt: skip
    fair_transfer_steps: int = param(
        5_000, "environment steps of each teacher's transfer set (its epsilon-greedy states)", low=10, high=10_000_000
    )

    def check(self) -> None:
        super().check()
        if any(not 0.0 < a < 1.0 for a in self.fair_alphas):
            raise self.fail("fair_alphas", "each alpha must be in (0, 1): 0 is hard, 1 is hinton, both tried already")
        if shared := sorted(set(self.student_seeds) & set(self.fair_selection_seeds)):
            raise self.fail("student_seeds", f"shares {shared} with fair_selection_seeds; evaluation needs fresh seeds")

    def grid(self) -> SearchGrid:
        return SearchGrid(
            list(self.fair_lrs), list(self.fair_steps), list(self.fair_temperatures), list(self.fair_taus),
            list(self.fair_alphas),
        )  # fmt: skip


@dataclass(frozen=True)
class FairStepConfig(FairParams):
    """One step: one width (set by the runner)."""

    fair_width: int = param(
        32, "one step's student width (set by the runner)", low=1, high=100_000, set_by="the runner sets it per width"
    )


@dataclass(frozen=True)
class FairConfig(TaskSourceParams, ComparedWidths, FairParams):
    """The widths of the fair comparison (an empty list turns it off)."""
