"""Throughput of the stacked training loop (``train_batched``) at 1, 30 and 200 students, against its FLOP floor.

Prints, for each student count S, student training steps per second (one step = one
mini-batch update of one student; validation included in the wall time), the FLOPs of one
student-step at the run's size (``flops_per_student_step``: the matmuls of forward and
backward, plus LayerNorm, activations, dropout, loss, clipping and Adam), and the ratio to
the floor: the student-steps/s the device would reach if every FLOP ran at its measured
single-thread matmul peak (``peak_flops``: the best of 30 1024^3 sgemms on the CPU, with TF32
off on CUDA). Defaults are the study's size: 5000 states, input 8, teacher 64 -> student 32,
4 actions, 25 epochs, batch 64.

Every figure is printed beside a baseline measured in the same run: another copy of the
library (``--baseline DIR``, a directory holding a ``distill_lib`` package; by default
``/tmp/base_d9169b1`` when it exists, the code before the fused stacked step). Each run is a
fresh Python process (``--child``) that imports one copy, warms up, and times one
``train_batched`` call; the copies alternate, so that a busy machine slows both alike.
Optionally (``--seq-epochs``) the same students trained one at a time by ``train_alone``
(the per-student specification, on the same streams).

    mkdir -p /tmp/base_d9169b1 && git archive d9169b1 distill_lib | tar -x -C /tmp/base_d9169b1
    python benchmarks/bench_batched.py                          # 1, 30 and 200 students on the CPU
    python benchmarks/bench_batched.py --students 200 --repeats 3
    python benchmarks/bench_batched.py --baseline none --students 30 --seq-epochs 2
    python benchmarks/bench_batched.py --device cuda --students 1 30 200 600

How the step was made faster, measured on the 2-core AMD EPYC (Zen 4) development machine
(shared, so each figure is the best of many calls, 200 students, batch 64): the dropout masks
of one step took 2.7 ms from the students' Mersenne Twisters (``torch.rand``), 0.26 ms as a
SplitMix64 hash in C; ``torch.compile`` (inductor, CPU) took 18.7 s to compile one
LayerNorm -> ReLU -> dropout block in a fresh process (3.2 s from its cache) and ran it in
230 us, against about 100 us for the same block in C (compiled once per machine in about 2 s),
and compiled the masks' integer hash into a 4.4 ms kernel. The C kernels then grew to a
student's whole forward, and its whole backward with clipping and Adam (``core/fused.c``). Later (2026-12-06,
bit for bit the same): AVX-512 16x16 block transposes for the batch gather and the weight gradients, and the
LayerNorm forward's sums over the units in registers, together 1.10-1.15x at 200 students (medians of
alternating runs against the code before them as ``--baseline``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = Path("/tmp/base_d9169b1")


def sweep_configs(config_type: type, mode_for_alpha, n: int, epochs: int) -> list:
    """``n`` runs cycling over an alpha x temperature grid, one seed each."""
    grid = [(a, t) for a in (0.0, 0.3, 0.7, 1.0) for t in (1.0, 3.0, 5.0)]
    base = config_type(epochs=epochs)
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


def peak_flops(torch, device, n: int = 1024, repeats: int = 30) -> float:
    """Single-thread float32 matmul rate (FLOP/s) of ``n x n @ n x n``, the best of ``repeats`` (a shared machine slows some)."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen).to(device), torch.randn(n, n, generator=gen).to(device)
    best = float("inf")
    for _ in range(repeats + 1):  # the first is a warm-up
        sync(torch, device)
        start = time.perf_counter()
        a @ b
        sync(torch, device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def child(args: argparse.Namespace) -> None:
    """One timed run of the copy of ``distill_lib`` in ``args.code``; prints a JSON line."""
    sys.path.insert(0, str(args.code))
    import torch

    import distill_lib
    from distill_lib.core.config import RunConfig, mode_for_alpha
    from distill_lib.core.networks import build_student, build_teacher
    from distill_lib.core.training import train_alone, train_batched

    if Path(distill_lib.__file__).resolve().parents[1] != Path(args.code).resolve():
        raise SystemExit(f"imported {distill_lib.__file__}, not the copy in {args.code}")
    torch.set_num_threads(1)  # both trainers run single-threaded on the CPU anyway
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 matmuls, as on the CPU
    device = torch.device(args.device)
    ref = sweep_configs(RunConfig, mode_for_alpha, 1, args.epochs)[0]
    teacher = build_teacher(0, ref.input_dim, ref.teacher_hidden, ref.output_dim).to(device)
    states = torch.randn(ref.n_states, ref.input_dim, generator=torch.Generator().manual_seed(1)).to(device)

    # warm-up (lazy imports, allocator, kernels, the fused library's build) of both trainers
    warm = sweep_configs(RunConfig, mode_for_alpha, 2, 1)
    warm_students = [build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim) for c in warm]
    train_batched(teacher, states, [s.to(device) for s in warm_students], warm)
    train_alone(teacher, copy.deepcopy(warm_students[0]).to(device), states, warm[0])

    configs = sweep_configs(RunConfig, mode_for_alpha, args.students[0], args.epochs)
    students = [build_student(c.seed, c.input_dim, c.teacher_hidden, c.output_dim).to(device) for c in configs]
    sync(torch, device)
    start = time.perf_counter()
    train_batched(teacher, states, students, configs)
    sync(torch, device)
    out = {"seconds": time.perf_counter() - start}
    if args.seq_epochs > 0:
        seq_configs = [dataclasses.replace(c, epochs=args.seq_epochs) for c in configs[: args.seq_students]]
        start = time.perf_counter()
        for student, config in zip(students, seq_configs):
            train_alone(teacher, copy.deepcopy(student), states, config)
        sync(torch, device)
        out["seq_seconds"] = time.perf_counter() - start
    fused = sys.modules.get("distill_lib.core.fused")
    out["fused"] = bool(fused and fused.available()) if device.type == "cpu" else False
    print(json.dumps(out))


def run_child(code: Path, args: argparse.Namespace, n: int, n_seq: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--code", str(code), "--students", str(n), "--epochs", str(args.epochs)]
    cmd += ["--device", args.device, "--seq-epochs", str(args.seq_epochs), "--seq-students", str(n_seq)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run of {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    parser.add_argument(
        "--baseline",
        default=str(DEFAULT_BASELINE),
        help="a directory holding another distill_lib to time beside this one ('none': no baseline)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.students) < 1 or args.epochs < 1 or args.seq_epochs < 0 or args.repeats < 1:
        parser.error("--students, --epochs and --repeats must be >= 1, --seq-epochs >= 0")
    if args.child:
        child(args)
        return
    baseline = None if args.baseline.lower() == "none" else Path(args.baseline)
    if baseline is not None and not (baseline / "distill_lib" / "__init__.py").is_file():
        if args.baseline != str(DEFAULT_BASELINE):
            parser.error(f"--baseline {baseline}: no distill_lib package there")
        print(f"(no baseline: {baseline} holds no distill_lib; see the module docstring to make one)")
        baseline = None

    sys.path.insert(0, str(ROOT))  # run from a checkout without installing
    import torch

    from distill_lib.core.config import RunConfig

    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(args.device)
    ref = RunConfig(epochs=args.epochs)
    steps_per_epoch = math.ceil((ref.n_states - ref.n_val) / ref.batch_size)
    flops = flops_per_student_step(ref.input_dim, ref.student_width, ref.output_dim, ref.batch_size)
    per_step = sum(flops.values())
    peak = peak_flops(torch, device)
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
    codes = {"this checkout": ROOT} | ({f"baseline {baseline}": baseline} if baseline else {})
    width = max(len(name) for name in codes)
    for n in args.students:
        n_seq = min(args.seq_students or min(n, 30), n)
        runs: dict[str, list[dict]] = {name: [] for name in codes}
        for r in range(args.repeats):  # alternate, starting with a different copy each round
            order = list(codes) if r % 2 == 0 else list(reversed(codes))
            for name in order:
                runs[name].append(run_child(codes[name], args, n, n_seq))
        rates = {}
        for name, results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            rates[name] = rate = n * args.epochs * steps_per_epoch / seconds
            fused = " (fused CPU kernels)" if results[0]["fused"] else ""
            print(
                f"S={n:4d} {name:{width}s}: {seconds:7.2f} s -> {rate:9,.0f} student-steps/s, "
                f"{rate * per_step / 1e9:6.2f} GFLOP/s, {100 * rate / floor:5.2f}% of the floor{fused}"
            )
            if args.seq_epochs > 0:
                seq_rate = (
                    n_seq * args.seq_epochs * steps_per_epoch / statistics.median(r["seq_seconds"] for r in results)
                )
                print(
                    f"       {'':{width}s}  sequential {n_seq} x {args.seq_epochs} epochs: {seq_rate:,.0f} "
                    f"student-steps/s; batched/sequential {rate / seq_rate:.1f}x"
                )
        if len(rates) == 2:
            this, base = rates.values()
            print(f"S={n:4d} {'this / baseline':{width}s}: {this / base:.2f}x")


if __name__ == "__main__":
    main()
