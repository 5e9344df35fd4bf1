"""Benchmark: the whole papermill study against a plain single-process loop (not a test).

Times, in one run and alternating, (a) ``distill-study run -f params/reference.yaml --force``
(data notebook, three training notebooks, analysis notebook, HTML) and (b) a plain Python
process that builds the same data and trains the same three modes one after another with
``distill_lib.train_student``. Prints each time and the ratio; target ratio <= 1.3.

    python benchmarks/bench_runner.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLAIN = """
import numpy as np, torch
from distill_lib import MODES, RunConfig, build_student, build_teacher, train_student
from distill_lib.data import synthetic_states
teacher = build_teacher(42, 8, 64, 4)
states = torch.from_numpy(synthetic_states(42, 5000, 8))
init = build_student(42, 8, 64, 4).state_dict()
for mode, alpha in MODES.items():
    student = build_student(42, 8, 64, 4)
    student.load_state_dict(init)
    r = train_student(teacher, student, states, RunConfig(mode=mode, alpha=alpha))
    print(mode, r.final["action_agreement"], round(r.final["mean_prob_similarity"], 6), round(r.best_val_loss, 6), r.best_epoch)
"""


def _timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd[:4])} failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating repetitions (default 2)")
    args = parser.parse_args()
    runner_times, plain_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            t_plain, out_plain = _timed([sys.executable, "-c", PLAIN])
            t_run, out_run = _timed([sys.executable, "-m", "distill_lib", "run", "-f", "params/reference.yaml",
                                     "--force", "-q", "-o", str(Path(tmp) / f"r{i}")])
            plain_times.append(t_plain)
            runner_times.append(t_run)
            print(f"round {i + 1}: plain loop {t_plain:6.2f} s   distill-study run {t_run:6.2f} s   ratio {t_run / t_plain:.2f}")
    print("\nplain loop output:\n" + out_plain.strip())
    print("\ndistill-study output:\n" + out_run.strip())
    ratio = statistics.median(r / p for r, p in zip(runner_times, plain_times, strict=True))
    print(f"\nmedian: plain {statistics.median(plain_times):.2f} s, runner {statistics.median(runner_times):.2f} s, "
          f"ratio {ratio:.2f} (target <= 1.3, stretch <= 1.0)")


if __name__ == "__main__":
    main()
