"""Across tasks in words: the verdict, DQN from scratch, the pooled aggregate and Rusu et al.'s range."""

from __future__ import annotations

from typing import Any

from ...core.objectives import OBJECTIVES
from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...rl.tasks import task
from .summary import power

__all__ = ["context_sentences", "scratch_sentence", "verdict"]


def verdict(summary: dict[str, Any]) -> str:
    """The answer in a few sentences, written from the numbers."""
    tasks = [task(t["env_id"]).label for t in summary["tasks"]]
    cells = summary["leaders"]
    everywhere = [o for o in OBJECTIVES if cells and all(o in c["leaders"] for c in cells)]
    n = len(summary["tests"])
    parts = [f"Over {len(tasks)} task{'s' * (len(tasks) != 1)} ({', '.join(tasks)}) and {len(cells)} task x width cells "
             f"(Holm over all {n} pairwise tests of the selected objectives):"]  # fmt: skip
    tested = summary.get("power") or power(summary["tests"])
    if n and not tested["can_reject"]:
        seeds = min(t["n"] for t in summary["tests"])
        parts.append(f"these seeds cannot rank the objectives across tasks: with {seeds} seeds the exact sign-flip "
                     f"test's smallest p-value is {tested['smallest_p']:.2g}, and Holm over {n} tests needs one below "
                     f"{tested['needed']:.2g}, so no difference, however large, can be declared here (the full grid's "
                     "20 seeds can). The table's means and intervals still show where the objectives stand.")  # fmt: skip
        return " ".join(parts + context_sentences(summary))
    if summary["reversals"]:
        said = "; ".join(f"{r['a']} above {r['b']} on {task(r['a_above_on']).label} but below it on "
                         f"{task(r['b_above_on']).label}" for r in summary["reversals"])  # fmt: skip
        parts.append(f"the ranking does not hold across tasks: {said}.")
    else:
        parts.append("no pair of objectives is detectably ordered one way on one task and the other way on another.")
    if everywhere:
        names = ", ".join(everywhere[:-1]) + " and " + everywhere[-1] if len(everywhere) > 1 else everywhere[0]
        parts.append(f"{names} lead{'s' * (len(everywhere) == 1)} (no objective detectably above) "
                     "in every cell.")  # fmt: skip
    else:
        lead = {o: sum(o in c["leaders"] for c in cells) for o in OBJECTIVES}
        parts.append(
            "No objective leads in every cell; cells led: "
            + ", ".join(f"{o} {k} of {len(cells)}" for o, k in lead.items())
            + "."
        )
    return " ".join(parts + context_sentences(summary))


def scratch_sentence(summary: dict[str, Any]) -> str:
    """Where DQN from scratch is above every distilled objective's mean (means only; each study tests it).

    Self-distillation widths (a student of the teacher's size) are left out, as in the aggregate:
    there training from scratch is not the small network the question is about.
    """
    above = []
    for c in summary["leaders"]:
        cell = [r for r in summary["rows"] if (r["task"], r["width"]) == (c["task"], c["width"])]
        if any(r["params_pct"] >= 100.0 for r in cell):
            continue
        scratch = next((r for r in cell if r["objective"] == "scratch"), None)
        best = max(
            (r for r in cell if r["objective"] in OBJECTIVES), key=lambda r: r["return_pct"]["mean"], default=None
        )
        if scratch is not None and best is not None and scratch["return_pct"]["mean"] > best["return_pct"]["mean"]:
            above.append(f"{task(c['task']).label} width {c['width']} ({scratch['return_pct']['mean']:.1f}% against "
                         f"{best['objective']}'s {best['return_pct']['mean']:.1f}%)")  # fmt: skip
    if not above:
        return "No distilled objective's mean falls below DQN from scratch at its width (below the teacher's own size)."
    return ("DQN from scratch, trained on the task itself with the teacher's budget, is above the best distilled "
            f"objective's mean at {'; '.join(above)}: there, on average over seeds, distilling this teacher on its own "
            "states did worse than training the small network directly (each task's report tests every objective "
            "against it, Holm per width; widths of the teacher's own size are left out).")  # fmt: skip


def context_sentences(summary: dict[str, Any]) -> list[str]:
    """DQN from scratch, the pooled aggregate, Rusu's claim, and what a few tasks cannot show."""
    parts = [scratch_sentence(summary)]
    if agg := summary["aggregate"]:
        best = max(agg["estimates"], key=lambda o: agg["estimates"][o]["iqm"]["mean"])
        iqm = agg["estimates"][best]["iqm"]
        parts.append(f"Pooled over seeds x {agg['columns']} task-width columns (interquartile mean, stratified bootstrap), "
                     f"{best} is highest at {100 * iqm['mean']:.1f}% [{100 * iqm['low']:.1f}, {100 * iqm['high']:.1f}] of the teacher's return.")  # fmt: skip
    if summary["rusu"]:
        within = sum(r["where"] == "within" for r in summary["rusu"])
        parts.append(f"Rusu et al. (2016) report {RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of the teacher's score "
                     f"with {RUSU_PARAMS_PCT[0]:g}-{RUSU_PARAMS_PCT[1]:g}% of its parameters (Atari); here the best "
                     f"objective is within that range in {within} of {len(summary['rusu'])} such task x width cells.")  # fmt: skip
    parts.append("These are a few classic-control tasks with one teacher each: they can show a ranking that changes "
                 "with the task, not that one holds on every task.")  # fmt: skip
    return parts
