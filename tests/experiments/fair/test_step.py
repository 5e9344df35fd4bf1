"""Tests of distill_lib.experiments.fair: selection on validation episodes, evaluation, the summary and report."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from matplotlib.figure import Figure

from distill_lib.core.objectives import OBJECTIVES, Setting, candidates
from distill_lib.experiments import fair
from distill_lib.experiments.fair import section as fair_section
from distill_lib.experiments.fair import sentences, step, tables
from distill_lib.experiments.fair import summary as fair_summary
from distill_lib.rl.episodes import TEST_SEED, VALIDATION_SEED

#: one width at smoke size: two temperatures, one blended alpha, one selection seed, three evaluation seeds
SMOKE = {
    "fair_width": 8,
    "epochs": 2,
    "buffer_episodes": 2,
    "held_out_episodes": 2,
    "test_episodes": 3,
    "fair_temperatures": [0.1, 3.0],
    "fair_alphas": [0.5],
    "fair_selection_seeds": [100],
    "fair_seeds": [0, 1, 2],
    "fair_val_episodes": 2,
}


@pytest.fixture(scope="module")
def played() -> tuple[fair.FairRecord, list[tuple[int, int, int]]]:
    """The smoke record, and every closed-loop call it made: (networks, episodes, first reset seed)."""
    calls = []
    returns, loop = step.closed_loop_returns, step.closed_loop

    def spy_returns(nets, n_episodes, seed, device="cpu", env_id="CartPole-v1"):
        calls.append((len(nets), n_episodes, seed))
        return returns(nets, n_episodes, seed, device=device, env_id=env_id)

    def spy_loop(nets, n_episodes, seed, device="cpu", reference=None, env_id="CartPole-v1"):
        calls.append((len(nets), n_episodes, seed))
        return loop(nets, n_episodes, seed, device=device, reference=reference, env_id=env_id)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(step, "closed_loop_returns", spy_returns)
        mp.setattr(step, "closed_loop", spy_loop)
        record = step.run(fair.FairStepConfig.from_params(SMOKE))
    return record, calls


def test_the_grid_has_every_objective_at_every_setting_in_tie_break_order():
    grid = candidates([3.0, 0.1], [0.9, 0.5])
    assert [s.label for s in grid] == [
        "hard",
        "soft, tau = 0.1",
        "soft, tau = 3",
        "blended, alpha = 0.5, tau = 0.1",
        "blended, alpha = 0.9, tau = 0.1",
        "blended, alpha = 0.5, tau = 3",
        "blended, alpha = 0.9, tau = 3",
        "mse",
    ]
    assert {(s.objective, s.alpha, s.loss_fn) for s in grid if s.objective in ("hard", "mse")} == {
        ("hard", 0.0, "kl"),
        ("mse", 1.0, "mse"),
    }


def test_selection_uses_validation_episodes_only(played):
    """Candidates are played only on validation episodes; test episodes only by the evaluated students."""
    record, calls = played
    n_candidates = len(candidates(SMOKE["fair_temperatures"], SMOKE["fair_alphas"]))
    val_span = range(VALIDATION_SEED, VALIDATION_SEED + SMOKE["fair_val_episodes"])
    test_span = range(TEST_SEED, TEST_SEED + SMOKE["test_episodes"])
    assert not set(val_span) & set(test_span)
    candidates_call = [c for c in calls if c[0] == n_candidates * len(SMOKE["fair_selection_seeds"])]
    assert candidates_call == [(n_candidates, SMOKE["fair_val_episodes"], VALIDATION_SEED)]
    evaluation_call = [c for c in calls if c[0] == len(record.arms) * len(SMOKE["fair_seeds"])]
    assert evaluation_call == [(len(record.runs), SMOKE["test_episodes"], TEST_SEED)]


def test_changing_the_test_episodes_changes_nothing_in_the_selection(played):
    record, _ = played
    other = step.run(fair.FairStepConfig.from_params({**SMOKE, "test_episodes": 4, "fair_seeds": [5, 6]}))
    assert other.candidates == record.candidates and other.selected == record.selected
    assert {r.seed for r in other.runs} == {5, 6}  # fresh evaluation seeds, same selection


def test_the_record_has_every_arm_and_seed_and_round_trips(played):
    record, _ = played
    assert list(record.selected) == list(OBJECTIVES)
    assert list(record.arms) == [*OBJECTIVES, "soft, fixed", "blended, fixed"]
    assert record.arms["soft, fixed"] == Setting("soft", 1.0, 3.0, "kl")  # the study's T
    assert record.arms["blended, fixed"] == Setting("blended", 0.7, 3.0, "kl")  # and alpha
    assert sorted((r.arm, r.seed) for r in record.runs) == sorted((a, s) for a in record.arms for s in [0, 1, 2])
    for run in record.runs:
        assert run.return_pct == pytest.approx(100 * run.return_mean / record.teacher["test_return"])
    assert fair.FairRecord.from_json(record.to_json()) == record


def test_sharpness_is_the_teachers_mean_largest_probability(played):
    record, _ = played
    sharp = {float(t): v for t, v in record.sharpness.items()}
    assert set(sharp) == {0.1, 1.0, 3.0}
    assert 0.5 <= sharp[3.0] < sharp[1.0] < sharp[0.1] <= 1.0  # lower temperature, sharper targets


def _cand(label: str, objective: str, val: float, agree: float) -> fair.Candidate:
    t = float(label.split("tau = ")[1]) if "tau" in label else 1.0
    setting = Setting(objective, 1.0 if objective == "soft" else 0.0, t, "kl")
    return fair.Candidate(setting, [val], val, agree)


def test_selection_takes_the_best_return_then_agreement_then_grid_order():
    grid = [
        _cand("hard", "hard", 400.0, 0.9),
        _cand("soft, tau = 0.01", "soft", 480.0, 0.8),
        _cand("soft, tau = 0.1", "soft", 500.0, 0.7),
        _cand("soft, tau = 1", "soft", 500.0, 0.9),  # same return, higher agreement: wins
        _cand("soft, tau = 3", "soft", 500.0, 0.9),  # a full tie: the earlier one stays
    ]
    chosen = step._select(grid)
    assert chosen["hard"].objective == "hard" and chosen["soft"].temperature == 1.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fair_alphas": [0.0, 0.5]}, "fair_alphas"),
        ({"fair_seeds": [100, 1]}, "fresh seeds"),
        ({"fair_seeds": [0]}, "at least two"),
        ({"test_episodes": 15_000}, "overlap the test episodes"),
        ({"fair_temperatures": []}, "fair_temperatures"),
    ],
)
def test_bad_settings_are_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        fair.FairStepConfig.from_params({**SMOKE, **change})


def test_units_one_per_width_none_for_your_own_teacher():
    assert list(step.units(fair.FairConfig.from_params({"fair_widths": [32, 8]})).steps) == ["w=32", "w=8"]
    assert step.units(fair.FairConfig.from_params({"fair_widths": []})).steps == {}
    own = step.units(fair.FairConfig.from_params({"fair_widths": [8], "source": "file"}))
    assert own.steps == {} and "not the file's" in own.note


def test_the_summary_is_one_holm_family_per_width(played):
    record, _ = played
    width = fair_summary.summarize_record(fair.FairRecord.from_json(record.to_json()))
    assert [a["arm"] for a in width["arms"]] == list(fair_summary.ARM_ORDER)  # whatever order the JSON keys come in
    shuffled = record.to_json()
    shuffled["arms"] = dict(sorted(shuffled["arms"].items()))
    shuffled["selected"] = dict(sorted(shuffled["selected"].items()))
    again = fair_summary.summarize_record(fair.FairRecord.from_json(shuffled))
    assert [a["arm"] for a in again["arms"]] == list(fair_summary.ARM_ORDER) and list(again["pairs"]) == list(
        width["pairs"]
    )
    pairs = width["pairs"]
    assert len(pairs) == 6 + 2 and {c["family_size"] for c in pairs.values()} == {8}
    assert "soft - soft, fixed" in pairs and "blended - blended, fixed" in pairs
    assert all(c["p_adjusted"] >= c["p_value"] for c in pairs.values())
    hard = next(a for a in width["arms"] if a["arm"] == "hard")
    values = [r.return_pct for r in record.runs if r.arm == "hard"]
    assert hard["return_pct"]["mean"] == pytest.approx(np.mean(values))


def _width(returns: dict[str, float], detectable: dict[str, float] | None = None) -> dict:
    """A one-width summary with chosen arm means; ``detectable`` pairs get a difference that survives Holm."""
    arms = [
        {
            "arm": name,
            "label": label,
            "fixed": name.endswith("fixed"),
            "setting": {"objective": name.split(",")[0], "temperature": t, "alpha": 0.7},
            "val_return_pct": 90.0,
            "return_pct": {"mean": returns[name], "low": returns[name] - 1, "high": returns[name] + 1},
            "action_agreement": {"mean": 0.9, "low": 0.89, "high": 0.91},
        }
        for name, label, t in [
            ("hard", "hard", 1.0),
            ("soft", "soft, tau = 0.01", 0.01),
            ("blended", "blended, alpha = 0.5, tau = 0.1", 0.1),
            ("mse", "mse", 1.0),
            ("soft, fixed", "soft, tau = 3", 3.0),
            ("blended, fixed", "blended, alpha = 0.7, tau = 3", 3.0),
        ]
    ]
    pairs = {}
    for pair in ["hard - soft", "hard - blended", "hard - mse", "soft - blended", "soft - mse", "blended - mse"]:
        pairs[pair] = _pair(pair, returns, (detectable or {}).get(pair))
    for obj in ("soft", "blended"):
        pairs[f"{obj} - {obj}, fixed"] = _pair(f"{obj} - {obj}, fixed", returns, (detectable or {}).get(obj))
    return {
        "width": 32,
        "params_pct": 29.0,
        "n_seeds": 20,
        "arms": arms,
        "pairs": pairs,
        "sharpness": {"0.01": 0.97, "3": 0.58},
        "candidates": [],
        "selection_seeds": [100],
        "episodes": {"validation": 20, "validation_seed": 20000, "test": 100, "test_seed": 10000},
    }


def _pair(pair: str, returns: dict[str, float], p: float | None) -> dict:
    a, b = pair.split(" - ")
    d = returns[a] - returns[b]
    verdict = "no detectable difference" if p is None else "detected"
    return {
        "difference": {"mean": d, "low": d - 1, "high": d + 1},
        "p_text": f"p ≤ 1e-05, Holm {p}",
        "verdict": verdict,
        "family_size": 8,
    }


def test_the_sentences_follow_the_numbers():
    base = {"hard": 90.0, "soft": 99.0, "blended": 95.0, "mse": 60.0, "soft, fixed": 70.0, "blended, fixed": 96.0}
    text = sentences.width_sentences(_width(base))
    assert "earns soft (99.0%) > blended (95.0%) > hard (90.0%) > mse (60.0%)" in text
    assert "At width 32 (29% of the teacher's parameters; 20 fresh seeds)" in text
    ceiling = sentences.width_sentences({**_width(base), "width": 64, "params_pct": 100.0})
    assert "At width 64 (the teacher's own size: self-distillation" in ceiling
    assert "No two objectives differ detectably in return after Holm's correction over the width's 8 tests" in text
    assert "Soft at its selected tau = 0.01 earns 99.0% against 70.0% at the fixed tau = 3 (no detectable" in text

    found = sentences.width_sentences(_width(base, {"soft - mse": 0.001, "soft": 0.002}))
    assert "After Holm's correction over the width's 8 tests: soft higher than mse by 39 points" in found
    assert "soft selected higher than soft fixed by 29 points" in found

    flipped = sentences.width_sentences(_width({**base, "mse": 100.0, "hard": 95.0}))
    assert "earns mse (100.0%) > soft (99.0%) > hard = blended (95.0%)" in flipped


def test_ties_at_the_best_validation_return_are_said():
    width = _width({k: 90.0 for k in ("hard", "soft", "blended", "mse", "soft, fixed", "blended, fixed")})
    width["candidates"] = [
        {"objective": "soft", "label": "soft, tau = 0.1", "val_return_pct": 100.0},
        {"objective": "soft", "label": "soft, tau = 1", "val_return_pct": 100.0},
        {"objective": "soft", "label": "soft, tau = 3", "val_return_pct": 80.0},
        {"objective": "blended", "label": "blended, alpha = 0.5, tau = 1", "val_return_pct": 99.0},
        {"objective": "blended", "label": "blended, alpha = 0.5, tau = 3", "val_return_pct": 97.0},
    ]
    text = sentences.width_sentences(width)
    assert "Validation return ties at its best for 2 of the 3 soft candidates (100.0%)" in text
    assert "blended candidates" not in text
    width["candidates"][1]["val_return_pct"] = 99.9
    assert "ties at its best" not in sentences.width_sentences(width)


def test_the_verdict_names_the_best_and_what_it_beats():
    base = {"hard": 90.0, "soft": 99.0, "blended": 95.0, "mse": 60.0, "soft, fixed": 70.0, "blended, fixed": 96.0}
    summary = fair_summary.FairSummary([_width(base, {"soft - mse": 0.001, "hard - soft": 0.01})], [])
    text = sentences.short_verdict(summary)
    assert "width 32: soft (tau = 0.01), 99.0%, detectably above hard, mse" in text
    assert "a reduced grid" in text  # 20 seeds, but no candidates in this made-up summary
    quiet = sentences.short_verdict(fair_summary.FairSummary([_width(base)], []))
    assert "not detectably above the others" in quiet
    full = _width(base)
    full["candidates"] = [{}] * fair_summary.FULL_CANDIDATES
    assert "reduced grid" not in sentences.short_verdict(fair_summary.FairSummary([full], []))


def test_sharpness_sentence_says_when_targets_are_nearly_uniform():
    width = _width({k: 90.0 for k in ("hard", "soft", "blended", "mse", "soft, fixed", "blended, fixed")})
    assert "nearly uniform targets" in sentences.sharpness_sentence(width, 3.0)
    sharp = copy.deepcopy(width)
    sharp["sharpness"]["3"] = 0.9
    assert "nearly uniform" not in sentences.sharpness_sentence(sharp, 3.0)


def test_section_has_tables_sentences_and_a_figure(played):
    record, _ = played
    summary = fair_summary.summarize_records([record], ["w=4"])
    section = fair_section.section(summary)
    assert section.text.count("| objective | settings |") == 1 and "Not finished: w=4" in section.text
    assert "validation episodes (reset seeds 20000..)" in section.text and section.verdict
    assert isinstance(section.figures["fair_returns.png"](), Figure)
    assert "selected" in tables.candidates_table(summary.widths[0])


def test_aggregates_across_widths_use_rliable_on_every_arm(played):
    import dataclasses

    from distill_lib.report.aggregate import probability_of_improvement

    record, _ = played
    other = dataclasses.replace(record, width=4)  # a second width with the same seeds
    summary = fair_summary.summarize_records([record, other], [])
    agg = summary.aggregate
    assert agg["widths"] == [8, 4] and set(agg["estimates"]) == set(fair_summary.ARM_ORDER)
    assert len(agg["probability_of_improvement"]) == 6
    hard = np.array([[r.return_pct / 100 for r in record.runs if r.arm == a] for a in ("hard", "soft")])
    direct = probability_of_improvement(
        np.stack([hard[0], hard[0]], 1), np.stack([hard[1], hard[1]], 1), reps=fair_summary.POI_REPS
    )
    assert agg["probability_of_improvement"]["hard > soft"] == direct
    text = fair_section.section(summary).text
    assert "Across widths 8, 4 (3 seeds each; Agarwal et al. 2021" in text
    assert set(fair_section.section(summary).figures) == {"fair_returns.png", "fair_profiles.png"}
    assert isinstance(fair_section.section(summary).figures["fair_profiles.png"](), Figure)
    assert (
        "Across widths" not in fair_section.section(fair_summary.summarize_records([record], [])).text
    )  # one width: none
    ceiling = dataclasses.replace(record, width=64, params_pct=100.0)
    assert fair_summary.across_widths([record, other, ceiling])["widths"] == [8, 4]  # self-distillation left out
    moved = dataclasses.replace(other, seeds=[5, 6, 7])
    assert fair_summary.across_widths([record, moved]) is None  # different seeds per width: no stratified bootstrap


def test_the_aggregate_sentence_names_clear_improvements_only():
    est = {a: {"iqm": {"mean": 0.9, "low": 0.85, "high": 0.95}} for a in ("hard", "soft")}
    agg = {
        "widths": [32, 8],
        "n_seeds": 20,
        "estimates": est,
        "probability_of_improvement": {"hard > soft": {"mean": 0.3, "low": 0.2, "high": 0.4}},
    }
    assert "P(soft > hard) = 0.70 [0.60, 0.80]" in sentences.aggregate_sentence(agg)
    est["soft"]["iqm"]["mean"] = 0.95
    clause = sentences._aggregate_clause(agg)
    assert (
        clause.startswith(" Across widths 32, 8 (")
        and "soft leads with 95.0% [85.0, 95.0]; P(soft > hard) = 0.70" in clause
    )
    agg["probability_of_improvement"]["hard > soft"] = {"mean": 0.45, "low": 0.3, "high": 0.6}
    assert "no probability of improvement has a 95% CI that excludes 0.5" in sentences.aggregate_sentence(agg)
