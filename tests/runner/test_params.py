"""Tests of distill_lib.runner.params: known names, YAML layering, and guarded params files."""

from __future__ import annotations

import pytest

from distill_lib.experiments import EXPERIMENTS
from distill_lib.runner.params import layer_params, load_yaml, read_sources, specs_of

SPECS = specs_of(EXPERIMENTS)


def test_every_name_is_declared_once_with_one_spec():
    assert {"seed", "modes", "world_seeds", "sweep_temperature", "real_task_widths", "work_dir", "plugins"} <= set(
        SPECS
    )
    assert SPECS["alpha"].owner == "AlphaParams" and SPECS["seed"].owner == "SeedParams"


def test_files_layer_in_order_and_overrides_win(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 1\nlr: 1e-3\n")
    b.write_text("seed: 2\n")
    params = layer_params(read_sources([a, b], [("epochs", "7"), ("modes", "[hard_only]")]), SPECS)
    assert params == {"seed": 2, "lr": 0.001, "epochs": 7, "modes": ["hard_only"]}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a: &x [1, 2]\nseed: *x\n", "aliases (*name) are not allowed"),
        ("seed: 1\nseed: 2\n", "duplicate key 'seed'"),
        ("seed: [1, 2\n", "malformed YAML at line"),
        ("- seed\n", "expected a mapping"),
        ("sed: 1\n", "unknown parameter 'sed': did you mean 'seed'?"),
        ("epochs: ten\n", "epochs='ten': expected an integer"),
    ],
)
def test_bad_params_files_are_refused_naming_the_file(tmp_path, text, fragment):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ValueError) as err:
        load_yaml(f, SPECS)
    assert str(f) in str(err.value) and fragment in str(err.value) and "\n" not in str(err.value)


def test_an_alias_bomb_is_refused_quickly_and_in_one_short_line(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)
    ]
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\nseed: *a11\n")
    with pytest.raises(ValueError) as err:
        load_yaml(f, SPECS)
    assert "aliases" in str(err.value) and len(str(err.value)) < 300


def test_a_directory_is_not_called_missing(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_yaml(tmp_path, SPECS)
