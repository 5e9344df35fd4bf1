"""The checks that read the files a study's parameters name, run once before the study starts.

The planner is pure (``runner.plan``): it builds and validates every config without opening a
teacher or states file. What only the files can tell (a checkpoint of the wrong shape or with
NaN weights, a states file that is not an array, a buffer too small for the validation split)
is checked here, on every experiment's and step's config (``Params.check_files``), so that bad
input still fails before anything runs, in one line, with exit status 2.
"""

from __future__ import annotations

from ..core.schema import ParamError, Params
from .plan import Plan

__all__ = ["check_inputs"]


def check_inputs(plan: Plan) -> None:
    """``check_files`` of every distinct config of the plan (each once); raises ``ParamError`` (one line)."""
    done: set[tuple[type, str]] = set()
    configs: list[Params] = list(plan.configs.values())
    for step in plan.steps:
        if step.experiment in plan.experiments:
            experiment = plan.experiments[step.experiment]
            configs.append(experiment.step_type.from_params(step.parameters))
    for config in configs:
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
