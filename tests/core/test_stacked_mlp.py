"""Tests of ``distill_lib.core.stacked_mlp``: the hand-written step is autograd's, in both executions."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from distill_lib.core import fused
from distill_lib.core.flat import FlatAdam, FlatLayout, clip_per_student_
from distill_lib.core.networks import build_student
from distill_lib.core.stacked import stacked_forward
from distill_lib.core.stacked_mlp import Block, StackedMLP, read_layers
from distill_lib.core.streams import StudentStreams

torch.set_num_threads(1)

needs_c = pytest.mark.skipif(
    not fused.available(), reason="the fused CPU kernels are off (DISTILL_FUSED_CPU=0) or unbuilt"
)


def _plain(seed: int, dims: tuple[int, ...], dropout: float | None = None) -> nn.Sequential:
    """A Linear/ReLU MLP (``dims``: input, hidden..., output), optionally with dropout: no LayerNorm."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(dims[:-1]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
    return nn.Sequential(*layers, nn.Linear(dims[-2], dims[-1]))


def _stack(nets: list[nn.Module]) -> tuple[FlatLayout, torch.Tensor, StackedMLP]:
    layout = FlatLayout(nets[0].state_dict())
    flat = layout.flatten([n.state_dict() for n in nets]).contiguous()
    with torch.no_grad():  # move LayerNorm away from its identity, so that its gradients matter
        flat.add_(0.1 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(9)))
    return layout, flat, StackedMLP(*read_layers(nets[0]), layout, 1e-5, len(nets))


def _autograd_reference(nets, layout, flat, x_t, mult, dq):
    """Logits ``(S, A, B)`` and gradients ``(S, P)`` by autograd over the plain per-layer formulas."""
    flat = flat.clone().requires_grad_()
    p, a, k = layout.views(flat), x_t.mT, 0  # a: (S, B, D)
    blocks, head = read_layers(nets[0])
    for block in blocks:
        a = torch.baddbmm(p[f"{block.linear}.bias"].unsqueeze(1), a, p[f"{block.linear}.weight"].mT)
        if block.norm:
            a = torch.nn.functional.layer_norm(a, a.shape[-1:], eps=1e-5)
            a = a * p[f"{block.norm}.weight"].unsqueeze(1) + p[f"{block.norm}.bias"].unsqueeze(1)
        a = torch.relu(a)
        if block.dropout and mult is not None:
            a, k = a * mult[:, k], k + 1
    q = torch.baddbmm(p[f"{head}.bias"].unsqueeze(1), a, p[f"{head}.weight"].mT).mT  # (S, A, B)
    (grad,) = torch.autograd.grad((q * dq).sum(), flat)
    return q.detach(), grad


def _run(mlp, flat, x_t, rows, dq, c: bool, monkeypatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and gradients ``(S, P)`` (before clipping) of one step of one execution."""
    monkeypatch.setenv(fused.ENV_SWITCH, "1" if c else "0")
    q = mlp.forward(flat, x_t, rows, train=True)
    if not c:
        return q, mlp.backward_torch(flat, dq)
    grads, theta = torch.empty_like(flat), flat.clone()
    moments = (torch.zeros_like(flat), torch.zeros_like(flat))
    n = len(flat)
    hyper = FlatAdam(theta, 1e-3).next_hyper()
    scales = None if rows is None else rows.scales
    fused.mlp_backward_adam(
        mlp.plan, theta, mlp.x_t, mlp.saved.addresses, dq, scales, moments, torch.ones(n), torch.ones(n, dtype=bool),
        hyper, grads,
    )  # fmt: skip
    return q, grads


def test_read_layers_of_the_study_student_and_of_a_plain_mlp():
    blocks, head = read_layers(build_student(1, 8, 64, 4))
    assert blocks == [Block("0", "1", True), Block("4", "5", True)] and head == "8"
    blocks, head = read_layers(_plain(0, (3, 5, 6, 2)))
    assert blocks == [Block("0", None, False), Block("2", None, False)] and head == "4"


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Linear(3, 4)],  # no hidden block
        [nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2)],  # no ReLU
        [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU()],  # no head
        [nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)],
    ],
)
def test_read_layers_refuses_other_architectures(layers):
    with pytest.raises(ValueError, match="expected \\(Linear, \\[LayerNorm\\], ReLU, \\[Dropout\\]\\) blocks"):
        read_layers(nn.Sequential(*layers))


CASES = {
    "study student": (lambda s: build_student(s, 8, 64, 4), 32, 64),
    "study student, last batch": (lambda s: build_student(s, 8, 64, 4), 32, 20),
    "plain MLP, odd sizes": (lambda s: _plain(s, (3, 5, 7, 2)), None, 7),
    "plain MLP with dropout": (lambda s: _plain(s, (6, 9, 3), dropout=0.2), 9, 37),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("c", [pytest.param(True, marks=needs_c, id="C kernels"), pytest.param(False, id="torch")])
def test_forward_and_gradients_are_autograds(case, c, monkeypatch):
    make, width, batch = CASES[case]
    nets = [make(seed) for seed in (1, 2, 3)]
    layout, flat, mlp = _stack(nets)
    dims = mlp.plan.dims.tolist()
    x_t = torch.randn(3, dims[0], batch, generator=torch.Generator().manual_seed(1))  # (S, D, B)
    dq = torch.randn(3, dims[-1], batch, generator=torch.Generator().manual_seed(2)) / batch  # (S, A, B)
    rows = None
    if width is not None:
        stream = StudentStreams([5, 6, 5]).dropout(100, width, [0.05, 0.2, 0.5], torch.float32)
        rows = stream.rows(30, 30 + batch)
    q_want, grad_want = _autograd_reference(nets, layout, flat, x_t, None if rows is None else rows.multipliers(), dq)
    q, grad = _run(mlp, flat, x_t, rows, dq, c, monkeypatch)
    torch.testing.assert_close(q, q_want, rtol=1e-5, atol=1e-6)
    for key, got in layout.views(grad).items():  # a few float32 ulps of each gradient's scale
        want = layout.views(grad_want)[key]
        torch.testing.assert_close(got, want, rtol=0, atol=2e-6 * want.abs().max().item(), msg=key)


@needs_c
def test_c_step_is_the_torch_step_to_float32_rounding(monkeypatch):
    nets = [build_student(seed, 8, 64, 4) for seed in range(4)]
    _, flat, mlp = _stack(nets)
    x_t = torch.randn(4, 8, 64, generator=torch.Generator().manual_seed(3))
    dq = torch.randn(4, 4, 64, generator=torch.Generator().manual_seed(4)) / 64
    rows = StudentStreams([1, 2, 3, 4]).dropout(64, 32, [0.05] * 4, torch.float32).rows(0, 64)
    q_c, _ = _run(mlp, flat, x_t, rows, dq, True, monkeypatch)
    saved_c = [t.clone() for t in (*mlp.saved.z, *mlp.saved.h, *mlp.saved.rstd)]
    q_t, _ = _run(mlp, flat, x_t, rows, dq, False, monkeypatch)
    saved_t = (*mlp.saved.z, *mlp.saved.h, *mlp.saved.rstd)
    torch.testing.assert_close(q_c, q_t, rtol=2e-6, atol=1e-6)
    for got, want in zip(saved_c, saved_t):  # xhat, h, rstd of both blocks
        torch.testing.assert_close(got, want, rtol=2e-6, atol=1e-6)

    # then clipping and Adam: the fused update is the reference's (clip_per_student_, FlatAdam.step)
    max_norm, clip = torch.tensor([1e-3, 1e-3, 10.0, 1e-3]), torch.tensor([True, False, True, True])
    theta_c, theta_t = flat.clone(), flat.clone()
    adam_c, adam_t = FlatAdam(theta_c, 1e-2), FlatAdam(theta_t, 1e-2)
    for step in range(3):
        monkeypatch.setenv(fused.ENV_SWITCH, "1")
        mlp.forward(theta_c, x_t, rows, train=True)
        mlp.step(theta_c, dq * (step + 1), adam_c, max_norm, clip)
        monkeypatch.setenv(fused.ENV_SWITCH, "0")
        mlp.forward(theta_t, x_t, rows, train=True)
        grad = mlp.backward_torch(theta_t, dq * (step + 1))
        clip_per_student_(grad, max_norm, clip)
        adam_t.step(grad)
    assert adam_c.step_count == adam_t.step_count == 3
    # Adam divides each gradient by its running RMS: where a gradient is rounding noise, a step of up to
    # lr (1e-2) may go either way; 1e-5 is a thousandth of that, ten times the differences seen
    torch.testing.assert_close(theta_c, theta_t, rtol=0, atol=1e-5)
    torch.testing.assert_close(adam_c.exp_avg_sq, adam_t.exp_avg_sq, rtol=1e-5, atol=1e-12)


@needs_c
def test_a_student_among_others_is_bit_identical_to_the_student_alone():
    nets = [build_student(seed, 8, 64, 4) for seed in range(3)]
    layout, flat, mlp = _stack(nets)
    x_t = torch.randn(3, 8, 64, generator=torch.Generator().manual_seed(5))
    dq = torch.randn(3, 4, 64, generator=torch.Generator().manual_seed(6)) / 64
    rows = StudentStreams([7, 8, 9]).dropout(64, 32, [0.05] * 3, torch.float32).rows(0, 64)
    q = mlp.forward(flat, x_t, rows, train=True)
    theta = flat.clone()
    adam = FlatAdam(theta, 1e-2)
    mlp.step(theta, dq, adam, torch.ones(3), torch.ones(3, dtype=bool))

    alone = StackedMLP(*read_layers(nets[1]), layout, 1e-5, 1)
    rows_1 = StudentStreams([8]).dropout(64, 32, [0.05], torch.float32).rows(0, 64)
    q_1 = alone.forward(flat[1:2].clone(), x_t[1:2].clone(), rows_1, train=True)
    theta_1 = flat[1:2].clone()
    alone.step(theta_1, dq[1:2].clone(), FlatAdam(theta_1, 1e-2), torch.ones(1), torch.ones(1, dtype=bool))
    assert torch.equal(q_1[0], q[1]) and torch.equal(theta_1[0], theta[1])


def test_the_torch_path_runs_where_the_kernels_cannot(monkeypatch):
    """float64 states take the torch path (the kernels are float32): the same step, to float64 rounding."""
    nets = [build_student(seed, 8, 16, 4) for seed in range(2)]
    layout, flat, mlp = _stack(nets)
    flat = flat.double()
    x_t = torch.randn(2, 8, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    dq = torch.randn(2, 4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    q = mlp.forward(flat, x_t, None, train=True)
    assert not fused.runs_on(flat, x_t) and q.dtype == torch.float64
    q_want = stacked_forward(layout.views(flat), x_t.mT, 1e-5).mT
    torch.testing.assert_close(q, q_want, rtol=1e-12, atol=1e-12)
    assert mlp.backward_torch(flat, dq).dtype == torch.float64
