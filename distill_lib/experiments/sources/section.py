"""The data-source comparison as the report shows it: returns and agreement per arm, the sentences, the figure."""

from __future__ import annotations

from typing import Any

from ...report.stats import difference_phrase
from ...report.tables import ci_text, markdown_table
from ..base import Section
from .figures import figure_sizes
from .summary import DAGGER_FAMILY, SMALL_DATA_FAMILY, SourcesSummary

__all__ = ["agreement_table", "returns_table", "section", "small_data_sentence", "width_sentences"]


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
