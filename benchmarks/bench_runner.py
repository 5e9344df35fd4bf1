"""Benchmark: the whole papermill study against plain single-process loops (not a test).

Times, in one run and alternating:

- ``distill-study run -f params/reference.yaml --force``: data notebook, three training
  notebooks (in parallel processes), analysis notebook, HTML;
- the plain loop: one Python process running the reference protocol for the three modes
  one after another, written the obvious way (``nn.LayerNorm``, torch's default threads),
  as ``tests/test_training.py``'s independent reference does;
- the library loop: one Python process calling ``distill_lib.train_student`` three times.

All three print the same table. The ratio that the project's target (<= 1.3) refers to is
runner / plain loop; runner / library loop is printed too.

    python benchmarks/bench_runner.py [--rounds 3]
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

NAIVE = """
import random, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
def net(i, h, o, p):
    m = nn.Sequential(nn.Linear(i, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(p), nn.Linear(h, h), nn.LayerNorm(h),
                      nn.ReLU(), nn.Dropout(p), nn.Linear(h, o))
    for mod in m:
        if isinstance(mod, nn.Linear):
            nn.init.xavier_uniform_(mod.weight); nn.init.zeros_(mod.bias)
    return m
torch.manual_seed(42); teacher = net(8, 64, 4, 0.1).eval()
x = torch.from_numpy(np.random.default_rng(10042).standard_normal((5000, 8)).astype(np.float32))
torch.manual_seed(20042); init = net(8, 32, 4, 0.05).state_dict()
for mode, alpha in [("hard_only", 0.0), ("blended", 0.7), ("soft_only", 1.0)]:
    student = net(8, 32, 4, 0.05); student.load_state_dict(init)
    random.seed(30042); np.random.seed(30042); torch.manual_seed(30042)
    perm = np.random.permutation(5000); xtr, xva = x[torch.from_numpy(perm[:4500])], x[torch.from_numpy(perm[4500:])]
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    def loss_of(s, t):
        soft = F.kl_div(F.log_softmax(s / 3, -1), F.softmax(t / 3, -1), reduction="batchmean") * 9
        return soft if alpha == 1 else alpha * soft + (1 - alpha) * F.cross_entropy(s, t.argmax(-1))
    best, best_epoch = float("inf"), -1
    for epoch in range(25):
        student.train(); idx = torch.randperm(4500)
        for i in range(0, 4500, 64):
            xb = xtr[idx[i:i + 64]]
            with torch.no_grad(): t = teacher(xb)
            loss = loss_of(student(xb), t); opt.zero_grad(); loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0); opt.step()
        student.eval(); idx = torch.randperm(500); losses, sims, agree = [], [], 0
        with torch.no_grad():
            for i in range(0, 500, 64):
                xb = xva[idx[i:i + 64]]; t, s = teacher(xb), student(xb)
                losses.append(loss_of(s, t).item()); agree += int((s.argmax(-1) == t.argmax(-1)).sum())
                sims.append((1 - (F.softmax(t / 3, -1) - F.softmax(s / 3, -1)).abs().mean()).item())
        if np.mean(losses) < best: best, best_epoch = float(np.mean(losses)), epoch
    print(mode, agree / 500, round(float(np.mean(sims)), 6), round(best, 6), best_epoch)
"""

PLAIN = """
import numpy as np, torch
from distill_lib import MODES, RunConfig, build_student, build_teacher, train_student
from distill_lib.core.data import synthetic_states
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
    parser.add_argument("--rounds", type=int, default=3, help="alternating repetitions (default 3)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"plain loop": [], "library loop": [], "distill-study run": []}
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            commands = {
                "plain loop": [sys.executable, "-c", NAIVE],
                "library loop": [sys.executable, "-c", PLAIN],
                "distill-study run": [
                    sys.executable,
                    "-m",
                    "distill_lib",
                    "run",
                    "-f",
                    "params/reference.yaml",
                    "--force",
                    "-q",
                    "-o",
                    str(Path(tmp) / f"r{i}"),
                ],
            }
            for name, cmd in commands.items():
                elapsed, outputs[name] = _timed(cmd)
                times[name].append(elapsed)
            row = "   ".join(f"{name} {values[-1]:6.2f} s" for name, values in times.items())
            print(f"round {i + 1}: {row}", flush=True)
    for name, out in outputs.items():
        print(f"\n{name} output:\n{out.strip()}")
    med = {name: statistics.median(values) for name, values in times.items()}
    runner = times["distill-study run"]
    vs_plain = statistics.median(r / p for r, p in zip(runner, times["plain loop"], strict=True))
    vs_lib = statistics.median(r / p for r, p in zip(runner, times["library loop"], strict=True))
    print("\nmedian: " + ", ".join(f"{name} {value:.2f} s" for name, value in med.items()))
    print(
        f"ratio distill-study run / plain loop {vs_plain:.2f} (target <= 1.3, stretch <= 1.0); "
        f"/ library loop {vs_lib:.2f}"
    )


if __name__ == "__main__":
    main()
