"""Multi-seed runs, the sweep cell, and the analysis of both, at toy size."""

import numpy as np
import pytest

from distill_lib.core.config import RunConfig
from distill_lib.experiments.artifacts import prepare_data
from distill_lib.experiments.sections import collect_sections
from distill_lib.experiments.seeds import base_config, run_seeds, summarize, synthetic_world
from distill_lib.experiments.sweep import cell_key, cell_name, grid, run_cell

BASE = RunConfig(n_states=200, epochs=2, teacher_hidden=16, batch_size=32)
MODES = {"hard_only": 0.0, "blended": 0.7, "soft_only": 1.0}


@pytest.fixture(scope="module")
def world_record():
    return run_seeds("world", [0, 1, 2], MODES, BASE, n_bins=4)


def test_world_seeds_change_the_teacher_and_keep_the_modes_paired(world_record):
    runs = world_record["runs"]
    assert [(r["seed"], r["mode"]) for r in runs] == [(s, m) for s in (0, 1, 2) for m in MODES]
    for r in runs:
        assert sum(b["n"] for b in r["gap_bins"]) == BASE.n_val and len(r["gap_bins"]) == 4
        gaps = [(b["gap_low"], b["gap_high"]) for b in r["gap_bins"]]
        assert all(lo <= hi for lo, hi in gaps) and all(gaps[k][1] <= gaps[k + 1][0] for k in range(3))
    t0, _, _ = synthetic_world(0, BASE)
    t1, _, _ = synthetic_world(1, BASE)
    assert not np.allclose(t0[0].weight.numpy(), t1[0].weight.numpy())


def test_summary_has_ci_per_mode_and_paired_tests(world_record):
    summary = summarize(world_record)
    ci = summary["per_mode"]["action_agreement"]["hard_only"]
    values = [r["final"]["action_agreement"] for r in world_record["runs"] if r["mode"] == "hard_only"]
    assert ci["mean"] == pytest.approx(np.mean(values)) and ci["low"] <= ci["mean"] <= ci["high"]
    assert set(summary["pairs"]["action_agreement"]) == {
        "hard_only - blended",
        "hard_only - soft_only",
        "blended - soft_only",
    }
    pair = summary["pairs"]["action_agreement"]["hard_only - soft_only"]
    diffs = [
        a - b
        for a, b in zip(
            values,
            [r["final"]["action_agreement"] for r in world_record["runs"] if r["mode"] == "soft_only"],
            strict=True,
        )
    ]
    assert pair["difference"]["mean"] == pytest.approx(np.mean(diffs))
    assert pair["p_value"] >= 0.25 - 1e-9  # 3 seeds: a sign-flip test cannot go lower than 2/8
    assert pair["verdict"].startswith("no detectable difference")
    assert list(summary["gap"]) == ["hard_only", "blended", "soft_only"]


def test_training_seeds_share_the_studys_teacher(tmp_path):
    world = prepare_data(
        dict(
            seed=5,
            input_dim=8,
            output_dim=4,
            teacher_hidden=16,
            student_hidden=None,
            n_states=200,
            source="synthetic",
            states_file=None,
            teacher_checkpoint=None,
        ),
        tmp_path,
    )
    record = run_seeds("training", [0, 1], {"hard_only": 0.0}, BASE, world=world, n_bins=2)
    assert record["kind"] == "training" and len(record["runs"]) == 2
    a, b = record["runs"]
    assert a["final"] != b["final"]  # different init and stream
    with pytest.raises(ValueError, match="data folder"):
        run_seeds("training", [0, 1], MODES, BASE)
    with pytest.raises(ValueError, match="listed twice"):
        run_seeds("world", [1, 1], MODES, BASE)


def test_sweep_cell_and_grid():
    cell = run_cell(2.0, [0.0, 0.5, 1.0], [0, 1], BASE)
    assert [(r["seed"], r["alpha"]) for r in cell["runs"]] == [(s, a) for s in (0, 1) for a in (0.0, 0.5, 1.0)]
    mse = run_cell(1.0, [0.0, 0.5], [0], BASE, loss_fn="mse")
    assert mse["alphas"] == [1.0] and cell_name(1.0, "mse") == "mse" and cell_name(0.25) == "T=0.25"
    temps, alphas, table = grid([cell, mse], "action_agreement")
    assert temps == [2.0] and alphas == [0.0, 0.5, 1.0] and table.shape == (1, 3)
    expected = np.mean([r["final"]["action_agreement"] for r in cell["runs"] if r["alpha"] == 0.5])
    assert table[0, 1] == pytest.approx(expected)


def test_keys_follow_the_parameters():
    p = dict(
        sweep_temperature=1.0, sweep_loss_fn="kl", sweep_alphas=[0.0, 1.0], sweep_seeds=[0], n_states=200, epochs=2
    )
    assert cell_key(p) == cell_key(dict(p)) and cell_key(p) != cell_key({**p, "epochs": 3})
    assert base_config({"alpha": 0.0, "epochs": 2}).mode == "hard_only"


def test_sections_report_what_is_missing(tmp_path, world_record):
    from distill_lib.experiments.artifacts import save_section

    sections = collect_sections(tmp_path, [0, 1], [], [1.0], False)
    assert sections.missing == ["seeds", "sweep T=1"] and "Not finished: seeds" in sections.seeds_markdown
    save_section(tmp_path / "seeds" / "seeds.json", {"modes": MODES, "sections": {"world": world_record}}, key="k")
    sections = collect_sections(tmp_path, [0, 1, 2], [], [], False)
    assert sections.missing == [] and "World seeds (n = 3)" in sections.seeds_markdown
    assert "Verdict" in sections.seeds_markdown and "top-1 agreement" in sections.seeds_markdown.lower()
    assert sections.gap_markdown.count("\n|") >= 4 and "seeds" in sections.summary
