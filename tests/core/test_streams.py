"""Tests of ``distill_lib.core.streams``: each protocol draws what its docstring says, in that order."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from distill_lib.core.config import TRAINING_SEED_OFFSET
from distill_lib.core.streams import (
    STREAM_SEED_OFFSET,
    GlobalDraws,
    StudentStreams,
    draw_split,
    dropout_threshold,
    seed_everything,
    stream_generator,
)


def splitmix64(seed: int, n: int) -> list[int]:
    """The first ``n`` outputs of SplitMix64 seeded with ``seed``, written as Vigna's splitmix64.c."""
    out, state = [], seed % 2**64
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) % 2**64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        out.append(z ^ (z >> 31))
    return out


def test_splitmix64_reference_gives_the_published_values():
    assert splitmix64(0, 3) == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    assert splitmix64(1234567, 2) == [6457827717110365317, 3203168211198807973]


def test_generator_draws_in_order():
    g = stream_generator(9)
    train, val = draw_split(g, 10, 3)
    h = torch.Generator().manual_seed(9 + 30000)
    perm = torch.randperm(10, generator=h)
    assert torch.equal(train, perm[:7]) and torch.equal(val, perm[7:])
    assert STREAM_SEED_OFFSET == TRAINING_SEED_OFFSET == 30000


def test_dropout_keeps_a_unit_iff_its_splitmix64_output_reaches_the_threshold():
    n_rows, hidden, p = 6, 5, [0.3, 0.5]
    streams = StudentStreams([4, 11])
    epochs = [streams.dropout(n_rows, hidden, p, torch.float32) for _ in range(2)]
    for s, seed in enumerate([4, 11]):
        outputs = splitmix64(seed + 30000, 2 * 2 * n_rows * hidden)  # two epochs of (layer, row, unit)
        keep = [(x >> 32) >= math.ceil(p[s] * 2**32) for x in outputs]
        want = torch.tensor(keep, dtype=torch.float32).view(2, 2, n_rows, hidden) * torch.tensor(1 / (1 - p[s]))
        for epoch, stream in enumerate(epochs):
            assert torch.equal(stream.rows(0, n_rows).multipliers()[s], want[epoch])
            assert torch.equal(stream.rows(2, 5).multipliers()[s], want[epoch, :, 2:5])  # a batch: its rows


def test_dropout_masks_do_not_depend_on_the_other_students():
    alone = StudentStreams([7]).dropout(40, 8, [0.05], torch.float32).rows(0, 40).multipliers()
    among = StudentStreams([3, 7, 7]).dropout(40, 8, [0.2, 0.05, 0.5], torch.float32).rows(0, 40).multipliers()
    assert torch.equal(among[1], alone[0])
    assert torch.equal(among[2] > 0, (StudentStreams([7]).dropout(40, 8, [0.5], torch.float32).rows(0, 40)
                                      .multipliers()[0] > 0))  # fmt: skip
    assert not torch.equal(among[0] > 0, alone[0] > 0)


def test_dropout_multipliers_are_zero_or_inverse_keep_probability():
    mult = StudentStreams([1]).dropout(500, 8, [0.25], torch.float32).rows(0, 500).multipliers()
    assert set(mult.unique().tolist()) == {0.0, torch.tensor(1 / 0.75).item()}
    assert abs((mult > 0).double().mean().item() - 0.75) < 0.02
    assert torch.equal(StudentStreams([1]).dropout(50, 8, [0.0], torch.float32).rows(0, 50).multipliers(),
                       torch.ones(1, 2, 50, 8))  # fmt: skip


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_must_be_below_one(p):
    with pytest.raises(ValueError, match="must be in \\[0, 1\\)"):
        dropout_threshold(p)


def test_global_draws_are_the_seed_compatible_sequence():
    draws = GlobalDraws(5)
    train, val = draws.split(20, 4)
    order, val_order = draws.order(16), draws.order(4)
    assert draws.dropout(16, 8, [0.05], torch.float32) is None  # nn.Dropout draws in the forward
    random.seed(0)  # seed_everything must reseed this too
    seed_everything(5 + TRAINING_SEED_OFFSET)
    perm = np.random.permutation(20)
    assert train.shape == (1, 16) and val.shape == (1, 4)
    assert np.array_equal(train[0].numpy(), perm[:16]) and np.array_equal(val[0].numpy(), perm[16:])
    assert torch.equal(order[0], torch.randperm(16)) and torch.equal(val_order[0], torch.randperm(4))


def test_student_streams_follow_each_students_generator():
    streams = StudentStreams([3, 8, 3])
    train, val = streams.split(12, 2)  # (S, 10), (S, 2)
    order = streams.order(10)
    assert train.shape == (3, 10) and val.shape == (3, 2)
    for i, seed in enumerate((3, 8, 3)):
        g = stream_generator(seed)
        tr, va = draw_split(g, 12, 2)
        assert torch.equal(train[i], tr) and torch.equal(val[i], va)
        assert torch.equal(order[i], torch.randperm(10, generator=g))
    assert torch.equal(train[0], train[2]) and not torch.equal(train[0], train[1])  # same seed, same stream
