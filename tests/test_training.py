"""The training loop against an independent, plain implementation of the reference protocol."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_lib import RunConfig, build_student, build_teacher, train_student
from distill_lib.core.data import synthetic_states


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
