"""Tests of distill_lib.rl.evaluation: closed-loop returns equal the one-episode-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from distill_lib.core.config import RunConfig
from distill_lib.core.networks import QNetwork, build_student
from distill_lib.core.training import train_batched
from distill_lib.rl.cartpole import TEST_SEED, collect_states, greedy_returns, load_cartpole_teacher
from distill_lib.rl.evaluation import (
    _lockstep_returns,
    _stacked_q,
    closed_loop_returns,
    count_parameters,
)


class LeanPolicy(nn.Module):
    """Not a ``QNetwork``: runs its own forward. Pushes toward the side the pole leans to (25-70 steps)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 4) -> (B, 2)
        lean = x[:, 2]
        return torch.stack([-lean, lean], dim=-1)


def _student(teacher: nn.Module, states: torch.Tensor, width: int, epochs: int) -> QNetwork:
    """A briefly distilled student: episodes of very different lengths, some reaching 500."""
    config = RunConfig(
        seed=0,
        input_dim=4,
        output_dim=2,
        teacher_hidden=64,
        student_hidden=width,
        n_states=len(states),
        epochs=epochs,
        alpha=0.7,
        mode="blended",
    )
    (result,) = train_batched(teacher, states, [build_student(0, 4, 64, 2, hidden_dim=width)], [config])
    net = QNetwork(4, width, 2, dropout=0.05)
    net.load_state_dict(result.final_state)
    return net


@pytest.fixture(scope="module")
def nets() -> list[nn.Module]:
    """Widths 4 to 64 interleaved (groups are not contiguous), a failing network and a non-QNetwork."""
    teacher = load_cartpole_teacher()
    states = torch.from_numpy(collect_states(teacher, 4, 0.1, 1000))
    torch.manual_seed(0)
    weak = QNetwork(4, 8, 2, dropout=0.05)  # untrained: every episode fails within ~10 steps
    return [
        _student(teacher, states, 8, 5),
        teacher,
        _student(teacher, states, 4, 10),
        weak,
        _student(teacher, states, 16, 3),
        LeanPolicy(),
        _student(teacher, states, 8, 10),
        _student(teacher, states, 32, 10),
    ]


@pytest.fixture(scope="module")
def reference(nets: list[nn.Module]) -> np.ndarray:
    """``greedy_returns`` of every network on the 100 test episodes: ``(K, 100)``."""
    return np.stack([greedy_returns(net, 100, TEST_SEED) for net in nets])


def test_vectorised_returns_equal_greedy_returns(nets: list[nn.Module], reference: np.ndarray) -> None:
    returns = closed_loop_returns(nets, n_episodes=100, seed=TEST_SEED)
    assert returns.shape == (len(nets), 100) and returns.dtype == np.float64
    np.testing.assert_array_equal(returns, reference)
    # the cases are there: a failing network, the teacher at 500, networks in between
    assert reference[3].mean() < 20 and np.all(reference[1] == 500.0)
    assert sum(0 < np.mean(r == 500.0) < 1 for r in reference) >= 2


def test_old_lockstep_path_equals_greedy_returns(nets: list[nn.Module], reference: np.ndarray) -> None:
    np.testing.assert_array_equal(_lockstep_returns(nets[:4], 100, TEST_SEED), reference[:4])


def test_networks_alone_and_together_give_the_same_returns(nets: list[nn.Module], reference: np.ndarray) -> None:
    for k in (0, 3):
        np.testing.assert_array_equal(closed_loop_returns([nets[k]], 100, TEST_SEED)[0], reference[k])
    # a later first episode: episode i is reset(seed=seed + i)
    np.testing.assert_array_equal(closed_loop_returns(nets[:3], 5, TEST_SEED + 7), reference[:3, 7:12])


def test_batched_q_values_change_an_action_only_at_an_exact_tie(nets: list[nn.Module]) -> None:
    """The stacked forward over ``(S, E, 4)`` vs the one-row forward of ``greedy_returns``, on visited states.

    The two round differently in the last float32 bits at most; the greedy actions agree
    wherever the one-row Q-values are not exactly tied.
    """
    students = [nets[0], nets[6]]  # width 8, one stack
    states = torch.from_numpy(collect_states(students[0], 3, 0.2, TEST_SEED))  # (E, 4)
    with torch.no_grad():
        batched = _stacked_q(students, torch.device("cpu"))(states.expand(2, -1, -1))  # (2, E, 2)
        one_row = torch.stack([torch.cat([net.eval()(s[None]) for s in states]) for net in students])  # (2, E, 2)
    torch.testing.assert_close(batched, one_row, rtol=1e-6, atol=1e-6)
    untied = one_row[..., 0] != one_row[..., 1]
    assert untied.float().mean() > 0.99
    assert torch.equal(batched.argmax(-1)[untied], one_row.argmax(-1)[untied])


def test_networks_are_not_modified_and_modes_are_restored(nets: list[nn.Module]) -> None:
    net = nets[2]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    nets[3].eval()
    closed_loop_returns([net, nets[3]], n_episodes=2, seed=0)
    assert net.training and not nets[3].training
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_no_networks_give_an_empty_table() -> None:
    assert closed_loop_returns([], n_episodes=3).shape == (0, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is tested where one exists")
def test_cuda_forward_gives_the_same_returns(nets: list[nn.Module], reference: np.ndarray) -> None:
    np.testing.assert_array_equal(closed_loop_returns(nets, 100, TEST_SEED, device="cuda"), reference)


@pytest.mark.parametrize("h", [1, 4, 32, 100])
def test_parameter_count_is_h2_plus_12h_plus_2(h):
    assert count_parameters(QNetwork(4, h, 2, dropout=0.0)) == h * h + 12 * h + 2


@pytest.mark.parametrize(("kwargs", "match"), [({"n_episodes": 0}, "n_episodes=0"), ({"seed": -1}, "seed=-1")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        closed_loop_returns([], **kwargs)
