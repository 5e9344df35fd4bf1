"""Tests of distill_lib.core.config: the run config, its constants and its validation."""

import pytest

from distill_lib.core.config import (
    MAX_SEED,
    MODES,
    ModesParams,
    RunConfig,
    alpha_for,
    loss_names,
    mode_for_alpha,
    student_hidden_dim,
)


def test_defaults_are_the_original_study():
    c = RunConfig()
    assert (c.seed, c.input_dim, c.output_dim, c.teacher_hidden, c.n_states) == (42, 8, 4, 64, 5000)
    assert (c.temperature, c.epochs, c.batch_size, c.lr, c.val_fraction, c.loss_fn, c.max_grad_norm) == (
        3.0,
        25,
        64,
        1e-3,
        0.1,
        "kl",
        1.0,
    )
    assert c.n_val == 500 and c.student_width == 32


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("alpha", -0.1, "[0, 1]"),
        ("alpha", 1.5, "[0, 1]"),
        ("temperature", 0.0, "(0, 1000]"),
        ("temperature", -2.0, "(0, 1000]"),
        ("temperature", 1e300, "(0, 1000]"),
        ("temp_decay", 0.0, "(0, 1]"),
        ("temp_decay", 1.01, "(0, 1]"),
        ("lr", 0.0, "(0, 1]"),
        ("lr", 1e30, "(0, 1]"),
        ("epochs", 0, "[1, 100000]"),
        ("batch_size", 0, "[1, "),
        ("val_fraction", 1.0, "[0, 1)"),
        ("val_fraction", -0.1, "[0, 1)"),
        ("max_grad_norm", 0.0, "(0, 1000000]"),
        ("loss_fn", "huber", "kl, mse"),
        ("n_states", 1, "[2, "),
        ("epochs", 2.5, "integer"),
        ("lr", "1e-3", "number"),
        ("seed", -1, f"[0, {MAX_SEED}]"),
        ("seed", MAX_SEED + 1, f"[0, {MAX_SEED}]"),
    ],
)
def test_bad_values_name_field_value_and_range(field, value, fragment):
    kwargs = {field: value}
    with pytest.raises(ValueError) as err:
        RunConfig(**kwargs)
    message = str(err.value)
    assert message.startswith(f"{field}=") and fragment in message and "\n" not in message


def test_a_decay_that_takes_the_temperature_to_nothing_is_refused():
    RunConfig(temp_decay=0.5, epochs=10)  # 3 * 0.5^9 = 0.006: fine
    with pytest.raises(ValueError, match="temp_decay=1e-300: takes the temperature to 0"):
        RunConfig(temp_decay=1e-300)


def test_mode_must_match_alpha_and_be_known():
    for mode, alpha in MODES.items():
        assert RunConfig(mode=mode, alpha=alpha).mode == mode
    with pytest.raises(ValueError, match="alpha=0.7: does not fit mode='hard_only'"):
        RunConfig(mode="hard_only", alpha=0.7)
    with pytest.raises(ValueError, match="mode='hardonly': must be one of"):
        RunConfig(mode="hardonly", alpha=0.0)
    assert [mode_for_alpha(a) for a in (0.0, 0.3, 1.0)] == ["hard_only", "blended", "soft_only"]
    assert [alpha_for(m, 0.4) for m in MODES] == [0.0, 0.4, 1.0]


def test_a_study_names_alpha_when_the_blended_mode_cannot_use_it():
    assert ModesParams(modes=["hard_only"], alpha=0.0).mode_alphas() == {"hard_only": 0.0}
    with pytest.raises(ValueError, match="^alpha=0.0: the blended objective's alpha must be in"):
        ModesParams(alpha=0.0)


def test_split_is_never_empty_at_the_extremes():
    # n_val = max(1, int(N * f)) with f < 1 leaves at least one state on each side
    for n, f in [(2, 0.0), (2, 0.99), (3, 0.999), (5000, 0.0)]:
        c = RunConfig(n_states=n, val_fraction=f)
        assert c.n_val >= 1 and c.n_states - c.n_val >= 1


def test_frozen_and_none_clip_allowed():
    c = RunConfig(max_grad_norm=None)
    with pytest.raises(AttributeError):
        c.alpha = 0.5  # type: ignore[misc]
    assert RunConfig.from_params({**c.to_dict(), "unrelated": 1}) == c


def test_every_field_has_help_and_the_objectives_come_from_the_losses():
    specs = RunConfig.specs()
    assert set(specs) == set(RunConfig().to_dict()) and all(s.help for s in specs.values())
    from distill_lib.core.losses import LOSSES

    assert loss_names() == tuple(LOSSES) and specs["loss_fn"].rule.allowed() == tuple(LOSSES)


def test_student_width_rule():
    assert student_hidden_dim(64) == 32 and student_hidden_dim(20) == 16 and student_hidden_dim(64, 8) == 8
