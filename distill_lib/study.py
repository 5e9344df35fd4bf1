"""Study orchestration: the data notebook once, the training notebook once per mode
(in parallel processes), then the analysis notebook, each executed headlessly by papermill;
then every executed notebook rendered to HTML with an index page.

Before anything runs, every parameter and input file is validated (``plan_study``), so a
mistake fails with one line and nothing written. Each step's record carries a content key
(parameters, input hashes, code hash); a finished step whose key is unchanged is reused, so
re-running an interrupted or partly failed study only does what is missing. A failing mode
does not stop the others; the report says which are missing.
"""

from __future__ import annotations

import ast
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json
from .config import MODES, RunConfig, mode_for_alpha
from .params import SPECS, ParamError, layer_params

__all__ = [
    "DEFAULT_PARAMS_FILE",
    "NOTEBOOKS",
    "Outcome",
    "StudyPlan",
    "Task",
    "notebook_parameters",
    "plan_study",
    "run_study",
]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = {
    "data": "01_data.ipynb",
    "train": "02_train.ipynb",
    "analysis": "03_analysis.ipynb",
    "seeds": "04_seeds.ipynb",
    "sweep": "05_sweep.ipynb",
}
#: figures the analysis notebook may write, in the order the index shows them
FIGURES = (
    "learning_curves.png",
    "final_metrics.png",
    "seeds_world.png",
    "seeds_training.png",
    "gap_agreement.png",
    "sweep_heatmaps.png",
)
DEFAULT_PARAMS_FILE = Path(__file__).resolve().parent.parent / "params" / "study.yaml"


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Names and default values assigned in a notebook's ``parameters`` cell (no kernel)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            values = {}
            for node in ast.parse(source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    values[node.targets[0].id] = ast.literal_eval(node.value)
            return values
    raise ValueError(f"{notebook}: no cell tagged 'parameters'")


@dataclass
class Task:
    """One notebook execution."""

    name: str  # "data", a mode name, or "analysis"
    notebook: str  # a key of NOTEBOOKS
    parameters: dict[str, Any]
    output: Path  # the executed notebook
    key: str  # content key; a finished step with this key is reused
    record: Path  # the step's JSON record (its presence with ``key`` = done)


@dataclass
class StudyPlan:
    """Everything ``run_study`` will do, validated."""

    params: dict[str, Any]
    out_dir: Path
    work_dir: Path
    data: Task
    modes: list[Task]
    analysis: Task
    sections: list[Task] = field(default_factory=list)  # seeds, sweep cells: run beside the modes
    notes: list[str] = field(default_factory=list)  # what the plan changed or skipped, for the user

    @property
    def steps(self) -> list[Task]:
        return [self.data, *self.sections, *self.modes, self.analysis]


@dataclass
class Outcome:
    """What happened: per-step status, failures, and where things are."""

    plan: StudyPlan
    status: dict[str, str] = field(default_factory=dict)  # name -> done | reused | failed | skipped
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.status.items() if s in ("failed", "skipped")]


#: parameters the runner sets itself, and what to use instead
_RUNNER_SET = {
    "mode": "the runner sets the mode of each run from the list in 'modes' (e.g. -p modes [hard_only])",
    "work_dir": "the runner uses OUTDIR/work; choose OUTDIR with -o",
    "out_dir": "choose the output folder with -o",
    "sweep_temperature": "the runner sets each cell's temperature from 'sweep_temperatures'",
    "sweep_loss_fn": "the runner sets each cell's loss; use 'sweep_mse' for the MSE row",
}


def alpha_for(mode: str, blend_alpha: float) -> float:
    """A mode's alpha: 0 for hard_only, 1 for soft_only, the ``alpha`` parameter for blended."""
    return blend_alpha if mode == "blended" else MODES[mode]


def _default_params() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for nb in NOTEBOOKS.values():
        defaults.update(notebook_parameters(NOTEBOOK_DIR / nb))
    return defaults


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ParamError(
            f"output directory {str(path)!r}: cannot be created or written ({err.strerror or err})"
        ) from None


def _abspath(value: str | None) -> str | None:
    return None if value is None else str(Path(value).expanduser().resolve())


def plan_study(
    files: list[str | os.PathLike[str]] | None = None,
    overrides: list[tuple[str, str]] | None = None,
    out_dir: str | os.PathLike[str] = "reports",
) -> StudyPlan:
    """Layer and validate the parameters and inputs; nothing is written except a write probe.

    Raises ``ParamError`` / ``ValueError`` with a one-line message on any bad input.
    """
    from .artifacts import data_key, run_key
    from .data import load_states, load_teacher

    files = [DEFAULT_PARAMS_FILE] if not files else list(files)
    given = layer_params(files, overrides)
    for name, why in _RUNNER_SET.items():
        if name in given:
            raise ParamError(f"parameter {name}={given[name]!r}: {why}")
    params = {**_default_params(), **given}
    for name in ("states_file", "teacher_checkpoint"):
        params[name] = _abspath(params.get(name))
    unknown = sorted(set(params) - set(SPECS))
    if unknown:  # defaults declared in a notebook but not in SPECS: a programming error
        raise ParamError(f"notebook parameters missing from params.SPECS: {unknown}")
    modes = params["modes"]
    for mode in modes:
        if mode not in MODES:
            raise ParamError(f"parameter modes: unknown mode {mode!r}; known modes are {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise ParamError(f"parameter modes={modes!r}: a mode is listed twice")

    source = params["source"]
    if source == "file":
        for name in ("states_file", "teacher_checkpoint"):
            if not params.get(name):
                raise ParamError(f"parameter {name} is required with source='file'")
        states = load_states(params["states_file"], params["input_dim"])
        params["n_states"] = len(states)
        load_teacher(params["teacher_checkpoint"], params["input_dim"], params["teacher_hidden"], params["output_dim"])
    elif source != "synthetic":
        raise ParamError(f"parameter source={source!r}: must be synthetic or file")

    alpha = params["alpha"]
    RunConfig.from_params({**params, "mode": mode_for_alpha(alpha)})  # alpha's range, whatever the modes
    configs = {}
    for mode in modes:
        configs[mode] = RunConfig.from_params({**params, "mode": mode, "alpha": alpha_for(mode, alpha)})

    notes = []
    synthetic_only = [n for n in ("world_seeds", "sweep_temperatures") if params[n]]
    if source != "synthetic" and synthetic_only:  # each world seed makes its own teacher and states
        notes.append(f"source={source!r}: world seeds and the sweep need synthetic worlds, so they are skipped")
        params["world_seeds"], params["sweep_temperatures"] = [], []
    sections = _validate_sections(params, configs)

    out = Path(out_dir).expanduser().resolve()
    _check_writable(out)
    work = out / "work"
    params["work_dir"], params["out_dir"] = str(work), str(out)
    declared = {k: set(notebook_parameters(NOTEBOOK_DIR / nb)) for k, nb in NOTEBOOKS.items()}

    def pick(kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = {**params, **(extra or {})}
        return {k: v for k, v in merged.items() if k in declared[kind]}

    dkey = data_key(params)
    data = Task("data", "data", pick("data"), work / "notebooks" / "01_data.ipynb", dkey, work / "data" / "data.json")
    mode_tasks = [
        Task(
            mode,
            "train",
            pick("train", {"mode": mode, "alpha": alpha_for(mode, alpha)}),
            work / "notebooks" / f"02_train_{mode}.ipynb",
            run_key(configs[mode], dkey),
            work / "runs" / mode / "run.json",
        )
        for mode in modes
    ]
    from . import seeds, sweep
    from .provenance import content_key

    section_tasks = []
    if params["world_seeds"] or params["training_seeds"]:
        p = pick("seeds")
        section_tasks.append(
            Task(
                "seeds",
                "seeds",
                p,
                work / "notebooks" / "04_seeds.ipynb",
                seeds.section_key(p, dkey),
                work / "seeds" / "seeds.json",
            )
        )
    for temperature, loss_fn in sections:
        p = pick("sweep", {"sweep_temperature": temperature, "sweep_loss_fn": loss_fn})
        name = sweep.cell_name(temperature, loss_fn)
        section_tasks.append(
            Task(
                f"sweep {name}",
                "sweep",
                p,
                work / "notebooks" / f"05_sweep_{name}.ipynb",
                sweep.cell_key(p),
                work / "sweep" / name / "cell.json",
            )
        )

    akey = content_key("analysis", [t.key for t in mode_tasks + section_tasks], modes, str(out))
    analysis = Task(
        "analysis", "analysis", pick("analysis"), work / "notebooks" / "03_analysis.ipynb", akey, work / "analysis.json"
    )
    return StudyPlan(
        params=params,
        out_dir=out,
        work_dir=work,
        data=data,
        modes=mode_tasks,
        analysis=analysis,
        sections=section_tasks,
        notes=notes,
    )


def _validate_sections(params: dict[str, Any], configs: dict[str, RunConfig]) -> list[tuple[float, str]]:
    """Check the seeds and sweep parameters; returns the sweep cells as (temperature, loss_fn)."""
    from .sweep import cell_config

    for name in ("world_seeds", "training_seeds", "sweep_seeds", "sweep_temperatures", "sweep_alphas"):
        values = params[name]
        if len(set(values)) != len(values):
            raise ParamError(f"parameter {name}={values!r}: a value is listed twice")
    for name in ("world_seeds", "training_seeds"):
        if len(params[name]) == 1:
            raise ParamError(
                f"parameter {name}={params[name]!r}: a confidence interval needs at least 2 seeds (or [] to skip)"
            )
    n_val = next(iter(configs.values())).n_val if configs else 1
    if not 1 <= params["n_bins"] <= n_val:
        raise ParamError(f"parameter n_bins={params['n_bins']!r}: must be in [1, {n_val}] (the validation states)")
    cells: list[tuple[float, str]] = [(t, "kl") for t in params["sweep_temperatures"]]
    if cells and params["sweep_mse"]:
        cells.append((1.0, "mse"))
    if cells:
        if not params["sweep_seeds"] or not params["sweep_alphas"]:
            raise ParamError(
                "parameters sweep_seeds and sweep_alphas must not be empty when sweep_temperatures is given"
            )
        bad = [a for a in params["sweep_alphas"] if not 0.0 <= a <= 1.0]
        if bad:
            raise ParamError(f"parameter sweep_alphas={params['sweep_alphas']!r}: {bad[0]} is outside [0, 1]")
        for temperature, loss_fn in cells:
            try:
                cell_config({**params, "sweep_temperature": temperature, "sweep_loss_fn": loss_fn})
            except ValueError as err:
                raise ParamError(f"sweep_temperatures: {err}") from None
    return cells


def _finished(task: Task) -> bool:
    from .artifacts import read_record

    record = read_record(task.record)
    return record is not None and record.get("key") == task.key


def _worker(task: Task, html_path: Path, hide_code: bool, conn: Connection) -> None:
    """Run one notebook with papermill in this (child) process and report through ``conn``."""

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds papermill, which shuts its kernel down

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # not the parent's handler
    import logging
    import warnings

    import papermill as pm

    # The kernel inherits these descriptors: its chatter goes to a log beside the notebook.
    task.output.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(task.output.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    task.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(
            str(NOTEBOOK_DIR / NOTEBOOKS[task.notebook]),
            str(task.output),
            parameters=task.parameters,
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            cwd=str(NOTEBOOK_DIR),
        )
        status, message = "done", ""
    except pm.PapermillExecutionError as err:
        status, message = "failed", f"{err.ename}: {err.evalue}".splitlines()[0]
    except KeyboardInterrupt:
        conn.send(("interrupted", "stopped by a signal"))
        return
    except Exception as err:  # kernel died, notebook unreadable, ...
        status, message = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
    try:  # render even a failed notebook: its error banner is what a person needs to see
        from .report import export_html

        export_html(task.output, html_path, hide_code=hide_code)
    except Exception as err:  # a rendering problem must not hide the notebook's own status
        message = message or f"HTML rendering failed: {err}"
    conn.send((status, message))


class _Interrupted(Exception):
    pass


def _run_tasks(tasks: list[Task], html_dir: Path, hide_code: bool, jobs: int, outcome: Outcome, progress: Any) -> None:
    """Run tasks in up to ``jobs`` child processes; record each one's status."""
    ctx = mp.get_context("fork")
    pending = list(tasks)
    running: dict[str, tuple[Any, Connection, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                html_path = html_dir / (task.output.stem + ".html")
                proc = ctx.Process(
                    target=_worker, args=(task, html_path, hide_code, child), name=f"distill-{task.name}"
                )
                proc.start()
                child.close()
                running[task.name] = (proc, parent, time.time())
                progress.running(task.name)
            ready = mp.connection.wait([conn for _, conn, _ in running.values()], timeout=0.5)
            for name in [n for n, (_, c, _) in running.items() if c in ready]:
                proc, conn, started = running.pop(name)
                try:
                    status, message = conn.recv()
                except EOFError:
                    status, message = "failed", f"worker process died (exit code {proc.exitcode})"
                proc.join()
                if status == "interrupted":
                    raise _Interrupted
                outcome.status[name] = status
                if message:
                    outcome.errors[name] = message
                progress.finished(name, status, time.time() - started, message)
    finally:
        for proc, _conn, _ in running.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM -> KeyboardInterrupt in the worker -> kernel shutdown
        deadline = time.time() + 10
        for proc, _conn, _ in running.values():
            proc.join(timeout=max(0.1, deadline - time.time()))
            if proc.is_alive():
                proc.kill()
                proc.join()


class _Progress:
    """A one-line-per-event progress display on stderr (tqdm bar over the steps)."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self.bar = tqdm(
            total=total,
            desc="study",
            unit="step",
            disable=not (enabled and sys.stderr.isatty()),
            file=sys.stderr,
            leave=False,
            bar_format="{desc}: {n_fmt}/{total_fmt} steps |{bar:20}| {elapsed} {postfix}",
        )
        self.active: list[str] = []

    def running(self, name: str) -> None:
        self.active.append(name)
        self.bar.set_postfix_str("running: " + ", ".join(self.active))

    def finished(self, name: str, status: str, seconds: float, message: str = "") -> None:
        if name in self.active:
            self.active.remove(name)
        mark = {"done": "ok", "reused": "reused", "failed": "FAILED"}.get(status, status)
        detail = f" - {message}" if message and status == "failed" else ""
        if self.enabled:
            self.bar.write(f"  {name:<10} {mark:<7} {seconds:6.1f}s{detail}", file=sys.stderr)
        self.bar.set_postfix_str("running: " + ", ".join(self.active) if self.active else "")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _write_state(plan: StudyPlan, state: str, outcome: Outcome | None = None) -> None:
    payload: dict[str, Any] = {"state": state, "out_dir": str(plan.out_dir)}
    if outcome is not None:
        payload["steps"] = outcome.status
        payload["errors"] = outcome.errors
    atomic_write_json(plan.work_dir / "study.json", payload)


def run_study(
    plan: StudyPlan,
    force: bool = False,
    jobs: int | None = None,
    hide_code: bool = False,
    progress: bool = True,
) -> Outcome:
    """Execute a validated plan; returns the outcome (it never raises on a notebook failure)."""
    from .artifacts import read_record
    from .provenance import content_key
    from .report import write_index

    started = time.time()
    outcome = Outcome(plan)
    html_dir = plan.out_dir / "html"
    html_dir.mkdir(parents=True, exist_ok=True)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    _write_state(plan, "running")
    steps = plan.steps
    parallel = [*plan.sections, *plan.modes]  # the long sections first: they set the critical path
    bar = _Progress(len(steps), progress)
    jobs = jobs or max(1, min(len(parallel), (os.cpu_count() or 1) + 1))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # training is single-threaded; keep kernels from spinning
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    stopping: list[int] = []

    def _on_signal(signum: int, frame: Any) -> None:
        stopping.append(signum)
        raise _Interrupted

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # 1. data, then 2. the modes in parallel, then 3. the analysis; finished steps are reused
        for group in ([plan.data], parallel, [plan.analysis]):
            if group[0] is not plan.data and outcome.status.get("data") not in ("done", "reused"):
                for t in group:
                    outcome.status[t.name] = "skipped"
                    outcome.errors[t.name] = "not run: the data step failed"
                    bar.finished(t.name, "skipped", 0.0)
                continue
            if not group:
                continue
            if group[0] is plan.analysis:  # the analysis depends on which steps finished, too
                finished = sorted(t.name for t in parallel if outcome.status.get(t.name) in ("done", "reused"))
                plan.analysis.key = content_key(plan.analysis.key, finished)
            todo = []
            for task in group:
                if not force and _finished(task) and (task.name != "analysis" or (html_dir / "index.html").is_file()):
                    outcome.status[task.name] = "reused"
                    bar.finished(task.name, "reused", 0.0)
                else:
                    todo.append(task)
            _run_tasks(todo, html_dir, hide_code, jobs if group is parallel else 1, outcome, bar)
            if group[0] is plan.analysis and outcome.status.get("analysis") == "done":
                atomic_write_json(plan.analysis.record, {"key": plan.analysis.key})
        results = read_record(plan.out_dir / "results.json") or {}
        pages = [(t.output.stem + ".html", t.name, outcome.status.get(t.name, "?")) for t in steps]
        missing = results.get("missing_modes", [])
        notes = f"Missing modes: {', '.join(missing)}." if missing else ""
        planned = {t.notebook for t in plan.sections}
        wanted = [f for f in FIGURES if not (f.startswith("seeds") or f.startswith("gap")) or "seeds" in planned]
        wanted = [f for f in wanted if not f.startswith("sweep") or "sweep" in planned]
        figures = [f"../figures/{name}" for name in wanted if (plan.out_dir / "figures" / name).is_file()]
        write_index(
            html_dir,
            "Distillation objectives for Q-network policies",
            results.get("results", []),
            pages,
            figures,
            notes,
        )
    except _Interrupted:
        bar.close()
        _write_state(plan, "interrupted", outcome)
        raise KeyboardInterrupt from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    bar.close()
    outcome.seconds = time.time() - started
    _write_state(plan, "failed" if outcome.failed else "complete", outcome)
    return outcome
