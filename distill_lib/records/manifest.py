"""Manifests: the files a result is made of, each with its SHA-256, sealed by a hash of its own.

What a resume trusts is what a manifest lists. A manifest is a JSON object whose ``sha256``
entry hashes everything else in it (its list of files included, so a list with an entry
removed is as untrusted as an edited file), and whose ``files`` map names, relative to a
root folder, to the SHA-256 of their bytes. ``changed`` names the files that are missing or
no longer hash to their entry: what a resume must rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .provenance import file_sha256

__all__ = ["changed", "hash_files", "json_sha256", "seal", "unseal"]

#: the entry that holds a manifest's own hash
SEAL = "sha256"


def json_sha256(data: Any) -> str:
    """Hex SHA-256 of JSON-able ``data`` (keys sorted: equal content, equal hash)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, allow_nan=False).encode()).hexdigest()


def seal(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with its own hash added under ``sha256`` (``data`` must not hold that key)."""
    if SEAL in data:
        raise ValueError(f"a manifest to seal may not hold {SEAL!r} itself")
    return {**data, SEAL: json_sha256(dict(data))}


def unseal(data: Any) -> dict[str, Any] | None:
    """A sealed object's content without its hash, or None when it is not one or the hash does not match."""
    if not isinstance(data, dict) or not isinstance(data.get(SEAL), str):
        return None
    content = {k: v for k, v in data.items() if k != SEAL}
    try:
        return content if json_sha256(content) == data[SEAL] else None
    except ValueError:  # NaN or infinity: not something this module sealed
        return None


def hash_files(root: str | os.PathLike[str], names: Iterable[str]) -> dict[str, str]:
    """``{name: SHA-256}`` of each file ``root/name`` (every one must exist)."""
    return {name: file_sha256(Path(root) / name) for name in sorted(set(names))}


def changed(root: str | os.PathLike[str], files: Mapping[str, str]) -> list[str]:
    """The names in ``files`` that are missing under ``root`` or whose bytes no longer hash to their entry."""
    out = []
    for name, digest in files.items():
        path = Path(root) / name
        try:
            if not path.is_file() or file_sha256(path) != digest:
                out.append(name)
        except OSError:
            out.append(name)
    return out
