"""The data-source comparison's figure: test return against the transfer set's size, DAgger marked."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...report.plots import objective_color
from .summary import SourcesSummary

__all__ = ["figure_sizes"]


def figure_sizes(summary: SourcesSummary) -> Figure:
    """Test return vs teacher episodes in the buffer, per objective; DAgger and its equal-size control as markers."""
    widths = summary.widths
    fig = Figure(figsize=(max(6.4, 1.0 + 4.2 * len(widths)), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(widths), sharey=True))
    for ax, width in zip(axes, widths, strict=True):
        sizes = {a["arm"]: a["n_states"] for a in width["arms"]}
        transfer = [a["arm"] for a in width["arms"] if a["episodes"] is not None]
        x = [sizes[a] for a in transfer]
        for obj in width["objectives"]:
            mean = [width["cells"][a][obj]["return_pct"]["mean"] for a in transfer]
            ax.plot(x, mean, "o-", color=objective_color(obj), label=obj, lw=1.6, ms=4)
            if "DAgger" in sizes:
                for arm, marker in (("DAgger", "*"), ("teacher, same size", "s")):
                    ax.plot(sizes[arm], width["cells"][arm][obj]["return_pct"]["mean"], marker,
                            color=objective_color(obj), ms=9 if marker == "*" else 5, mfc="white" if marker == "s" else None)  # fmt: skip
        ax.set_xscale("log")
        ax.axhline(100.0, color="#444444", lw=0.8, ls="--")
        ax.set(xlabel="labelled states (teacher episodes: circles)", title=f"width {width['width']}")
    axes[0].set_ylabel("test return, % of the teacher's (seed mean)")
    axes[0].legend(fontsize=8, title="star: DAgger; square: teacher, same size", title_fontsize=7)
    return fig
