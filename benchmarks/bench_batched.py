"""Throughput of the stacked training loop (``train_batched``): S students trained at once vs one at a time.

Prints student training steps per second (one step = one mini-batch update of one
student, validation included in the wall time) for ``train_batched`` over S students and
for the same students trained sequentially by ``train_alone`` (the per-student spec, on
the same streams), and their ratio. The sequential side may run fewer epochs
(``--seq-epochs``) and fewer students (``--seq-students``); its per-step rate is what is
compared. Defaults are the study's size: 5000 states, input 8, teacher 64 -> student 32,
4 actions, 25 epochs, batch 64.

    python benchmarks/bench_batched.py                      # 30 students on the CPU
    python benchmarks/bench_batched.py --device cuda --students 600
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from distill_lib.core.config import RunConfig, mode_for_alpha
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.core.training import train_alone, train_batched


def sweep_configs(n: int, epochs: int) -> list[RunConfig]:
    """``n`` runs cycling over an alpha x temperature grid, one seed each."""
    grid = [(a, t) for a in (0.0, 0.3, 0.7, 1.0) for t in (1.0, 3.0, 5.0)]
    base = RunConfig(epochs=epochs)
    return [
        dataclasses.replace(
            base,
            seed=i,
            alpha=grid[i % len(grid)][0],
            mode=mode_for_alpha(grid[i % len(grid)][0]),
            temperature=grid[i % len(grid)][1],
        )
        for i in range(n)
    ]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="students in the batched run")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the batched run")
    parser.add_argument(
        "--seq-students", type=int, default=None, help="students trained sequentially (default: min(--students, 30))"
    )
    parser.add_argument("--seq-epochs", type=int, default=2, help="epochs per sequential student")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--repeats", type=int, default=1, help="alternate the two measurements this often; report the fastest of each"
    )
    args = parser.parse_args()
    if args.students < 1 or args.epochs < 1 or args.seq_epochs < 0 or args.repeats < 1:
        parser.error("--students, --epochs and --repeats must be >= 1, --seq-epochs >= 0")
    torch.set_num_threads(1)  # both trainers run single-threaded on the CPU anyway
    device = torch.device(args.device)

    configs = sweep_configs(args.students, args.epochs)
    ref = configs[0]
    teacher = build_teacher(0, ref.input_dim, ref.teacher_hidden, ref.output_dim).to(device)
    states = torch.randn(ref.n_states, ref.input_dim, generator=torch.Generator().manual_seed(1)).to(device)
    students = [build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim) for c in configs]
    steps_per_epoch = math.ceil((ref.n_states - ref.n_val) / ref.batch_size)
    print(
        f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, n_states={ref.n_states}, student width {ref.student_width}, "
        f"{steps_per_epoch} steps/epoch"
    )

    n_seq = min(args.seq_students or min(args.students, 30), args.students)
    seq_configs = [dataclasses.replace(c, epochs=max(1, args.seq_epochs)) for c in configs[:n_seq]]

    def run_batched() -> float:
        sync(device)
        start = time.perf_counter()
        train_batched(teacher, states, [s.to(device) for s in students], configs)
        sync(device)
        return time.perf_counter() - start

    def run_sequential() -> float:
        sync(device)
        start = time.perf_counter()
        for student, config in zip(students[:n_seq], seq_configs):
            train_alone(teacher, copy.deepcopy(student).to(device), states, config)
        sync(device)
        return time.perf_counter() - start

    # warm-up (lazy imports, allocator, kernels) of both trainers
    warm = [dataclasses.replace(c, epochs=1) for c in configs[:2]]
    train_batched(teacher, states, [s.to(device) for s in students[:2]], warm)
    train_alone(teacher, copy.deepcopy(students[0]).to(device), states, warm[0])

    batched_s, seq_s = float("inf"), float("inf")
    for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
        batched_s = min(batched_s, run_batched())
        if args.seq_epochs > 0:
            seq_s = min(seq_s, run_sequential())
    batched_rate = args.students * args.epochs * steps_per_epoch / batched_s
    print(
        f"batched:    {args.students} students x {args.epochs} epochs in {batched_s:.2f} s "
        f"-> {batched_rate:,.0f} student-steps/s"
    )
    if args.seq_epochs == 0:
        return
    seq_rate = n_seq * args.seq_epochs * steps_per_epoch / seq_s
    print(
        f"sequential: {n_seq} students x {args.seq_epochs} epochs in {seq_s:.2f} s -> {seq_rate:,.0f} student-steps/s"
    )
    print(f"ratio batched/sequential: {batched_rate / seq_rate:.1f}x")


if __name__ == "__main__":
    main()
