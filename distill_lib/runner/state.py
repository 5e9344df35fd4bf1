"""The runner's own files: what each holds, how it is written, and how it is read back.

Besides the steps' records (``experiments.base.save_step``), a study's folder holds files the
runner writes and reads again on the next run:

- ``work/study.json`` (``StudyState``): how the study ended, in words, with each step's status;
- ``work/timings.json``: the last run's seconds per step (the ETA, and which step starts first);
- ``work/analysis/sections.json`` (``Sections``): what the analysis step made: each section's
  verdict, figures and steps for the index, and the files it wrote (``results.*``, figures);
- ``work/analysis/record.json`` (``AnalysisRecord``): the analysis step's record: the key of
  what it read, and every file it made with its SHA-256, sealed (``records.manifest``);
- ``html/.pages.json`` (``Pages``): for each page, the step key it shows, its SHA-256 and its
  executed notebook's; the index's and its figures' SHA-256, sealed.

Each is validated on read (its shape and types through ``records.record``, its seal where it
has one). A file that is absent, truncated, of another shape or with a broken seal reads as
None: the runner treats it as absent and rebuilds what it describes; it never raises.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..records.atomic import atomic_write_json, read_json
from ..records.manifest import changed, seal, unseal
from ..records.record import Record, RecordError, from_json

__all__ = [
    "AnalysisRecord",
    "PageEntry",
    "Pages",
    "SectionEntry",
    "Sections",
    "StudyState",
    "files_changed",
    "notebook_is_whole",
    "read_analysis_record",
    "read_pages",
    "read_sections",
    "read_state",
    "read_timings",
    "write_sealed",
    "write_state",
]

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class StudyState(Record):
    """``work/study.json``: ``running``, ``complete``, ``failed`` or ``interrupted``, and why."""

    state: str
    out_dir: str = ""
    steps: dict[str, str] = field(default_factory=dict)  # step -> done | reused | failed | skipped
    errors: dict[str, str] = field(default_factory=dict)
    error: str = ""  # a fault of the runner itself (a full disk, say)


@dataclass(frozen=True)
class SectionEntry(Record):
    """One experiment's part of the index."""

    experiment: str
    title: str
    verdict: str
    figures: list[str]  # PNG files in OUTDIR/figures
    steps: list[str]  # the names of its steps (their pages are linked)
    headline: str = ""  # a short table the command prints when the study ends


@dataclass(frozen=True)
class Sections(Record):
    """``work/analysis/sections.json``: what the analysis made, for the index and the record."""

    sections: list[SectionEntry]
    notes: list[str]
    files: list[str] = field(default_factory=list)  # what it wrote, relative to OUTDIR


@dataclass(frozen=True)
class AnalysisRecord(Record):
    """``work/analysis/record.json``: the analysis is current while its key matches and its files are unchanged."""

    key: str
    files: dict[str, str]  # relative to OUTDIR -> SHA-256


@dataclass(frozen=True)
class PageEntry(Record):
    """A page in ``html/``: the step key it shows, its own SHA-256 and its executed notebook's."""

    key: str
    sha256: str
    notebook: str


@dataclass(frozen=True)
class Pages(Record):
    """``html/.pages.json``: each page, and the index and its figures (relative to ``html/``) with their SHA-256."""

    pages: dict[str, PageEntry] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def _read(path: Path, tp: type[R], sealed: bool = False) -> R | None:
    data = read_json(path)
    if sealed:
        data = unseal(data)
    try:
        return from_json(tp, data) if data is not None else None
    except (RecordError, TypeError):
        return None


def read_state(work_dir: Path) -> StudyState | None:
    """``work/study.json``, or None when absent or malformed."""
    return _read(Path(work_dir) / "study.json", StudyState)


def write_state(work_dir: Path, state: StudyState) -> None:
    """``work/study.json``. On a full disk, where an atomic write has no room for its temporary
    copy, the small file is overwritten in place: the state must still say ``failed``. If that
    fails too, the first error is raised (it names the file)."""
    path = Path(work_dir) / "study.json"
    try:
        atomic_write_json(path, state.to_json())
    except OSError as err:
        try:
            with open(path, "r+", encoding="utf-8") as fh:
                fh.write(json.dumps({"state": state.state, "error": state.error}))
                fh.truncate()
        except OSError:
            raise err from None


def read_timings(work_dir: Path) -> dict[str, float]:
    """``work/timings.json``: step -> seconds (finite, >= 0); empty when absent or malformed."""
    data = read_json(Path(work_dir) / "timings.json")
    try:
        timings = from_json(dict[str, float], data)
    except RecordError:
        return {}
    return timings if all(math.isfinite(v) and v >= 0 for v in timings.values()) else {}


def read_sections(work_dir: Path) -> Sections | None:
    """``work/analysis/sections.json``, or None when absent or malformed."""
    return _read(Path(work_dir) / "analysis" / "sections.json", Sections)


def read_analysis_record(work_dir: Path) -> AnalysisRecord | None:
    """``work/analysis/record.json``, or None when absent, malformed or its seal is broken."""
    return _read(Path(work_dir) / "analysis" / "record.json", AnalysisRecord, sealed=True)


def read_pages(html_dir: Path) -> Pages:
    """``html/.pages.json``; empty (every page is then checked against its notebook again) when absent or malformed."""
    return _read(Path(html_dir) / ".pages.json", Pages, sealed=True) or Pages()


def write_sealed(path: Path, record: Record) -> None:
    """A record written with its own hash (``records.manifest.seal``)."""
    atomic_write_json(path, seal(record.to_json()))


def files_changed(root: Path, record: AnalysisRecord | Pages) -> list[str]:
    """The files a record lists that are missing or changed under ``root``."""
    return changed(root, record.files)


def notebook_is_whole(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable notebook (a truncated or edited-to-garbage one is not)."""
    with contextlib.suppress(OSError, ValueError):
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        return isinstance(nb, dict) and isinstance(nb.get("cells"), list) and isinstance(nb.get("nbformat"), int)
    return False
