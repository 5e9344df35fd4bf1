"""The study's progress on the terminal: a bar over the steps, a line per finished step."""

from __future__ import annotations

import os
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A one-line-per-event progress display on stderr (a tqdm bar over the steps on a terminal)."""

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
        detail = f" - {message}" if message and status in ("failed", "skipped") else ""
        if self.enabled:
            at = time.time() - self.t0
            self.bar.write(f"  {name:<12} {mark:<7} {seconds:6.1f}s  (at {at:5.1f}s){detail}", file=sys.stderr)
        self.bar.set_postfix_str("running: " + ", ".join(self.active) if self.active else "")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
