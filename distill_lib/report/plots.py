"""What every figure of the study shares: one colour per objective, and how a figure is shown and saved.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot (no global state,
safe in a headless kernel); each experiment draws its own and returns them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from ..records.atomic import atomic_savefig

__all__ = ["DPI", "MODE_COLORS", "OBJECTIVE_COLORS", "image", "mode_color", "objective_color", "save_figure"]

#: one colour per objective, used in every figure
MODE_COLORS = {"hard_only": "#d95f02", "blended": "#7570b3", "soft_only": "#1b9e77"}
#: resolution of saved figures: legible when shown at the report's width
DPI = 110


def mode_color(name: str) -> str | None:
    """The objective's colour (None lets matplotlib choose for anything else)."""
    return MODE_COLORS.get(name)


#: one colour per objective of ``core.objectives`` (ColorBrewer's Dark2): hard, hinton and blended keep the colours
#: of the study's modes they generalise (hard_only, soft_only, blended); grey is left for baselines
OBJECTIVE_COLORS = {
    "hard": MODE_COLORS["hard_only"],
    "hinton": MODE_COLORS["soft_only"],
    "soft": MODE_COLORS["soft_only"],
    "blended": MODE_COLORS["blended"],
    "rusu": "#e7298a",
    "mse": "#66a61e",
    "advantage": "#e6ab02",
    "mse_raw": "#a6761d",
    "advantage_raw": "#1f78b4",  # outside Dark2 (its eighth is grey): Paired's blue
}


def objective_color(arm: str) -> str:
    """The colour of an objective, or of an arm named after one (``"hard (DAgger)"``); grey for any other."""
    return OBJECTIVE_COLORS.get(arm.split(",")[0].split(" ")[0], "#7f7f7f")


def image(fig: Figure, dpi: int = DPI) -> Any:
    """The figure as an ``IPython.display.Image`` (a bare ``Figure`` has no image repr without pyplot)."""
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return Image(data=buffer.getvalue(), format="png")


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Save as PNG, atomically; returns the path."""
    atomic_savefig(path, fig, dpi=dpi)
    return Path(path)
