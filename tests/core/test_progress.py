"""Tests of distill_lib.core.progress: a step reports on a side channel, or not at all;
a bar is drawn on a terminal only."""

import io
import sys

import pytest

from distill_lib.core import progress


def test_nothing_is_written_without_the_runner(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    progress.report("epochs", 1, 2)
    assert list(tmp_path.iterdir()) == []


def test_the_latest_state_is_read_back(tmp_path, monkeypatch):
    path = tmp_path / "step.progress"
    monkeypatch.setenv(progress.ENV, str(path))
    progress.report("epochs", 3, 3)  # the last one is always written
    assert progress.read(path) == "epochs 3/3"
    assert progress.read(tmp_path / "absent") == ""
    path.write_text("{half")
    assert progress.read(path) == ""


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty, shown, drawn", [(True, True, True), (False, True, False), (True, False, False)])
def test_a_bar_is_drawn_only_when_asked_for_and_on_a_terminal(monkeypatch, tty, shown, drawn):
    stream = _Stream(tty)
    monkeypatch.setattr(sys, "stderr", stream)  # a Jupyter kernel's stderr is not a terminal
    assert list(progress.terminal_bar(range(3), shown=shown, desc="epochs")) == [0, 1, 2]  # it counts either way
    assert ("epochs" in stream.getvalue()) == drawn
    assert drawn or stream.getvalue() == ""
