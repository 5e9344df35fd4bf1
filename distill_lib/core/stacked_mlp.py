"""S MLP students as stacked tensors: the forward pass and a hand-written backward.

A student is an ``nn.Sequential`` of hidden blocks ``Linear -> [LayerNorm] -> ReLU ->
[Dropout]`` and a ``Linear`` head (``networks.QNetwork``: two blocks with both);
``read_layers`` reads that list from the module, so another architecture of this family
is a different list, not different code. S students' weights are rows of one flat
``(S, P)`` buffer (``flat.FlatLayout``). Activations are laid out ``(S, H, B)``, units
before states (the losses read logits as ``(S, A, B)`` too).

Forward (train mode keeps what the backward reads), for block i on input ``a^T`` ``(S, D_i, B)``
(``a_0^T = x^T``, the states)::

    z^T = W_i a^T + b_i                      (S, H, B)
    h^T = dropout(relu(LN(z) gamma + beta))  (S, H, B)   LayerNorm: Ba, Kiros & Hinton 2016
    q^T = W_head h^T + b_head                (S, A, B)   the logits

Backward, from ``dq^T = dL/dq^T`` (autograd of the loss alone, a few small ops)::

    dW_head = dq^T h,  db_head = sum_b dq^T,  dh^T = W_head^T dq^T
    dy = dh * scale where h > 0 (kept and open), else 0;  g = dy * gamma
    dz = rstd (g - mean_u(g) - xhat mean_u(g xhat)),  dgamma = sum_b dy xhat,  dbeta = sum_b dy
    dW_i = dz^T a,  db_i = sum_b dz,  da^T = W_i^T dz^T  (not for the first block: the states need none)

then per-student gradient-norm clipping and Adam (``flat.clip_per_student_``,
``flat.FlatAdam``). This is what autograd computes for ``stacked.stacked_forward`` (a test
checks the two to float32 rounding), without its graph. Two executions: on the CPU, two C
kernels a step (``fused.mlp_forward``, ``fused.mlp_backward_adam``: one student at a time,
all layers, in cache); elsewhere (CUDA, float64, no C compiler, ``DISTILL_FUSED_CPU=0``) the
torch path below, the same formulas op by op, batched over the students. The two agree to
float32 rounding; each computes a student from its own rows only, so its numbers do not
depend on S or on the other students.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import fused
from .flat import FlatAdam, FlatLayout, clip_per_student_
from .streams import DropoutRows

__all__ = ["Block", "StackedMLP", "read_layers"]


@dataclass(frozen=True)
class Block:
    """One hidden block of an MLP student: state-dict prefixes of its Linear and LayerNorm (None: none)."""

    linear: str
    norm: str | None
    dropout: bool


def read_layers(student: nn.Sequential) -> tuple[list[Block], str]:
    """The hidden blocks ``Linear -> [LayerNorm] -> ReLU -> [Dropout]`` and the head ``Linear`` of a student."""
    modules = list(student.named_children())
    blocks, i = [], 0
    while i < len(modules) - 1 and isinstance(modules[i][1], nn.Linear):
        norm = modules[i + 1][0] if isinstance(modules[i + 1][1], nn.LayerNorm) else None
        j = i + 1 + (norm is not None)
        if j >= len(modules) or not isinstance(modules[j][1], nn.ReLU):
            break
        dropout = j + 1 < len(modules) and isinstance(modules[j + 1][1], nn.Dropout)
        blocks.append(Block(modules[i][0], norm, dropout))
        i = j + 1 + dropout
    if i != len(modules) - 1 or not isinstance(modules[-1][1], nn.Linear) or not blocks:
        names = [type(m).__name__ for _, m in modules]
        raise ValueError(
            f"student layers {names}: expected (Linear, [LayerNorm], ReLU, [Dropout]) blocks and a Linear head"
        )
    return blocks, modules[-1][0]


class _Saved:
    """One batch size's activations (reused by every step of that size), and their addresses for the kernels."""

    def __init__(self, n: int, batch: int, widths: list[int], like: torch.Tensor, plan: fused.Plan) -> None:
        new = dict(dtype=like.dtype, device=like.device)
        self.z = [torch.empty(n, w, batch, **new) for w in widths]  # xhat (the pre-activation without LayerNorm)
        self.h = [torch.empty(n, w, batch, **new) for w in widths]  # the blocks' outputs
        self.rstd = [torch.empty(n, batch, **new) for _ in widths]  # LayerNorm's 1 / std per state
        c = like.device.type == "cpu" and like.dtype == torch.float32  # what the kernels take
        self.addresses = plan.buffers(self.z, self.h, self.rstd) if c else None


class StackedMLP:
    """The forward and backward of S stacked students whose layers ``read_layers`` gave.

    ``layout``: the flat weights' ``flat.FlatLayout``; ``eps``: LayerNorm's.
    """

    def __init__(self, blocks: list[Block], head: str, layout: FlatLayout, eps: float, n_students: int) -> None:
        self.blocks, self.head, self.layout, self.eps, self.n = blocks, head, layout, eps, n_students
        offset = dict(zip(layout.keys, layout.offsets))
        shapes = dict(zip(layout.keys, layout.shapes))
        self.widths = [shapes[f"{b.linear}.weight"][0] for b in blocks]
        dims = [shapes[f"{blocks[0].linear}.weight"][1], *self.widths, shapes[f"{head}.weight"][0]]
        offsets, dropout, k = [], [], 0
        for b in blocks:
            norm = [offset[f"{b.norm}.weight"], offset[f"{b.norm}.bias"]] if b.norm else [-1, -1]
            offsets += [offset[f"{b.linear}.weight"], offset[f"{b.linear}.bias"], *norm]
            dropout.append(k if b.dropout else -1)
            k += b.dropout
        offsets += [offset[f"{head}.weight"], offset[f"{head}.bias"]]
        self.plan = fused.Plan(dims, offsets, dropout)
        self._saved: dict[tuple[int, torch.dtype, torch.device], _Saved] = {}

    def _buffers(self, batch: int, like: torch.Tensor) -> _Saved:
        key = (batch, like.dtype, like.device)
        if key not in self._saved:
            self._saved[key] = _Saved(self.n, batch, self.widths, like, self.plan)
        return self._saved[key]

    def forward(self, flat: torch.Tensor, x_t: torch.Tensor, dropout: DropoutRows | None, train: bool) -> torch.Tensor:
        """Logits ``(S, A, B)`` of states ``x_t`` ``(S, D, B)`` for weights ``flat`` ``(S, P)``.

        ``dropout`` None: eval mode. ``train``: keep what ``step`` reads.
        """
        c = fused.runs_on(flat, x_t)
        x_t = x_t.contiguous() if c else x_t
        saved = self._buffers(x_t.shape[-1], x_t)
        q = torch.empty(self.n, self.plan.sizes[-1], x_t.shape[-1], dtype=x_t.dtype, device=x_t.device)
        if c:
            layers = None if dropout is None else [dropout.layer(k) for k in range(sum(b.dropout for b in self.blocks))]
            fused.mlp_forward(self.plan, flat, self.eps, x_t, saved.addresses, q, layers)
        else:
            self._forward_torch(self.layout.views(flat), x_t, dropout, saved, q)
        if train:
            self.x_t, self.dropout, self.saved = x_t, dropout, saved
        return q

    def step(
        self, flat: torch.Tensor, dq: torch.Tensor, optimizer: FlatAdam, max_norm: torch.Tensor, clip: torch.Tensor
    ) -> None:
        """Backward from ``dq`` ``(S, A, B)`` of the last train-mode ``forward``, clipping and Adam on ``flat``.

        ``optimizer``: the ``FlatAdam`` over ``flat``; ``max_norm``, ``clip`` ``(S,)``.
        """
        scales = self.dropout.scales if self.dropout is not None else None
        if fused.runs_on(flat, dq) and self.saved.addresses is not None:
            moments = (optimizer.exp_avg, optimizer.exp_avg_sq)
            fused.mlp_backward_adam(
                self.plan, flat, self.x_t, self.saved.addresses, dq, scales, moments, max_norm, clip,
                optimizer.next_hyper(),
            )  # fmt: skip
            optimizer.step_count += 1
            return
        grad = self.backward_torch(flat, dq)
        clip_per_student_(grad, max_norm, clip)
        optimizer.step(grad)

    # ---- the torch path: the same formulas, op by op, batched over the students --------------

    def _forward_torch(
        self, p: dict[str, torch.Tensor], x_t: torch.Tensor, dropout: DropoutRows | None, saved: _Saved, q: torch.Tensor
    ) -> None:
        a, k = x_t, 0  # k: the dropout layer of the stream
        mult = None if dropout is None else dropout.multipliers().mT  # (S, layers, H, B)
        for i, block in enumerate(self.blocks):
            z = torch.baddbmm(p[f"{block.linear}.bias"].unsqueeze(2), p[f"{block.linear}.weight"], a)  # (S, H, B)
            if block.norm is not None:
                xhat, _, rstd = torch.native_layer_norm(z.mT, z.shape[1:2], None, None, self.eps)  # (S, B, H)
                gamma, beta = p[f"{block.norm}.weight"].unsqueeze(1), p[f"{block.norm}.bias"].unsqueeze(1)
                y = torch.addcmul(beta, xhat, gamma).mT
                saved.z[i].copy_(xhat.mT)
                saved.rstd[i].copy_(rstd.squeeze(-1))
            else:
                y = z
                saved.z[i].copy_(z)
            h = torch.relu(y)
            if mult is not None and block.dropout:
                h, k = h * mult[:, k], k + 1
            saved.h[i].copy_(h)
            a = saved.h[i]
        torch.baddbmm(p[f"{self.head}.bias"].unsqueeze(2), p[f"{self.head}.weight"], a, out=q)

    def backward_torch(self, flat: torch.Tensor, dq: torch.Tensor) -> torch.Tensor:
        """The gradients ``(S, P)`` of the last train-mode ``forward`` from ``dq`` ``(S, A, B)`` (torch ops)."""
        p, saved = self.layout.views(flat), self.saved
        grad = torch.zeros_like(flat)
        g = self.layout.views(grad)
        g[f"{self.head}.weight"].copy_(torch.bmm(dq, saved.h[-1].mT))  # (S, A, H)
        g[f"{self.head}.bias"].copy_(dq.sum(-1))
        dh = torch.bmm(p[f"{self.head}.weight"].mT, dq)  # (S, H, B)
        for i in reversed(range(len(self.blocks))):
            block = self.blocks[i]
            scale = self.dropout.scales.view(-1, 1, 1) if self.dropout is not None and block.dropout else 1.0
            dy = torch.where(saved.h[i] > 0, dh * scale, 0.0)  # (S, H, B)
            if block.norm is not None:
                xhat, gamma = saved.z[i], p[f"{block.norm}.weight"].unsqueeze(-1)  # (S, H, B), (S, H, 1)
                g[f"{block.norm}.bias"].copy_(dy.sum(-1))
                g[f"{block.norm}.weight"].copy_((dy * xhat).sum(-1))
                gy = dy * gamma
                dz = saved.rstd[i].unsqueeze(1) * (
                    gy - gy.mean(1, keepdim=True) - xhat * (gy * xhat).mean(1, keepdim=True)
                )
            else:
                dz = dy
            g[f"{block.linear}.bias"].copy_(dz.sum(-1))
            a_t = self.x_t if i == 0 else saved.h[i - 1]  # (S, D_i, B)
            g[f"{block.linear}.weight"].copy_(torch.bmm(dz, a_t.mT))
            if i > 0:
                dh = torch.bmm(p[f"{block.linear}.weight"].mT, dz)
        return grad
