"""The compress protocol: the picking rule, the delivered seed, the parameters it reads; and, end to end, the command
writes a TorchScript student that plain torch loads and runs, with a card whose numbers are the run's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from distill_lib.core.objectives import Setting
from distill_lib.core.schema import ParamError
from distill_lib.experiments.fair.step import FairRun
from distill_lib.report.stats import mean_ci
from distill_lib.rl.episodes import HELD_OUT_SEED, TEST_SEED
from distill_lib.rl.exploration import collect_states
from distill_lib.rl.tasks import load_teacher
from distill_lib.runner.compress import CompressRecord, WidthResult, compress_config, deliverable_run, pick_width
from distill_lib.runner.compress_target import CompressTarget

HARD = Setting("hard", 0.0, 1.0, "kl", "raw", 1e-3, 100)


def _run(seed: int, val_pct: float, return_pct: float = 100.0) -> FairRun:
    return FairRun("hard", HARD, 0, seed, 0, 1, 100, val_pct, return_pct * 5, return_pct,
                   {"action_agreement": 0.9}, 0.9)  # fmt: skip


def _result(width: int, low: float, keep: float = 0.95, runs: list[FairRun] | None = None) -> WidthResult:
    target = CompressTarget(widths=[width], keep=keep)
    return WidthResult(width, width * 10, width * 1.0, {}, {}, HARD, runs or [_run(0, 90.0), _run(1, 95.0)],
                       low + 1.0, low, low + 2.0, "t", 0.9, target.kept(low))  # fmt: skip


def test_a_width_keeps_the_share_when_its_lower_bound_reaches_it() -> None:
    target = CompressTarget(widths=[8], keep=0.95)
    assert target.threshold == pytest.approx(95.0)
    assert target.kept(95.0) and target.kept(99.0)
    assert not target.kept(94.99)


def test_the_smallest_keeping_width_is_picked_whatever_the_order() -> None:
    results = [_result(32, 97.0), _result(4, 80.0), _result(8, 95.5), _result(16, 96.0)]
    assert pick_width(results).width == 8
    assert pick_width([_result(4, 80.0), _result(8, 94.9)]) is None
    assert pick_width([]) is None


def test_the_delivered_student_has_the_best_validation_return_never_the_best_test_return() -> None:
    runs = [_run(0, 90.0, return_pct=100.0), _run(1, 97.0, return_pct=60.0), _run(2, 97.0, return_pct=99.0)]
    assert deliverable_run(_result(8, 96.0, runs=runs)) == 1  # ties: the first seed


@pytest.mark.parametrize(
    ("widths", "keep", "match"),
    [([8, 8], 0.95, "listed twice"), ([0], 0.95, "widths"), ([], 0.95, "widths"), ([8], 0.0, "keep"),
     ([8], 1.5, "keep")],
)  # fmt: skip
def test_a_bad_target_is_refused_in_one_line(widths: list[int], keep: float, match: str) -> None:
    with pytest.raises(ParamError, match=match) as err:
        CompressTarget(widths=widths, keep=keep)
    assert "\n" not in str(err.value)


def test_the_params_are_read_as_run_reads_them_with_a_plain_student_and_one_teacher(tmp_path: Path) -> None:
    notes: list[str] = []
    config = compress_config([], [], notes.append)
    assert (config.student_kind, config.n_teachers, notes) == ("plain", 1, [])
    (tmp_path / "p.yaml").write_text("n_teachers: 2\nfair_candidates: 3\n")
    config = compress_config([str(tmp_path / "p.yaml")], [("student_kind", "study")], notes.append)
    assert (config.student_kind, config.n_teachers, config.fair_candidates) == ("study", 1, 3)
    assert len(notes) == 1 and "n_teachers=2" in notes[0]
    with pytest.raises(ParamError, match="did you mean 'fair_candidates'"):
        compress_config([], [("fair_candidatez", "3")])
    with pytest.raises(ParamError, match="source='file'"):
        compress_config([], [("source", "file")])
    with pytest.raises(ParamError, match="out_dir"):
        compress_config([], [("out_dir", "x")])


# --- end to end: the real command at a tiny size -------------------------------------------------------------------

#: CartPole's shipped teacher, two objectives with one candidate each, a budget that solves CartPole at width 4
TINY = {
    "fair_objectives": "[hard, advantage]", "fair_candidates": "1", "fair_lrs": "[0.003]", "fair_steps": "[2000]",
    "fair_transfer_steps": "1000", "student_seeds": "[0, 1, 2, 3]", "val_episodes": "2", "test_episodes": "3",
    "held_out_episodes": "1", "snapshots": "2",
}  # fmt: skip

#: plain torch and gymnasium only: load the TorchScript student, print its greedy actions on the states of a tensor
#: file, then play greedy CartPole episodes from the given seeds and print their mean return
PLAY = """
import sys, gymnasium as gym, torch
policy = torch.jit.load(sys.argv[1])
with torch.no_grad():
    print("".join(map(str, policy(torch.load(sys.argv[4])).argmax(-1).tolist())))
returns = []
for seed in range(int(sys.argv[2]), int(sys.argv[2]) + int(sys.argv[3])):
    env, total, done = gym.make("CartPole-v1"), 0.0, False
    obs, _ = env.reset(seed=seed)
    while not done:
        with torch.no_grad():
            action = int(policy(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)).argmax(-1).item())
        obs, reward, terminated, truncated, _ = env.step(action)
        total, done = total + float(reward), terminated or truncated
    returns.append(total)
print(sum(returns) / len(returns), "distill_lib" in sys.modules)
"""


def _params(values: dict[str, str]) -> list[str]:
    return [token for name, value in values.items() for token in ("-p", name, value)]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")
def test_compress_writes_a_student_plain_torch_runs_with_the_runs_numbers_on_its_card(tmp_path: Path) -> None:
    out = tmp_path / "student"
    proc = run_cli("compress", *_params(TINY), "--widths", "16", "4", "--keep", "0.5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["compress.json", "model_card.json", "model_card.md", "student.pt", "student_torchscript.pt"]
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    record = json.loads((out / "compress.json").read_text())
    card = json.loads((out / "model_card.json").read_text())
    assert CompressRecord.from_json(record).to_json() == record  # the record reads back as the run's type

    # the rule, on the run's own numbers: widths from the smallest up, stopping at the first that keeps 50%
    tried = [r["width"] for r in record["results"]]
    assert tried == sorted(tried) and tried[0] == 4
    keeping = [r["width"] for r in record["results"] if r["return_low"] >= 50.0]
    assert record["width"] == card["student"]["width"] == min(keeping) and tried[-1] == record["width"]
    result = next(r for r in record["results"] if r["width"] == record["width"])

    # the card's numbers are the run's: the interval recomputed from the runs' test returns
    ci = mean_ci([r["return_pct"] for r in result["runs"]])
    shown = card["student"]["return_pct"]
    assert (shown["mean"], shown["low"], shown["high"], shown["n"]) == pytest.approx((ci.mean, ci.low, ci.high, 4))
    delivered = max(result["runs"], key=lambda r: r["val_pct"])
    assert (card["student"]["seed"], card["student"]["own_return_pct"]) == (delivered["seed"], delivered["return_pct"])
    assert card["student"]["params_pct"] == pytest.approx(100 * result["params_count"] / record["teacher"]["params"])
    assert card["student"]["objective"] == result["chosen"]["objective"] and card["student_kind"] == "plain"
    assert card["teacher"]["sha256"] == record["teacher"]["sha256"] and card["command"].startswith(
        "distill-study compress"
    )
    assert card["provenance"]["commit"] and card["widths"][-1]["agreement"] == pytest.approx(result["agreement"])
    text = (out / "model_card.md").read_text()
    assert (
        f"{shown['mean']:.1f}% of the teacher's return" in text and f"[{shown['low']:.1f}, {shown['high']:.1f}]" in text
    )

    # plain torch loads the TorchScript file: on the teacher's held-out states it agrees with the teacher as the
    # delivered student did (which tells the seeds apart), and on the test episodes it returns what it did
    teacher = load_teacher("CartPole-v1")
    held = torch.from_numpy(collect_states(teacher, int(TINY["held_out_episodes"]), 0.1, HELD_OUT_SEED))  # (M, D)
    torch.save(held, tmp_path / "held.pt")
    script = str(out / "student_torchscript.pt")
    play = subprocess.run(
        [sys.executable, "-c", PLAY, script, str(TEST_SEED), TINY["test_episodes"], str(tmp_path / "held.pt")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    actions, mean, imported = play.stdout.split()
    assert imported == "False"
    with torch.no_grad():
        agreement = (torch.tensor([int(a) for a in actions]) == teacher(held).argmax(-1)).double().mean().item()
    assert agreement == pytest.approx(delivered["held_out"]["action_agreement"])
    assert len({round(r["held_out"]["action_agreement"], 6) for r in result["runs"]}) > 1  # the check tells seeds apart
    assert float(mean) == pytest.approx(delivered["return_mean"])  # CartPole's floor is 0: return_pct is the ratio


@pytest.mark.slow
def test_compress_says_so_and_delivers_nothing_when_no_width_keeps_the_share(tmp_path: Path) -> None:
    out = tmp_path / "none"
    tiny = {**TINY, "fair_steps": "[20]", "student_seeds": "[0, 1]"}
    proc = run_cli("compress", *_params(tiny), "--widths", "2", "--keep", "1", "-q", "-o", str(out))
    record = json.loads((out / "compress.json").read_text())
    assert record["width"] is None and record["results"][0]["return_low"] < 100.0
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("No width keeps 100% of the teacher's return")
    assert f"{record['results'][0]['return_low']:.1f}%" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["compress.json", "no_student.json", "no_student.md"]
    assert json.loads((out / "no_student.json").read_text())["student"] is None
    assert proc.stderr == ""  # -q: no progress lines
