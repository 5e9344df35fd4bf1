"""distill_lib.runner.readme_scale: the advantage-scale block says what its tests say, Holm over every cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill_lib.runner.readme_scale import SCALE_DIR, scale_block, scale_studies


def _ci(mean: float) -> dict[str, float]:
    return {"mean": mean, "low": mean - 3.0, "high": mean + 3.0}


def _width(env_id: str, width: int, scaled: float, raw: float, p: float, flipped: bool = False) -> dict:
    """One fair width of the two objectives; their pair ``advantage - advantage_raw`` (or its flip) with ``p``."""
    d = scaled - raw
    key, sign = ("advantage_raw - advantage", -1.0) if flipped else ("advantage - advantage_raw", 1.0)
    low, high = sorted((sign * (d - 2.0), sign * (d + 2.0)))
    pair = {"difference": {"mean": sign * d, "low": low, "high": high}, "p_value": p, "p_floor": 1e-6, "n": 20}
    objectives = [
        {"objective": "advantage", "label": "advantage (lr 0.003, 10,000 steps)", "return_pct": _ci(scaled)},
        {"objective": "advantage_raw", "label": "advantage_raw (lr 0.001, 1,000 steps)", "return_pct": _ci(raw)},
    ]
    return {"env_id": env_id, "width": width, "objectives": objectives, "pairs": {key: pair}}


def _study(env_id: str, *widths: dict) -> dict:
    return {"fair": {"widths": list(widths)}, "provenance": {"commit": "abcdef0123"}, "_path": f"{SCALE_DIR}/{env_id}"}


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]  # fmt: skip


def test_holm_runs_over_every_task_and_width():
    # alone each p is below 0.05; over 3 cells Holm multiplies the smallest by 3, the next by 2, the last by 1
    studies = [
        _study("CartPole-v1", _width("CartPole-v1", 8, 98.0, 60.0, 0.001), _width("CartPole-v1", 64, 82.0, 95.0, 0.02)),
        _study("Acrobot-v1", _width("Acrobot-v1", 8, 97.0, 84.0, 0.03)),
    ]
    text = scale_block(studies)
    rows = _rows(text)
    assert [(r[0], r[1]) for r in rows] == [("CartPole-v1", "8"), ("CartPole-v1", "64"), ("Acrobot-v1", "8")]
    assert [float(r[-1]) for r in rows] == pytest.approx([0.003, 0.04, 0.04])
    assert "scaled above unscaled in 2 of 3 cells (CartPole-v1 width 8; Acrobot-v1 width 8)" in text
    assert "below in 1 (CartPole-v1 width 64)" in text
    assert rows[0][2] == "98.0 [95.0, 101.0]" and rows[0][3] == "lr 0.003, 10,000 steps"
    assert rows[0][5] == "lr 0.001, 1,000 steps" and rows[0][6] == "38.0 [36.0, 40.0]"


def test_a_cell_significant_alone_is_not_claimed_after_the_correction():
    studies = [_study("CartPole-v1", *(_width("CartPole-v1", w, 90.0, 80.0, p) for w, p in ((8, 0.04), (4, 0.5))))]
    text = scale_block(studies)
    assert [float(r[-1]) for r in _rows(text)] == pytest.approx([0.08, 0.5])
    assert "scaled above unscaled in 0 of 2 cells (none)" in text and "below in 0 (none)" in text


def test_a_pair_stored_the_other_way_round_keeps_its_sign():
    text = scale_block([_study("Acrobot-v1", _width("Acrobot-v1", 8, 97.0, 84.0, 0.001, flipped=True))])
    assert _rows(text)[0][6] == "13.0 [11.0, 15.0]"
    assert "scaled above unscaled in 1 of 1 cells (Acrobot-v1 width 8)" in text


def test_a_bound_near_zero_keeps_its_sign():
    width = _width("CartPole-v1", 64, 82.2, 95.1, 0.001)
    width["pairs"]["advantage - advantage_raw"]["difference"] |= {"low": -33.58, "high": -0.0359}
    assert _rows(scale_block([_study("CartPole-v1", width)]))[0][6] == "-12.9 [-33.6, -0.036]"


def test_an_interval_across_zero_is_not_a_claim_whatever_the_p():
    width = _width("CartPole-v1", 8, 81.0, 80.0, 0.0001)
    width["pairs"]["advantage - advantage_raw"]["difference"] |= {"low": -2.0, "high": 4.0}
    text = scale_block([_study("CartPole-v1", width)])
    assert "in 0 of 1 cells" in text and "below in 0" in text


def test_without_the_studies_the_block_says_how_to_make_them(tmp_path: Path):
    assert scale_studies(tmp_path) is None
    assert "params/advantage-scale.yaml" in scale_block(None)
    folder = tmp_path / SCALE_DIR / "CartPole-v1"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(_study("CartPole-v1", _width("CartPole-v1", 8, 98.0, 60.0, 0.001))))
    (studies,) = scale_studies(tmp_path)
    assert studies["_path"] == f"{SCALE_DIR}/CartPole-v1"
    assert f"[`{SCALE_DIR}/CartPole-v1`](../{SCALE_DIR}/CartPole-v1/results.md)" in scale_block([studies], "../")
