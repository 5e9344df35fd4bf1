"""S students' weights as one flat ``(S, P)`` tensor: its layout, per-student clipping and Adam.

With a student's parameters in one row, its gradient norm is one reduction and Adam is a
few elementwise operations, whatever the number of layers; one optimizer over the stacked
weights is S optimizers, because Adam is elementwise. Used by the stacked students
(``stacked``, ``stacked_mlp``) and the stacked DQN agents (``rl.dqn``).

References: Kingma & Ba 2015, "Adam" (``torch.optim.Adam``'s single-tensor update,
reproduced op for op); Pascanu et al. 2013 (gradient-norm clipping, per student).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["FlatAdam", "FlatLayout", "clip_per_student_"]


class FlatLayout:
    """Where each ``QNetwork`` parameter lives in a flat ``(S, P)`` buffer, one row per student.

    With a student's parameters in one row, its gradient norm is one reduction and Adam is
    six elementwise ops, whatever the number of layers. ``views`` gives the parameters in
    ``nn.Linear`` layout (weight ``(S, out, in)``), so a row unflattens to a state dict.
    """

    def __init__(self, example: dict[str, torch.Tensor]) -> None:
        self.keys = list(example)
        self.shapes = [tuple(v.shape) for v in example.values()]
        sizes = [v.numel() for v in example.values()]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.sizes = sizes

    def flatten(self, dicts: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """State dicts -> ``(S, P)``."""
        return torch.stack([torch.cat([d[k].reshape(-1) for k in self.keys]) for d in dicts])

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(S, P)`` -> ``{key: (S, *shape)}`` views (differentiable slices of ``flat``)."""
        n = flat.shape[0]
        return {
            k: flat[:, o : o + size].view(n, *shape)
            for k, shape, o, size in zip(self.keys, self.shapes, self.offsets, self.sizes)
        }

    def state_dict(self, flat: torch.Tensor, i: int) -> dict[str, torch.Tensor]:
        """Row ``i`` as a ``QNetwork`` state dict (fresh tensors)."""
        return {k: v[0].detach().clone() for k, v in self.views(flat[i : i + 1]).items()}


class FlatAdam:
    """``torch.optim.Adam`` (betas 0.9/0.999, eps 1e-8, no weight decay) on one flat tensor.

    The single-tensor update of ``torch.optim.Adam``, op for op (Kingma & Ba 2015, Alg. 1)::

        m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2
        theta <- theta - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    It is elementwise, so one instance over the stacked ``(S, P)`` weights is S optimizers.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.step_count = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.step_count += 1
        step = float(self.step_count)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (self.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-(self.lr / bias_correction1))

    def next_hyper(self) -> tuple[float, float, float, float, float, float]:
        """The next step's constants for a fused update (``fused.mlp_backward_adam``), as ``step`` computes them.

        ``(1 - beta1, beta2, 1 - beta2, eps, lr / (1 - beta1^t), (1 - beta2^t) ** 0.5)``, ``t`` the next step.
        """
        beta1, beta2 = self.betas
        step = float(self.step_count + 1)
        return 1 - beta1, beta2, 1 - beta2, self.eps, self.lr / (1 - beta1**step), (1 - beta2**step) ** 0.5


def clip_per_student_(grad: torch.Tensor, max_norm: torch.Tensor, clip: torch.Tensor) -> None:
    """``nn.utils.clip_grad_norm_`` per student on flat grads ``(S, P)``, in place.

    ``coef_s = min(1, max_norm_s / (||g_s||_2 + 1e-6))`` where ``g_s`` is all of student
    s's gradient (Pascanu et al. 2013); students with ``clip`` False keep ``coef = 1``.
    """
    total = torch.linalg.vector_norm(grad, dim=1)  # (S,)
    coef = torch.where(clip, torch.clamp(max_norm / (total + 1e-6), max=1.0), 1.0)
    grad.mul_(coef.unsqueeze(1))
