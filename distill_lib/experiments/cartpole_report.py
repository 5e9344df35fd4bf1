"""The real-task section's reading: the summary over seeds, the compression and fidelity tables, sentences.

Split from ``cartpole`` (which runs the section; the figures are in ``cartpole_figures``). Every
sentence is conditioned on the numbers: a ranking is stated with its ties, "the leaders
differ" only when the best objective by one measure is not the best by the other, and
the comparison with the synthetic teacher only when the original comparison ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats

from ..records.record import Record
from ..report.stats import comparison_record, difference_phrase, holm_family, mean_ci, paired_difference
from ..report.tables import ci_text, markdown_table
from ..rl.tasks import TEACHER_HIDDEN, task
from .base import Section
from .cartpole_figures import RUSU_PARAMS_PCT, RUSU_SCORE_PCT, figure_fidelity, figure_returns
from .task_text import rank_modes, ranking_text, scale_phrase, spread_text, teacher_phrase

if TYPE_CHECKING:
    from .cartpole import CartpoleRecord

__all__ = [
    "COMPARE_WIDTH",
    "RUSU_PARAMS_PCT",
    "RUSU_SCORE_PCT",
    "SUMMARY_METRICS",
    "CartpoleSummary",
    "compression_table",
    "fidelity_table",
    "figure_fidelity",
    "figure_returns",
    "interpretation",
    "rank_modes",
    "section",
    "summarize_record",
]

#: a paragraph break between the groups of sentences
_BREAK = "\n\n"
#: per-student metrics summarised over seeds: key -> label
SUMMARY_METRICS = {
    "return_pct": "return (% of teacher)",
    "action_agreement": "held-out agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "regret": "regret (teacher Q)",
}
#: how paired differences are worded (``stats.verdict``'s scale and unit)
_UNITS = {"return_pct": (1.0, "points"), "action_agreement": (100.0, "points")}

#: the width whose modes are compared pairwise (the widest one if it is not in the list)
COMPARE_WIDTH = 32

# ----------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------


def _ci(values: np.ndarray) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds (``stats.mean_ci``); a single seed has no interval."""
    if len(values) >= 2:
        return dict(mean_ci(values).__dict__)
    return {"mean": float(values[0]), "low": None, "high": None, "confidence": None, "n": 1, "method": "single seed"}


@dataclass(frozen=True)
class CartpoleSummary(Record):
    """``results.json``'s ``cartpole``: per width and mode, means and CIs over seeds; paired tests."""

    teacher: dict[str, Any]
    widths: list[int]
    modes: list[str]
    n_seeds: int
    compare_width: int
    buffer: dict[str, Any]
    rows: list[dict[str, Any]]
    pairs: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"cartpole": {name: getattr(self, name) for name in self.__dataclass_fields__}}

    def row(self, width: int, mode: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["width"] == width and r["mode"] == mode)


def summarize_record(record: CartpoleRecord) -> CartpoleSummary:
    """Per width and mode: mean (and 95% t-interval over seeds) of each ``SUMMARY_METRICS``.

    With two or more seeds, also paired comparisons of the modes at ``COMPARE_WIDTH`` (or
    the widest width) for return and agreement (``stats.paired_difference``): one family of
    ``2 x pairs`` tests, Holm-corrected together (``stats.holm_family``).
    """
    modes = sorted(record.modes, key=lambda m: record.modes[m])  # by alpha
    seeds = list(record.seeds)
    size = {s["width"]: s for s in record.students}

    def values(width: int, mode: str, metric: str) -> np.ndarray:
        by_seed = {
            r.seed: float(r.return_pct if metric == "return_pct" else r.held_out[metric])
            for r in record.runs
            if r.width == width and r.mode == mode
        }
        return np.array([by_seed[s] for s in seeds])

    rows = []
    for width in record.widths:
        for mode in modes:
            row = {"width": width, "mode": mode, "alpha": record.modes[mode]}
            row.update(params=size[width]["params"], params_pct=size[width]["params_pct"])
            row.update({metric: _ci(values(width, mode, metric)) for metric in SUMMARY_METRICS})
            rows.append(row)
    compare = COMPARE_WIDTH if COMPARE_WIDTH in record.widths else max(record.widths)
    pairs: dict[str, dict[str, Any]] = {}
    if len(seeds) >= 2:
        tests = [
            (metric, a, b, paired_difference(values(compare, a, metric), values(compare, b, metric)))
            for metric in _UNITS
            for a, b in combinations(modes, 2)
        ]
        family = f"every pair of modes on return and agreement at width {compare}"
        corrected = holm_family([cmp for *_, cmp in tests], family)
        for (metric, a, b, _), cmp in zip(tests, corrected):
            pairs.setdefault(metric, {})[f"{a} - {b}"] = comparison_record(cmp, a, b, *_UNITS[metric])
    teacher = record.teacher
    return CartpoleSummary(
        teacher={
            "params": teacher["params"],
            "hidden": teacher.get("hidden", TEACHER_HIDDEN),
            "env_id": record.env,
            "label": task(record.env).label,
            "shipped": teacher.get("shipped", True),
            "solved_return": record.closed_loop.get("solved_return"),
            "max_steps": record.closed_loop.get("max_steps", 500),
            "score_floor": record.closed_loop.get("score_floor", 0.0),
            "floor_rule": record.closed_loop.get("floor_rule", "fixed"),
            "return_mean": teacher["return_mean"],
            "return_ci": teacher["return_ci"],
            "episodes": len(teacher["returns"]),
        },
        widths=list(record.widths),
        modes=modes,
        n_seeds=len(seeds),
        compare_width=compare,
        buffer=dict(record.buffer),
        rows=rows,
        pairs=pairs,
    )


def compression_table(summary: CartpoleSummary) -> str:
    """Markdown: width, parameters, % of the teacher's, return % of the teacher per mode.

    The analogue of Rusu et al. (2016)'s compression table; returns are seed means with
    their 95% t-interval over seeds when there are two or more seeds.
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


def interpretation(summary: CartpoleSummary, synthetic_rows: list[Any] | None = None) -> str:
    """A few sentences on the real-task results, written from the numbers (Markdown).

    ``synthetic_rows``: the original comparison's table rows (``comparison.ResultRow``), to
    compare the modes' ranking on the synthetic teacher with the ranking here; None or
    empty says it is absent.
    """
    modes, teacher, width = summary.modes, summary.teacher, summary.compare_width
    n = summary.n_seeds
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    parts = [
        f"The {teacher_phrase(teacher)} (width {teacher['hidden']}, {teacher['params']:,} parameters) returns "
        f"{teacher['return_mean']:.1f} on average over {teacher['episodes']} test episodes (95% CI "
        f"[{teacher['return_ci'][0]:.1f}, {teacher['return_ci'][1]:.1f}]; {scale_phrase(teacher)})."
    ]

    parts.append(_BREAK)
    # the modes at the comparison width: return and agreement rankings
    ret = {m: summary.row(width, m)["return_pct"]["mean"] for m in modes}
    agree = {m: summary.row(width, m)["action_agreement"]["mean"] for m in modes}
    by_return, by_agree = rank_modes(ret, 1), rank_modes({m: 100 * v for m, v in agree.items()}, 1)
    pct = summary.row(width, modes[0])["params_pct"]
    parts.append(
        f"At width {width} ({pct:.1f}% of the teacher's parameters; means over {seeds}), the modes rank by "
        f"closed-loop return as {ranking_text(by_return, ret, '{:.1f}%')} of the teacher's, and by held-out "
        f"agreement as {ranking_text(by_agree, agree, '{:.1%}')}."
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
    m = next((c["family_size"] for p in summary.pairs.values() for c in p.values()), 0)
    if m:
        parts.append(
            f"Paired tests: two-sided sign-flip over the {n} seeds, Holm-corrected over the {m} comparisons at "
            f"width {width} (every pair of modes on return and on agreement); intervals are 95% t-intervals."
        )
    if m and m * 2 / 2**n >= 0.05:
        parts.append(
            f"With {n} seeds the smallest corrected p is {min(1.0, m * 2 / 2**n):.3g}: a verdict needs more seeds."
        )
    if n < 2:
        parts.append("With one seed there is no interval and no paired test; differences may be noise.")

    parts.append(_BREAK)
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
            f"here the students in that range (width {', '.join(map(str, widths))}) reach {spread_text(pcts)} of "
            f"the teacher's return over the modes, {where}."
        )
    else:
        rusu += "no student width here falls in that parameter range."
    parts.append(rusu)
    if below:
        widths = sorted({r["width"] for r in below}, reverse=True)
        parts.append(
            f"Smaller still (width {', '.join(map(str, widths))}, under {RUSU_PARAMS_PCT[0]:g}% of the parameters), "
            f"students reach {spread_text([r['return_pct']['mean'] for r in below])}."
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

    parts.append(_BREAK)
    # synthetic vs real-task ranking
    label = teacher.get("label", "CartPole")
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
            f"{ranking_text(syn_rank, syn, '{:.1%}')}; on {label} at width {width}, held-out agreement gives "
            f"{same(here_agree)} and closed-loop return {same(here_return)}. By probability similarity at T = 1 "
            f"the synthetic teacher gives {ranking_text(syn_sim_rank, syn_sim, '{:.3f}')} and {label} "
            f"{ranking_text(here_sim_rank, here_sim, '{:.3f}')}: "
            f"{'the same order' if syn_sim_rank == here_sim_rank else 'different orders'}."
        )
        if len(common) < len(modes):
            parts.append(f"The synthetic table lacks {', '.join(m for m in modes if m not in common)}.")
    return " ".join(parts).replace(f" {_BREAK} ", _BREAK)


def short_verdict(summary: CartpoleSummary) -> str:
    """The section's answer in three sentences: return and agreement at the comparison width, then smaller students."""
    modes, width, n = summary.modes, summary.compare_width, summary.n_seeds
    ret = {m: summary.row(width, m)["return_pct"]["mean"] for m in modes}
    agree = {m: summary.row(width, m)["action_agreement"]["mean"] for m in modes}
    by_return, by_agree = rank_modes(ret, 1), rank_modes({m: 100 * v for m, v in agree.items()}, 1)
    pct = summary.row(width, modes[0])["params_pct"]
    pairs = summary.pairs.get("return_pct", {})
    found = [(p, c) for p, c in pairs.items() if not c["verdict"].startswith("no detectable")]
    if not summary.pairs:
        tested = "with one seed there is no paired test"
    elif found:
        said = "; ".join(difference_phrase(p, c, 1.0, " points") for p, c in found)
        m = next(iter(pairs.values()))["family_size"]
        tested = f"paired over seeds, {said} (Holm-corrected over {m} comparisons)"
    else:
        tested = "paired over seeds, no two objectives differ detectably in return"
    parts = [
        f"At width {width} ({pct:.0f}% of the teacher's parameters; means over {n} seed{'s' * (n != 1)}), students "
        f"earn {ranking_text(by_return, ret, '{:.1f}%')} of the teacher's return; {tested}."
    ]
    leader = " = ".join(by_agree[0])
    same = set(by_agree[0]) & set(by_return[0])
    parts.append(
        f"{leader} agree{'s' * (len(by_agree[0]) == 1)} with the teacher's action most often on held-out states "
        f"({100 * agree[by_agree[0][0]]:.1f}%) and "
        + (
            "also earns the most return."
            if same
            else "yet does not earn the most return: agreement is not performance."
        )
    )
    smaller = [w for w in summary.widths if w != width]
    if smaller:
        best = []
        for w in smaller:
            returns = {m: summary.row(w, m)["return_pct"]["mean"] for m in modes}
            top = rank_modes(returns, 1)[0]
            best.append(f"width {w}: {' = '.join(top)} ({returns[top[0]]:.1f}%)")
        parts.append("Best by return at the other widths: " + "; ".join(best) + ".")
    return " ".join(parts)


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
    return Section(f"A real teacher: {summary.teacher.get('label', 'CartPole')}", text, short_verdict(summary), figures)
