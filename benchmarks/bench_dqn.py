"""DQN's environment steps per second: one agent, and several stacked (``rl.dqn.train_dqn``).

The shipped teacher's recipe (``DQNConfig()``: 4 vectorised environments, one gradient step
of 128 transitions per vector step, selection episodes every 5,000 steps), cut to
``--steps`` environment steps per agent, at the teacher's width and at a student's. Prints
each agent's environment steps per second and the stack's total. For reference, the earlier
loop (one environment, one gradient step per environment step, ``git show bc50a90:distill_lib/rl/dqn.py``)
trained the previous teacher's 100,000 steps in 339 s on this project's machine, 295 steps/s.

    python benchmarks/bench_dqn.py [--steps 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from distill_lib.records.provenance import provenance
from distill_lib.rl.dqn import DQNConfig, train_dqn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps per agent")
    args = parser.parse_args()
    cpu = provenance()["cpu"]
    print(f"DQN on CartPole-v1, {args.steps:,} environment steps per agent; {cpu['model']} ({cpu['torch_capability']})")
    print(f"{'agents':>6} {'width':>5} {'wall s':>7} {'steps/s per agent':>18} {'steps/s, all agents':>20}")
    for n_agents, width in ((1, 64), (5, 64), (5, 8)):
        configs = [DQNConfig(seed=10 + k, hidden=width, total_steps=args.steps) for k in range(n_agents)]
        started = time.perf_counter()
        train_dqn(configs, progress=False)
        wall = time.perf_counter() - started
        rate = args.steps / wall
        print(f"{n_agents:>6} {width:>5} {wall:>7.1f} {rate:>18,.0f} {n_agents * rate:>20,.0f}")


if __name__ == "__main__":
    main()
