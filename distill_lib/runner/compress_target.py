"""What ``distill-study compress`` is asked: the widths to try and the share of the teacher's return to keep.

A width keeps the share when the lower end of the 95% interval of its students' mean return, as a
% of the teacher's, is at least ``100 * keep`` (``kept``; ``runner.compress`` states the protocol).
This module imports no torch: the command's parser reads its defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.schema import Params, param

__all__ = ["CompressTarget"]


@dataclass(frozen=True)
class CompressTarget(Params):
    """What is asked: the widths to try and the share of the teacher's return the student must keep."""

    widths: list[int] = param(
        [32, 16, 8, 4],
        "student widths to try (hidden units per layer)",
        low=1,
        high=100_000,
        unique=True,
        min_len=1,
        max_len=50,
    )
    keep: float = param(
        0.95,
        "share of the teacher's return the 95% interval's lower end must reach",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    all_widths: bool = param(False, "train and measure every width, not only up to the first that keeps the share")

    @property
    def threshold(self) -> float:
        """The bar in return % of the teacher's: ``100 * keep``."""
        return 100.0 * self.keep

    def kept(self, low: float) -> bool:
        """Whether a width whose interval's lower end is ``low`` (return %) keeps the share: ``low >= 100 keep``."""
        return low >= self.threshold
