"""The analysis step: every experiment's records, summarised, into ``results.*``, figures and sections.

Run by the analysis notebook (``03_analysis``) with the study's parameters. It plans the
study again from those parameters (``runner.plan``), so it reads exactly the step folders
the runner ran, never a result of other settings; then, for each experiment in the
registry: its records, its summary (``Experiment.summarize``, into ``results.json``), its
section (tables, sentences, figures). A planned step without a record is reported as not
finished; an experiment with no units as not run, with the reason.

Figures are drawn once: an experiment that runs as one step draws its figures in its own
notebook (into its step folder), and they are copied here; the figures of an experiment
made of several steps are drawn here, where all its records are.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..experiments import load_step
from ..experiments.base import Section
from ..records.atomic import atomic_write_json, atomic_write_text, read_json
from ..records.provenance import provenance, timing
from ..report.plots import save_figure
from .plan import Plan, plan_from_params
from .state import SectionEntry, Sections

__all__ = ["Analysis", "analyse", "write_results"]


@dataclass
class Analysis:
    """What the analysis found, per experiment."""

    plan: Plan
    summaries: dict[str, Any] = field(default_factory=dict)  # experiment -> its summary
    sections: dict[str, Section] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # experiment -> step names without a record
    not_run: dict[str, str] = field(default_factory=dict)  # experiment -> why it has no steps
    folders: dict[str, list[Path]] = field(default_factory=dict)  # experiment -> its finished step folders

    @property
    def missing_steps(self) -> list[str]:
        return [name for names in self.missing.values() for name in names]


def analyse(params: dict[str, Any], out_dir: str | os.PathLike[str] | None = None) -> Analysis:
    """Read and summarise every planned step's record (see the module docstring)."""
    plan = plan_from_params(params, out_dir)
    result = Analysis(plan)
    for name, experiment in plan.experiments.items():
        config, units = plan.configs[name], plan.units[name]
        if not units:
            units_plan = experiment.plan_units(config)
            result.not_run[name] = units_plan.note or units_plan.reason
            continue
        records, folders = {}, []
        for unit, label in units.items():
            folder = plan.step(label).folder
            record = load_step(folder, experiment)
            if record is None:
                result.missing.setdefault(name, []).append(label)
            else:
                records[unit], folders = record, [*folders, folder]
        result.folders[name] = folders
        if not records:
            if experiment.section is not None:
                result.sections[name] = Section(
                    experiment.title, "*Not finished: no step of it has a record in this work folder.*", ""
                )
            continue
        summary = experiment.summarize(config, records)
        if summary is None:
            continue
        result.summaries[name] = summary
        if experiment.section is not None:
            result.sections[name] = experiment.section(summary, dict(result.summaries))
    return result


def _figures(analysis: Analysis, out: Path) -> dict[str, list[str]]:
    """Each section's figures in ``out/figures``: copied from its step folder if drawn there, else drawn now."""
    figures_dir = out / "figures"
    made: dict[str, list[str]] = {}
    for name, section in analysis.sections.items():
        made[name] = []
        for file, draw in section.figures.items():
            drawn = [f / file for f in analysis.folders.get(name, []) if (f / file).is_file()]
            if drawn:
                figures_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(drawn[0], figures_dir / file)
            else:
                save_figure(draw(), figures_dir / file)
            made[name].append(file)
    keep = {f for files in made.values() for f in files}
    for stale in figures_dir.glob("*.png") if figures_dir.is_dir() else []:
        if stale.name not in keep:  # a figure of an experiment that no longer runs
            stale.unlink()
    return made


def steps_provenance(analysis: Analysis) -> list[dict[str, Any]]:
    """The distinct ``{commit, dirty, code_hash}`` of the step records the analysis read: this checkout's in a
    plain run; the earlier code's under ``run --analysis-only`` (``runner.reanalysis``)."""
    seen: dict[tuple, dict[str, Any]] = {}
    for folder in (f for folders in analysis.folders.values() for f in folders):
        try:
            made = read_json(Path(folder) / "record.json").get("provenance") or {}
        except (OSError, ValueError, AttributeError):
            continue
        entry = {k: made.get(k) for k in ("commit", "dirty", "code_hash")}
        seen.setdefault(tuple(entry.values()), entry)
    return list(seen.values())


def write_results(analysis: Analysis, started: float | None = None) -> dict[str, Any]:
    """``results.json``, ``results.csv``, ``results.md``, the figures, and the sections for the index (which
    list every file written, for the analysis step's record: ``runner.state.Sections``)."""
    plan, out = analysis.plan, analysis.plan.out_dir
    payload: dict[str, Any] = {}
    for summary in analysis.summaries.values():
        payload.update(summary.to_json())
    if analysis.missing_steps:
        payload["missing_steps"] = analysis.missing_steps
    payload["sections"] = [  # a list: the report's order survives JSON's sorted keys
        {"experiment": name, "title": s.title, "verdict": s.verdict, "headline": s.headline}
        for name, s in analysis.sections.items()
    ]
    payload["provenance"] = {**provenance(), "timing": timing(started), "steps": steps_provenance(analysis)}
    atomic_write_json(out / "results.json", payload)
    written = ["results.json", "results.md"]

    tables = [section.csv for section in analysis.sections.values() if section.csv]
    if tables:
        atomic_write_text(out / "results.csv", tables[0])
        written.append("results.csv")

    md = ["# Distillation objectives: results"]
    for section in analysis.sections.values():
        md.append(f"## {section.title}\n\n{section.text.strip()}")
    for name, why in analysis.not_run.items():
        md.append(f"## {plan.experiments[name].title}\n\n*Not run: {why}.*")
    atomic_write_text(out / "results.md", "\n\n".join(md) + "\n")

    figures = _figures(analysis, out)
    index = [
        SectionEntry(
            experiment=name,
            title=section.title,
            verdict=section.verdict,
            figures=figures.get(name, []),
            steps=list(plan.units.get(name, {}).values()),
            headline=section.headline,
        )
        for name, section in analysis.sections.items()
    ]
    notes = [f"{plan.experiments[n].title}: not run ({why})." for n, why in analysis.not_run.items()]
    written += [f"figures/{f}" for files in figures.values() for f in files]
    sections = Sections(sections=index, notes=notes, files=written)
    atomic_write_json(plan.work_dir / "analysis" / "sections.json", sections.to_json())
    return payload
