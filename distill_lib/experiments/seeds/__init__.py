"""Beyond one seed: is a difference between objectives real, or one seed's luck?"""

from __future__ import annotations

from ..base import NOTEBOOK_DIR, Experiment
from . import section, step
from .step import SEED_KINDS, SeedKind, SeedRun, SeedsConfig, SeedsRecord, run_seeds
from .summary import SUMMARY_METRICS, SeedsSummary, summarize, summarize_kind

__all__ = [
    "EXPERIMENT",
    "SEED_KINDS",
    "SUMMARY_METRICS",
    "SeedKind",
    "SeedRun",
    "SeedsConfig",
    "SeedsRecord",
    "SeedsSummary",
    "run_seeds",
    "summarize_kind",
]

EXPERIMENT: Experiment[SeedsRecord] = Experiment(
    name="seeds",
    title="Beyond one seed",
    notebook=NOTEBOOK_DIR / "04_seeds.ipynb",
    params=SeedsConfig,
    record=SeedsRecord,
    run=step.run,
    summarize=summarize,
    section=section.section,
    units=step.units,
    reads=lambda config: {"world": "world"} if config.training_seeds else {},
    cost=40.0,  # seconds per step on the project's machine, default study (long steps start first)
)
