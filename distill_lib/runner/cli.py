"""The ``distill-study`` command (also ``python -m distill_lib``).

    distill-study run [-f FILE.yaml ...] [-p NAME VALUE | -p NAME=VALUE ...] [-o OUTDIR] [--force]
                      [--jobs N] [--cluster local[:N] | tcp://HOST:PORT] [--analysis-only]
    distill-study params        # list every parameter, its default and meaning
    distill-study tasks OUTDIR... -o SUMMARY   # the objectives across tasks: one study per env_id
    distill-study compress [-f FILE.yaml ...] [-p NAME VALUE ...] [--widths W ...] [--keep SHARE] -o OUTDIR
                                # the smallest student that keeps a share of the teacher's return

Exit status (``EXIT_CODES``): 0 the study is complete; 1 a step failed (after the others
and the report have finished) or the runner hit a fault such as a full or read-only disk;
2 bad input (nothing ran: a parameter, a file, an output folder in use by another run);
130 interrupted (resume by running the same command again). Every refusal is one line on
stderr (argparse's own included: no usage dump); ``--debug`` shows the traceback. ``compress`` has
its own (``runner.compress_command.COMPRESS_EXIT_CODES``): 3 when no width keeps the share (nothing is delivered).

``-p NAME VALUE`` takes the next word as the value whatever it looks like, so a negative
number passes (``-p lr -1e-3``, as ``-p lr=-1e-3``): argparse alone would take ``-1e-3``
for an option.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import NoReturn

from .compress_command import add_compress_parser, run_compress

__all__ = ["EXIT_CODES", "build_parser", "main", "param_pairs"]

#: what each exit status means (also in --help and the README)
EXIT_CODES = {
    0: "the study is complete",
    1: "a step failed, or a run-time fault (full or read-only disk)",
    2: "bad input: nothing ran",
    130: "interrupted: run the same command again to resume",
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage is what ``--help`` is for."""

    def error(self, message: str) -> NoReturn:
        first = message.splitlines()[0] if message else "bad arguments"
        self.exit(2, f"distill-study: error: {first} (see '{self.prog} --help')\n")


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number >= 1")
    return value


#: the options whose value is ``NAME VALUE`` or ``NAME=VALUE``
_PARAM_OPTIONS = ("-p", "--param")


def param_pairs(argv: list[str]) -> list[str]:
    """``argv`` with each ``-p NAME VALUE`` and ``-p NAME=VALUE`` turned into one ``--param=NAME=VALUE``.

    As one token, a VALUE that starts with '-' (``-1e-3``) is never taken for an option.
    """
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return out + argv[i:]
        if token in _PARAM_OPTIONS and i + 1 < len(argv) and "=" in argv[i + 1]:
            out.append(f"--param={argv[i + 1]}")
            i += 2
        elif token in _PARAM_OPTIONS and i + 2 < len(argv):
            out.append(f"--param={argv[i + 1]}={argv[i + 2]}")
            i += 3
        else:
            out.append(token)
            i += 1
    return out


def _overrides(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"-p {pair}: give a name and a value, -p NAME VALUE or -p NAME=VALUE")
        out.append((name.strip(), value))
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="distill-study",
        description="Compare knowledge-distillation objectives for Q-network policies (papermill-run notebooks).",
        epilog="exit status: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the study: data, one training run per mode, analysis, HTML report",
        epilog="exit status: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    run.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE.yaml",
        help="parameter file; repeat to layer (later wins). Default: params/study.yaml",
    )
    run.add_argument(
        "-p",
        "--param",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME VALUE | NAME=VALUE",
        help="override one parameter (value read as YAML: 3, 0.5, -1e-3, [a, b]); the word after NAME is its "
        "value even if it starts with '-'",
    )
    run.add_argument(
        "-o",
        "--out",
        dest="out_dir",
        default=None,
        metavar="OUTDIR",
        help="output folder for results, figures and HTML (default: reports/, for the default study only)",
    )
    run.add_argument("--force", action="store_true", help="re-run every step, even finished ones")
    run.add_argument(
        "--analysis-only",
        action="store_true",
        help="run no step: the analysis (results, figures, report) again over the study's finished steps, even "
        "ones an earlier version of the code made (their commit is recorded); refused unless every step finished",
    )
    run.add_argument(
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="modes run in parallel (default: cores + 1, at most the number of modes)",
    )
    run.add_argument(
        "--cluster",
        default=None,
        metavar="SPEC",
        help="run the steps on Dask: 'local' (a LocalCluster, one worker per core), 'local:N' (N workers) or a "
        "running scheduler's address, tcp://HOST:PORT. Default: $DASK_SCHEDULER_ADDRESS if set, else this "
        "machine without Dask. The workers must see the repository and OUTDIR at the same paths",
    )
    run.add_argument("--hide-code", action="store_true", help="leave code cells out of the HTML pages")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks on errors")
    sub.add_parser("params", help="list the parameters, their defaults and meaning")
    tasks = sub.add_parser(
        "tasks",
        help="compare the objectives across tasks: read one study per env_id (each with the fair comparison)",
        description="Reads OUTDIR/results.json of each study (run with -p env_id ...; one per task) and writes "
        "the cross-task table, verdict and page: SUMMARY/tasks.json, tasks.md, index.html.",
    )
    tasks.add_argument("studies", nargs="+", metavar="OUTDIR", help="a study's output folder (one per task)")
    tasks.add_argument(
        "-o", "--out", dest="out_dir", required=True, metavar="SUMMARY", help="where to write (a folder)"
    )
    tasks.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks on errors"
    )
    add_compress_parser(sub)
    return parser


def _cmd_tasks(args: argparse.Namespace) -> int:
    from ..core.schema import ParamError
    from ..experiments.across_tasks import verdict, write_summary
    from .studies import validate_task_studies

    if not args.out_dir.strip():
        raise ParamError("-o '': give the summary a folder of its own (-o SUMMARY)")
    validate_task_studies(args.studies)
    summary = write_summary(args.studies, args.out_dir)
    print(verdict(summary))
    print(f"Summary: {os.path.join(args.out_dir, 'index.html')}")
    return 0


def _cmd_params() -> int:
    """Every parameter, grouped by the experiment that reads it first (one named after an experiment that
    reads it, e.g. ``fair_widths``, under that one), with its default and meaning."""
    from ..experiments import EXPERIMENTS
    from .params import RunnerParams

    groups: list[tuple[str, dict]] = [("runner", RunnerParams.specs())]
    groups += [(f"{e.name}: {e.title}", {**e.params.specs(), **e.step_type.specs()}) for e in EXPERIMENTS.values()]
    home = {n: t for t, specs in reversed(groups) for n in specs}  # the first group that reads it ...
    home |= {n: t for t, specs in groups for n in specs if n.startswith(t.split(":")[0] + "_")}  # ... or its namesake
    shown: set[str] = set()
    rows = []
    for title, specs in groups:
        names = [n for n in specs if n not in shown and home[n] == title]
        if names:
            rows.append((title, None))
            rows += [(n, specs[n]) for n in names]
            shown |= set(names)
    width = max(len(n) for n, spec in rows if spec is not None)
    default_width = min(40, max(len(repr(spec.default)) for _, spec in rows if spec is not None))
    for name, spec in rows:
        if spec is None:
            print(f"\n{name}")
            continue
        default = repr(spec.default)
        bounds = [spec.rule.describe()] if spec.rule.describe() else []
        if spec.rule.max_len is not None:
            bounds.append(f"at most {spec.rule.max_len} entries")
        rule = f" ({'; '.join(bounds)})" if bounds else ""
        print(f"  {name:<{width}}  {default:<{default_width}}  {spec.help}{rule}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ..records.provenance import STEPS_CODE_ENV
    from .inputs import check_inputs
    from .plan import plan_study
    from .state import read_sections
    from .study import RunFault, run_study

    os.environ.pop(STEPS_CODE_ENV, None)  # set by --analysis-only alone (runner.reanalysis)
    if args.analysis_only and (args.force or args.cluster is not None):
        raise ValueError("--analysis-only runs no step: it takes neither --force nor --cluster")
    spec = args.cluster if args.cluster is not None else os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    spec = None if args.analysis_only else spec  # the analysis runs here, whatever $DASK_SCHEDULER_ADDRESS says
    if spec is not None:
        from .cluster import parse_cluster

        parse_cluster(spec)
        if args.jobs is not None:
            raise ValueError("--jobs is for this machine; on a cluster the workers' threads decide what runs at once")
    with warnings.catch_warnings(record=True) as caught:  # a library's warning is not a second line of a refusal
        if args.analysis_only:
            from .reanalysis import plan_of_finished_steps

            plan, commit = plan_of_finished_steps(args.files, _overrides(args.overrides), args.out_dir)
            print(f"distill-study: note: the analysis alone, over steps made at commit {(commit or 'unknown')[:7]}",
                  file=sys.stderr)  # fmt: skip
        else:
            plan = plan_study(args.files, _overrides(args.overrides), args.out_dir)
            check_inputs(plan)  # the files the parameters name (the planner reads none)
    notes = [*plan.notes, *(str(w.message).splitlines()[0] for w in caught if str(w.message).strip())]
    for note in dict.fromkeys(notes):
        print(f"distill-study: note: {note}", file=sys.stderr)
    cluster, started = None, False
    try:
        execution, jobs = None, args.jobs
        if spec is not None:
            from .cluster import DaskExecution, connect
            from .study import step_order

            if args.cluster is None:
                print(f"distill-study: note: DASK_SCHEDULER_ADDRESS={spec}: running on that scheduler", file=sys.stderr)
            cluster = connect(spec)
            print(f"distill-study: note: {cluster.describe()}", file=sys.stderr)
            execution, jobs = DaskExecution(cluster.client, step_order(plan)), cluster.threads
        started = True
        outcome = run_study(
            plan,
            force=args.force,
            jobs=jobs,
            hide_code=args.hide_code,
            progress=not args.quiet,
            execution=execution,
            analysis_only=args.analysis_only,
        )
    except KeyboardInterrupt:
        if not started:  # while the cluster was starting
            print("distill-study: interrupted before anything ran", file=sys.stderr)
            return 130
        print(
            f"distill-study: interrupted; finished steps are kept. Run the same command again to resume "
            f"({plan.work_dir / 'study.json'} marks the run incomplete).",
            file=sys.stderr,
        )
        return 130
    except RunFault as err:
        if args.debug:
            raise
        print(f"distill-study: error: {err}; finished steps are kept", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.close()
    sections = read_sections(plan.work_dir)
    for section in sections.sections if sections is not None else []:
        if section.headline:
            print(section.headline, end="")
    print(f"Report: {plan.out_dir / 'html' / 'index.html'}  ({outcome.wall:.1f} s)")
    if outcome.failed:
        steps = {s.name: s for s in plan.steps}
        print(f"distill-study: {len(outcome.failed)} step(s) did not finish:", file=sys.stderr)
        for name in outcome.failed:
            print(f"  {name}: {outcome.errors.get(name, 'failed')} (notebook: {steps[name].output})", file=sys.stderr)
        print("Fix the cause and run the same command again: finished steps are reused.", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before torch loads (OpenMP reads it once): training is single-threaded by design, and the
    # study's kernels, forked from this process, must not spin idle threads against each other; the
    # seed-compatible path trains with the original's two threads, several modes at once, so a waiting
    # OpenMP thread sleeps rather than spins (spinning made it 10-40x slower on a busy 2-core machine).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(param_pairs(argv))
    try:
        if args.command == "compress":
            return run_compress(args, argv, _overrides(args.overrides))
        if args.command == "params":
            return _cmd_params()
        if args.command == "tasks":
            return _cmd_tasks(args)
        return _cmd_run(args)
    except KeyboardInterrupt:  # while the parameters were being checked: nothing ran
        print("distill-study: interrupted before anything ran", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:  # ParamError is a ValueError
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"distill-study: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
