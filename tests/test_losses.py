import pytest
import torch
import torch.nn.functional as F

from distill_lib.core.losses import distillation_loss, hard_ce_loss, mse_q_loss, soft_kl_loss

torch.manual_seed(0)
S, T_ = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 4, dtype=torch.float64)


def test_kl_is_zero_for_equal_logits_and_positive_otherwise():
    assert soft_kl_loss(T_, T_, 3.0).item() == pytest.approx(0.0, abs=1e-12)
    assert soft_kl_loss(T_ + 5.0, T_, 3.0).item() == pytest.approx(0.0, abs=1e-12)  # softmax is shift-invariant
    assert soft_kl_loss(S, T_, 3.0).item() > 0


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0, 10.0])
def test_soft_term_is_t_squared_times_kl_of_softened_distributions(temperature):
    p_t = F.softmax(T_ / temperature, -1)
    p_s = F.softmax(S / temperature, -1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    assert soft_kl_loss(S, T_, temperature).item() == pytest.approx(temperature**2 * kl.item(), rel=1e-10)


def test_t_squared_keeps_gradient_scale_at_high_temperature():
    # d(soft)/ds -> (s - t) / (A * T^0) as T grows: the T^2 factor cancels the 1/T^2 shrinkage
    s = S.clone().requires_grad_(True)
    soft_kl_loss(s, T_, 100.0).backward()
    centred = lambda x: x - x.mean(-1, keepdim=True)  # noqa: E731
    expected = (centred(S) - centred(T_)) / 4 / len(S)
    assert torch.allclose(s.grad, expected, atol=1e-3)


def test_alpha_endpoints_and_blend():
    hard, soft = hard_ce_loss(S, T_), soft_kl_loss(S, T_, 3.0)
    assert torch.equal(distillation_loss(S, T_, 0.0, 3.0), 0.0 * soft + 1.0 * hard)  # the skipped term is exactly 0
    assert distillation_loss(S, T_, 0.0, 3.0).item() == pytest.approx(hard.item(), rel=1e-12)
    assert torch.equal(distillation_loss(S, T_, 1.0, 3.0), soft)
    assert distillation_loss(S, T_, 0.7, 3.0).item() == pytest.approx(0.7 * soft.item() + 0.3 * hard.item(), rel=1e-12)


def test_hard_term_targets_teacher_argmax():
    assert hard_ce_loss(S, T_).item() == pytest.approx(F.cross_entropy(S, T_.argmax(-1)).item())
    confident = 50.0 * F.one_hot(T_.argmax(-1), 4).double()
    assert hard_ce_loss(confident, T_).item() < 1e-10


def test_mse_ignores_temperature_and_alpha():
    expected = ((S - T_) ** 2).mean().item()
    assert mse_q_loss(S, T_).item() == pytest.approx(expected)
    assert distillation_loss(S, T_, 0.3, 7.0, loss_fn="mse").item() == pytest.approx(expected)
