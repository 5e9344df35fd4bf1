"""DQN's environment steps per second (``rl.dqn.train_dqn``), new vs today's, on LunarLander and CartPole.

Each case is a task's own recipe (``rl.dqn_config.task_recipe``: LunarLander-v3 is the shipped
teacher's 4 environments, 2 gradient steps of 128 transitions per vector step, selection
episodes every 10,000 steps) with K agents stacked as the study stacks its from-scratch
baselines (3-5), cut to ``--steps`` environment steps per agent (the same config for both
codes). Today's code is ``train_dqn`` of the base commit (``benchmarks/baseline.py``), run in a
child process of the same run, alternating with the new ``--repeats`` times (medians). Prints each agent's environment steps per second, the
stack's total, and the ratio new/today's.

``--step`` measures the baselines' from-scratch step instead (``experiments.baselines.step.run``:
DQN on ``--seeds`` stacked seeds of one width, read at its default budgets, then every kept
checkpoint on the test episodes), before and after the budgets (``STEP_BASE_COMMIT``, in a
child process, alternating): wall seconds, its split into training and evaluation, and each
run's env steps per second of the whole step. Without ``--steps`` a case is the task's full recipe.

    python benchmarks/bench_dqn.py [--steps 20000] [--cases LunarLander-v3:3 LunarLander-v3:5 CartPole-v1:5]
    python benchmarks/bench_dqn.py --step [--steps 30000] [--cases LunarLander-v3:32] [--seeds 5]
    python benchmarks/bench_dqn.py --budgets [--steps 30000] [--cases LunarLander-v3:5]

``--budgets`` runs ``train_dqn`` of this code without and with the default budgets
(``rl.dqn_config.budget_grid``), alternating in one process, and prints CPU seconds: what
reading a run at its budgets adds (one selection evaluation per budget off the ``eval_every`` grid).
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
from distill_lib.rl.dqn_config import task_recipe  # budget_grid is imported where used: the base commit has none

#: the commit before the budgets: the baselines step's "before"
STEP_BASE_COMMIT = "288823a"


def measure(env_id: str, n_agents: int, steps: int) -> float:
    """Wall seconds of ``train_dqn`` on ``n_agents`` stacked agents of the task's recipe, ``steps`` steps each."""
    configs = [task_recipe(env_id, seed=10 + k, total_steps=steps) for k in range(n_agents)]
    started = time.perf_counter()
    train_dqn(configs, progress=False)
    return time.perf_counter() - started


def budgets_main(args: argparse.Namespace, cases: list[tuple[str, int]]) -> None:
    """``train_dqn`` without and with ``budget_grid(steps)`` budgets, alternating in this process: CPU seconds."""
    from distill_lib.rl.dqn_config import budget_grid

    print(f"train_dqn, {args.steps:,} env steps per agent, each task's recipe: without vs with budgets (CPU seconds)")
    print(f"{'task':15s} {'agents':>6} {'budgets':>32} {'without':>8} {'with':>8} {'extra':>6}")
    for env_id, n_agents in cases:
        configs = [task_recipe(env_id, seed=10 + k, total_steps=args.steps) for k in range(n_agents)]
        grid = budget_grid(args.steps)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for with_budgets in (False, True):
                cpu = time.process_time()
                train_dqn(configs, progress=False, budgets=grid if with_budgets else ())
                times[with_budgets].append(time.process_time() - cpu)
        without, with_ = statistics.median(times[False]), statistics.median(times[True])
        shown = ", ".join(f"{b:,}" for b in grid)
        print(
            f"{env_id:15s} {n_agents:>6} {shown:>32} {without:>8.1f} {with_:>8.1f} {100 * (with_ / without - 1):>5.1f}%"
        )


def measure_step(env_id: str, width: int, n_seeds: int, steps: int | None) -> dict[str, float]:
    """Wall seconds of the from-scratch baselines step, and its own split: train (with the teacher's buffers and test
    episodes before it), evaluation (every kept checkpoint on the test episodes)."""
    from distill_lib.experiments.baselines import BaselineStepConfig, step

    settings = {"env_id": env_id, "baseline": "scratch", "scratch_width": width}
    settings |= {"scratch_seeds": list(range(10, 10 + n_seeds)), "scratch_steps": steps}
    started, cpu = time.perf_counter(), time.process_time()
    record = step.run(BaselineStepConfig.from_params(settings))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, **record.seconds, "env_steps": record.recipe["total_steps"]}


def step_main(args: argparse.Namespace, cases: list[tuple[str, int]]) -> None:
    """The baselines step before and after the budgets (module docstring)."""
    if args.child is not None:
        ((env_id, width),) = cases
        print(json.dumps(measure_step(env_id, width, args.seeds, args.steps)))
        return
    base = ensure_base(args.step_base, STEP_BASE_COMMIT)
    budget = f"{args.steps:,} environment steps per run" if args.steps else "the task's full budget"
    print(f"Baselines step, DQN from scratch, {args.seeds} seeds stacked, {budget}; before = {STEP_BASE_COMMIT}")
    print(f"{'task':15s} {'width':>5} {'before s (train + eval)':>24} {'after s (train + eval)':>24} "
          f"{'before CPU s':>12} {'after CPU s':>11} {'before steps/s':>14} {'after steps/s':>13} {'ratio':>6}")  # fmt: skip
    for env_id, width in cases:
        olds, news = [], []
        for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
            child_args = ["--step", "--seeds", str(args.seeds), "--cases", f"{env_id}:{width}"]
            child_args += ["--steps", str(args.steps)] if args.steps else []
            olds.append(run_child(Path(__file__), base, child_args))
            news.append(measure_step(env_id, width, args.seeds, args.steps))
        old_s, new_s = (statistics.median(m["seconds"] for m in ms) for ms in (olds, news))
        old_cpu, new_cpu = (statistics.median(m["cpu"] for m in ms) for ms in (olds, news))
        steps = news[0]["env_steps"]
        print(
            f"{env_id:15s} {width:>5} {_split(olds):>24} {_split(news):>24} {old_cpu:>12.0f} {new_cpu:>11.0f} "
            f"{steps / old_s:>14,.0f} {steps / new_s:>13,.0f} {old_s / new_s:>5.2f}x"
        )


def _split(measures: list[dict[str, float]]) -> str:
    """``total (train + evaluation)``, medians in seconds."""
    total, train, evaluation = (statistics.median(m[k] for m in measures) for k in ("seconds", "train", "evaluation"))
    return f"{total:.0f} ({train:.0f} + {evaluation:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, help="environment steps per agent (default 20,000; --step: the recipe's)")
    parser.add_argument(
        "--cases", nargs="+", default=["LunarLander-v3:3", "LunarLander-v3:5", "CartPole-v1:5"], help="ENV_ID:AGENTS"
    )
    parser.add_argument("--repeats", type=int, default=2, help="alternate today's and new this often; medians reported")
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE, help=f"where the {BASE_COMMIT} library lies")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--step", action="store_true", help="the baselines step (cases are ENV_ID:WIDTH)")
    parser.add_argument("--budgets", action="store_true", help="train_dqn without vs with budgets, this code only")
    parser.add_argument("--seeds", type=int, default=5, help="--step: seeds stacked")
    parser.add_argument("--step-base", type=Path, default=Path("/tmp") / f"base_{STEP_BASE_COMMIT}")
    args = parser.parse_args()
    if args.step and "--cases" not in sys.argv:
        args.cases = ["LunarLander-v3:32"]
    cases = [(case.split(":")[0], int(case.split(":")[1])) for case in args.cases]
    if args.step:
        step_main(args, cases)
        return
    args.steps = args.steps or 20_000
    if args.budgets:
        budgets_main(args, cases)
        return
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
