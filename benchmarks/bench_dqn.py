"""DQN's environment steps per second (``rl.dqn.train_dqn``), new vs today's, on LunarLander and CartPole.

Each case is a task's own recipe (``rl.dqn_config.task_recipe``: LunarLander-v3 is the shipped
teacher's 4 environments, 2 gradient steps of 128 transitions per vector step, selection
episodes every 10,000 steps) with K agents stacked as the study stacks its from-scratch
baselines (3-5), cut to ``--steps`` environment steps per agent (the same config for both
codes). Today's code is ``train_dqn`` of the base commit (``benchmarks/baseline.py``), run in a
child process of the same run, alternating with the new ``--repeats`` times (medians). Prints each agent's environment steps per second, the
stack's total, and the ratio new/today's.

    python benchmarks/bench_dqn.py [--steps 20000] [--cases LunarLander-v3:3 LunarLander-v3:5 CartPole-v1:5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import BASE_COMMIT, DEFAULT_BASE, child_path, ensure_base, run_child

sys.path.insert(0, str(child_path()))  # this checkout, or the base commit's library in the child

from distill_lib.rl.dqn import train_dqn
from distill_lib.rl.dqn_config import task_recipe


def measure(env_id: str, n_agents: int, steps: int) -> float:
    """Wall seconds of ``train_dqn`` on ``n_agents`` stacked agents of the task's recipe, ``steps`` steps each."""
    configs = [task_recipe(env_id, seed=10 + k, total_steps=steps) for k in range(n_agents)]
    started = time.perf_counter()
    train_dqn(configs, progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps per agent")
    parser.add_argument(
        "--cases", nargs="+", default=["LunarLander-v3:3", "LunarLander-v3:5", "CartPole-v1:5"], help="ENV_ID:AGENTS"
    )
    parser.add_argument("--repeats", type=int, default=2, help="alternate today's and new this often; medians reported")
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE, help=f"where the {BASE_COMMIT} library lies")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cases = [(case.split(":")[0], int(case.split(":")[1])) for case in args.cases]
    if args.child is not None:  # today's code: one case, one JSON line
        ((env_id, n_agents),) = cases
        print(json.dumps({"seconds": measure(env_id, n_agents, args.steps)}))
        return
    base = ensure_base(args.base)
    print(
        f"DQN, {args.steps:,} environment steps per agent, each task's recipe; today's = {BASE_COMMIT} (child process)"
    )
    print(f"{'task':15s} {'agents':>6} {'today s':>8} {'new s':>7} {'today steps/s':>14} {'new steps/s':>12} "
          f"{'(all agents)':>12} {'ratio':>6}")  # fmt: skip
    for env_id, n_agents in cases:
        olds, news = [], []
        for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
            child_args = ["--steps", str(args.steps), "--cases", f"{env_id}:{n_agents}"]
            olds.append(run_child(Path(__file__), base, child_args)["seconds"])
            news.append(measure(env_id, n_agents, args.steps))
        old, new = statistics.median(olds), statistics.median(news)
        print(
            f"{env_id:15s} {n_agents:>6} {old:>8.1f} {new:>7.1f} {args.steps / old:>14,.0f} {args.steps / new:>12,.0f} "
            f"{n_agents * args.steps / new:>12,.0f} {old / new:>5.1f}x"
        )


if __name__ == "__main__":
    main()
