"""The results page's ``advantage-scale`` block: the experiment behind the advantage objective's scale.

``params/advantage-scale.yaml`` runs the full grid's fair comparison (its search, four teachers x
five seeds, at every width) for two objectives only: MSE on the advantages divided by their
standard deviation on the buffer (``advantage``) and as they are (``advantage_raw``), one study
per task under ``reports/experiments/advantage-scale/<env_id>/``. This block quotes, per task and
width, each one's test return (as a % of each run's own teacher's, two-stage bootstrap interval)
and their paired difference, with the fair step's paired sign-flip p-values adjusted by Holm
over every task and width together (one family: a cell is not picked out after looking). A
difference is called detectable only where the adjusted p is below 0.05 and its interval is
clear of zero: the rule of every other comparison in the study.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..report.stats import holm

__all__ = ["SCALE_DIR", "scale_block", "scale_studies"]

#: one study per task (``params/advantage-scale.yaml``), relative to the project root
SCALE_DIR = "reports/experiments/advantage-scale"
PAIR = ("advantage", "advantage_raw")


def scale_studies(root: Path) -> list[dict[str, Any]] | None:
    """Every ``results.json`` under ``SCALE_DIR`` (one per task, in the folders' order); None where there is none."""
    folder = root / SCALE_DIR
    files = sorted(folder.glob("*/results.json")) if folder.is_dir() else []
    studies = []
    for path in files:
        study = json.loads(path.read_text(encoding="utf-8"))
        studies.append(study | {"_path": f"{SCALE_DIR}/{path.parent.name}"})
    return studies or None


def _num(x: float) -> str:
    """One decimal, or two significant digits where one decimal would round a nonzero number to 0."""
    return f"{x:.2g}" if 0.0 < abs(x) < 0.05 else f"{x:.1f}"


def _ci(x: dict[str, Any]) -> str:
    return f"{_num(x['mean'])} [{_num(x['low'])}, {_num(x['high'])}]"


def _cells(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One cell per (task, width) that measured both objectives: their entries and their pair's comparison."""
    cells = []
    for study in studies:
        for width in study.get("fair", {}).get("widths", []):
            by = {o["objective"]: o for o in width["objectives"]}
            pair = width["pairs"].get(f"{PAIR[0]} - {PAIR[1]}")
            flipped = pair is None and f"{PAIR[1]} - {PAIR[0]}" in width["pairs"]
            if flipped:
                pair = width["pairs"][f"{PAIR[1]} - {PAIR[0]}"]
            if pair is None or not all(o in by for o in PAIR):
                continue
            sign = -1.0 if flipped else 1.0
            d = pair["difference"]
            low, high = sorted((sign * d["low"], sign * d["high"]))
            cells.append(
                {
                    "task": width["env_id"],
                    "width": width["width"],
                    "n": pair["n"],
                    "scaled": by[PAIR[0]],
                    "raw": by[PAIR[1]],
                    "difference": {"mean": sign * d["mean"], "low": low, "high": high},
                    "p": max(pair["p_value"], pair.get("p_floor", 0.0)),
                }
            )
    return cells


def _setting(entry: dict[str, Any]) -> str:
    """``lr 0.003, 10,000 steps`` from ``advantage (lr 0.003, 10,000 steps)``."""
    label = entry.get("label", "")
    return label[label.find("(") + 1 : label.rfind(")")] if "(" in label else label


def scale_block(studies: list[dict[str, Any]] | None, up: str = "") -> str:
    """The block's markdown: the table, the verdict, and where it came from."""
    if not studies:
        return (
            "The advantage-scale experiment has not been run in this checkout: "
            "`distill-study run -f params/study.yaml -f params/real-task.yaml -f params/advantage-scale.yaml` "
            f"per task into `{SCALE_DIR}/<env_id>`."
        )
    cells = _cells(studies)
    if not cells:
        return f"The studies under `{SCALE_DIR}` hold no width with both {PAIR[0]} and {PAIR[1]}."
    adjusted = holm([c["p"] for c in cells])
    lines = [
        f"MSE on the advantages divided by their standard deviation on the buffer (`{PAIR[0]}`) against the same "
        f"advantages unscaled (`{PAIR[1]}`), each tuned by the full grid's search (9 candidates) and tested on "
        f"4 teachers x 5 seeds: test return as a % of each run's teacher's, 95% intervals over teachers then runs; "
        f"the paired sign-flip p of each cell adjusted by Holm over all {len(cells)} task-width cells.",
        "",
        "| task | width | advantage (scaled) | its settings | advantage_raw | its settings | scaled - unscaled | "
        "Holm p |",
        "|---|---:|---|---|---|---|---|---:|",
    ]
    above, below = [], []
    for cell, p in zip(cells, adjusted):
        d = cell["difference"]
        where = f"{cell['task']} width {cell['width']}"
        if p < 0.05 and d["low"] > 0:
            above.append(where)
        elif p < 0.05 and d["high"] < 0:
            below.append(where)
        lines.append(
            f"| {cell['task']} | {cell['width']} | {_ci(cell['scaled']['return_pct'])} | {_setting(cell['scaled'])} | "
            f"{_ci(cell['raw']['return_pct'])} | {_setting(cell['raw'])} | {_ci(d)} | {p:.3g} |"
        )
    said = [
        f"scaled above unscaled in {len(above)} of {len(cells)} cells ({'; '.join(above) or 'none'})",
        f"below in {len(below)} ({'; '.join(below) or 'none'})",
    ]
    lines += ["", "Detectably (Holm p < 0.05 and the interval clear of zero): " + ", ".join(said) + "; elsewhere no "
              "detectable difference."]  # fmt: skip
    sources = ", ".join(f"[`{s['_path']}`]({up}{s['_path']}/results.md)" for s in studies)
    commits = sorted({(s.get("provenance", {}).get("commit") or "?")[:7] for s in studies})
    lines += ["", f"(Generated by `make readme` from {sources}, at commit {', '.join(commits)}.)"]
    return "\n".join(lines)
