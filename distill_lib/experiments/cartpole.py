"""The real-teacher section: the three objectives distilling a DQN CartPole policy, by student width.

The synthetic study's teacher is a random network, so "agreement" there measures how well
a student copies an arbitrary function. Here the teacher is a policy that solves a task
(the shipped DQN ``QNetwork(4, 64, 2)``, ``distill_lib.cartpole``), and a student can also
be judged by what it is for: the return it earns when it acts alone (Rusu et al. 2016,
"Policy Distillation", ICLR, sec. 5.2: students with 4-25% of the teacher's parameters
reached 84-108% of its score on Atari).

Protocol (``run_cartpole``):

1. Teacher: ``cartpole.load_cartpole_teacher()``, frozen. Its file's SHA-256 is part of
   the section key, so a retrained teacher invalidates the results.
2. States: the teacher's own epsilon-greedy episodes (``cartpole.collect_buffers``):
   ``cartpole_episodes`` episodes from seeds ``COLLECT_SEED ..`` form the training buffer
   (``n_states`` = its size; ``val_fraction`` of it is the run's validation split), the next
   ``cartpole_eval_episodes`` episodes the held-out states. The exploration rate
   ``cartpole_epsilon`` puts recovery states in the buffer, states the greedy teacher never
   visits but a slightly wrong student will (Ross et al. 2011, "A Reduction of Imitation
   Learning ... to No-Regret Online Learning": a policy trained only on the expert's states
   meets states it was never trained on).
3. Students: for every width of ``cartpole_widths``, all ``cartpole_seeds`` x modes in one
   ``batched.train_batched`` call (per-student random streams). A seed's students share
   their initialisation (``build_student(seed, ...)``) and random stream, so the modes are
   compared on paired runs. Modes: hard_only (alpha 0: CE on the teacher's argmax), blended
   (``alpha``), soft_only (alpha 1: ``KL(p_t^T || p_s^T) T^2``; Hinton et al. 2015).
4. Fidelity: each final (last-epoch) student against the teacher on the held-out states,
   ``metrics.fidelity_metrics`` (agreement, probability similarity and KL at T = 1, regret
   ``q_t[a_t*] - q_t[a_s*]``, ...).
5. Closed loop: the student acting greedily for ``cartpole_episodes_eval`` episodes from
   ``reset(seed=TEST_SEED + i)``; mean return with its normal-approximation 95% CI
   (``cartpole.mean_ci``) and as a percentage of the teacher's mean on the same episodes,
   ``100 * mean(G_student) / mean(G_teacher)`` (the CI bounds divided by the same number:
   the teacher's mean is treated as fixed).
6. Size: parameters ``sum(p.numel())``; for ``QNetwork(4, h, 2)`` that is
   ``(4h + h) + 2h + (h^2 + h) + 2h + (2h + 2) = h^2 + 12h + 2`` (Linear, LayerNorm,
   Linear, LayerNorm, Linear), 4802 for the teacher (h = 64).

Closed-loop evaluation steps the episodes of one network in lockstep (``closed_loop_returns``):
one forward pass over every running episode's state instead of one per state, about 6x
faster here. Its actions are ``argmax_a Q(s, a)`` exactly as ``cartpole.greedy_returns``'s;
the Q-values of a state computed within a batch can differ from the one-row pass in the last
float32 bits, which can only change an action at an exact tie (the tests check that the
returns equal ``greedy_returns``'s).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import scipy.stats
import torch
from matplotlib.figure import Figure
from torch import nn
from tqdm.auto import tqdm

from ..core.batched import train_batched
from ..core.config import MODES, RunConfig
from ..core.metrics import fidelity_metrics
from ..core.networks import QNetwork, build_student
from ..core.training import single_thread
from ..records.provenance import file_sha256
from ..report.plots import MODE_COLORS
from ..report.stats import mean_ci as bootstrap_ci
from ..report.stats import paired_difference, verdict
from ..rl.cartpole import (
    ASSET_DIR,
    COLLECT_SEED,
    DEFAULT_EPSILON,
    N_ACTIONS,
    OBS_DIM,
    SOLVED_RETURN,
    TEACHER_HIDDEN,
    TEST_EPISODES,
    TEST_SEED,
    collect_buffers,
    load_cartpole_teacher,
    make_env,
)
from ..rl.cartpole import mean_ci as return_ci
from .keys import TRAINING_FIELDS
from .keys import section_key as _section_key

__all__ = [
    "CARTPOLE_DEFAULTS",
    "COMPARE_WIDTH",
    "RUN_FIELDS",
    "RUSU_PARAMS_PCT",
    "RUSU_SCORE_PCT",
    "SUMMARY_METRICS",
    "TEACHER_FILE",
    "closed_loop_returns",
    "compression_table",
    "count_parameters",
    "fidelity_table",
    "figure_fidelity",
    "figure_returns",
    "interpretation",
    "mode_alphas",
    "rank_modes",
    "resolve_params",
    "run_cartpole",
    "section_key",
    "summarize",
]

#: the section's own parameters and their defaults (the notebook's ``parameters`` cell)
CARTPOLE_DEFAULTS: dict[str, Any] = {
    "cartpole_widths": [32, 16, 8, 4],  # student hidden widths (the teacher's is 64)
    "cartpole_seeds": [0, 1, 2, 3, 4, 5],  # student seeds: initialisation and random stream
    "cartpole_episodes": 20,  # teacher episodes of the training buffer
    "cartpole_eval_episodes": 5,  # teacher episodes of the held-out states
    "cartpole_epsilon": DEFAULT_EPSILON,  # exploration rate of both buffers
    "cartpole_episodes_eval": TEST_EPISODES,  # closed-loop test episodes per network
}

#: the run parameters shared with the synthetic study (``config.RunConfig`` fields)
RUN_FIELDS = ("alpha", *TRAINING_FIELDS)

#: the width whose modes are compared pairwise (the widest one if it is not in the list)
COMPARE_WIDTH = 32

#: the shipped teacher, whose hash is part of the section key
TEACHER_FILE = ASSET_DIR / "teacher.pt"

#: Rusu et al. 2016's compression result: students at 4-25% of the teacher's parameters ...
RUSU_PARAMS_PCT = (4.0, 25.0)
#: ... reached 84-108% of its score
RUSU_SCORE_PCT = (84.0, 108.0)

#: per-student metrics summarised over seeds: key -> label
SUMMARY_METRICS = {
    "return_pct": "return (% of teacher)",
    "action_agreement": "held-out agreement",
    "prob_similarity_t1": "prob. similarity (T = 1)",
    "regret": "regret (teacher Q)",
}

#: how paired differences are worded (``stats.verdict``'s scale and unit)
_UNITS = {"return_pct": (1.0, "points"), "action_agreement": (100.0, "points")}


# ----------------------------------------------------------------------------------------
# Parameters and the content key
# ----------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(name: str, value: Any, minimum: int, what: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name}={value!r}: must be a non-empty list of {what}, e.g. {CARTPOLE_DEFAULTS[name]}")
    for v in value:
        if not _is_int(v) or v < minimum:
            raise ValueError(f"{name}={value!r}: {v!r} is not allowed; every entry must be an integer >= {minimum}")
    if len(set(value)) != len(value):
        twice = sorted({v for v in value if list(value).count(v) > 1})
        raise ValueError(f"{name}={value!r}: {twice} listed more than once; each entry must be unique")
    return list(value)


def _int(name: str, value: Any, minimum: int, why: str = "") -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}{why}")
    return value


def resolve_params(params: dict[str, Any]) -> dict[str, Any]:
    """The section's validated parameters: ``CARTPOLE_DEFAULTS`` keys and ``RUN_FIELDS``.

    Missing keys take their defaults (``CARTPOLE_DEFAULTS``, ``RunConfig``'s); keys of other
    sections are ignored. Raises ``ValueError`` naming the field, the value and the allowed
    range. The run fields are checked by ``RunConfig`` (blended mode at ``alpha``); whether
    ``val_fraction`` leaves training states is checked again once the buffer's size is known.
    """
    get = {**CARTPOLE_DEFAULTS, **params}.get
    out: dict[str, Any] = {
        "cartpole_widths": _int_list("cartpole_widths", get("cartpole_widths"), 1, "hidden widths"),
        "cartpole_seeds": _int_list("cartpole_seeds", get("cartpole_seeds"), 0, "seeds"),
        "cartpole_episodes": _int("cartpole_episodes", get("cartpole_episodes"), 1),
        "cartpole_eval_episodes": _int("cartpole_eval_episodes", get("cartpole_eval_episodes"), 1),
        "cartpole_episodes_eval": _int(
            "cartpole_episodes_eval", get("cartpole_episodes_eval"), 2, " (the return's 95% CI needs two episodes)"
        ),
    }
    epsilon = get("cartpole_epsilon")
    ok = isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool) and 0.0 <= epsilon <= 1.0
    if not ok:
        raise ValueError(f"cartpole_epsilon={epsilon!r}: must be a number in [0, 1] (the share of random actions)")
    out["cartpole_epsilon"] = float(epsilon)
    alpha = params.get("alpha", MODES["blended"])
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha!r}: the blended mode's alpha must be in (0, 1) (0 and 1 are the other modes)")
    base = RunConfig(
        **{k: params[k] for k in RUN_FIELDS if k in params},
        mode="blended",
        input_dim=OBS_DIM,
        output_dim=N_ACTIONS,
        teacher_hidden=TEACHER_HIDDEN,
    )
    out.update({k: getattr(base, k) for k in RUN_FIELDS})
    return out


def mode_alphas(alpha: float) -> dict[str, float]:
    """The three objectives and their alpha, in increasing alpha: blended takes ``alpha``."""
    return {"hard_only": MODES["hard_only"], "blended": float(alpha), "soft_only": MODES["soft_only"]}


def section_key(params: dict[str, Any]) -> str:
    """Content key of the section (the runner and the notebook compute the same).

    Parameters (``resolve_params``), the shipped teacher's SHA-256 and the code hash; no
    data key: the teacher file is the only input.
    """
    chosen = {**resolve_params(params), "teacher_sha256": file_sha256(TEACHER_FILE)}
    return _section_key("cartpole", chosen)


# ----------------------------------------------------------------------------------------
# Size and closed-loop return
# ----------------------------------------------------------------------------------------


def count_parameters(net: nn.Module) -> int:
    """``sum(p.numel())`` over the parameters; ``h^2 + 12h + 2`` for ``QNetwork(4, h, 2)``."""
    return sum(p.numel() for p in net.parameters())


def closed_loop_returns(
    nets: Sequence[nn.Module], n_episodes: int = TEST_EPISODES, seed: int = TEST_SEED, progress: bool = False
) -> np.ndarray:
    """Greedy returns of each network, ``(len(nets), n_episodes)`` float64.

    The same episodes as ``cartpole.greedy_returns(net, n_episodes, seed)`` (episode ``i``
    from ``reset(seed=seed + i)``, action ``argmax_a Q(s, a)``, network in eval mode, one
    thread), stepped in lockstep: each step is one forward pass over the states of all
    running episodes ``(n_running, 4)``. Each network's train/eval mode is restored.
    """
    if not _is_int(n_episodes) or n_episodes < 1:
        raise ValueError(f"n_episodes={n_episodes!r}: must be an integer >= 1")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be an integer >= 0")
    envs = [make_env() for _ in range(n_episodes)]  # one per episode, reused by every network
    out = np.zeros((len(nets), n_episodes), dtype=np.float64)
    try:
        with single_thread(), torch.no_grad():
            for k, net in enumerate(tqdm(nets, disable=not progress, desc="closed loop", unit="net")):
                was_training = net.training
                net.eval()  # dropout off
                obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
                running = list(range(n_episodes))
                while running:
                    q = net(torch.from_numpy(obs[running]))  # (n_running, A)
                    still = []
                    for i, action in zip(running, q.argmax(-1).tolist(), strict=True):
                        obs_i, reward, terminated, truncated, _ = envs[i].step(action)
                        obs[i] = obs_i
                        out[k, i] += float(reward)
                        if not (terminated or truncated):
                            still.append(i)
                    running = still
                net.train(was_training)
    finally:
        for env in envs:
            env.close()
    return out


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------


def _student_configs(p: dict[str, Any], width: int, n_states: int) -> list[RunConfig]:
    """Seed-major, modes in increasing alpha: the order of one width's batched call."""
    run = {k: p[k] for k in RUN_FIELDS if k != "alpha"}
    return [
        RunConfig(
            **run,
            seed=seed,
            mode=mode,
            alpha=alpha,
            input_dim=OBS_DIM,
            output_dim=N_ACTIONS,
            teacher_hidden=TEACHER_HIDDEN,
            student_hidden=width,
            n_states=n_states,
        )
        for seed in p["cartpole_seeds"]
        for mode, alpha in mode_alphas(p["alpha"]).items()
    ]


def run_cartpole(params: dict[str, Any], progress: bool = False) -> dict[str, Any]:
    """Distil the shipped CartPole teacher into students of each width; a JSON-able record.

    Steps 1-6 of the module docstring. The record holds the resolved parameters, the
    teacher (parameters, per-episode returns, mean and CI), the buffers, the students'
    parameter counts, and one entry per (width, seed, mode) with its held-out fidelity,
    its per-episode returns, mean, CI and percentage of the teacher's mean. ``seconds``
    is the only part that changes between identical runs.
    """
    p = resolve_params(params)
    modes = mode_alphas(p["alpha"])
    n_eval = p["cartpole_episodes_eval"]
    seconds: dict[str, float] = {}

    # 1-2. teacher and its state buffers
    started = time.perf_counter()
    teacher = load_cartpole_teacher(TEACHER_FILE)
    train_states, held_out = collect_buffers(
        teacher, p["cartpole_episodes"], p["cartpole_eval_episodes"], p["cartpole_epsilon"], COLLECT_SEED
    )
    x_train, x_held = torch.from_numpy(train_states), torch.from_numpy(held_out)  # (N, 4), (M, 4)
    with torch.no_grad():
        q_held = teacher(x_held)  # (M, 2)
    teacher_returns = closed_loop_returns([teacher], n_eval, TEST_SEED)[0]
    teacher_mean, teacher_lo, teacher_hi = return_ci(teacher_returns)
    teacher_params = count_parameters(teacher)
    seconds["collect"] = time.perf_counter() - started

    runs: list[dict[str, Any]] = []
    students: list[dict[str, Any]] = []
    seconds["train"] = seconds["closed_loop"] = 0.0
    for width in p["cartpole_widths"]:
        # 3. every seed x mode of this width in one batched call
        started = time.perf_counter()
        configs = _student_configs(p, width, len(train_states))
        initial = {
            s: build_student(s, OBS_DIM, TEACHER_HIDDEN, N_ACTIONS, hidden_dim=width) for s in p["cartpole_seeds"]
        }
        results = train_batched(teacher, x_train, [initial[c.seed] for c in configs], configs, progress=progress)
        nets = []
        for result in results:
            net = QNetwork(OBS_DIM, width, N_ACTIONS, dropout=0.05)
            net.load_state_dict(result.final_state)
            nets.append(net.eval())
        n_params = count_parameters(nets[0])
        students.append({"width": width, "params": n_params, "params_pct": 100.0 * n_params / teacher_params})
        seconds["train"] += time.perf_counter() - started

        # 5. closed loop, every student of this width
        started = time.perf_counter()
        returns = closed_loop_returns(nets, n_eval, TEST_SEED, progress=progress)
        seconds["closed_loop"] += time.perf_counter() - started

        for config, result, net, ret in zip(configs, results, nets, returns, strict=True):
            # 4. fidelity on the held-out states
            with torch.no_grad():
                held = fidelity_metrics(net(x_held), q_held)
            mean, lo, hi = return_ci(ret)
            runs.append(
                {
                    "width": width,
                    "seed": config.seed,
                    "mode": config.mode,
                    "alpha": config.alpha,
                    "params": n_params,
                    "held_out": held,
                    "buffer_val": {k: result.final[k] for k in ("action_agreement", "prob_similarity_t1")},
                    "best_epoch": result.best_epoch,
                    "returns": ret.tolist(),
                    "return_mean": mean,
                    "return_ci": [lo, hi],
                    "return_pct": 100.0 * mean / teacher_mean,
                    "return_pct_ci": [100.0 * lo / teacher_mean, 100.0 * hi / teacher_mean],
                }
            )

    return {
        "section": "cartpole",
        "params": p,
        "protocol": "per-student random streams (distill_lib.core.batched)",
        "env": "CartPole-v1",
        "widths": p["cartpole_widths"],
        "seeds": p["cartpole_seeds"],
        "modes": modes,
        "teacher": {
            "file": TEACHER_FILE.name,
            "sha256": file_sha256(TEACHER_FILE),
            "hidden": TEACHER_HIDDEN,
            "params": teacher_params,
            "returns": teacher_returns.tolist(),
            "return_mean": teacher_mean,
            "return_ci": [teacher_lo, teacher_hi],
        },
        "buffer": {
            "epsilon": p["cartpole_epsilon"],
            "collect_seed": COLLECT_SEED,
            "train_episodes": p["cartpole_episodes"],
            "held_out_episodes": p["cartpole_eval_episodes"],
            "n_states": len(train_states),
            "n_val": configs[0].n_val,
            "n_held_out": len(held_out),
        },
        "closed_loop": {"episodes": n_eval, "seed": TEST_SEED, "max_return": 500.0, "solved_return": SOLVED_RETURN},
        "students": students,
        "runs": runs,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


# ----------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------


def _metric(run: dict[str, Any], metric: str) -> float:
    return float(run["return_pct"] if metric == "return_pct" else run["held_out"][metric])


def _ci(values: np.ndarray) -> dict[str, Any]:
    """Mean and 95% bootstrap CI (``stats.mean_ci``); a single seed has no interval."""
    if len(values) < 2:
        return {
            "mean": float(values[0]),
            "low": None,
            "high": None,
            "confidence": None,
            "n": 1,
            "method": "single seed",
        }
    return dict(bootstrap_ci(values).__dict__)


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """Per width and mode: mean (and 95% bootstrap CI over seeds) of each ``SUMMARY_METRICS``.

    With two or more seeds, also paired comparisons of the modes at ``COMPARE_WIDTH`` (or
    the widest width) for return and agreement (``stats.paired_difference``, ``verdict``).
    """
    modes = sorted(record["modes"], key=lambda m: record["modes"][m])  # by alpha
    seeds = list(record["seeds"])
    size = {s["width"]: s for s in record["students"]}

    def values(width: int, mode: str, metric: str) -> np.ndarray:
        by_seed = {r["seed"]: _metric(r, metric) for r in record["runs"] if r["width"] == width and r["mode"] == mode}
        return np.array([by_seed[s] for s in seeds])

    rows = []
    for width in record["widths"]:
        for mode in modes:
            row = {"width": width, "mode": mode, "alpha": record["modes"][mode]}
            row.update(params=size[width]["params"], params_pct=size[width]["params_pct"])
            row.update({metric: _ci(values(width, mode, metric)) for metric in SUMMARY_METRICS})
            rows.append(row)
    compare = COMPARE_WIDTH if COMPARE_WIDTH in record["widths"] else max(record["widths"])
    pairs: dict[str, dict[str, Any]] = {}
    if len(seeds) >= 2:
        for metric, (scale, unit) in _UNITS.items():
            for a, b in combinations(modes, 2):
                cmp = paired_difference(values(compare, a, metric), values(compare, b, metric))
                pairs.setdefault(metric, {})[f"{a} - {b}"] = {
                    "mean_a": cmp.mean_a,
                    "mean_b": cmp.mean_b,
                    "difference": dict(cmp.difference.__dict__),
                    "p_value": cmp.p_value,
                    "n": cmp.n,
                    "test": cmp.test,
                    "verdict": verdict(cmp, a, b, scale, unit),
                }
    teacher = record["teacher"]
    return {
        "teacher": {
            "params": teacher["params"],
            "hidden": teacher.get("hidden", TEACHER_HIDDEN),
            "return_mean": teacher["return_mean"],
            "return_ci": teacher["return_ci"],
            "episodes": len(teacher["returns"]),
        },
        "widths": list(record["widths"]),
        "modes": modes,
        "n_seeds": len(seeds),
        "compare_width": compare,
        "buffer": record.get("buffer", {}),
        "rows": rows,
        "pairs": pairs,
    }


# ----------------------------------------------------------------------------------------
# Tables and sentences
# ----------------------------------------------------------------------------------------


def _row(summary: dict[str, Any], width: int, mode: str) -> dict[str, Any]:
    return next(r for r in summary["rows"] if r["width"] == width and r["mode"] == mode)


def _fmt(ci: dict[str, Any], digits: int) -> str:
    if ci["low"] is None:
        return f"{ci['mean']:.{digits}f}"
    return f"{ci['mean']:.{digits}f} [{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"


def compression_table(summary: dict[str, Any]) -> str:
    """Markdown: width, parameters, % of the teacher's, return % of the teacher per mode.

    The analogue of Rusu et al. (2016)'s compression table; returns are seed means with
    their 95% bootstrap CI over seeds when there are two or more seeds.
    """
    modes, teacher = summary["modes"], summary["teacher"]
    ci = " [95% CI]" if summary["n_seeds"] >= 2 else ""
    head = "| network | parameters | % of teacher's parameters | " + " | ".join(
        f"{m} return, % of teacher{ci}" for m in modes
    )
    lines = [head + " |", "|---|---:|---:|" + "---:|" * len(modes)]
    lines.append(
        f"| teacher (width {teacher['hidden']}) | {teacher['params']:,} | 100.0 | "
        + " | ".join("100.0" for _ in modes)
        + " |"
    )
    for width in summary["widths"]:
        first = _row(summary, width, modes[0])
        cells = " | ".join(_fmt(_row(summary, width, m)["return_pct"], 1) for m in modes)
        lines.append(f"| student width {width} | {first['params']:,} | {first['params_pct']:.1f} | {cells} |")
    return "\n".join(lines) + "\n"


def fidelity_table(summary: dict[str, Any]) -> str:
    """Markdown: held-out agreement, probability similarity (T = 1) and regret per width and mode."""
    lines = [
        "| width | mode | held-out agreement | prob. similarity (T = 1) | regret (teacher Q) |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['width']} | {row['mode']} | {_fmt(row['action_agreement'], 3)} | "
            f"{_fmt(row['prob_similarity_t1'], 3)} | {_fmt(row['regret'], 4)} |"
        )
    return "\n".join(lines) + "\n"


def rank_modes(values: dict[str, float], digits: int) -> list[list[str]]:
    """Modes from highest to lowest value, grouped where equal after rounding to ``digits``.

    ``{"a": 0.91, "b": 0.95, "c": 0.9504}`` with 3 digits -> ``[["b", "c"], ["a"]]``
    (ties keep the input order).
    """
    groups: list[list[str]] = []
    for mode in sorted(values, key=lambda m: -round(values[m], digits)):
        if groups and round(values[groups[-1][0]], digits) == round(values[mode], digits):
            groups[-1].append(mode)
        else:
            groups.append([mode])
    return groups


def _ranking_text(groups: list[list[str]], values: dict[str, float], fmt: str) -> str:
    if len(groups) == 1 and len(groups[0]) > 1:
        return f"a tie between all modes ({fmt.format(values[groups[0][0]])})"
    return " > ".join(" = ".join(f"{m} ({fmt.format(values[m])})" for m in group) for group in groups)


def _spread_text(pcts: list[float]) -> str:
    lo, hi = min(pcts), max(pcts)
    return f"{lo:.1f}%" if round(lo, 1) == round(hi, 1) else f"{lo:.1f}-{hi:.1f}%"


def interpretation(summary: dict[str, Any], synthetic_rows: list[dict[str, Any]] | None = None) -> str:
    """A few sentences on the CartPole results, written from the numbers (Markdown).

    ``synthetic_rows``: the study's main table rows (keys ``mode``,
    ``final_action_agreement``, ``final_prob_similarity_t1``), to compare the modes'
    ranking on the synthetic teacher with the ranking here; None or empty says it is absent.
    """
    modes, teacher, width = summary["modes"], summary["teacher"], summary["compare_width"]
    n = summary["n_seeds"]
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    parts = [
        f"The teacher (width {teacher['hidden']}, {teacher['params']:,} parameters) returns {teacher['return_mean']:.1f} "
        f"on average over {teacher['episodes']} test episodes (95% CI [{teacher['return_ci'][0]:.1f}, "
        f"{teacher['return_ci'][1]:.1f}]; 500 is the maximum, {SOLVED_RETURN:g} counts as solved)."
    ]

    # the modes at the comparison width: return and agreement rankings
    ret = {m: _row(summary, width, m)["return_pct"]["mean"] for m in modes}
    agree = {m: _row(summary, width, m)["action_agreement"]["mean"] for m in modes}
    by_return, by_agree = rank_modes(ret, 1), rank_modes({m: 100 * v for m, v in agree.items()}, 1)
    pct = _row(summary, width, modes[0])["params_pct"]
    parts.append(
        f"At width {width} ({pct:.1f}% of the teacher's parameters; means over {seeds}), the modes rank by "
        f"closed-loop return as {_ranking_text(by_return, ret, '{:.1f}%')} of the teacher's, and by held-out "
        f"agreement as {_ranking_text(by_agree, agree, '{:.1%}')}."
    )
    if by_return == by_agree:
        parts.append("The two rankings are the same.")
    else:
        parts.append(
            "The two rankings differ: the objective whose student copies the teacher's action most often is not "
            "the one whose student earns the most return."
        )
    for metric, label in (("return_pct", "return (% of the teacher's)"), ("action_agreement", "held-out agreement")):
        verdicts = [c["verdict"] for c in summary["pairs"].get(metric, {}).values()]
        found = [v for v in verdicts if not v.startswith("no detectable")]
        if verdicts and not found:
            parts.append(f"Paired over seeds, no two modes differ detectably in {label} at width {width}.")
        parts.extend(f"Paired over seeds, {label[0].lower()}{label[1:]}: {v}." for v in found)
    if 2 <= n < 6:
        parts.append(
            f"With {n} seeds the sign-flip test's smallest possible p-value is {2 / 2**n:.3g}, so no difference "
            "can reach p < 0.05 whatever its size: a verdict needs more seeds."
        )
    if n < 2:
        parts.append("With one seed there is no interval and no paired test; differences may be noise.")

    # compression, against Rusu et al. (2016)
    rows = summary["rows"]
    best = []
    for w in summary["widths"]:
        returns = {m: _row(summary, w, m)["return_pct"]["mean"] for m in modes}
        top = rank_modes(returns, 1)[0]
        who = "all modes tie" if len(top) == len(modes) > 1 else " = ".join(top)
        best.append(f"width {w}: {who} ({returns[top[0]]:.1f}%)")
    parts.append("Best mode by return at each width: " + "; ".join(best) + ".")
    inside = [r for r in rows if RUSU_PARAMS_PCT[0] <= r["params_pct"] <= RUSU_PARAMS_PCT[1]]
    below = [r for r in rows if r["params_pct"] < RUSU_PARAMS_PCT[0]]
    rusu = (
        f"Rusu et al. (2016) report students with {RUSU_PARAMS_PCT[0]:g}-{RUSU_PARAMS_PCT[1]:g}% of the teacher's "
        f"parameters reaching {RUSU_SCORE_PCT[0]:g}-{RUSU_SCORE_PCT[1]:g}% of its score (Atari); "
    )
    if inside:
        widths = sorted({r["width"] for r in inside}, reverse=True)
        pcts = [r["return_pct"]["mean"] for r in inside]
        n_out = sum(not RUSU_SCORE_PCT[0] <= v <= RUSU_SCORE_PCT[1] for v in pcts)
        where = "all within that range" if n_out == 0 else f"{n_out} of {len(pcts)} width x mode cells outside it"
        rusu += (
            f"here the students in that range (width {', '.join(map(str, widths))}) reach {_spread_text(pcts)} of "
            f"the teacher's return over the modes, {where}."
        )
    else:
        rusu += "no student width here falls in that parameter range."
    parts.append(rusu)
    if below:
        widths = sorted({r["width"] for r in below}, reverse=True)
        parts.append(
            f"Smaller still (width {', '.join(map(str, widths))}, under {RUSU_PARAMS_PCT[0]:g}% of the parameters), "
            f"students reach {_spread_text([r['return_pct']['mean'] for r in below])}."
        )
    if len(rows) >= 3:
        x = [r["action_agreement"]["mean"] for r in rows]
        y = [r["return_pct"]["mean"] for r in rows]
        if len(set(x)) > 1 and len(set(y)) > 1:
            rho = float(scipy.stats.spearmanr(x, y).statistic)
            parts.append(
                f"Across the {len(rows)} width x mode cells, held-out agreement and return have Spearman "
                f"correlation {rho:+.2f}."
            )
        else:
            parts.append(f"{'Return' if len(set(y)) == 1 else 'Agreement'} is the same in every width x mode cell.")

    # synthetic vs CartPole ranking
    common = [m for m in modes if any(r["mode"] == m for r in synthetic_rows or [])]
    if not common:
        parts.append("The synthetic teacher's table is absent, so its ranking of the modes cannot be compared here.")
    else:
        syn = {r["mode"]: float(r["final_action_agreement"]) for r in synthetic_rows if r["mode"] in common}
        syn_sim = {r["mode"]: float(r["final_prob_similarity_t1"]) for r in synthetic_rows if r["mode"] in common}
        syn_rank = rank_modes({m: 100 * v for m, v in syn.items()}, 1)
        here_agree = rank_modes({m: 100 * agree[m] for m in common}, 1)
        here_return = rank_modes({m: ret[m] for m in common}, 1)
        here_sim = {m: _row(summary, width, m)["prob_similarity_t1"]["mean"] for m in common}
        syn_sim_rank, here_sim_rank = rank_modes(syn_sim, 3), rank_modes(here_sim, 3)

        def same(other: list[list[str]]) -> str:
            if other == syn_rank:
                return "the same order"
            if other[0] == syn_rank[0]:
                return f"a different order with the same leader ({' = '.join(other[0])})"
            return "a different order"

        parts.append(
            f"On the synthetic teacher (the study's main table) the modes rank by agreement as "
            f"{_ranking_text(syn_rank, syn, '{:.1%}')}; on CartPole at width {width}, held-out agreement gives "
            f"{same(here_agree)} and closed-loop return {same(here_return)}. By probability similarity at T = 1 "
            f"the synthetic teacher gives {_ranking_text(syn_sim_rank, syn_sim, '{:.3f}')} and CartPole "
            f"{_ranking_text(here_sim_rank, here_sim, '{:.3f}')}: "
            f"{'the same order' if syn_sim_rank == here_sim_rank else 'different orders'}."
        )
        if len(common) < len(modes):
            parts.append(f"The synthetic table lacks {', '.join(m for m in modes if m not in common)}.")
    return " ".join(parts)


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------


def _errorbars(ax: Any, summary: dict[str, Any], metric: str, scale: float = 1.0) -> None:
    """One line per mode against % of the teacher's parameters (log x), CI as error bars."""
    modes = summary["modes"]
    for i, mode in enumerate(modes):
        rows = sorted((r for r in summary["rows"] if r["mode"] == mode), key=lambda r: r["params_pct"])
        x = np.array([r["params_pct"] for r in rows]) * (1.0 + 0.04 * (i - (len(modes) - 1) / 2))  # dodge
        y = np.array([r[metric]["mean"] for r in rows]) * scale
        has_ci = all(r[metric]["low"] is not None for r in rows)
        err = (
            np.array([[r[metric]["mean"] - r[metric]["low"], r[metric]["high"] - r[metric]["mean"]] for r in rows]).T
            * scale
            if has_ci
            else None
        )
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=mode, color=MODE_COLORS.get(mode))
    ticks = sorted({(r["params_pct"], r["width"]) for r in summary["rows"]})
    ax.set_xscale("log")
    ax.set_xticks([t for t, _ in ticks], [f"{t:.1f}%\n(w {w})" for t, w in ticks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("student parameters, % of the teacher's (width)")


def figure_returns(summary: dict[str, Any]) -> Figure:
    """Closed-loop return (% of the teacher's) against student size, per mode, with 95% CIs.

    The shaded box is Rusu et al. (2016)'s compression result (4-25% of the parameters,
    84-108% of the score).
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(
        RUSU_PARAMS_PCT, *RUSU_SCORE_PCT, color="#bbbbbb", alpha=0.3, lw=0, label="Rusu et al. 2016 (Atari)"
    )
    ax.axhline(100.0, color="#444444", lw=0.8, ls="--", label="teacher")
    _errorbars(ax, summary, "return_pct")
    n = summary["n_seeds"]
    ax.set(
        ylabel="return, % of the teacher's",
        title=f"CartPole closed-loop return ({summary['teacher']['episodes']} episodes; mean over {n} seed{'s' * (n != 1)})",
    )
    ax.legend(fontsize=8)
    return fig


def figure_fidelity(summary: dict[str, Any]) -> Figure:
    """Held-out agreement, probability similarity (T = 1) and regret against student size, per mode."""
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, metric in zip(axes, ("action_agreement", "prob_similarity_t1", "regret"), strict=True):
        _errorbars(ax, summary, metric)
        ax.set_title(SUMMARY_METRICS[metric])
    axes[0].legend(fontsize=8)
    n_held = summary["buffer"].get("n_held_out")
    fig.suptitle(f"Fidelity on held-out teacher states{f' ({n_held} states)' if n_held else ''}")
    return fig
