"""Tests of ``distill_lib.core.streams``: each protocol draws what its docstring says, in that order."""

from __future__ import annotations

import random

import numpy as np
import torch

from distill_lib.core.config import TRAINING_SEED_OFFSET
from distill_lib.core.streams import (
    STREAM_SEED_OFFSET,
    GlobalDraws,
    StudentStreams,
    draw_dropout_noise,
    draw_split,
    seed_everything,
    stream_dropout,
    stream_generator,
)


def test_stream_protocol_draws_in_order():
    g = stream_generator(9)
    train, val = draw_split(g, 10, 3)
    noise = draw_dropout_noise(g, 4, 2, torch.float32)
    h = torch.Generator().manual_seed(9 + 30000)
    perm = torch.randperm(10, generator=h)
    assert torch.equal(train, perm[:7]) and torch.equal(val, perm[7:])
    assert torch.equal(noise, torch.rand((2, 4, 2), generator=h))
    assert STREAM_SEED_OFFSET == TRAINING_SEED_OFFSET == 30000


def test_noise_into_a_buffer_is_the_same_numbers():
    out = torch.empty(2, 5, 3)
    drawn = draw_dropout_noise(stream_generator(4), 5, 3, torch.float32, out=out)
    assert drawn.data_ptr() == out.data_ptr()
    assert torch.equal(out, draw_dropout_noise(stream_generator(4), 5, 3, torch.float32))


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
    mult = streams.dropout(10, 4, [0.5, 0.05, 0.25], torch.float32)  # (S, 2, 10, 4)
    assert train.shape == (3, 10) and val.shape == (3, 2) and mult.shape == (3, 2, 10, 4)
    for i, (seed, p) in enumerate(((3, 0.5), (8, 0.05), (3, 0.25))):
        g = stream_generator(seed)
        tr, va = draw_split(g, 12, 2)
        assert torch.equal(train[i], tr) and torch.equal(val[i], va)
        assert torch.equal(order[i], torch.randperm(10, generator=g))
        keep = draw_dropout_noise(g, 10, 4, torch.float32) >= p
        x = torch.randn(2, 10, 4, generator=torch.Generator().manual_seed(i))
        assert torch.equal(x * mult[i], stream_dropout(x, keep, p))  # the multiplier is stream_dropout's
    assert torch.equal(train[0], train[2]) and not torch.equal(train[0], train[1])  # same seed, same stream


def test_dropout_multipliers_are_zero_or_inverse_keep_probability():
    mult = StudentStreams([1]).dropout(500, 8, [0.25], torch.float32)
    values = set(mult.unique().tolist())
    assert values == {0.0, torch.tensor(1 / 0.75).item()}
    assert abs((mult > 0).double().mean().item() - 0.75) < 0.02
