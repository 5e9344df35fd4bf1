"""Parameterise every notebook at smoke size for nbval (``make test``).

Writes papermill-prepared (not executed) copies into OUTDIR, named so that nbval runs them
in dependency order (the world, training, seeds, sweep, the real task, fair, baselines (from
scratch), the data budgets (after fair: they read its selection), then the analysis that reads
them all; the teacher-training notebook on its own, writing to OUTDIR, never to the shipped
asset). Every notebook gets the whole smoke study's parameters, as the runner injects them (a
notebook plans the study from them), and the per-step values that pick its step.
Usage: nbval_prepare.py OUTDIR
"""

import logging
import shutil
import sys
from pathlib import Path

import papermill as pm
import yaml

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    smoke = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    # one mode and one sweep cell, the same in every notebook, so that the analysis finds every step
    common = {
        **smoke,
        "modes": ["blended"],
        "sweep_temperatures": [1.0],
        "sweep_mse": False,
        "work_dir": str(out / "work"),
        "out_dir": str(out / "report"),
    }
    jobs = {
        "a_00_teacher.ipynb": (
            "00_teacher.ipynb",
            {
                "env_id": "Acrobot-v1",
                "recipe": {"total_steps": 600, "eval_every": 300, "eval_episodes": 2, "learning_starts": 200},
                "independent_seeds": [1],
                "out_dir": str(out / "teacher"),
            },
        ),
        "b_01_world.ipynb": ("01_world.ipynb", common),
        "c_02_train.ipynb": ("02_train.ipynb", {**common, "mode": "blended"}),
        "d_04_seeds.ipynb": ("04_seeds.ipynb", common),
        "e_05_sweep.ipynb": ("05_sweep.ipynb", {**common, "sweep_temperature": 1.0, "sweep_loss_fn": "kl"}),
        "f_06_real_task.ipynb": ("06_real_task.ipynb", common),
        "g_07_fair.ipynb": ("07_fair.ipynb", {**common, "fair_width": common["fair_widths"][0]}),
        "h_08_baselines.ipynb": ("08_baselines.ipynb", {**common, "baseline": "scratch", "scratch_width": 8}),
        "i_09_budgets.ipynb": ("09_budgets.ipynb", {**common, "budget_width": common["budget_widths"][0]}),
        "j_03_analysis.ipynb": ("03_analysis.ipynb", common),
    }
    logging.getLogger("papermill").setLevel(logging.ERROR)  # most study parameters are undeclared: no warning each
    for name, (source, params) in jobs.items():
        if source == "00_teacher.ipynb":  # not a study step: only what it declares
            declared = pm.inspect_notebook(str(ROOT / "notebooks" / source))
            params = {k: v for k, v in params.items() if k in declared}
        pm.execute_notebook(str(ROOT / "notebooks" / source), str(out / name), parameters=params, prepare_only=True)
    print(f"prepared {len(jobs)} notebooks in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
