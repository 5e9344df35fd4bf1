"""The objectives as their papers define them, each with its settings, and the grid each is tuned over.

What one student is trained to minimise, named as an experimenter would choose between them.
Each is one entry of ``losses.LOSSES`` read through the run's ``q_targets`` (how the teacher's
Q-values are put on a scale before any loss reads them):

=============  ===========  ===============  =============================================================
objective      loss_fn      q_targets        what it minimises (source)
=============  ===========  ===============  =============================================================
hard           kl, alpha 0  raw              cross-entropy on the teacher's greedy action (the "hard target")
hinton         kl, alpha 1  raw              ``KL(softmax(q/T) || softmax(s/T)) * T^2`` (Hinton, Vinyals &
                                             Dean 2015)
blended        kl           raw              ``alpha * hinton + (1 - alpha) * hard`` (the seed note's)
rusu           rusu_kl      raw              ``KL(softmax(q/tau) || softmax(s))``: the teacher sharpened,
                                             the student at T = 1, no T^2 (Rusu et al. 2016, "Policy
                                             Distillation")
mse            mse          standardized     MSE on the teacher's Q-values standardised by the buffer's
                                             mean and std (Rusu et al.'s MSE, on a scale a network can fit)
advantage      mse          centered_scaled  MSE on per-state centred Q-values ``q - mean_a q``
                                             (advantages) divided by their standard deviation on the
                                             buffer: advantages on a unit scale
mse_raw        mse          raw              MSE on the raw Q-values: the labelled unscaled variant
advantage_raw  mse          centered         MSE on the unscaled advantages: the labelled variant, as
                                             small as the teacher's action gaps (the full grids committed
                                             on 2026-12-06 ran it under the name "advantage")
=============  ===========  ===============  =============================================================

Every objective is tuned the same way: its candidates are drawn from its own grid (its own
settings - tau, alpha - crossed with the optimiser's: learning rate and number of gradient
steps) without replacement, the same number for every objective, with a seeded generator
(``candidates``): random search (Bergstra & Bengio 2012) at an equal budget. An objective whose
grid is smaller than the budget is tried on its whole grid.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np

from ..records.record import Record

__all__ = ["OBJECTIVES", "VARIANTS", "SearchGrid", "Setting", "candidates", "search_space"]

#: the objectives compared, in report order (each as its paper defines it)
OBJECTIVES = ("hard", "hinton", "blended", "rusu", "mse", "advantage")
#: labelled variants that may join a comparison but are never "the" objective of their family
VARIANTS = ("mse_raw", "advantage_raw")

#: objective -> (loss_fn, q_targets, which of its own settings it has)
_DEFINITION = {
    "hard": ("kl", "raw", ()),
    "hinton": ("kl", "raw", ("temperature",)),
    "blended": ("kl", "raw", ("alpha", "temperature")),
    "rusu": ("rusu_kl", "raw", ("temperature",)),
    "mse": ("mse", "standardized", ()),
    "advantage": ("mse", "centered_scaled", ()),
    "mse_raw": ("mse", "raw", ()),
    "advantage_raw": ("mse", "centered", ()),
}


@dataclass(frozen=True)
class Setting(Record):
    """One way to train a student: an objective and every setting that defines its run."""

    objective: str
    alpha: float  # weight of the soft term: 0 hard, 1 soft-only objectives, in (0, 1) blended
    temperature: float  # Hinton's T, Rusu's tau (1, unused, for the others)
    loss_fn: str  # losses.LOSSES key
    q_targets: str  # raw | standardized | centered | centered_scaled
    lr: float  # Adam's learning rate
    steps: int  # gradient steps (a budget, whatever the transfer set's size)

    @property
    def label(self) -> str:
        """``hard (lr 0.001, 3,000 steps)``; ``rusu, tau = 0.01 (lr 0.003, 10,000 steps)``."""
        own = []
        if self.objective == "blended":
            own.append(f"alpha = {self.alpha:g}")
        if self.objective in ("hinton", "blended"):
            own.append(f"T = {self.temperature:g}")
        if self.objective == "rusu":
            own.append(f"tau = {self.temperature:g}")
        head = ", ".join([self.objective, *own])
        return f"{head} (lr {self.lr:g}, {self.steps:,} steps)"

    @property
    def settings(self) -> str:
        """The label without the objective's name: what was selected for it."""
        return self.label.split(" (", 1)[0].partition(", ")[2] or "-"


@dataclass(frozen=True)
class SearchGrid(Record):
    """The values every candidate is drawn from: the optimiser's (every objective's) and the objectives' own."""

    lrs: list[float]
    steps: list[int]
    temperatures: list[float]  # T for hinton and blended
    taus: list[float]  # tau for rusu
    alphas: list[float]  # blended's alpha, each in (0, 1)


def search_space(objective: str, grid: SearchGrid) -> list[Setting]:
    """Every setting of ``objective`` on ``grid``, in a fixed order (own settings first, then lr, then steps)."""
    if objective not in _DEFINITION:
        raise ValueError(f"objective={objective!r}: must be one of {', '.join((*OBJECTIVES, *VARIANTS))}")
    loss_fn, q_targets, own = _DEFINITION[objective]
    alphas = grid.alphas if "alpha" in own else [{"hard": 0.0}.get(objective, 1.0)]
    temps = (grid.taus if objective == "rusu" else grid.temperatures) if "temperature" in own else [1.0]
    return [
        Setting(objective, float(a), float(t), loss_fn, q_targets, float(lr), int(s))
        for a, t, lr, s in itertools.product(sorted(alphas), sorted(temps), sorted(grid.lrs), sorted(grid.steps))
    ]


def candidates(objective: str, grid: SearchGrid, n: int, seed: int) -> list[Setting]:
    """``n`` settings of ``objective`` drawn without replacement from its search space (all of it if smaller).

    The draw depends on ``seed`` and the objective's name only, so adding an objective to a study
    changes no other objective's candidates; the result keeps the search space's order.
    """
    space = search_space(objective, grid)
    if n >= len(space):
        return space
    rng = np.random.default_rng([seed, zlib.crc32(objective.encode())])
    chosen = sorted(rng.choice(len(space), size=n, replace=False).tolist())
    return [space[i] for i in chosen]
