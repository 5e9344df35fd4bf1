"""How far apart a teacher's actions are, on the scale an MSE student regresses: the diagnostic behind MSE's results.

MSE on Q-values (``core.q_targets``, ``"standardized"``) fits ``(q - mu) / sigma`` for every
action of every state. What decides the student's policy is only the *order* of a state's
actions, i.e. the gaps between them, while most of the squared error it can make lies in the
per-state level ``V(s) = mean_a q(s, a)``, common to all of a state's actions. This module
measures, on the teacher's own states, the two scales that compete:

- ``spread``: the population standard deviation of every entry of the teacher's Q-values on
  the states (``sigma`` of the standardised targets);
- ``median_gap``: the median over states of the gap between the best and the second-best
  action's Q-value;
- ``gap_over_spread``: their ratio, the median gap in standardised units: the precision a
  standardised-MSE student must reach on each output before its greedy action follows the
  teacher's on half the states;
- ``level_over_advantage``: the standard deviation over states of ``V(s)`` over that of the
  centred Q-values ``q - V(s)`` (the advantage objective's targets): how much more of the
  standardised targets' variance is level than action preference.

The states are the teacher's own greedy episodes (``rl.rollouts.mixed_rollout_states`` with
``beta = 1``: the transfer set's distribution). ``python -m distill_lib.rl.q_scales`` prints the
table for every shipped teacher of each task (``docs/results.md`` quotes it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .rollouts import mixed_rollout_states
from .tasks import KNOWN_TASKS, load_teacher, task_teachers

__all__ = ["QScales", "q_scales", "teacher_q_scales"]


@dataclass(frozen=True)
class QScales:
    """The scales of one teacher's Q-values on a set of states (module docstring)."""

    states: int
    mean: float
    spread: float
    median_gap: float
    gap_over_spread: float
    level_over_advantage: float


def q_scales(q: torch.Tensor) -> QScales:
    """The scales of Q-values ``q`` (N states, A >= 2 actions), computed in float64."""
    if q.dim() != 2 or q.shape[0] < 2 or q.shape[1] < 2:
        raise ValueError(f"q has shape {tuple(q.shape)}: give (states, actions) with at least 2 of each")
    q = q.detach().to(torch.float64)
    if not torch.isfinite(q).all():
        raise ValueError("q holds NaN or infinite values: check the teacher's weights")
    spread = q.std(unbiased=False).item()
    top2 = q.topk(2, dim=1).values  # (N, 2)
    median_gap = (top2[:, 0] - top2[:, 1]).median().item()
    level = q.mean(dim=1, keepdim=True)  # (N, 1)
    advantage_sd = (q - level).std(unbiased=False).item()
    level_sd = level.std(unbiased=False).item()
    return QScales(
        states=q.shape[0],
        mean=q.mean().item(),
        spread=spread,
        median_gap=median_gap,
        gap_over_spread=median_gap / spread if spread > 0 else float("inf"),
        level_over_advantage=level_sd / advantage_sd if advantage_sd > 0 else float("inf"),
    )


def teacher_q_scales(teacher: nn.Module, env_id: str, n_states: int = 5_000, seed: int = 0) -> QScales:
    """``q_scales`` of ``teacher`` on the first ``n_states`` states of its own greedy episodes on ``env_id``."""
    states = mixed_rollout_states([teacher], teacher, n_states, 1.0, seed, env_id=env_id)[0]  # (n_states, D)
    with torch.no_grad():
        return q_scales(teacher(states))


def _table(env_ids: Sequence[str], n_states: int) -> str:
    """A markdown table: one row per shipped teacher of each task."""
    lines = [
        "| task | teacher | mean Q | spread (sd) | median gap | gap / spread | sd of V(s) / sd of advantages |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for env_id in env_ids:
        for path in task_teachers(env_id):
            s = teacher_q_scales(load_teacher(env_id, path), env_id, n_states)
            lines.append(
                f"| {env_id} | {path.name} | {s.mean:.1f} | {s.spread:.2f} | {s.median_gap:.3f} | "
                f"{s.gap_over_spread:.4f} | {s.level_over_advantage:.1f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_lib.rl.q_scales", description=__doc__.splitlines()[0])
    parser.add_argument(
        "env_ids", nargs="*", default=sorted(KNOWN_TASKS), help="tasks (default: every task with teachers)"
    )
    parser.add_argument("--states", type=int, default=5_000, help="teacher states per teacher (default 5000)")
    args = parser.parse_args(argv)
    if args.states < 2:
        parser.error(f"--states {args.states}: give at least 2")
    unknown = [e for e in args.env_ids if e not in KNOWN_TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}: choose from {', '.join(sorted(KNOWN_TASKS))}")
    print(_table(args.env_ids, args.states))
    return 0


if __name__ == "__main__":
    sys.exit(main())
