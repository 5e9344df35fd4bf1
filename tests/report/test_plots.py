"""Tests of distill_lib.report.plots: colours, and saving a figure atomically."""

from matplotlib.figure import Figure

from distill_lib.report.plots import MODE_COLORS, image, mode_color, save_figure


def test_one_colour_per_objective_and_none_otherwise():
    assert set(MODE_COLORS) == {"hard_only", "blended", "soft_only"} and len(set(MODE_COLORS.values())) == 3
    assert mode_color("blended") == MODE_COLORS["blended"] and mode_color("other") is None


def test_saved_png_and_inline_image(tmp_path):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "sub" / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not list((tmp_path / "sub").glob(".*"))
    assert image(fig).data[:4] == b"\x89PNG"


def test_every_objective_has_a_colour_of_its_own_and_baselines_are_grey():
    from distill_lib.core.objectives import OBJECTIVES, VARIANTS
    from distill_lib.report.plots import objective_color

    colours = [objective_color(o) for o in (*OBJECTIVES, *VARIANTS)]
    assert len(set(colours)) == len(colours) and "#7f7f7f" not in colours
    assert objective_color("hard (DAgger)") == objective_color("hard")
    assert objective_color("DQN from scratch") == "#7f7f7f"
