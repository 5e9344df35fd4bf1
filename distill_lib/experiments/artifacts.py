"""What each step of the study leaves on disk, and how the next step reads it back.

- the data folder (``work_dir/data``): ``teacher.pt``, ``states.npy``, ``student_init.pt``
  and ``data.json`` (parameters, file hashes, provenance, content key);
- a run folder (``work_dir/runs/<name>``): ``best.pt``, ``final.pt`` (each holding the
  state dict and the run's full config) and ``run.json`` (config, per-epoch history, best
  epoch, final metrics, provenance, content key).

The JSON record is written last and atomically, so its presence means the step finished;
its content key (parameters + input hashes + code hash) says whether it can be reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.config import RunConfig
from ..core.data import (
    cartpole_states,
    load_into,
    load_state_dict,
    load_states,
    load_teacher,
    save_checkpoint,
    save_states,
    synthetic_states,
)
from ..core.networks import QNetwork, build_student, build_teacher, freeze
from ..core.training import TrainResult
from ..records.atomic import atomic_torch_save, atomic_write_json, read_json
from ..records.provenance import file_sha256, provenance, timing
from .keys import DATA_PARAMS, SOURCES, data_key, run_key

__all__ = [
    "DATA_PARAMS",
    "World",
    "data_key",
    "load_data",
    "load_run",
    "prepare_data",
    "read_record",
    "run_key",
    "save_run",
]


#: the parameters that determine the data folder
@dataclass
class World:
    """Teacher, state buffer and the student's initial weights: what every mode shares."""

    teacher: QNetwork
    states: np.ndarray  # (N, input_dim) float32
    student_init: dict[str, torch.Tensor]
    record: dict[str, Any]

    def new_student(self) -> QNetwork:
        """A fresh student holding the shared initial weights."""
        p = self.record["params"]
        student = build_student(
            p["seed"], p["input_dim"], p["teacher_hidden"], p["output_dim"], p.get("student_hidden")
        )
        student.load_state_dict(self.student_init)
        return student


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A step's JSON record, or None when it is absent or unreadable (= not finished)."""
    return read_json(path)


def prepare_data(params: dict[str, Any], data_dir: str | os.PathLike[str]) -> World:
    """Build (or load) teacher and states, initialise the student, save all to ``data_dir``.

    ``params`` holds ``DATA_PARAMS``; they are validated through ``RunConfig`` first, so a
    bad value fails before anything is written.
    """
    p = {k: params.get(k) for k in DATA_PARAMS}
    source = p["source"] or "synthetic"
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: must be one of {', '.join(SOURCES)}")
    sizes = {k: p[k] for k in ("seed", "input_dim", "output_dim", "teacher_hidden", "student_hidden", "n_states")}
    RunConfig(**sizes, mode="blended", alpha=0.7)  # validates the sizes
    if source == "synthetic":
        teacher = build_teacher(p["seed"], p["input_dim"], p["teacher_hidden"], p["output_dim"])
        states = synthetic_states(p["seed"], p["n_states"], p["input_dim"])
    elif source == "cartpole":
        from ..rl.cartpole import load_cartpole_teacher

        if (p["input_dim"], p["output_dim"], p["teacher_hidden"]) != (4, 2, 64):
            raise ValueError(
                f"source='cartpole': the shipped teacher needs input_dim=4, output_dim=2, teacher_hidden=64 "
                f"(got {p['input_dim']}, {p['output_dim']}, {p['teacher_hidden']}); use params/cartpole.yaml"
            )
        teacher = load_cartpole_teacher()
        states = cartpole_states(int(params.get("cartpole_episodes", 20)), float(params.get("cartpole_epsilon", 0.1)))
    else:
        if not p["states_file"] or not p["teacher_checkpoint"]:
            raise ValueError("source='file' needs both states_file and teacher_checkpoint")
        states = load_states(p["states_file"], p["input_dim"])
        if len(states) < 2:
            raise ValueError(f"states_file={p['states_file']!r}: {len(states)} state(s); at least 2 are needed")
        teacher = load_teacher(p["teacher_checkpoint"], p["input_dim"], p["teacher_hidden"], p["output_dim"])
    student = build_student(p["seed"], p["input_dim"], p["teacher_hidden"], p["output_dim"], p["student_hidden"])

    out = Path(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "teacher.pt", teacher.state_dict())
    save_states(out / "states.npy", states)
    save_checkpoint(out / "student_init.pt", student.state_dict())
    record = {
        "params": p,
        "n_states": len(states),
        "sha256": {name: file_sha256(out / name) for name in ("teacher.pt", "states.npy", "student_init.pt")},
        "key": data_key(params),
        "provenance": provenance(),
    }
    atomic_write_json(out / "data.json", record)  # last: its presence marks the step done
    return World(teacher=teacher, states=states, student_init=student.state_dict(), record=record)


def load_data(data_dir: str | os.PathLike[str], expect: RunConfig | None = None) -> World:
    """Read a data folder written by ``prepare_data`` (checking the files' hashes).

    With ``expect``, the folder must have been made with that config's seed and sizes.
    """
    d = Path(data_dir)
    record = read_record(d / "data.json")
    if record is None:
        raise ValueError(f"data folder {str(d)!r} has no data.json: run the data notebook (01_data) first")
    if expect is not None:
        made = dict(record["params"], n_states=record["n_states"])
        for name in ("seed", "input_dim", "output_dim", "teacher_hidden", "student_hidden", "n_states"):
            if made.get(name) != getattr(expect, name):
                raise ValueError(
                    f"{name}={getattr(expect, name)!r}, but the data in {str(d)!r} was made with "
                    f"{name}={made.get(name)!r}: re-run the data notebook with the same parameters"
                )
    for name, digest in record["sha256"].items():
        if not (d / name).is_file() or file_sha256(d / name) != digest:
            raise ValueError(f"data folder {str(d)!r}: {name} is missing or changed since data.json was written")
    p = record["params"]
    teacher = load_teacher(d / "teacher.pt", p["input_dim"], p["teacher_hidden"], p["output_dim"])
    states = np.load(d / "states.npy", allow_pickle=False)
    student_init = load_state_dict(d / "student_init.pt", label="student_init")
    width = p.get("student_hidden") or max(16, p["teacher_hidden"] // 2)
    load_into(QNetwork(p["input_dim"], width, p["output_dim"], 0.05), student_init, f"{d / 'student_init.pt'}")
    return World(teacher=freeze(teacher), states=states, student_init=student_init, record=record)  # type: ignore[arg-type]


def save_run(
    run_dir: str | os.PathLike[str], result: TrainResult, world: World, started: float | None = None
) -> dict[str, Any]:
    """Save checkpoints (with the config inside) and ``run.json`` (written last)."""
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config.to_dict()
    atomic_torch_save(out / "best.pt", {"state_dict": result.best_state, "config": cfg, "epoch": result.best_epoch})
    atomic_torch_save(
        out / "final.pt", {"state_dict": result.final_state, "config": cfg, "epoch": len(result.history) - 1}
    )
    record = {
        "name": result.config.mode,
        "config": cfg,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "final": result.final,
        "n_train": len(result.train_idx),
        "n_val": len(result.val_idx),
        "data_key": world.record["key"],
        "key": run_key(result.config, world.record["key"]),
        "provenance": provenance(),
        "timing": timing(started),
    }
    atomic_write_json(out / "run.json", record)
    return record


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A finished run's record, or None."""
    return read_record(Path(run_dir) / "run.json")


def load_student(run_dir: str | os.PathLike[str], which: str = "final") -> tuple[QNetwork, dict[str, Any]]:
    """A trained student from a run folder (``which``: final or best), in eval mode."""
    ckpt = torch.load(Path(run_dir) / f"{which}.pt", map_location="cpu", weights_only=True)
    cfg = RunConfig(**ckpt["config"])
    student = QNetwork(cfg.input_dim, cfg.student_width, cfg.output_dim, 0.05)
    student.load_state_dict(ckpt["state_dict"])
    return student.eval(), ckpt["config"]


def save_section(
    path: str | os.PathLike[str], record: dict[str, Any], key: str, started: float | None = None
) -> dict[str, Any]:
    """Write a section's JSON record (atomically) with its key and provenance."""
    payload = {**record, "key": key, "provenance": provenance(), "timing": timing(started)}
    atomic_write_json(path, payload)
    return payload
