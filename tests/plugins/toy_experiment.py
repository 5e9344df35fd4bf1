"""A toy experiment, outside the library: proof that an experiment is one module + one notebook + one params block.

It asks a trivial question (the mean of a few seeded draws) but goes through everything a
real experiment does: validated parameters, a record saved by its notebook in a keyed step
folder, a summary in ``results.json``, a section (table, verdict, figure) in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from distill_lib.core.schema import Params, param
from distill_lib.experiments.base import Experiment, Section, Units
from distill_lib.records.record import Record
from distill_lib.report.tables import markdown_table


@dataclass(frozen=True)
class ToyConfig(Params):
    toy_seeds: list[int] = param([0, 1, 2], "seeds of the toy draws", low=0, unique=True)
    toy_scale: float = param(1.0, "scale of the toy draws", low=0.0, low_open=True)


@dataclass(frozen=True)
class ToyRecord(Record):
    seeds: list[int]
    values: list[float]


@dataclass(frozen=True)
class ToySummary(Record):
    mean: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"toy": {"mean": self.mean, "n": self.n}}


def run(config: ToyConfig, folder: Path) -> ToyRecord:
    values = [float(np.random.default_rng(s).normal() * config.toy_scale) for s in config.toy_seeds]
    (folder / "values.txt").write_text("\n".join(map(str, values)))
    return ToyRecord(list(config.toy_seeds), values)


def summarize(config: ToyConfig, records: dict[str, ToyRecord]) -> ToySummary:
    values = records["toy"].values
    return ToySummary(float(np.mean(values)), len(values))


def figure(summary: ToySummary) -> Figure:
    fig = Figure(figsize=(3, 2))
    fig.subplots().bar([0], [summary.mean])
    return fig


def section(summary: ToySummary, others: dict[str, Any]) -> Section:
    table = markdown_table(["n", "mean"], [[summary.n, f"{summary.mean:.4f}"]])
    verdict = f"The toy draws average {summary.mean:.4f} over {summary.n} seeds."
    return Section("A toy question", table + "\n" + verdict, verdict, {"toy_mean.png": lambda: figure(summary)})


EXPERIMENT = Experiment(
    name="toy",
    title="A toy question",
    notebook=Path(__file__).with_name("toy.ipynb"),
    params=ToyConfig,
    record=ToyRecord,
    run=run,
    summarize=summarize,
    section=section,
    units=lambda config: Units({"toy": {}}) if config.toy_seeds else Units({}, reason="no toy seeds given"),
)
