"""What determines one DQN agent's training (``rl.dqn``): its validated config, exploration schedule and budgets.

A *budget* is a number of environment steps per agent. A run of ``total_steps`` can be read
at any smaller budget ``b`` (``rl.dqn_selection``): the checkpoint it would have kept had it
stopped at ``b``. ``budget_grid`` is the study's log-spaced grid of budgets up to a run's
``total_steps`` (1e3, 3e3, 1e4, ...), and ``gradient_steps`` what a budget costs in updates:
``updates_per_step`` per vector step of ``n_envs`` env steps, from the first vector step that
reaches ``learning_starts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.schema import ParamError, Params, param
from .episodes import TEST_EPISODES, TEST_SEED
from .tasks import DEFAULT_ENV_ID, TEACHER_HIDDEN, TaskError, task

__all__ = [
    "TASK_RECIPES",
    "DQNConfig",
    "budget_grid",
    "check_budgets",
    "gradient_steps",
    "linear_epsilon",
    "task_recipe",
]


@dataclass(frozen=True)
class DQNConfig(Params):
    """Everything that determines one DQN agent (defaults: the shipped teacher's recipe)."""

    env_id: str = param(DEFAULT_ENV_ID, "gymnasium id of the task (1-D Box states, Discrete actions)")
    seed: int = param(
        0, "seed: network init, exploration and replay sampling, the environments' first reset", low=0, high=2**32 - 1
    )
    hidden: int = param(TEACHER_HIDDEN, "hidden width of the QNetwork(obs_dim, hidden, n_actions)", low=1, high=100_000)
    total_steps: int = param(100_000, "environment steps of training (over all n_envs environments)", low=1, high=10**9)
    n_envs: int = param(4, "environments the agent acts in at once (one vector step = n_envs env steps)", low=1)
    updates_per_step: int = param(1, "gradient steps per vector step", low=1, high=1_000)
    buffer_size: int = param(50_000, "replay buffer capacity in transitions (>= batch_size)", low=1, high=10**9)
    batch_size: int = param(128, "transitions per gradient step", low=1, high=10**6)
    lr: float = param(5e-4, "Adam learning rate", low=0.0, high=1.0, low_open=True)
    gamma: float = param(0.99, "discount factor", low=0.0, high=1.0, high_open=True)
    target_update_every: int = param(
        500, "copy the online network into the target network every this many env steps", low=1
    )
    eps_start: float = param(1.0, "exploration rate at step 0", low=0.0, high=1.0)
    eps_end: float = param(0.02, "exploration rate after the decay (<= eps_start)", low=0.0, high=1.0)
    eps_fraction: float = param(
        0.2, "fraction of total_steps over which epsilon decays linearly", low=0.0, high=1.0, low_open=True
    )
    learning_starts: int = param(
        1_000, "env steps of pure collection before the first gradient step (>= batch_size)", low=1
    )
    loss_fn: str = param("huber", "TD loss: huber or mse", choices=("huber", "mse"))
    double_dqn: bool = param(
        True, "double DQN targets (online argmax, target value) instead of max over the target network"
    )
    max_grad_norm: float | None = param(
        10.0, "gradient-norm clip (null: no clipping)", low=0.0, high=1e6, low_open=True
    )
    eval_every: int = param(
        5_000, "evaluate the greedy network every this many env steps to pick the best checkpoint", low=1
    )
    eval_episodes: int = param(10, "selection episodes per evaluation", low=1, high=100_000)
    eval_seed: int = param(
        20_000, "first seed of the selection episodes; must not overlap the test seeds", low=0, high=2**31
    )

    def check(self) -> None:
        super().check()
        try:
            task(self.env_id)
        except TaskError as e:
            raise ParamError(str(e)) from None
        if self.buffer_size < self.batch_size:
            raise self.fail("buffer_size", f"must be >= batch_size={self.batch_size}")
        if self.buffer_size < self.n_envs:
            raise self.fail("buffer_size", f"must be >= n_envs={self.n_envs} (one vector step's transitions)")
        if self.eps_end > self.eps_start:
            raise self.fail("eps_end", f"must be in [0, eps_start={self.eps_start:g}]")
        if self.learning_starts < self.batch_size:
            raise self.fail("learning_starts", f"must be >= batch_size={self.batch_size}")
        disjoint = self.eval_seed + self.eval_episodes <= TEST_SEED or self.eval_seed >= TEST_SEED + TEST_EPISODES
        if not disjoint:
            raise self.fail(
                "eval_seed",
                f"selection seeds {self.eval_seed}..{self.eval_seed + self.eval_episodes - 1} overlap the test seeds "
                f"{TEST_SEED}..{TEST_SEED + TEST_EPISODES - 1}; choose eval_seed >= {TEST_SEED + TEST_EPISODES}",
            )


def linear_epsilon(step: int, config: DQNConfig) -> float:
    """``eps_start -> eps_end`` linearly over the first ``eps_fraction * total_steps`` env steps, then flat."""
    duration = config.eps_fraction * config.total_steps
    progress = min(1.0, step / duration)
    return config.eps_start + progress * (config.eps_end - config.eps_start)


def budget_grid(total_steps: int) -> list[int]:
    """``1e3, 3e3, 1e4, 3e4, ...`` up to ``total_steps``, and ``total_steps`` itself: ``[1000, ..., 100000]`` for 100k."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps={total_steps!r}: must be an integer >= 1")
    grid, decade = [], 1_000
    while decade <= total_steps:
        grid += [b for b in (decade, 3 * decade) if b <= total_steps]
        decade *= 10
    return grid if grid and grid[-1] == total_steps else [*grid, total_steps]


def check_budgets(budgets: Sequence[int], config: DQNConfig) -> list[int]:
    """``budgets`` sorted, each an integer in ``[1, total_steps]`` (a run cannot be read past its end), no repeats."""
    out = sorted(budgets)
    for b in out:
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= config.total_steps:
            raise ValueError(
                f"budget {b!r}: must be an integer in [1, total_steps={config.total_steps}]; "
                "train longer or give smaller budgets"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"budgets {out}: a budget is listed twice; give each once")
    return out


def gradient_steps(config: DQNConfig, env_steps: int) -> int:
    """Gradient steps an agent has taken once ``env_steps`` env steps are done (rounded up to whole vector steps).

    Vector step ``t`` (0-based) ends at env step ``(t + 1) n_envs`` and updates when that is at least
    ``learning_starts``: ``updates_per_step * max(0, ceil(env_steps / n_envs) - ceil(learning_starts / n_envs) + 1)``.
    """
    vector_steps = -(-env_steps // config.n_envs)
    first = -(-config.learning_starts // config.n_envs)  # the 1-based vector step of the first update
    return config.updates_per_step * max(0, vector_steps - first + 1)


#: Each known task's DQN recipe: the fields that differ from ``DQNConfig``'s defaults (CartPole's).
#: The shipped teachers were trained with these (their ``teacher.json`` holds the full config).
TASK_RECIPES: dict[str, dict[str, object]] = {
    "CartPole-v1": {},
    "Acrobot-v1": {"total_steps": 100_000, "target_update_every": 250, "eps_fraction": 0.12, "eps_end": 0.05},
    "LunarLander-v3": {
        "total_steps": 300_000,
        "updates_per_step": 2,
        "buffer_size": 100_000,
        "target_update_every": 1_000,
        "eps_fraction": 0.1,
        "eval_every": 10_000,
        "eval_episodes": 20,
    },
}


def task_recipe(env_id: str, **overrides: object) -> DQNConfig:
    """The task's recipe (``TASK_RECIPES``; ``DQNConfig``'s defaults for another task) with ``overrides``."""
    return DQNConfig.from_params({**TASK_RECIPES.get(env_id, {}), "env_id": env_id, **overrides})
