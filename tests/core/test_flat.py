"""Tests of ``distill_lib.core.flat``: the flat layout round-trips, Adam and clipping are torch's per student."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from distill_lib.core.flat import FlatAdam, FlatLayout, clip_per_student_
from distill_lib.core.networks import build_student

torch.set_num_threads(1)


def test_flat_layout_round_trips_state_dicts():
    students = [build_student(seed, 8, 16, 4) for seed in (1, 2, 3)]
    layout = FlatLayout(students[0].state_dict())
    flat = layout.flatten([s.state_dict() for s in students])  # (S, P)
    assert flat.shape == (3, sum(p.numel() for p in students[0].parameters()))
    for i, student in enumerate(students):
        for key, value in student.state_dict().items():
            assert torch.equal(layout.state_dict(flat, i)[key], value)


def test_adam_matches_torch_adam_bit_for_bit():
    gen = torch.Generator().manual_seed(3)
    param = torch.randn(3, 50, generator=gen)
    ref = [param[i].clone().requires_grad_() for i in range(3)]
    optims = [torch.optim.Adam([p], lr=1e-2) for p in ref]
    flat = param.clone()
    adam = FlatAdam(flat, lr=1e-2)
    for _ in range(4):
        grad = torch.randn(3, 50, generator=gen)
        for i in range(3):
            ref[i].grad = grad[i].clone()
            optims[i].step()
        adam.step(grad)
    assert torch.equal(flat, torch.stack([p.detach() for p in ref]))


def test_clip_is_per_student():
    gen = torch.Generator().manual_seed(4)
    flat = torch.randn(3, 10, generator=gen) * torch.tensor([[0.01], [5.0], [5.0]])  # (S, P): 0 small, 1 and 2 large
    clipped = flat.clone()
    clip_per_student_(clipped, torch.tensor([1.0, 1.0, 1.0]), torch.tensor([True, True, False]))
    for i, clip in enumerate((True, True, False)):
        g = flat[i].clone().requires_grad_()
        g.grad = flat[i].clone()
        if clip:
            nn.utils.clip_grad_norm_([g], 1.0)
        torch.testing.assert_close(clipped[i], g.grad, atol=1e-7, rtol=1e-6)
    assert torch.equal(clipped[0], flat[0])  # small norm: untouched
    assert torch.linalg.vector_norm(clipped[1]).item() == pytest.approx(1.0, rel=1e-5)


def test_next_hyper_is_the_next_steps_constants():
    flat = torch.randn(2, 7, generator=torch.Generator().manual_seed(5))
    adam = FlatAdam(flat, lr=3e-3)
    for _ in range(3):
        w1, beta2, w2, eps, step_size, bc2_sqrt = adam.next_hyper()
        t = adam.step_count + 1
        assert (w1, beta2, w2, eps) == (1 - 0.9, 0.999, 1 - 0.999, 1e-8)
        assert step_size == 3e-3 / (1 - 0.9**t) and bc2_sqrt == (1 - 0.999**t) ** 0.5
        adam.step(torch.ones_like(flat))
