"""Throughput of the stacked training loop (``train_batched``) at 1, 30 and 200 students, against its FLOP floor.

Prints, for each student count S, student training steps per second (one step = one
mini-batch update of one student; validation included in the wall time), the FLOPs of one
student-step at the run's size (``flops_per_student_step``: the matmuls of forward and
backward, plus LayerNorm, activations, dropout, loss, clipping and Adam), the FLOP rate
that achieves, and the ratio to the floor: the student-steps/s the device would reach if
every FLOP ran at its measured single-thread matmul peak (``peak_flops``: the best of 30 1024^3 sgemms on
the CPU, with TF32 off on CUDA). Defaults are the study's size: 5000 states, input 8,
teacher 64 -> student 32, 4 actions, 25 epochs, batch 64.

Optionally (``--seq-epochs``) the same students trained one at a time by ``train_alone``
(the per-student specification, on the same streams), timed alternately with the batched run.

    python benchmarks/bench_batched.py                          # 1, 30 and 200 students on the CPU
    python benchmarks/bench_batched.py --students 30 --seq-epochs 2
    python benchmarks/bench_batched.py --device cuda --students 1 30 200 600
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import statistics
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


def flops_per_student_step(d: int, h: int, a: int, batch: int) -> dict[str, int]:
    """FLOPs of one student's training step (one mini-batch), by part; an FMA counts as 2.

    ``QNetwork(d, h, a)``: ``Linear -> LayerNorm -> ReLU -> Dropout`` twice, then ``Linear``.

    - matmuls: forward ``2B(dh + h^2 + ha)``; backward the same for the weight gradients and
      ``2B(h^2 + ha)`` for the input gradients (the states need none);
    - per hidden layer and state, about ``10h`` forward (bias, LayerNorm moments and
      normalisation ~5, affine 2, ReLU, dropout) and ``16h`` backward;
    - loss: about ``20a`` per state forward (two softmaxes over the actions, KL and CE terms)
      and as much backward;
    - clipping and Adam: about ``15P`` per step for ``P`` parameters.
    """
    params = d * h + h + 2 * h + h * h + h + 2 * h + h * a + a
    matmul = 2 * batch * (d * h + h * h + h * a) * 2 + 2 * batch * (h * h + h * a)
    elementwise = 2 * batch * h * (10 + 16) + 2 * 20 * batch * a + batch * a
    return {"matmul": matmul, "elementwise": elementwise, "optimizer": 15 * params}


def peak_flops(device: torch.device, n: int = 1024, repeats: int = 30) -> float:
    """Single-thread float32 matmul rate (FLOP/s) of ``n x n @ n x n``, the best of ``repeats`` (a shared machine slows some)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen).to(device), torch.randn(n, n, generator=gen).to(device)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 30, 200], help="student counts to time")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the batched run")
    parser.add_argument(
        "--seq-students", type=int, default=None, help="students trained sequentially (default: min(S, 30))"
    )
    parser.add_argument(
        "--seq-epochs", type=int, default=0, help="epochs per sequential student (0: no sequential run)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=1, help="time each run this often (alternating); medians")
    args = parser.parse_args()
    if min(args.students) < 1 or args.epochs < 1 or args.seq_epochs < 0 or args.repeats < 1:
        parser.error("--students, --epochs and --repeats must be >= 1, --seq-epochs >= 0")
    torch.set_num_threads(1)  # both trainers run single-threaded on the CPU anyway
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 matmuls, as on the CPU
    device = torch.device(args.device)

    ref = sweep_configs(1, args.epochs)[0]
    teacher = build_teacher(0, ref.input_dim, ref.teacher_hidden, ref.output_dim).to(device)
    states = torch.randn(ref.n_states, ref.input_dim, generator=torch.Generator().manual_seed(1)).to(device)
    steps_per_epoch = math.ceil((ref.n_states - ref.n_val) / ref.batch_size)
    flops = flops_per_student_step(ref.input_dim, ref.student_width, ref.output_dim, ref.batch_size)
    per_step = sum(flops.values())
    peak = peak_flops(device)
    floor = peak / per_step
    print(
        f"device={device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"torch {torch.__version__}, one thread; n_states={ref.n_states}, student "
        f"({ref.input_dim}, {ref.student_width}, {ref.output_dim}), batch {ref.batch_size}, "
        f"{steps_per_epoch} steps/epoch, {args.epochs} epochs"
    )
    print(
        f"FLOPs per student-step: {per_step:,} (matmuls {flops['matmul']:,}, elementwise "
        f"{flops['elementwise']:,}, clipping + Adam {flops['optimizer']:,}); matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s -> floor {floor:,.0f} student-steps/s"
    )

    # warm-up (lazy imports, allocator, kernels) of both trainers
    warm = [dataclasses.replace(c, epochs=1) for c in sweep_configs(2, 1)]
    warm_students = [build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim) for c in warm]
    train_batched(teacher, states, [s.to(device) for s in warm_students], warm)
    train_alone(teacher, copy.deepcopy(warm_students[0]).to(device), states, warm[0])

    for n in args.students:
        configs = sweep_configs(n, args.epochs)
        students = [build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim).to(device) for c in configs]
        n_seq = min(args.seq_students or min(n, 30), n)
        seq_configs = [dataclasses.replace(c, epochs=max(1, args.seq_epochs)) for c in configs[:n_seq]]

        def run_batched(configs=configs, students=students) -> float:
            sync(device)
            start = time.perf_counter()
            train_batched(teacher, states, students, configs)
            sync(device)
            return time.perf_counter() - start

        def run_sequential(students=students, n_seq=n_seq, seq_configs=seq_configs) -> float:
            sync(device)
            start = time.perf_counter()
            for student, config in zip(students[:n_seq], seq_configs):
                train_alone(teacher, copy.deepcopy(student), states, config)
            sync(device)
            return time.perf_counter() - start

        batched_s, seq_s = [], []
        for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
            batched_s.append(run_batched())
            if args.seq_epochs > 0:
                seq_s.append(run_sequential())
        rate = n * args.epochs * steps_per_epoch / statistics.median(batched_s)
        print(
            f"batched {n:4d} students: {statistics.median(batched_s):7.2f} s -> {rate:9,.0f} student-steps/s, "
            f"{rate * per_step / 1e9:6.2f} GFLOP/s, {100 * rate / floor:5.2f}% of the floor"
        )
        if seq_s:
            seq_rate = n_seq * args.seq_epochs * steps_per_epoch / statistics.median(seq_s)
            print(
                f"  sequential {n_seq} x {args.seq_epochs} epochs: {seq_rate:,.0f} student-steps/s; "
                f"batched/sequential {rate / seq_rate:.1f}x"
            )


if __name__ == "__main__":
    main()
