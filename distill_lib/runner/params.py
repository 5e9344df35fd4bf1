"""Study parameters: the declared names, their types, and YAML layering.

Parameters live in ``params/*.yaml`` and are layered the way papermill layers ``-f``
files: later files and ``-p NAME VALUE`` pairs override earlier ones, key by key.
Every name must be declared in ``SPECS`` (the union of the notebooks' ``parameters``
cells; a test keeps the two in step). Values are coerced to the declared type or
rejected, so a YAML 1.1 string such as ``1e-3`` becomes the number it means and
``epochs: ten`` is an error, not a silent default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PROJECT_ROOT", "SPECS", "ParamError", "ParamSpec", "coerce", "layer_params", "load_yaml", "resolve_path"]

#: the repository root (holds params/ and notebooks/); relative paths in parameters are resolved against it
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ParamError(ValueError):
    """A bad parameter, file or value; the message is one line meant for the user."""


@dataclass(frozen=True)
class ParamSpec:
    """A declared parameter: its type and a one-line description."""

    kind: str  # int | float | str | bool | path | str_list | int_list | float_list (lists may be empty)
    help: str
    optional: bool = False


SPECS: dict[str, ParamSpec] = {
    # the world: teacher, states, student initialisation
    "seed": ParamSpec("int", "base seed: teacher, states (+10000), student init (+20000), training (+30000)"),
    "input_dim": ParamSpec("int", "state dimension"),
    "output_dim": ParamSpec("int", "number of actions"),
    "teacher_hidden": ParamSpec("int", "teacher hidden width"),
    "student_hidden": ParamSpec("int", "student hidden width (null: max(16, teacher_hidden // 2))", optional=True),
    "n_states": ParamSpec("int", "states in the buffer (train + validation)"),
    "source": ParamSpec("str", "where states and teacher come from: synthetic, cartpole (the shipped teacher) or file"),
    "states_file": ParamSpec("path", "a .npy state buffer (source: file)", optional=True),
    "teacher_checkpoint": ParamSpec("path", "a teacher state-dict checkpoint (source: file)", optional=True),
    # one training run
    "mode": ParamSpec("str", "objective: hard_only, blended or soft_only"),
    "alpha": ParamSpec(
        "float", "weight of the soft term; in a study, the blended mode's (hard_only uses 0, soft_only 1)"
    ),
    "temperature": ParamSpec("float", "softmax temperature of the soft term"),
    "temp_decay": ParamSpec("float", "temperature multiplier per epoch"),
    "epochs": ParamSpec("int", "training epochs"),
    "batch_size": ParamSpec("int", "mini-batch size"),
    "lr": ParamSpec("float", "Adam learning rate"),
    "val_fraction": ParamSpec("float", "fraction of states held out for validation"),
    "loss_fn": ParamSpec("str", "soft-term loss: kl or mse"),
    "max_grad_norm": ParamSpec("float", "gradient-norm clip (null: none)", optional=True),
    # beyond one seed (an empty list turns a section off)
    "world_seeds": ParamSpec(
        "int_list", "world seeds of the multi-seed section: teacher, states, init and training all change"
    ),
    "training_seeds": ParamSpec(
        "int_list", "training seeds: the study's teacher and states, other student init and training"
    ),
    "n_bins": ParamSpec("int", "action-gap quantile bins for the where-do-students-disagree analysis"),
    # the alpha x temperature sweep
    "sweep_temperatures": ParamSpec("float_list", "temperatures of the sweep grid (empty: no sweep)"),
    "sweep_alphas": ParamSpec("float_list", "alphas of the sweep grid"),
    "sweep_seeds": ParamSpec("int_list", "world seeds of every sweep cell"),
    "sweep_mse": ParamSpec("bool", "add the MSE-on-Q-values comparison row to the sweep"),
    "sweep_temperature": ParamSpec("float", "one sweep cell's temperature (set by the runner)"),
    "sweep_loss_fn": ParamSpec("str", "one sweep cell's loss, kl or mse (set by the runner)"),
    # a real teacher: CartPole (an empty width list turns the section off)
    "cartpole_widths": ParamSpec(
        "int_list", "student hidden widths distilled from the CartPole teacher (empty: no section)"
    ),
    "cartpole_seeds": ParamSpec("int_list", "student seeds of the CartPole section"),
    "cartpole_episodes": ParamSpec("int", "teacher episodes collected for the CartPole state buffer"),
    "cartpole_eval_episodes": ParamSpec("int", "further teacher episodes for the held-out CartPole states"),
    "cartpole_epsilon": ParamSpec(
        "float", "exploration rate of the CartPole buffers (random actions, off-path states)"
    ),
    "cartpole_episodes_eval": ParamSpec("int", "closed-loop test episodes per network"),
    # the study
    "modes": ParamSpec("str_list", "the objectives to compare"),
    "work_dir": ParamSpec("path", "where data, runs and executed notebooks go"),
    "out_dir": ParamSpec("path", "where the results table, figures and HTML go"),
}


def _fail(name: str, value: Any, expected: str) -> ParamError:
    return ParamError(f"parameter {name}={value!r}: expected {expected}")


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise _fail(name, value, "a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            raise _fail(name, value, "a number") from None
        if math.isfinite(number):
            return number
    raise _fail(name, value, "a finite number")


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _fail(name, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _fail(name, value, "an integer")


def coerce(name: str, value: Any) -> Any:
    """Return ``value`` converted to ``name``'s declared type, or raise ``ParamError``."""
    if name not in SPECS:
        import difflib

        close = difflib.get_close_matches(name, list(SPECS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ParamError(f"unknown parameter {name!r}: {hint}the notebooks declare {', '.join(sorted(SPECS))}")
    spec = SPECS[name]
    if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "~") and spec.optional):
        if spec.optional:
            return None
        raise _fail(name, value, f"a value ({spec.kind}); null is not allowed")
    if spec.kind == "int":
        return _as_int(name, value)
    if spec.kind == "float":
        return _as_float(name, value)
    if spec.kind in ("str", "path"):
        if isinstance(value, (str, os.PathLike)):
            return str(value)
        raise _fail(name, value, "a string")
    if spec.kind == "str_list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise _fail(name, value, "a non-empty list of names")
    if spec.kind in ("int_list", "float_list"):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [v for v in str(value).split(",") if v.strip()]
        if isinstance(value, list):
            item = _as_int if spec.kind == "int_list" else _as_float
            try:
                return [item(name, v) for v in value]
            except ParamError:
                pass
        kind = "integers" if spec.kind == "int_list" else "numbers"
        raise _fail(name, value, f"a list of {kind}, e.g. [0, 1, 2]")
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        raise _fail(name, value, "true or false")
    raise AssertionError(f"unhandled kind {spec.kind}")  # pragma: no cover


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a params file with the safe loader; it must be a mapping of declared names."""
    p = Path(path)
    if not p.is_file():
        raise ParamError(f"params file {str(p)!r}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ParamError(f"params file {str(p)!r}: cannot be read ({err.__class__.__name__}: {err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ParamError(
            f"params file {str(p)!r}: malformed YAML{at} ({getattr(err, 'problem', None) or err})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamError(
            f"params file {str(p)!r}: expected a mapping of parameter names to values, got {type(data).__name__}"
        )
    out = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ParamError(f"params file {str(p)!r}: parameter names must be strings, got {key!r}")
        try:
            out[key] = coerce(key, value)
        except ParamError as err:
            raise ParamError(f"params file {str(p)!r}: {err}") from None
    return out


def layer_params(files: list[str | os.PathLike[str]], overrides: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Merge params files in order, then ``-p NAME VALUE`` pairs (values read as YAML scalars)."""
    params: dict[str, Any] = {}
    for f in files:
        params.update(load_yaml(f))
    for name, raw in overrides or []:
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        params[name] = coerce(name, value)
    return params


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """Absolute path; relative ones are taken relative to the project root, not the cwd.

    (JupyterLab runs a kernel in the notebook's folder, papermill in the caller's; resolving
    against the root makes the default parameters mean the same thing in both.)
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p
