"""One DQN gradient step for K stacked agents, with the Q-network's backward pass written out.

A DQN update on LunarLander is ``(K, 128)`` rows through a width-64 ``QNetwork``: a few
MFLOP, so autograd's bookkeeping (graph building, one node per op, the engine's thread
hand-off) costs more than the arithmetic. Here the forward of the online network runs once
on the sampled states and next states together, and the gradient of the TD loss is
propagated by hand through ``QNetwork``'s layers in eval mode (no dropout)::

    h1 = x W1^T + b1,  a1 = relu(LN(h1) g1 + s1),  h2 = a1 W2^T + b2,  a2 = relu(LN(h2) g2 + s2),  Q = a2 W3^T + b3

    LN backward (Ba et al. 2016), per row with xhat = (h - mean h) * rstd and dxhat = dn * g:
        dh = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

The loss is agent ``k``'s mean over its ``B`` transitions of the Huber loss (``smooth_l1``,
beta 1) or the squared error of ``Q(s, a) - y``, with the targets ``y`` of ``rl.dqn.td_targets``;
its gradient w.r.t. ``Q(s, a)`` is ``clamp(Q - y, -1, 1) / B`` (Huber) or ``2 (Q - y) / B``.
Every op keeps the agent axis first and reads only its own agent's rows, so an agent
stacked among others gets the same bits as alone. The gradient equals autograd's to float32
rounding (``tests/rl/test_dqn_update.py``), not bit for bit: sums are taken in another order.
"""

from __future__ import annotations

import torch

from ..core.stacked import LINEAR_KEYS, NORM_KEYS, FlatLayout

__all__ = ["StackedQ", "td_gradient"]


class StackedQ:
    """K ``QNetwork`` s whose weights are the rows of a flat ``(K, P)`` tensor (``FlatLayout``), in eval mode."""

    def __init__(self, layout: FlatLayout, flat: torch.Tensor, eps: float) -> None:
        self.layout, self.flat, self.eps = layout, flat, eps
        p = layout.views(flat)  # views: they follow in-place updates of flat
        self.weight = [p[f"{k}.weight"] for k in LINEAR_KEYS]  # (K, out, in)
        self.bias = [p[f"{k}.bias"].unsqueeze(1) for k in LINEAR_KEYS]  # (K, 1, out)
        self.gain = [p[f"{k}.weight"].unsqueeze(1) for k in NORM_KEYS]  # (K, 1, H)
        self.shift = [p[f"{k}.bias"].unsqueeze(1) for k in NORM_KEYS]  # (K, 1, H)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``(K, B, A)`` of states ``(K, B, D)``."""
        return self.forward(x)[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Q ``(K, B, A)`` and what the backward needs: ``[x, xhat1, rstd1, a1, xhat2, rstd2, a2]``."""
        saved, h = [x], x
        for layer in range(2):
            d = torch.baddbmm(self.bias[layer], h, self.weight[layer].transpose(1, 2))  # (K, B, H)
            d -= d.mean(-1, keepdim=True)  # centred pre-activations
            rstd = (d * d).mean(-1, keepdim=True).add_(self.eps).rsqrt_()  # (K, B, 1) biased variance, as LayerNorm
            xhat = d.mul_(rstd)  # ATen's LayerNorm kernel takes twice as long on these rows
            h = torch.addcmul(self.shift[layer], xhat, self.gain[layer]).relu_()
            saved += [xhat, rstd, h]
        return torch.baddbmm(self.bias[2], h, self.weight[2].transpose(1, 2)), saved  # (K, B, A)

    def backward(self, dq: torch.Tensor, saved: list[torch.Tensor], rows: int) -> torch.Tensor:
        """The flat gradient ``(K, P)`` of ``sum(dq * Q)`` w.r.t. the weights, from the first ``rows`` rows of ``saved``."""
        x, xhat1, rstd1, a1, xhat2, rstd2, a2 = (t[:, :rows] for t in saved)
        grads: dict[str, torch.Tensor] = {}
        head, lin2, lin1 = LINEAR_KEYS[2], LINEAR_KEYS[1], LINEAR_KEYS[0]
        grads[f"{head}.weight"] = torch.bmm(dq.transpose(1, 2), a2)  # (K, A, H)
        grads[f"{head}.bias"] = dq.sum(1)
        da = torch.bmm(dq, self.weight[2])  # (K, B, H)
        for layer, (lin, prev_a, xhat, rstd, out) in enumerate(
            [(lin2, a1, xhat2, rstd2, a2), (lin1, x, xhat1, rstd1, a1)]
        ):
            index = 1 - layer  # the LayerNorm of this block: NORM_KEYS[1] then NORM_KEYS[0]
            dn = torch.ops.aten.threshold_backward(da, out, 0.0)  # through the ReLU: da where relu(n) > 0
            grads[f"{NORM_KEYS[index]}.weight"] = (dn * xhat).sum(1)
            grads[f"{NORM_KEYS[index]}.bias"] = dn.sum(1)
            dxhat = dn * self.gain[index]
            proj = (dxhat * xhat).mean(-1, keepdim=True)  # (K, B, 1)
            dh = torch.addcmul(dxhat, xhat, proj, value=-1.0).sub_(dxhat.mean(-1, keepdim=True)).mul_(rstd)  # (K, B, H)
            grads[f"{lin}.weight"] = torch.bmm(dh.transpose(1, 2), prev_a)  # (K, H, in)
            grads[f"{lin}.bias"] = dh.sum(1)
            if index == 1:
                da = torch.bmm(dh, self.weight[1])  # (K, B, H)
        n = len(dq)
        return torch.cat([grads[k].reshape(n, -1) for k in self.layout.keys], dim=1)  # (K, P)


def td_gradient(
    online: StackedQ,
    target: StackedQ,
    batch: tuple[torch.Tensor, ...],
    gamma: float,
    double_dqn: bool,
    loss_fn: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The flat gradient ``(K, P)`` of each agent's TD loss and the losses ``(K,)``.

    ``batch`` is ``(s (K, B, D), a (K, B) int64, r (K, B), s' (K, B, D), terminated (K, B))``.
    """
    s, a, r, s_next, term = batch
    b = s.shape[1]
    with torch.no_grad():
        q_all, saved = online.forward(torch.cat([s, s_next], dim=1))  # (K, 2B, A): one pass for s and s'
        q_next = target(s_next)  # (K, B, A)
        if double_dqn:
            v_next = q_next.gather(-1, q_all[:, b:].argmax(-1, keepdim=True)).squeeze(-1)  # (K, B)
        else:
            v_next = q_next.max(-1).values
        y = r + gamma * (1.0 - term) * v_next
        q_sa = q_all[:, :b].gather(-1, a.unsqueeze(-1)).squeeze(-1)  # (K, B)
        diff = q_sa - y
        if loss_fn == "huber":
            small = diff.abs() < 1.0
            loss = torch.where(small, 0.5 * diff * diff, diff.abs() - 0.5).mean(-1)  # (K,)
            d_q_sa = diff.clamp(-1.0, 1.0) / b
        else:
            loss = (diff * diff).mean(-1)
            d_q_sa = 2.0 * diff / b
        dq = torch.zeros_like(q_all[:, :b]).scatter_(-1, a.unsqueeze(-1), d_q_sa.unsqueeze(-1))  # (K, B, A)
        return online.backward(dq, saved, b), loss
