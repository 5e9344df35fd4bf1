"""The data-source comparison's parameters: transfer-set sizes, DAgger's rounds, and the widths it runs at."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.schema import param
from ...rl.students import ComparedWidths, SelectionParams
from ...rl.worlds import TaskSourceParams

__all__ = ["SourcesConfig", "SourcesParams", "SourcesStepConfig"]


@dataclass(frozen=True)
class SourcesParams(SelectionParams):
    """The transfer-set sizes and DAgger's rounds."""

    transfer_episodes: list[int] = param(
        [1, 5, 20], "teacher episodes in the buffer, one arm per size", low=1, high=100_000, unique=True, max_len=100
    )
    dagger_rounds: int = param(3, "DAgger rounds after the teacher-driven round 0 (0: no DAgger)", low=0, high=100)
    dagger_beta: float = param(
        0.5, "the teacher's share of the actions in round r is dagger_beta ** r", low=0.0, high=1.0
    )
    dagger_init_episodes: int = param(
        2, "teacher episodes of DAgger's round 0; each round adds as many states", low=1, high=100_000
    )


@dataclass(frozen=True)
class SourcesStepConfig(SourcesParams):
    """One step: one width (set by the runner)."""

    sources_width: int = param(8, "one step's student width (set by the runner)", low=1, high=100_000, set_by="runner")


@dataclass(frozen=True)
class SourcesConfig(TaskSourceParams, ComparedWidths, SourcesParams):
    """The widths of this experiment: a subset of the fair comparison's (empty: none)."""

    sources_widths: list[int] = param(
        [8],
        "widths whose data sources are compared (each also in fair_widths)",
        low=1,
        high=100_000,
        unique=True,
        max_len=100,
    )

    def check(self) -> None:
        super().check()
        if self.fair_widths and (extra := sorted(set(self.sources_widths) - set(self.fair_widths))):
            raise self.fail("sources_widths", f"{extra} not in fair_widths: their selected settings would not exist")
