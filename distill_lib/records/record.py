"""Records: frozen dataclasses that a step saves as JSON and the analysis reads back.

A ``Record`` subclass is an ordinary frozen dataclass with type hints; ``to_json`` turns it
into JSON-able data (nested dataclasses become objects, tuples lists) and ``from_json``
rebuilds it, checking the types on the way in, so a record read from disk is the same
object that was saved (a test round-trips every record type of the library). Supported
field types: ``bool``, ``int``, ``float``, ``str``, ``None``, ``X | None``, ``list[X]``,
``tuple[X, ...]``, ``dict[str, X]``, other dataclasses, and ``Any`` (passed through).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union

__all__ = ["Record", "RecordError", "from_json", "to_json"]

R = TypeVar("R")


class RecordError(ValueError):
    """A JSON value does not fit the record type it is read into."""


class Record:
    """Mixin for frozen dataclasses saved as JSON (see the module docstring)."""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-able data."""
        return to_json(self)

    @classmethod
    def from_json(cls: type[R], data: Any) -> R:
        """Rebuild a record from ``to_json``'s output; raises ``RecordError`` on a mismatch."""
        return from_json(cls, data)


def to_json(value: Any) -> Any:
    """Dataclasses to dicts (field order), tuples to lists, numpy scalars to Python numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Record) and type(value).to_json is not Record.to_json:
            return value.to_json()
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    raise RecordError(f"cannot store a {type(value).__name__} in a record")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_json(tp: Any, data: Any, where: str = "") -> Any:
    """Read ``data`` as type ``tp`` (see the module docstring), checking as it goes."""
    here = where or getattr(tp, "__name__", str(tp))
    if tp is Any:
        return data
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return from_json(option, data, where)
            except RecordError as err:
                errors.append(str(err))
        raise RecordError(errors[0] if len(errors) == 1 else f"{here}: {data!r} fits none of {options}")
    if dataclasses.is_dataclass(tp):
        if isinstance(data, tp):
            return data
        if not isinstance(data, dict):
            raise RecordError(f"{here}: expected an object, got {type(data).__name__}")
        custom = getattr(tp, "from_json", None)
        if custom is not None and getattr(custom, "__func__", None) is not Record.from_json.__func__:
            return custom(data)
        hints = _hints(tp)
        fields = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise RecordError(f"{here}: unknown field(s) {unknown}")
        kwargs = {name: from_json(hints[name], value, f"{here}.{name}") for name, value in data.items()}
        try:
            return tp(**kwargs)
        except TypeError as err:
            raise RecordError(f"{here}: {err}") from None
    if origin in (list, tuple):
        if not isinstance(data, (list, tuple)):
            raise RecordError(f"{here}: expected a list, got {type(data).__name__}")
        item = args[0] if args else Any
        out = [from_json(item, v, f"{here}[{i}]") for i, v in enumerate(data)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(data, dict):
            raise RecordError(f"{here}: expected an object, got {type(data).__name__}")
        value_type = args[1] if args else Any
        return {str(k): from_json(value_type, v, f"{here}[{k!r}]") for k, v in data.items()}
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise RecordError(f"{here}: expected a number, got {data!r}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise RecordError(f"{here}: expected an integer, got {data!r}")
        return data
    if tp in (bool, str):
        if not isinstance(data, tp):
            raise RecordError(f"{here}: expected {tp.__name__}, got {data!r}")
        return data
    if tp is type(None):
        if data is not None:
            raise RecordError(f"{here}: expected null, got {data!r}")
        return None
    raise RecordError(f"{here}: unsupported field type {tp!r}")


def finite(value: float) -> float | None:
    """``value``, or None where it is NaN or infinite (JSON has no such numbers)."""
    return value if math.isfinite(value) else None
