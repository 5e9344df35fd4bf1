"""The ``distill-study`` command (also ``python -m distill_lib``).

    distill-study run [-f FILE.yaml ...] [-p NAME VALUE ...] [-o OUTDIR] [--force] [--jobs N]
    distill-study params        # list every parameter, its default and meaning

Bad input exits with status 2 and one line on stderr (``--debug`` shows the traceback);
a failed notebook exits with status 1 after the other modes and the report have finished;
an interrupted study exits with 130 and is resumed by running the same command again.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distill-study",
        description="Compare knowledge-distillation objectives for Q-network policies (papermill-run notebooks).",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the study: data, one training run per mode, analysis, HTML report")
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
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override one parameter (value read as YAML: 3, 0.5, 1e-3, [a, b])",
    )
    run.add_argument(
        "-o",
        "--out",
        dest="out_dir",
        default="reports",
        metavar="OUTDIR",
        help="output folder for results, figures and HTML (default: reports/)",
    )
    run.add_argument("--force", action="store_true", help="re-run every step, even finished ones")
    run.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="modes run in parallel (default: cores + 1, at most the number of modes)",
    )
    run.add_argument("--hide-code", action="store_true", help="leave code cells out of the HTML pages")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    run.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks on errors")
    sub.add_parser("params", help="list the parameters, their defaults and meaning")
    return parser


def _cmd_params() -> int:
    from .params import SPECS
    from .study import _default_params

    defaults = _default_params()
    for name, spec in SPECS.items():
        print(f"{name:<20} {defaults.get(name)!r:<40} {spec.help}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ..report.results import markdown_table
    from .study import plan_study, run_study

    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs={args.jobs}: must be >= 1")
    plan = plan_study(args.files, [tuple(p) for p in args.overrides], args.out_dir)
    for note in plan.notes:
        print(f"distill-study: note: {note}", file=sys.stderr)
    try:
        outcome = run_study(plan, force=args.force, jobs=args.jobs, hide_code=args.hide_code, progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"distill-study: interrupted; finished steps are kept. Run the same command again to resume "
            f"({plan.work_dir / 'study.json'} marks the run incomplete).",
            file=sys.stderr,
        )
        return 130
    import json

    results_path = plan.out_dir / "results.json"
    rows = json.loads(results_path.read_text())["results"] if results_path.is_file() else []
    if rows:
        print(markdown_table(rows), end="")
    print(f"Report: {plan.out_dir / 'html' / 'index.html'}  ({outcome.seconds:.1f} s)")
    if outcome.failed:
        tasks = {t.name: t for t in plan.steps}
        print(f"distill-study: {len(outcome.failed)} step(s) did not finish:", file=sys.stderr)
        for name in outcome.failed:
            print(f"  {name}: {outcome.errors.get(name, 'failed')} (notebook: {tasks[name].output})", file=sys.stderr)
        print("Fix the cause and run the same command again: finished steps are reused.", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before torch loads (OpenMP reads it once): training is single-threaded by design, and the
    # study's kernels, forked from this process, must not spin idle threads against each other.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "params":
            return _cmd_params()
        return _cmd_run(args)
    except (ValueError, OSError) as err:  # ParamError is a ValueError
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"distill-study: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
