"""The ``distill-study compress`` subcommand: its options, exit statuses and what it prints.

    distill-study compress [-f FILE.yaml ...] [-p NAME VALUE ...] [--widths W ...] [--keep SHARE]
                           [--all-widths] -o OUTDIR [--force] [-q]

The protocol is ``runner.compress``'s, the files ``runner.model_card``'s. Parameters are read as
``distill-study run`` reads them (``runner.params``: the same files, ``-p`` pairs, did-you-mean and
one-line refusals), and checked with the files they name before anything trains, as is the output
folder. This module imports no torch: building the parser stays instant.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path

from .compress_target import CompressTarget

__all__ = ["COMPRESS_EXIT_CODES", "DEFAULT_KEEP", "DEFAULT_WIDTHS", "add_compress_parser", "run_compress"]

#: what each exit status of ``distill-study compress`` means
COMPRESS_EXIT_CODES = {
    0: "a student was written",
    1: "a run-time fault (full or read-only disk); nothing was written",
    2: "bad input: nothing ran",
    3: "no width keeps the share: nothing is delivered (no_student.md says so)",
    130: "interrupted: nothing was written",
}
#: the widths tried and the share kept unless --widths and --keep say otherwise
DEFAULT_WIDTHS, DEFAULT_KEEP = CompressTarget().widths, CompressTarget().keep


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a share in (0, 1], e.g. 0.95 for 95% of the return")
    return value


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a width is a whole number of hidden units >= 1")
    return value


def add_compress_parser(sub: argparse._SubParsersAction) -> None:
    """The ``compress`` subcommand and its options, on the command's subparsers."""
    epilog = "exit status: " + "; ".join(f"{code} {meaning}" for code, meaning in COMPRESS_EXIT_CODES.items())
    compress = sub.add_parser(
        "compress",
        help="the smallest student that keeps a share of the teacher's return: state dict, TorchScript, model card",
        description="For the teacher (-p teacher_checkpoint FILE, or the task's shipped one) of env_id, run the "
        "study's selection (the fair comparison: every objective's candidates chosen on validation episodes, fresh "
        "student seeds measured on test episodes) at each width from the smallest up, and write the smallest "
        "student whose 95% interval of return % has its lower end at or above SHARE x 100. Students are plain "
        "MLPs (student_kind plain: Linear, ReLU, twice, a linear head) unless -p student_kind study. Parameters "
        "as for 'run' (-f, -p; see 'distill-study params'): the fair_* ones, student_seeds, val_episodes and "
        "test_episodes set the budget; n_teachers is 1.",
        epilog=epilog,
    )
    compress.add_argument(
        "-f", "--file", dest="files", action="append", default=[], metavar="FILE.yaml",
        help="parameter file; repeat to layer (later wins)",
    )  # fmt: skip
    compress.add_argument(
        "-p", "--param", dest="overrides", action="append", default=[], metavar="NAME VALUE | NAME=VALUE",
        help="override one parameter (as for 'run')",
    )  # fmt: skip
    compress.add_argument(
        "--widths", nargs="+", type=_width, default=DEFAULT_WIDTHS, metavar="W",
        help=f"student widths to try (default: {' '.join(map(str, DEFAULT_WIDTHS))})",
    )  # fmt: skip
    compress.add_argument(
        "--keep", type=_share, default=DEFAULT_KEEP, metavar="SHARE",
        help=f"share of the teacher's return to keep (default {DEFAULT_KEEP:g}: the 95%% interval's lower end at "
        f"or above {100 * DEFAULT_KEEP:g}%%)",
    )  # fmt: skip
    compress.add_argument(
        "--all-widths", action="store_true",
        help="train and measure every width (default: stop at the first that keeps the share)",
    )  # fmt: skip
    compress.add_argument(
        "-o", "--out", dest="out_dir", required=True, metavar="OUTDIR",
        help="folder for the student and its card (written whole, or not at all)",
    )  # fmt: skip
    compress.add_argument("--force", action="store_true", help="replace OUTDIR if it holds an earlier compress output")
    compress.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    compress.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks on errors"
    )


def run_compress(args: argparse.Namespace, argv: list[str], overrides: list[tuple[str, str]]) -> int:
    """Check everything, run ``runner.compress.compress``, write the folder, print the verdict; the exit status.

    Bad input raises ``ValueError`` (the caller's one-line refusal, status 2) before anything trains.
    """
    from ..core.schema import ParamError
    from ..rl.students import teacher_states
    from .compress import compress, compress_config
    from .model_card import check_out_dir, write_outputs

    def say(line: str) -> None:
        if not args.quiet:
            print(f"distill-study: {line}", file=sys.stderr, flush=True)

    if not args.out_dir.strip():
        raise ParamError("-o '': give the student a folder of its own (-o OUTDIR)")
    out = Path(args.out_dir).expanduser().resolve()
    target = CompressTarget(widths=list(args.widths), keep=args.keep, all_widths=args.all_widths)
    with warnings.catch_warnings(record=True) as caught:  # a library's warning is not a second line of a refusal
        config = compress_config(args.files, overrides, say)
        config.check_files()
    for note in dict.fromkeys(str(w.message).splitlines()[0] for w in caught if str(w.message).strip()):
        say(f"note: {note}")
    check_out_dir(out, args.force)
    try:
        record, student = compress(config, target, say)
        states = teacher_states(config.load_teacher(), 256, config.buffer_epsilon, config.env_id)  # (256, D)
        write_outputs(out, record, student, states, shlex.join(["distill-study", *argv]))
    except KeyboardInterrupt:
        print("distill-study: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as err:
        if args.debug:
            raise
        print(f"distill-study: error: {str(err).splitlines()[0]}; nothing was written", file=sys.stderr)
        return 1
    if record.width is None:
        best = max(record.results, key=lambda r: r.return_low)
        print(
            f"No width keeps {record.threshold:g}% of the teacher's return: the best lower end is "
            f"{best.return_low:.1f}% (width {best.width}); nothing is delivered ({out / 'no_student.md'})"
        )
        return 3
    chosen = next(r for r in record.results if r.width == record.width)
    print(
        f"Width {chosen.width} ({chosen.params_pct:.1f}% of the teacher's parameters; {chosen.chosen.label}) keeps "
        f"{chosen.return_pct:.1f}% of the teacher's return, 95% CI [{chosen.return_low:.1f}, {chosen.return_high:.1f}]"
    )
    print(f"Student: {out / 'student_torchscript.pt'}  card: {out / 'model_card.md'}")
    return 0
