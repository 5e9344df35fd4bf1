"""Tests of ``distill_lib.core.fused``: the C library builds once, and each kernel is its torch reference."""

from __future__ import annotations

import shutil

import pytest
import torch

from distill_lib.core import fused, streams
from distill_lib.core.losses import Targets, kl_blend_loss
from distill_lib.core.stacked_mlp import StackedMLP, read_layers

torch.set_num_threads(1)

needs_c = pytest.mark.skipif(
    not fused.available(), reason="the fused CPU kernels are off (DISTILL_FUSED_CPU=0) or unbuilt"
)


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="no C compiler on PATH")
def test_the_library_builds_once_per_machine(monkeypatch):
    monkeypatch.delenv(fused.ENV_SWITCH, raising=False)
    assert fused.available()
    path = fused._build()
    stamp = path.stat().st_mtime_ns
    assert fused._build() == path and path.stat().st_mtime_ns == stamp  # cached: not rebuilt
    assert path.name.startswith("fused-") and path.suffix == ".so"


def test_the_switch_turns_the_kernels_off(monkeypatch):
    monkeypatch.setenv(fused.ENV_SWITCH, "0")
    assert not fused.available() and not fused.runs_on(torch.zeros(2))


def test_without_a_compiler_the_kernels_are_off_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: the build must run
    fused._library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="unavailable"):
            assert fused._library() is None
        assert not fused.available()
    finally:
        fused._library.cache_clear()  # the next call builds (or finds) the real library again


@needs_c
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize(("width", "m"), [(13, 20), (8, 64), (16, 35), (20, 20), (4, 3)])
def test_gather_transposed_is_indexing(shared, width, m):
    # widths up to 16 and batches of 16 rows take AVX-512's block transposes where the CPU has them; the rest the loop
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(3 * 100, width, generator=gen)  # three students' 100 rows, or one shared table
    rows = torch.stack([torch.randperm(100, generator=gen) for _ in range(3)])[:, 5 : 5 + m]  # (S, m), strided
    first = torch.zeros(3, dtype=torch.int64) if shared else torch.arange(3) * 100
    got = fused.gather_transposed(table, first, rows)
    assert got.shape == (3, width, m)
    for s in range(3):
        assert torch.equal(got[s], table[first[s] + rows[s]].T)


@needs_c
def test_dropout_kernel_gives_the_torch_references_integers(monkeypatch):
    keys = torch.tensor([fused.signed64(k) for k in (30001, 2**63 + 12345, 2**64 - 1)])  # high bits set too
    thresholds = torch.tensor([streams.dropout_threshold(p) for p in (0.05, 0.5, 0.0)])
    scales = torch.tensor([1 / 0.95, 2.0, 1.0])
    for first in (0, 7, 2**40 + 3):  # positions beyond 2^32 too
        got = fused.dropout_multipliers(keys, thresholds, scales, first, 11 * 6, (2, 11, 6))
        monkeypatch.setenv(fused.ENV_SWITCH, "0")
        want = streams.dropout_multipliers(keys, thresholds, scales, first, 11 * 6, (2, 11, 6))
        monkeypatch.setenv(fused.ENV_SWITCH, "1")
        assert got is not None and torch.equal(got, want)


def _targets(seed: int, shape: tuple[int, int, int], temperature: torch.Tensor) -> Targets:
    teacher = torch.randn(shape[0], shape[2], shape[1], generator=torch.Generator().manual_seed(seed)) * 3
    return Targets(*(t.transpose(1, 2).contiguous() for t in Targets.of(teacher, temperature)))  # (S, A, B)


@needs_c
@pytest.mark.parametrize("scale", [0.1, 3.0, 40.0])
def test_loss_kernel_is_the_formula_value_and_gradient(scale, monkeypatch):
    temperature = torch.tensor([1.0, 3.0, 5.0, 0.5, 2.0])
    alpha = torch.tensor([0.0, 0.3, 0.7, 1.0, 0.5], dtype=torch.float64)  # as the loop passes it
    student = torch.randn(5, 4, 64, generator=torch.Generator().manual_seed(1)) * scale  # (S, A, B)
    target = _targets(2, (5, 4, 64), temperature)
    assert fused.kl_blend_runs(student, (target.p, target.plogp, target.action), -2)

    def value_and_grad(c: bool) -> tuple[torch.Tensor, torch.Tensor]:
        monkeypatch.setenv(fused.ENV_SWITCH, "1" if c else "0")
        q = student.clone().requires_grad_()
        loss = kl_blend_loss(q, target, alpha, temperature, dim=-2)
        return loss.detach(), torch.autograd.grad(loss.sum(), q)[0]

    (loss, grad), (loss_want, grad_want) = value_and_grad(True), value_and_grad(False)
    torch.testing.assert_close(loss, loss_want, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(grad, grad_want, rtol=0, atol=4e-7 * grad_want.abs().max().item())
    # the same order of operations as autograd: no systematic difference (it would bias training)
    assert abs((grad - grad_want).sum().item()) <= 1e-6 * grad_want.abs().sum().item()


@needs_c
def test_loss_kernel_reads_strided_batches_without_a_gradient():
    temperature = torch.tensor([2.0, 1.0])
    student = torch.randn(2, 4, 100, generator=torch.Generator().manual_seed(3))
    target = _targets(4, (2, 4, 100), temperature)
    q, t = student.narrow(-1, 30, 50), Targets(*(f.narrow(-1, 30, 50) for f in target))  # validation batches
    with torch.no_grad():
        loss = kl_blend_loss(q, t, 0.7, temperature, dim=-2)
    contiguous = Targets(*(f.contiguous() for f in t))
    torch.testing.assert_close(loss, kl_blend_loss(q.contiguous(), contiguous, 0.7, temperature, dim=-2))
    assert loss.grad_fn is None


@needs_c
def test_the_step_kernels_refuse_buffers_that_do_not_fit():
    from distill_lib.core.flat import FlatLayout
    from distill_lib.core.networks import build_student

    student = build_student(1, 8, 16, 4)
    layout = FlatLayout(student.state_dict())
    flat = layout.flatten([student.state_dict()] * 2)
    mlp = StackedMLP(*read_layers(student), layout, 1e-5, 2)
    mlp.forward(flat, torch.randn(2, 8, 10), None, train=False)  # builds the (S, H, 10) buffers
    buffers = mlp._saved[(10, torch.float32, torch.device("cpu"))].addresses  # B = 10
    with pytest.raises(ValueError, match="do not fit"):
        fused.mlp_forward(mlp.plan, flat, 1e-5, torch.randn(2, 8, 12), buffers, torch.empty(2, 4, 12), None)
    with pytest.raises(ValueError, match="do not fit"):
        fused.mlp_forward(mlp.plan, flat, 1e-5, torch.randn(2, 7, 10), buffers, torch.empty(2, 4, 10), None)
