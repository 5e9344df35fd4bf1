"""Today's code beside the new: the library at a base commit, measured in a child process of the same run.

A benchmark that reports a speed-up runs the same measurement on ``distill_lib`` as it was
at ``BASE_COMMIT`` (extracted once with ``git archive`` into ``--base``) in a subprocess whose
``sys.path`` starts there, so both figures come from one run on one machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the commit whose code is "today's" (before the bulk environments)
BASE_COMMIT = "d9169b1"
DEFAULT_BASE = Path("/tmp") / f"base_{BASE_COMMIT}"


def ensure_base(base: Path, commit: str = BASE_COMMIT) -> Path:
    """``base/distill_lib`` as at ``commit`` (extracted from this checkout's git the first time)."""
    if not (base / "distill_lib").is_dir():
        base.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "distill_lib"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    return base


def child_path() -> Path:
    """Where ``distill_lib`` is imported from: ``--child BASE`` on the command line selects the base's copy."""
    if "--child" in sys.argv:
        return Path(sys.argv[sys.argv.index("--child") + 1])
    return ROOT


def run_child(script: Path, base: Path, args: list[str]) -> dict:
    """Run ``script --child BASE ARGS`` and return the JSON object it prints on its last line."""
    proc = subprocess.run(
        [sys.executable, str(script), "--child", str(base), *args], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the base run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
