"""Tests of distill_lib.core.data: state buffers and teacher checkpoints, read safely."""

import numpy as np
import pytest
import torch

from distill_lib.core.data import (
    load_state_dict,
    load_states,
    load_teacher,
    save_checkpoint,
    save_states,
    synthetic_states,
)
from distill_lib.core.networks import build_teacher


def test_synthetic_states_are_the_seed_compatible_gaussians():
    s = synthetic_states(42, 5, 8)
    assert s.dtype == np.float32 and s.shape == (5, 8)
    assert np.array_equal(s, np.random.default_rng(10042).standard_normal((5, 8)).astype(np.float32))


def test_states_and_checkpoints_round_trip(tmp_path):
    states = synthetic_states(1, 10, 8)
    save_states(tmp_path / "s.npy", states)
    assert np.array_equal(load_states(tmp_path / "s.npy", 8), states)
    teacher = build_teacher(0, 8, 16, 4)
    save_checkpoint(tmp_path / "t.pt", teacher.state_dict())
    again = load_teacher(tmp_path / "t.pt", 8, 16, 4)
    assert all(
        torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values(), strict=True)
    )
    assert not again.training and not any(p.requires_grad for p in again.parameters())


def test_checkpoints_load_weights_only(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import os; open('" + str(tmp_path / "owned") + "', 'w')",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights-only"):
        load_state_dict(tmp_path / "evil.pt")
    assert not (tmp_path / "owned").exists()


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.zeros(10, np.float32), "2-D"),
        (np.zeros((10, 5), np.float32), "5 wide"),
        (np.zeros((0, 8), np.float32), "empty"),
        (np.array([[np.nan] * 8], np.float32), "NaN or infinity"),
        (np.zeros((3, 8), np.complex64), "real numeric"),
    ],
)
def test_bad_state_buffers_are_refused_by_name(tmp_path, array, fragment):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=fragment):
        load_states(tmp_path / "bad.npy", 8)
