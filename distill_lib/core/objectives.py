"""An objective and its settings: what one student is trained to minimise, as the real-task experiments name it.

The study's three modes (``config.MODES``) are points of one family, ``alpha * KL_T * T^2 +
(1 - alpha) * CE_hard`` (``losses.LOSSES["kl"]``); the real-task experiments name the points
an experimenter would choose between, each with the settings that define it:

- ``hard``: cross-entropy on the teacher's greedy action (alpha 0; no temperature);
- ``soft``: the temperature-scaled KL at ``tau`` (alpha 1; Hinton, Vinyals & Dean 2015);
- ``blended``: ``alpha`` of the soft term at ``tau`` and ``1 - alpha`` of the hard one;
- ``mse``: regression of the teacher's Q-values (``losses.LOSSES["mse"]``; Rusu et al. 2016).

``candidates`` is the grid an experiment selects each objective's settings from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records.record import Record

__all__ = ["OBJECTIVES", "Setting", "candidates"]

#: the objectives compared, in report order
OBJECTIVES = ("hard", "soft", "blended", "mse")


@dataclass(frozen=True)
class Setting(Record):
    """One way to train a student: an objective and its settings (``alpha``, ``temperature``, ``loss_fn``)."""

    objective: str
    alpha: float
    temperature: float
    loss_fn: str

    @property
    def label(self) -> str:
        """``soft, tau = 0.01``; ``blended, alpha = 0.5, tau = 1``; ``hard``; ``mse``."""
        if self.objective == "soft":
            return f"soft, tau = {self.temperature:g}"
        if self.objective == "blended":
            return f"blended, alpha = {self.alpha:g}, tau = {self.temperature:g}"
        return self.objective


def candidates(temperatures: list[float], alphas: list[float]) -> list[Setting]:
    """The selection grid: hard, soft at each tau, blended at each alpha x tau (tau-major), MSE; in tie-break order."""
    temps, alphs = sorted(temperatures), sorted(alphas)
    grid = [Setting("hard", 0.0, 1.0, "kl")]  # alpha 0: the soft term (and so tau) is not computed
    grid += [Setting("soft", 1.0, t, "kl") for t in temps]
    grid += [Setting("blended", a, t, "kl") for t in temps for a in alphs]
    grid.append(Setting("mse", 1.0, 1.0, "mse"))  # MSE on raw Q-values: no temperature, no hard term
    return grid
