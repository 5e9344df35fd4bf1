import pytest
import torch

from distill_lib.core.losses import Targets
from distill_lib.core.metrics import (
    action_agreement,
    action_gap,
    fidelity_metrics,
    kl_divergence,
    prob_similarity,
    q_cosine,
    q_mae,
    q_mse,
    regret,
    top2_agreement,
)

TEACHER = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 1.9], [0.0, 0.0, 3.0], [5.0, 4.0, 0.0]])
STUDENT = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 1.5], [3.0, 0.0, 1.0], [0.0, 1.0, 0.5]])


def test_agreement_top2_and_regret_on_a_hand_example():
    # greedy: teacher [0, 1, 2, 0]; student [0, 2, 0, 1]; student top-2: {0,1}, {2,1}, {0,2}, {1,2}
    assert action_agreement(STUDENT, TEACHER).item() == 0.25
    assert top2_agreement(STUDENT, TEACHER).item() == 0.75
    assert regret(STUDENT, TEACHER).tolist() == pytest.approx([0.0, 0.1, 3.0, 1.0])
    assert action_gap(TEACHER).tolist() == pytest.approx([1.0, 0.1, 3.0, 1.0])


def test_identical_q_values_are_perfect():
    m = {k: v.item() for k, v in fidelity_metrics(TEACHER, TEACHER).items()}
    assert m["action_agreement"] == 1.0 and m["top2_agreement"] == 1.0 and m["regret"] == 0.0
    assert m["prob_similarity_t1"] == pytest.approx(1.0) and m["kl_t1"] == pytest.approx(0.0, abs=1e-7)
    assert m["q_mse"] == 0.0 and m["q_mae"] == 0.0 and m["q_cosine"] == pytest.approx(1.0)


def test_probability_metrics_depend_on_temperature():
    hot, cold = prob_similarity(STUDENT, TEACHER, 100.0).item(), prob_similarity(STUDENT, TEACHER, 1.0).item()
    assert hot > cold and hot == pytest.approx(1.0, abs=1e-2)
    assert kl_divergence(STUDENT, TEACHER).item() > 0


def test_q_errors():
    assert q_mse(STUDENT, TEACHER).item() == pytest.approx(((STUDENT - TEACHER) ** 2).mean().item())
    assert q_mae(STUDENT, TEACHER).item() == pytest.approx((STUDENT - TEACHER).abs().mean().item())
    assert q_cosine(-TEACHER, TEACHER).item() == pytest.approx(-1.0)


# ---- a leading student axis -----------------------------------------------------------------

Q_S = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(1))  # (S, N, A)
Q_T = torch.randn(3, 50, 4, generator=torch.Generator().manual_seed(2))


def test_fidelity_metrics_per_student_equal_one_student_at_a_time():
    stacked = fidelity_metrics(Q_S, Q_T)
    for i in range(3):
        alone = fidelity_metrics(Q_S[i], Q_T[i])
        for key, value in stacked.items():
            assert value.shape == (3,), key
            if key == "prob_similarity_t1":  # exp(log_softmax) vs softmax: equal to the last bit or so
                assert value[i].item() == pytest.approx(alone[key].item(), abs=1e-7)
            else:  # the same expression, reduced per student: bit for bit
                assert value[i].item() == alone[key].item(), key


def test_per_state_metrics_keep_the_student_axis():
    assert regret(Q_S, Q_T).shape == (3, 50) and action_gap(Q_T).shape == (3, 50)
    assert torch.equal(regret(Q_S, Q_T)[1], regret(Q_S[1], Q_T[1]))
    assert (action_gap(Q_T) >= 0).all()


def test_actions_first_layout_and_targets():
    temps = torch.tensor([0.5, 1.0, 3.0])
    rows = prob_similarity(Q_S, Q_T, temps)
    table = Targets(*(t.transpose(1, 2) for t in Targets.of(Q_T, temps)))  # (S, A, N)
    cols = prob_similarity(Q_S.transpose(1, 2), table, temps, dim=-2)
    torch.testing.assert_close(cols, rows, atol=1e-6, rtol=0)
    for i in range(3):
        assert rows[i].item() == pytest.approx(prob_similarity(Q_S[i], Q_T[i], temps[i].item()).item(), abs=1e-7)
    assert torch.equal(action_agreement(Q_S.transpose(1, 2), table, dim=-2), action_agreement(Q_S, Q_T))


def test_every_metric_along_the_actions_first_axis_is_the_same_metric():
    """``dim=-2`` (the stacked trainer's ``(S, A, N)``) computes what ``dim=-1`` computes on ``(S, N, A)``."""
    gen = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(5, 300, 4, generator=gen), torch.randn(5, 300, 4, generator=gen) * 2
    student[:, :20, 1] = student[:, :20].amax(-1)  # ties at the first place (argmax takes the first index)
    want = fidelity_metrics(student, teacher)
    got = fidelity_metrics(student.transpose(1, 2).contiguous(), teacher.transpose(1, 2).contiguous(), dim=-2)
    assert list(got) == list(want)
    for key in ("action_agreement", "top2_agreement"):  # counts: exactly
        assert torch.equal(got[key], want[key]), key
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-6, atol=1e-7, msg=key)
