"""Content keys: what determines each step's result, hashed (no torch import needed).

A finished step's record carries its key; the runner (``study.plan_study``) computes the
same key from the parameters before running anything, and reuses the step when they match.
A key covers the step's parameters, the content of its input files, the keys of the steps
it depends on, and the code (``provenance.code_hash``: the library and the notebooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.config import RunConfig, mode_for_alpha
from ..records.provenance import code_hash, content_key, file_sha256

#: the shipped CartPole teacher (``cartpole.ASSET_DIR``), named here without importing gymnasium
CARTPOLE_TEACHER = Path(__file__).resolve().parents[1] / "assets" / "cartpole" / "teacher.pt"

__all__ = [
    "DATA_PARAMS",
    "RUN_FIELDS",
    "TRAINING_FIELDS",
    "WORLD_FIELDS",
    "base_config",
    "cell_config",
    "cell_key",
    "cell_name",
    "data_key",
    "run_key",
    "section_key",
    "seeds_key",
]

#: what makes a world: teacher, states and the student's initialisation
WORLD_FIELDS = ("seed", "input_dim", "output_dim", "teacher_hidden", "student_hidden", "n_states")
#: how a student is trained (besides its mode and alpha)
TRAINING_FIELDS = (
    "temperature",
    "temp_decay",
    "epochs",
    "batch_size",
    "lr",
    "val_fraction",
    "loss_fn",
    "max_grad_norm",
)
#: the parameters that determine the data folder
DATA_PARAMS = (*WORLD_FIELDS, "source", "states_file", "teacher_checkpoint")
SOURCES = ("synthetic", "cartpole", "file")

#: the run parameters every seeds/sweep notebook takes (besides its own)
RUN_FIELDS = (*WORLD_FIELDS, *TRAINING_FIELDS)


def _file_identity(path: str | None) -> str | None:
    return None if path is None else file_sha256(path) if Path(path).is_file() else "missing"


def data_key(params: dict[str, Any]) -> str:
    """Content key of the data step: its parameters, the input files' hashes, the code."""
    chosen = {k: params.get(k) for k in DATA_PARAMS}
    files = {k: _file_identity(chosen[k]) for k in ("states_file", "teacher_checkpoint")}
    if chosen["source"] == "cartpole":  # the shipped teacher and how its episodes are collected
        chosen.update(
            cartpole_episodes=params.get("cartpole_episodes"), cartpole_epsilon=params.get("cartpole_epsilon")
        )
        files["cartpole_teacher"] = _file_identity(str(CARTPOLE_TEACHER))
    return content_key("data", chosen, files, code_hash())


def run_key(config: RunConfig, data_key_: str) -> str:
    """Content key of a training run: its config, the data it used, the code."""
    return content_key("run", config.to_dict(), data_key_, code_hash())


def section_key(section: str, params: dict[str, Any], data_key_: str | None = None) -> str:
    """Content key of a study section (seeds, a sweep cell): its parameters, data, code."""
    return content_key(section, params, data_key_, code_hash())


def base_config(params: dict[str, Any]) -> RunConfig:
    """The validated run config every seed's students share (mode and alpha set per student)."""
    alpha = params.get("alpha", 0.7)
    return RunConfig(**{k: params[k] for k in RUN_FIELDS if k in params}, mode=mode_for_alpha(alpha), alpha=alpha)


def seeds_key(params: dict[str, Any], data_key: str | None) -> str:
    """Content key of the seeds section (the runner and the notebook compute the same)."""
    chosen = {k: params[k] for k in ("world_seeds", "training_seeds", "modes", "n_bins", "alpha")}
    return section_key(
        "seeds", {**chosen, "base": base_config(params).to_dict()}, data_key if params["training_seeds"] else None
    )


def cell_name(temperature: float, loss_fn: str = "kl") -> str:
    """A grid cell's folder name: ``T=0.25`` or ``mse``."""
    return "mse" if loss_fn == "mse" else f"T={temperature:g}"


def cell_config(params: dict[str, Any]) -> RunConfig:
    """A cell's shared run config: the run parameters at the cell's temperature and loss."""
    run = {k: v for k, v in params.items() if k not in ("seed", "alpha")}
    return base_config({**run, "temperature": params["sweep_temperature"], "loss_fn": params["sweep_loss_fn"]})


def cell_key(params: dict[str, Any]) -> str:
    """Content key of one sweep cell (the runner and the notebook compute the same)."""
    chosen = {k: params[k] for k in ("sweep_temperature", "sweep_loss_fn", "sweep_alphas", "sweep_seeds")}
    return section_key("sweep", {**chosen, "base": cell_config(params).to_dict()})
