"""Tests of distill_lib.rl.evaluation: closed-loop returns equal the one-episode-at-a-time reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from distill_lib.core.config import RunConfig
from distill_lib.core.networks import QNetwork, build_student
from distill_lib.core.training import train_batched
from distill_lib.rl.episodes import (
    TEST_SEED,
    greedy_action,
    greedy_returns,
    make_env,
)
from distill_lib.rl.evaluation import (
    StackedGreedy,
    _lockstep_returns,
    closed_loop,
    closed_loop_returns,
    count_parameters,
)
from distill_lib.rl.exploration import collect_states
from distill_lib.rl.tasks import load_teacher


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
    teacher = load_teacher("CartPole-v1")
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


@pytest.mark.parametrize("which", [(0, 6), (1,), (7,)])  # two students of width 8; the teacher; width 32
def test_stacked_q_values_equal_the_one_row_pass_to_rounding(nets: list[nn.Module], which: tuple[int, ...]) -> None:
    """``StackedGreedy`` over ``(S, E, 4)`` vs the one-row forward of ``greedy_returns``, on visited states.

    The standard of the lockstep loop, which ran the module on a batch of states: the
    stacked Q-values differ from the one-row pass by float32 rounding of the same order as
    the module's own batched pass does, and the greedy actions agree wherever the one-row
    Q-values are not exactly tied.
    """
    group = [nets[k] for k in which]
    states = torch.from_numpy(collect_states(group[0], 3, 0.2, TEST_SEED))  # (E, 4) on- and off-policy states
    with torch.no_grad():
        batched = StackedGreedy(group, torch.device("cpu")).q_values(states.expand(len(group), -1, -1))  # (S, E, 2)
        one_row = torch.stack([torch.cat([net.eval()(s[None]) for s in states]) for net in group])  # (S, E, 2)
        module_batch = torch.stack([net(states) for net in group])  # (S, E, 2) the lockstep's forward
    ulp = torch.finfo(torch.float32).eps * one_row.abs().max().item()
    error, module_error = (batched - one_row).abs().max().item(), (module_batch - one_row).abs().max().item()
    assert error <= 2 * module_error + 8 * ulp, (error, module_error, ulp)
    untied = one_row[..., 0] != one_row[..., 1]
    assert untied.float().mean() > 0.99
    assert torch.equal(batched.argmax(-1)[untied], one_row.argmax(-1)[untied])


def test_finished_networks_and_episodes_leave_the_forward() -> None:
    """Only the rectangle of running networks x episodes is computed, and its actions are the full pass's."""
    torch.manual_seed(1)
    group = [QNetwork(4, 8, 2, dropout=0.0) for _ in range(3)]
    policy = StackedGreedy(group, torch.device("cpu"))
    obs = torch.randn(3, 5, 4)
    running = np.zeros((3, 5), dtype=bool)
    running[0, 1] = running[2, 3] = True
    rows, cols, actions = policy.act(obs, running)
    assert rows.tolist() == [0, 2] and cols.tolist() == [1, 3] and actions.shape == (2, 2)
    with torch.no_grad():
        full = policy.q_values(obs).argmax(-1).numpy()
    np.testing.assert_array_equal(actions, full[np.ix_(rows, cols)])


def test_plain_students_act_stacked_and_earn_their_own_returns() -> None:
    """``PlainQNetwork`` students (no LayerNorm, no dropout) are stacked too, beside study students."""
    from distill_lib.core.networks import PlainQNetwork
    from distill_lib.rl.evaluation import _greedy_groups

    teacher = load_teacher("CartPole-v1")
    states = torch.from_numpy(collect_states(teacher, 3, 0.1, 1000))
    config = RunConfig(
        seed=0, input_dim=4, output_dim=2, teacher_hidden=64, student_hidden=16, n_states=len(states), epochs=4,
        alpha=0.7, mode="blended", student_kind="plain",
    )  # fmt: skip
    configs = [
        config,
        RunConfig(**{**config.to_dict(), "seed": 1, "loss_fn": "mse", "alpha": 1.0, "mode": "soft_only"}),
    ]
    results = train_batched(
        teacher, states, [build_student(c.seed, 4, 64, 2, 16, kind="plain") for c in configs], configs
    )
    plain = []
    for result in results:
        net = PlainQNetwork(4, 16, 2)
        net.load_state_dict(result.final_state)
        plain.append(net)
    nets = [plain[0], QNetwork(4, 16, 2, dropout=0.05), plain[1]]
    groups = _greedy_groups(nets, torch.device("cpu"))
    assert [(idx, type(policy).__name__) for idx, policy in groups] == [
        ([0, 2], "StackedGreedy"),
        ([1], "StackedGreedy"),
    ]
    x = torch.from_numpy(collect_states(plain[0], 2, 0.2, TEST_SEED))  # (E, 4)
    with torch.no_grad():
        stacked = groups[0][1].q_values(x.expand(2, -1, -1))  # (2, E, 2)
        module = torch.stack([plain[0](x), plain[1](x)])
    torch.testing.assert_close(stacked, module, rtol=1e-5, atol=1e-5)
    reference = np.stack([greedy_returns(net, 20, TEST_SEED) for net in nets])
    np.testing.assert_array_equal(closed_loop_returns(nets, 20, TEST_SEED), reference)
    assert len({r.mean() for r in reference}) > 1  # networks that behave differently


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


def _own_state_agreement(net: nn.Module, teacher: nn.Module, n_episodes: int, seed: int) -> tuple[int, int, int]:
    """The network's own greedy episodes (scalar env): (states, states where it acts as the teacher, near ties).

    A near tie (either network's two Q-values within 1e-3) is a state where float32 rounding of
    a batched vs a one-row pass can flip an action, so the count may differ there and only there.
    """
    states: list[np.ndarray] = []
    env = make_env()
    with torch.no_grad():
        for i in range(n_episodes):
            obs, _ = env.reset(seed=seed + i)
            done = False
            while not done:
                states.append(obs)
                obs, _, terminated, truncated, _ = env.step(greedy_action(net.eval(), obs))
                done = terminated or truncated
        x = torch.from_numpy(np.stack(states))
        q_net, q_teacher = net(x), teacher(x)
        same = q_net.argmax(-1) == q_teacher.argmax(-1)
        near = ((q_net[:, 0] - q_net[:, 1]).abs() < 1e-3) | ((q_teacher[:, 0] - q_teacher[:, 1]).abs() < 1e-3)
    return len(states), int(same.sum()), int(near.sum())


def test_agreement_on_own_states_counts_every_visited_state(nets: list[nn.Module]) -> None:
    teacher = load_teacher("CartPole-v1")
    loop = closed_loop(nets, 10, TEST_SEED, reference=teacher)
    np.testing.assert_array_equal(loop.returns, closed_loop_returns(nets, 10, TEST_SEED))
    np.testing.assert_array_equal(loop.steps, loop.returns.sum(1))  # CartPole: one state per reward
    for k, net in enumerate(nets):
        steps, matches, near_ties = _own_state_agreement(net, teacher, 10, TEST_SEED)
        assert loop.steps[k] == steps, k
        assert abs(loop.matches[k] - matches) <= near_ties, k
    assert loop.agreement[1] >= 0.999  # the teacher agrees with itself (up to rounding at exact ties)
    assert loop.agreement.min() < 0.9  # and the test can tell a network that does not
    assert closed_loop(nets, 2, TEST_SEED).matches is None


def test_acrobot_returns_equal_gymnasiums_episode_for_episode() -> None:
    """The numpy Acrobot port: the shipped teacher, its peers and untrained networks, 40 test episodes each."""
    from distill_lib.rl.tasks import ASSETS, load_teacher

    peers = [load_teacher("Acrobot-v1", f) for f in sorted((ASSETS / "acrobot" / "independent").glob("seed*.pt"))]
    torch.manual_seed(3)
    untrained = [QNetwork(6, 16, 3, dropout=0.1).eval() for _ in range(2)]  # rarely reach the bar: truncations
    nets = [load_teacher("Acrobot-v1"), *peers, *untrained]
    returns = closed_loop_returns(nets, 40, TEST_SEED, env_id="Acrobot-v1")
    reference = np.stack([greedy_returns(net, 40, TEST_SEED, env_id="Acrobot-v1") for net in nets])
    np.testing.assert_array_equal(returns, reference)
    assert reference[0].mean() > -100 and (reference[-2:] == -500.0).any()  # solved and truncated episodes
