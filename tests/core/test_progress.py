"""Tests of distill_lib.core.progress: a step reports on a side channel, or not at all."""

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
