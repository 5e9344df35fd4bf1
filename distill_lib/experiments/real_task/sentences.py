"""The real-task section's sentences, each built from the numbers by a small function of its own.

Every sentence is conditioned on the numbers: a ranking is stated with its ties, "the leaders
differ" only when the best objective by one measure is not the best by the other, a paired
verdict only where the Holm-corrected test finds it, and the comparison with the synthetic
teacher only when the original comparison ran. ``interpretation`` joins the paragraphs.
"""

from __future__ import annotations

from typing import Any

import scipy.stats

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.phrases import (
    rank_modes,
    ranking_text,
    scale_phrase,
    spread_text,
    students_sentence,
    teacher_phrase,
)
from ...report.stats import difference_phrase
from .summary import RealTaskSummary

__all__ = [
    "best_by_width",
    "compression_sentences",
    "correlation_sentence",
    "interpretation",
    "ranking_sentences",
    "short_verdict",
    "synthetic_sentences",
    "teacher_sentence",
    "test_sentences",
]


def _at(summary: RealTaskSummary, width: int, metric: str, scale: float = 1.0) -> dict[str, float]:
    """Each mode's mean of ``metric`` at ``width`` (times ``scale``)."""
    return {m: scale * summary.row(width, m)[metric]["mean"] for m in summary.modes}


def teacher_sentence(summary: RealTaskSummary) -> str:
    """The teacher: its size and its return, with the scale the percentages are measured on; then which
    family the students are (``student_kind``)."""
    t = summary.teacher
    return (
        f"{teacher_phrase(t, start=True)} (width {t['hidden']}, {t['params']:,} parameters) returns "
        f"{t['return_mean']:.1f} on average over {t['episodes']} test episodes (95% CI "
        f"[{t['return_ci'][0]:.1f}, {t['return_ci'][1]:.1f}]; {scale_phrase(t)}). "
        + students_sentence({"": summary.student_kind})
    )


def ranking_sentences(summary: RealTaskSummary) -> list[str]:
    """The modes at the comparison width, ranked by return and by held-out agreement, and whether the leaders agree."""
    width, n = summary.compare_width, summary.n_seeds
    ret, agree = _at(summary, width, "return_pct"), _at(summary, width, "action_agreement")
    by_return, by_agree = rank_modes(ret, 1), rank_modes({m: 100 * v for m, v in agree.items()}, 1)
    pct = summary.row(width, summary.modes[0])["params_pct"]
    out = [
        f"At width {width} ({pct:.1f}% of the teacher's parameters; means over {n} seed{'s' * (n != 1)}), the modes "
        f"rank by closed-loop return as {ranking_text(by_return, ret, '{:.1f}%')} of the teacher's, and by held-out "
        f"agreement as {ranking_text(by_agree, agree, '{:.1%}')}."
    ]
    if by_return == by_agree:
        out.append("The two rankings are the same.")
    elif not set(by_return[0]) & set(by_agree[0]):
        out.append(
            "The leaders differ: the objective whose student copies the teacher's action most often is not "
            "the one whose student earns the most return."
        )
    else:
        shared = " = ".join(m for m in by_return[0] if m in by_agree[0])
        out.append(f"Both rankings put {shared} first (ties included) but order the others differently.")
    return out


def test_sentences(summary: RealTaskSummary) -> list[str]:
    """What the paired tests at the comparison width find, how they were made, and what their n can decide."""
    width, n = summary.compare_width, summary.n_seeds
    out = []
    for metric, label in (("return_pct", "return (% of the teacher's)"), ("action_agreement", "held-out agreement")):
        verdicts = [c["verdict"] for c in summary.pairs.get(metric, {}).values()]
        found = [v for v in verdicts if not v.startswith("no detectable")]
        if verdicts and not found:
            out.append(f"Paired over seeds, no two modes differ detectably in {label} at width {width}.")
        out.extend(f"Paired over seeds, {label[0].lower()}{label[1:]}: {v}." for v in found)
    m = next((c["family_size"] for p in summary.pairs.values() for c in p.values()), 0)
    if m:
        out.append(
            f"Paired tests: two-sided sign-flip over the {n} seeds, Holm-corrected over the {m} comparisons at "
            f"width {width} (every pair of modes on return and on agreement); intervals are 95% t-intervals."
        )
        if m * 2 / 2**n >= 0.05:
            out.append(
                f"With {n} seeds the smallest corrected p is {min(1.0, m * 2 / 2**n):.3g}: a verdict needs more seeds."
            )
    if n < 2:
        out.append("With one seed there is no interval and no paired test; differences may be noise.")
    return out


def best_by_width(summary: RealTaskSummary, widths: list[int]) -> str:
    """``width 16: hard_only (99.9%); width 8: all modes tie (94.0%)``: the best mode by return per width."""
    best = []
    for w in widths:
        returns = _at(summary, w, "return_pct")
        top = rank_modes(returns, 1)[0]
        who = "all modes tie" if len(top) == len(summary.modes) > 1 else " = ".join(top)
        best.append(f"width {w}: {who} ({returns[top[0]]:.1f}%)")
    return "; ".join(best)


def compression_sentences(summary: RealTaskSummary) -> list[str]:
    """The best mode at each width, and the students against Rusu et al. (2016)'s compression range."""
    rows = summary.rows
    out = [f"Best mode by return at each width: {best_by_width(summary, summary.widths)}."]
    inside = [r for r in rows if RUSU_PARAMS_PCT[0] <= r["params_pct"] <= RUSU_PARAMS_PCT[1]]
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
    out.append(rusu)
    below = [r for r in rows if r["params_pct"] < RUSU_PARAMS_PCT[0]]
    if below:
        widths = sorted({r["width"] for r in below}, reverse=True)
        out.append(
            f"Smaller still (width {', '.join(map(str, widths))}, under {RUSU_PARAMS_PCT[0]:g}% of the parameters), "
            f"students reach {spread_text([r['return_pct']['mean'] for r in below])}."
        )
    return out


def correlation_sentence(summary: RealTaskSummary) -> str:
    """Spearman's correlation of held-out agreement and return over the width x mode cells (three or more)."""
    rows = summary.rows
    if len(rows) < 3:
        return ""
    x = [r["action_agreement"]["mean"] for r in rows]
    y = [r["return_pct"]["mean"] for r in rows]
    if len(set(x)) == 1 or len(set(y)) == 1:
        return f"{'Return' if len(set(y)) == 1 else 'Agreement'} is the same in every width x mode cell."
    rho = float(scipy.stats.spearmanr(x, y).statistic)
    return f"Across the {len(rows)} width x mode cells, held-out agreement and return have Spearman correlation {rho:+.2f}."


def synthetic_sentences(summary: RealTaskSummary, synthetic_rows: list[Any] | None) -> list[str]:
    """The modes' ranking on the synthetic teacher (the original comparison's rows) against the ranking here."""
    modes, width, label = summary.modes, summary.compare_width, summary.teacher["label"]
    common = [m for m in modes if any(r.mode == m for r in synthetic_rows or [])]
    if not common:
        return ["The synthetic teacher's table is absent, so its ranking of the modes cannot be compared here."]
    rows = [r for r in synthetic_rows or [] if r.mode in common]
    syn = {r.mode: r.final_action_agreement for r in rows}
    syn_sim = {r.mode: r.final_prob_similarity_t1 for r in rows}
    syn_rank = rank_modes({m: 100 * v for m, v in syn.items()}, 1)
    agree, ret = _at(summary, width, "action_agreement"), _at(summary, width, "return_pct")
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

    out = [
        f"On the synthetic teacher (the study's main table) the modes rank by agreement as "
        f"{ranking_text(syn_rank, syn, '{:.1%}')}; on {label} at width {width}, held-out agreement gives "
        f"{same(here_agree)} and closed-loop return {same(here_return)}. By probability similarity at T = 1 "
        f"the synthetic teacher gives {ranking_text(syn_sim_rank, syn_sim, '{:.3f}')} and {label} "
        f"{ranking_text(here_sim_rank, here_sim, '{:.3f}')}: "
        f"{'the same order' if syn_sim_rank == here_sim_rank else 'different orders'}."
    ]
    if len(common) < len(modes):
        out.append(f"The synthetic table lacks {', '.join(m for m in modes if m not in common)}.")
    return out


def interpretation(summary: RealTaskSummary, synthetic_rows: list[Any] | None = None) -> str:
    """The section's reading in four paragraphs: the teacher; the modes at the comparison width and their
    tests; compression against Rusu et al.; the synthetic teacher's ranking against this one (Markdown)."""
    paragraphs = [
        [teacher_sentence(summary)],
        ranking_sentences(summary) + test_sentences(summary),
        [*compression_sentences(summary), correlation_sentence(summary)],
        synthetic_sentences(summary, synthetic_rows),
    ]
    return "\n\n".join(" ".join(s for s in p if s) for p in paragraphs)


def short_verdict(summary: RealTaskSummary) -> str:
    """The section's answer in three sentences: return and agreement at the comparison width, then smaller students."""
    modes, width, n = summary.modes, summary.compare_width, summary.n_seeds
    ret, agree = _at(summary, width, "return_pct"), _at(summary, width, "action_agreement")
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
            returns = _at(summary, w, "return_pct")
            top = rank_modes(returns, 1)[0]
            best.append(f"width {w}: {' = '.join(top)} ({returns[top[0]]:.1f}%)")
        parts.append("Best by return at the other widths: " + "; ".join(best) + ".")
    return " ".join(parts)
