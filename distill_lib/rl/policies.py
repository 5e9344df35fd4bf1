"""A DQN policy read from the file its library saved: a frozen module from states ``(B, obs_dim)`` to Q-values ``(B, A)``.

A teacher comes in the forms people have, each read without running its code where the form
allows, and described (``PolicyDescription``: format, layer widths, parameter count):

- ``sb3``: a Stable-Baselines3 DQN ``.zip`` (``model.save``). Only its ``policy.pth`` entry is
  opened, with ``torch.load(weights_only=True)``; the online network ``q_net.q_net.{0,2,4}.*`` is
  the policy, its target copy ``q_net_target.*`` is ignored, and the ``data`` entry (cloudpickled
  Python objects) is never touched. A state dict with the same keys is read the same way.
- ``cleanrl``: a CleanRL DQN checkpoint (``torch.save(q_network.state_dict())`` in ``dqn.py``),
  ``network.{0,2,4}.*``, 120 and 84 hidden units by default.
- ``qnetwork``: this project's ``QNetwork`` state dict (``0.*, 1.*, 4.*, 5.*, 8.*``, the shipped
  teachers'), loaded into a ``QNetwork`` of the width its shapes give.
- ``mlp``: any other MLP state dict: Linear layers, each hidden one optionally followed by a
  LayerNorm, the keys in the module's order (as ``state_dict()`` writes them).
- ``torchscript``: a ``torch.jit.save`` file of any module, loaded with ``torch.jit.load``. A
  TorchScript file is code: it runs whenever the policy acts, so read only one you trust.

The architecture of a state dict is read from its keys and shapes: a 2-D ``weight`` is a
Linear layer ``(out, in)``, a 1-D ``weight`` right after one a LayerNorm of its width.
Activations and dropout carry no weights, so they cannot be read: ReLU is taken after every
hidden layer (after its LayerNorm where there is one), as in Stable-Baselines3's ``MlpPolicy``
(its DQN default), CleanRL's ``QNetwork`` and this project's; LayerNorm takes PyTorch's
``eps = 1e-5``. A network of another layout (tanh, a features extractor, a dueling head) comes
as TorchScript, which carries its own forward. Every tensor must be dense, real, float and
finite (``core.data.load_state_dict``'s checks); the widths must fit the task's state and
action counts. Anything else is refused with one line that says what was found and what is
accepted.

References: Stable-Baselines3's ``save_to_zip_file`` and ``DQNPolicy`` (Raffin et al. 2021,
JMLR 22(268)); CleanRL's ``dqn.py`` (Huang et al. 2022, JMLR 23(274)); read for the file
layouts only.
"""

from __future__ import annotations

import io
import itertools
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.config import TEACHER_DROPOUT
from ..core.data import load_state_dict
from ..core.networks import QNetwork, freeze

__all__ = ["ACCEPTED", "FORMATS", "Layer", "PolicyDescription", "PolicyMLP", "ScriptedPolicy", "describe",
           "load_policy", "mlp_layers"]  # fmt: skip

#: the formats read, and how a sentence names each
FORMATS: dict[str, str] = {
    "sb3": "a Stable-Baselines3 DQN",
    "cleanrl": "a CleanRL DQN",
    "qnetwork": "this project's QNetwork",
    "mlp": "an MLP state dict",
    "torchscript": "a TorchScript module",
    "module": "a module",
}
#: what a refusal says is accepted
ACCEPTED = (
    "accepted: a Stable-Baselines3 DQN .zip, a CleanRL DQN state dict, a TorchScript file, or the state dict "
    "of an MLP (Linear layers, optional LayerNorm; this project's QNetwork is one)"
)
#: Stable-Baselines3's prefixes: the online Q-network (the policy) and its target copy (ignored)
SB3_ONLINE, SB3_TARGET = "q_net.q_net.", "q_net_target."
#: CleanRL's ``QNetwork`` keeps its layers in ``self.network``
CLEANRL = "network."
#: the most bytes a zip's ``policy.pth`` may declare (an MLP's weights are kilobytes; a larger entry is not one)
MAX_POLICY_BYTES = 1 << 30


@dataclass(frozen=True)
class PolicyDescription:
    """What a loaded policy is: its format (``FORMATS``), its widths and its parameter count.

    ``hidden`` is the width of each hidden layer in order (``()`` for a linear policy; ``None``
    when a TorchScript module's layers cannot be read from its parameters).
    """

    format: str
    input_dim: int
    output_dim: int
    hidden: tuple[int, ...] | None
    layer_norm: bool
    n_params: int

    @property
    def width(self) -> int | str:
        """The hidden width for a record: ``64`` when every hidden layer has it, else ``"120-84"``
        (``"none"`` for a linear policy, ``"unknown"`` where the layers cannot be read)."""
        if self.hidden is None:
            return "unknown"
        if not self.hidden:
            return "none"
        return self.hidden[0] if len(set(self.hidden)) == 1 else "-".join(map(str, self.hidden))

    @property
    def layers(self) -> str:
        """``4-64-64-2``: input, hidden widths, actions (``4-?-2`` where the hidden ones are unknown)."""
        middle = ["?"] if self.hidden is None else list(map(str, self.hidden))
        return "-".join([str(self.input_dim), *middle, str(self.output_dim)])

    def __str__(self) -> str:
        norm = " with LayerNorm" if self.layer_norm else ""
        return f"{FORMATS[self.format]} ({self.layers}{norm}, {self.n_params:,} parameters)"


@dataclass(frozen=True)
class Layer:
    """One layer read from a state dict: a Linear (``weight`` ``(out, in)``) or a LayerNorm (``weight`` ``(H,)``)."""

    key: str  # the module's key prefix in the state dict
    kind: str  # "linear" or "norm"
    weight: torch.Tensor
    bias: torch.Tensor | None

    @property
    def width(self) -> int:  # the layer's output width
        return int(self.weight.shape[0])


class PolicyMLP(nn.Sequential):
    """``Linear -> [LayerNorm] -> ReLU`` for each hidden layer, then ``Linear``: an MLP rebuilt from its layers.

    Built on the meta device and given the tensors themselves (as float32), so building one
    draws nothing from torch's random generator.
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        modules: list[nn.Module] = []
        for i, layer in enumerate(layers):
            bias = layer.bias is not None
            if layer.kind == "linear":
                out_dim, in_dim = layer.weight.shape
                modules.append(nn.Linear(in_dim, out_dim, bias=bias, device="meta"))
            else:
                modules.append(nn.LayerNorm(layer.width, bias=bias, device="meta"))
            if i + 1 < len(layers) and layers[i + 1].kind == "linear":
                modules.append(nn.ReLU())  # after a hidden layer, and after its LayerNorm where there is one
        super().__init__(*modules)
        state = {}
        holders = [str(i) for i, m in enumerate(self) if isinstance(m, (nn.Linear, nn.LayerNorm))]
        for name, layer in zip(holders, layers, strict=True):
            state[f"{name}.weight"] = layer.weight.detach().to(torch.float32).clone()
            if layer.bias is not None:
                state[f"{name}.bias"] = layer.bias.detach().to(torch.float32).clone()
        self.load_state_dict(state, assign=True)


class ScriptedPolicy(nn.Module):
    """A TorchScript module in a plain one, so that it can carry a description and be deep-copied with it."""

    def __init__(self, script: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.script = script

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, A)
        return self.script(x)


def _fail(where: str, found: str) -> ValueError:
    return ValueError(f"{where}: {found}; {ACCEPTED}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def mlp_layers(state: Mapping[str, torch.Tensor], where: str) -> list[Layer]:
    """The layers of an MLP state dict, in key order (module docstring); ``ValueError`` (one line) otherwise."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        if name not in ("weight", "bias"):
            raise _fail(where, f"{key} is not a Linear or LayerNorm weight or bias (the layers of an MLP)")
        groups.setdefault(module, {})[name] = value
    layers: list[Layer] = []
    for module, params in groups.items():
        weight, bias = params.get("weight"), params.get("bias")
        if weight is None:
            raise _fail(where, f"{module}.bias has no {module}.weight beside it")
        if weight.dim() == 2:
            kind = "linear"
        elif weight.dim() == 1 and layers and layers[-1].kind == "linear":
            kind = "norm"
        else:
            shape = tuple(weight.shape)
            raise _fail(where, f"{module}.weight has shape {shape}, neither a Linear layer nor a LayerNorm after one")
        if bias is not None and tuple(bias.shape) != (int(weight.shape[0]),):
            raise _fail(where, f"{module}.bias has shape {tuple(bias.shape)}, {module}.weight {tuple(weight.shape)}")
        if kind == "norm" and weight.shape[0] != layers[-1].width:
            raise _fail(where, f"{module} normalises {weight.shape[0]} values after a layer of {layers[-1].width}")
        if kind == "linear" and layers and weight.shape[1] != layers[-1].width:
            raise _fail(where, f"{module}.weight takes {weight.shape[1]} inputs after a layer of {layers[-1].width}")
        layers.append(Layer(module, kind, weight, bias))
    if not layers or layers[-1].kind != "linear":
        raise _fail(where, "no Linear layer ends it (the Q-value head)" if layers else "no layers")
    return layers


def _is_qnetwork(layers: Sequence[Layer]) -> bool:
    """The layout of this project's ``QNetwork``: keys 0, 1, 4, 5, 8 (Linear, LN, Linear, LN, Linear), one width."""
    if [(layer.key, layer.kind) for layer in layers] != [
        ("0", "linear"), ("1", "norm"), ("4", "linear"), ("5", "norm"), ("8", "linear"),
    ]:  # fmt: skip
        return False
    widths = {layers[0].width, layers[2].width}
    return len(widths) == 1 and all(layer.bias is not None for layer in layers)


def _description(fmt: str, layers: Sequence[Layer], n_params: int) -> PolicyDescription:
    linear = [layer for layer in layers if layer.kind == "linear"]
    hidden = tuple(layer.width for layer in linear[:-1])
    norm = any(layer.kind == "norm" for layer in layers)
    return PolicyDescription(fmt, int(linear[0].weight.shape[1]), linear[-1].width, hidden, norm, n_params)


def _from_state(state: Mapping[str, torch.Tensor], fmt: str | None, where: str) -> tuple[nn.Module, str, list[Layer]]:
    """The network of a state dict: a ``QNetwork`` where it has that layout, else a ``PolicyMLP``."""
    if fmt is None:  # a state dict file: its keys say what saved it
        if any(k.startswith((SB3_ONLINE, SB3_TARGET)) for k in state):
            return _from_state(_sb3_online(state, where), "sb3", where)
        if all(k.startswith(CLEANRL) for k in state):
            return _from_state({k.removeprefix(CLEANRL): v for k, v in state.items()}, "cleanrl", where)
    layers = mlp_layers(state, where)
    if fmt is None and _is_qnetwork(layers):
        d, h, a = int(layers[0].weight.shape[1]), layers[0].width, layers[-1].width
        net = QNetwork(d, h, a, dropout=TEACHER_DROPOUT)  # the shipped teachers' construction, as before
        net.load_state_dict(dict(state))
        return net, "qnetwork", layers
    return PolicyMLP(layers), fmt or "mlp", layers


def _sb3_online(state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The online Q-network's layers of a Stable-Baselines3 DQN policy state dict (the target copy dropped)."""
    online = {k.removeprefix(SB3_ONLINE): v for k, v in state.items() if k.startswith(SB3_ONLINE)}
    if not online:
        raise _fail(
            where,
            f"a Stable-Baselines3 policy without a Q-network ({SB3_ONLINE}*; it holds {sorted(state)[:3]}): "
            "a DQN's is needed (PPO and A2C policies are not Q-networks)",
        )
    other = [k for k in state if not k.startswith((SB3_ONLINE, SB3_TARGET))]
    if other:
        raise _fail(
            where,
            f"the Stable-Baselines3 policy holds {other[0]}: weights outside the Q-network's MLP (a CNN features "
            "extractor? export the policy as TorchScript)",
        )
    return online


def _check_tensors(obj: object, where: str) -> dict[str, torch.Tensor]:
    """``core.data.load_state_dict``'s checks on an object already loaded: names to dense real finite float tensors."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        raise ValueError(f"{where}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{where}: {key} is a {type(value).__name__}, not a tensor")
        if value.layout != torch.strided or value.is_meta or not value.dtype.is_floating_point or value.is_complex():
            raise ValueError(f"{where}: {key} is a {value.layout} {value.dtype} tensor; dense real float is needed")
        if not torch.isfinite(value).all():
            raise ValueError(f"{where}: {key} holds NaN or infinite weights")
    return obj


def _zip_names(path: Path) -> list[str]:
    """The entries of a zip archive (``torch.save`` and TorchScript write zips too); ``[]`` for any other file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def _sb3_zip(path: Path, where: str) -> dict[str, torch.Tensor]:
    """The ``policy.pth`` entry of a Stable-Baselines3 zip, loaded weights-only (no other entry is opened)."""
    entry = f"{where} (policy.pth)"
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("policy.pth")
            if info.file_size > MAX_POLICY_BYTES:
                raise ValueError(f"{entry}: declares {info.file_size:,} bytes, more than a DQN's MLP weights take")
            data = archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:  # RuntimeError: encrypted, bad CRC
        raise ValueError(f"{entry}: cannot be read from the zip ({_first_line(err)})") from None
    try:
        with warnings.catch_warnings():  # torch warns about legacy pickles before refusing them
            warnings.simplefilter("ignore")
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad or unsafe files
        raise ValueError(f"{entry}: not a loadable weights-only state dict: {_first_line(err)}") from None
    return _check_tensors(obj, entry)


def _torchscript(path: Path, where: str, obs_dim: int, n_actions: int, task: str) -> ScriptedPolicy:
    """A TorchScript file, loaded and tried on a batch of two states: it must give ``(2, n_actions)`` finite Q-values."""
    try:
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript for torch.export; it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            script = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch.jit raises RuntimeError and others
        raise ValueError(f"{where}: not a loadable TorchScript file: {_first_line(err)}") from None
    net = ScriptedPolicy(script)
    net.eval()
    try:
        with torch.no_grad():
            q = net(torch.zeros(2, obs_dim))  # (2, A)
    except Exception as err:  # its own code raised
        raise ValueError(
            f"{where}: the TorchScript module fails on {task}'s states (2, {obs_dim}): {_first_line(err)}"
        ) from None
    if not isinstance(q, torch.Tensor) or not q.dtype.is_floating_point or tuple(q.shape) != (2, n_actions):
        got = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise ValueError(
            f"{where}: the TorchScript module maps states (2, {obs_dim}) to {got}; {task} needs Q-values (2, {n_actions})"
        )
    if not torch.isfinite(q).all():
        raise ValueError(f"{where}: the TorchScript module's Q-values are not all finite")
    return net


def _script_hidden(net: nn.Module, obs_dim: int, n_actions: int) -> tuple[int, ...] | None:
    """The hidden widths of a module whose 2-D parameters chain from ``obs_dim`` to ``n_actions``, else None."""
    weights = [tuple(p.shape) for p in net.parameters() if p.dim() == 2]
    if not weights or weights[0][1] != obs_dim or weights[-1][0] != n_actions:
        return None
    if any(nxt[1] != prev[0] for prev, nxt in itertools.pairwise(weights)):
        return None
    return tuple(w[0] for w in weights[:-1])


def load_policy(path: str | Path, obs_dim: int, n_actions: int, task: str = "the task") -> nn.Module:
    """The policy in ``path``, frozen, with its ``description`` (a ``PolicyDescription``) as an attribute.

    The form is read from the file (module docstring): a zip with a ``policy.pth`` entry is a
    Stable-Baselines3 model, a zip with TorchScript's ``constants.pkl`` is TorchScript, anything
    else a state dict (``core.data.load_state_dict``: weights-only). Its state and action counts
    must be ``obs_dim`` and ``n_actions`` (those of ``task``, named in the message).
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no teacher checkpoint there")
    names = _zip_names(path)
    if any(n.endswith("/constants.pkl") for n in names):
        net: nn.Module = _torchscript(path, where, obs_dim, n_actions, task)
        hidden = _script_hidden(net, obs_dim, n_actions)
        norm = any(getattr(m, "original_name", "") == "LayerNorm" for m in net.modules())
        n_params = sum(p.numel() for p in net.parameters())
        desc = PolicyDescription("torchscript", obs_dim, n_actions, hidden, norm, n_params)
    else:
        if "policy.pth" in names:
            state, given = _sb3_online(_sb3_zip(path, where), where), "sb3"
        elif names and not any(n.endswith("/data.pkl") for n in names):  # torch.save writes <name>/data.pkl
            raise _fail(where, f"a zip of {sorted(names)[:3]} without Stable-Baselines3's policy.pth")
        else:
            state, given = load_state_dict(path, where=where), None
        net, fmt, layers = _from_state(state, given, where)
        desc = _description(fmt, layers, sum(p.numel() for p in net.parameters()))
        if (desc.input_dim, desc.output_dim) != (obs_dim, n_actions):
            raise ValueError(
                f"{where}: {desc} maps {desc.input_dim} state variables to {desc.output_dim} actions; {task} has "
                f"{obs_dim} and {n_actions} (is it this task's policy?)"
            )
    frozen = freeze(net)
    frozen.description = desc  # type: ignore[assignment]
    return frozen


def describe(net: nn.Module) -> PolicyDescription:
    """What ``net`` is: the description ``load_policy`` gave it, else read from its modules (a ``QNetwork``, an MLP)."""
    desc = getattr(net, "description", None)
    if isinstance(desc, PolicyDescription):
        return desc
    n_params = sum(p.numel() for p in net.parameters())
    if isinstance(net, QNetwork):
        return PolicyDescription("qnetwork", net.input_dim, net.output_dim, (net.hidden_dim,) * 2, True, n_params)
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(
            f"a {type(net).__name__} has no Linear layer to read its widths from; load it with load_policy"
        )
    hidden = tuple(m.out_features for m in linear[:-1])
    norm = any(isinstance(m, nn.LayerNorm) for m in net.modules())
    return PolicyDescription("module", linear[0].in_features, linear[-1].out_features, hidden, norm, n_params)
