"""Parameterise the notebooks at smoke size for nbval (``make test``).

Writes papermill-prepared (not executed) copies into OUTDIR; nbval then executes them in
order (data, training, analysis) in the current environment. Usage: nbval_prepare.py OUTDIR
"""

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
    common = {**smoke, "work_dir": str(out / "work")}
    jobs = {
        "01_data.ipynb": common,
        "02_train.ipynb": {**common, "mode": "blended", "alpha": 0.7},
        "03_analysis.ipynb": {"work_dir": str(out / "work"), "out_dir": str(out / "report"), "modes": ["blended"]},
    }
    for name, params in jobs.items():
        declared = pm.inspect_notebook(str(ROOT / "notebooks" / name))
        params = {k: v for k, v in params.items() if k in declared}
        pm.execute_notebook(str(ROOT / "notebooks" / name), str(out / name), parameters=params, prepare_only=True)
    print(f"prepared {len(jobs)} notebooks in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
