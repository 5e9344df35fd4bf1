"""The multi-seed section's reading: tables of means and CIs, verdicts, the action-gap bins.

Every sentence is decided by a number: a verdict comes from the paired test and its CI
(``report.stats.verdict``); "disagreements concentrate at near-ties" is said only when the
smallest-gap bin holds more than its share of the disagreements, and regret is called
small only relative to the teacher's own action gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...report.stats import EXACT_MAX_N, difference_phrase
from ...report.tables import ci_text, markdown_table
from ..base import Section
from .figures import gap_agreement, paired_seeds
from .summary import SUMMARY_METRICS, SeedsSummary

__all__ = ["gap_text", "metric_verdict", "pairs_table", "section", "verdicts"]

#: a disagreement's cost is called small when the mean regret is below this share of the mean action gap
SMALL_REGRET_SHARE = 0.1


def _table(summary: dict[str, Any], modes: list[str]) -> str:
    rows = [
        [label]
        + [ci_text(summary["per_mode"][metric][m], 4 if metric in ("kl_t1", "q_mse", "regret") else 3) for m in modes]
        for metric, label in SUMMARY_METRICS.items()
    ]
    return markdown_table(["metric", *modes], rows)


#: the metrics a verdict speaks of: key -> (label, scale, unit, digits)
VERDICT_METRICS = {
    "action_agreement": ("top-1 agreement", 100.0, " points", 2),
    "prob_similarity_t1": ("probability similarity at T = 1", 100.0, " points", 2),
    "regret": ("regret", 1.0, "", 2),
}


def _detectable(comparison: dict[str, Any]) -> bool:
    return not comparison["verdict"].startswith("no detectable")


def metric_verdict(summary: dict[str, Any], metric: str) -> str:
    """One sentence on one metric: which pairs of objectives differ detectably, and by how much."""
    label, scale, unit, digits = VERDICT_METRICS[metric]
    name = label[0].upper() + label[1:] + (" (lower is better)" if metric == "regret" else "")
    pairs = summary["pairs"].get(metric, {})
    found = [(p, c) for p, c in pairs.items() if _detectable(c)]
    if not found:
        largest = max((abs(c["difference"]["mean"]) * scale for c in pairs.values()), default=0.0)
        return f"{name}: no two objectives differ detectably (largest mean difference {largest:.{digits}g}{unit})."
    if len(found) == len(pairs) and len(pairs) > 1:
        means = {m: v["mean"] for m, v in summary["per_mode"][metric].items()}
        order = sorted(means, key=means.get, reverse=metric != "regret")
        how = " (every pair detectably, after the correction)"
        values = ", ".join(f"{m} {means[m]:.3g}" for m in order)
        word = "lowest first" if metric == "regret" else "highest first"
        return f"{name} differs between every pair{how}: {values} ({word})."
    said = "; ".join(difference_phrase(p, c, scale, unit, digits) for p, c in found)
    rest = "" if len(found) == len(pairs) else "; no other pair differs detectably"
    return f"{name}: {said}{rest}."


def verdicts(summary: dict[str, Any]) -> str:
    """The kind of seeds' answer: agreement, distribution match and regret, and how sure (n, correction)."""
    if not summary["pairs"]:
        return ""
    n, n_tests = summary["n_seeds"], sum(len(p) for p in summary["pairs"].values())
    head = f"Over {n} {summary['kind']} seeds (paired by seed):"
    body = " ".join(metric_verdict(summary, m) for m in VERDICT_METRICS if m in summary["pairs"])
    tail = (
        f"(Two-sided {'exact ' if n <= EXACT_MAX_N else ''}sign-flip tests, Holm-corrected over all {n_tests} comparisons of these seeds, "
        "i.e. every pair of modes on every metric of the table; 95% t-intervals per comparison.)"
    )
    best = n_tests * 2 / 2**n  # the smallest Holm p-value the family can give
    if best >= 0.05:
        tail += (
            f" With {n} seeds and {n_tests} comparisons the smallest corrected p-value possible is "
            f"{min(best, 1.0):.3g}, so no difference can be detected whatever its size."
        )
    return f"{head} {body} {tail}"


def pairs_table(summary: dict[str, Any]) -> str:
    """Every paired comparison of the verdict's metrics: difference with its CI, p, and whether it is detectable."""
    rows = []
    for metric, (label, scale, unit, digits) in VERDICT_METRICS.items():
        for pair, c in summary["pairs"].get(metric, {}).items():
            d = c["difference"]
            fmt = f".{digits + 1}g"
            rows.append(
                [
                    label,
                    pair,
                    f"{d['mean'] * scale:+{fmt}} [{d['low'] * scale:+{fmt}}, {d['high'] * scale:+{fmt}}]{unit}",
                    c["p_text"],
                    "yes" if _detectable(c) else "no",
                ]
            )
    return markdown_table(["metric", "pair (a - b)", "mean difference [95% CI]", "p (raw, Holm)", "detectable"], rows)


def gap_text(gap: dict[str, list[dict[str, float]]]) -> str:
    """Where disagreements sit, and what they cost, in sentences the bins decide."""
    modes = list(gap)
    n_bins = len(gap[modes[0]])
    low = {m: gap[m][0]["agreement"] for m in modes}
    high = {m: gap[m][-1]["agreement"] for m in modes}
    parts = [
        f"In the smallest-gap bin (near-ties) agreement is {', '.join(f'{m} {v:.1%}' for m, v in low.items())}; "
        f"in the largest-gap bin {', '.join(f'{m} {v:.1%}' for m, v in high.items())}."
    ]
    if len(modes) > 1:
        best = max(low, key=low.get)
        tied = [m for m in modes if round(low[m], 3) == round(low[best], 3)]
        parts.append(
            "Near ties, all objectives agree equally often."
            if len(tied) == len(modes)
            else f"Near ties, {' and '.join(tied)} agree{'s' * (len(tied) == 1)} most often."
        )
    if n_bins > 1:
        shares = {}
        for m in modes:
            misses = np.array([1.0 - b["agreement"] for b in gap[m]])  # equal-count bins: a share per bin
            shares[m] = float(misses[0] / misses.sum()) if misses.sum() > 0 else None
        known = {m: s for m, s in shares.items() if s is not None}
        if known:
            concentrated = all(s > 1.0 / n_bins for s in known.values())
            share_text = ", ".join(f"{m} {s:.0%}" for m, s in known.items())
            if concentrated:
                parts.append(
                    f"Disagreements concentrate where the teacher barely prefers one action: the smallest-gap fifth "
                    f"of states holds {share_text} of each objective's disagreements (an even spread would be "
                    f"{1 / n_bins:.0%})."
                    if n_bins == 5
                    else f"Disagreements concentrate at near-ties: the smallest-gap bin holds {share_text} of "
                    f"each objective's disagreements (an even spread would be {1 / n_bins:.0%})."
                )
            else:
                parts.append(
                    f"Disagreements do not concentrate at near-ties for every objective: the smallest-gap bin "
                    f"holds {share_text} of them (an even spread would be {1 / n_bins:.0%})."
                )
    regret = {m: float(np.mean([b["mean_regret"] for b in gap[m]])) for m in modes}
    mean_gap = float(np.mean([(b["gap_low"] + b["gap_high"]) / 2 for b in gap[modes[0]]]))
    if mean_gap > 0:
        ratio = max(regret.values()) / mean_gap
        size = "small" if ratio < SMALL_REGRET_SHARE else "not small"
        parts.append(
            f"Mean regret per state ({', '.join(f'{m} {v:.4f}' for m, v in regret.items())}) is at most "
            f"{ratio:.1%} of the teacher's typical action gap ({mean_gap:.3f}): {size} by that yardstick."
        )
    return " ".join(parts)


def _gap_table(gap: dict[str, list[dict[str, float]]]) -> str:
    modes = list(gap)
    header = ["action-gap bin", *(f"{m} agreement" for m in modes), *(f"{m} regret" for m in modes)]
    rows = [
        [f"{b['gap_low']:.3f}-{b['gap_high']:.3f}"]
        + [f"{gap[m][k]['agreement']:.3f}" for m in modes]
        + [f"{gap[m][k]['mean_regret']:.4f}" for m in modes]
        for k, b in enumerate(gap[modes[0]])
    ]
    return markdown_table(header, rows)


def section(summary: SeedsSummary, others: dict[str, Any] | None = None) -> Section:
    """Per kind: the table and its verdicts; then the action-gap analysis; the figures."""
    parts, answers = [], []
    for kind, s in summary.kinds.items():
        modes = summary.records[kind].ordered_modes()
        parts.append(f"### {kind.capitalize()} seeds (n = {s['n_seeds']}): mean [95% CI]\n\n{_table(s, modes)}")
        said = verdicts(s)
        if said:
            parts.append(f"**Verdict.** {said}\n\nThe paired comparisons behind it:\n\n{pairs_table(s)}")
            answers.append(said)
    gap_summary = summary.kinds.get("world") or summary.kinds.get("training")
    figures: dict[str, Any] = {
        f"seeds_{kind}.png": (lambda rec=rec: paired_seeds(rec)) for kind, rec in summary.records.items()
    }
    if gap_summary:
        kind = gap_summary["kind"]
        parts.append(
            f"### Where students disagree with the teacher ({kind} seeds)\n\n" + _gap_table(gap_summary["gap"])
        )
        parts.append(gap_text(gap_summary["gap"]))
        figures["gap_agreement.png"] = lambda: gap_agreement(gap_summary)
    if not summary.kinds:
        parts.append("*The multi-seed section did not run in this work folder.*")
    return Section("Beyond one seed", "\n\n".join(parts), "\n\n".join(answers), figures)
