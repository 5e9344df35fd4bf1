"""The fair comparison's summary, decision tables, sentences and figure (split from ``fair``).

Per width: each arm's test return (% of the teacher's) and held-out agreement, mean and 95%
t-interval over the evaluation seeds; paired tests by seed on return, one Holm family per
width (every pair of the selected objectives, and each of soft and blended at its selected
settings against the same objective at the fixed settings). Every sentence is written from
these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

from ..records.record import Record
from ..report.aggregate import interval_estimates, performance_profile, probability_of_improvement
from ..report.stats import comparison_record, difference_phrase, holm_family, mean_ci, paired_difference
from ..rl.tasks import DEFAULT_ENV_ID, task
from .base import Section
from .fair_figures import figure_decision, figure_profiles
from .fair_tables import (
    candidates_table,
    decision_table,
    rusu_sentence,
    scratch_group,
    scratch_sentence,
    versus_scratch,
)
from .task_text import rank_modes

if TYPE_CHECKING:
    from .fair import FairRecord, FairRun

__all__ = [
    "FairSummary",
    "candidates_table",
    "decision_table",
    "section",
    "short_verdict",
    "summarize_records",
    "width_sentences",
]

#: the full grid's size (params/full.yaml): below it, the verdict says the grid is reduced
FULL_SEEDS, FULL_CANDIDATES = 20, 1 + 6 + 6 * 4 + 1
#: report order of the arms (JSON objects come back with sorted keys, so the order is restored here)
ARM_ORDER = ("hard", "soft", "blended", "mse", "soft, fixed", "blended, fixed")
_FAMILY = "every pair of the selected objectives, and soft and blended selected vs fixed, on test return"


@dataclass(frozen=True)
class FairSummary(Record):
    """``results.json``'s ``fair``: per width, arms with CIs, the selection, and the Holm family of tests."""

    widths: list[dict[str, Any]]
    missing: list[str]
    aggregate: dict[str, Any] | None = None  # across widths: IQM, probability of improvement, profiles

    def to_json(self) -> dict[str, Any]:
        return {"fair": {"widths": self.widths, "missing": self.missing, "aggregate": self.aggregate}}


def _ci(values: list[float]) -> dict[str, Any]:
    return dict(mean_ci(values).__dict__)


def _metric(run: FairRun, metric: str) -> float:
    """A run's test return % (``return_pct``), its agreement on its own states, or a held-out fidelity metric."""
    if metric in ("return_pct", "own_agreement"):
        return getattr(run, metric)
    return run.held_out[metric]


def summarize_record(record: FairRecord) -> dict[str, Any]:
    """One width: arms (settings, return % and agreement with t-intervals), selection, Holm-corrected pairs."""

    def values(arm: str, metric: str) -> np.ndarray:
        by_seed = {r.seed: _metric(r, metric) for r in record.runs if r.arm == arm}
        return np.array([by_seed[s] for s in record.seeds])

    t, f = record.teacher, record.teacher.get("val_score_floor", 0.0)
    val_pct = {c.setting.label: 100.0 * (c.val_return - f) / (t["val_return"] - f) for c in record.candidates}
    arms = [
        {
            "arm": name,
            "setting": setting.to_json(),
            "label": setting.label,
            "fixed": name.endswith("fixed"),
            "val_return_pct": val_pct.get(setting.label),
            "return_pct": _ci(values(name, "return_pct")) | {"values": values(name, "return_pct").tolist()},
            "action_agreement": _ci(values(name, "action_agreement")),
            "own_agreement": _ci(values(name, "own_agreement")),
        }
        for name, setting in sorted(record.arms.items(), key=lambda item: _rank(item[0]))
    ]
    selected = sorted(record.selected, key=_rank)
    tests = [(a, b) for a, b in combinations(selected, 2)]
    tests += [
        (obj, f"{obj}, fixed") for obj in ("soft", "blended") if obj in selected and f"{obj}, fixed" in record.arms
    ]
    compared = [paired_difference(values(a, "return_pct"), values(b, "return_pct")) for a, b in tests]
    family = holm_family(compared, f"{_FAMILY}, width {record.width}")
    pairs = {f"{a} - {b}": comparison_record(c, a, b, 1.0, "points") for (a, b), c in zip(tests, family)}
    return {
        "width": record.width,
        "params": record.params_count,
        "params_pct": record.params_pct,
        "n_seeds": len(record.seeds),
        "selection_seeds": record.selection_seeds,
        "episodes": record.episodes,
        "teacher": record.teacher,
        "sharpness": record.sharpness,
        "candidates": [
            {"label": c.setting.label, "objective": c.setting.objective, "val_return_pct": val_pct[c.setting.label]}
            for c in record.candidates
        ],
        "arms": arms,
        "pairs": pairs,
    }


def _self_distillation(params_pct: float) -> bool:
    return params_pct >= 99.95


def _rank(arm: str) -> int:
    return ARM_ORDER.index(arm) if arm in ARM_ORDER else len(ARM_ORDER)


def summarize_records(records: list[FairRecord], missing: list[str]) -> FairSummary:
    ordered = sorted(records, key=lambda r: -r.width)
    return FairSummary([summarize_record(r) for r in ordered], missing, across_widths(ordered))


#: bootstrap resamples of the aggregates (IQM is cheap; each probability of improvement costs more)
IQM_REPS, POI_REPS = 2000, 500
#: performance-profile thresholds: test return as a fraction of the teacher's
PROFILE_THRESHOLDS = [round(0.05 * k, 2) for k in range(21)]


def across_widths(records: list[FairRecord]) -> dict[str, Any] | None:
    """Agarwal et al. (2021)'s aggregates over seeds x widths (``report.aggregate``, rliable), per arm.

    Scores are test return as a fraction of the teacher's, ``(seeds, widths)`` per arm; the
    bootstrap resamples seeds within each width. Needs two widths or more, with the same seeds;
    a student of the teacher's own size (self-distillation) is left out.
    """
    records = [r for r in records if not _self_distillation(r.params_pct)]  # a ceiling, not a compression
    if len(records) < 2 or any(r.seeds != records[0].seeds for r in records):
        return None
    arms = sorted({a for r in records for a in r.arms}, key=_rank)

    def scores(arm: str) -> np.ndarray:
        columns = []
        for r in records:
            by_seed = {run.seed: run.return_pct / 100.0 for run in r.runs if run.arm == arm}
            columns.append([by_seed[s] for s in r.seeds])
        return np.array(columns).T  # (seeds, widths)

    table = {arm: scores(arm) for arm in arms}
    selected = [a for a in arms if not a.endswith("fixed")]
    poi = {
        f"{a} > {b}": probability_of_improvement(table[a], table[b], reps=POI_REPS)
        for a, b in combinations(selected, 2)
    }
    return {
        "widths": [r.width for r in records],
        "n_seeds": len(records[0].seeds),
        "reps": {"iqm": IQM_REPS, "probability_of_improvement": POI_REPS},
        "estimates": interval_estimates(table, reps=IQM_REPS),
        "probability_of_improvement": poi,
        "profile_thresholds": PROFILE_THRESHOLDS,
        "profiles": performance_profile(table, np.array(PROFILE_THRESHOLDS)),
    }


def aggregate_sentence(aggregate: dict[str, Any] | None) -> str:
    """The aggregates in words: IQM per objective, and the probabilities of improvement whose CI excludes 0.5."""
    if not aggregate:
        return ""
    est = aggregate["estimates"]
    chosen = sorted((a for a in est if not a.endswith("fixed")), key=lambda a: -est[a]["iqm"]["mean"])
    iqm = "; ".join(
        f"{a} {100 * est[a]['iqm']['mean']:.1f}% [{100 * est[a]['iqm']['low']:.1f}, {100 * est[a]['iqm']['high']:.1f}]"
        for a in chosen
    )
    clear = []
    for pair, p in aggregate["probability_of_improvement"].items():
        a, b = pair.split(" > ")
        if p["low"] > 0.5:
            clear.append(f"P({a} > {b}) = {p['mean']:.2f} [{p['low']:.2f}, {p['high']:.2f}]")
        elif p["high"] < 0.5:
            clear.append(f"P({b} > {a}) = {1 - p['mean']:.2f} [{1 - p['high']:.2f}, {1 - p['low']:.2f}]")
    widths = ", ".join(map(str, aggregate["widths"]))
    said = (
        "; probabilities of improvement whose 95% CI excludes 0.5: " + "; ".join(clear)
        if clear
        else "; no probability of improvement has a 95% CI that excludes 0.5"
    )
    return (
        f"Across widths {widths} ({aggregate['n_seeds']} seeds each; Agarwal et al. 2021, stratified bootstrap "
        f"over seeds within width, rliable), the interquartile mean of test return is {iqm}{said}. These "
        "aggregates weigh every width alike, the smallest included; they are not corrected for multiplicity."
    )


def _arm(width: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in width["arms"] if a["arm"] == name)


def width_sentences(width: dict[str, Any]) -> str:
    """The width's answer: the ranking at the selected settings, what survives Holm, and what the fixed T did."""
    w, n = width["width"], width["n_seeds"]
    chosen = {a["arm"]: a["return_pct"]["mean"] for a in width["arms"] if not a["fixed"]}
    ranking = " > ".join(
        " = ".join(group) + f" ({chosen[group[0]]:.1f}%)" for group in rank_modes(chosen, 1)
    )  # ties at the shown precision grouped
    size = (
        "the teacher's own size: self-distillation, the ceiling of what each objective can copy"
        if _self_distillation(width["params_pct"])
        else f"{width['params_pct']:.0f}% of the teacher's parameters"
    )
    parts = [
        f"At width {w} ({size}; {n} fresh seeds), each objective at its selected settings earns {ranking} of the "
        "teacher's test return."
    ]
    pairs = width["pairs"]
    objective_pairs = {p: c for p, c in pairs.items() if "fixed" not in p}
    found = [(p, c) for p, c in objective_pairs.items() if not c["verdict"].startswith("no detectable")]
    m = next(iter(pairs.values()))["family_size"] if pairs else 0
    if found:
        said = "; ".join(difference_phrase(p, c, 1.0, " points", 3) for p, c in found)
        parts.append(f"After Holm's correction over the width's {m} tests: {said}.")
    elif objective_pairs:
        parts.append(
            f"No two objectives differ detectably in return after Holm's correction over the width's {m} tests."
        )
    for obj in ("soft", "blended"):
        key = f"{obj} - {obj}, fixed"
        if key not in pairs:
            continue
        best, fixed = _arm(width, obj), _arm(width, f"{obj}, fixed")
        c = pairs[key]
        if best["label"] == fixed["label"]:
            parts.append(f"For {obj}, the selection chose the fixed settings themselves ({best['label']}).")
            continue
        how = (
            "no detectable difference"
            if c["verdict"].startswith("no detectable")
            else difference_phrase(f"{obj} selected - {obj} fixed", c, 1.0, " points", 3)
        )
        parts.append(
            f"{obj.capitalize()} at its selected {best['label'].split(', ', 1)[1]} earns "
            f"{best['return_pct']['mean']:.1f}% against {fixed['return_pct']['mean']:.1f}% at the fixed "
            f"{fixed['label'].split(', ', 1)[1]} ({how})."
        )
    if ties := tie_sentence(width):
        parts.append(ties)
    return " ".join(parts)


def tie_sentence(width: dict[str, Any]) -> str:
    """Which objectives' selections validation return could not decide (several candidates at the best)."""
    tied = []
    for obj in ("soft", "blended"):
        values = [c["val_return_pct"] for c in width["candidates"] if c["objective"] == obj]
        n_best = sum(v >= max(values) - 1e-9 for v in values) if values else 0
        if n_best > 1:
            tied.append(f"{n_best} of the {len(values)} {obj} candidates ({max(values):.1f}%)")
    if not tied:
        return ""
    return (
        f"Validation return ties at its best for {' and '.join(tied)}; the higher agreement on the buffer's "
        "validation split broke the tie, so the choice among those settings is weakly informed."
    )


def sharpness_sentence(width: dict[str, Any], fixed_t: float) -> str:
    """How uniform the teacher's soft targets are at the fixed temperature and at the sharpest one tried."""
    sharp = {float(t): v for t, v in width["sharpness"].items()}
    low = min(sharp)
    return (
        f"On the training buffer the teacher's soft targets have a mean largest probability of "
        f"{sharp[fixed_t]:.2f} at T = {fixed_t:g} (0.5 would be uniform over its two actions) and {sharp[low]:.2f} "
        f"at tau = {low:g}: at the fixed temperature the soft objectives learn from nearly uniform targets."
        if sharp[fixed_t] < 0.75
        else f"On the training buffer the teacher's soft targets have a mean largest probability of "
        f"{sharp[fixed_t]:.2f} at T = {fixed_t:g} and {sharp[low]:.2f} at tau = {low:g}."
    )


def short_verdict(summary: FairSummary, baselines: Any = None) -> str:
    """Per width, the best objective at its selected settings, whether it beats the others after Holm,
    and, when the baselines ran, how it stands against DQN from scratch."""
    if not summary.widths:
        return ""
    parts = []
    for width in summary.widths:
        chosen = sorted((a for a in width["arms"] if not a["fixed"]), key=lambda a: -a["return_pct"]["mean"])
        top = chosen[0]
        beaten = []
        for pair, c in width["pairs"].items():
            a, b = pair.split(" - ")
            if "fixed" not in pair and top["arm"] in (a, b) and not c["verdict"].startswith("no detectable"):
                if _winner(pair, c) == top["arm"]:
                    beaten.append(b if a == top["arm"] else a)
        beats = f", detectably above {', '.join(beaten)}" if beaten else ", not detectably above the others"
        settings = f" ({top['label'].split(', ', 1)[1]})" if ", " in top["label"] else ""
        parts.append(
            f"width {width['width']}: {top['arm']}{settings}, {top['return_pct']['mean']:.1f}%{beats}"
            + _scratch_clause(width, top["arm"], scratch_group(baselines, width["width"]))
        )
    first = summary.widths[0]
    n, m = first["n_seeds"], len(first["candidates"])
    reduced = "; a reduced grid: `make full` runs the full one" if n < FULL_SEEDS or m < FULL_CANDIDATES else ""
    text = (
        f"With each objective at its own settings (selected from {m} candidates by validation return, then {n} "
        f"fresh seeds; Holm-corrected per width{reduced}), the best test return is at " + "; ".join(parts) + "."
    )
    return text + _aggregate_clause(summary.aggregate)


def _scratch_clause(width: dict[str, Any], arm: str, scratch: dict[str, Any] | None) -> str:
    """``; DQN from scratch 62.0% (below it, Holm)`` or ``(no detectable difference)``; empty without the baseline."""
    test = versus_scratch(width, scratch).get(f"{arm} - from scratch") if scratch is not None else None
    if test is None:
        return ""
    if test["verdict"].startswith("no detectable"):
        how = "no detectable difference"
    else:
        how = f"{arm} {'above' if test['difference']['mean'] > 0 else 'below'} it after Holm"
    return f" (DQN from scratch: {scratch['return_pct']['mean']:.1f}%, {how})"


def _aggregate_clause(aggregate: dict[str, Any] | None) -> str:
    """The across-widths leader by IQM, and the probabilities of improvement over it that exclude 0.5."""
    if not aggregate:
        return ""
    est = aggregate["estimates"]
    top = max((a for a in est if not a.endswith("fixed")), key=lambda a: est[a]["iqm"]["mean"])
    iqm = est[top]["iqm"]
    wins = []
    for pair, p in aggregate["probability_of_improvement"].items():
        a, b = pair.split(" > ")
        if top in (a, b):
            other, (mean, low, high) = (
                (b, (p["mean"], p["low"], p["high"])) if a == top else (a, (1 - p["mean"], 1 - p["high"], 1 - p["low"]))
            )
            if low > 0.5:
                wins.append(f"P({top} > {other}) = {mean:.2f} [{low:.2f}, {high:.2f}]")
    said = "; ".join(wins) if wins else f"no probability of improvement of {top} over another has a CI above 0.5"
    return (
        f" Across widths {', '.join(map(str, aggregate['widths']))} (interquartile mean over seeds x widths, "
        f"stratified bootstrap), {top} leads with {100 * iqm['mean']:.1f}% [{100 * iqm['low']:.1f}, {100 * iqm['high']:.1f}]; "
        f"{said}."
    )


def _winner(pair: str, comparison: dict[str, Any]) -> str:
    a, b = pair.split(" - ")
    return a if comparison["difference"]["mean"] > 0 else b


def section(summary: FairSummary, others: dict[str, Any] | None = None) -> Section:
    """Per width: the decision table and its sentences; the sharpness of the teacher's targets; the figure."""
    if not summary.widths:
        return Section("Each objective at its best", "Not finished: " + ", ".join(summary.missing), "")
    first = summary.widths[0]
    fixed_t = next(a["setting"]["temperature"] for a in first["arms"] if a["fixed"])
    lines = [sharpness_sentence(first, fixed_t), ""]
    baselines = (others or {}).get("baselines")
    for width in summary.widths:
        lines += [decision_table(width, baselines), "", width_sentences(width), ""]
        if (scratch := scratch_group(baselines, width["width"])) is not None:
            lines += [scratch_sentence(width, scratch), ""]
    sel = first["selection_seeds"]
    eps = first["episodes"]
    lines.append(
        f"Selection: {len(first['candidates'])} candidate settings per width, each trained with {len(sel)} selection "
        f"seed{'s' * (len(sel) != 1)} ({', '.join(map(str, sel))}) and scored by greedy return on {eps['validation']} "
        f"validation episodes (reset seeds {eps['validation_seed']}..); the test episodes (reset seeds "
        f"{eps['test_seed']}.., {eps['test']} of them) and the evaluation seeds play no part in it. Tests: two-sided "
        "sign-flip tests by seed, Holm-corrected per width over every pair of the selected objectives and each of soft "
        "and blended selected vs fixed; 95% t-intervals."
    )
    lines.append(rusu_sentence(summary.widths))
    if summary.missing:
        lines.append(f"Not finished: {', '.join(summary.missing)}.")
    if aggregate := aggregate_sentence(summary.aggregate):
        lines.append(aggregate)
    figures = {"fair_returns.png": lambda: figure_decision(summary)}
    if summary.aggregate:
        figures["fair_profiles.png"] = lambda: figure_profiles(summary.aggregate)
    title = f"Each objective at its best: {task(first['teacher'].get('env_id', DEFAULT_ENV_ID)).label}"
    return Section(title, "\n".join(lines), short_verdict(summary, baselines), figures)
