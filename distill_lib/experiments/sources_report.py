"""The data-source comparison's summary (``results.json``'s ``sources``), tests, sentences and figure.

Per width, two families of paired tests (by seed: a seed's students share their
initialisation), each Holm-corrected:

* *DAgger vs the teacher's states at equal size*: per objective, test return of the DAgger
  student minus the student trained on as many teacher-driven states.
* *Soft targets with little data* (Hinton et al. 2015): per objective other than hard, the
  difference-in-differences ``(obj - hard)`` at the smallest transfer set minus
  ``(obj - hard)`` at the largest, on test return; positive means the objective's advantage
  over hard targets is larger with little data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ..records.record import Record
from ..report.stats import comparison_record, difference_phrase, holm_family, mean_ci, paired_difference
from ..report.tables import ci_text, markdown_table
from .base import Section
from .fair_figures import objective_color

if TYPE_CHECKING:
    from .sources import SourcesRecord

__all__ = [
    "SourcesSummary",
    "figure_sizes",
    "section",
    "small_data_sentence",
    "summarize_record",
    "summarize_records",
    "width_sentences",
]

OBJECTIVES = ("hard", "soft", "blended", "mse")
DAGGER_FAMILY = "DAgger vs teacher-driven states of equal size, per objective, on test return"
SMALL_DATA_FAMILY = "each objective's advantage over hard: smallest minus largest transfer set, on test return"


@dataclass(frozen=True)
class SourcesSummary(Record):
    """Per width: every arm x objective with intervals, and the two families of tests."""

    widths: list[dict[str, Any]]
    missing: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"sources": {"widths": self.widths, "missing": self.missing}}


def _values(record: SourcesRecord, arm: str, objective: str, metric: str) -> np.ndarray:
    by_seed = {
        r.seed: (r.return_pct if metric == "return_pct" else r.own_agreement if metric == "own" else r.held_out[metric])
        for r in record.runs
        if r.arm == arm and r.objective == objective
    }
    return np.array([by_seed[s] for s in sorted(by_seed)])


def _cell(values: np.ndarray) -> dict[str, Any]:
    return dict(mean_ci(values).__dict__) | {"values": values.tolist()} if len(values) > 1 else {"mean": values[0]}


def summarize_record(record: SourcesRecord) -> dict[str, Any]:
    """One width: cells per (arm, objective), and both families of tests."""
    objectives = [o for o in OBJECTIVES if o in record.selected]
    episodes = {a: int(a.split()[1]) for a in record.sizes if a.startswith("teacher, ") and a != "teacher, same size"}
    transfer = sorted(episodes, key=episodes.get)  # by size (JSON returns the keys sorted by name)
    arms = transfer + [a for a in ("DAgger", "teacher, same size") if a in record.sizes]
    cells = {
        arm: {
            obj: {
                "return_pct": _cell(_values(record, arm, obj, "return_pct")),
                "action_agreement": _cell(_values(record, arm, obj, "action_agreement")),
                "own_agreement": _cell(_values(record, arm, obj, "own")),
            }
            for obj in objectives
        }
        for arm in arms
    }
    dagger: dict[str, Any] = {}
    if "DAgger" in record.sizes:
        compared = [
            paired_difference(
                _values(record, "DAgger", o, "return_pct"), _values(record, "teacher, same size", o, "return_pct")
            )
            for o in objectives
        ]
        family = holm_family(compared, f"{DAGGER_FAMILY}, width {record.width}")
        dagger = {
            f"{o}: DAgger - teacher-driven states": comparison_record(
                c, f"{o} DAgger", f"{o} teacher-driven", 1.0, "points"
            )
            for o, c in zip(objectives, family)
        }
    small_data: dict[str, Any] = {}
    if len(transfer) >= 2 and "hard" in objectives:
        small, large = transfer[0], transfer[-1]

        def gap(arm: str, obj: str) -> np.ndarray:
            return _values(record, arm, obj, "return_pct") - _values(record, arm, "hard", "return_pct")

        others = [o for o in objectives if o != "hard"]
        compared = [paired_difference(gap(small, o), gap(large, o)) for o in others]
        family = holm_family(compared, f"{SMALL_DATA_FAMILY}, width {record.width}")
        small_data = {
            o: comparison_record(c, small, large, 1.0, "points")
            | {
                "small": episodes[small],
                "large": episodes[large],
                "lead_small": float(gap(small, o).mean()),  # the objective's lead over hard, points
                "lead_large": float(gap(large, o).mean()),
            }
            for o, c in zip(others, family)
        }
    return {
        "width": record.width,
        "n_seeds": len({r.seed for r in record.runs}),
        "selected": {o: s.label for o, s in record.selected.items()},
        "arms": [{"arm": a, "n_states": record.sizes[a], "episodes": episodes.get(a)} for a in arms],
        "dagger_design": record.dagger,
        "objectives": objectives,
        "cells": cells,
        "dagger": dagger,
        "small_data": small_data,
    }


def summarize_records(records: list[SourcesRecord], missing: list[str]) -> SourcesSummary:
    return SourcesSummary([summarize_record(r) for r in sorted(records, key=lambda r: -r.width)], missing)


def returns_table(width: dict[str, Any]) -> str:
    """Markdown: test return % [95% CI] per data arm (rows) and objective (columns), with the buffer size."""
    objs = width["objectives"]
    rows = [
        [a["arm"], f"{a['n_states']:,}"] + [ci_text(width["cells"][a["arm"]][o]["return_pct"], 1) for o in objs]
        for a in width["arms"]
    ]
    header = ["states from", "labelled states"] + [f"{o} ({width['selected'][o]})" for o in objs]
    return markdown_table(header, rows, align="lr" + "r" * len(objs))


def agreement_table(width: dict[str, Any]) -> str:
    """Markdown: agreement with the teacher on its held-out states / on the student's own states, per arm."""
    objs = width["objectives"]

    def pair(cell: dict[str, Any]) -> str:
        return f"{cell['action_agreement']['mean']:.3f} / {cell['own_agreement']['mean']:.3f}"

    rows = [[a["arm"]] + [pair(width["cells"][a["arm"]][o]) for o in objs] for a in width["arms"]]
    return markdown_table(["states from"] + [f"{o}: teacher's / own states" for o in objs], rows, "l" + "r" * len(objs))


def _found(tests: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, c) for k, c in tests.items() if not c["verdict"].startswith("no detectable")]


def width_sentences(width: dict[str, Any]) -> str:
    """The width's findings on DAgger and on small transfer sets, each conditioned on its tests."""
    parts = []
    w, n = width["width"], width["n_seeds"]
    if width["dagger"]:
        design = width["dagger_design"]
        size = next(a["n_states"] for a in width["arms"] if a["arm"] == "DAgger")
        rounds = f"{design['rounds']} round{'s' * (design['rounds'] != 1)}"
        head = (
            f"At width {w} ({n} seeds), DAgger ({rounds} of {design['states_per_round']:,} states, the "
            f"teacher's share of the actions {', '.join(f'{b:g}' for b in design['betas'])}) against the teacher's own "
            f"states at the same {size:,} labelled states"
        )
        found = _found(width["dagger"])
        m = len(width["dagger"])
        if found:
            said = "; ".join(difference_phrase(k.split(": ")[1], c, 1.0, " points", 3) + f" for {k.split(':')[0]}"
                             for k, c in found)  # fmt: skip
            rest = [k.split(":")[0] for k in width["dagger"] if k not in dict(found)]
            if rest:
                said += f"; no detectable difference for {', '.join(rest)}"
            parts.append(f"{head}: {said} (Holm over {m} objectives).")
        else:
            parts.append(f"{head}: no detectable difference in test return for any objective (Holm over {m}).")
    if width["small_data"]:
        parts.append(small_data_sentence(width["small_data"]))
    return " ".join(parts)


def small_data_sentence(tests: dict[str, Any]) -> str:
    """Hinton et al.'s claim, read from each objective's lead over hard targets on the smallest and largest sets.

    The claim holds for an objective only where its lead shrinks with more data *and* it leads
    hard targets on the smallest set; a lead that grows from negative to less negative says
    that hard targets gain more from data, not that the objective is better with little.
    """
    first = next(iter(tests.values()))
    small, large, m = first["small"], first["large"], len(tests)
    head = (
        f"Hinton et al.'s small-data claim (soft targets matter most with little data), as each objective's lead over "
        f"hard targets on {small} teacher episode{'s' * (small != 1)} against on {large} (paired by seed, Holm over {m})"
    )
    said = []
    for obj, c in tests.items():
        lead = f"{c['lead_small']:+.1f} vs {c['lead_large']:+.1f} points"
        if c["verdict"].startswith("no detectable"):
            said.append(f"{obj} {lead}, no detectable change")
        elif c["difference"]["mean"] > 0 and c["lead_small"] > 0:
            said.append(f"{obj} {lead}: it leads with little data and less with more ({c['p_text']}), as claimed")
        elif c["difference"]["mean"] > 0:
            said.append(f"{obj} {lead}: it trails hard targets less with little data ({c['p_text']}), but never leads")
        else:
            said.append(f"{obj} {lead}: its lead grows with data ({c['p_text']}), against the claim")
    supported = [o for o, c in tests.items() if c["lead_small"] > 0 and c["difference"]["mean"] > 0
                 and not c["verdict"].startswith("no detectable")]  # fmt: skip
    verdict = f"these seeds support it for {', '.join(supported)}" if supported else "these seeds do not support it"
    return f"{head}: {'; '.join(said)}; {verdict}."


def figure_sizes(summary: SourcesSummary) -> Figure:
    """Test return vs teacher episodes in the buffer, per objective; DAgger and its equal-size control as markers."""
    widths = summary.widths
    fig = Figure(figsize=(max(6.4, 1.0 + 4.2 * len(widths)), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths), sharey=True))
    for ax, width in zip(axes, widths, strict=True):
        sizes = {a["arm"]: a["n_states"] for a in width["arms"]}
        transfer = [a["arm"] for a in width["arms"] if a["episodes"] is not None]
        x = [sizes[a] for a in transfer]
        for obj in width["objectives"]:
            mean = [width["cells"][a][obj]["return_pct"]["mean"] for a in transfer]
            ax.plot(x, mean, "o-", color=objective_color(obj), label=obj, lw=1.6, ms=4)
            if "DAgger" in sizes:
                for arm, marker in (("DAgger", "*"), ("teacher, same size", "s")):
                    ax.plot(sizes[arm], width["cells"][arm][obj]["return_pct"]["mean"], marker,
                            color=objective_color(obj), ms=9 if marker == "*" else 5, mfc="white" if marker == "s" else None)  # fmt: skip
        ax.set_xscale("log")
        ax.axhline(100.0, color="#444444", lw=0.8, ls="--")
        ax.set(xlabel="labelled states (teacher episodes: circles)", title=f"width {width['width']}")
    axes[0].set_ylabel("test return, % of the teacher's (seed mean)")
    axes[0].legend(fontsize=8, title="star: DAgger; square: teacher, same size", title_fontsize=7)
    return fig


def section(summary: SourcesSummary, others: dict[str, Any] | None = None) -> Section:
    title = "Where the states come from: transfer-set size and DAgger"
    if not summary.widths:
        return Section(title, "Not finished: " + ", ".join(summary.missing), "")
    lines = []
    for width in summary.widths:
        lines += [returns_table(width), "", agreement_table(width), "", width_sentences(width), ""]
    lines.append(
        "Each objective at the settings the fair comparison selected for the width; students of the same seed share "
        "their initialisation. Tests: two-sided sign-flip tests by seed, Holm-corrected per width within each family "
        f"({DAGGER_FAMILY}; {SMALL_DATA_FAMILY}); 95% t-intervals."
    )
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    verdict = " ".join(width_sentences(w) for w in summary.widths)
    return Section(title, "\n".join(lines), verdict, {"sources_sizes.png": lambda: figure_sizes(summary)})
