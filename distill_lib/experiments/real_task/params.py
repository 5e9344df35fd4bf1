"""The real-task section's parameters: widths, seeds, the objectives at the study's fixed T and alpha."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.config import (
    MAX_SEED,
    MODES,
    AlphaParams,
    DeviceParams,
    ObjectiveParams,
    RunConfig,
    ScheduleParams,
    StudentKindParams,
    alpha_for,
)
from ...core.schema import param
from ...rl.episodes import BufferParams, EpisodeParams
from ...rl.worlds import TaskSourceParams

__all__ = ["RealTaskConfig", "RealTaskStudyConfig"]


@dataclass(frozen=True)
class RealTaskConfig(
    StudentKindParams, DeviceParams, AlphaParams, ScheduleParams, ObjectiveParams, EpisodeParams, BufferParams
):
    """Widths, seeds and episodes of the real-task section (an empty width list turns it off)."""

    real_task_widths: list[int] = param(
        [32, 16, 8, 4],
        "student hidden widths distilled from the real task's teacher (empty: no section)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )
    real_task_seeds: list[int] = param(
        [0, 1, 2, 3, 4, 5],
        "student seeds of the real-task section",
        low=0,
        high=MAX_SEED,
        unique=True,
        max_len=1000,
    )

    def check(self) -> None:
        super().check()
        if not 0.0 < self.alpha < 1.0:
            raise self.fail("alpha", "the blended objective's alpha must be in (0, 1) (0 is hard_only, 1 soft_only)")
        if self.real_task_widths and not self.real_task_seeds:
            raise self.fail("real_task_seeds", "needs at least one seed when real_task_widths is given")

    def mode_alphas(self) -> dict[str, float]:
        """The three objectives and their alpha, in increasing alpha: blended takes ``alpha``."""
        return {mode: alpha_for(mode, self.alpha) for mode in MODES}

    def student_configs(self, width: int, n_states: int) -> list[RunConfig]:
        """Seed-major, modes in increasing alpha: the order of one width's batched call."""
        run = {k: v for k, v in self.to_dict().items() if k in RunConfig.specs()}
        sizes = {
            "input_dim": self.task.obs_dim,
            "output_dim": self.task.n_actions,
            "teacher_hidden": self.teacher_width,
        }
        return [
            RunConfig.from_params(
                {
                    **run,
                    **sizes,
                    "seed": seed,
                    "mode": mode,
                    "alpha": alpha,
                    "student_hidden": width,
                    "n_states": n_states,
                }
            )
            for seed in self.real_task_seeds
            for mode, alpha in self.mode_alphas().items()
        ]


@dataclass(frozen=True)
class RealTaskStudyConfig(TaskSourceParams, RealTaskConfig):
    """The section's parameters and the study's source (it does not apply to a user's own teacher file)."""
