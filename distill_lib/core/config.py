"""The run configuration: one frozen, validated object per training run.

Every field carries a one-line docstring (the ``#:`` comment above it); ``describe()``
turns them into help text. Validation happens at construction, so a notebook that builds
its ``RunConfig`` right after the ``parameters`` cell fails at once on a bad value, with a
message naming the field, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LOSS_FNS",
    "MODES",
    "STATES_SEED_OFFSET",
    "STUDENT_DROPOUT",
    "STUDENT_SEED_OFFSET",
    "TEACHER_DROPOUT",
    "TRAINING_SEED_OFFSET",
    "RunConfig",
    "describe",
    "mode_for_alpha",
    "student_hidden_dim",
]

#: The seed protocol of the original comparison: one base seed, and fixed offsets for each
#: random draw derived from it (teacher weights ``seed``, states, student initialisation,
#: training randomness), so that the parts vary independently when the seed changes.
STATES_SEED_OFFSET = 10_000
STUDENT_SEED_OFFSET = 20_000
TRAINING_SEED_OFFSET = 30_000

#: Dropout of the teacher architecture and of the (narrower) student, as in the original.
TEACHER_DROPOUT = 0.1
STUDENT_DROPOUT = 0.05

#: The three objectives of the study and their alpha (the weight of the soft term).
MODES: dict[str, float] = {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}

#: Soft-term losses: temperature-scaled KL on softmax outputs, or MSE on raw Q-values.
LOSS_FNS: tuple[str, ...] = ("kl", "mse")


def student_hidden_dim(teacher_hidden: int, student_hidden: int | None = None) -> int:
    """The student's width: ``student_hidden`` if given, else half the teacher's, at least 16 (the original's rule)."""
    return student_hidden if student_hidden is not None else max(16, teacher_hidden // 2)


def mode_for_alpha(alpha: float) -> str:
    """The mode name an alpha belongs to: 0 is hard_only, 1 is soft_only, else blended."""
    if alpha == 0.0:
        return "hard_only"
    if alpha == 1.0:
        return "soft_only"
    return "blended"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one student's training run (defaults: the original study)."""

    #: base seed; teacher, states, student init and training derive from it (+0/+10000/+20000/+30000)
    seed: int = 42
    #: state dimension (teacher and student input width)
    input_dim: int = 8
    #: number of actions (Q-network output width)
    output_dim: int = 4
    #: teacher hidden width; the student uses max(16, teacher_hidden // 2) unless student_hidden is set
    teacher_hidden: int = 64
    #: student hidden width; None means max(16, teacher_hidden // 2)
    student_hidden: int | None = None
    #: number of states in the buffer (train + validation)
    n_states: int = 5000
    #: objective name: hard_only (alpha 0), blended (0 < alpha < 1) or soft_only (alpha 1)
    mode: str = "blended"
    #: weight of the soft term: alpha * soft * T^2 + (1 - alpha) * hard CE
    alpha: float = 0.7
    #: softmax temperature of the soft term (> 0)
    temperature: float = 3.0
    #: temperature multiplier applied after each epoch, in (0, 1]
    temp_decay: float = 1.0
    #: training epochs (>= 1)
    epochs: int = 25
    #: mini-batch size (>= 1)
    batch_size: int = 64
    #: Adam learning rate (> 0)
    lr: float = 1e-3
    #: fraction of states held out for validation, in [0, 1)
    val_fraction: float = 0.1
    #: soft-term loss: kl (temperature-scaled KL) or mse (MSE on raw Q-values, no hard term)
    loss_fn: str = "kl"
    #: gradient-norm clip (> 0), or None for no clipping
    max_grad_norm: float | None = 1.0

    def __post_init__(self) -> None:
        for name in ("seed", "input_dim", "output_dim", "teacher_hidden", "n_states", "epochs", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"{name}={value!r}: must be an integer")
        for name in ("alpha", "temperature", "temp_decay", "lr", "val_fraction"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"{name}={value!r}: must be a finite number")
            object.__setattr__(self, name, float(value))
        self._check(self.input_dim >= 1, "input_dim", "must be >= 1")
        self._check(self.output_dim >= 2, "output_dim", "must be >= 2 (at least two actions)")
        self._check(self.teacher_hidden >= 1, "teacher_hidden", "must be >= 1")
        if self.student_hidden is not None:
            self._check(
                _is_int(self.student_hidden) and self.student_hidden >= 1,
                "student_hidden",
                "must be an integer >= 1 or None",
            )
        self._check(self.n_states >= 2, "n_states", "must be >= 2 (one training and one validation state)")
        self._check(0.0 <= self.alpha <= 1.0, "alpha", "must be in [0, 1]")
        self._check(self.temperature > 0.0, "temperature", "must be > 0")
        self._check(0.0 < self.temp_decay <= 1.0, "temp_decay", "must be in (0, 1]")
        self._check(self.epochs >= 1, "epochs", "must be >= 1")
        self._check(self.batch_size >= 1, "batch_size", "must be >= 1")
        self._check(self.lr > 0.0, "lr", "must be > 0")
        self._check(0.0 <= self.val_fraction < 1.0, "val_fraction", "must be in [0, 1)")
        if self.max_grad_norm is not None:
            ok = _is_number(self.max_grad_norm) and math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0
            self._check(ok, "max_grad_norm", "must be > 0, or None for no clipping")
            object.__setattr__(self, "max_grad_norm", float(self.max_grad_norm))
        self._check(self.loss_fn in LOSS_FNS, "loss_fn", f"must be one of {', '.join(LOSS_FNS)}")
        self._check(self.mode in MODES, "mode", f"must be one of {', '.join(MODES)}")
        expected = mode_for_alpha(self.alpha)
        self._check(
            self.mode == expected,
            "mode",
            f"does not match alpha={self.alpha:g}; hard_only needs alpha 0, soft_only alpha 1, blended 0 < alpha < 1",
        )
        n_train = self.n_states - self.n_val
        if n_train < 1:
            raise ValueError(
                f"val_fraction={self.val_fraction!r}: leaves no training states "
                f"(n_states={self.n_states}, n_val={self.n_val}); use a smaller val_fraction"
            )

    def _check(self, ok: bool, name: str, rule: str) -> None:
        if not ok:
            raise ValueError(f"{name}={getattr(self, name)!r}: {rule}")

    @property
    def n_val(self) -> int:
        """Validation states: ``max(1, int(n_states * val_fraction))`` (protocol step 4)."""
        return max(1, int(self.n_states * self.val_fraction))

    @property
    def student_width(self) -> int:
        """The student's hidden width actually used."""
        return student_hidden_dim(self.teacher_hidden, self.student_hidden)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunConfig:
        """Build from a parameter mapping, ignoring keys that are not run fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


def describe() -> dict[str, str]:
    """Field name -> one-line help, read from the ``#:`` comments of ``RunConfig``."""
    import inspect

    lines = inspect.getsource(RunConfig).splitlines()
    help_text: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=1):
        stripped = line.strip()
        prev = lines[i - 1].strip()
        if prev.startswith("#:") and ":" in stripped and not stripped.startswith(("#", "def", "@")):
            help_text[stripped.split(":")[0]] = prev[2:].strip()
    return help_text
