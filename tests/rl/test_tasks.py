"""Tests of distill_lib.rl.tasks and the task-generic episode code: Acrobot and LunarLander at smoke size,
unsuitable environments refused in one line, your own checkpoint loaded or refused."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import plain_qnetwork
from torch import nn

from distill_lib.core.networks import QNetwork
from distill_lib.core.schema import ParamError
from distill_lib.rl import dqn
from distill_lib.rl.dqn_config import TASK_RECIPES, DQNConfig, task_recipe
from distill_lib.rl.episodes import greedy_returns
from distill_lib.rl.evaluation import closed_loop
from distill_lib.rl.exploration import collect_buffers, collect_states, random_returns, score_floor
from distill_lib.rl.rollouts import mixed_rollout_states
from distill_lib.rl.tasks import KNOWN_TASKS, TaskError, TaskParams, load_teacher, task, task_teachers

OTHER_TASKS = ["Acrobot-v1", "LunarLander-v3"]


def _net(env_id: str, hidden: int, seed: int) -> QNetwork:
    torch.manual_seed(seed)
    t = task(env_id)
    return QNetwork(t.obs_dim, hidden, t.n_actions, dropout=0.1).eval()


class Constant(nn.Module):
    """Not a QNetwork (runs its own forward): always the same action."""

    def __init__(self, action: int, n_actions: int) -> None:
        super().__init__()
        self.q = torch.zeros(n_actions)
        self.q[action] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q.expand(len(x), -1)


@pytest.mark.parametrize("env_id", list(KNOWN_TASKS))
def test_known_tasks_match_their_environments(env_id: str) -> None:
    t, env = KNOWN_TASKS[env_id], gym.make(env_id)
    assert (t.obs_dim, t.n_actions) == (env.observation_space.shape[0], env.action_space.n)
    assert t.max_steps == env.spec.max_episode_steps and t.bar == env.spec.reward_threshold
    assert env_id in TASK_RECIPES and task_recipe(env_id).env_id == env_id


@pytest.mark.parametrize(
    ("env_id", "match"),
    [
        ("Pendulum-v1", r"acts in Box.*Discrete action space"),
        ("CarRacing-v3", r"observes Box\(0, 255, \(96, 96, 3\).*1-D Box"),
        ("FrozenLake-v1", r"observes Discrete\(16\)"),
        ("Nope-v0", r"gymnasium does not know it"),
        ("ALE/Pong-v5", r"gymnasium does not know it \(Namespace ALE not found"),
        ("", r"must be a gymnasium environment id"),
    ],
)
def test_unsuitable_environments_fail_in_one_line(env_id: str, match: str) -> None:
    with pytest.raises(TaskError, match=match) as caught:
        task(env_id)
    assert "\n" not in str(caught.value)
    with pytest.raises(ParamError, match=match):  # and as a parameter, up front
        TaskParams(env_id=env_id)


def test_a_missing_extra_is_named() -> None:
    def needs_extra(**kwargs):
        raise gym.error.DependencyNotInstalled('Box2D is not installed, run `pip install "gymnasium[box2d]"`')

    gym.register("NeedsExtraTest-v0", entry_point=needs_extra)
    try:
        with pytest.raises(TaskError, match=r"needs a package that is not installed: Box2D is not installed"):
            task("NeedsExtraTest-v0")
    finally:
        gym.registry.pop("NeedsExtraTest-v0")


def test_another_suitable_environment_is_read_from_gymnasium() -> None:
    t = task("MountainCar-v0")
    assert (t.obs_dim, t.n_actions, t.max_steps, t.bar, t.asset) == (2, 3, 200, -110.0, None)
    with pytest.raises(ParamError, match=r"^teacher_checkpoint=None: env_id='MountainCar-v0' has no shipped teacher"):
        TaskParams(env_id="MountainCar-v0")


@pytest.mark.parametrize("env_id", OTHER_TASKS)
def test_closed_loop_equals_one_episode_at_a_time(env_id: str) -> None:
    t = task(env_id)
    nets = [_net(env_id, 16, 0), _net(env_id, 8, 1), Constant(0, t.n_actions), _net(env_id, 16, 2)]
    loop = closed_loop(nets, 3, 10_000, reference=nets[0], env_id=env_id)
    for k, net in enumerate(nets):
        np.testing.assert_array_equal(loop.returns[k], greedy_returns(net, 3, 10_000, env_id=env_id))
    assert loop.agreement[0] == 1.0 and 0.0 <= loop.agreement[2] <= 1.0
    assert len({tuple(r) for r in loop.returns}) > 1  # the networks do differ


def test_closed_loop_runs_many_networks_in_chunks(monkeypatch) -> None:
    from distill_lib.rl import evaluation

    nets = [_net("Acrobot-v1", 8, s) for s in range(5)]
    whole = closed_loop(nets, 2, 10_000, env_id="Acrobot-v1")
    monkeypatch.setattr(evaluation, "MAX_ENVS", 4)  # 2 networks x 2 episodes per chunk
    chunked = closed_loop(nets, 2, 10_000, env_id="Acrobot-v1", reference=nets[0])
    np.testing.assert_array_equal(chunked.returns, whole.returns)
    np.testing.assert_array_equal(chunked.steps, whole.steps)
    assert chunked.agreement[0] == 1.0


@pytest.mark.parametrize("env_id", OTHER_TASKS)
def test_buffers_and_rollouts_have_the_tasks_shape(env_id: str) -> None:
    t, net = task(env_id), _net(env_id, 16, 0)
    train, held = collect_buffers(net, 2, 1, 0.1, env_id=env_id)
    assert train.shape[1] == held.shape[1] == t.obs_dim and train.dtype == np.float32
    np.testing.assert_array_equal(train, collect_states(net, 2, 0.1, env_id=env_id))  # seeded: the same again
    states = mixed_rollout_states([net, _net(env_id, 16, 1)], net, 50, 0.5, seed=3, env_id=env_id)
    assert states.shape == (2, 50, t.obs_dim)


def test_random_returns_are_seeded_and_floors_follow_the_task() -> None:
    a, b = random_returns("LunarLander-v3", 3, 10_000), random_returns("LunarLander-v3", 3, 10_000)
    np.testing.assert_array_equal(a, b)
    assert score_floor("LunarLander-v3", 3, 10_000) == a.mean() < 0
    assert score_floor("Acrobot-v1", 3, 10_000) == -500.0 and score_floor("CartPole-v1", 3, 10_000) == 0.0


@pytest.mark.parametrize("env_id", OTHER_TASKS)
def test_dqn_trains_on_the_task_and_stacks_exactly(env_id: str) -> None:
    tiny = dict(total_steps=400, buffer_size=256, batch_size=32, learning_starts=64, eval_every=200, eval_episodes=1)
    configs = [DQNConfig(env_id=env_id, seed=s, **tiny) for s in (0, 1)]
    stacked = dqn.train_dqn(configs, progress=False, budgets=[100, 400])
    (alone,) = dqn.train_dqn(configs[1], progress=False, budgets=[100, 400])
    assert stacked[1].record["state_sha256"] == alone.record["state_sha256"] != stacked[0].record["state_sha256"]
    assert stacked[1].record["budgets"] == alone.record["budgets"]
    net = dqn.agent_network(configs[0])
    net.load_state_dict(alone.state)  # the task's dimensions
    assert (net.input_dim, net.output_dim) == (task(env_id).obs_dim, task(env_id).n_actions)


def test_your_checkpoint_loads_and_bad_ones_fail_in_one_line(tmp_path) -> None:
    plain = plain_qnetwork(6, 32, 3)
    torch.save(plain.state_dict(), tmp_path / "mine.pt")
    teacher = load_teacher("Acrobot-v1", tmp_path / "mine.pt")  # the width is read from the shapes
    x = torch.randn(5, 6)
    torch.testing.assert_close(teacher(x), plain.eval()(x), rtol=0, atol=0)
    assert isinstance(teacher, QNetwork) and teacher.hidden_dim == 32
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    params = TaskParams(env_id="Acrobot-v1", teacher_checkpoint=str(tmp_path / "mine.pt"), teacher_hidden=64)
    fields = params.teacher_fields(params.load_teacher())  # teacher_hidden is not the file's width: ignored
    assert (fields["hidden"], fields["format"], fields["layers"]) == (32, "qnetwork", "6-32-32-3")
    cases = {
        "wrong task": (lambda: load_teacher("LunarLander-v3", tmp_path / "mine.pt"), r"maps 6 state variables to 3 actions; LunarLander-v3 has 8 and 4"),
        "missing": (lambda: load_teacher("Acrobot-v1", tmp_path / "none.pt"), r"no teacher checkpoint there"),
    }  # fmt: skip
    torch.save({"model": plain.state_dict()}, tmp_path / "wrapped.pt")
    cases["wrapped"] = (lambda: load_teacher("Acrobot-v1", tmp_path / "wrapped.pt"), r"holds \['model'\].*state_dict")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    cases["junk"] = (lambda: load_teacher("Acrobot-v1", tmp_path / "junk.pt"), r"not a loadable weights-only")
    for name, (call, match) in cases.items():
        with pytest.raises((ValueError, FileNotFoundError), match=match) as caught:
            call()
        assert "\n" not in str(caught.value), name


@pytest.mark.parametrize("env_id", list(KNOWN_TASKS))
def test_each_shipped_teacher_meets_its_bar_and_its_record_is_its_own(env_id: str) -> None:
    import json

    t = task(env_id)
    files = task_teachers(env_id)
    assert files == [t.teacher_file, *(t.asset_dir / "independent" / f"seed{s}.pt" for s in (1, 2, 3))]  # shipped first
    for f in files:
        record = json.loads(f.with_suffix(".json").read_text())
        assert record["test_episodes"] == 100 and record["test_mean"] >= t.bar, f
        assert record["config"].get("env_id", "CartPole-v1") == env_id
        assert {"commit", "code_hash", "cpu"} <= set(record["provenance"]) and record["versions"]["torch"]
        net = load_teacher(env_id, f)
        assert dqn.state_dict_digest(net.state_dict()) == record["state_sha256"]
        # the recorded test returns are this network's: replay the first three test episodes
        replay = closed_loop([net], 3, record["test_seed"], env_id=env_id).returns[0]
        np.testing.assert_array_equal(replay, record["test_returns"][:3])
    seeds = [json.loads(f.with_suffix(".json").read_text())["config"]["seed"] for f in files]
    assert seeds == [0, 1, 2, 3]


def test_a_task_without_shipped_teachers_lists_none_in_one_line() -> None:
    with pytest.raises(TaskError, match=r"^env_id='MountainCar-v0' has no shipped teachers: give your own"):
        task_teachers("MountainCar-v0")
