"""``distill-study run --analysis-only``: the analysis again over a study's finished steps, whichever code made them.

A step's folder is named by its content key, which includes the code that made it
(``records.provenance.code_hash``), so after any change to the library a plain ``run``
plans new folders and runs every step again. When only the analysis changed (a statistical
correction, a sentence) that is hours of training for nothing. ``--analysis-only`` finds the
version of the code under which every planned step of the study is finished in its work folder
(each finished step's record holds its code hash and commit), plans with that hash
(``records.provenance.STEPS_CODE_ENV``: the analysis notebook's kernel inherits it), and runs
the analysis alone; the results record both: ``provenance`` this checkout's, ``provenance.steps``
the steps' (``runner.analysis.write_results``). It runs no step: where no one version of the
code finished them all, it refuses, naming the closest and what it lacks.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.schema import ParamError
from ..records.atomic import read_json
from ..records.provenance import STEPS_CODE_ENV
from .plan import Plan, plan_study
from .study import unfinished_steps

__all__ = ["plan_of_finished_steps", "step_codes"]


def step_codes(work_dir: Path) -> list[tuple[str, str | None]]:
    """The distinct ``(code_hash, commit)`` of the step records under ``work_dir``, the most recent first."""
    found: dict[str, tuple[float, str | None]] = {}
    for path in Path(work_dir).glob("*/*/record.json"):
        try:
            provenance = read_json(path).get("provenance") or {}
        except (OSError, ValueError, AttributeError):
            continue  # a malformed record is not a finished step
        code = provenance.get("code_hash")
        if isinstance(code, str) and code:
            mtime = path.stat().st_mtime
            if code not in found or mtime > found[code][0]:
                found[code] = (mtime, provenance.get("commit"))
    return [(code, commit) for code, (_, commit) in sorted(found.items(), key=lambda kv: -kv[1][0])]


def plan_of_finished_steps(
    files: list[str | os.PathLike[str]] | None, overrides: list[tuple[str, str]] | None, out_dir: str | None
) -> tuple[Plan, str | None]:
    """The study's plan under the code that finished all its steps, and that code's commit.

    Leaves ``STEPS_CODE_ENV`` set to that code's hash (the analysis must plan the same folders);
    raises ``ParamError``, the variable unset, when no one version of the code finished every step.
    """
    os.environ.pop(STEPS_CODE_ENV, None)
    plan = plan_study(files, overrides, out_dir)
    if not plan.work_dir.is_dir():
        raise ParamError(f"--analysis-only: {plan.work_dir} does not exist: no step of this study has run there")
    closest: tuple[int, str | None, list[str], int] | None = None
    for code, commit in step_codes(plan.work_dir):
        os.environ[STEPS_CODE_ENV] = code
        candidate = plan_study(files, overrides, out_dir)
        missing = unfinished_steps(candidate)
        if not missing:
            return candidate, commit
        if closest is None or len(missing) < closest[0]:
            closest = (len(missing), commit, missing, len(candidate.steps) - 1)
    os.environ.pop(STEPS_CODE_ENV, None)
    if closest is None:
        raise ParamError(f"--analysis-only: no finished step in {plan.work_dir}; run without --analysis-only")
    n, commit, missing, total = closest
    raise ParamError(
        f"--analysis-only: no one version of the code finished every step in {plan.work_dir} (the closest, commit "
        f"{(commit or 'unknown')[:7]}, lacks {n} of {total}: {', '.join(missing[:3])}{', ...' if n > 3 else ''}); "
        "run without --analysis-only"
    )
