import pytest
import torch
import torch.nn.functional as F

from distill_lib.core.losses import (
    LOSSES,
    Targets,
    _everywhere,
    distillation_loss,
    hard_ce_loss,
    kl_blend_loss,
    mse_q_loss,
    per_student_loss,
    soft_kl_loss,
)

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


# ---- one student: the exact forms of the original trainer ---------------------------------


@pytest.mark.parametrize("batch", [64, 20, 7])
def test_one_student_is_bit_for_bit_the_torch_functional_losses(batch):
    """The seed-compatible path's numbers: value and gradient of ``F.kl_div``, ``F.cross_entropy``, ``F.mse_loss``."""
    gen = torch.Generator().manual_seed(batch)
    s, t = torch.randn(batch, 4, generator=gen) * 3, torch.randn(batch, 4, generator=gen) * 3
    reference = {
        "soft": lambda x: (
            F.kl_div(F.log_softmax(x / 2.4, -1), F.softmax(t / 2.4, -1), reduction="batchmean") * 2.4 * 2.4
        ),
        "hard": lambda x: F.cross_entropy(x, t.argmax(-1)),
        "mse": lambda x: F.mse_loss(x, t),
    }
    ours = {
        "soft": lambda x: soft_kl_loss(x, t, 2.4),
        "hard": lambda x: hard_ce_loss(x, t),
        "mse": lambda x: mse_q_loss(x, t),
    }
    for name, fn in reference.items():
        a, b = s.clone().requires_grad_(), s.clone().requires_grad_()
        want, got = fn(a), ours[name](b)
        want.backward()
        got.backward()
        assert torch.equal(got, want), name
        assert torch.equal(b.grad, a.grad), name


# ---- a leading student axis -----------------------------------------------------------------

Q_S = torch.randn(3, 32, 4, generator=torch.Generator().manual_seed(1))  # (S, B, A)
Q_T = torch.randn(3, 32, 4, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_leading_axis_is_one_loss_per_student(name, alpha):
    temps = [1.0, 2.5, 4.0]
    got = LOSSES[name](Q_S, Q_T, torch.tensor([alpha] * 3, dtype=torch.float64), torch.tensor(temps))  # (S,)
    want = torch.stack([LOSSES[name](Q_S[i], Q_T[i], alpha, temps[i]) for i in range(3)])
    assert got.shape == (3,)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)  # the hard term's batch sum rounds differently


def test_actions_first_layout_and_precomputed_targets_agree():
    temps = torch.tensor([1.0, 2.5, 4.0])
    alpha = torch.tensor([0.0, 0.7, 1.0], dtype=torch.float64)
    rows = kl_blend_loss(Q_S, Q_T, alpha, temps)
    cols = kl_blend_loss(Q_S.transpose(1, 2), Q_T.transpose(1, 2), alpha, temps, dim=-2)  # (S, A, B)
    table = Targets(*(t.transpose(1, 2) for t in Targets.of(Q_T, temps)))
    precomputed = kl_blend_loss(Q_S.transpose(1, 2), table, alpha, temps, dim=-2)
    torch.testing.assert_close(cols, rows, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(precomputed, rows, atol=1e-6, rtol=1e-6)


def test_per_student_alpha_complement_is_rounded_once():
    """``1 - alpha`` from the float64 alpha, as with Python floats: 0.1f, not 1 - 0.9f."""
    soft, hard = soft_kl_loss(Q_S, Q_T, 3.0), hard_ce_loss(Q_S, Q_T)
    got = kl_blend_loss(Q_S, Q_T, torch.tensor([0.9] * 3, dtype=torch.float64), 3.0)
    assert torch.equal(got, torch.tensor(0.9) * soft + torch.tensor(0.1) * hard)
    assert torch.tensor(0.1).item() != 1.0 - torch.tensor(0.9).item()  # the case in which the two differ


def test_a_term_no_student_needs_is_skipped_exactly():
    temps = torch.tensor([1.0, 2.5, 4.0])
    ones, zeros = torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    assert torch.equal(kl_blend_loss(Q_S, Q_T, ones, temps), soft_kl_loss(Q_S, Q_T, temps))
    assert torch.equal(kl_blend_loss(Q_S, Q_T, zeros, temps), hard_ce_loss(Q_S, Q_T))
    # not computed at all: a poisoned term would show (NaN probabilities, an action out of range)
    targets = Targets.of(Q_T, temps)
    no_soft = targets._replace(p=torch.full_like(targets.p, float("nan")))
    no_hard = targets._replace(action=torch.full_like(targets.action, 99))
    assert torch.equal(kl_blend_loss(Q_S, no_soft, zeros, temps), hard_ce_loss(Q_S, Q_T))
    assert torch.equal(kl_blend_loss(Q_S, no_hard, ones, temps), soft_kl_loss(Q_S, Q_T, temps))
    with pytest.raises(RuntimeError):
        kl_blend_loss(Q_S, no_hard, torch.full((3,), 0.5, dtype=torch.float64), temps)


def test_mixed_objectives_are_bit_for_bit_each_students_own():
    names = ["mse", "kl", "kl", "mse"]
    q_s, q_t = torch.cat([Q_S, Q_S[:1]]), torch.cat([Q_T, Q_T[:1]])  # (4, B, A)
    alpha = torch.tensor([0.5, 0.7, 0.2, 0.5], dtype=torch.float64)
    temps = torch.tensor([1.0, 2.0, 3.0, 4.0])
    s = q_s.clone().requires_grad_()
    got = per_student_loss(names, s, q_t, alpha, temps)
    got.sum().backward()
    kl = LOSSES["kl"](q_s[1:3], q_t[1:3], alpha[1:3], temps[1:3])
    mse = LOSSES["mse"](q_s[[0, 3]], q_t[[0, 3]])
    assert torch.equal(got.detach(), torch.stack([mse[0], kl[0], kl[1], mse[1]]))
    expected_grad = torch.autograd.grad(LOSSES["mse"](s[[0]], q_t[[0]]).sum(), s)[0][0]
    assert torch.equal(s.grad[0], expected_grad)


def test_distillation_loss_reads_the_registry(monkeypatch):
    monkeypatch.setitem(LOSSES, "double_mse", lambda s, t, alpha, temperature, dim=-1: 2 * mse_q_loss(s, t))
    assert torch.equal(distillation_loss(S, T_, 0.5, 1.0, "double_mse"), 2 * mse_q_loss(S, T_))


def test_action_axis_must_be_one_of_the_last_two():
    with pytest.raises(ValueError, match="dim=0"):
        soft_kl_loss(Q_S, Q_T, 1.0, dim=0)


def test_targets_narrow_slices_every_field():
    targets = Targets.of(Q_T, 2.0)
    part = targets.narrow(-2, 4, 3)
    assert all(t.shape[-2] == 3 for t in part)
    assert torch.equal(part.p, targets.p[:, 4:7]) and torch.equal(part.action, targets.action[:, 4:7])


def test_a_device_tensor_is_never_read_back_to_decide_which_terms_to_compute():
    """On an accelerator both terms are computed (an exact zero weight changes nothing): no sync per step."""
    assert _everywhere(torch.ones(3), 1.0) and not _everywhere(torch.tensor([1.0, 0.0]), 1.0)
    assert not _everywhere(torch.ones(3, device="meta"), 1.0)


def test_greedy_action_along_another_axis_is_argmax_ties_and_nans_included():
    from distill_lib.core.losses import greedy_action

    x = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(4))
    x[:, :10, 2] = x[:, :10].amax(-1)  # a tie at the top: argmax takes the first
    x[0, 20, 3], x[1, 21, [1, 4]] = float("nan"), float("nan")  # argmax returns the (first) NaN
    want = x.argmax(-1, keepdim=True)  # (3, 40, 1)
    for dim, layout in ((-2, x.transpose(1, 2)), (1, x.transpose(1, 2).contiguous())):  # (3, 5, 40)
        assert torch.equal(greedy_action(layout, dim), want.transpose(1, 2)), dim


# ---- Rusu et al. 2016's KL: the teacher sharpened, the student at T = 1, no T^2 ----------------


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0, 3.0])
def test_rusu_kl_at_tau_is_the_soft_term_at_t1_on_the_teachers_q_over_tau(tau):
    from distill_lib.core.losses import rusu_kl_loss

    a, b = S.clone().requires_grad_(), S.clone().requires_grad_()
    got, want = rusu_kl_loss(a, T_, None, tau), soft_kl_loss(b, T_ / tau, 1.0)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    got.backward()
    want.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-14)
    # its gradient: softmax(s) - softmax(t / tau) per state, whatever tau (no T^2, no 1/T)
    torch.testing.assert_close(a.grad, (F.softmax(S, -1) - F.softmax(T_ / tau, -1)) / len(S), rtol=1e-10, atol=1e-14)


def test_rusu_kl_is_not_hintons_soft_term():
    from distill_lib.core.losses import rusu_kl_loss

    assert LOSSES["rusu_kl"] is rusu_kl_loss
    assert rusu_kl_loss(S, T_, 1.0, 0.5).item() != pytest.approx(soft_kl_loss(S, T_, 0.5).item(), rel=1e-3)
    assert rusu_kl_loss(S, T_, 1.0, 1.0).item() == pytest.approx(soft_kl_loss(S, T_, 1.0).item(), rel=1e-12)


def test_rusu_kl_of_s_students_with_precomputed_targets_in_either_layout():
    temps = torch.tensor([0.01, 0.1, 1.0])
    rows = LOSSES["rusu_kl"](Q_S, Q_T, 1.0, temps)  # (S,) actions last
    table = Targets(*(t.transpose(1, 2) for t in Targets.of(Q_T, temps)))  # (S, A, B), as the stacked trainer
    cols = LOSSES["rusu_kl"](Q_S.transpose(1, 2), table, 1.0, temps, dim=-2)
    want = torch.stack([soft_kl_loss(Q_S[i], Q_T[i] / temps[i], 1.0) for i in range(3)])
    torch.testing.assert_close(rows, want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(cols, want, atol=1e-6, rtol=1e-6)


def test_rusu_kl_needs_alpha_1():
    from distill_lib.core.config import RunConfig

    with pytest.raises(ValueError, match="rusu_kl has no hard term: use alpha 1"):
        RunConfig(loss_fn="rusu_kl", alpha=0.7, mode="blended")
    assert RunConfig(loss_fn="rusu_kl", alpha=1.0, mode="soft_only", temperature=0.01).loss_fn == "rusu_kl"


# ---- the soft term's share of the blended gradient ------------------------------------------------


def test_soft_share_is_0_at_alpha_0_and_1_at_alpha_1():
    from distill_lib.core.losses import soft_share

    assert soft_share(S, T_, 0.0, 3.0) == 0.0
    assert soft_share(S, T_, 1.0, 3.0) == 1.0
    with pytest.raises(ValueError, match="alpha=1.5"):
        soft_share(S, T_, 1.5, 3.0)


@pytest.mark.parametrize("alpha, tau", [(0.5, 0.01), (0.5, 1.0), (0.9, 0.1), (0.3, 5.0)])
def test_soft_share_is_the_ratio_of_the_two_terms_gradient_norms(alpha, tau):
    from distill_lib.core.losses import soft_share

    g_soft = alpha * tau * (F.softmax(S / tau, -1) - F.softmax(T_ / tau, -1))  # (B, A), summed over states
    g_hard = (1 - alpha) * (F.softmax(S, -1) - F.one_hot(T_.argmax(-1), 4).double())
    want = g_soft.norm() / (g_soft.norm() + g_hard.norm())
    assert soft_share(S, T_, alpha, tau) == pytest.approx(want.item(), rel=1e-10)
    # actions on the other axis: the same share
    assert soft_share(S.T, T_.T, alpha, tau, dim=-2) == pytest.approx(want.item(), rel=1e-10)


def test_soft_share_shrinks_with_the_temperature():
    from distill_lib.core.losses import soft_share

    shares = [soft_share(S, T_, 0.5, tau) for tau in (0.01, 0.1, 1.0)]
    assert shares[0] < shares[1] < shares[2]  # the soft gradient scales with T where T is small
    assert shares[0] < 0.05
