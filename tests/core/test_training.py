"""The training loop against an independent, plain implementation of the reference protocol."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_lib import RunConfig, build_student, build_teacher, train_student
from distill_lib.core.data import synthetic_states
from distill_lib.core.training import train_alone, train_batched


def _plain_reference(seed, alpha, n_states, epochs, teacher_hidden=64):
    """The protocol written out plainly, with nn.LayerNorm and two intra-op threads."""

    def net(h, p):
        m = nn.Sequential(
            nn.Linear(8, h),
            nn.LayerNorm(h),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(h, h),
            nn.LayerNorm(h),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(h, 4),
        )
        for mod in m:
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)
        return m

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    teacher = net(teacher_hidden, 0.1).eval()
    x = torch.from_numpy(np.random.default_rng(seed + 10000).standard_normal((n_states, 8)).astype(np.float32))
    torch.manual_seed(seed + 20000)
    student = net(max(16, teacher_hidden // 2), 0.05)
    random.seed(seed + 30000)
    np.random.seed(seed + 30000)
    torch.manual_seed(seed + 30000)
    perm = np.random.permutation(n_states)
    n_val = max(1, int(n_states * 0.1))
    xtr, xva = x[torch.from_numpy(perm[: n_states - n_val])], x[torch.from_numpy(perm[n_states - n_val :])]
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)

    def loss_of(s, t):
        soft = F.kl_div(F.log_softmax(s / 3, -1), F.softmax(t / 3, -1), reduction="batchmean") * 9
        return soft if alpha == 1 else alpha * soft + (1 - alpha) * F.cross_entropy(s, t.argmax(-1))

    agreements = []
    for _ in range(epochs):
        student.train()
        idx = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 64):
            xb = xtr[idx[i : i + 64]]
            with torch.no_grad():
                t = teacher(xb)
            loss = loss_of(student(xb), t)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
        student.eval()
        idx = torch.randperm(len(xva))
        agree = 0
        with torch.no_grad():
            for i in range(0, len(xva), 64):
                xb = xva[idx[i : i + 64]]
                agree += int((student(xb).argmax(-1) == teacher(xb).argmax(-1)).sum())
        agreements.append(agree / len(xva))
    return student.state_dict(), agreements


@pytest.mark.parametrize("seed, alpha", [(3, 0.0), (7, 0.7), (11, 1.0)])
def test_library_equals_plain_two_thread_protocol_bit_for_bit(seed, alpha):
    n_states, epochs = 1200, 3
    ref_state, ref_agree = _plain_reference(seed, alpha, n_states, epochs)
    cfg = RunConfig(
        seed=seed,
        n_states=n_states,
        epochs=epochs,
        mode={0.0: "hard_only", 0.7: "blended", 1.0: "soft_only"}[alpha],
        alpha=alpha,
    )
    teacher = build_teacher(seed, 8, 64, 4)
    student = build_student(seed, 8, 64, 4)
    result = train_student(teacher, student, torch.from_numpy(synthetic_states(seed, n_states, 8)), cfg)
    assert [h["action_agreement"] for h in result.history] == ref_agree
    for key, value in ref_state.items():
        assert torch.equal(result.final_state[key], value), key


def test_deterministic_history_and_best_tracking():
    cfg = RunConfig(n_states=400, epochs=3, teacher_hidden=16, batch_size=32)
    runs = []
    for _ in range(2):
        teacher, student = build_teacher(cfg.seed, 8, 16, 4), build_student(cfg.seed, 8, 16, 4)
        runs.append(train_student(teacher, student, torch.from_numpy(synthetic_states(cfg.seed, 400, 8)), cfg))
    a, b = runs
    assert a.history == b.history and len(a.history) == 3
    assert a.best_val_loss == min(h["val_loss"] for h in a.history)
    assert a.history[a.best_epoch]["val_loss"] == a.best_val_loss
    assert set(a.final) >= {
        "action_agreement",
        "mean_prob_similarity",
        "prob_similarity_t1",
        "kl_t1",
        "q_mse",
        "q_mae",
        "q_cosine",
        "top2_agreement",
        "regret",
        "val_loss",
    }
    assert len(a.train_idx) == 360 and len(a.val_idx) == 40 and not set(a.train_idx) & set(a.val_idx)


def test_temperature_decays_per_epoch():
    cfg = RunConfig(n_states=200, epochs=3, teacher_hidden=16, temp_decay=0.5, temperature=4.0)
    result = train_student(
        build_teacher(1, 8, 16, 4), build_student(1, 8, 16, 4), torch.from_numpy(synthetic_states(1, 200, 8)), cfg
    )
    assert [h["temperature"] for h in result.history] == [4.0, 2.0, 1.0]


def test_rejects_states_of_the_wrong_shape():
    with pytest.raises(ValueError, match="expects \\(200, 8\\)"):
        train_student(
            build_teacher(1, 8, 16, 4), build_student(1, 8, 16, 4), torch.zeros(100, 8), RunConfig(n_states=200)
        )


# ---- the one loop: its parameters, and an objective added in one place ----------------------


def _small_world(seed=2):
    teacher, student = build_teacher(seed, 8, 16, 4), build_student(seed, 8, 16, 4)
    return teacher, student, torch.from_numpy(synthetic_states(seed, 200, 8))


def test_a_new_objective_is_one_registry_entry_and_both_paths_use_it(monkeypatch):
    """``mse + 100``: the loop reports its values, and trains exactly as MSE (same gradient)."""
    from distill_lib.core import config as config_module
    from distill_lib.core import losses
    from distill_lib.core.training import train_alone, train_batched

    calls = []

    def offset_mse(student, teacher, alpha, temperature, dim=-1):
        calls.append(tuple(student.shape))
        return losses.mse_q_loss(student, teacher) + 100.0

    monkeypatch.setitem(losses.LOSSES, "offset_mse", offset_mse)
    assert "offset_mse" in config_module.loss_names()  # the config's objectives are the registry's
    base = RunConfig(n_states=200, epochs=2, teacher_hidden=16, seed=2, alpha=0.5, loss_fn="mse")
    toy = RunConfig(**{**base.to_dict(), "loss_fn": "offset_mse"})
    kl = RunConfig(**{**base.to_dict(), "loss_fn": "kl"})

    def run(path, config):
        teacher, student, states = _small_world()
        if path == "global":
            return train_student(teacher, student, states, config)
        if path == "alone":
            return train_alone(teacher, student, states, config)
        return train_batched(teacher, states, [student, build_student(2, 8, 16, 4)], [config, kl])[0]

    for path in ("global", "alone", "stacked"):
        calls.clear()
        got, mse = run(path, toy), run(path, base)
        assert calls and all(len(shape) == (3 if path == "stacked" else 2) for shape in calls), path
        for record, reference in zip(got.history, mse.history):
            assert record["train_loss"] == pytest.approx(reference["train_loss"] + 100.0), path
            assert record["val_loss"] == pytest.approx(reference["val_loss"] + 100.0), path
        for key, value in got.final_state.items():
            assert torch.equal(value, mse.final_state[key]), (path, key)


def test_the_loop_refuses_combinations_it_cannot_execute():
    from distill_lib.core.training import train

    teacher, student, states = _small_world()
    cfg = RunConfig(n_states=200, epochs=1, teacher_hidden=16, seed=2)
    with pytest.raises(ValueError, match="streams='global' draws dropout inside nn.Dropout"):
        train(teacher, states, [student], [cfg], streams="global", stacked=True)
    with pytest.raises(ValueError, match="2 students with stacked=False"):
        train(teacher, states, [student, student], [cfg, cfg], streams="per_student", stacked=False)
    with pytest.raises(ValueError, match="streams='numpy'"):
        train(teacher, states, [student], [cfg], streams="numpy", stacked=False)


def test_on_epoch_sees_each_record_as_it_is_made():
    teacher, student, states = _small_world()
    cfg = RunConfig(n_states=200, epochs=3, teacher_hidden=16, seed=2)
    seen = []
    result = train_student(teacher, student, states, cfg, on_epoch=lambda record: seen.append(dict(record)))
    assert seen == result.history


def test_every_tensor_the_per_student_paths_make_is_on_the_states_device():
    """Under a ``meta`` default device, a tensor made without the states' device would be on ``meta``
    and the run would fail: what keeps a CUDA run from silently moving work to the CPU."""
    configs = [RunConfig(seed=s, n_states=200, epochs=2, teacher_hidden=16, alpha=0.7, mode="blended") for s in (1, 2)]
    configs.append(RunConfig(seed=3, n_states=200, epochs=2, teacher_hidden=16, loss_fn="mse", temp_decay=0.5))
    teacher, states = build_teacher(7, 8, 16, 4), torch.randn(200, 8)
    students = [build_student(c.seed, 8, 16, 4) for c in configs]
    with torch.device("meta"):
        results = train_batched(teacher, states, students, configs)
        alone = train_alone(teacher, students[0], states, configs[0])
    assert results[0].final_state["0.weight"].device.type == "cpu" and alone.history


# ---- snapshots: the weights after chosen epochs ---------------------------------------------------


@pytest.mark.parametrize("path", ["global", "alone", "stacked"])
def test_a_snapshot_equals_the_run_stopped_after_that_epoch(path):
    from distill_lib.core.training import train_alone, train_batched

    def run(epochs, snapshot_epochs=()):
        teacher, student, states = _small_world()
        cfg = RunConfig(n_states=200, epochs=epochs, teacher_hidden=16, seed=2, temp_decay=0.9)
        if path == "global":
            return train_student(teacher, student, states, cfg, snapshot_epochs=snapshot_epochs)
        if path == "alone":
            return train_alone(teacher, student, states, cfg, snapshot_epochs=snapshot_epochs)
        other = build_student(5, 8, 16, 4)  # a second student in the stacked call: its own rows
        configs = [cfg, RunConfig(**{**cfg.to_dict(), "seed": 5})]
        return train_batched(teacher, states, [student, other], configs, snapshot_epochs=snapshot_epochs)[0]

    full = run(3, snapshot_epochs=[0, 1, 2])
    assert sorted(full.snapshots) == [0, 1, 2]
    for epoch in (0, 1):
        stopped = run(epoch + 1)
        assert full.history[: epoch + 1] == stopped.history
        for key, value in stopped.final_state.items():
            assert torch.equal(full.snapshots[epoch][key], value), (epoch, key)
    assert all(torch.equal(full.snapshots[2][k], v) for k, v in full.final_state.items())
    assert not torch.equal(full.snapshots[0]["0.weight"], full.snapshots[1]["0.weight"])  # copies, not views
    without = run(3)  # taking snapshots changes nothing
    assert without.snapshots == {} and without.history == full.history
    assert all(torch.equal(without.final_state[k], v) for k, v in full.final_state.items())


@pytest.mark.parametrize("epochs", [[3], [-1], [1.0], [True]])
def test_snapshot_epochs_must_be_epoch_indices(epochs):
    teacher, student, states = _small_world()
    cfg = RunConfig(n_states=200, epochs=3, teacher_hidden=16, seed=2)
    with pytest.raises(ValueError, match="each must be an epoch index in \\[0, 2\\]"):
        train_student(teacher, student, states, cfg, snapshot_epochs=epochs)
