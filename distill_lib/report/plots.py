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

__all__ = ["DPI", "MODE_COLORS", "image", "mode_color", "objective_color", "save_figure"]

#: one colour per objective, used in every figure
MODE_COLORS = {"hard_only": "#d95f02", "blended": "#7570b3", "soft_only": "#1b9e77"}
#: resolution of saved figures: legible when shown at the report's width
DPI = 110


def mode_color(name: str) -> str | None:
    """The objective's colour (None lets matplotlib choose for anything else)."""
    return MODE_COLORS.get(name)


#: an objective of the real-task experiments -> the colour of the study's mode it generalises (mse: grey)
_OBJECTIVE_MODE = {"hard": "hard_only", "soft": "soft_only", "blended": "blended"}


def objective_color(arm: str) -> str:
    """The colour of an objective, or of an arm named after one (``"soft, fixed"``); grey for any other."""
    return mode_color(_OBJECTIVE_MODE.get(arm.split(",")[0], "")) or "#7f7f7f"


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
