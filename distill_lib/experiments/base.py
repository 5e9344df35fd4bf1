"""The experiment interface: what a plug-in declares, and where each of its steps keeps its result.

An experiment is one question the study asks (does the objective matter over many seeds?
how does it behave across temperatures? on a real task?). It is a module that builds one
``Experiment``: its parameters (a ``core.schema.Params`` dataclass), its notebook, the
record its notebook saves, how it splits into notebook executions (``units``), and how
its records become a summary for ``results.json`` and a section of the report. The
runner, the analysis notebook, the HTML index and the tests loop over the registry
(``experiments.EXPERIMENTS``, a plain dict) and never name an experiment.

Steps and their folders. One execution of an experiment's notebook is a *step*. Its
*content key* hashes what determines its result: the experiment and unit, the values of
the step's parameters (``step_params``), the content of its input files, the keys of the
steps it reads (``reads``: another experiment's finished step, the data step's world, say),
and the code (``records.provenance.code_hash``; ``steps_code`` under ``--analysis-only``). The step writes into
``work_dir/<experiment>/<unit>-<key>/`` and finishes by writing ``record.json`` there
(atomically, last): a folder with a record is a finished step, and a step with other
settings has another folder, so results of different settings never overwrite each other
and the analysis reads exactly the steps its parameters ask for. The runner and the
notebook compute the same folder from the same parameters (``runner.plan``).

Experiments never import each other: a step that needs another experiment's result names
the step it reads (``reads``: step config -> {experiment: unit}) and receives that step's
folder (``run(config, folder, upstream)``), whose record it reads as data (``read_step``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from ..core.schema import Params
from ..records.atomic import atomic_write_json, read_json
from ..records.manifest import json_sha256
from ..records.provenance import content_key, file_sha256, provenance, steps_code, timing
from ..records.record import Record, RecordError

__all__ = [
    "NOTEBOOK_DIR",
    "PROJECT_ROOT",
    "RECORD_FILE",
    "Experiment",
    "Section",
    "StepRecord",
    "Units",
    "execute",
    "load_step",
    "one_unit",
    "project_path",
    "read_step",
    "save_step",
    "slug",
    "step_folder",
    "step_key",
]

#: the file whose presence marks a finished step
RECORD_FILE = "record.json"
#: the repository root, and the notebooks of the built-in experiments
PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Units:
    """The notebook executions an experiment needs: unit name -> parameter overrides.

    ``note`` tells the user what was asked for but left out (and why); ``reason`` says why
    nothing runs when nothing was asked for (an empty list of seeds, say).
    """

    steps: dict[str, dict[str, Any]]
    note: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Section:
    """What an experiment contributes to the report.

    ``text`` is Markdown (tables and the sentences the numbers decide); ``verdict`` is the
    one-paragraph answer shown on the index page; ``figures`` maps a PNG file name to a
    function that draws it (called only where the figure is drawn, once).
    """

    title: str
    text: str
    verdict: str
    figures: dict[str, Callable[[], Any]] = field(default_factory=dict)
    csv: str = ""  # a table for ``results.csv``, if the section has the study's main table
    headline: str = ""  # a short Markdown table the command prints when the study ends


def one_unit(name: str) -> Callable[[Any], Units]:
    """``units`` for an experiment that always runs as one step named ``name``."""
    return lambda config: Units({name: {}})


@dataclass(frozen=True)
class Experiment(Generic[R]):
    """One question the study asks, as the runner and the analysis see it (module docstring)."""

    name: str  # registry key and folder name under work_dir
    title: str  # the report's section heading
    notebook: Path  # its notebook (executed once per unit)
    params: type[Params]  # the study-level parameters it reads, validated before anything runs
    record: type[R]  # what one step saves (``record.json``)
    run: Callable[..., R]  # run(step config, folder[, upstream folders]) -> record: the work of one step
    summarize: Callable[[Any, dict[str, R]], Record]  # (config, unit -> record) -> summary
    section: Callable[[Any, dict[str, Any]], Section] | None  # (summary, other summaries) -> its report part
    step_params: type[Params] | None = None  # what one execution reads (default: ``params``)
    units: Callable[[Any], Units] | None = None  # default: one unit named after the experiment
    needs: tuple[str, ...] = ()  # experiments whose steps must finish first
    reads: Callable[[Any], dict[str, str]] | None = None  # step config -> {experiment: unit} of the steps it reads
    inputs: Callable[[Any], list[Path]] = lambda config: []  # files whose content is part of the key
    unit_of: Callable[[Any], str] | None = None  # step config -> its unit (default: the experiment's name)
    label: str = "{experiment} {unit}"  # a step's display name when it has several units
    cost: float = 1.0  # a step's rough wall time in seconds on the project's machine: long steps start first

    @property
    def step_type(self) -> type[Params]:
        return self.step_params or self.params

    def plan_units(self, config: Any) -> Units:
        return self.units(config) if self.units else Units({self.name: {}})

    def unit_name(self, step_config: Any) -> str:
        return self.unit_of(step_config) if self.unit_of else self.name

    def step_label(self, unit: str, n_units: int) -> str:
        return unit if n_units == 1 and unit == self.name else self.label.format(experiment=self.name, unit=unit)


def project_path(path: str | Path) -> Path:
    """An absolute path; a relative one is taken from the repository root (the notebooks' convention)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def slug(text: str) -> str:
    """A name safe in a file name: ``sweep T=0.25`` -> ``sweep_T=0.25``."""
    return re.sub(r"[^A-Za-z0-9=._-]+", "_", text).strip("_") or "step"


def step_key(
    experiment: Experiment[Any], unit: str, params: Mapping[str, Any], upstream: Mapping[str, Path] | None = None
) -> str:
    """Content key of one step: experiment, unit, its parameters' values, input files, the steps it reads, code."""
    config = experiment.step_type.from_params(params)
    files = {str(p): file_sha256(p) if Path(p).is_file() else "missing" for p in experiment.inputs(config)}
    values = config.to_dict()
    for name, spec in experiment.step_type.specs().items():
        if spec.rule.path and values.get(name) is not None:
            values[name] = "file"  # identified by its content in ``files``, wherever it lies
    reads = {name: Path(folder).name for name, folder in sorted((upstream or {}).items())}  # unit-key of each
    return content_key(experiment.name, unit, values, sorted(files.values()), reads, steps_code())


def step_folder(
    work_dir: str | Path,
    experiment: Experiment[Any],
    unit: str,
    params: Mapping[str, Any],
    upstream: Mapping[str, Path] | None = None,
) -> Path:
    """``work_dir/<experiment>/<unit>-<key>``: where the step with these parameters keeps its result."""
    return Path(work_dir) / experiment.name / f"{slug(unit)}-{step_key(experiment, unit, params, upstream)}"


@dataclass(frozen=True)
class StepRecord(Record, Generic[R]):
    """The envelope of ``record.json``: the experiment's record and how it was made."""

    experiment: str
    unit: str
    key: str
    record: Any
    files: dict[str, str]  # file name in the step folder -> SHA-256
    provenance: dict[str, Any]
    timing: dict[str, Any]
    record_sha256: str = ""  # of the record and its list of files: an edited record or list is not a finished step


def save_step(folder: Path, experiment: Experiment[R], unit: str, record: R, started: float | None = None) -> Path:
    """Write ``record.json`` (last, atomically), with the hash of every file the step left in ``folder``."""
    folder = Path(folder)
    files = sorted(p.name for p in folder.iterdir() if _is_output(p))
    key = folder.name.rsplit("-", 1)[-1]
    data = record.to_json()
    hashes = {name: file_sha256(folder / name) for name in files}
    envelope = StepRecord(
        experiment=experiment.name,
        unit=unit,
        key=key,
        record=data,
        files=hashes,
        provenance=provenance(),
        timing=timing(started if started is not None else time.time()),
        record_sha256=_record_hash(data, hashes),
    )
    atomic_write_json(folder / RECORD_FILE, envelope.to_json())
    return folder / RECORD_FILE


def _is_output(path: Path) -> bool:
    """A file the step's work made: not its record, not a temporary, not the executed notebook
    (which papermill writes after the record, and which shows how the step ran, not what it found)."""
    return path.is_file() and path.name != RECORD_FILE and not path.name.startswith(".") and path.suffix != ".ipynb"


def _record_hash(data: Any, files: dict[str, str]) -> str:
    """Of the record and its list of files: a list with an entry removed leaves that file unchecked."""
    return json_sha256({"record": data, "files": files})


def execute(experiment: Experiment[R], config: Any, folder: Path, upstream: Mapping[str, Path] | None = None) -> R:
    """One step: run ``config`` into ``folder`` (given the folders of the steps it reads), save the record."""
    unit = experiment.unit_name(config)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if experiment.reads is not None:
        missing = [name for name, f in (upstream or {}).items() if read_step(f, name) is None]
        if upstream is None or missing:
            raise ValueError(
                f"{experiment.name} reads the finished steps of {', '.join(missing or experiment.reads(config))}: "
                "run them first (distill-study run runs them in order)"
            )
        record = experiment.run(config, folder, dict(upstream))
    else:
        record = experiment.run(config, folder)
    save_step(folder, experiment, unit, record, started)
    return record


def read_step(folder: Path, experiment: str, verify: bool = True) -> Any | None:
    """The record (as JSON data) of a finished step of ``experiment``, or None: absent, unreadable, of
    another key or experiment, or with changed files. What a step that reads another one sees."""
    data = read_json(Path(folder) / RECORD_FILE)
    if not isinstance(data, dict):
        return None
    try:
        envelope = StepRecord.from_json(data)
        if envelope.key != Path(folder).name.rsplit("-", 1)[-1] or envelope.experiment != experiment:
            return None
        if envelope.record_sha256 != _record_hash(envelope.record, envelope.files):
            return None
        if verify:
            for name, digest in envelope.files.items():
                path = Path(folder) / name
                if not path.is_file() or file_sha256(path) != digest:
                    return None
        return envelope.record
    except (RecordError, TypeError, ValueError):
        return None


def load_step(folder: Path, experiment: Experiment[R], verify: bool = True) -> R | None:
    """The record of a finished step, or None (``read_step``)."""
    data = read_step(folder, experiment.name, verify)
    if data is None:
        return None
    try:
        return experiment.record.from_json(data)
    except (RecordError, TypeError, ValueError):
        return None
