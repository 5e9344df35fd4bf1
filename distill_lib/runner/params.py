"""Study parameters: the known names, YAML layering, and values read from files and the command line.

Parameters live in ``params/*.yaml`` and are layered the way papermill layers ``-f``
files: later files and ``-p NAME VALUE`` pairs override earlier ones, key by key. The
known names and their types are the experiments' config fields (``core.schema``) plus
the runner's own (``RunnerParams``); nothing is declared twice. Values are converted to
the declared type or rejected, with a message naming the file, the parameter and the value.

Params files are read with YAML's safe loader, with two guards: aliases are refused (a
few hundred bytes of nested aliases expand to gigabytes) and so are duplicate keys (the
second would silently win).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.schema import ParamError, Params, ParamSpec, coerce, param, short_repr

__all__ = [
    "RENAMED",
    "ParamError",
    "RunnerParams",
    "layer_params",
    "load_yaml",
    "read_sources",
    "specs_of",
]


@dataclass(frozen=True)
class RunnerParams(Params):
    """Parameters of the runner itself: where things go, and plug-in experiments."""

    work_dir: str = param(
        "build/lab/work",
        "where the steps' folders and executed notebooks go (notebooks run by hand: a scratch folder)",
        set_by="the runner uses OUTDIR/work; choose OUTDIR with -o",
    )
    out_dir: str = param(
        "build/lab",
        "where the results, figures and HTML go (notebooks run by hand: a scratch folder, never reports/)",
        set_by="choose the output folder with -o",
    )
    plugins: list[str] = param(
        [], "modules that add experiments (each defines EXPERIMENT; see docs/design.md)", unique=True, max_len=100
    )


def specs_of(experiments: Mapping[str, Any]) -> dict[str, ParamSpec]:
    """Every parameter the experiments and the runner declare (each name once, one spec)."""
    out: dict[str, ParamSpec] = {}
    classes = [RunnerParams] + [c for e in experiments.values() for c in (e.params, e.step_type)]
    for cls in classes:
        for name, spec in cls.specs().items():
            known = out.get(name)
            if known is not None and (known.type, known.rule, known.help) != (spec.type, spec.rule, spec.help):
                raise TypeError(f"parameter {name!r} is declared differently by {known.owner} and {spec.owner}")
            out.setdefault(name, spec)
    return out


class _StrictLoader(yaml.SafeLoader):
    """The safe loader without aliases and with duplicate keys refused."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.constructor.ConstructorError(None, None, "aliases (*name) are not allowed in params files", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    """A params file as a mapping of names to raw values (not yet checked against the specs)."""
    label = f"params file {str(path)!r}"
    if path.is_dir():
        raise ParamError(f"{label}: is a directory, not a YAML file")
    if not path.is_file():
        raise ParamError(f"{label}: no such file")
    if path.stat().st_size > 1_000_000:
        raise ParamError(f"{label}: larger than 1 MB; a params file is a short list of names and values")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ParamError(f"{label}: cannot be read ({err.__class__.__name__}: {err})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ParamError(f"{label}: malformed YAML{at} ({getattr(err, 'problem', None) or err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamError(f"{label}: expected a mapping of parameter names to values, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise ParamError(f"{label}: parameter names must be strings, got {short_repr(key)}")
    return data


def read_sources(
    files: list[str | os.PathLike[str]], overrides: list[tuple[str, str]] | None = None
) -> list[tuple[str, str, Any]]:
    """Raw ``(where, name, value)`` entries in layering order: files, then ``-p`` pairs (read as YAML)."""
    entries = []
    for f in files:
        path = Path(f)
        entries += [(f"params file {str(path)!r}: ", k, v) for k, v in _read_yaml(path).items()]
    for name, raw in overrides or []:
        try:
            value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        entries.append(("", name, value))
    return entries


#: parameters that were renamed when the real-task experiments stopped being named after CartPole: old -> new
RENAMED = {
    "cartpole_widths": "real_task_widths",
    "cartpole_seeds": "real_task_seeds",
    "cartpole_episodes": "buffer_episodes",
    "cartpole_epsilon": "buffer_epsilon",
    "cartpole_eval_episodes": "held_out_episodes",
    "cartpole_episodes_eval": "test_episodes",
}


def _unknown(name: str, specs: Mapping[str, ParamSpec]) -> ParamError:
    if name in RENAMED and RENAMED[name] in specs:
        return ParamError(f"parameter {name!r} was renamed: did you mean {RENAMED[name]!r}? (same meaning)")
    close = difflib.get_close_matches(name, list(specs), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ParamError(f"unknown parameter {short_repr(name)}: {hint}see 'distill-study params' for the known ones")


def layer_params(entries: list[tuple[str, str, Any]], specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Check every entry against ``specs`` and merge them in order (later wins)."""
    params: dict[str, Any] = {}
    for where, name, value in entries:
        if name not in specs:
            raise ParamError(f"{where}{_unknown(name, specs)}")
        try:
            params[name] = coerce(specs[name], value)
        except ParamError as err:
            raise ParamError(f"{where}{err}") from None
    return params


def load_yaml(path: str | os.PathLike[str], specs: Mapping[str, ParamSpec] | None = None) -> dict[str, Any]:
    """One params file, checked against ``specs`` (default: every built-in parameter)."""
    if specs is None:
        from ..experiments import EXPERIMENTS

        specs = specs_of(EXPERIMENTS)
    return layer_params(read_sources([path]), specs)
