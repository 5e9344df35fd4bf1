"""Tests of distill_lib.experiments.sources: transfer-set sizes, DAgger's aggregation, the summary and report."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from distill_lib.core.networks import QNetwork
from distill_lib.core.objectives import Setting
from distill_lib.experiments import sources
from distill_lib.experiments.sources import section, step
from distill_lib.rl.episodes import COLLECT_SEED
from distill_lib.rl.exploration import collect_states
from distill_lib.rl.tasks import load_teacher

#: smoke size: one width, 1 and 2 teacher episodes, one DAgger round, two seeds
SMOKE = {
    "sources_width": 8,
    "epochs": 2,
    "buffer_episodes": 2,
    "held_out_episodes": 2,
    "test_episodes": 3,
    "fair_seeds": [0, 1],
    "transfer_episodes": [2, 1],
    "dagger_rounds": 1,
    "dagger_init_episodes": 1,
}
SELECTED = {
    "hard": Setting("hard", 0.0, 1.0, "kl"),
    "soft": Setting("soft", 1.0, 0.1, "kl"),
    "mse": Setting("mse", 1.0, 1.0, "mse"),
}


@pytest.fixture(scope="module")
def record() -> sources.SourcesRecord:
    return sources.measure(sources.SourcesStepConfig.from_params(SMOKE), SELECTED)


def test_every_arm_objective_and_seed_is_measured(record) -> None:
    arms = {"teacher, 1 episode", "teacher, 2 episodes", "DAgger", "teacher, same size"}
    assert set(record.sizes) == arms
    assert {(r.arm, r.objective, r.seed) for r in record.runs} == {
        (a, o, s) for a in arms for o in SELECTED for s in (0, 1)
    }
    teacher = load_teacher("CartPole-v1")
    for k in (1, 2):  # the transfer sets are the first k episodes of the study's buffer
        assert record.sizes[f"teacher, {k} episode{'s' * (k > 1)}"] == len(
            collect_states(teacher, k, 0.1, COLLECT_SEED)
        )
    n0 = len(collect_states(teacher, 1, 0.1, COLLECT_SEED))
    assert record.sizes["DAgger"] == record.sizes["teacher, same size"] == 2 * n0  # equal labelled states
    assert record.dagger["betas"] == [0.5] and record.dagger["states_per_round"] == n0
    assert type(record).from_json(json.loads(json.dumps(record.to_json()))) == record


def test_dagger_aggregates_each_students_own_states_round_by_round() -> None:
    teacher = load_teacher("CartPole-v1")
    initial = torch.from_numpy(collect_states(teacher, 1, 0.1, COLLECT_SEED))  # (N0, 4)
    seen: list[torch.Tensor] = []

    def train(states: torch.Tensor) -> list:
        seen.append(states.clone())
        nets = []
        for seed in (0, 1, 2):
            torch.manual_seed(seed + 10 * len(seen))
            nets.append(QNetwork(4, 8, 2, dropout=0.05).eval())
        return nets

    nets, buffers = sources.dagger_buffers(teacher, initial, train, 3, rounds=2, beta=0.5)
    n0 = len(initial)
    assert [tuple(s.shape) for s in seen] == [(n0, 4), (3, 2 * n0, 4), (3, 3 * n0, 4)]
    assert buffers.shape == (3, 3 * n0, 4) and len(nets) == 3
    for k in range(3):
        assert torch.equal(buffers[k, :n0], initial)  # round 0: the teacher's states
        assert torch.equal(buffers[k, : 2 * n0], seen[2][k, : 2 * n0])  # a round's buffer prefixes the next
    assert not torch.equal(buffers[0, n0:], buffers[1, n0:])  # each student adds the states it visited


def test_run_reads_the_fair_selection_and_refuses_without_it(tmp_path) -> None:
    config = sources.SourcesStepConfig.from_params(SMOKE)
    with pytest.raises(RuntimeError, match="has not finished"):
        step.run(config, tmp_path / "sources" / "w=8-abc", {"fair": tmp_path / "fair" / "w=8-abc"})


def test_config_keeps_its_widths_among_the_fair_ones() -> None:
    with pytest.raises(ValueError, match=r"^sources_widths=.*not in fair_widths"):
        sources.SourcesConfig.from_params({"fair_widths": [32], "sources_widths": [8]})
    assert step.units(sources.SourcesConfig.from_params({"fair_widths": [], "sources_widths": [8]})).steps == {}
    assert list(step.units(sources.SourcesConfig.from_params({"fair_widths": [8]})).steps) == ["w=8"]


def test_summary_orders_arms_and_tests_in_two_holm_families(record) -> None:
    width = sources.summarize_record(record)
    assert [a["arm"] for a in width["arms"]] == ["teacher, 1 episode", "teacher, 2 episodes", "DAgger",
                                                 "teacher, same size"]  # fmt: skip
    assert len(width["dagger"]) == 3 and {c["family_size"] for c in width["dagger"].values()} == {3}
    assert set(width["small_data"]) == {"soft", "mse"} and width["small_data"]["soft"]["small"] == 1
    text = section.section(sources.SourcesSummary([width], [])).text
    assert "1 round of" in text and "Holm over 3" in text


def test_sentences_follow_the_tests(record) -> None:
    width = sources.summarize_record(record)
    assert "no detectable difference in test return for any objective" in section.width_sentences(width)
    # flip a result: DAgger now detectably better for hard
    flipped = copy.deepcopy(width)
    test = flipped["dagger"]["hard: DAgger - teacher-driven states"]
    test.update(verdict="hard DAgger higher by 30 points", p_text="p ≤ 0.002, Holm ≤ 0.006")
    test["difference"] |= {"mean": 30.0, "low": 20.0, "high": 40.0}
    said = section.width_sentences(flipped)
    assert "DAgger higher than teacher-driven states by 30 points" in said and "for hard" in said
    assert "no detectable difference for soft, mse" in said  # the others, named
    soft = flipped["small_data"]["soft"]
    soft.update(verdict="higher", p_text="p = 0.01", lead_small=8.0, lead_large=-4.0)
    soft["difference"] |= {"mean": 12.0, "low": 3.0, "high": 21.0}
    assert "soft +8.0 vs -4.0 points: it leads with little data" in section.width_sentences(flipped)
    assert "support it for soft" in section.width_sentences(flipped)
    soft.update(lead_small=-10.0, lead_large=-22.0)  # trails hard less with little data: not the claim
    said = section.width_sentences(flipped)
    assert "never leads" in said and "do not support it" in said
    assert np.isfinite(width["cells"]["DAgger"]["hard"]["return_pct"]["mean"])
