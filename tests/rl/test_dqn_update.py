"""Tests of distill_lib.rl.dqn_update: the hand-written TD gradient equals autograd's, agent by agent."""

from __future__ import annotations

import pytest
import torch

from distill_lib.core.networks import QNetwork
from distill_lib.core.stacked import FlatLayout, stacked_forward
from distill_lib.rl.dqn import TD_LOSSES, td_targets
from distill_lib.rl.dqn_update import StackedQ, td_gradient


def _agents(k: int, seed: int = 0) -> tuple[FlatLayout, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    torch.manual_seed(seed)
    nets = [QNetwork(8, 16, 4, dropout=0.1) for _ in range(k)]
    layout = FlatLayout(nets[0].state_dict())
    flat = layout.flatten([net.state_dict() for net in nets])  # (K, P)
    flat += 0.1 * torch.randn_like(flat)  # LayerNorm gains and shifts away from 1 and 0
    target = flat + 0.05 * torch.randn_like(flat)
    b = 32
    batch = (
        torch.randn(k, b, 8),
        torch.randint(4, (k, b)),
        3 * torch.randn(k, b),  # rewards: TD errors on both sides of the Huber kink
        torch.randn(k, b, 8),
        (torch.rand(k, b) < 0.2).float(),
    )
    return layout, flat, target, batch


@pytest.mark.parametrize(("loss_fn", "double_dqn"), [("huber", True), ("mse", False), ("huber", False)])
def test_gradient_and_loss_equal_autograds(loss_fn: str, double_dqn: bool) -> None:
    layout, flat, target_flat, batch = _agents(3)
    s, a, r, s_next, term = batch
    leaf = flat.clone().requires_grad_()
    online, target = layout.views(leaf), layout.views(target_flat)
    y = td_targets(lambda x: stacked_forward(online, x, 1e-5), lambda x: stacked_forward(target, x, 1e-5),
                   r, s_next, term, 0.99, double_dqn)  # fmt: skip
    q_sa = stacked_forward(online, s, 1e-5).gather(-1, a.unsqueeze(-1)).squeeze(-1)
    loss = TD_LOSSES[loss_fn](q_sa, y, reduction="none").mean(-1)  # (K,)
    (expected,) = torch.autograd.grad(loss.sum(), [leaf])
    grad, mine = td_gradient(
        StackedQ(layout, flat, 1e-5), StackedQ(layout, target_flat, 1e-5), batch, 0.99, double_dqn, loss_fn
    )
    assert grad.shape == flat.shape
    torch.testing.assert_close(mine, loss.detach(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6 * expected.abs().max().item())
    assert (expected.abs() > 1e-3).float().mean() > 0.5  # every layer's gradient is there to compare


def test_an_agent_stacked_among_others_gets_its_own_gradient_bit_for_bit() -> None:
    layout, flat, target_flat, batch = _agents(3)
    together, _ = td_gradient(StackedQ(layout, flat, 1e-5), StackedQ(layout, target_flat, 1e-5), batch, 0.99, True,
                              "huber")  # fmt: skip
    one = [t[1:2] for t in batch]
    alone, _ = td_gradient(StackedQ(layout, flat[1:2], 1e-5), StackedQ(layout, target_flat[1:2], 1e-5), tuple(one),
                           0.99, True, "huber")  # fmt: skip
    assert torch.equal(together[1:2], alone)
    assert not torch.equal(together[0], together[1])


def test_forward_equals_the_modules() -> None:
    layout, flat, _, (s, *_rest) = _agents(2)
    net = QNetwork(8, 16, 4, dropout=0.1).eval()
    net.load_state_dict(layout.state_dict(flat, 1))
    with torch.no_grad():
        torch.testing.assert_close(StackedQ(layout, flat, net[1].eps)(s)[1], net(s[1]), rtol=1e-5, atol=1e-6)
