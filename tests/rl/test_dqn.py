"""Tests of distill_lib.rl.dqn: config validation, the TD target, the stacked replay, determinism,
stacking independence, and the saved artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from distill_lib.core.networks import QNetwork
from distill_lib.rl import dqn
from distill_lib.rl.dqn import (
    DQNConfig,
    StackedReplay,
    linear_epsilon,
    state_dict_digest,
    td_targets,
    train_and_save,
    train_dqn,
)
from distill_lib.rl.dqn_config import budget_grid, gradient_steps, task_recipe
from distill_lib.rl.dqn_selection import CheckpointSelection
from distill_lib.rl.episodes import TEST_EPISODES
from distill_lib.rl.evaluation import closed_loop_returns
from distill_lib.rl.tasks import load_teacher

#: A smoke-size run: 600 env steps in 4 envs, gradient steps from step 64, two selection evaluations.
TINY = DQNConfig(
    total_steps=600, buffer_size=256, batch_size=32, learning_starts=64, target_update_every=50, eval_every=300,
    eval_episodes=2,
)  # fmt: skip


def with_seed(config: DQNConfig, seed: int) -> DQNConfig:
    return DQNConfig.from_params(config.to_dict() | {"seed": seed})


class FixedQ(nn.Module):
    """Returns a fixed table of Q-values whatever the input."""

    def __init__(self, q: torch.Tensor) -> None:
        super().__init__()
        self.q = q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q


def test_defaults_are_valid_and_round_trip() -> None:
    config = DQNConfig()
    assert DQNConfig.from_params(config.to_dict() | {"out_dir": "elsewhere"}) == config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("hidden", 0),
        ("total_steps", 0),
        ("total_steps", 10.0),
        ("n_envs", 0),
        ("updates_per_step", 0),
        ("batch_size", 0),
        ("buffer_size", 16),  # < batch_size 128
        ("lr", 0.0),
        ("lr", float("nan")),
        ("gamma", 1.0),
        ("eps_start", 1.5),
        ("eps_end", 0.5),  # > eps_start when eps_start=0.3 below
        ("eps_fraction", 0.0),
        ("learning_starts", 10),  # < batch_size
        ("loss_fn", "l1"),
        ("double_dqn", 1),
        ("max_grad_norm", -1.0),
        ("eval_every", 0),
        ("eval_episodes", 0),
        ("eval_seed", 10_050),  # overlaps the test seeds 10_000..10_099
        ("eval_seed", 9_995),  # 9_995..10_004 overlaps too
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    extra = {"eps_start": 0.3} if field == "eps_end" else {}
    with pytest.raises(ValueError, match=rf"^{field}="):
        DQNConfig(**({field: value} | extra))


def test_linear_epsilon_schedule() -> None:
    config = DQNConfig(total_steps=1000, eps_start=1.0, eps_end=0.1, eps_fraction=0.5)
    assert linear_epsilon(0, config) == 1.0
    assert linear_epsilon(250, config) == pytest.approx(0.55)
    assert linear_epsilon(500, config) == pytest.approx(0.1)
    assert linear_epsilon(999, config) == pytest.approx(0.1)


def test_td_targets_double_and_plain() -> None:
    # Online prefers action 1 in state 0, action 0 in state 1; target values differ.
    online = FixedQ(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    target = FixedQ(torch.tensor([[5.0, 3.0], [1.0, 4.0]]))
    r, s, term = torch.tensor([1.0, 1.0]), torch.zeros(2, 4), torch.tensor([0.0, 1.0])
    double = td_targets(online, target, r, s, term, gamma=0.5, double_dqn=True)
    plain = td_targets(online, target, r, s, term, gamma=0.5, double_dqn=False)
    torch.testing.assert_close(double, torch.tensor([1.0 + 0.5 * 3.0, 1.0]))  # terminal: no bootstrap
    torch.testing.assert_close(plain, torch.tensor([1.0 + 0.5 * 5.0, 1.0]))


def test_stacked_replay_keeps_each_agents_valid_rows_in_its_own_ring() -> None:
    buf = StackedReplay(n_agents=2, capacity=5, obs_dim=4)
    for i in range(3):  # 3 vector steps of 2 envs; agent 1 skips env 0 on step 1 (an autoreset)
        value = np.array([[10 * i, 10 * i + 1], [10 * i, 10 * i + 1]], dtype=np.float32)  # (K, M)
        obs = np.repeat(value[..., None], 4, axis=-1)  # (K, M, 4)
        valid = np.array([[True, True], [i != 1, True]])
        buf.add(obs, np.ones((2, 2), np.int64), value, obs + 1, value == 21, valid)
    assert buf.size.tolist() == [5, 5]
    # agent 0 stored 6 rows into 5 slots: row 0 (value 0) was overwritten by value 21
    assert sorted(buf.rewards[0].tolist()) == [1.0, 10.0, 11.0, 20.0, 21.0]
    assert sorted(buf.rewards[1].tolist()) == [0.0, 1.0, 11.0, 20.0, 21.0]  # value 10 was never stored
    s, a, r, s_next, term = buf.sample(64, [np.random.default_rng(0), np.random.default_rng(1)])
    assert s.shape == (2, 64, 4) and a.dtype == torch.int64 and r.shape == (2, 64)
    torch.testing.assert_close(s[..., 0], r)  # rows stay aligned: obs v has reward v
    torch.testing.assert_close(s_next[..., 0], r + 1)
    torch.testing.assert_close(term, (r == 21).float())


def test_a_vector_step_where_every_environment_resets_stores_nothing() -> None:
    """Acrobot's untrained agents all hit the time limit together: the next step has no valid row at all."""
    buf = StackedReplay(n_agents=2, capacity=4, obs_dim=3)
    obs = np.ones((2, 2, 3), np.float32)
    buf.add(obs, np.zeros((2, 2), np.int64), np.ones((2, 2)), obs, np.zeros((2, 2), bool), np.ones((2, 2), bool))
    before = (buf.rows.clone(), buf.size.copy())
    buf.add(2 * obs, np.ones((2, 2), np.int64), np.zeros((2, 2)), obs, np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    assert torch.equal(buf.rows, before[0]) and buf.size.tolist() == before[1].tolist() == [2, 2]
    buf.add(
        3 * obs, np.ones((2, 2), np.int64), np.full((2, 2), 3.0), obs, np.zeros((2, 2), bool), np.ones((2, 2), bool)
    )
    assert buf.size.tolist() == [4, 4] and sorted(buf.rewards[0].tolist()) == [1.0, 1.0, 3.0, 3.0]


def test_state_dict_digest_detects_one_bit() -> None:
    torch.manual_seed(0)
    state = QNetwork(4, 8, 2, 0.1).state_dict()
    before = state_dict_digest(state)
    state["0.weight"][0, 0] = torch.nextafter(state["0.weight"][0, 0], torch.tensor(1.0))
    assert state_dict_digest(state) != before


@pytest.fixture(scope="module")
def tiny_run() -> tuple[dict[str, torch.Tensor], dict]:
    (agent,) = train_dqn(TINY, progress=False)
    return agent.state, agent.record


#: budgets of a TINY run: off the eval_every grid (100, a ragged 102 -> 104, 450), on it (300), the full run (600)
BUDGETS = [100, 102, 300, 450, 600]


@pytest.fixture(scope="module")
def budget_run() -> dqn.TrainedAgent:
    (agent,) = train_dqn(TINY, progress=False, budgets=BUDGETS)
    return agent


def test_train_dqn_is_bit_deterministic(tiny_run) -> None:
    state, record = tiny_run
    (again,) = train_dqn(TINY, progress=False)
    for name in state:
        assert torch.equal(state[name], again.state[name]), name
    assert record["state_sha256"] == again.record["state_sha256"]
    assert record["episode_returns"] == again.record["episode_returns"]
    # A different seed gives different weights (the test above could not pass vacuously).
    (other,) = train_dqn(with_seed(TINY, 1), progress=False)
    assert state_dict_digest(other.state) != record["state_sha256"]


def test_an_agent_trained_among_others_is_the_agent_trained_alone(budget_run) -> None:
    alone = budget_run.record
    stacked = train_dqn([with_seed(TINY, 5), TINY, with_seed(TINY, 7)], progress=False, budgets=BUDGETS)
    among = stacked[1].record
    for key in ("state_sha256", "episode_returns", "episode_end_steps", "evals", "best_step", "budgets"):
        assert among[key] == alone[key], key
    assert stacked[0].record["state_sha256"] != alone["state_sha256"]
    assert stacked[0].record["budgets"] != alone["budgets"]
    assert among["agents_trained_together"] == 3 and alone["agents_trained_together"] == 1


def test_budgets_leave_the_run_and_its_full_checkpoint_as_they_were(tiny_run, budget_run) -> None:
    state, record = tiny_run
    assert budget_run.record["state_sha256"] == record["state_sha256"]
    assert all(torch.equal(state[name], budget_run.state[name]) for name in state)
    for key in ("episode_returns", "evals", "best_step", "best_selection_return"):
        assert budget_run.record[key] == record[key], key  # the extra evaluations disturb nothing
    full = budget_run.record["budgets"][-1]
    assert full["steps"] == TINY.total_steps and full["state_sha256"] == record["state_sha256"]
    assert full["best_step"] == record["best_step"] and full["selection_return"] == record["best_selection_return"]
    assert record["budgets"] == [] and state_dict_digest(budget_run.budget_states[-1]) == record["state_sha256"]


def test_each_budget_keeps_the_best_checkpoint_up_to_it(budget_run) -> None:
    record, evals = budget_run.record, budget_run.record["evals"]
    assert [b["steps"] for b in record["budgets"]] == BUDGETS
    assert [b["env_steps"] for b in record["budgets"]] == [100, 104, 300, 452, 600]  # whole vector steps of 4
    for b, state in zip(record["budgets"], budget_run.budget_states, strict=True):
        assert state_dict_digest(state) == b["state_sha256"]
        earlier = [e for e in evals if e["step"] <= b["env_steps"]]
        best_regular = max((e["mean_return"] for e in earlier), default=-np.inf)
        if b["best_step"] == b["env_steps"] and all(e["step"] != b["env_steps"] for e in earlier):
            assert b["selection_return"] > best_regular  # the budget's own evaluation won, strictly
        else:  # the first regular checkpoint with the highest return
            first = next(e for e in earlier if e["mean_return"] == best_regular)
            assert (b["best_step"], b["selection_return"]) == (first["step"], first["mean_return"])
        # the selection return is that of the weights kept: replay the selection episodes
        net = dqn.agent_network(TINY)
        net.load_state_dict(state)
        replay = closed_loop_returns([net], TINY.eval_episodes, TINY.eval_seed, env_id=TINY.env_id).mean()
        assert replay == b["selection_return"]
        assert b["gradient_steps"] == gradient_steps(TINY, b["env_steps"])


def test_gradient_steps_count_the_updates_after_learning_starts() -> None:
    # TINY: 4 envs, 1 update per vector step, learning from env step 64 = the end of vector step 16 (1-based)
    assert [gradient_steps(TINY, s) for s in (4, 60, 64, 68, 100, 600)] == [0, 0, 1, 2, 10, 135]
    lunar = task_recipe("LunarLander-v3")  # 2 updates per vector step of 4 envs from env step 1000
    assert gradient_steps(lunar, 1_000) == 2 and gradient_steps(lunar, 300_000) == 2 * (75_000 - 250 + 1)


def test_budget_grid_is_log_spaced_up_to_the_budget() -> None:
    assert budget_grid(100_000) == [1_000, 3_000, 10_000, 30_000, 100_000]
    assert budget_grid(300_000) == [1_000, 3_000, 10_000, 30_000, 100_000, 300_000]
    assert budget_grid(200_000) == [1_000, 3_000, 10_000, 30_000, 100_000, 200_000]
    assert budget_grid(400) == [400] and budget_grid(1_000) == [1_000]
    with pytest.raises(ValueError, match=r"^total_steps=0: must be"):
        budget_grid(0)


@pytest.mark.parametrize(("budgets", "match"), [([700], r"budget 700: must be .*total_steps=600"), ([0], "budget 0"),
                                                ([100, 100], "listed twice"), ([1.5], "budget 1.5")])  # fmt: skip
def test_bad_budgets_are_refused_in_one_line(budgets: list, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        train_dqn(TINY, progress=False, budgets=budgets)
    assert "\n" not in str(caught.value)


def test_checkpoint_selection_keeps_the_earlier_of_ties_and_a_budgets_own_evaluation_only_there() -> None:
    flat = torch.zeros(2, 3)
    selection = CheckpointSelection(flat, [6, 8, 12], n_envs=2)
    for step, returns in [(4, [1.0, 5.0]), (6, [3.0, 5.0]), (8, [0.5, 9.0]), (12, [3.0, 0.0])]:
        flat = torch.full((2, 3), float(step))  # the weights at this step
        if step in (4, 8, 12):  # the regular evaluations
            selection.offer(step, np.array(returns), flat)
        if selection.budget_ends_at(step):
            selection.close_budgets(step, np.array(returns), flat, gradient_steps=step)
    at6, at8, at12 = selection.budget_checkpoints()
    assert at6.best_step.tolist() == [6, 4] and at6.flat[:, 0].tolist() == [6.0, 4.0]  # agent 1 ties: the earlier
    assert at8.best_step.tolist() == [4, 8] and at8.selection_return.tolist() == [1.0, 9.0]  # 6 was budget 6's only
    assert at12.best_step.tolist() == [12, 8] and selection.best_step.tolist() == [12, 8]
    assert not selection.budget_ends_at(10)


def test_agents_trained_together_may_differ_only_in_seed() -> None:
    other = DQNConfig.from_params(TINY.to_dict() | {"lr": 1e-3, "seed": 1})
    with pytest.raises(ValueError, match=r"differ in \['lr'\]"):
        train_dqn([TINY, other], progress=False)
    with pytest.raises(ValueError, match="repeat"):
        train_dqn([TINY, TINY], progress=False)


def test_no_transition_crosses_an_autoreset(monkeypatch) -> None:
    # A junk autoreset row would jump from a final state to a fresh start; a real CartPole step moves
    # x by tau * x_dot exactly (explicit Euler, tau = 0.02), to float32 rounding.
    buffers = []
    original = dqn.StackedReplay.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        buffers.append(self)

    monkeypatch.setattr(dqn.StackedReplay, "__init__", spy)
    config = DQNConfig.from_params(TINY.to_dict() | {"buffer_size": 1000})
    record = train_dqn(config, progress=False)[0].record
    (buf,) = buffers
    n = int(buf.size[0])
    s, s_next = buf.obs[0, :n].double(), buf.next_obs[0, :n].double()
    # every env step is stored but the autoreset step after each episode that ended before the last vector step
    resets = sum(step < config.total_steps for step in record["episode_end_steps"])
    assert resets > 0 and n == config.total_steps - resets
    torch.testing.assert_close(s_next[:, 0], s[:, 0] + 0.02 * s[:, 1], atol=1e-5, rtol=0)


def test_train_dqn_learns_and_records(tiny_run) -> None:
    state, record = tiny_run
    init = QNetwork(4, 64, 2, 0.1)
    assert state.keys() == init.state_dict().keys()
    assert [e["step"] for e in record["evals"]] == [300, 600]
    assert record["evals"][-1]["mean_loss"] is not None and np.isfinite(record["evals"][-1]["mean_loss"])
    assert record["best_selection_return"] == max(e["mean_return"] for e in record["evals"])
    assert sum(record["episode_returns"]) <= TINY.total_steps
    assert record["episode_end_steps"] == sorted(record["episode_end_steps"])
    assert all(step % TINY.n_envs == 0 for step in record["episode_end_steps"])
    json.dumps(record, allow_nan=False)


def test_train_and_save_writes_loadable_artifacts(tmp_path) -> None:
    config = DQNConfig(**(TINY.to_dict() | {"total_steps": 100, "eval_every": 100, "eval_episodes": 1}))
    with pytest.raises(ValueError, match="one file stem per config"):
        train_and_save([config, with_seed(config, 1)], [tmp_path / "a"], progress=False)
    (record,) = train_and_save(config, tmp_path / "teacher", progress=False)
    saved = json.loads((tmp_path / "teacher.json").read_text())
    assert saved["config"] == config.to_dict() and len(saved["test_returns"]) == TEST_EPISODES
    lo, hi = saved["test_ci95"]
    assert lo <= saved["test_mean"] <= hi and saved["test_mean"] == record["test_mean"]
    teacher = load_teacher("CartPole-v1", tmp_path / "teacher.pt")
    assert state_dict_digest(teacher.state_dict()) == saved["state_sha256"]
