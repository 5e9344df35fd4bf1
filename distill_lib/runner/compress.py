"""Compress a teacher: the smallest student that keeps a stated share of its return (``distill-study compress``).

The study asks which objective distils a policy best; a user asks for the policy itself, as small as it
can be. This module answers with the study's own selection (the fair comparison's,
``experiments.fair.step``) run on one teacher - yours (``teacher_checkpoint``) or the task's shipped one -
at the widths asked. Protocol (``compress``):

1. The teacher (``rl.students.task_teachers`` with ``n_teachers = 1``): its transfer set of
   ``fair_transfer_steps`` environment steps, its held-out states, and its greedy return on the
   validation and test episodes. A teacher of your own must first be better than chance
   (``runner.inputs.check_better_than_chance``).
2. Widths are tried from the smallest up. At each, the fair comparison's selection: ``fair_candidates``
   settings of every objective in ``fair_objectives``, each drawn from its own grid
   (``core.objectives.candidates``; an equal budget), trained with every ``fair_selection_seeds`` seed;
   each run's checkpoint and each objective's best candidate picked on the validation episodes
   (``rl.students.pick_checkpoints``, ``fair.step.select``). Of those winners the objective whose
   candidate scores highest on validation is the width's choice (ties: the first in ``fair_objectives``).
   The test episodes play no part in any choice.
3. Evaluation: fresh students at the chosen setting, one per ``student_seeds`` seed (disjoint from the
   selection seeds), each with its checkpoint picked on validation, measured on the test episodes
   (``rl.students.measure_runs``): return as a % of the teacher's on the same episodes
   (``rl.tasks.pct_of_teacher``) and action agreement on the teacher's held-out states.
4. The rule (``pick_width``): a width keeps the share when the lower end of the 95% Student-t interval
   of its mean return % (``report.stats.mean_ci``; one teacher, so the interval is over student seeds)
   is at least ``keep * 100``. The smallest such width is the answer; since widths are tried from the
   smallest up, larger ones are not trained unless ``all_widths`` asks for every width's numbers.
5. The deliverable: of the answer's evaluated students, the one with the highest validation return
   (ties: the first seed) - chosen on validation, never on test - as the plain network it is
   (``core.networks.PlainQNetwork`` by default: what users deploy). ``runner.model_card`` writes it.

If no width keeps the share, there is no deliverable: the record says so, with every width's numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ..core.objectives import Setting, candidates
from ..core.schema import ParamError
from ..experiments import EXPERIMENTS
from ..experiments.fair.params import FairParams
from ..experiments.fair.step import Candidate, FairRun, candidate_evidence, fair_run, select
from ..records.record import Record
from ..report.stats import mean_ci
from ..rl.evaluation import count_parameters
from ..rl.students import TeacherData, measure_runs, pick_checkpoints, task_teachers, train_settings
from .compress_target import CompressTarget
from .inputs import check_better_than_chance
from .params import layer_params, read_sources, specs_of

__all__ = [
    "CONFIDENCE",
    "CompressRecord",
    "WidthResult",
    "compress",
    "compress_config",
    "deliverable_run",
    "pick_width",
]

#: the confidence of the interval whose lower end decides whether a width keeps the share
CONFIDENCE = 0.95
#: what compress sets unless a params file or -p says otherwise: the plain MLP users deploy
COMPRESS_DEFAULTS: dict[str, Any] = {"student_kind": "plain"}


@dataclass(frozen=True)
class WidthResult(Record):
    """One width: the selection's evidence and choice, the evaluated students, the interval and the verdict."""

    width: int
    params_count: int
    params_pct: float  # % of the teacher's parameters
    candidates: dict[str, list[Candidate]]
    selected: dict[str, Setting]  # per objective, its best candidate
    chosen: Setting  # the objective and settings evaluated: the highest validation score among ``selected``
    runs: list[FairRun]  # one per student seed, at ``chosen``
    return_pct: float  # mean over the runs of their test return, % of the teacher's
    return_low: float  # the 95% interval of that mean
    return_high: float
    ci_method: str  # report.stats.MeanCI.method ("t", or "degenerate" when every run returned the same)
    agreement: float  # mean action agreement with the teacher on its held-out states
    keeps: bool  # return_low >= the threshold


@dataclass(frozen=True)
class CompressRecord(Record):
    """A whole compress run: what was asked, the teacher, every width tried, and which student is delivered."""

    params: dict[str, Any]
    env_id: str
    teacher: dict[str, Any]
    widths: list[int]  # asked, smallest first
    keep: float
    threshold: float
    results: list[WidthResult]  # the widths tried, smallest first
    width: int | None  # the smallest width that keeps the share; None: none does
    seed: int | None  # the delivered student's seed (the best validation return at ``width``)
    seconds: dict[str, float]


def compress_config(
    files: list[str], overrides: list[tuple[str, str]], say: Callable[[str], None] | None = None
) -> FairParams:
    """The study's parameters for compress: params files and ``-p`` pairs layered as ``distill-study run`` does
    (every known name accepted, the fair comparison's read), with ``COMPRESS_DEFAULTS`` and one teacher."""
    specs = specs_of(EXPERIMENTS)
    given = layer_params(read_sources(list(files), overrides), specs)
    for name, value in given.items():
        if specs[name].rule.set_by:
            raise ParamError(f"parameter {name}={value!r}: {specs[name].rule.set_by}")
    if given.get("source", "task") != "task":
        raise ParamError(f"source={given['source']!r}: compress distils a task's teacher (env_id); leave source out")
    if given.get("n_teachers", 1) != 1 and say is not None:
        say(f"n_teachers={given['n_teachers']}: compress distils one teacher (yours or the shipped one); using 1")
    return FairParams.from_params({**COMPRESS_DEFAULTS, **given, "n_teachers": 1})


def pick_width(results: list[WidthResult]) -> WidthResult | None:
    """The smallest width that keeps the share (``keeps``), or None when none does."""
    keeping = [r for r in results if r.keeps]
    return min(keeping, key=lambda r: r.width) if keeping else None


def deliverable_run(result: WidthResult) -> int:
    """Index of the run delivered at ``result``'s width: the highest validation return (ties: the first seed)."""
    return max(range(len(result.runs)), key=lambda i: (result.runs[i].val_pct, -i))


def _select(p: FairParams, teacher: TeacherData, width: int) -> tuple[dict[str, list[Candidate]], dict[str, Setting]]:
    """Step 2: every objective's candidates at ``width``, each run's checkpoint and each objective's winner."""
    grid = {obj: candidates(obj, p.grid(), p.fair_candidates, p.fair_search_seed) for obj in p.fair_objectives}
    jobs = [(s, teacher.index, seed) for settings in grid.values() for s in settings for seed in p.fair_selection_seeds]
    runs = train_settings(p, [teacher], jobs, width)
    pick_checkpoints(p, [teacher], runs)
    evidence = candidate_evidence(grid, runs, [teacher])
    return evidence, select(evidence)


def _width(
    p: FairParams, target: CompressTarget, teacher: TeacherData, width: int
) -> tuple[WidthResult, list[nn.Module]]:
    """Steps 2-4 at one width; also the evaluated students (their chosen checkpoints, eval mode), per seed."""
    evidence, selected = _select(p, teacher, width)
    score = {obj: max(c.val_pct for c in evidence[obj]) for obj in p.fair_objectives}
    chosen = selected[max(p.fair_objectives, key=lambda obj: score[obj])]  # max keeps the first of equals
    jobs = [(chosen, teacher.index, seed) for seed in p.student_seeds]
    runs = train_settings(p, [teacher], jobs, width)
    pick_checkpoints(p, [teacher], runs)
    measured = measure_runs(p, [teacher], runs)
    records = [fair_run(r, m) for r, m in zip(runs, measured, strict=True)]
    ci = mean_ci([r.return_pct for r in records], confidence=CONFIDENCE)
    n_params, n_teacher = count_parameters(runs[0].net), count_parameters(teacher.net)
    result = WidthResult(
        width=width,
        params_count=n_params,
        params_pct=100.0 * n_params / n_teacher,
        candidates=evidence,
        selected=selected,
        chosen=chosen,
        runs=records,
        return_pct=ci.mean,
        return_low=ci.low,
        return_high=ci.high,
        ci_method=ci.method,
        agreement=float(np.mean([r.held_out["action_agreement"] for r in records])),
        keeps=target.kept(ci.low),
    )
    return result, [r.net for r in runs]


def compress(
    p: FairParams, target: CompressTarget, say: Callable[[str], None] = lambda _: None
) -> tuple[CompressRecord, nn.Module | None]:
    """Steps 1-5 of the module docstring: the record of every width tried, and the delivered student (or None)."""
    if p.n_teachers != 1:
        raise ValueError(
            f"n_teachers={p.n_teachers}: compress distils one teacher; build the config with compress_config"
        )
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    # 1. the teacher, its transfer set and held-out states; yours must be better than chance first
    if p.teacher_checkpoint is not None:
        check_better_than_chance(p, p.test_episodes)
    teacher = task_teachers(p, p.fair_transfer_steps)[0]
    seconds["teacher"] = round(time.perf_counter() - started, 3)
    say(f"teacher: {teacher.path.name}, test return {teacher.test_return:.1f} on {p.env_id}")

    # 2-4. the widths from the smallest up, until one keeps the share (or all of them, if asked)
    results: list[WidthResult] = []
    students: dict[int, list[nn.Module]] = {}
    for width in sorted(target.widths):
        begun = time.perf_counter()
        say(f"width {width}: selection ({len(p.fair_objectives)} objectives), then {len(p.student_seeds)} students")
        result, nets = _width(p, target, teacher, width)
        results.append(result)
        students[width] = nets
        seconds[f"w={width}"] = round(time.perf_counter() - begun, 3)
        verdict = "keeps" if result.keeps else "does not keep"
        say(
            f"width {width}: {result.chosen.label}: return {result.return_pct:.1f}% of the teacher's, 95% CI "
            f"[{result.return_low:.1f}, {result.return_high:.1f}]: {verdict} {target.threshold:g}%"
        )
        if result.keeps and not target.all_widths:
            break

    # 5. the smallest width that keeps the share, and its student with the best validation return
    best = pick_width(results)
    index = None if best is None else deliverable_run(best)
    record = CompressRecord(
        params=p.to_dict(),
        env_id=p.env_id,
        teacher={**p.teacher_fields(teacher.net), **teacher.describe(), "params": count_parameters(teacher.net)},
        widths=sorted(target.widths),
        keep=target.keep,
        threshold=target.threshold,
        results=results,
        width=None if best is None else best.width,
        seed=None if best is None or index is None else best.runs[index].seed,
        seconds={**seconds, "total": round(time.perf_counter() - started, 3)},
    )
    student = None if best is None or index is None else students[best.width][index]
    return record, student
