"""What each objective costs in the stacked training step, and what share of the blended gradient the soft term has.

Cost (default): S students' logits ``(S, A, B)`` and their teacher's targets (a
``stacked.TargetTable`` at the study's size: 5000 states, 4 actions, batch 64), timed as the
training step calls them: the per-student loss, then ``torch.autograd.grad`` of its sum with
respect to the logits (what ``StackedStudents.step`` hands to the network's backward). For

- ``kl`` at alpha 0.7 (Hinton's blend): ``fused.kl_blend_loss``, one C pass (the trainer's
  path), and its torch formula through autograd;
- ``rusu_kl`` (Rusu et al. 2016): its torch formula through autograd (the trainer's path), and
  the blend's C pass at alpha 1 and T = 1, which computes the same formula;
- ``mse``: through autograd (the trainer's path),

and then whole ``train_batched`` epochs of S students per objective at the study's size (5000
states, teacher 64 -> student 32), the objectives alternating ``--repeats`` times in this one
process (this machine is shared: ratios within a run, medians). Run single-threaded, as the
stacked trainer does.

Share (``--share``): ``losses.soft_share`` of untrained students (``build_student``, seeds 0-4)
on the shipped CartPole teacher's buffer (``rl.students.teacher_and_buffers`` at its defaults),
for widths 8, 32 and 64, alpha 0.5 and 0.9, and tau from 0.01 to 3.

    python benchmarks/bench_objectives.py [--students 200] [--epochs 2] [--repeats 3]
    python benchmarks/bench_objectives.py --share
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from distill_lib.core import fused, losses  # noqa: E402
from distill_lib.core.config import RunConfig  # noqa: E402
from distill_lib.core.losses import per_student_loss, soft_share  # noqa: E402
from distill_lib.core.networks import build_student, build_teacher  # noqa: E402
from distill_lib.core.stacked import TargetTable  # noqa: E402
from distill_lib.core.training import train_batched  # noqa: E402

#: (label, loss_fn, alpha, temperature, how the loss runs: "C" its fused kernel, "autograd" its torch formula)
OBJECTIVES = [
    ("kl, alpha 0.7 (C)", "kl", 0.7, 3.0, "C"),
    ("kl, alpha 0.7 (autograd)", "kl", 0.7, 3.0, "autograd"),
    ("rusu_kl (autograd)", "rusu_kl", 1.0, 0.1, "autograd"),
    ("rusu_kl (C)", "rusu_kl", 1.0, 0.1, "C"),
    ("mse (autograd)", "mse", 1.0, 1.0, "autograd"),
]


def _rusu_in_c(student, teacher, alpha, temperature, dim=-1):
    """Rusu's KL through the blend's C kernel: alpha 1 and T = 1 with the teacher's p at tau is its formula."""
    return fused.kl_blend_loss(student, (teacher.p, teacher.plogp, teacher.action), 1.0, 1.0)


def _execution(loss_fn: str, how: str):
    """The patches that make ``loss_fn`` run ``how``: the fused kernel refused, or Rusu's KL sent to it."""
    if how == "autograd":
        return mock.patch.object(fused, "kl_blend_runs", lambda *args, **kwargs: False)
    if loss_fn == "rusu_kl":
        return mock.patch.dict(losses.LOSSES, {"rusu_kl": _rusu_in_c})
    return contextlib.nullcontext()


def loss_step_seconds(n: int, repeats: int, steps: int = 200) -> dict[str, float]:
    """Median seconds of one step's loss and its gradient for ``n`` students, per objective."""
    gen = torch.Generator().manual_seed(0)
    q_teacher = torch.randn(5000, 4, generator=gen) * 3  # (N, A)
    rows = torch.stack([torch.randperm(5000, generator=gen)[:64] for _ in range(n)])  # (S, B)
    q = torch.randn(n, 4, 64, generator=gen)  # (S, A, B)
    times: dict[str, list[float]] = {label: [] for label, *_ in OBJECTIVES}
    for _ in range(repeats):
        for label, loss_fn, alpha, temperature, how in OBJECTIVES:
            target = TargetTable(q_teacher[None], [0] * n, [temperature] * n).take(rows)
            alphas = torch.full((n,), alpha, dtype=torch.float64)
            temps = torch.full((n,), temperature)
            with _execution(loss_fn, how):
                start = time.perf_counter()
                for _ in range(steps):
                    s = q.clone().requires_grad_()
                    loss = per_student_loss([loss_fn] * n, s, target, alphas, temps, dim=-2)  # (S,)
                    torch.autograd.grad(loss.sum(), s)
                times[label].append((time.perf_counter() - start) / steps)
    return {label: statistics.median(t) for label, t in times.items()}


def epoch_seconds(n: int, epochs: int, repeats: int) -> dict[str, float]:
    """Median seconds per epoch of ``train_batched`` with ``n`` students, per objective (study size)."""
    teacher = build_teacher(0, 8, 64, 4)
    states = torch.randn(5000, 8, generator=torch.Generator().manual_seed(1))
    base = RunConfig(epochs=epochs)
    times: dict[str, list[float]] = {label: [] for label, *_ in OBJECTIVES}
    for _ in range(repeats):
        for label, loss_fn, alpha, temperature, how in OBJECTIVES:
            mode = "soft_only" if alpha == 1.0 else "blended"
            configs = [
                dataclasses.replace(base, seed=i, loss_fn=loss_fn, alpha=alpha, mode=mode, temperature=temperature)
                for i in range(n)
            ]
            students = [build_student(c_.seed, 8, 64, 4) for c_ in configs]
            with _execution(loss_fn, how):
                start = time.perf_counter()
                train_batched(teacher, states, students, configs)
                times[label].append((time.perf_counter() - start) / epochs)
    return {label: statistics.median(t) for label, t in times.items()}


def share_table() -> None:
    """``soft_share`` of untrained students on the shipped CartPole teacher's buffer."""
    from distill_lib.rl.students import TaskBufferParams, teacher_and_buffers

    teacher, states, _ = teacher_and_buffers(TaskBufferParams())
    with torch.no_grad():
        q_t = teacher(states)  # (N, A)
    gaps = (q_t.max(-1).values - q_t.min(-1).values).median().item()
    print(
        f"CartPole teacher: {len(states)} buffer states, Q = {q_t.mean():.1f} +- {q_t.std():.2f}, median gap {gaps:.3f}"
    )
    temperatures = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    print("width  alpha  " + "  ".join(f"tau={t:<5g}" for t in temperatures) + "   (soft share, %, mean of seeds 0-4)")
    for width in (8, 32, 64):
        students = [build_student(seed, 4, 64, 2, hidden_dim=width).eval() for seed in range(5)]
        with torch.no_grad():
            logits = [s(states) for s in students]
        for alpha in (0.5, 0.9):
            row = [statistics.mean(soft_share(q_s, q_t, alpha, t) for q_s in logits) for t in temperatures]
            print(f"{width:>5}  {alpha:>5g}  " + "  ".join(f"{100 * r:9.1f}" for r in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200, help="students S")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each timed train_batched call")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; medians")
    parser.add_argument("--share", action="store_true", help="print the soft-share table instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.share:
        share_table()
        return
    print(f"fused CPU kernels: {'on' if fused.available() else 'off'}; S = {args.students}")
    step = loss_step_seconds(args.students, args.repeats)
    ref = step[OBJECTIVES[0][0]]
    print("loss and its gradient, one step (S students, batch 64):")
    for label, seconds in step.items():
        print(f"  {label:<26} {1e3 * seconds:7.3f} ms   {seconds / ref:5.2f} x kl")
    epoch = epoch_seconds(args.students, args.epochs, args.repeats)
    ref = epoch[OBJECTIVES[0][0]]
    print(f"train_batched, one epoch (S students, 5000 states, width 32, {args.epochs} epochs a call):")
    for label, seconds in epoch.items():
        print(f"  {label:<26} {seconds:7.3f} s    {seconds / ref:5.2f} x kl")


if __name__ == "__main__":
    main()
