"""S MLP students as stacked tensors: the forward pass and a hand-written backward.

A student is an ``nn.Sequential`` of hidden blocks ``Linear -> [LayerNorm] -> ReLU ->
[Dropout]`` and a ``Linear`` head (``networks.QNetwork``: two blocks with both);
``read_layers`` reads that list from the module, so another architecture of this family
is a different list, not different code. S students' weights are rows of one flat
``(S, P)`` buffer (``stacked.FlatLayout``); every Linear is a batched matmul
(``torch.baddbmm``), everything between two matmuls one fused kernel (``fused``).

Activations are laid out ``(S, H, B)``, units before states (the losses read logits as
``(S, A, B)`` too): a state's LayerNorm statistics are then sums over vectors of states, which
vectorise (``fused.c``). Forward (train mode saves what the backward reads), for block i with
input ``a^T`` ``(S, D_i, B)``::

    z^T = W_i a^T + b_i                      (S, H, B)  baddbmm
    h^T = dropout(relu(LN(z) gamma + beta))  (S, H, B)  fused.ln_relu_dropout_forward
    q^T = W_head h^T + b_head                (S, A, B)  baddbmm: the losses' layout

Backward, from ``dq^T = dL/dq^T`` (autograd of the loss alone, a few small ops)::

    dW_head = dq^T h,  db_head = sum_b dq^T,  dh^T = W_head^T dq^T    bmm
    dz^T = LN-ReLU-dropout backward of dh^T (and dgamma, dbeta, db_i) fused.ln_relu_dropout_backward
    dW_i = dz^T a,  da^T = W_i^T dz^T  (not for the first block: the states need no gradient)

This is what autograd computes for ``stacked.stacked_forward`` (a test checks the two to
float32 rounding), without its graph: about ten kernels a step instead of sixty. The
gradients land in one buffer of parameter-major blocks (block k holds ``(S, *shape_k)``),
which the fused clipping and Adam read (``stacked.FlatAdam.step_clipped``). Students stay
independent: student s reads and writes only its own rows, so its numbers do not depend on
S or on the other students.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import fused
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
    """One batch size's activations and gradient buffers (reused every step of that size)."""

    def __init__(self, n: int, batch: int, widths: list[int], dtype: torch.dtype, device: torch.device) -> None:
        new = dict(dtype=dtype, device=device)
        self.z = [torch.empty(n, w, batch, **new) for w in widths]  # pre-activations, then xhat (S, H, B)
        self.h = [torch.empty(n, w, batch, **new) for w in widths]  # block outputs (S, H, B)
        self.rstd = [torch.empty(n, batch, **new) for _ in widths]
        self.dh: list[torch.Tensor] = []  # gradients, made by the first backward of this size


class StackedMLP:
    """The forward and backward of S stacked students whose layers ``read_layers`` gave.

    ``params``: ``FlatLayout.views`` of the flat weights, ``{key: (S, *shape)}``.
    """

    def __init__(
        self, blocks: list[Block], head: str, shapes: dict[str, tuple[int, ...]], eps: float, n_students: int
    ) -> None:
        self.blocks, self.head, self.eps, self.n = blocks, head, eps, n_students
        self.widths = [shapes[f"{b.linear}.weight"][0] for b in blocks]
        self.keys = list(shapes)
        self.sizes = [int(torch.Size(shape).numel()) for shape in shapes.values()]
        self._shapes = shapes
        self._saved: dict[tuple[int, torch.dtype, torch.device], _Saved] = {}
        self._grads: torch.Tensor | None = None
        self.x: torch.Tensor | None = None
        self.dropout: DropoutRows | None = None

    def grad_views(self, grads: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{key: (S, *shape)}`` views of a parameter-major gradient buffer ``(S * P,)``."""
        out, offset = {}, 0
        for key, size in zip(self.keys, self.sizes):
            out[key] = grads[offset : offset + self.n * size].view(self.n, *self._shapes[key])
            offset += self.n * size
        return out

    def _buffers(self, batch: int, like: torch.Tensor) -> _Saved:
        key = (batch, like.dtype, like.device)
        if key not in self._saved:
            self._saved[key] = _Saved(self.n, batch, self.widths, like.dtype, like.device)
        return self._saved[key]

    def forward(
        self, params: dict[str, torch.Tensor], x: torch.Tensor, dropout: DropoutRows | None, train: bool
    ) -> torch.Tensor:
        """Logits ``(S, A, B)`` of states ``x`` ``(S, B, D)``; ``dropout`` None: eval mode. ``train`` saves for ``backward``."""
        saved = self._buffers(x.shape[1], x)
        a, k = x.mT, 0  # (S, D, B); k: the dropout layer of the stream
        for i, block in enumerate(self.blocks):
            weight, bias = params[f"{block.linear}.weight"], params[f"{block.linear}.bias"]
            z = torch.baddbmm(bias.unsqueeze(2), weight, a, out=saved.z[i])  # (S, H, B)
            drop = dropout.layer(k) if dropout is not None and block.dropout else None
            if block.norm is not None:
                gamma, beta = params[f"{block.norm}.weight"], params[f"{block.norm}.bias"]
                fused.ln_relu_dropout_forward(z, gamma, beta, self.eps, saved.h[i], saved.rstd[i], drop)
            else:  # a plain ReLU block
                torch.relu(z, out=saved.h[i])
                if drop is not None:
                    saved.h[i].mul_(dropout.multipliers()[:, k].mT)
            a, k = saved.h[i], k + (drop is not None)
        weight, bias = params[f"{self.head}.weight"], params[f"{self.head}.bias"]
        q = torch.baddbmm(bias.unsqueeze(2), weight, a)  # (S, A, B)
        if train:
            self.x, self.dropout, self.saved = x, dropout, saved
        return q

    def backward(self, params: dict[str, torch.Tensor], dq: torch.Tensor) -> torch.Tensor:
        """The gradients of the last ``forward`` (train mode) from ``dq`` ``(S, A, B)``: parameter-major ``(S * P,)``.

        The buffer is reused by the next call.
        """
        saved, n = self.saved, self.n
        if self._grads is None or self._grads.dtype != dq.dtype or self._grads.device != dq.device:
            self._grads = torch.empty(n * sum(self.sizes), dtype=dq.dtype, device=dq.device)
        grads = self.grad_views(self._grads)
        if not saved.dh:
            saved.dh = [torch.empty_like(h) for h in saved.h]
        torch.bmm(dq, saved.h[-1].mT, out=grads[f"{self.head}.weight"])  # (S, A, H)
        torch.sum(dq, -1, out=grads[f"{self.head}.bias"])
        dh = torch.bmm(params[f"{self.head}.weight"].mT, dq, out=saved.dh[-1])  # (S, H, B)
        for i in reversed(range(len(self.blocks))):
            block = self.blocks[i]
            keep = self.dropout.scales if self.dropout is not None and block.dropout else None
            bias_grad = grads[f"{block.linear}.bias"]
            if block.norm is not None:
                fused.ln_relu_dropout_backward(
                    dh, saved.h[i], saved.z[i], saved.rstd[i], params[f"{block.norm}.weight"], keep,
                    grads[f"{block.norm}.weight"], grads[f"{block.norm}.bias"], bias_grad,
                )  # fmt: skip
            else:  # a plain ReLU block: the gradient passes where h > 0 (kept and open)
                scale = 1.0 if keep is None else keep.view(-1, 1, 1)
                torch.where(saved.h[i] > 0, dh * scale, 0.0, out=dh)
                torch.sum(dh, -1, out=bias_grad)
            weight_grad = grads[f"{block.linear}.weight"]  # (S, H, D_i)
            if i == 0:
                # the states (S, B, D): (x^T dz)^T is several times faster than dz^T x for a narrow D
                weight_grad.copy_(torch.bmm(self.x.mT, dh.mT).mT)
            else:
                torch.bmm(dh, saved.h[i - 1].mT, out=weight_grad)
                dh = torch.bmm(params[f"{block.linear}.weight"].mT, dh, out=saved.dh[i - 1])  # (S, D_i, B)
        return self._grads
