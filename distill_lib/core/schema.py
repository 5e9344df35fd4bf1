"""Parameters declared once, on the config dataclasses: type, default, allowed range, meaning.

A config is a frozen dataclass deriving from ``Params`` whose fields are made with
``param(default, help, ...)``. From those declarations come, with nothing retyped:

- validation at construction (``Params.__post_init__``): the type from the annotation, the
  range from the field's ``Rule``, then the class's own cross-field ``check()``; a bad value
  raises ``ValueError`` naming the field, the value and what is allowed, in one line;
- ``from_params(mapping)``: a config from a notebook's ``globals()`` or a study's parameters
  (keys that are not fields are ignored);
- ``coerce``: a value read from YAML or the command line converted to the field's type
  (YAML 1.1 reads ``1e-3`` as a string; ``epochs: ten`` is an error, not a default);
- ``specs()``: name -> ``ParamSpec`` (type, default, rule, help), for ``distill-study params``
  and for the runner's list of known names.

Supported annotations: ``int``, ``float``, ``str``, ``bool``, ``X | None`` and ``list[X]``.
This module imports nothing heavy (no torch), so the runner validates a study at once.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, Union

__all__ = ["ParamError", "ParamSpec", "Params", "Rule", "coerce", "param", "short_repr"]

P = TypeVar("P", bound="Params")


class ParamError(ValueError):
    """A bad parameter, file or value; the message is one line meant for the user."""


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error message never echoes a huge value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(x: float | None) -> str:
    """``3``, ``0.5``, ``1e-06``, ``4294937295``: integers in full, others as ``%g``."""
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


@dataclass(frozen=True)
class Rule:
    """What values a field allows besides its type: a numeric range, choices, list shape."""

    low: float | None = None  # numbers (each element of a list): >= low, or > low if low_open
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | Callable[[], Iterable[Any]] | None = None  # a callable is read late
    unique: bool = False  # lists: no value twice
    min_len: int = 0  # lists: at least this many entries (0 allows [])
    max_len: int | None = None  # lists: at most this many entries (what a study can run; the planner stays quick)
    path: bool = False  # a file the step reads (hashed into its content key)
    set_by: str = ""  # set by the runner for each step, not by the user: what to use instead
    said: str = ""  # callable choices: them in words, true on any machine (not just the values read here)

    def allowed(self) -> tuple[Any, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def describe(self) -> str:
        """The rule in words, e.g. ``in (0, 1]`` or ``>= 1`` (empty when there is none); choices read
        from the machine are described by ``said`` (``one of cpu, or cuda where torch sees a GPU``)."""
        if self.said:
            return "one of " + self.said
        if self.allowed() is not None:
            return "one of " + ", ".join(map(str, self.allowed()))
        lo, hi = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{lo}, {hi}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {lo}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {hi}"
        return ""

    def admits(self, value: Any) -> bool:
        if self.allowed() is not None:
            return value in self.allowed()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                return False
            if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
                return False
        return True


@dataclass(frozen=True)
class ParamSpec:
    """A declared parameter: its name, type, default, rule and one-line meaning."""

    name: str
    type: Any
    default: Any
    rule: Rule
    help: str
    owner: str  # the config class that declares it

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def param(default: Any, help: str, **rule: Any) -> Any:
    """A config field: its default, its help text and its ``Rule`` (``low=1``, ``choices=...``)."""
    metadata = {"help": help, "rule": Rule(**rule)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if "rule" in f.metadata]


class Params:
    """Base of every config dataclass (see the module docstring)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in _fields(type(self)):
            value = _check(f.name, hints[f.name], f.metadata["rule"], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field rules of a config (raise ``ValueError`` naming the field); none by default.

        ``check`` reads no file: a config is built wherever a study is planned, and planning is pure.
        """

    def check_files(self) -> None:
        """Checks that read the files the parameters name (a teacher checkpoint's shapes and weights, a
        states file); run once before a study starts (``runner.inputs``), never by the planner. None by default."""

    def fail(self, name: str, rule: str) -> ParamError:
        """The error for field ``name``: ``name=value: rule``."""
        return ParamError(f"{name}={short_repr(getattr(self, name))}: {rule}")

    @classmethod
    def from_params(cls: type[P], params: Mapping[str, Any]) -> P:
        """A config from a parameter mapping (e.g. a notebook's ``globals()``); other keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: params[k] for k in names if k in params})

    def to_dict(self) -> dict[str, Any]:
        """The fields and their values (lists copied)."""
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.init}

    @classmethod
    def specs(cls) -> dict[str, ParamSpec]:
        """Name -> spec of every declared field, in declaration order."""
        hints = _hints(cls)
        out = {}
        for f in _fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            owner = next(c.__name__ for c in reversed(cls.__mro__) if f.name in getattr(c, "__annotations__", {}))
            out[f.name] = ParamSpec(f.name, hints[f.name], default, f.metadata["rule"], f.metadata["help"], owner)
        return out


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " or null"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    return {int: "integer", float: "number", str: "string", bool: "true/false"}.get(tp, str(tp))


def _optional(tp: Any) -> tuple[Any, bool]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return tp, False


def _scalar(name: str, tp: Any, value: Any, shown: Any) -> Any:
    """``value`` as ``tp`` (strict: an int for an int field, a finite number for a float field)."""
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{name}={short_repr(shown)}: must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParamError(f"{name}={short_repr(shown)}: must be a finite number")
        return float(value) + 0.0  # -0.0 becomes 0.0: one zero, in keys and messages
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamError(f"{name}={short_repr(shown)}: must be true or false")
        return value
    if tp is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ParamError(f"{name}={short_repr(shown)}: must be a string")
        return value
    raise TypeError(f"{name}: unsupported parameter type {tp!r}")  # a programming error


def _check(name: str, tp: Any, rule: Rule, value: Any) -> Any:
    """Type and rule check of one field; returns the normalised value."""
    inner, optional = _optional(tp)
    if value is None:
        if optional:
            return None
        raise ParamError(f"{name}=None: null is not allowed (expected {_type_name(tp)})")
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{name}={short_repr(value)}: must be a list of {_type_name(item)}s, e.g. [0, 1, 2]")
        if rule.max_len is not None and len(value) > rule.max_len:
            raise ParamError(f"{name}={short_repr(value)}: {len(value)} entries; at most {rule.max_len} are allowed")
        out = [_scalar(name, item, v, value) for v in value]
        for v in out:
            if not rule.admits(v):
                bounded = rule.low is not None and rule.high is not None and rule.allowed() is None
                why = (
                    f"is outside {rule.describe()[3:]}"
                    if bounded
                    else f"is not allowed; each entry must be {rule.describe()}"
                )
                raise ParamError(f"{name}={short_repr(value)}: {v!r} {why}")
        if rule.unique and len(set(out)) != len(out):
            twice = sorted({v for v in out if out.count(v) > 1}, key=str)
            raise ParamError(
                f"{name}={short_repr(value)}: {', '.join(map(str, twice))} listed twice; entries must be unique"
            )
        if len(out) < rule.min_len:
            raise ParamError(f"{name}={short_repr(value)}: needs at least {rule.min_len} entries")
        return out
    out = _scalar(name, inner, value, value)
    if not rule.admits(out):
        raise ParamError(f"{name}={short_repr(out)}: must be {rule.describe()}")
    return out


# ------------------------------------------------------------------------------------------
# Values from YAML and the command line
# ------------------------------------------------------------------------------------------

_NULLS = ("null", "none", "~")


def _parse_scalar(spec: ParamSpec, tp: Any, value: Any) -> Any:
    def fail(expected: str) -> ParamError:
        return ParamError(f"parameter {spec.name}={short_repr(value)}: expected {expected}")

    if tp is int:
        if isinstance(value, bool):
            raise fail("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise fail("an integer")
    if tp is float:
        if isinstance(value, bool):
            raise fail("a number")
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())  # YAML 1.1 reads 1e-3 as a string
            except ValueError:
                raise fail("a number") from None
        if isinstance(number, (int, float)) and math.isfinite(number):
            return float(number)
        raise fail("a finite number")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        raise fail("true or false")
    if tp is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
        raise fail("a string")
    raise TypeError(f"{spec.name}: unsupported parameter type {tp!r}")


def coerce(spec: ParamSpec, value: Any) -> Any:
    """A YAML or command-line value converted to ``spec``'s type, or ``ParamError``.

    Only the type is settled here; ranges are checked when the config is built.
    """
    inner, optional = _optional(spec.type)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in _NULLS):
        if optional:
            return None
        raise ParamError(f"parameter {spec.name}={short_repr(value)}: expected {spec.type_name}; null is not allowed")
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [v.strip() for v in str(value).split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            try:
                return [_parse_scalar(spec, item, v) for v in value]
            except ParamError:
                pass
        kind = {int: "integers", float: "numbers", str: "names"}.get(item, "values")
        raise ParamError(f"parameter {spec.name}={short_repr(value)}: expected a list of {kind}, e.g. [0, 1, 2]")
    return _parse_scalar(spec, inner, value)
