"""Tests of ``distill_lib.core.module_student``: one ``nn.Module`` student executing the training loop."""

from __future__ import annotations

import torch
from torch import nn

from distill_lib.core.config import RunConfig
from distill_lib.core.module_student import ModuleStudent
from distill_lib.core.networks import build_student, build_teacher
from distill_lib.core.streams import StudentStreams

CONFIG = RunConfig(seed=3, n_states=100, epochs=1, teacher_hidden=16, batch_size=32)


def _net() -> tuple[ModuleStudent, torch.Tensor]:
    states = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
    teacher, student = build_teacher(3, 8, 16, 4), build_student(3, 8, 16, 4)
    idx = torch.randperm(100, generator=torch.Generator().manual_seed(1))
    return ModuleStudent([teacher], states, [student], [CONFIG], idx[None, :90], idx[None, 90:]), states


def test_stream_multipliers_replace_the_dropout_layers():
    net, _ = _net()
    keep = StudentStreams([3]).dropout(90, 16, [0.05], torch.float32).rows(0, 32)
    net.start_epoch(torch.arange(90)[None], [3.0])
    x, q_t = net.batch(0, 32)
    got = net.forward(x, keep)
    mult, h, k = keep.multipliers(), x, 0  # (1, 2, 32, 16)
    for module in net.student:  # the specification: inverted dropout with the stream's keep mask
        if isinstance(module, nn.Dropout):
            h, k = h * ((mult[0, k] > 0).float() * (1.0 / (1.0 - module.p))), k + 1
        else:
            h = module(h)
    assert torch.equal(got, h)
    assert torch.equal(q_t, net.teacher(x)) and x.shape == (32, 8)


def test_without_multipliers_nn_dropout_draws_from_the_global_rng():
    net, _ = _net()
    net.start_epoch(torch.arange(90)[None], [3.0])
    x, _ = net.batch(0, 32)
    torch.manual_seed(5)
    a = net.forward(x, None)
    torch.manual_seed(5)
    b = net.forward(x, None)
    assert torch.equal(a, b) and not torch.equal(a, net.forward(x, None))  # the masks come from the RNG


def test_predict_is_one_eval_forward_per_batch_in_the_given_order():
    net, _ = _net()
    order = torch.randperm(10, generator=torch.Generator().manual_seed(2))[None]
    q_s, q_t = net.predict(order)
    assert not net.student.training and q_s.shape == (10, 4)
    with torch.no_grad():
        assert torch.equal(q_s, net.student(net.x_val[order[0]]))
        assert torch.equal(q_t, net.teacher(net.x_val[order[0]]))
        split_s, split_t = net.predict_split()
        assert torch.equal(split_t, net.teacher(net.x_val))
        assert torch.equal(split_s, net.student(net.x_val))


def test_best_state_is_a_copy_of_the_weights_then():
    net, _ = _net()
    net.keep_best([0])
    with torch.no_grad():
        net.student[0].weight.add_(1.0)
    assert not torch.equal(net.state_dict(0, best=True)["0.weight"], net.state_dict(0)["0.weight"])
    assert torch.equal(net.state_dict(0)["0.weight"], net.student[0].weight)
    assert net.per_student([0.7]) == 0.7  # one student: Python floats, as the original computed
