"""The checks that read the files a study's parameters name, run once before the study starts.

The planner is pure (``runner.plan``): it builds and validates every config without opening a
teacher or states file. What only the files can tell (a checkpoint of the wrong shape or with
NaN weights, a states file that is not an array, a buffer too small for the validation split)
is checked here, on every experiment's and step's config (``Params.check_files``), so that bad
input still fails before anything runs, in one line, with exit status 2.

A real-task teacher of your own (``teacher_checkpoint``; a shipped one is known good) must also be
better than chance before any student learns from it (``check_better_than_chance``): its greedy
returns on the study's test episodes (``closed_loop``, episode ``i`` from ``reset(seed=TEST_SEED + i)``)
against the uniform-random policy's on the same episodes (``random_returns``). It is refused unless
the one-sided 95% Welch interval of the difference of means, ``[d - t_{0.95, nu} * se, inf)``
(``report.unpaired.welch_interval`` at 90%, two-sided, gives its lower end; Welch 1947), lies above 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import ParamError, Params
from ..report.unpaired import welch_interval
from ..rl.episodes import TEST_EPISODES, TEST_SEED
from ..rl.evaluation import closed_loop_returns
from ..rl.exploration import random_returns
from ..rl.tasks import TaskParams
from .plan import Plan

__all__ = ["CHANCE_CONFIDENCE", "ChanceTest", "chance_test", "check_better_than_chance", "check_inputs"]

#: one-sided confidence that the teacher's mean return is above the random policy's
CHANCE_CONFIDENCE = 0.95


@dataclass(frozen=True)
class ChanceTest:
    """A teacher's mean return against the uniform-random policy's on the same episodes, and the verdict."""

    teacher_mean: float
    random_mean: float
    lower: float  # the one-sided Welch bound: mean(teacher) - mean(random) >= lower at CHANCE_CONFIDENCE
    n_episodes: int

    @property
    def better(self) -> bool:
        return self.lower > 0.0


def chance_test(teacher_returns: np.ndarray, random_returns: np.ndarray) -> ChanceTest:
    """The one-sided Welch test of ``mean(teacher) > mean(random)`` on per-episode returns ``(E,)`` each."""
    ci = welch_interval(teacher_returns, random_returns, confidence=2 * CHANCE_CONFIDENCE - 1)
    return ChanceTest(float(np.mean(teacher_returns)), float(np.mean(random_returns)), ci.low, len(teacher_returns))


def check_better_than_chance(config: TaskParams, n_episodes: int) -> ChanceTest:
    """Your teacher's greedy returns against the random policy's on ``n_episodes`` test episodes; raises
    ``ParamError`` (one line, both means and the interval) unless it is better than chance."""
    teacher = config.load_teacher()
    mine = closed_loop_returns([teacher], n_episodes, TEST_SEED, env_id=config.env_id)[0]  # (E,)
    test = chance_test(mine, random_returns(config.env_id, n_episodes, TEST_SEED))
    if not test.better:
        seeds = f"seeds {TEST_SEED}..{TEST_SEED + n_episodes - 1}"
        raise ParamError(
            f"teacher_checkpoint: {config.teacher_path.name} is no better than chance on {config.env_id}: its greedy "
            f"return {test.teacher_mean:.1f} against the uniform-random policy's {test.random_mean:.1f} on the same "
            f"{n_episodes} test episodes ({seeds}); the difference's one-sided {CHANCE_CONFIDENCE:.0%} Welch interval "
            f"[{test.lower:.1f}, inf) does not lie above 0 (is it a trained policy of {config.env_id}?)"
        )
    return test


def check_inputs(plan: Plan) -> None:
    """``check_files`` of every distinct config of the plan (each once), then the chance test of your real-task
    teacher (once, if a step reads it) on the study's ``test_episodes``; raises ``ParamError`` (one line)."""
    done: set[tuple[type, str]] = set()
    configs: list[Params] = list(plan.configs.values())
    steps: list[Params] = []
    for step in plan.steps:
        if step.experiment in plan.experiments:
            experiment = plan.experiments[step.experiment]
            steps.append(experiment.step_type.from_params(step.parameters))
    for config in configs + steps:
        key = (type(config), repr(config.to_dict()))
        if key in done:
            continue
        done.add(key)
        try:
            config.check_files()
        except ParamError:
            raise
        except (ValueError, OSError) as err:
            raise ParamError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    n_episodes = int(plan.params.get("test_episodes", TEST_EPISODES))  # the study's test episodes
    tested: set[tuple[str, str]] = set()
    for config in steps:
        if not isinstance(config, TaskParams) or config.teacher_checkpoint is None:
            continue
        if config.checkpoint_is_task_teacher() and (config.env_id, str(config.teacher_path)) not in tested:
            tested.add((config.env_id, str(config.teacher_path)))
            check_better_than_chance(config, n_episodes)
