"""The acceptance table of the original comparison (seed 42), reproduced by the library."""

import pytest
import torch

from distill_lib import MODES, RunConfig, build_student, build_teacher, train_student
from distill_lib.core.data import synthetic_states

#: end-to-end runs of the real command: the slow tier (make test-fast leaves them out)
pytestmark = pytest.mark.slow

#: mode -> (action agreement, prob. similarity at T = 3, best val loss, best epoch), from the original note
EXPECTED = {
    "hard_only": (0.934, 0.814405, 0.144727, 24),
    "blended": (0.932, 0.980610, 0.162405, 24),
    "soft_only": (0.932, 0.988739, 0.014645, 24),
}


@pytest.fixture(scope="module")
def world():
    teacher = build_teacher(42, 8, 64, 4)
    states = torch.from_numpy(synthetic_states(42, 5000, 8))
    init = build_student(42, 8, 64, 4).state_dict()
    return teacher, states, init


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_acceptance_table(world, mode):
    teacher, states, init = world
    student = build_student(42, 8, 64, 4)
    student.load_state_dict(init)
    result = train_student(teacher, student, states, RunConfig(mode=mode, alpha=MODES[mode]))
    agreement, similarity, best_loss, best_epoch = EXPECTED[mode]
    assert result.final["action_agreement"] == agreement
    assert result.final["mean_prob_similarity"] == pytest.approx(similarity, abs=1e-5)
    assert result.best_val_loss == pytest.approx(best_loss, abs=1e-5)
    assert result.best_epoch == best_epoch
