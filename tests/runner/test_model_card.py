"""What compress writes: a deployable copy with the trained student's Q-values, an output folder written whole or not
at all, a refused output folder, and a card whose text is its numbers."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from distill_lib.core.networks import build_student
from distill_lib.core.schema import ParamError
from distill_lib.runner.model_card import _torchscript, _write_folder, card_markdown, check_out_dir, deployable


@pytest.mark.parametrize("kind", ["plain", "study"])
def test_the_deployable_copy_is_a_stock_sequential_with_the_same_keys_and_q_values(kind: str) -> None:
    net = build_student(3, 4, 64, 2, hidden_dim=8, kind=kind).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))  # trained-looking weights: LayerNorm's gamma and beta away from 1 and 0
    copy = deployable(net)
    assert type(copy) is nn.Sequential and not copy.training
    assert {type(m) for m in copy} <= {nn.Linear, nn.LayerNorm, nn.ReLU, nn.Dropout}
    assert list(copy.state_dict()) == list(net.state_dict())
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))  # (N, D)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), net(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.testing.assert_close(_torchscript(net, x)(x), net(x))


def test_a_network_that_is_not_a_stock_mlp_is_refused() -> None:
    with pytest.raises(ValueError, match="Tanh"):
        deployable(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)))


def test_the_folder_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write_folder(out, {"a.txt": lambda p: p.write_text("one")})
    assert (out / "a.txt").read_text() == "one"

    def fail(path: Path) -> None:
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _write_folder(out, {"b.txt": lambda p: p.write_text("two"), "c.txt": fail})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    assert [p.name for p in out.iterdir()] == ["a.txt"]  # the earlier output untouched
    _write_folder(out, {"b.txt": lambda p: p.write_text("two")})
    assert [p.name for p in out.iterdir()] == ["b.txt"]  # replaced whole: nothing of the earlier one left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_output_folder_with_files_is_refused_unless_forced_and_only_compress_wrote_them(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "new", force=False)
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty", force=False)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "model_card.md").write_text("x")
    with pytest.raises(ParamError, match="--force"):
        check_out_dir(earlier, force=False)
    check_out_dir(earlier, force=True)
    (earlier / "notes.txt").write_text("mine")
    with pytest.raises(ParamError, match="notes.txt"):
        check_out_dir(earlier, force=True)
    with pytest.raises(ParamError, match="is a file"):
        check_out_dir(earlier / "notes.txt", force=True)


def _card(student: bool) -> dict:
    widths = [
        {"width": 4, "params": 50, "params_pct": 1.03, "objective": "hard", "settings": "hard (lr 0.003, 2,000 steps)",
         "return_pct": 81.25, "return_low": 62.5, "return_high": 99.96, "n": 5, "agreement": 0.8123, "keeps": False},
        {"width": 8, "params": 130, "params_pct": 2.67, "objective": "rusu", "settings": "rusu, tau = 0.1 (lr 0.001)",
         "return_pct": 98.75, "return_low": 96.04, "return_high": 101.46, "n": 5, "agreement": 0.9012, "keeps": True},
    ]  # fmt: skip
    card = {
        "task": "CartPole-v1",
        "teacher": {"file": "my.zip", "sha256": "ab" * 32, "format": "sb3", "layers": "4-64-64-2", "params": 4610,
                    "shipped": False},
        "teacher_return": 500.0,
        "threshold": {"keep": 0.95, "return_pct": 95.0, "rule": "the rule"},
        "widths": widths,
        "episodes": {"validation": 20, "test": 100},
        "student_kind": "plain",
        "command": "distill-study compress -o out",
        "provenance": {"commit": "c0ffee", "dirty": False, "distill_lib": "0.1.0", "versions": {"torch": "2.13.0"},
                       "python": "3.11.7", "cpu": {"model": "EPYC", "torch_capability": "AVX512"}},
        "student": None,
    }  # fmt: skip
    if student:
        card["student"] = {
            "width": 8, "layers": "4-8-8-2", "params": 130, "params_pct": 2.67, "objective": "rusu",
            "settings": "rusu, tau = 0.1 (lr 0.001)", "seed": 3, "checkpoint": 2,
            "return_pct": {"mean": 98.75, "low": 96.04, "high": 101.46, "confidence": 0.95, "n": 5, "method": "t"},
            "agreement": 0.9012, "own_return_pct": 100.0, "own_val_pct": 100.0, "own_agreement": 0.93,
            "own_agreement_visited": 0.95,
        }  # fmt: skip
    return card


def test_the_card_says_what_its_numbers_say() -> None:
    text = card_markdown(_card(student=True))
    assert text.startswith("# Compressed policy: CartPole-v1")
    assert "130 parameters: 2.7% of the teacher's" in text
    assert "keeps 98.8% of the teacher's return (95% interval [96.0, 101.5] over 5 student seeds; the bar: 95%)" in text
    assert "agrees with the teacher on 90.1% of its held-out states" in text
    assert "| 4 | 50 (1.0%) | hard (lr 0.003, 2,000 steps) | 81.2 [62.5, 100.0] (n = 5) | 0.812 | no |" in text
    assert "seed 3, checkpoint 2" in text and "Commit c0ffee," in text and "`distill-study compress -o out`" in text


def test_the_card_without_a_student_names_the_best_lower_bound_and_delivers_nothing() -> None:
    card = _card(student=False)
    card["widths"][1] |= {"return_low": 90.04, "keeps": False}
    text = card_markdown(card)
    assert text.startswith("# No compressed policy: CartPole-v1")
    assert "the best lower end was 90.0% (width 8). Nothing is delivered" in text
    assert "torch.jit.load" not in text
