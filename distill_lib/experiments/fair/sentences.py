"""The fair comparison's sentences, each built from the numbers by a small function of its own.

A sentence says "A above B" only where the Holm-corrected test of that width says so; the
aggregates across widths are reported with their bootstrap intervals and said to be
uncorrected for multiplicity.
"""

from __future__ import annotations

from typing import Any

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.phrases import rank_modes, solved_clause
from ...report.stats import difference_phrase
from .summary import FULL_CANDIDATES, FULL_SEEDS, FairSummary, is_self_distillation
from .tables import scratch_group, versus_scratch

__all__ = [
    "aggregate_sentence",
    "rusu_sentence",
    "scratch_sentence",
    "sharpness_sentence",
    "short_verdict",
    "tie_sentence",
    "width_sentences",
]


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
        if is_self_distillation(width["params_pct"])
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


def scratch_sentence(width: dict[str, Any], scratch: dict[str, Any]) -> str:
    """Does distillation beat training the small network with DQN? Conditioned on the tests' outcomes."""
    tests = versus_scratch(width, scratch)
    if not tests:
        return ""
    budget = (
        f"the teacher's {scratch['env_steps']:,} environment steps"
        if scratch["env_steps"] == scratch["teacher_steps"]
        else f"only {scratch['env_steps']:,} environment steps, not the teacher's {scratch['teacher_steps']:,}"
    )
    head = (
        f"Against DQN from scratch at width {width['width']} ({scratch['n']} runs, {budget}; "
        f"{scratch['return_pct']['mean']:.1f}% of the teacher's return{solved_clause(scratch).replace(' runs', '')}; "
        f"unpaired permutation tests, Holm over the {len(tests)} selected objectives)"
    )
    found = [(p, c) for p, c in tests.items() if not c["verdict"].startswith("no detectable")]
    none = [p.split(" - ")[0] for p, c in tests.items() if c["verdict"].startswith("no detectable")]
    parts = [difference_phrase(p, c, 1.0, " points", 3) for p, c in found]
    if none:
        parts.append(f"no detectable difference for {', '.join(none)}")
    return f"{head}: {'; '.join(parts)}."


def rusu_sentence(widths: list[dict[str, Any]]) -> str:
    """The selected objectives' returns against Rusu et al. (2016)'s compression claim, width by width."""
    low, high = RUSU_PARAMS_PCT
    parts = []
    for width in widths:
        arms = [a for a in width["arms"] if not a["fixed"]]
        best = max(arms, key=lambda a: a["return_pct"]["mean"])
        score = best["return_pct"]["mean"]
        where = (
            "inside their parameter range"
            if low <= width["params_pct"] <= high
            else "smaller than their students"
            if width["params_pct"] < low
            else "larger than their students"
        )
        within = RUSU_SCORE_PCT[0] <= score <= RUSU_SCORE_PCT[1]
        parts.append(
            f"width {width['width']} ({width['params_pct']:.1f}% of the parameters, {where}): best {best['arm']} "
            f"{score:.1f}%{'' if within else ', outside their score range'}"
        )
    return (
        f"Against Rusu et al. (2016), whose students with {low:g}-{high:g}% of the teacher's parameters reached "
        f"{RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of its score on Atari, each objective at its selected settings: "
        + "; ".join(parts)
        + "."
    )
