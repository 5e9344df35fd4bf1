"""Tests of ``distill_lib.core.q_targets``: the teacher's Q-values on the scale the student learns."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from distill_lib.core.config import Q_TARGETS, RunConfig
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.core.q_targets import QScale
from distill_lib.core.training import train_alone, train_batched, train_student

#: Q-values with a DQN teacher's shape: far from zero, small gaps between actions
Q = 76.8 + 0.3 * torch.randn(500, 4, generator=torch.Generator().manual_seed(0))


def test_standardized_targets_have_mean_0_and_std_1_over_the_split():
    train = Q[:400]
    scale = QScale.fit("standardized", train)
    t = scale(train).double()
    assert scale(train).dtype == train.dtype  # computed in float64, rounded once
    assert abs(t.mean().item()) < 1e-5 and abs(t.std(correction=0).item() - 1.0) < 1e-5
    assert scale.mean == pytest.approx(train.double().mean().item()) and scale.std > 0
    other = scale(Q[400:]).double()  # the validation rows: the training split's map, not their own
    assert abs(other.mean().item()) > 1e-3 or abs(other.std(correction=0).item() - 1.0) > 1e-3


def test_standardized_targets_do_not_depend_on_the_teachers_offset_and_scale():
    want = QScale.fit("standardized", Q)(Q)
    moved = 3.0 * (Q - 76.8) - 20.0
    torch.testing.assert_close(QScale.fit("standardized", moved)(moved), want, atol=2e-4, rtol=0)


def test_centered_rows_sum_to_zero():
    t = QScale.fit("centered")(Q)
    assert t.shape == Q.shape and t.dtype == Q.dtype
    assert t.sum(-1).abs().max().item() < 1e-5
    torch.testing.assert_close(t, Q - Q.mean(-1, keepdim=True), atol=1e-5, rtol=0)


def test_centered_scaled_targets_are_advantages_with_std_1_over_the_split():
    train = Q[:400]
    scale = QScale.fit("centered_scaled", train)
    advantages = train.double() - train.double().mean(-1, keepdim=True)
    assert scale.mean == 0.0 and scale.std == pytest.approx(advantages.std(correction=0).item(), rel=1e-12)
    t = scale(train).double()
    assert t.sum(-1).abs().max().item() < 1e-5 and abs(t.std(correction=0).item() - 1.0) < 1e-5
    torch.testing.assert_close(t, advantages / scale.std, atol=1e-5, rtol=0)
    assert scale.std < 0.5  # the teacher's gaps are small: unscaled, these targets would be too
    other = scale(Q[400:]).double()  # the validation rows: the training split's sigma, not their own
    assert abs(other.std(correction=0).item() - 1.0) > 1e-4
    torch.testing.assert_close(scale.inverse(scale(Q)), Q - Q.mean(-1, keepdim=True), atol=1e-5, rtol=0)
    assert QScale.fit("centered_scaled", 5.0 * train + 40.0).std == pytest.approx(5.0 * scale.std, rel=1e-6)


@pytest.mark.parametrize("kind", Q_TARGETS)
def test_every_map_keeps_each_states_greedy_action(kind):
    targets = QScale.fit(kind, Q)(Q)
    assert torch.equal(targets.argmax(-1), Q.argmax(-1))


def test_raw_is_the_teachers_tensor_itself():
    assert QScale.fit("raw")(Q) is Q and QScale() == QScale.fit("raw")


def test_inverse_of_standardized_returns_the_raw_q_values():
    scale = QScale.fit("standardized", Q)
    torch.testing.assert_close(scale.inverse(scale(Q)), Q, atol=1e-4, rtol=0)
    assert scale.to_dict() == {"q_targets": "standardized", "mean": scale.mean, "std": scale.std}


@pytest.mark.parametrize(
    "args, message",
    [
        (("scaled", Q), "q_targets='scaled'"),
        (("standardized", None), "needs the teacher's Q-values"),
        (("standardized", torch.full((10, 4), 3.0)), "have std 0"),
        (("centered_scaled", None), "needs the teacher's Q-values"),
        (("centered_scaled", torch.arange(10.0)[:, None].expand(10, 4)), "advantages on the training split have std 0"),
    ],
)
def test_bad_input_raises(args, message):
    with pytest.raises(ValueError, match=message):
        QScale.fit(*args)


def test_config_refuses_an_unknown_q_targets():
    with pytest.raises(ValueError, match="q_targets='minmax'"):
        RunConfig(q_targets="minmax")


# ---- in the training loop: fitted on the run's own training split, read by losses and metrics ----

BASE = RunConfig(seed=4, n_states=200, epochs=2, teacher_hidden=16, alpha=1.0, mode="soft_only", loss_fn="mse")


def _world():
    teacher = build_teacher(4, 8, 16, 4)
    states = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    return teacher, states


@pytest.mark.parametrize("kind", ["standardized", "centered_scaled"])
@pytest.mark.parametrize("path", ["global", "alone", "stacked"])
def test_a_fitted_run_fits_its_training_split_and_reports_metrics_on_that_scale(path, kind):
    teacher, states = _world()
    config = dataclasses.replace(BASE, q_targets=kind)
    student = build_student(4, 8, 16, 4)
    run = {"global": train_student, "alone": train_alone}.get(path)
    result = run(teacher, student, states, config) if run else train_batched(teacher, states, [student], [config])[0]
    with torch.no_grad():
        q = teacher(states).double()
    q_train = q[torch.from_numpy(result.train_idx)]
    if kind == "centered_scaled":  # the advantages' scale: the same checks on them, their mean is 0
        q, q_train = q - q.mean(-1, keepdim=True), q_train - q_train.mean(-1, keepdim=True)
    assert result.q_scale.q_targets == kind
    assert result.q_scale.mean == pytest.approx(q_train.mean().item() if kind == "standardized" else 0.0, rel=1e-6)
    assert result.q_scale.std == pytest.approx(q_train.std(correction=0).item(), rel=1e-5)
    assert result.q_scale.std != pytest.approx(q.std(correction=0).item(), rel=1e-6)  # not the whole buffer's
    net = build_student(0, 8, 16, 4)
    net.load_state_dict(result.final_state)
    x_val = states[torch.from_numpy(result.val_idx)]
    with torch.no_grad():
        q_s, q_t = net.eval()(x_val), teacher(x_val)
    expected = ((q_s - result.q_scale(q_t)) ** 2).mean().item()  # q_mse on the transformed scale
    assert result.final["q_mse"] == pytest.approx(expected, rel=1e-5)
    assert result.final["q_mse"] != pytest.approx(((q_s - q_t) ** 2).mean().item(), rel=1e-2)


def test_default_raw_records_the_identity_and_other_scales_change_the_run():
    teacher, states = _world()
    runs = {
        kind: train_alone(teacher, build_student(4, 8, 16, 4), states, dataclasses.replace(BASE, q_targets=kind))
        for kind in Q_TARGETS
    }
    assert runs["raw"].q_scale == QScale()
    assert runs["centered"].q_scale == QScale("centered")
    assert runs["centered_scaled"].q_scale.q_targets == "centered_scaled" and runs["centered_scaled"].q_scale.std > 0
    assert len({r.final["q_mse"] for r in runs.values()}) == len(Q_TARGETS)  # different targets learnt
