"""One student as an ``nn.Module``: a way of executing the training loop for a single student.

``ModuleStudent`` is what ``training.train`` runs with ``stacked=False``: the student is an
ordinary ``nn.Module`` trained in place, its teacher is run per mini-batch, the update is
``torch.optim.Adam`` (Kingma & Ba 2015) after ``nn.utils.clip_grad_norm_`` (Pascanu et al.
2013). With torch's global RNG it is the seed-compatible path: every operation is the one
the original trainer ran, so the result is bit-identical to it (``nn.Dropout`` draws its
masks inside the forward; validation runs one forward per mini-batch). With per-student
streams, the stream's dropout multipliers replace the student's dropout layers (``QNetwork``'s
two; a ``PlainQNetwork`` has none): the executable specification of ``stacked.StackedStudents``.
The teacher's Q-values of each batch are put on the run's scale (``q_targets.QScale``, fitted
once on the teacher's Q-values of the training split; raw runs no operation).

It has the methods of ``stacked.StackedStudents``; logits go to the losses as ``(B, A)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .config import RunConfig
from .losses import PerStudent
from .networks import dropout_rate
from .q_targets import FITTED, QScale
from .streams import DropoutRows

__all__ = ["ModuleStudent"]


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


class ModuleStudent:
    """One student as an ``nn.Module``, trained in place with ``torch.optim.Adam``; the teacher runs per batch.

    Logits go to the losses as ``(B, A)``. Dropout masks: ``nn.Dropout`` draws them inside
    the forward (global RNG), or the stream's multipliers replace the dropout layers.
    """

    action_dim = -1

    def __init__(
        self,
        teachers: Sequence[nn.Module],
        states: torch.Tensor,
        students: Sequence[nn.Module],
        configs: Sequence[RunConfig],
        train_idx: torch.Tensor,
        val_idx: torch.Tensor,
    ) -> None:
        (self.teacher,), (self.student,), (config,) = teachers, students, configs
        self.batch_size, self.max_grad_norm = config.batch_size, config.max_grad_norm
        self.width = config.student_width
        rate = dropout_rate(self.student)
        self.dropout_p = [] if rate is None else [rate]
        self.dropout_layers = sum(isinstance(m, nn.Dropout) for m in self.student.modules())
        self.x_train, self.x_val = states[train_idx[0]], states[val_idx[0]]
        with torch.no_grad():  # the teacher's Q-values -> the student's targets, fitted on the training split
            q_train = self.teacher(self.x_train) if config.q_targets in FITTED else None
            self.q_scales = [QScale.fit(config.q_targets, q_train)]
        # foreach: one fused call per step for all parameters; the same arithmetic, element
        # for element, as the default per-parameter loop (tests compare them bit for bit)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=config.lr, foreach=True)
        self.best = _clone(self.student.state_dict())

    def per_student(self, values: Sequence[float], dtype: torch.dtype | None = None) -> PerStudent:
        """The one student's value, a Python float (the losses then compute as the original did)."""
        return values[0]

    def start_epoch(self, order: torch.Tensor, temperatures: list[float]) -> None:
        """Train mode; the epoch's batch order ``(1, n_train)``."""
        self.student.train()
        self.order = order[0]

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``(B, D)`` of positions ``start:stop`` and the teacher's Q-values ``(B, A)`` on the run's scale.

        The teacher runs on each batch, as in the original trainer (the stacked students read
        a whole-buffer table instead): a forward's bits may depend on its batch shape.
        """
        xb = self.x_train[self.order[start:stop]]
        with torch.no_grad():
            return xb, self.q_scales[0](self.teacher(xb))

    def forward(self, x: torch.Tensor, keep: DropoutRows | None) -> torch.Tensor:
        """Train-mode logits ``(B, A)``; ``keep``: the batch's rows of the stream's dropout."""
        if keep is None:
            return self.student(x)  # nn.Dropout draws from the global RNG
        mult, k = keep.multipliers(), 0  # (1, L, B, H): 0 or 1 / (1 - p)
        for module in self.student:
            if isinstance(module, nn.Dropout):
                x, k = x * mult[0, k], k + 1
            else:
                x = module(x)
        return x

    def step(self, loss: torch.Tensor) -> None:
        """``zero_grad``, backward, ``clip_grad_norm_``, Adam."""
        self.optimizer.zero_grad()
        loss.backward()
        if self.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.student.parameters(), self.max_grad_norm, foreach=True)
        self.optimizer.step()

    @torch.no_grad()
    def predict(self, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode Q-values of the validation split in ``order`` ``(1, n_val)``: student and teacher ``(n_val, A)``
        (the teacher's on the run's scale).

        One forward per mini-batch, as the original: a forward's bits may depend on its batch shape.
        """
        self.student.eval()
        q_s, q_t = [], []
        for start in range(0, len(self.x_val), self.batch_size):
            xb = self.x_val[order[0, start : start + self.batch_size]]
            q_t.append(self.q_scales[0](self.teacher(xb)))
            q_s.append(self.student(xb))
        return torch.cat(q_s), torch.cat(q_t)

    @torch.no_grad()
    def predict_split(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Student and teacher Q-values of the whole validation split in split order ``(n_val, A)``."""
        return self.student(self.x_val), self.q_scales[0](self.teacher(self.x_val))

    def keep_best(self, improved: list[int]) -> None:
        """The student reached a new best validation loss: keep its weights."""
        if improved:
            self.best = _clone(self.student.state_dict())

    def state_dict(self, i: int, best: bool = False) -> dict[str, torch.Tensor]:
        """The final (or best) weights."""
        return self.best if best else _clone(self.student.state_dict())
