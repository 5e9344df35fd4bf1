"""The alpha x temperature sweep: how agreement and distribution match move over the grid."""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .figures import cell_figure, heatmaps
from .section import cell_sentence, cell_table, verdict
from .step import CELL_METRICS, SweepCell, SweepCellConfig, SweepConfig, cell_name
from .summary import SWEEP_METRICS, SweepSummary, grid, summarize

__all__ = [
    "CELL_METRICS",
    "EXPERIMENT",
    "SWEEP_METRICS",
    "SweepCell",
    "SweepCellConfig",
    "SweepConfig",
    "SweepSummary",
    "cell_figure",
    "cell_name",
    "cell_sentence",
    "cell_table",
    "grid",
    "heatmaps",
    "verdict",
]

EXPERIMENT: Experiment[SweepCell] = Experiment(
    name="sweep",
    title="The alpha x temperature sweep",
    notebook=NOTEBOOK_DIR / "05_sweep.ipynb",
    params=SweepConfig,
    step_params=SweepCellConfig,
    record=SweepCell,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    unit_of=lambda config: cell_name(config.sweep_temperature, config.sweep_loss_fn),
)
