"""Tests of distill_lib.runner.state: every file the runner reads back is validated; a malformed one reads as absent."""

from __future__ import annotations

import json

import pytest

from distill_lib.records.manifest import seal
from distill_lib.runner.state import (
    AnalysisRecord,
    PageEntry,
    Pages,
    SectionEntry,
    Sections,
    StudyState,
    notebook_is_whole,
    read_analysis_record,
    read_pages,
    read_sections,
    read_state,
    read_timings,
    write_sealed,
    write_state,
)

#: what a damaged or hand-edited file may hold (the adversarial run's cases among them)
MALFORMED = ['{"sections": 5}', '{"data": "x"}', "[]", "5", "null", '{"state": 3}', '{"a": 1', "", "\x00\xff", "NaN"]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, errors="surrogateescape")


def test_what_is_written_reads_back(tmp_path):
    work, html = tmp_path / "work", tmp_path / "html"
    state = StudyState("failed", "/out", {"data": "done", "train": "failed"}, {"train": "ValueError: x"})
    write_state(work, state)
    assert read_state(work) == state
    sections = Sections(
        [SectionEntry("comparison", "T", "v", ["a.png"], ["hard_only"], "| h |")], ["n"], ["results.json"]
    )
    _write(work / "analysis" / "sections.json", json.dumps(sections.to_json()))
    assert read_sections(work) == sections
    record = AnalysisRecord("k", {"results.json": "0" * 64})
    write_sealed(work / "analysis" / "record.json", record)
    assert read_analysis_record(work) == record
    pages = Pages({"01_world.html": PageEntry("k", "1" * 64, "2" * 64)}, {"index.html": "3" * 64})
    write_sealed(html / ".pages.json", pages)
    assert read_pages(html) == pages
    _write(work / "timings.json", '{"data": 1.5, "analysis": 2}')
    assert read_timings(work) == {"data": 1.5, "analysis": 2.0}


@pytest.mark.parametrize("text", MALFORMED)
def test_a_malformed_file_reads_as_absent(tmp_path, text):
    work, html = tmp_path / "work", tmp_path / "html"
    for path in (work / "study.json", work / "timings.json", work / "analysis" / "sections.json"):
        _write(path, text)
    _write(work / "analysis" / "record.json", text)
    _write(html / ".pages.json", text)
    assert read_state(work) is None
    timings = read_timings(work)  # {"sections": 5} is a well-formed timings file (a step of 5 s)
    assert timings == {} or text == '{"sections": 5}' or text == '{"state": 3}'
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())
    assert read_sections(work) is None
    assert read_analysis_record(work) is None
    assert read_pages(html) == Pages()


def test_timings_must_be_seconds(tmp_path):
    for text in ('{"data": -1}', '{"data": Infinity}', '{"data": true}', '{"data": [1]}'):
        _write(tmp_path / "timings.json", text)
        assert read_timings(tmp_path) == {}, text


def test_a_record_whose_seal_breaks_reads_as_absent(tmp_path):
    record = AnalysisRecord("k", {"results.json": "0" * 64, "results.md": "1" * 64})
    write_sealed(tmp_path / "analysis" / "record.json", record)
    data = json.loads((tmp_path / "analysis" / "record.json").read_text())
    del data["files"]["results.md"]  # a file taken off the list would go unchecked
    _write(tmp_path / "analysis" / "record.json", json.dumps(data))
    assert read_analysis_record(tmp_path) is None
    _write(tmp_path / "analysis" / "record.json", json.dumps(seal({"key": 1, "files": {}})))  # sealed, wrong shape
    assert read_analysis_record(tmp_path) is None


def test_the_state_is_written_in_place_when_the_disk_is_full(tmp_path, monkeypatch):
    import errno

    import distill_lib.runner.state as state_mod

    write_state(tmp_path, StudyState("running"))

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(state_mod, "atomic_write_json", full)
    write_state(tmp_path, StudyState("failed", error="x: No space left on device"))
    assert read_state(tmp_path).state == "failed"
    with pytest.raises(OSError) as err:  # no file to overwrite: the first error, naming the file
        write_state(tmp_path / "elsewhere", StudyState("failed"))
    assert err.value.errno == errno.ENOSPC and err.value.filename.endswith("study.json")


def test_a_notebook_is_whole_only_when_it_reads_as_one(tmp_path):
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert notebook_is_whole(nb)
    for text in ('{"cells": [', "[]", '{"cells": 3, "nbformat": 4}', '{"cells": []}'):
        nb.write_text(text)
        assert not notebook_is_whole(nb), text
    assert not notebook_is_whole(tmp_path / "missing.ipynb")
