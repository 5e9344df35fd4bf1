"""Throughput of the closed loop (``rl.evaluation.closed_loop``) on CartPole, Acrobot and LunarLander, new vs today's.

For each task, ``--nets`` Q-networks play the 100 test episodes each, as the experiments call
the closed loop (all students of a width in one call): the shipped teacher, its three
independent peers, and copies of the teacher with Gaussian noise of growing scale on every
weight (``0.01`` to ``0.5`` of each tensor's standard deviation), so that episode lengths
spread from the teacher's to a failing network's. Prints networks x episodes per second and
environment steps per second of

- new: this checkout's ``closed_loop`` on all the networks (``rl.bulk_envs``);
- today's: ``closed_loop`` of the base commit (``benchmarks/baseline.py``), run in a child
  process of the same run on ``--old-nets`` of the networks, evenly spaced; its rate for all
  networks is extrapolated by its environment steps per second (its cost is per step);

and checks that both give the same returns on the networks both ran. The two alternate
``--repeats`` times (the median run of each is reported): this machine is shared, and its
load moves timings by up to 2x within minutes.

Routes for LunarLander-v3 (Box2D), measured on this project's 2-core machine (December 2026):
one gymnasium step costs 37 us unwrapped, 39 us behind gymnasium's wrappers, of which Box2D's
``b2World_Step`` (180 velocity and 60 position iterations per step) is about 18 us. envpool
1.2.5 (1.2.7 has no wheel for Python 3.11) steps its LunarLander-v3 at 15 us (one thread, 400
envs) and 12 us (two threads), but from its own seeding (so not the study's test episodes)
and on its own Box2D build. Its dynamics match gymnasium's in distribution: over 1,000 episodes
the shipped teacher's return is 258.1 (sd 50.7) on envpool and 259.5 (sd 45.9) on gymnasium
(seeds 50,000 on; two-sample Kolmogorov-Smirnov D = 0.029, p = 0.80), the uniform-random
policy's -184.4 and -191.6 (D = 0.054, p = 0.11). A gain of 2-3x in the environment, which
would end the episode-for-episode equality with every recorded LunarLander result, was not
taken (it would stay far from a 20x closed loop: Box2D's step is the floor); nor were
processes: gymnasium's ``AsyncVectorEnv`` (one process per environment) costs 163 us per env
step with 12 environments and 209 us with 48, against 35-37 us for ``SyncVectorEnv`` and
``rl.bulk_envs.GymnasiumBulk`` in one process (the pipes cost more than the step they move).

Since 2026-12-06 the study steps LunarLander-v3 through ``rl.lunar_lander.LeanLunarLander``
(gymnasium's environment, its step without the Python around the physics that the task does not
need: equal outputs, tested): about 28 us a step here, against 37-46 us for gymnasium's own step
measured in the same run; 1.8x in this benchmark against the base commit.

    python benchmarks/bench_closed_loop.py [--tasks CartPole-v1 Acrobot-v1 LunarLander-v3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import BASE_COMMIT, DEFAULT_BASE, child_path, ensure_base, run_child

sys.path.insert(0, str(child_path()))  # this checkout, or the base commit's library in the child

from distill_lib.core.networks import QNetwork
from distill_lib.rl.evaluation import closed_loop
from distill_lib.rl.tasks import ASSETS, KNOWN_TASKS, load_teacher, task

TEST_SEED = 10_000
#: networks of the new path and of today's per task (today's extrapolated by env steps/s; on CartPole it
#: was already batched, so it runs them all)
DEFAULT_NETS = {"CartPole-v1": (200, 200), "Acrobot-v1": (200, 6), "LunarLander-v3": (10, 10)}


def bench_states(env_id: str, n: int) -> list[dict[str, torch.Tensor]]:
    """State dicts of ``n`` networks: the teacher, its peers, then noisy copies of the teacher (seeded)."""
    teacher = load_teacher(env_id).state_dict()
    peers = [load_teacher(env_id, f).state_dict() for f in sorted((ASSETS / KNOWN_TASKS[env_id].asset / "independent").glob("seed*.pt"))]  # fmt: skip
    states = [teacher, *peers]
    scales = np.geomspace(0.01, 0.5, max(n - len(states), 1))
    for j, scale in enumerate(scales[: n - len(states)]):
        g = torch.Generator().manual_seed(j)
        states.append({k: v + scale * v.std() * torch.randn(v.shape, generator=g) for k, v in teacher.items()})
    return states[:n]


def networks(env_id: str, states: list[dict[str, torch.Tensor]]) -> list[QNetwork]:
    t = task(env_id)
    out = []
    for state in states:
        net = QNetwork(t.obs_dim, 64, t.n_actions, dropout=0.1)
        net.load_state_dict(state)
        out.append(net.eval())
    return out


def measure(env_id: str, nets: list[QNetwork], episodes: int) -> dict:
    """Wall seconds, returns and env steps of one ``closed_loop`` call (after a small warm-up)."""
    closed_loop(nets[:1], 2, TEST_SEED, env_id=env_id)
    started = time.perf_counter()
    loop = closed_loop(nets, episodes, TEST_SEED, env_id=env_id)
    return {"seconds": time.perf_counter() - started, "returns": loop.returns.tolist(), "steps": loop.steps.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_NETS), help="gymnasium ids of known tasks")
    parser.add_argument("--episodes", type=int, default=100, help="test episodes per network")
    parser.add_argument("--nets", type=int, nargs="+", help="networks per task, new path (default per task)")
    parser.add_argument("--old-nets", type=int, nargs="+", help="networks per task, today's path (default per task)")
    parser.add_argument("--repeats", type=int, default=2, help="alternate today's and new this often; medians reported")
    parser.add_argument("--base", type=Path, default=DEFAULT_BASE, help=f"where the {BASE_COMMIT} library lies")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--states", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child is not None:  # today's code: measure the saved networks, print one JSON line
        (env_id,) = args.tasks
        print(json.dumps(measure(env_id, networks(env_id, torch.load(args.states)), args.episodes)))
        return
    base = ensure_base(args.base)
    print(f"closed loop, {args.episodes} test episodes per network; today's code = {BASE_COMMIT} in a child process")
    for i, env_id in enumerate(args.tasks):
        n_new, n_old = DEFAULT_NETS.get(env_id, (20, 4))
        n_new = args.nets[i] if args.nets else n_new
        n_old = min(args.old_nets[i] if args.old_nets else n_old, n_new)
        states = bench_states(env_id, n_new)
        rows = np.unique(np.linspace(0, n_new - 1, n_old).round().astype(int))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "states.pt"
            torch.save([states[r] for r in rows], path)
            old = run_child(
                Path(__file__), base, ["--tasks", env_id, "--episodes", str(args.episodes), "--states", str(path)]
            )
        new = measure(env_id, networks(env_id, states), args.episodes)
        same = np.array_equal(np.asarray(new["returns"])[rows], np.asarray(old["returns"]))
        new_rate = n_new * args.episodes / new["seconds"]
        new_steps, old_steps = sum(new["steps"]) / new["seconds"], sum(old["steps"]) / old["seconds"]
        old_rate = n_new * args.episodes / (sum(new["steps"]) / old_steps)  # today's time for all: by its steps/s
        print(
            f"  {env_id:15s} new: {n_new:4d} networks in {new['seconds']:7.1f} s -> {new_rate:9,.0f} networks x "
            f"episodes/s, {new_steps:11,.0f} env steps/s (mean return {np.mean(new['returns']):7.1f})\n"
            f"  {'':15s} today's: {len(rows):2d} networks in {old['seconds']:7.1f} s -> {old_steps:11,.0f} env steps/s,"
            f" {old_rate:9,.1f} networks x episodes/s for all {n_new} (by steps/s)\n"
            f"  {'':15s} ratio new/today's: {new_rate / old_rate:6.1f}x; returns equal on the {len(rows)}: {same}"
        )


if __name__ == "__main__":
    main()
