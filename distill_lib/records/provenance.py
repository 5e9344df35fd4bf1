"""How a result was made: code version, library versions, machine.

Everything here is deterministic for a given checkout and environment, except the
``timing`` block, which is the one explicitly time-stamped part of a results file.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["code_hash", "content_key", "cpu", "file_sha256", "git_commit", "provenance", "timing"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_LIBRARIES = ("torch", "numpy", "matplotlib", "papermill", "nbconvert", "pandas", "scipy", "gymnasium", "pyyaml")


@lru_cache(maxsize=1)
def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether the work tree had uncommitted changes (outside ``reports/``, where
    the studies write their own results: a study run after another is no less clean for it)."""
    root = _PACKAGE_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_hash() -> str:
    """SHA-256 over the library's sources and the notebooks: the 'code version' of a result.

    Unlike the commit it changes with uncommitted edits and ignores edits elsewhere (README),
    so it is what decides whether a finished step can be reused.
    """
    digest = hashlib.sha256()
    files = sorted(_PACKAGE_DIR.rglob("*.py")) + sorted((_PACKAGE_DIR.parent / "notebooks").glob("*.ipynb"))
    for f in files:
        digest.update(f.relative_to(_PACKAGE_DIR.parent).as_posix().encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


#: ``distill-study run --analysis-only`` sets this to the code hash the finished steps were made with: step keys
#: (``experiments.base.step_key``) then name their folders, and the analysis reads them (its notebook's kernel
#: inherits the variable); unset, step keys use this checkout's ``code_hash``
STEPS_CODE_ENV = "DISTILL_STEPS_CODE"


def steps_code() -> str:
    """The code hash in step keys: ``$DISTILL_STEPS_CODE`` when set (``--analysis-only``), else ``code_hash()``."""
    return os.environ.get(STEPS_CODE_ENV) or code_hash()


def earlier_step_commits(made: dict[str, Any]) -> list[str]:
    """The commits of a result's steps (``provenance.steps``) other than its own: where ``run --analysis-only``
    analysed steps an earlier version of the code made; empty for a plain run."""
    steps = made.get("steps") or []
    return list(dict.fromkeys(s.get("commit") or "unknown" for s in steps if s.get("commit") != made.get("commit")))


def content_key(*parts: Any) -> str:
    """A short hash of JSON-able parts (parameters, input hashes, code hash)."""
    import json

    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@lru_cache(maxsize=1)
def cpu() -> dict[str, Any]:
    """The CPU model and the vector instructions torch's CPU kernels use (they decide the last bits)."""
    model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # no torch, or a build without the query
        capability = None
    return {"model": model, "torch_capability": capability, "cores": os.cpu_count()}


def provenance() -> dict[str, Any]:
    """Commit, code hash, library versions, platform and CPU (no time stamps)."""
    return {
        **git_commit(),
        "code_hash": code_hash(),
        "distill_lib": _version("distill-study") or "unknown",  # the installed project's version (pyproject.toml)
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu(),
        "versions": {name: _version(name) for name in _LIBRARIES if _version(name) is not None},
        "torch_threads_in_training": {"seed_compatible": 2, "other": 1},  # core.training.ORIGINAL_THREADS
    }


def timing(started: float | None = None) -> dict[str, Any]:
    """The time-stamped part of provenance: when, and how long if ``started`` is given."""
    out: dict[str, Any] = {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if started is not None:
        out["wall_s"] = round(time.time() - started, 3)
    return out
