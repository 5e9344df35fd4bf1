import pytest
import torch
from torch import nn

from distill_lib.core.networks import PairedLayerNorm, build_student, build_teacher, student_hidden_dim


def test_architecture_order_and_init():
    t = build_teacher(0, 8, 64, 4)
    kinds = [type(m).__name__ for m in t]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Dropout", "Linear", "LayerNorm", "ReLU", "Dropout", "Linear"]
    assert [m.p for m in t if isinstance(m, nn.Dropout)] == [0.1, 0.1]
    assert not t.training and not any(p.requires_grad for p in t.parameters())
    for m in t:
        if isinstance(m, nn.Linear):
            assert torch.count_nonzero(m.bias) == 0
            bound = (6 / (m.in_features + m.out_features)) ** 0.5  # xavier_uniform
            assert m.weight.abs().max() <= bound
    s = build_student(0, 8, 64, 4)
    assert s.hidden_dim == 32 == student_hidden_dim(64) and student_hidden_dim(20) == 16
    assert [m.p for m in s if isinstance(m, nn.Dropout)] == [0.05, 0.05]


def test_seeding_reproduces_and_differs():
    a, b, c = build_teacher(1, 8, 16, 4), build_teacher(1, 8, 16, 4), build_teacher(2, 8, 16, 4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a[0].weight, c[0].weight)
    # the student is seeded with seed + 20000, independently of the teacher
    assert torch.equal(build_student(1, 8, 16, 4)[0].weight, build_student(1, 8, 16, 4)[0].weight)


def test_seed_compatible_init_consumes_default_init_first():
    # The protocol: construct every layer with PyTorch's default init (which draws from the
    # RNG), then re-draw each Linear weight with xavier_uniform_ in module order. Written out:
    torch.manual_seed(5)
    layers = [nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 16), nn.LayerNorm(16), nn.Linear(16, 4)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
    teacher = build_teacher(5, 8, 16, 4)
    assert torch.equal(teacher[0].weight, layers[0].weight) and torch.equal(teacher[8].weight, layers[4].weight)
    # xavier alone, without the default init's draws first, gives other weights
    torch.manual_seed(5)
    direct = nn.init.xavier_uniform_(torch.empty(16, 8))
    assert not torch.equal(direct, teacher[0].weight)


@pytest.mark.parametrize("batch", [64, 20, 7, 2])
def test_paired_layernorm_one_thread_equals_layernorm_two_threads(batch):
    torch.manual_seed(batch)
    x, g = torch.randn(batch, 32), torch.randn(batch, 32)
    ref, paired = nn.LayerNorm(32), PairedLayerNorm(32)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    paired.load_state_dict(ref.state_dict())
    torch.set_num_threads(2)
    x_ref = x.clone().requires_grad_(True)
    out_ref = ref(x_ref)
    (out_ref * g).sum().backward()
    torch.set_num_threads(1)
    x_p = x.clone().requires_grad_(True)
    out_p = paired(x_p)
    (out_p * g).sum().backward()
    assert torch.equal(out_ref, out_p)
    assert torch.equal(ref.weight.grad, paired.weight.grad) and torch.equal(ref.bias.grad, paired.bias.grad)
    assert torch.equal(x_ref.grad, x_p.grad)


def test_one_thread_plain_layernorm_differs_so_the_pairing_matters():
    torch.manual_seed(0)
    x, g = torch.randn(64, 32), torch.randn(64, 32)
    grads = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        ln = nn.LayerNorm(32)
        (ln(x) * g).sum().backward()
        grads.append(ln.weight.grad.clone())
    assert not torch.equal(*grads)


# ---- the plain student: the shape users deploy ----------------------------------------------------


def test_plain_student_is_linear_relu_twice_and_a_head_initialised_as_the_study_student():
    from distill_lib.core.networks import PlainQNetwork, dropout_rate, student_kind

    s = build_student(3, 8, 64, 4, kind="plain")
    assert isinstance(s, PlainQNetwork) and student_kind(s) == "plain" and dropout_rate(s) is None
    assert [type(m).__name__ for m in s] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert (s.input_dim, s.hidden_dim, s.output_dim) == (8, 32, 4)
    # the same seeding and initialisation: default init of every layer in order, then Xavier and zero biases
    torch.manual_seed(3 + 20000)
    layers = [nn.Linear(8, 32), nn.Linear(32, 32), nn.Linear(32, 4)]
    for layer in layers:
        nn.init.xavier_uniform_(layer.weight)
    for mine, want in zip([s[0], s[2], s[4]], layers):
        assert torch.equal(mine.weight, want.weight) and torch.count_nonzero(mine.bias) == 0
    assert torch.equal(build_student(3, 8, 64, 4, kind="plain")[2].weight, s[2].weight)
    study = build_student(3, 8, 64, 4)
    assert student_kind(study) == "study" and dropout_rate(study) == 0.05
    x = torch.randn(5, 8)
    assert torch.equal(s.train()(x), s.eval()(x))  # no dropout: train and eval modes agree


def test_build_student_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind='wide'"):
        build_student(0, 8, 64, 4, kind="wide")


def test_dropout_layers_of_one_network_must_share_p():
    from distill_lib.core.networks import dropout_rate

    with pytest.raises(ValueError, match="differ in p"):
        dropout_rate(nn.Sequential(nn.Dropout(0.1), nn.Dropout(0.2)))
