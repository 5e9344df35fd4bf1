import pytest

from distill_lib.core.config import MODES, RunConfig, describe, mode_for_alpha


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
        ("temperature", 0.0, "> 0"),
        ("temperature", -2.0, "> 0"),
        ("temp_decay", 0.0, "(0, 1]"),
        ("temp_decay", 1.01, "(0, 1]"),
        ("lr", 0.0, "> 0"),
        ("epochs", 0, ">= 1"),
        ("batch_size", 0, ">= 1"),
        ("val_fraction", 1.0, "[0, 1)"),
        ("val_fraction", -0.1, "[0, 1)"),
        ("max_grad_norm", 0.0, "> 0"),
        ("loss_fn", "huber", "kl, mse"),
        ("n_states", 1, ">= 2"),
        ("epochs", 2.5, "integer"),
        ("lr", "1e-3", "number"),
    ],
)
def test_bad_values_name_field_value_and_range(field, value, fragment):
    kwargs = {field: value}
    if field == "alpha":
        kwargs["mode"] = "blended"
    with pytest.raises(ValueError) as err:
        RunConfig(**kwargs)
    message = str(err.value)
    assert message.startswith(f"{field}={value!r}") and fragment in message and "\n" not in message


def test_mode_must_match_alpha_and_be_known():
    for mode, alpha in MODES.items():
        assert RunConfig(mode=mode, alpha=alpha).mode == mode
    with pytest.raises(ValueError, match="mode='hard_only'.*does not match alpha=0.7"):
        RunConfig(mode="hard_only", alpha=0.7)
    with pytest.raises(ValueError, match="mode='hardonly': must be one of"):
        RunConfig(mode="hardonly", alpha=0.0)
    assert [mode_for_alpha(a) for a in (0.0, 0.3, 1.0)] == ["hard_only", "blended", "soft_only"]


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


def test_every_field_has_help():
    assert set(describe()) == set(RunConfig().to_dict())
