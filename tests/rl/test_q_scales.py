"""rl.q_scales: the teacher's Q-value scales that an MSE student competes with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distill_lib.rl.q_scales import main, q_scales, teacher_q_scales
from distill_lib.rl.tasks import load_teacher, task_teachers


def _numpy_scales(q: np.ndarray) -> dict[str, float]:
    """The same quantities computed independently with numpy (population deviations)."""
    ordered = np.sort(q, axis=1)
    gap = float(np.median(ordered[:, -1] - ordered[:, -2]))
    level = q.mean(axis=1, keepdims=True)
    return {
        "spread": float(q.std()),
        "median_gap": gap,
        "gap_over_spread": gap / float(q.std()),
        "level_over_advantage": float(level.std()) / float((q - level).std()),
    }


def test_matches_an_independent_computation() -> None:
    rng = np.random.default_rng(3)
    q = rng.normal(40.0, 30.0, size=(501, 1)) + rng.normal(0.0, 0.5, size=(501, 4))
    got = q_scales(torch.tensor(q, dtype=torch.float32))
    want = _numpy_scales(q.astype(np.float32).astype(np.float64))
    assert got.states == 501
    for name, value in want.items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-9)


def test_a_common_level_leaves_the_gaps_and_scaling_leaves_the_ratio() -> None:
    q = torch.randn(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    base = q_scales(q)
    shifted = q_scales(q + 50.0 * torch.randn(200, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert shifted.median_gap == pytest.approx(base.median_gap, rel=1e-12)
    assert shifted.level_over_advantage > 10 * base.level_over_advantage  # the level now dominates
    assert shifted.gap_over_spread < base.gap_over_spread / 10
    scaled = q_scales(7.0 * q)
    assert scaled.gap_over_spread == pytest.approx(base.gap_over_spread, rel=1e-12)
    assert scaled.median_gap == pytest.approx(7.0 * base.median_gap, rel=1e-12)


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (torch.zeros(5), "shape"),
        (torch.zeros(1, 3), "shape"),
        (torch.zeros(4, 1), "shape"),
        (torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), "NaN"),
    ],
)
def test_refuses_what_it_cannot_measure(q: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        q_scales(q)


def test_a_shipped_teacher_on_its_own_states() -> None:
    teacher = load_teacher("CartPole-v1")
    scales = teacher_q_scales(teacher, "CartPole-v1", n_states=300)
    assert scales.states == 300
    assert scales.spread > 0 and scales.median_gap > 0
    assert scales.gap_over_spread == pytest.approx(scales.median_gap / scales.spread)


def test_the_command_prints_a_row_per_teacher(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["CartPole-v1", "--states", "50"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| CartPole-v1 |")]
    assert [row.split(" | ")[1] for row in rows] == ["teacher.pt", "seed1.pt", "seed2.pt", "seed3.pt"]


def test_the_command_refuses_an_unknown_task(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["Pong-v5"])
    assert exit_info.value.code == 2
    assert "unknown task 'Pong-v5'" in capsys.readouterr().err


@pytest.mark.slow  # 12 teachers' rollouts, Box2D's among them: a few seconds
def test_the_results_page_quotes_the_command_and_its_ranges():
    """docs/results.md pastes ``python -m distill_lib.rl.q_scales``'s table and reads three ranges off it: recomputed
    here, every printed number must be the recomputed one rounded as printed, and each range its rows' extremes."""
    from conftest import ROOT

    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    rows = [line.strip("|").split("|") for line in page.splitlines() if line.startswith("| ") and ".pt |" in line]
    assert len(rows) == 12, "the page's table should have the 4 shipped teachers of each of the 3 tasks"
    recomputed: dict[str, list] = {}
    for env_id, name, *numbers in ([c.strip() for c in row] for row in rows):
        (path,) = [p for p in task_teachers(env_id) if p.name == name]
        teacher = load_teacher(env_id, path)
        s = teacher_q_scales(teacher, env_id)
        recomputed.setdefault(env_id, []).append(s)
        values = (s.mean, s.spread, s.median_gap, s.gap_over_spread, s.level_over_advantage)
        for printed, value in zip(numbers, values):
            digits = len(printed.split(".")[1]) if "." in printed else 0
            assert abs(float(printed) - value) <= 0.5 * 10**-digits + 1e-9, (env_id, name, printed, value)
    lunar = recomputed["LunarLander-v3"]
    small = [s.gap_over_spread for s in lunar]
    others = [s.gap_over_spread for env in ("CartPole-v1", "Acrobot-v1") for s in recomputed[env]]
    levels = [s.level_over_advantage for s in lunar]
    assert f"({min(small):.4f}-{max(small):.4f} in standardised units" in page
    assert f"against {min(others):.2f}-{max(others):.2f} on CartPole and Acrobot" in page
    assert f"varies {min(levels):.0f}-{max(levels):.0f}\ntimes more" in page
