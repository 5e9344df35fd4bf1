"""The fair comparison's sentences, each built from the numbers by a small function of its own.

A sentence says "A above B" only where the width's Holm-corrected sign-flip test *and* the
interval with the teachers' variation both say so (``summary``); a ranking of means is called a
ranking of means; the aggregates across widths are reported with the plain mean and the share
of failed runs beside the interquartile mean, and said to be uncorrected for multiplicity.
"""

from __future__ import annotations

from typing import Any

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.phrases import solved_clause
from ...report.stats import difference_phrase
from .summary import LEVEL, FairSummary, is_self_distillation
from .tables import scratch_group, versus_scratch

__all__ = [
    "aggregate_sentence",
    "claims_sentence",
    "leaders",
    "ranking_sentence",
    "rusu_sentence",
    "scratch_sentence",
    "sharpness_sentence",
    "short_verdict",
    "soft_share_sentence",
    "tuning_sentence",
    "width_sentences",
]


def _size(width: dict[str, Any]) -> str:
    if is_self_distillation(width["params_pct"]):
        return "the teacher's own size: self-distillation, the ceiling of what each objective can copy"
    return f"{width['params_pct']:.0f}% of the teacher's parameters"


def _runs(width: dict[str, Any]) -> str:
    t, s = width["n_teachers"], width["n_seeds"]
    return f"{t} teacher{'s' * (t != 1)} x {s} seed{'s' * (s != 1)}"


def ranking_sentence(width: dict[str, Any]) -> str:
    """The objectives by mean test return (means over teachers of each teacher's mean), highest first."""
    ranked = sorted(width["objectives"], key=lambda o: -o["return_pct"]["mean"])
    said = ", ".join(f"{o['objective']} {o['return_pct']['mean']:.1f}%" for o in ranked)
    return (
        f"At width {width['width']} ({_size(width)}; {_runs(width)}), each objective at its selected settings "
        f"earns, in order of the mean: {said} of its teacher's test return."
    )


def leaders(width: dict[str, Any]) -> list[str]:
    """The objectives no other is detectably above (the width's claims; ``summary``)."""
    below = set()
    for pair, c in width["pairs"].items():
        if c["detectable"]:
            a, b = pair.split(" - ")
            below.add(b if c["difference"]["mean"] > 0 else a)
    return [o["objective"] for o in width["objectives"] if o["objective"] not in below]


def claims_sentence(width: dict[str, Any]) -> str:
    """What the tests can say: the detectable differences, or that there are none, and the rule behind a claim."""
    pairs = width["pairs"]
    m = len(pairs)
    rule = (
        f"a claim needs the Holm-corrected sign-flip p over the {m} pairs below {LEVEL:g} and the 95% interval "
        "that includes the teachers' variation clear of zero"
    )
    found = [difference_phrase(p, c, 1.0, " points", 3) for p, c in pairs.items() if c["detectable"]]
    if not found:
        return f"No two objectives differ detectably in test return ({rule})."
    lead = leaders(width)
    return f"Detectably: {'; '.join(found)} ({rule}). Leading (none detectably above): {', '.join(lead)}."


def tuning_sentence(width: dict[str, Any]) -> str:
    """How every objective was tuned: the same number of candidates each, selected on validation episodes."""
    counts = {o["objective"]: o["candidates"] for o in width["objectives"]}
    same = len(set(counts.values())) == 1
    how = (
        f"{next(iter(counts.values()))} candidates each"
        if same
        else "; ".join(f"{o}: {n}" for o, n in counts.items()) + " candidates (a smaller grid is tried whole)"
    )
    sel = width["selection_seeds"]
    return (
        f"Every objective chose its settings (its own, and its learning rate and gradient steps) from {how}, "
        f"each candidate trained under every teacher with {len(sel)} selection seed{'s' * (len(sel) != 1)} and "
        f"scored by greedy return on {width['episodes']['validation']} validation episodes (ties, as at the task's "
        "ceiling, broken by action agreement with the teacher on its held-out states); each run's checkpoint was "
        "picked by the same return (ties: the later one); the test episodes and the evaluation seeds played no part "
        "in either."
    )


def soft_share_sentence(width: dict[str, Any]) -> str:
    """How much of blended's gradient its soft term carries at the selected settings (near 0: nearly hard-only)."""
    share = width["soft_share"].get("blended")
    if share is None:
        return ""
    blended = next(o for o in width["objectives"] if o["objective"] == "blended")
    tail = (
        ": at these settings blended is nearly the hard objective"
        if share < 0.1
        else ": at these settings blended is nearly Hinton's soft objective"
        if share > 0.9
        else ""
    )
    return (
        f"At its selected settings ({blended['settings']}) the soft term carries {100 * share:.0f}% of blended's "
        f"gradient on an untrained student{tail}."
    )


def _whole(value: float) -> str:
    """A percentage to whole points, without the "-0" that rounding a small negative value leaves."""
    text = f"{value:.0f}"
    return "0" if text == "-0" else text


def teacher_spread_sentence(width: dict[str, Any]) -> str:
    """Where the teachers' means of one objective lie far apart (more than 10 points): the teacher matters."""
    if width["n_teachers"] < 2:
        return "With one teacher, nothing here says how much the result depends on the teacher."
    wide = [
        (o["objective"], min(o["return_pct"]["per_teacher"]), max(o["return_pct"]["per_teacher"]))
        for o in width["objectives"]
        if max(o["return_pct"]["per_teacher"]) - min(o["return_pct"]["per_teacher"]) > 10.0
    ]
    if not wide:
        return f"Each objective's {width['n_teachers']} teachers' means lie within 10 points of each other."
    # "from -9 to 15%": a hyphen between the bounds would read as a minus sign where the lower one is negative
    said = "; ".join(f"{o} from {_whole(lo)} to {_whole(hi)}%" for o, lo, hi in wide)
    return f"The teacher matters: the teachers' means spread over {said}."


def sharpness_sentence(width: dict[str, Any]) -> str:
    """How uniform the first teacher's soft targets are at the largest and smallest temperature tried."""
    sharp = {float(t): v for t, v in width["sharpness"].items()}
    low, high = min(sharp), max(sharp)
    return (
        f"On its transfer set the first teacher's softmax has a mean largest probability of {sharp[high]:.2f} at "
        f"T = {high:g} and {sharp[low]:.2f} at T = {low:g} ({sharp.get(1.0, float('nan')):.2f} at T = 1)."
    )


def width_sentences(width: dict[str, Any]) -> str:
    """The width's answer: the ranking of means, what the tests say, how the teachers differ, how blended leaned."""
    parts = [
        ranking_sentence(width),
        claims_sentence(width),
        teacher_spread_sentence(width),
        soft_share_sentence(width),
    ]
    return " ".join(p for p in parts if p)


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
        f"unpaired permutation tests over every distilled run, Holm over the {len(tests)} objectives; the distilled "
        f"students learned from {width['episodes']['transfer_steps']:,} environment steps of each teacher)"
    )
    found = [(p, c) for p, c in tests.items() if not c["verdict"].startswith("no detectable")]
    none = [p.split(" - ")[0] for p, c in tests.items() if c["verdict"].startswith("no detectable")]
    parts = [difference_phrase(p, c, 1.0, " points", 3) for p, c in found]
    if none:
        parts.append(f"no detectable difference for {', '.join(none)}")
    return f"{head}: {'; '.join(parts)}."


def rusu_sentence(widths: list[dict[str, Any]]) -> str:
    """The distilled students' best returns against Rusu et al. (2016)'s compression claim, width by width."""
    low, high = RUSU_PARAMS_PCT
    parts = []
    for width in widths:
        best = max(width["objectives"], key=lambda o: o["return_pct"]["mean"])
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
            f"width {width['width']} ({width['params_pct']:.1f}% of the parameters, {where}): best distilled "
            f"{best['objective']} {score:.1f}%{'' if within else ', outside their score range'}"
        )
    return (
        f"Against Rusu et al. (2016), whose distilled students with {low:g}-{high:g}% of the teacher's parameters "
        f"reached {RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of its score on Atari: " + "; ".join(parts) + "."
    )


def aggregate_sentence(aggregate: dict[str, Any] | None) -> str:
    """Across widths: each objective's interquartile mean, plain mean and share of runs below half the teacher's
    return, and the probabilities of improvement whose interval excludes 0.5."""
    if not aggregate:
        return ""
    est, below = aggregate["estimates"], aggregate["below_half"]
    ranked = sorted(est, key=lambda o: -est[o]["iqm"]["mean"])
    each = "; ".join(
        f"{o} IQM {100 * est[o]['iqm']['mean']:.1f}% [{100 * est[o]['iqm']['low']:.1f}, "
        f"{100 * est[o]['iqm']['high']:.1f}], mean {100 * est[o]['mean']['mean']:.1f}%, "
        f"{100 * below[o]:.0f}% of runs below half"
        for o in ranked
    )
    clear = []
    for pair, p in aggregate["probability_of_improvement"].items():
        a, b = pair.split(" > ")
        if p["low"] > 0.5:
            clear.append(f"P({a} > {b}) = {p['mean']:.2f} [{p['low']:.2f}, {p['high']:.2f}]")
        elif p["high"] < 0.5:
            clear.append(f"P({b} > {a}) = {1 - p['mean']:.2f} [{1 - p['high']:.2f}, {1 - p['low']:.2f}]")
    said = (
        "; probabilities of improvement whose 95% interval excludes 0.5: " + "; ".join(clear)
        if clear
        else "; no probability of improvement has a 95% interval that excludes 0.5"
    )
    widths = ", ".join(map(str, aggregate["widths"]))
    return (
        f"Across widths {widths} ({aggregate['n_runs']} runs each; Agarwal et al. 2021, stratified bootstrap over "
        f"runs within width, rliable): {each}{said}. The IQM leaves out the best and worst quarter of runs, so the "
        "mean and the share of failures are beside it; these aggregates weigh every width alike and are not "
        "corrected for multiplicity."
    )


def short_verdict(summary: FairSummary, baselines: Any = None) -> str:
    """Per width, the leaders (none detectably above them) and the best mean, with DQN from scratch beside it."""
    if not summary.widths:
        return ""
    parts = []
    for width in summary.widths:
        lead = leaders(width)
        best = max(width["objectives"], key=lambda o: o["return_pct"]["mean"])
        scratch = scratch_group(baselines, width["width"])
        beside = f"; DQN from scratch {scratch['return_pct']['mean']:.1f}%" if scratch is not None else ""
        who = "every objective (no detectable difference)" if len(lead) == len(width["objectives"]) else ", ".join(lead)
        parts.append(
            f"width {width['width']}: leading {who}; highest mean {best['objective']} "
            f"{best['return_pct']['mean']:.1f}% [{best['return_pct']['low']:.1f}, {best['return_pct']['high']:.1f}]{beside}"
        )
    first = summary.widths[0]
    n = {o["candidates"] for o in first["objectives"]}
    tuned = f"{n.pop()} candidates each" if len(n) == 1 else "equal budgets"
    return (
        f"Each objective as its paper defines it, tuned with {tuned} on validation episodes, then {_runs(first)} "
        f"fresh runs (intervals include the teachers' variation; claims need Holm and that interval): "
        + "; ".join(parts)
        + "."
    )
