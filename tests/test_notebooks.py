"""Notebooks are clean in JupyterLab: a notebook executed as the README says writes nothing to stderr
(a red box in JupyterLab, and text in the step's HTML page), progress bars included.

The teacher notebook is the cheapest (a few seconds at a toy recipe) and the one that asks for a
progress bar (``train_and_save(..., progress=True)``); it is run the README's way, papermill with
``--cwd notebooks``, into a temporary folder (never the shipped asset).
"""

from __future__ import annotations

import logging

import papermill as pm
from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"


def _stderr(nb) -> list[tuple[int, str]]:
    """``(cell index, text)`` of every stderr stream output of an executed notebook."""
    return [
        (i, out["text"])
        for i, cell in enumerate(nb.cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]


def test_the_teacher_notebook_writes_nothing_to_stderr(tmp_path):
    params = {
        "env_id": "Acrobot-v1",
        "recipe": {"total_steps": 600, "eval_every": 300, "eval_episodes": 2, "learning_starts": 200},
        "independent_seeds": [1],
        "out_dir": str(tmp_path / "teacher"),
    }
    logging.getLogger("papermill").setLevel(logging.ERROR)
    nb = pm.execute_notebook(
        str(NOTEBOOKS / "00_teacher.ipynb"),
        str(tmp_path / "00_teacher.ipynb"),
        parameters=params,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    assert sorted(p.name for p in (tmp_path / "teacher").glob("*.pt")), "the notebook trained nothing"
    assert _stderr(nb) == []
