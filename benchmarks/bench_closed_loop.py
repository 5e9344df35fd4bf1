"""Throughput of the closed-loop evaluation: the vectorised path vs the old lockstep loop.

The default CartPole evaluation (``experiments.cartpole.run``): 120 students (widths 32, 16,
8, 4; 10 seeds x 3 objectives each, trained here as the experiment trains them) and the
teacher, 100 test episodes each. Prints networks x episodes per second and environment
steps per second of

- new: ``rl.evaluation.closed_loop_returns`` called as the experiment calls it (once for
  the teacher, once for the students of every width), and once on all 121 networks together;
- old: ``rl.evaluation._lockstep_returns`` (one network at a time, a Python ``env.step`` per
  episode) on every ``--old-every``-th network and the teacher; its time for all 121 is
  extrapolated from its environment steps per second (its cost is per step, and the
  subset's episodes are longer on average than all networks' episodes).

The two are timed alternately ``--repeats`` times in one process (medians reported), and
their returns on the subset are checked equal.

    python benchmarks/bench_closed_loop.py
    python benchmarks/bench_closed_loop.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from distill_lib.core.config import STUDENT_DROPOUT
from distill_lib.core.networks import QNetwork, build_student
from distill_lib.core.training import train_batched
from distill_lib.experiments.cartpole import CartpoleConfig
from distill_lib.rl.cartpole import (
    COLLECT_SEED,
    N_ACTIONS,
    OBS_DIM,
    TEACHER_HIDDEN,
    TEST_SEED,
    collect_states,
    load_cartpole_teacher,
)
from distill_lib.rl.evaluation import _lockstep_returns, closed_loop_returns


def default_networks() -> tuple[nn.Module, dict[int, list[QNetwork]]]:
    """The shipped teacher and the default study's CartPole students by width (as ``experiments.cartpole.run``)."""
    config = CartpoleConfig()
    teacher = load_cartpole_teacher()
    states = torch.from_numpy(collect_states(teacher, config.cartpole_episodes, config.cartpole_epsilon, COLLECT_SEED))
    students = {}
    for width in config.cartpole_widths:
        configs = config.student_configs(width, len(states))
        initial = {
            s: build_student(s, OBS_DIM, TEACHER_HIDDEN, N_ACTIONS, hidden_dim=width) for s in config.cartpole_seeds
        }
        nets = []
        for result in train_batched(teacher, states, [initial[c.seed] for c in configs], configs):
            net = QNetwork(OBS_DIM, width, N_ACTIONS, dropout=STUDENT_DROPOUT)
            net.load_state_dict(result.final_state)
            nets.append(net.eval())
        students[width] = nets
    return teacher, students


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per network")
    parser.add_argument(
        "--old-every", type=int, default=6, help="the old path runs every n-th student (and the teacher)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternate old and new this often; medians reported")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the new path's forward runs")
    args = parser.parse_args()
    if args.episodes < 1 or args.old_every < 1 or args.repeats < 1:
        parser.error("--episodes, --old-every and --repeats must be >= 1")
    device = torch.device(args.device)

    started = time.perf_counter()
    teacher, students = default_networks()
    every = [teacher, *(net for nets in students.values() for net in nets)]
    subset = [teacher, *every[1 :: args.old_every]]
    print(
        f"closed loop: {len(every)} networks x {args.episodes} episodes (students trained in "
        f"{time.perf_counter() - started:.1f} s); old path on {len(subset)} of them; device={device}"
    )

    def as_experiment() -> np.ndarray:  # one call for the teacher, one for the students of every width
        everyone = [net for nets in students.values() for net in nets]
        parts = [closed_loop_returns([teacher], args.episodes, TEST_SEED, device)]
        return np.concatenate([*parts, closed_loop_returns(everyone, args.episodes, TEST_SEED, device)])

    runs = {
        "new, as the experiment calls it": (as_experiment, len(every)),
        "new, all networks in one call": (
            lambda: closed_loop_returns(every, args.episodes, TEST_SEED, device),
            len(every),
        ),
        "old lockstep (subset)": (lambda: _lockstep_returns(subset, args.episodes, TEST_SEED), len(subset)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    returns: dict[str, np.ndarray] = {}
    closed_loop_returns([teacher], 2, TEST_SEED, device)  # warm-up
    for _ in range(args.repeats):  # alternate, so that a busy machine slows all alike
        for name, (fn, _) in runs.items():
            start = time.perf_counter()
            returns[name] = fn()
            seconds[name].append(time.perf_counter() - start)

    rates, steps_per_s = {}, {}
    for name, (_, n_nets) in runs.items():
        s = statistics.median(seconds[name])
        steps = returns[name].sum()  # an episode's return is its length
        rates[name], steps_per_s[name] = n_nets * args.episodes / s, steps / s
        print(
            f"  {name:33s} {n_nets:3d} networks in {s:7.2f} s -> {rates[name]:9,.0f} networks x episodes/s, "
            f"{steps_per_s[name]:11,.0f} env steps/s (mean return {returns[name].mean():.1f})"
        )
    # the old path's time for all networks: its rate in env steps/s over all networks' steps
    all_steps = returns["new, all networks in one call"].sum()
    old_all_s = all_steps / steps_per_s["old lockstep (subset)"]
    old = len(every) * args.episodes / old_all_s
    print(
        f"  {'old lockstep, extrapolated to all':33s} {len(every):3d} networks in {old_all_s:7.2f} s -> "
        f"{old:9,.0f} networks x episodes/s (by env steps/s)"
    )
    old_rows = [0, *range(1, len(every), args.old_every)]
    same = np.array_equal(returns["old lockstep (subset)"], returns["new, all networks in one call"][old_rows])
    same &= np.array_equal(returns["new, as the experiment calls it"], returns["new, all networks in one call"])
    print(
        f"  ratio new/old (networks x episodes/s): {rates['new, as the experiment calls it'] / old:.0f}x as the "
        f"experiment calls it, {rates['new, all networks in one call'] / old:.0f}x in one call; returns equal: {same}"
    )


if __name__ == "__main__":
    main()
