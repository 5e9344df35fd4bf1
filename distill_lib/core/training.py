"""The training loop: one student distilled from a frozen teacher under one objective.

Reads top to bottom as the reference protocol (steps 4-8):

4. seed ``random``, numpy's global RNG and torch with ``seed + 30000``; split with
   ``numpy.random.permutation`` (train = first ``N - n_val``, validation = the rest);
5. each epoch: student in train mode, batches in ``torch.randperm`` order, teacher
   forward without grad, loss, zero_grad, backward, gradient clipping, Adam step;
6. the loss of ``distill_lib.losses.distillation_loss``;
7. after each epoch, student in eval mode; validation in mini-batches in the order of a
   fresh ``torch.randperm(n_val)`` (it consumes the RNG, so it is kept even though the
   order does not change the metrics much); loss and T-probability similarity are means
   over batches, agreement over samples; every other metric over the whole split;
8. the temperature decays after each epoch; the best validation loss and its epoch are
   tracked, the best student is kept, "final" means the last epoch.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .config import TRAINING_SEED_OFFSET, RunConfig
from .losses import distillation_loss
from .metrics import fidelity_metrics, prob_similarity

__all__ = [
    "TrainResult",
    "epoch_progress",
    "evaluate",
    "seed_everything",
    "single_thread",
    "split_indices",
    "train_student",
]


@dataclass
class TrainResult:
    """What a run produces: per-epoch history, the best and the final student."""

    config: RunConfig
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    best_state: dict[str, torch.Tensor]
    final_state: dict[str, torch.Tensor]
    train_idx: np.ndarray
    val_idx: np.ndarray
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's validation metrics."""
        return self.history[-1]


@contextlib.contextmanager
def epoch_progress(config: RunConfig) -> Iterator[Callable[[dict[str, float]], None]]:
    """A progress bar over epochs (tqdm) whose callback shows the latest agreement and loss."""
    from tqdm.auto import tqdm

    bar = tqdm(total=config.epochs, desc=f"{config.mode} (alpha={config.alpha:g})", unit="epoch")

    def on_epoch(record: dict[str, float]) -> None:
        bar.set_postfix(agree=f"{record['action_agreement']:.3f}", val_loss=f"{record['val_loss']:.4f}", refresh=False)
        bar.update(1)

    try:
        yield on_epoch
    finally:
        bar.close()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run with one intra-op thread (see ``networks.PairedLayerNorm`` for why)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy's global RNG and torch's global RNG."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_indices(n_states: int, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices from numpy's global RNG (call after ``seed_everything``)."""
    perm = np.random.permutation(n_states)
    return perm[: n_states - n_val], perm[n_states - n_val :]


def evaluate(
    student: nn.Module,
    teacher: nn.Module,
    x_val: torch.Tensor,
    order: torch.Tensor,
    config: RunConfig,
    temperature: float,
) -> dict[str, float]:
    """Validation metrics after an epoch (protocol step 7), batches taken in ``order``."""
    student.eval()
    losses, similarities, agree = [], [], 0
    with torch.no_grad():
        for start in range(0, len(x_val), config.batch_size):
            xb = x_val[order[start : start + config.batch_size]]
            q_t, q_s = teacher(xb), student(xb)  # (B, A)
            losses.append(distillation_loss(q_s, q_t, config.alpha, temperature, config.loss_fn).item())
            similarities.append(prob_similarity(q_s, q_t, temperature))
            agree += int((q_s.argmax(-1) == q_t.argmax(-1)).sum())
        whole = fidelity_metrics(student(x_val), teacher(x_val))
    whole.pop("action_agreement")  # same quantity as the sample count below
    return {
        "val_loss": float(np.mean(losses)),
        "action_agreement": agree / len(x_val),
        "mean_prob_similarity": float(np.mean(similarities)),
        **whole,
    }


def train_student(
    teacher: nn.Module,
    student: nn.Module,
    states: torch.Tensor,
    config: RunConfig,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Distil ``teacher`` into ``student`` (trained in place) on ``states`` ``(N, input_dim)``.

    ``on_epoch`` is called with each epoch's record (for progress display).
    """
    if states.ndim != 2 or states.shape[0] != config.n_states or states.shape[1] != config.input_dim:
        raise ValueError(
            f"states has shape {tuple(states.shape)}; the config expects ({config.n_states}, {config.input_dim})"
        )
    teacher.eval()  # the teacher is frozen: dropout off, always
    with single_thread():
        # 4. seeding and split
        seed_everything(config.seed + TRAINING_SEED_OFFSET)
        train_idx, val_idx = split_indices(config.n_states, config.n_val)
        x_train = states[torch.from_numpy(train_idx)]
        x_val = states[torch.from_numpy(val_idx)]
        # foreach: one fused call per step for all parameters; the same arithmetic, element
        # for element, as the default per-parameter loop (a test compares them bit for bit)
        optimizer = torch.optim.Adam(student.parameters(), lr=config.lr, foreach=True)
        temperature = config.temperature
        history: list[dict[str, float]] = []
        best_val_loss, best_epoch = float("inf"), -1
        best_state = copy.deepcopy(student.state_dict())

        for epoch in range(config.epochs):
            # 5. one pass over the training split in a fresh random order
            student.train()
            order = torch.randperm(len(x_train))
            train_losses = []
            for start in range(0, len(x_train), config.batch_size):
                xb = x_train[order[start : start + config.batch_size]]
                with torch.no_grad():
                    q_t = teacher(xb)  # (B, A)
                q_s = student(xb)  # (B, A)
                # 6. the objective
                loss = distillation_loss(q_s, q_t, config.alpha, temperature, config.loss_fn)
                optimizer.zero_grad()
                loss.backward()
                if config.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(student.parameters(), config.max_grad_norm, foreach=True)
                optimizer.step()
                train_losses.append(loss.item())

            # 7. validation
            record = {"epoch": epoch, "temperature": temperature, "train_loss": float(np.mean(train_losses))}
            order = torch.randperm(len(x_val))  # consumes the RNG exactly as the original did
            record.update(evaluate(student, teacher, x_val, order, config, temperature))
            history.append(record)
            if record["val_loss"] < best_val_loss:
                best_val_loss, best_epoch = record["val_loss"], epoch
                best_state = copy.deepcopy(student.state_dict())
            if on_epoch is not None:
                on_epoch(record)

            # 8. temperature schedule
            temperature *= config.temp_decay

    return TrainResult(
        config=config,
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_val_loss,
        best_state=best_state,
        final_state=copy.deepcopy(student.state_dict()),
        train_idx=train_idx,
        val_idx=val_idx,
    )
