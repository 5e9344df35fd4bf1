import pytest
import torch

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
    assert action_agreement(STUDENT, TEACHER) == 0.25
    assert top2_agreement(STUDENT, TEACHER) == 0.75
    assert regret(STUDENT, TEACHER).tolist() == pytest.approx([0.0, 0.1, 3.0, 1.0])
    assert action_gap(TEACHER).tolist() == pytest.approx([1.0, 0.1, 3.0, 1.0])


def test_identical_q_values_are_perfect():
    m = fidelity_metrics(TEACHER, TEACHER)
    assert m["action_agreement"] == 1.0 and m["top2_agreement"] == 1.0 and m["regret"] == 0.0
    assert m["prob_similarity_t1"] == pytest.approx(1.0) and m["kl_t1"] == pytest.approx(0.0, abs=1e-7)
    assert m["q_mse"] == 0.0 and m["q_mae"] == 0.0 and m["q_cosine"] == pytest.approx(1.0)


def test_probability_metrics_depend_on_temperature():
    hot, cold = prob_similarity(STUDENT, TEACHER, 100.0), prob_similarity(STUDENT, TEACHER, 1.0)
    assert hot > cold and hot == pytest.approx(1.0, abs=1e-2)
    assert kl_divergence(STUDENT, TEACHER) > 0


def test_q_errors():
    assert q_mse(STUDENT, TEACHER) == pytest.approx(((STUDENT - TEACHER) ** 2).mean().item())
    assert q_mae(STUDENT, TEACHER) == pytest.approx((STUDENT - TEACHER).abs().mean().item())
    assert q_cosine(-TEACHER, TEACHER) == pytest.approx(-1.0)
