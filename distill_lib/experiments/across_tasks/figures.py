"""The cross-task figure: return (% of the teacher's) against student size, one panel per task."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...report.literature import RUSU_PARAMS_PCT, RUSU_SCORE_PCT
from ...report.plots import objective_color
from ...rl.tasks import task

__all__ = ["figure_budgets", "figure_tasks"]


def figure_tasks(summary: dict[str, Any]) -> Figure:
    """Per task: each selected objective and DQN from scratch (dashed) by % of the teacher's parameters, 95% CIs."""
    tasks = [t["env_id"] for t in summary["tasks"]]
    fig = Figure(figsize=(max(6.4, 1.0 + 4.0 * len(tasks)), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(tasks), sharey=True))
    for ax, env_id in zip(axes, tasks, strict=True):
        ax.fill_between(RUSU_PARAMS_PCT, *RUSU_SCORE_PCT, color="#bbbbbb", alpha=0.3, lw=0, label="Rusu et al. 2016")
        ax.axhline(100.0, color="#444444", lw=0.8, ls="--")
        names = [*summary["objectives"], "scratch"]
        for i, name in enumerate(names):
            rows = sorted((r for r in summary["rows"] if r["task"] == env_id and r["objective"] == name),
                          key=lambda r: r["params_pct"])  # fmt: skip
            if not rows:
                continue
            x = np.array([r["params_pct"] for r in rows]) * (1.0 + 0.04 * (i - (len(names) - 1) / 2))  # dodge
            ci = [r["return_pct"] for r in rows]
            err = np.array([[c["mean"] - (c["low"] if c["low"] is not None else c["mean"]),
                             (c["high"] if c["high"] is not None else c["mean"]) - c["mean"]] for c in ci]).T  # fmt: skip
            style = (
                {"ls": "--", "color": "#444444", "marker": "s"}
                if name == "scratch"
                else {"color": objective_color(name), "marker": "o"}
            )
            ax.errorbar(x, [c["mean"] for c in ci], yerr=err, capsize=3, ms=4,
                        label="DQN from scratch" if name == "scratch" else name, **style)  # fmt: skip
        ticks = sorted({(r["params_pct"], r["width"]) for r in summary["rows"] if r["task"] == env_id})
        ax.set_xscale("log")
        ax.set_xticks([t for t, _ in ticks], [f"{t:.0f}%\n(w {w})" for t, w in ticks], fontsize=8)
        ax.minorticks_off()
        ax.set(title=task(env_id).label, xlabel="student parameters, % of the teacher's")
    axes[0].set_ylabel("test return, % of the teacher's (from the task's floor)")
    axes[-1].legend(fontsize=7, loc="lower right")
    return fig


def figure_budgets(summary: dict[str, Any]) -> Figure:
    """Per task (one panel per task and budget width): test return against environment steps, every objective
    (teacher-driven states) and DQN from scratch on the same axis."""
    panels = [(t["env_id"], w) for t in summary["tasks"] for w in t["budgets"]]
    fig = Figure(figsize=(max(6.4, 1.0 + 4.0 * len(panels)), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (env_id, width) in zip(axes, panels, strict=True):
        for curve in width["curves"]:
            x = [p["budget"] for p in curve["points"]]
            ax.plot(x, [p["return_pct"]["mean"] for p in curve["points"]], "o-", ms=3.5, lw=1.4,
                    color=objective_color(curve["objective"]), label=curve["objective"])  # fmt: skip
        if width["scratch"]:
            ax.plot([p["budget"] for p in width["scratch"]], [p["return_pct"]["mean"] for p in width["scratch"]],
                    "s-", color="black", ms=4, lw=1.6, label="DQN from scratch")  # fmt: skip
        ax.axhline(100.0, color="#444444", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set(title=f"{task(env_id).label}, width {width['width']}", xlabel="environment steps")
    axes[0].set_ylabel("test return, % of the teacher's (mean over teachers)")
    axes[-1].legend(fontsize=7, loc="lower right")
    return fig
