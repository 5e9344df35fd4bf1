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
import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..core.config import MODES, RunConfig, mode_for_alpha
from ..records.atomic import atomic_write_json
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

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = {
    "data": "01_data.ipynb",
    "train": "02_train.ipynb",
    "analysis": "03_analysis.ipynb",
    "seeds": "04_seeds.ipynb",
    "sweep": "05_sweep.ipynb",
    "cartpole": "06_cartpole.ipynb",
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
DEFAULT_PARAMS_FILE = Path(__file__).resolve().parents[2] / "params" / "study.yaml"


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
    from ..experiments.keys import cell_key, cell_name, data_key, run_key, seeds_key

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
        from ..core.data import load_states, load_teacher  # torch: only needed to check user files

        states = load_states(params["states_file"], params["input_dim"])
        params["n_states"] = len(states)
        load_teacher(params["teacher_checkpoint"], params["input_dim"], params["teacher_hidden"], params["output_dim"])
    elif source == "cartpole":
        from ..core.data import cartpole_states  # torch and gymnasium: only for this source

        _check_cartpole_sizes(params)
        params["n_states"] = len(cartpole_states(params["cartpole_episodes"], params["cartpole_epsilon"]))
    elif source != "synthetic":
        raise ParamError(f"parameter source={source!r}: must be synthetic, cartpole or file")

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
    from ..records.provenance import content_key

    section_tasks = []
    if params["world_seeds"] or params["training_seeds"]:
        p = pick("seeds")
        section_tasks.append(
            Task(
                "seeds",
                "seeds",
                p,
                work / "notebooks" / "04_seeds.ipynb",
                seeds_key(p, dkey),
                work / "seeds" / "seeds.json",
            )
        )
    for temperature, loss_fn in sections:
        p = pick("sweep", {"sweep_temperature": temperature, "sweep_loss_fn": loss_fn})
        name = cell_name(temperature, loss_fn)
        section_tasks.append(
            Task(
                f"sweep {name}",
                "sweep",
                p,
                work / "notebooks" / f"05_sweep_{name}.ipynb",
                cell_key(p),
                work / "sweep" / name / "cell.json",
            )
        )

    if params["cartpole_widths"]:
        from ..experiments.cartpole import section_key as cartpole_key  # torch and gymnasium

        p = pick("cartpole")
        try:
            key = cartpole_key(p)
        except ValueError as err:
            raise ParamError(str(err)) from None
        section_tasks.append(
            Task(
                "cartpole",
                "cartpole",
                p,
                work / "notebooks" / "06_cartpole.ipynb",
                key,
                work / "cartpole" / "cartpole.json",
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


def _check_cartpole_sizes(params: dict[str, Any]) -> None:
    want = {"input_dim": 4, "output_dim": 2, "teacher_hidden": 64}
    wrong = {k: params[k] for k, v in want.items() if params[k] != v}
    if wrong:
        name, value = next(iter(wrong.items()))
        raise ParamError(
            f"parameter {name}={value!r}: source='cartpole' needs input_dim=4, output_dim=2, teacher_hidden=64 "
            "(the shipped teacher); add -f params/cartpole.yaml"
        )


def _validate_sections(params: dict[str, Any], configs: dict[str, RunConfig]) -> list[tuple[float, str]]:
    """Check the seeds and sweep parameters; returns the sweep cells as (temperature, loss_fn)."""
    from ..experiments.keys import cell_config

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
    from ..records.atomic import read_json as read_record

    record = read_record(task.record)
    return record is not None and record.get("key") == task.key


# ------------------------------------------------------------------------------------------
# Execution: one forked worker process per notebook. A worker starts its Jupyter kernel and
# imports the heavy libraries (torch, matplotlib) as soon as it is forked ("warming"), then
# waits for the go-ahead: training kernels warm up while the data notebook runs, and the
# analysis kernel while the modes train. papermill then executes the notebook on that kernel.
# ------------------------------------------------------------------------------------------

#: imported in each kernel while it waits (errors are ignored: the notebook will show them)
_WARMUP = """
try:
    import numpy, torch, matplotlib.figure, IPython.display
    import distill_lib.experiments.artifacts, distill_lib.report.plots, distill_lib.core.training, distill_lib.report.results
except Exception:
    pass
"""


def _quiet_imports() -> None:
    """Import papermill (and nbformat) once, in the parent, so forked workers share them.

    ``jsonschema`` imports ``rfc3987_syntax`` when installed, which builds a parser at import
    time (over a second); notebook validation never uses its IRI formats, so it is skipped.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import papermill  # noqa: F401


def _lower_priority(pid: int, nice: int) -> None:
    """Lower a kernel's CPU priority, best effort.

    Kernels run in sessions of their own, and where the scheduler groups processes by
    session (Linux autogroup) a nice value only counts within its group: the group's own
    nice value (``/proc/PID/autogroup``) is what makes a warming kernel yield to the
    running one.
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as fh:
        fh.write(str(nice))


def _worker(task: Task, conn: Connection, nice: int) -> None:
    """Child process: warm a kernel, wait for "go", run the notebook with papermill, report."""

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds papermill and the finally below: the kernel is shut down

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # not the parent's handler
    import logging
    import warnings

    import papermill as pm
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    # The kernel inherits these descriptors: its chatter goes to a log beside the notebook.
    task.output.parent.mkdir(parents=True, exist_ok=True)
    log = os.open(task.output.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if nice:
        os.nice(nice)  # a waiting kernel's warm-up must not slow the notebook that runs now
    import uuid

    forked = os.environ.get("DISTILL_KERNELS", "fork") == "fork"  # DISTILL_KERNELS=exec: ordinary kernels
    # IPC sockets under a name of our own: TCP ports picked by several processes at once can collide
    km = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(Path(tempfile.gettempdir()) / f"distill-{uuid.uuid4().hex[:12]}")
    )
    if forked:
        from .kernels import ForkProvisioner

        km.kernel_id = str(uuid.uuid4())
        km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    try:
        trace = os.environ.get("DISTILL_TRACE")
        try:
            if trace:
                print(f"{time.time():.2f} start kernel", file=sys.stderr, flush=True)
            run_sync(km.start_kernel)(cwd=str(NOTEBOOK_DIR))
            if nice:
                _lower_priority(km.provisioner.process.pid, nice)  # type: ignore[union-attr]
            if not forked:  # an exec'd kernel imports the heavy libraries now, while it waits
                client = km.blocking_client()  # asks the manager, not the heartbeat, whether it lives
                client.start_channels()
                client.wait_for_ready(timeout=120)
                client.execute_interactive(_WARMUP, silent=True, store_history=False, timeout=300)
                client.stop_channels()
            if trace:
                print(f"{time.time():.2f} warm", file=sys.stderr, flush=True)
        except Exception as err:  # papermill will start a kernel of its own and report properly
            print(f"warm-up failed: {err!r}", file=sys.stderr)
        conn.send(("ready", ""))
        if conn.recv() != "go":
            return
        watchdog = _KernelWatchdog(km)
        try:
            pm.execute_notebook(
                str(NOTEBOOK_DIR / NOTEBOOKS[task.notebook]),
                str(task.output),
                parameters=task.parameters,
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=str(NOTEBOOK_DIR),
                km=km if km.has_kernel else None,
                request_save_on_cell_execute=False,
            )
            conn.send(("done", ""))
        except pm.PapermillExecutionError as err:
            conn.send(("failed", f"{err.ename}: {err.evalue}".splitlines()[0]))
        except Exception as err:  # kernel died, notebook unreadable, ...
            conn.send(("failed", f"{type(err).__name__}: {err}".splitlines()[0]))
        except KeyboardInterrupt:
            if not watchdog.fired:
                raise
            conn.send(("failed", f"the kernel died (exit code {watchdog.exit_code}) and papermill did not notice"))
        finally:
            watchdog.stop()
    except KeyboardInterrupt:
        return
    finally:
        _shutdown(km)


class _KernelWatchdog:
    """Interrupts this worker if its kernel process dies and papermill is still waiting.

    nbclient notices a dead kernel in most states; not while it is blocked sending to a
    kernel that died before it ever connected. A real signal interrupts that blocking call.
    """

    GRACE_S = 5.0  # let papermill report the death itself first

    def __init__(self, km: Any) -> None:
        import threading

        self.process = getattr(km.provisioner, "process", None)
        self.fired, self.exit_code = False, None
        self._done = threading.Event()
        if self.process is not None:
            threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            code = self.process.poll()
            if code is not None:
                if not self._done.wait(self.GRACE_S):
                    self.fired, self.exit_code = True, code
                    os.kill(os.getpid(), signal.SIGINT)
                return

    def stop(self) -> None:
        self._done.set()


def _shutdown(km: Any) -> None:
    """Stop the worker's kernel; if the manager cannot (interrupted mid-call), kill it."""
    try:
        if km.has_kernel:
            from jupyter_core.utils import run_sync

            run_sync(km.shutdown_kernel)(now=True)
    except BaseException:
        process = getattr(km.provisioner, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)  # the kernel runs in a session of its own
            with contextlib.suppress(OSError):
                process.kill()


class _Interrupted(Exception):
    pass


@dataclass
class _Worker:
    task: Task
    proc: Any
    conn: Connection
    ready: bool = False
    started: float | None = None  # when it got "go"


class _Scheduler:
    """Runs data -> (sections and modes, ``jobs`` at a time) -> analysis with warm workers."""

    def __init__(
        self, plan: StudyPlan, todo: set[str], jobs: int, outcome: Outcome, bar: _Progress, on_finish: Any
    ) -> None:
        self.plan, self.todo, self.jobs, self.outcome, self.bar = plan, todo, jobs, outcome, bar
        self.on_finish = on_finish  # called with each finished task (HTML export)
        self.ctx = mp.get_context("fork")
        self.workers: dict[str, _Worker] = {}
        self.parallel = [*plan.sections, *plan.modes]  # the long sections first: the critical path

    def _spawn(self, task: Task, nice: int) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(task, child, nice), name=f"distill-{task.name}")
        proc.start()
        child.close()
        self.workers[task.name] = _Worker(task, proc, parent)

    def _go(self, w: _Worker) -> None:
        w.conn.send("go")
        w.started = time.time()
        self.bar.running(w.task.name)

    def _status(self, name: str) -> str | None:
        return self.outcome.status.get(name)

    def run(self) -> None:
        data_ok = lambda: self._status("data") in ("done", "reused")  # noqa: E731
        pending = [t for t in self.parallel if t.name in self.todo]
        if "data" in self.todo:
            self._spawn(self.plan.data, 0)
        pending_analysis = "analysis" in self.todo
        finished: list[Task] = []  # waiting for their HTML export
        try:
            while True:
                # keep up to `jobs` parallel workers alive (warming or running)
                alive = [n for n in self.workers if n != "data" and n != "analysis"]
                while pending and len(alive) < self.jobs and self._status("data") != "failed":
                    task = pending.pop(0)
                    self._spawn(task, 19)
                    alive.append(task.name)
                if pending_analysis and "analysis" not in self.workers:
                    self._spawn(self.plan.analysis, 19)
                if self._status("data") == "failed":  # nothing downstream can run
                    for task in [*pending, *(w.task for w in self.workers.values() if w.task is not self.plan.data)]:
                        self.outcome.status[task.name] = "skipped"
                        self.outcome.errors[task.name] = "not run: the data step failed"
                        self.bar.finished(task.name, "skipped", 0.0)
                    pending.clear()
                    pending_analysis = False
                    self._stop_all()
                if not self.workers:
                    for task in finished:
                        self.on_finish(task)
                    return
                # hand out go-aheads
                for name, w in self.workers.items():
                    if not w.ready or w.started is not None:
                        continue
                    if name == "data":
                        self._go(w)
                    elif name == "analysis":
                        if not pending and all(n == "analysis" for n in self.workers):
                            self.on_analysis()
                            self._go(w)
                    elif data_ok():
                        self._go(w)
                ready = mp.connection.wait([w.conn for w in self.workers.values()], timeout=0.5)
                for name in [n for n, w in self.workers.items() if w.conn in ready]:
                    w = self.workers[name]
                    try:
                        status, message = w.conn.recv()
                    except EOFError:
                        status, message = "failed", f"worker process died (exit code {w.proc.exitcode})"
                    if status == "ready":
                        w.ready = True
                        continue
                    w.proc.join(timeout=30)
                    del self.workers[name]
                    self.outcome.status[name] = status
                    if message:
                        self.outcome.errors[name] = message
                    self.bar.finished(name, status, time.time() - (w.started or time.time()), message)
                    finished.append(w.task)
                    if name == "analysis":
                        pending_analysis = False
                if finished and not any(w.ready and w.started is None for w in self.workers.values()):
                    self.on_finish(finished.pop(0))  # HTML export, when no go-ahead is waiting on us
        finally:
            self._stop_all()

    def on_analysis(self) -> None:
        """Hook: called right before the analysis gets its go-ahead (set by run_study)."""

    def _stop_all(self) -> None:
        for w in self.workers.values():
            if w.proc.is_alive():
                w.proc.terminate()  # SIGTERM -> KeyboardInterrupt in the worker -> kernel shutdown
        deadline = time.time() + 10
        for w in self.workers.values():
            w.proc.join(timeout=max(0.1, deadline - time.time()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
        self.workers.clear()


class _Progress:
    """A one-line-per-event progress display on stderr (tqdm bar over the steps)."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.enabled = enabled
        self.t0 = time.time()
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
        if os.environ.get("DISTILL_TRACE"):
            print(f"  {name} go at {time.time() - self.t0:.1f}s", file=sys.stderr)
        self.active.append(name)
        self.bar.set_postfix_str("running: " + ", ".join(self.active))

    def finished(self, name: str, status: str, seconds: float, message: str = "") -> None:
        if name in self.active:
            self.active.remove(name)
        mark = {"done": "ok", "reused": "reused", "failed": "FAILED"}.get(status, status)
        detail = f" - {message}" if message and status == "failed" else ""
        if self.enabled:
            at = time.time() - self.t0
            self.bar.write(f"  {name:<12} {mark:<7} {seconds:6.1f}s  (at {at:5.1f}s){detail}", file=sys.stderr)
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
    from ..records.atomic import read_json as read_record
    from ..records.provenance import content_key
    from ..report.results import export_html, write_index

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
        # finished steps whose content key is unchanged are reused; the rest runs
        todo = set()
        for task in steps:
            if task is plan.analysis:
                continue
            if not force and _finished(task):
                outcome.status[task.name] = "reused"
                bar.finished(task.name, "reused", 0.0)
            else:
                todo.add(task.name)
        if not todo:  # everything upstream reused: the analysis is current if its key matches
            plan.analysis.key = content_key(plan.analysis.key, sorted(t.name for t in parallel))
        analysis_stale = force or bool(todo) or not (html_dir / "index.html").is_file() or not _finished(plan.analysis)
        if analysis_stale:
            todo.add("analysis")
        else:
            outcome.status["analysis"] = "reused"
            bar.finished("analysis", "reused", 0.0)
        if todo:
            _quiet_imports()  # before forking: the workers share the imports
            if os.environ.get("DISTILL_KERNELS", "fork") == "fork":
                from .kernels import preload

                preload()  # ... and so do the kernels they fork

            def export(task: Task) -> None:
                if task.output.is_file():
                    try:
                        export_html(task.output, html_dir / (task.output.stem + ".html"), hide_code=hide_code)
                    except Exception as err:  # a rendering problem must not hide the notebook's own status
                        outcome.errors.setdefault(task.name, f"HTML rendering failed: {err}")

            def before_analysis() -> None:  # the analysis depends on which steps finished, too
                finished = sorted(t.name for t in parallel if outcome.status.get(t.name) in ("done", "reused"))
                plan.analysis.key = content_key(plan.analysis.key, finished)

            scheduler = _Scheduler(plan, todo, jobs, outcome, bar, export)
            scheduler.on_analysis = before_analysis  # type: ignore[method-assign]
            scheduler.run()
            if outcome.status.get("analysis") == "done":
                atomic_write_json(plan.analysis.record, {"key": plan.analysis.key})
        results = read_record(plan.out_dir / "results.json") or {}
        pages = [(t.output.stem + ".html", t.name, outcome.status.get(t.name, "?")) for t in steps]
        missing = results.get("missing_modes", [])
        notes = f"Missing modes: {', '.join(missing)}." if missing else ""
        planned = {t.notebook for t in plan.sections}
        wanted = [f for f in FIGURES if not (f.startswith("seeds") or f.startswith("gap")) or "seeds" in planned]
        wanted = [f for f in wanted if not f.startswith("sweep") or "sweep" in planned]
        wanted = [f for f in wanted if not f.startswith("cartpole") or "cartpole" in planned]
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
