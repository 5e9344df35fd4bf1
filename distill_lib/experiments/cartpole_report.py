"""The CartPole section's reading: the compression table, fidelity, sentences written from the numbers, figures.

Split from ``cartpole`` (which runs the section) to keep one concept per module. Every
sentence is conditioned on the numbers: a ranking is stated with its ties, "the leaders
differ" only when the best objective by one measure is not the best by the other, and
the comparison with the synthetic teacher only when the original comparison ran.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats
from matplotlib.figure import Figure

from ..report.plots import mode_color
from ..report.tables import ci_text, markdown_table
from .base import Section

if TYPE_CHECKING:
    from .cartpole import CartpoleSummary

__all__ = [
    "RUSU_PARAMS_PCT",
    "RUSU_SCORE_PCT",
    "compression_table",
    "fidelity_table",
    "figure_fidelity",
    "figure_returns",
    "interpretation",
    "rank_modes",
    "section",
]

#: Rusu et al. 2016's compression result: students at 4-25% of the teacher's parameters ...
RUSU_PARAMS_PCT = (4.0, 25.0)
#: ... reached 84-108% of its score
RUSU_SCORE_PCT = (84.0, 108.0)
#: CartPole-v1's "solved" threshold
SOLVED_RETURN = 475.0
_LABELS = {
    "action_agreement": "held-out agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "regret": "regret (teacher Q)",
}


def compression_table(summary: CartpoleSummary) -> str:
    """Markdown: width, parameters, % of the teacher's, return % of the teacher per mode.

    The analogue of Rusu et al. (2016)'s compression table; returns are seed means with
    their 95% bootstrap CI over seeds when there are two or more seeds.
    """
    modes, teacher = summary.modes, summary.teacher
    ci = " [95% CI]" if summary.n_seeds >= 2 else ""
    header = ["network", "parameters", "% of teacher's parameters", *(f"{m} return, % of teacher{ci}" for m in modes)]
    rows = [[f"teacher (width {teacher['hidden']})", f"{teacher['params']:,}", "100.0", *("100.0" for _ in modes)]]
    for width in summary.widths:
        first = summary.row(width, modes[0])
        cells = [ci_text(summary.row(width, m)["return_pct"], 1) for m in modes]
        rows.append([f"student width {width}", f"{first['params']:,}", f"{first['params_pct']:.1f}", *cells])
    return markdown_table(header, rows, align="lrr" + "r" * len(modes))


def fidelity_table(summary: CartpoleSummary) -> str:
    """Markdown: held-out agreement, probability similarity (T = 1) and regret per width and mode."""
    header = ["width", "mode", "held-out agreement", "prob. similarity (T = 1)", "regret (teacher Q)"]
    rows = [
        [
            row["width"],
            row["mode"],
            ci_text(row["action_agreement"], 3),
            ci_text(row["prob_similarity_t1"], 3),
            ci_text(row["regret"], 4),
        ]
        for row in summary.rows
    ]
    return markdown_table(header, rows, align="rlrrr")


def rank_modes(values: dict[str, float], digits: int) -> list[list[str]]:
    """Modes from highest to lowest value, grouped where equal after rounding to ``digits``.

    ``{"a": 0.91, "b": 0.95, "c": 0.9504}`` with 3 digits -> ``[["b", "c"], ["a"]]``
    (ties keep the input order).
    """
    groups: list[list[str]] = []
    for mode in sorted(values, key=lambda m: -round(values[m], digits)):
        if groups and round(values[groups[-1][0]], digits) == round(values[mode], digits):
            groups[-1].append(mode)
        else:
            groups.append([mode])
    return groups


def _ranking_text(groups: list[list[str]], values: dict[str, float], fmt: str) -> str:
    if len(groups) == 1 and len(groups[0]) > 1:
        return f"a tie between all modes ({fmt.format(values[groups[0][0]])})"
    return " > ".join(" = ".join(f"{m} ({fmt.format(values[m])})" for m in group) for group in groups)


def _spread_text(pcts: list[float]) -> str:
    lo, hi = min(pcts), max(pcts)
    return f"{lo:.1f}%" if round(lo, 1) == round(hi, 1) else f"{lo:.1f}-{hi:.1f}%"


def interpretation(summary: CartpoleSummary, synthetic_rows: list[Any] | None = None) -> str:
    """A few sentences on the CartPole results, written from the numbers (Markdown).

    ``synthetic_rows``: the original comparison's table rows (``comparison.ResultRow``), to
    compare the modes' ranking on the synthetic teacher with the ranking here; None or
    empty says it is absent.
    """
    modes, teacher, width = summary.modes, summary.teacher, summary.compare_width
    n = summary.n_seeds
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    parts = [
        f"The teacher (width {teacher['hidden']}, {teacher['params']:,} parameters) returns {teacher['return_mean']:.1f} "
        f"on average over {teacher['episodes']} test episodes (95% CI [{teacher['return_ci'][0]:.1f}, "
        f"{teacher['return_ci'][1]:.1f}]; 500 is the maximum, {SOLVED_RETURN:g} counts as solved)."
    ]

    # the modes at the comparison width: return and agreement rankings
    ret = {m: summary.row(width, m)["return_pct"]["mean"] for m in modes}
    agree = {m: summary.row(width, m)["action_agreement"]["mean"] for m in modes}
    by_return, by_agree = rank_modes(ret, 1), rank_modes({m: 100 * v for m, v in agree.items()}, 1)
    pct = summary.row(width, modes[0])["params_pct"]
    parts.append(
        f"At width {width} ({pct:.1f}% of the teacher's parameters; means over {seeds}), the modes rank by "
        f"closed-loop return as {_ranking_text(by_return, ret, '{:.1f}%')} of the teacher's, and by held-out "
        f"agreement as {_ranking_text(by_agree, agree, '{:.1%}')}."
    )
    if by_return == by_agree:
        parts.append("The two rankings are the same.")
    elif not set(by_return[0]) & set(by_agree[0]):
        parts.append(
            "The leaders differ: the objective whose student copies the teacher's action most often is not "
            "the one whose student earns the most return."
        )
    else:
        shared = " = ".join(m for m in by_return[0] if m in by_agree[0])
        parts.append(f"Both rankings put {shared} first (ties included) but order the others differently.")
    for metric, label in (("return_pct", "return (% of the teacher's)"), ("action_agreement", "held-out agreement")):
        verdicts = [c["verdict"] for c in summary.pairs.get(metric, {}).values()]
        found = [v for v in verdicts if not v.startswith("no detectable")]
        if verdicts and not found:
            parts.append(f"Paired over seeds, no two modes differ detectably in {label} at width {width}.")
        parts.extend(f"Paired over seeds, {label[0].lower()}{label[1:]}: {v}." for v in found)
    if 2 <= n < 6:
        parts.append(
            f"With {n} seeds the sign-flip test's smallest possible p-value is {2 / 2**n:.3g}, so no difference "
            "can reach p < 0.05 whatever its size: a verdict needs more seeds."
        )
    if n < 2:
        parts.append("With one seed there is no interval and no paired test; differences may be noise.")

    # compression, against Rusu et al. (2016)
    rows = summary.rows
    best = []
    for w in summary.widths:
        returns = {m: summary.row(w, m)["return_pct"]["mean"] for m in modes}
        top = rank_modes(returns, 1)[0]
        who = "all modes tie" if len(top) == len(modes) > 1 else " = ".join(top)
        best.append(f"width {w}: {who} ({returns[top[0]]:.1f}%)")
    parts.append("Best mode by return at each width: " + "; ".join(best) + ".")
    inside = [r for r in rows if RUSU_PARAMS_PCT[0] <= r["params_pct"] <= RUSU_PARAMS_PCT[1]]
    below = [r for r in rows if r["params_pct"] < RUSU_PARAMS_PCT[0]]
    rusu = (
        f"Rusu et al. (2016) report students with {RUSU_PARAMS_PCT[0]:g}-{RUSU_PARAMS_PCT[1]:g}% of the teacher's "
        f"parameters reaching {RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of its score (Atari); "
    )
    if inside:
        widths = sorted({r["width"] for r in inside}, reverse=True)
        pcts = [r["return_pct"]["mean"] for r in inside]
        n_out = sum(not RUSU_SCORE_PCT[0] <= v <= RUSU_SCORE_PCT[1] for v in pcts)
        where = "all within that range" if n_out == 0 else f"{n_out} of {len(pcts)} width x mode cells outside it"
        rusu += (
            f"here the students in that range (width {', '.join(map(str, widths))}) reach {_spread_text(pcts)} of "
            f"the teacher's return over the modes, {where}."
        )
    else:
        rusu += "no student width here falls in that parameter range."
    parts.append(rusu)
    if below:
        widths = sorted({r["width"] for r in below}, reverse=True)
        parts.append(
            f"Smaller still (width {', '.join(map(str, widths))}, under {RUSU_PARAMS_PCT[0]:g}% of the parameters), "
            f"students reach {_spread_text([r['return_pct']['mean'] for r in below])}."
        )
    if len(rows) >= 3:
        x = [r["action_agreement"]["mean"] for r in rows]
        y = [r["return_pct"]["mean"] for r in rows]
        if len(set(x)) > 1 and len(set(y)) > 1:
            rho = float(scipy.stats.spearmanr(x, y).statistic)
            parts.append(
                f"Across the {len(rows)} width x mode cells, held-out agreement and return have Spearman "
                f"correlation {rho:+.2f}."
            )
        else:
            parts.append(f"{'Return' if len(set(y)) == 1 else 'Agreement'} is the same in every width x mode cell.")

    # synthetic vs CartPole ranking
    common = [m for m in modes if any(r.mode == m for r in synthetic_rows or [])]
    if not common:
        parts.append("The synthetic teacher's table is absent, so its ranking of the modes cannot be compared here.")
    else:
        syn = {r.mode: r.final_action_agreement for r in synthetic_rows if r.mode in common}
        syn_sim = {r.mode: r.final_prob_similarity_t1 for r in synthetic_rows if r.mode in common}
        syn_rank = rank_modes({m: 100 * v for m, v in syn.items()}, 1)
        here_agree = rank_modes({m: 100 * agree[m] for m in common}, 1)
        here_return = rank_modes({m: ret[m] for m in common}, 1)
        here_sim = {m: summary.row(width, m)["prob_similarity_t1"]["mean"] for m in common}
        syn_sim_rank, here_sim_rank = rank_modes(syn_sim, 3), rank_modes(here_sim, 3)

        def same(other: list[list[str]]) -> str:
            if other == syn_rank:
                return "the same order"
            if other[0] == syn_rank[0]:
                return f"a different order with the same leader ({' = '.join(other[0])})"
            return "a different order"

        parts.append(
            f"On the synthetic teacher (the study's main table) the modes rank by agreement as "
            f"{_ranking_text(syn_rank, syn, '{:.1%}')}; on CartPole at width {width}, held-out agreement gives "
            f"{same(here_agree)} and closed-loop return {same(here_return)}. By probability similarity at T = 1 "
            f"the synthetic teacher gives {_ranking_text(syn_sim_rank, syn_sim, '{:.3f}')} and CartPole "
            f"{_ranking_text(here_sim_rank, here_sim, '{:.3f}')}: "
            f"{'the same order' if syn_sim_rank == here_sim_rank else 'different orders'}."
        )
        if len(common) < len(modes):
            parts.append(f"The synthetic table lacks {', '.join(m for m in modes if m not in common)}.")
    return " ".join(parts)


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------


def _errorbars(ax: Any, summary: CartpoleSummary, metric: str, scale: float = 1.0) -> None:
    """One line per mode against % of the teacher's parameters (log x), CI as error bars."""
    modes = summary.modes
    for i, mode in enumerate(modes):
        rows = sorted((r for r in summary.rows if r["mode"] == mode), key=lambda r: r["params_pct"])
        x = np.array([r["params_pct"] for r in rows]) * (1.0 + 0.04 * (i - (len(modes) - 1) / 2))  # dodge
        y = np.array([r[metric]["mean"] for r in rows]) * scale
        has_ci = all(r[metric]["low"] is not None for r in rows)
        err = (
            np.array([[r[metric]["mean"] - r[metric]["low"], r[metric]["high"] - r[metric]["mean"]] for r in rows]).T
            * scale
            if has_ci
            else None
        )
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=mode, color=mode_color(mode))
    ticks = sorted({(r["params_pct"], r["width"]) for r in summary.rows})
    ax.set_xscale("log")
    ax.set_xticks([t for t, _ in ticks], [f"{t:.1f}%\n(w {w})" for t, w in ticks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("student parameters, % of the teacher's (width)")


def figure_returns(summary: CartpoleSummary) -> Figure:
    """Closed-loop return (% of the teacher's) against student size, per mode, with 95% CIs.

    The shaded box is Rusu et al. (2016)'s compression result (4-25% of the parameters,
    84-108% of the score).
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(
        RUSU_PARAMS_PCT, *RUSU_SCORE_PCT, color="#bbbbbb", alpha=0.3, lw=0, label="Rusu et al. 2016 (Atari)"
    )
    ax.axhline(100.0, color="#444444", lw=0.8, ls="--", label="teacher")
    _errorbars(ax, summary, "return_pct")
    n = summary.n_seeds
    ax.set(
        ylabel="return, % of the teacher's",
        title=f"CartPole closed-loop return ({summary.teacher['episodes']} episodes; mean over {n} seed{'s' * (n != 1)})",
    )
    ax.legend(fontsize=8)
    return fig


def figure_fidelity(summary: CartpoleSummary) -> Figure:
    """Held-out agreement, probability similarity (T = 1) and regret against student size, per mode."""
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, ("action_agreement", "prob_similarity_t1", "regret"), strict=True):
        _errorbars(ax, summary, metric)
        ax.set_title(_LABELS[metric])
    axes[0].legend(fontsize=8)
    n_held = summary.buffer.get("n_held_out")
    fig.suptitle(f"Fidelity on held-out teacher states{f' ({n_held} states)' if n_held else ''}")
    return fig


def section(summary: CartpoleSummary, others: dict[str, Any] | None = None) -> Section:
    """The compression and fidelity tables, the sentences, and the two figures."""
    comparison = (others or {}).get("comparison")
    rows = comparison.results if comparison is not None else None
    said = interpretation(summary, rows)
    text = compression_table(summary) + "\n" + fidelity_table(summary) + "\n" + said
    figures = {
        "cartpole_returns.png": lambda: figure_returns(summary),
        "cartpole_fidelity.png": lambda: figure_fidelity(summary),
    }
    return Section("A real teacher: CartPole", text, said, figures)
