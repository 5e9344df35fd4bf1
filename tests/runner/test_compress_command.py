"""``distill-study compress`` refuses bad input in one line, with status 2, before anything trains or is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_lib.runner import cli
from distill_lib.runner.compress_command import COMPRESS_EXIT_CODES


def _status(argv: list[str]) -> int:
    """The command's exit status, whether it returned it or argparse exited with it."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--keep", "0"], "--keep: '0': must be a share in (0, 1]"),
        (["--keep", "1.5"], "must be a share in (0, 1]"),
        (["--keep", "most"], "must be a share in (0, 1]"),
        (["--widths", "0"], "--widths: '0': a width is a whole number"),
        (["--widths", "eight"], "a width is a whole number"),
        (["--widths", "8", "8"], "widths=[8, 8]: 8 listed twice"),
        (["-p", "fair_candidatez", "3"], "did you mean 'fair_candidates'?"),
        (["-p", "fair_candidates", "0"], "fair_candidates=0"),
        (["-p", "env_id", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
        (["-p", "teacher_checkpoint", "/no/such/teacher.zip"], "teacher.zip"),
        (["-f", "/no/such/params.yaml"], "no such file"),
    ],
)
def test_bad_input_is_refused_in_one_line_with_status_2(args: list[str], match: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _status(["compress", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1, err
    assert not out.exists()


def test_an_output_folder_with_other_files_is_refused_before_anything_trains(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert _status(["compress", "-q", "-o", str(tmp_path), "--force"]) == 2
    assert "holds files compress did not write (notes.txt)" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_exit_statuses_are_in_the_help(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["compress", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in COMPRESS_EXIT_CODES.items():
        assert f"{code} {meaning}" in text
    assert "student_kind plain" in text
