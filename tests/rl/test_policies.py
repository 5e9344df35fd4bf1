"""Tests of distill_lib.rl.policies: each form a DQN policy comes in gives the same Q-values as the module that
saved it, is described by what it is, and anything else is refused in one line."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import plain_qnetwork
from torch import nn

from distill_lib.core.networks import QNetwork
from distill_lib.rl.policies import ACCEPTED, PolicyMLP, ScriptedPolicy, describe, load_policy, mlp_layers

#: torch 2.13 deprecates TorchScript (torch.jit.script, trace, save) for torch.export; these tests write such files
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


@pytest.fixture
def sb3():
    return pytest.importorskip(
        "stable_baselines3", reason="stable-baselines3 is a dev dependency (pip install -e .[dev])"
    )


def _states(d: int, n: int = 64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0))  # (n, d)


class CleanRLQNetwork(nn.Module):
    """CleanRL's ``dqn.py`` QNetwork: ``self.network``, 120 and 84 hidden units, ReLU."""

    def __init__(self, d: int, a: int) -> None:
        super().__init__()
        self.network = nn.Sequential(nn.Linear(d, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class Dueling(nn.Module):
    """Not an MLP a state dict describes (tanh, a dueling head): only TorchScript carries it."""

    def __init__(self, d: int, a: int) -> None:
        super().__init__()
        self.body, self.value, self.advantage = nn.Linear(d, 16), nn.Linear(16, 1), nn.Linear(16, a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.body(x))
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=1, keepdim=True)


def _refused(path: Path, d: int, a: int, match: str) -> str:
    with pytest.raises(ValueError, match=match) as caught:
        load_policy(path, d, a, "the task")
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_stable_baselines3_zip_gives_its_online_q_network_and_nothing_else_is_opened(sb3, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = sb3.DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", learning_starts=0)
    with torch.no_grad():
        model.q_net.q_net[0].weight.add_(1.0)  # the online network now differs from its target copy
    model.save(tmp_path / "dqn.zip")
    opened = []
    real_open = zipfile.ZipFile.open

    def record(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", record)
    net = load_policy(tmp_path / "dqn.zip", 4, 2, "CartPole-v1")
    assert opened == ["policy.pth"]  # never "data" (cloudpickled objects) nor the optimizer
    x = _states(4)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model.policy.q_net(x), rtol=0, atol=0)
        assert not torch.equal(net(x), model.policy.q_net_target(x))
    desc = describe(net)
    assert (desc.format, desc.layers, desc.width, desc.layer_norm) == ("sb3", "4-64-64-2", 64, False)
    assert desc.n_params == sum(p.numel() for p in model.policy.q_net.parameters()) == 4 * 64 + 64 + 64 * 64 + 64 + 130
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_a_stable_baselines3_policy_that_is_not_a_dqn_is_refused(sb3, tmp_path):
    sb3.PPO("MlpPolicy", "CartPole-v1", device="cpu", n_steps=64, batch_size=64).save(tmp_path / "ppo.zip")
    _refused(
        tmp_path / "ppo.zip", 4, 2, r"without a Q-network .*\(PPO and A2C policies are not Q-networks\); accepted:"
    )


def test_a_stable_baselines3_zip_with_nan_weights_is_refused(sb3, tmp_path):
    model = sb3.DQN("MlpPolicy", "CartPole-v1", device="cpu", policy_kwargs={"net_arch": [8]})
    with torch.no_grad():
        model.q_net.q_net[2].bias[0] = float("nan")
    model.save(tmp_path / "dqn.zip")
    _refused(tmp_path / "dqn.zip", 4, 2, r"dqn.zip \(policy.pth\): q_net.q_net.2.bias holds NaN")


def test_a_cleanrl_checkpoint_and_its_widths(tmp_path):
    torch.manual_seed(1)
    cleanrl = CleanRLQNetwork(6, 3).eval()
    torch.save(cleanrl.state_dict(), tmp_path / "dqn.cleanrl_model")
    net = load_policy(tmp_path / "dqn.cleanrl_model", 6, 3)
    x = _states(6)
    torch.testing.assert_close(net(x), cleanrl(x), rtol=0, atol=0)
    desc = describe(net)
    assert (desc.format, desc.hidden, desc.width, desc.layers) == ("cleanrl", (120, 84), "120-84", "6-120-84-3")
    assert str(desc) == "a CleanRL DQN (6-120-84-3, 11,259 parameters)"


def test_a_torchscript_module_runs_its_own_forward(tmp_path):
    torch.manual_seed(2)
    module = Dueling(4, 2).eval()
    torch.jit.save(torch.jit.script(module), tmp_path / "policy.pt")
    net = load_policy(tmp_path / "policy.pt", 4, 2)
    assert isinstance(net, ScriptedPolicy)
    x = _states(4)
    torch.testing.assert_close(net(x), module(x), rtol=0, atol=0)
    desc = describe(copy.deepcopy(net))  # a copy for another device keeps its description
    assert (desc.format, desc.hidden, desc.n_params) == (
        "torchscript",
        None,
        sum(p.numel() for p in module.parameters()),
    )
    traced = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))
    torch.jit.save(torch.jit.trace(traced, x), tmp_path / "traced.pt")
    desc = describe(load_policy(tmp_path / "traced.pt", 4, 2))
    assert (desc.hidden, desc.layer_norm) == ((8,), True)


def test_a_torchscript_module_of_the_wrong_shape_or_failing_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(Dueling(4, 3)), tmp_path / "three.pt")
    _refused(tmp_path / "three.pt", 4, 2, r"maps states \(2, 4\) to \(2, 3\); the task needs Q-values \(2, 2\)")
    _refused(tmp_path / "three.pt", 6, 3, r"the TorchScript module fails on the task's states \(2, 6\)")


def test_an_mlp_with_layer_norm_of_any_widths_is_rebuilt_without_drawing_random_numbers(tmp_path):
    torch.manual_seed(3)
    mlp = nn.Sequential(nn.Linear(8, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 16, bias=False),
                        nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 4)).eval()  # fmt: skip
    torch.save(mlp.state_dict(), tmp_path / "mlp.pt")
    before = torch.random.get_rng_state()
    net = load_policy(tmp_path / "mlp.pt", 8, 4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert isinstance(net, PolicyMLP) and not isinstance(net, QNetwork)
    x = _states(8)
    torch.testing.assert_close(net(x), mlp(x), rtol=0, atol=0)
    desc = describe(net)
    assert (desc.format, desc.width, desc.layer_norm) == ("mlp", "32-16", True)


def test_this_projects_qnetwork_loads_as_one_at_the_width_its_shapes_give(tmp_path):
    plain = plain_qnetwork(6, 24, 3).eval()
    torch.save(plain.state_dict(), tmp_path / "mine.pt")
    net = load_policy(tmp_path / "mine.pt", 6, 3)
    assert isinstance(net, QNetwork) and net.hidden_dim == 24
    torch.testing.assert_close(net(_states(6)), plain(_states(6)), rtol=0, atol=0)
    assert describe(net) == describe(QNetwork(6, 24, 3, dropout=0.1))  # read from the module: the same


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"0.weight": torch.zeros(8, 4), "0.running_mean": torch.zeros(8)}, r"0.running_mean is not a Linear"),
        (
            {"conv.weight": torch.zeros(8, 4, 3, 3), "conv.bias": torch.zeros(8)},
            r"conv.weight has shape \(8, 4, 3, 3\)",
        ),
        ({"norm.weight": torch.ones(4), "head.weight": torch.zeros(2, 4)}, r"norm.weight has shape \(4,\), neither"),
        ({"a.weight": torch.zeros(8, 4), "b.weight": torch.zeros(2, 9)}, r"b.weight takes 9 inputs after a layer of 8"),
        ({"a.weight": torch.zeros(8, 4), "n.weight": torch.ones(8)}, r"no Linear layer ends it"),
        ({"a.weight": torch.zeros(8, 4), "a.bias": torch.zeros(7)}, r"a.bias has shape \(7,\)"),
    ],
)
def test_a_state_dict_that_is_not_an_mlp_is_refused_saying_what_is_accepted(tmp_path, state, match):
    torch.save(state, tmp_path / "bad.pt")
    assert _refused(tmp_path / "bad.pt", 4, 2, match).endswith(ACCEPTED)


def test_other_files_are_refused_in_one_line(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("notes.txt", "hello")
    _refused(tmp_path / "other.zip", 4, 2, r"a zip of \['notes.txt'\] without Stable-Baselines3's policy.pth")
    (tmp_path / "junk.pt").write_bytes(b"PK\x05\x06 not really a zip")
    _refused(tmp_path / "junk.pt", 4, 2, r"not a loadable weights-only state dict")
    with pytest.raises(FileNotFoundError, match="no teacher checkpoint there"):
        load_policy(tmp_path / "none.pt", 4, 2)


def test_mlp_layers_reads_linear_and_norm_layers_in_key_order():
    layers = mlp_layers(plain_qnetwork(4, 8, 2).state_dict(), "x")
    assert [(layer.key, layer.kind, layer.width) for layer in layers] == [
        ("0", "linear", 8), ("1", "norm", 8), ("4", "linear", 8), ("5", "norm", 8), ("8", "linear", 2),
    ]  # fmt: skip


def test_describe_reads_a_module_it_did_not_load():
    desc = describe(nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 2)))
    assert (desc.format, desc.layers, desc.n_params) == ("module", "4-10-2", 72)
    with pytest.raises(ValueError, match="no Linear layer"):
        describe(nn.ReLU())
