"""The training loop: students distilled from frozen teachers, one at a time or many at once.

``train`` is the one loop; it reads top to bottom as the reference protocol:

1. the split: train = the first ``N - n_val`` states of a random permutation, validation the rest;
2. the students' weights and their Adam optimiser (Kingma & Ba 2015);
3. each epoch: the order of the training batches and the dropout masks;
4. each batch: the teacher's targets, the students' forward pass (train mode), the loss
   ``losses.LOSSES[config.loss_fn]``, backward, gradient-norm clipping (Pascanu et al.
   2013), an Adam step;
5. after each epoch, validation (students in eval mode) in mini-batches, in the order of a
   fresh random permutation of the split: loss and T-probability similarity are means over
   batches, agreement over samples; every other metric is over the whole split
   (``metrics.fidelity_metrics``);
6. records, and the best validation loss and its epoch (the best student is kept; "final"
   means the last epoch), and the students' weights after each epoch of ``snapshot_epochs``;
7. the temperature decays after each epoch.

Wherever the loop reads the teacher's Q-values (targets and metrics) they are on the run's
scale, ``RunConfig.q_targets`` (``q_targets.QScale``, fitted once per student on its training
split); the student is a ``networks.QNetwork`` or a ``networks.PlainQNetwork``
(``RunConfig.student_kind``).

Two parameters choose how the loop is executed, not what it computes:

- ``streams``: where the random draws of steps 1, 3 and 5 come from: ``"global"``, torch's
  global RNG seeded as the original trainer did (seed-compatible, one student), or
  ``"per_student"``, one generator per student (``streams.StudentStreams``);
- ``stacked``: how the students' weights are held and updated: one ``nn.Module`` with
  ``torch.optim.Adam`` (``module_student.ModuleStudent``), or S students in one flat buffer with a
  hand-written forward and backward, clipping and Adam (``stacked.StackedStudents``; a leading
  student axis; fused C kernels on the CPU).

The entry points keep their earlier signatures: ``train_student`` (global, module: the
seed-compatible path, bit-identical to a plain implementation of the protocol run with the
original's two intra-op threads, ``ORIGINAL_THREADS``, as it runs itself),
``train_alone`` (per-student streams, module: the executable specification of the stacked
run) and ``train_batched`` (per-student streams, stacked).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .losses import per_student_loss
from .metrics import action_agreement, fidelity_metrics, prob_similarity
from .module_student import ModuleStudent
from .progress import terminal_bar
from .q_targets import QScale
from .stacked import StackedStudents
from .streams import GlobalDraws, StudentStreams
from .training_inputs import check_call, check_snapshots

__all__ = [
    "TrainResult",
    "epoch_progress",
    "single_thread",
    "to_device",
    "train",
    "train_alone",
    "train_batched",
    "train_student",
]

#: ``TrainResult.extra["protocol"]`` of the per-student streams
STREAMS_PROTOCOL = "per-student streams (distill_lib.core.streams)"


@dataclass
class TrainResult:
    """What a run produces: per-epoch history, the best and the final student.

    ``snapshots``: the weights after each epoch of ``snapshot_epochs`` (0-based), by epoch;
    ``q_scale``: the map from the teacher's Q-values to the targets the student learnt (its
    outputs are on that scale; ``q_scale.inverse`` maps standardized ones back).
    """

    config: RunConfig
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    best_state: dict[str, torch.Tensor]
    final_state: dict[str, torch.Tensor]
    train_idx: np.ndarray
    val_idx: np.ndarray
    extra: dict[str, object] = field(default_factory=dict)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    q_scale: QScale = field(default_factory=QScale)

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's validation metrics."""
        return self.history[-1]


@contextlib.contextmanager
def epoch_progress(config: RunConfig) -> Iterator[Callable[[dict[str, float]], None]]:
    """A progress bar over epochs (``progress.terminal_bar``: on a terminal only) whose callback shows the
    latest agreement and loss."""
    bar = terminal_bar(total=config.epochs, desc=f"{config.mode} (alpha={config.alpha:g})", unit="epoch")

    def on_epoch(record: dict[str, float]) -> None:
        bar.set_postfix(agree=f"{record['action_agreement']:.3f}", val_loss=f"{record['val_loss']:.4f}", refresh=False)
        bar.update(1)

    try:
        yield on_epoch
    finally:
        bar.close()


#: the intra-op threads of the original trainer (a two-core machine); the seed-compatible path runs with them
ORIGINAL_THREADS = 2


@contextlib.contextmanager
def single_thread(threads: int = 1) -> Iterator[None]:
    """Run with one intra-op thread (see ``networks.PairedLayerNorm`` for why), or with ``threads``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(
    teachers: nn.Module | Sequence[nn.Module],
    states: torch.Tensor,
    students: Sequence[nn.Module],
    configs: Sequence[RunConfig],
    *,
    streams: Literal["global", "per_student"],
    stacked: bool,
    progress: bool = False,
    on_epoch: Callable[[list[dict[str, float]]], None] | None = None,
    snapshot_epochs: Sequence[int] = (),
) -> list[TrainResult]:
    """Distil each ``teachers[s]`` into ``students[s]`` under ``configs[s]``: the one training loop.

    Args:
        teachers: one frozen teacher for all students, or one per student (any module
            mapping ``(N, D)`` states to ``(N, A)`` Q-values; put in eval mode here).
        states: the buffer, ``(n_states, input_dim)`` shared or, stacked,
            ``(S, n_states, input_dim)`` one per student; its device is the run's.
        students: the initial students; a module student is trained in place, stacked
            students (``networks.QNetwork`` or ``PlainQNetwork``, of one kind and width) are
            read, not modified.
        configs: one ``RunConfig`` per student. Stacked, ``seed``, ``alpha``, ``mode``,
            ``temperature``, ``temp_decay``, ``loss_fn``, ``q_targets`` and ``max_grad_norm``
            may differ per student; the fields in ``training_inputs.SHARED_FIELDS`` must agree.
        streams: ``"global"`` (seed-compatible; one module student) or ``"per_student"``.
        stacked: hold the students in one flat buffer (``stacked.StackedStudents``), or
            train one ``nn.Module`` (``module_student.ModuleStudent``).
        progress: show a bar over epochs on a terminal (``progress.terminal_bar``; none in a notebook).
        on_epoch: called after each epoch with the students' records.
        snapshot_epochs: epochs (0-based) after which every student's weights are kept
            (``TrainResult.snapshots``).

    Returns:
        One ``TrainResult`` per student.
    """
    teacher_list = check_call(teachers, states, students, configs, streams, stacked)
    snapshot_at = check_snapshots(snapshot_epochs, configs[0].epochs)
    ref, names = configs[0], [c.loss_fn for c in configs]
    n_students, n_train, n_val, batch = len(configs), ref.n_states - ref.n_val, ref.n_val, ref.batch_size
    for teacher in teacher_list:
        teacher.eval()  # the teacher is frozen: dropout off, always
    # The seed-compatible path runs with the original's two threads: MKL's matrix products split their sums
    # by thread for some batch shapes, which shapes depending on the CPU kind (docs/design.md, "Reproducibility").
    threads = ORIGINAL_THREADS if streams == "global" else 1
    with single_thread(threads) if states.device.type == "cpu" else contextlib.nullcontext():
        # 1. the split (the global path first seeds random, numpy and torch with seed + 30000)
        draws = (
            GlobalDraws(ref.seed) if streams == "global" else StudentStreams([c.seed for c in configs], states.device)
        )
        train_idx, val_idx = draws.split(ref.n_states, n_val)  # (S, n_train), (S, n_val)

        # 2. the students' weights and optimiser
        net = (StackedStudents if stacked else ModuleStudent)(
            teacher_list, states, students, configs, train_idx, val_idx
        )
        axis = -1 if net.action_dim == -2 else -2  # the states' axis of the losses' layout
        alpha = net.per_student([c.alpha for c in configs], torch.float64)  # float64: 1 - alpha rounds once
        temperatures = [c.temperature for c in configs]  # Python floats, decayed as the original did
        histories: list[list[dict[str, float]]] = [[] for _ in range(n_students)]
        snapshots: list[dict[int, dict[str, torch.Tensor]]] = [{} for _ in range(n_students)]
        best_val_loss, best_epoch = [float("inf")] * n_students, [-1] * n_students

        for epoch in terminal_bar(range(ref.epochs), shown=progress, desc=f"{n_students} students", unit="epoch"):
            temperature = net.per_student(temperatures)
            # 3. this epoch's batch order and dropout masks (None: nn.Dropout draws them in the forward)
            order = draws.order(n_train)  # (S, n_train)
            keep = draws.dropout(n_train, net.width, net.dropout_p, states.dtype, net.dropout_layers)  # (S, L, n, H)
            net.start_epoch(order, temperatures)

            # 4. one pass over the training split
            train_losses = []
            for start in range(0, n_train, batch):
                stop = min(start + batch, n_train)
                x, target = net.batch(start, stop)  # the batch's states, the teacher's targets
                q_s = net.forward(x, None if keep is None else keep.rows(start, stop))  # (B, A) | (S, A, B)
                loss = per_student_loss(names, q_s, target, alpha, temperature, dim=net.action_dim)  # () | (S,)
                net.step(loss)  # backward, clipping, Adam
                train_losses.append(loss.detach())

            # 5. validation: batch means in the stream's order, agreement over samples, the rest on the whole split
            val_order = draws.order(n_val)  # (S, n_val)
            with torch.no_grad():
                q_s, target = net.predict(val_order)
                val_losses, similarities = [], []
                for start in range(0, n_val, batch):
                    n = min(batch, n_val - start)
                    q_b, t_b = q_s.narrow(axis, start, n), target.narrow(axis, start, n)  # (B, A) | (S, A, B)
                    val_losses.append(per_student_loss(names, q_b, t_b, alpha, temperature, dim=net.action_dim))
                    similarities.append(prob_similarity(q_b, t_b, temperature, dim=net.action_dim))
                agreement = action_agreement(q_s, target, dim=net.action_dim).reshape(-1).tolist()
                whole = fidelity_metrics(*net.predict_split(), dim=net.action_dim)
                del whole["action_agreement"]  # the same quantity as the sample count above
            means = {
                key: torch.stack(values, -1).double().cpu().numpy().reshape(n_students, -1)  # (S, n_batches)
                for key, values in (("train_loss", train_losses), ("val_loss", val_losses), ("sim", similarities))
            }
            whole_lists = {k: v.reshape(-1).tolist() for k, v in whole.items()}

            # 6. records, the best epoch and snapshots
            records, improved = [], []
            for i in range(n_students):
                record = {
                    "epoch": epoch,
                    "temperature": temperatures[i],
                    "train_loss": float(np.mean(means["train_loss"][i])),
                    "val_loss": float(np.mean(means["val_loss"][i])),
                    "action_agreement": agreement[i],
                    "mean_prob_similarity": float(np.mean(means["sim"][i])),
                    **{k: v[i] for k, v in whole_lists.items()},
                }
                histories[i].append(record)
                records.append(record)
                if record["val_loss"] < best_val_loss[i]:
                    best_val_loss[i], best_epoch[i] = record["val_loss"], epoch
                    improved.append(i)
            net.keep_best(improved)
            if epoch in snapshot_at:
                for i in range(n_students):
                    snapshots[i][epoch] = net.state_dict(i)
            if on_epoch is not None:
                on_epoch(records)

            # 7. temperature schedule
            temperatures = [t * c.temp_decay for t, c in zip(temperatures, configs)]

    extra = {} if streams == "global" else {"protocol": STREAMS_PROTOCOL}
    if stacked:
        extra["batched_with"] = n_students
    return [
        TrainResult(
            config=configs[i],
            history=histories[i],
            best_epoch=best_epoch[i],
            best_val_loss=best_val_loss[i],
            best_state=net.state_dict(i, best=True),
            final_state=net.state_dict(i),
            train_idx=train_idx[i].cpu().numpy().copy(),
            val_idx=val_idx[i].cpu().numpy().copy(),
            extra=dict(extra),
            snapshots=snapshots[i],
            q_scale=net.q_scales[i],
        )
        for i in range(n_students)
    ]


def train_student(
    teacher: nn.Module,
    student: nn.Module,
    states: torch.Tensor,
    config: RunConfig,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    snapshot_epochs: Sequence[int] = (),
) -> TrainResult:
    """Distil ``teacher`` into ``student`` (trained in place) on ``states`` ``(N, input_dim)``: the seed-compatible path.

    ``on_epoch`` is called with each epoch's record (for progress display).
    """
    callback = None if on_epoch is None else lambda records: on_epoch(records[0])
    return train(
        teacher, states, [student], [config], streams="global", stacked=False, on_epoch=callback,
        snapshot_epochs=snapshot_epochs,
    )[0]  # fmt: skip


def train_alone(
    teacher: nn.Module,
    student: nn.Module,
    states: torch.Tensor,
    config: RunConfig,
    snapshot_epochs: Sequence[int] = (),
) -> TrainResult:
    """Train one ``student`` (in place) on its per-student stream: the executable specification of ``train_batched``."""
    return train(
        teacher, states, [student], [config], streams="per_student", stacked=False, snapshot_epochs=snapshot_epochs
    )[0]


def to_device(
    teachers: nn.Module | Sequence[nn.Module], states: torch.Tensor, device: str | torch.device
) -> tuple[nn.Module | list[nn.Module], torch.Tensor]:
    """Copies of the teacher(s) and the states on ``device`` for ``train_batched`` (the originals stay put)."""
    device = torch.device(device)
    if states.device == device:
        return teachers, states
    moved = (
        copy.deepcopy(teachers).to(device)
        if isinstance(teachers, nn.Module)
        else [copy.deepcopy(t).to(device) for t in teachers]
    )
    return moved, states.to(device)


def train_batched(
    teachers: nn.Module | Sequence[nn.Module],
    states: torch.Tensor,
    students: Sequence[nn.Module],
    configs: Sequence[RunConfig],
    progress: bool = False,
    snapshot_epochs: Sequence[int] = (),
) -> list[TrainResult]:
    """Train S students at once, each as ``train_alone`` would (to float32 rounding); one ``TrainResult`` each.

    Memory: under 1 MB per student at the study's size (the activations of a validation
    pass and of a batch, the weights and Adam's moments; the dropout masks are made inside the
    kernels): 200 students peaked at 0.37 GB resident on the CPU, PyTorch included.
    """
    return train(
        teachers, states, students, configs, streams="per_student", stacked=True, progress=progress,
        snapshot_epochs=snapshot_epochs,
    )  # fmt: skip
