"""DQN on a task, many agents at once: the shipped teachers, their independent peers, and from-scratch students.

Deep Q-learning (Mnih et al. 2015, "Human-level control through deep reinforcement
learning", Nature 518): epsilon-greedy agents fill replay buffers; each gradient step
regresses ``Q(s, a)`` on the bootstrapped target of a periodically copied target network,

    y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a'))      (double DQN)
    y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')                (plain DQN)

with the Huber loss (Mnih et al.'s error clipping) or the squared error, and Adam. Double
DQN is van Hasselt, Guez & Silver 2016, AAAI. Only ``terminated`` cuts the bootstrap:
CartPole's 500-step limit (``truncated``) is not a property of the state (Pardo et al.
2018, "Time Limits in Reinforcement Learning", ICML). The layout follows cleanrl's ``dqn.py``.

How it runs fast. Each agent acts in ``n_envs`` environments at once and takes
``updates_per_step`` gradient steps per vector step, so the Python loop turns
``total_steps / n_envs`` times. Agents that differ only in their seed train together: their
weights are rows of one flat ``(K, P)`` tensor (``core.stacked``: per-agent gradient clipping
and Adam; ``rl.dqn_update``: one forward of the online network over ``s`` and ``s'`` and a
hand-written backward), so one pass serves all K; all agents' environments are the slots of
one bulk environment (``rl.bulk_envs``: CartPole and Acrobot in numpy); every agent's
replay ring is a row of one tensor, sampled with one ``index_select``; random draws are taken
``DRAW_BLOCK`` steps at a time. Each agent has its own environments, generators and replay
buffer, and a stacked row only reads its own weights: an agent trained among others is bit
for bit the agent trained alone (a test checks it).

Dropout. The networks are ``QNetwork(4, hidden, 2, dropout=0.1)`` trained and used in
eval mode (dropout off): the teacher is always *used* that way, and dropout in the online
network would add noise to the TD errors without a benefit we need.

Checkpoint selection (``rl.dqn_selection``). DQN on CartPole oscillates (the greedy return can
fall from 500 to ~100 within a few thousand steps), so every ``eval_every`` environment steps
each agent's greedy network plays ``eval_episodes`` selection episodes (seeds ``eval_seed + i``,
disjoint from the test seeds of ``episodes.TEST_SEED``) and its best weights are kept (the
first to reach the highest mean; ties keep the earlier checkpoint). Given ``budgets`` (env
steps per agent, each ``<= total_steps``), the run is also read at each: the checkpoint it
would have kept had it stopped there (one more selection evaluation where a budget ends off
the ``eval_every`` grid; the full budget keeps the checkpoint of a run without budgets).

Determinism: one thread; agent ``k``'s network is initialised after ``torch.manual_seed(seed_k)``;
its environment ``j`` is reset once with ``seed_k + j`` and then continues its own generator
(gymnasium's sync vector env; the earlier code used CartPole's vector env, which drew all
starts from one generator); its exploration draws come from the generator of child 0 of
``numpy.random.SeedSequence(seed_k)`` (per block: uniforms ``(DRAW_BLOCK, n_envs)``, then
random actions of that shape) and its replay indices from child 1's (per block: uniforms
``(DRAW_BLOCK, batch_size)``, index ``floor(u * size)``). The same configs give bit-identical
weights on the same machine and library versions. (Before the bulk environments, one
``default_rng(seed_k)`` drew exploration and replay indices interleaved, and autograd took
the gradient: agents trained now differ from agents trained then with the same seed.)
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
import torch.nn.functional as F

from ..core.networks import QNetwork, freeze
from ..core.progress import report as report_progress
from ..core.progress import terminal_bar
from ..core.stacked import FlatAdam, FlatLayout, clip_per_student_
from ..core.training import single_thread
from ..records.atomic import atomic_torch_save, atomic_write_json
from ..records.provenance import provenance
from .bulk_envs import make_bulk
from .dqn_config import DQNConfig, check_budgets, linear_epsilon
from .dqn_selection import CheckpointSelection
from .dqn_update import StackedQ, td_gradient
from .episodes import TEST_EPISODES, TEST_SEED, mean_ci
from .evaluation import closed_loop_returns
from .replay import StackedReplay
from .tasks import TEACHER_DROPOUT, task, teacher_network

__all__ = [
    "TD_LOSSES",
    "DQNConfig",
    "StackedReplay",
    "TrainedAgent",
    "agent_network",
    "linear_epsilon",
    "state_dict_digest",
    "td_targets",
    "test_record",
    "train_and_save",
    "train_dqn",
]

#: vector steps (exploration) and gradient steps (replay) of random draws taken from an agent's generator at a time
DRAW_BLOCK = 1_000
#: TD-error losses per element: Huber (``smooth_l1``, beta 1; Mnih et al.'s error clipping) or squared error.
TD_LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


def td_targets(online, target, rewards, next_obs, terminated, gamma: float, double_dqn: bool) -> torch.Tensor:
    """The bootstrapped targets ``y`` ``(..., B)`` of the module docstring, without gradients.

    ``online`` and ``target`` map states ``(..., B, D)`` to Q-values ``(..., B, A)``.
    """
    with torch.no_grad():
        q_next = target(next_obs)  # (..., B, A)
        if double_dqn:
            best = online(next_obs).argmax(-1, keepdim=True)  # (..., B, 1)
            v_next = q_next.gather(-1, best).squeeze(-1)  # (..., B)
        else:
            v_next = q_next.max(-1).values
        return rewards + gamma * (1.0 - terminated) * v_next


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in state-dict order.

    Unlike the bytes of a ``.pt`` file (whose zip records the file name), it depends only
    on the weights: two trainings agree bit for bit iff their digests agree.
    """
    h = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _check_stack(configs: Sequence[DQNConfig]) -> None:
    if not configs:
        raise ValueError("configs is empty: give at least one DQNConfig")
    first = configs[0].to_dict() | {"seed": None}
    for c in configs[1:]:
        if c.to_dict() | {"seed": None} != first:
            diff = sorted(k for k, v in c.to_dict().items() if k != "seed" and first[k] != v)
            raise ValueError(f"configs differ in {diff}: agents trained together may differ only in their seed")
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds} repeat: each agent needs its own seed")


def agent_network(config: DQNConfig) -> QNetwork:
    """An untrained ``QNetwork(obs_dim, config.hidden, n_actions, dropout=0.1)`` of the config's task."""
    return teacher_network(config.env_id, config.hidden)


def _nets(config: DQNConfig, layout: FlatLayout, flat: torch.Tensor) -> list[QNetwork]:
    """The rows of ``flat`` ``(K, P)`` as networks in eval mode."""
    out = []
    for k in range(len(flat)):
        net = agent_network(config)
        net.load_state_dict(layout.state_dict(flat, k))
        out.append(net.eval())
    return out


def _exploration_block(rngs: Sequence[np.random.Generator], n_envs: int, n_actions: int) -> tuple[np.ndarray, ...]:
    """Each agent's next ``DRAW_BLOCK`` vector steps of exploration draws: uniforms and random actions ``(K, T, M)``."""
    u = np.stack([rng.random((DRAW_BLOCK, n_envs)) for rng in rngs])
    return u, np.stack([rng.integers(n_actions, size=(DRAW_BLOCK, n_envs)) for rng in rngs])


def _crossed(step: int, width: int, every: int) -> bool:
    """Whether the vector step that ended at env step ``step`` (``width`` env steps) passed a multiple of ``every``."""
    return step // every != (step - width) // every


@dataclass(frozen=True)
class TrainedAgent:
    """One agent of ``train_dqn``: its kept checkpoint, its JSON-ready record, and its checkpoint at each budget."""

    state: dict[str, torch.Tensor]  # the best checkpoint of the whole run (by selection return)
    record: dict[str, Any]
    budget_states: list[dict[str, torch.Tensor]]  # one per entry of record["budgets"], in that order


def train_dqn(
    configs: DQNConfig | Sequence[DQNConfig], progress: bool = True, budgets: Sequence[int] = ()
) -> list[TrainedAgent]:
    """Train one agent per config (configs equal but for the seed) on the configs' task, all at once.

    Returns, per config in order, the best checkpoint's state dict (by selection return)
    and a JSON-ready record: the config, the training episodes' returns and end steps (in
    the agent's environment steps), the selection evaluations with the mean TD loss since
    the previous one, the best step, and the wall time of the whole stack. With ``budgets``
    (env steps per agent, each in ``[1, total_steps]``; module docstring), also the state dict
    kept at each budget (sorted), and ``record["budgets"]``: per budget its env steps, the
    gradient steps taken, the kept checkpoint's step, selection return and digest.
    """
    configs = [configs] if isinstance(configs, DQNConfig) else list(configs)
    _check_stack(configs)
    c, n_agents = configs[0], len(configs)
    budgets = check_budgets(budgets, c)
    env_task = task(c.env_id)
    n_envs, started = c.n_envs, time.perf_counter()
    with single_thread():
        # 1. seeding: per agent its network init, its two generators (exploration, replay) and its environments
        nets = []
        for cfg in configs:
            torch.manual_seed(cfg.seed)
            nets.append(agent_network(cfg))
        streams = [np.random.SeedSequence(cfg.seed).spawn(2) for cfg in configs]
        explore_rngs = [np.random.default_rng(child) for child, _ in streams]
        replay_rngs = [np.random.default_rng(child) for _, child in streams]
        # slot k * M + j is agent k's environment j, reset with seed_k + j, then continuing its generator
        envs = make_bulk(c.env_id, n_agents * n_envs, own_generators=True)
        seeds = np.array([cfg.seed for cfg in configs], dtype=np.int64)
        obs = envs.reset(np.arange(n_agents * n_envs), (seeds[:, None] + np.arange(n_envs)).reshape(-1))
        obs = obs.reshape(n_agents, n_envs, -1)  # (K, M, D)

        # 2. stacked online and target networks, per-agent Adam and clipping
        layout = FlatLayout(nets[0].state_dict())
        flat = layout.flatten([net.state_dict() for net in nets])  # (K, P)
        target_flat = flat.clone()
        selection = CheckpointSelection(flat, budgets, n_envs)
        ln_eps = nets[0][1].eps
        online, target = (
            StackedQ(layout, flat, ln_eps),
            StackedQ(layout, target_flat, ln_eps),
        )  # follow in-place updates
        optimizer = FlatAdam(flat, c.lr)
        clip = torch.full((n_agents,), c.max_grad_norm is not None)
        max_norm = torch.full((n_agents,), c.max_grad_norm or 1.0)
        replay = StackedReplay(n_agents, c.buffer_size, env_task.obs_dim)

        records: list[dict[str, Any]] = [{"episode_returns": [], "episode_end_steps": [], "evals": []} for _ in configs]
        episode_return = np.zeros((n_agents, n_envs))
        autoreset = np.zeros((n_agents, n_envs), dtype=bool)  # the env resets on this step: no transition
        window_losses: list[torch.Tensor] = []
        n_vector = -(-c.total_steps // n_envs)
        bar = terminal_bar(total=n_vector * n_envs, shown=progress, desc=f"DQN x{n_agents}", mininterval=1.0)
        n_updates = 0
        for t in range(n_vector):
            step = (t + 1) * n_envs  # each agent's environment steps after this vector step
            # 3. act epsilon-greedily in every environment (draws from each agent's block); step them all
            if t % DRAW_BLOCK == 0:
                explore_u, explore_a = _exploration_block(explore_rngs, n_envs, env_task.n_actions)
            epsilon = linear_epsilon(t * n_envs, c)
            with torch.no_grad():
                greedy = online(torch.from_numpy(obs)).argmax(-1).numpy()  # (K, M)
            i = t % DRAW_BLOCK
            actions = np.where(explore_u[:, i] < epsilon, explore_a[:, i], greedy)  # (K, M)
            restart = autoreset.reshape(-1)
            next_obs, rewards, terminated, truncated = envs.step(actions.reshape(-1), ~restart)
            if restart.any():  # gymnasium's next-step autoreset: the step after an episode's end starts the next
                next_obs[restart] = envs.reset(np.flatnonzero(restart))
            next_obs = next_obs.reshape(n_agents, n_envs, -1)
            rewards, terminated = rewards.reshape(n_agents, n_envs), terminated.reshape(n_agents, n_envs)
            done = terminated | truncated.reshape(n_agents, n_envs)
            valid = ~autoreset
            replay.add(obs, actions, rewards, next_obs, terminated, valid)
            episode_return += np.where(valid, rewards, 0.0)
            for k, m in zip(*np.nonzero(done & valid)):
                records[k]["episode_returns"].append(float(episode_return[k, m]))
                records[k]["episode_end_steps"].append(step)
                episode_return[k, m] = 0.0
            obs, autoreset = next_obs, done

            # 4. gradient steps on replayed minibatches, one loss per agent
            if step >= c.learning_starts:
                for _ in range(c.updates_per_step):
                    if n_updates % DRAW_BLOCK == 0:
                        replay_u = np.stack([rng.random((DRAW_BLOCK, c.batch_size)) for rng in replay_rngs])
                    batch = replay.sample_at(replay_u[:, n_updates % DRAW_BLOCK])  # (K, B, ...)
                    grad, loss = td_gradient(online, target, batch, c.gamma, c.double_dqn, c.loss_fn)  # (K, P), (K,)
                    clip_per_student_(grad, max_norm, clip)
                    optimizer.step(grad)
                    window_losses.append(loss)
                    n_updates += 1

            # 5. refresh the target networks
            if _crossed(step, n_envs, c.target_update_every):
                target_flat.copy_(flat)

            # 6. greedy selection episodes (every eval_every env steps, at the end, where a budget ends); keep the best
            regular = _crossed(step, n_envs, c.eval_every) or t == n_vector - 1
            if regular or selection.budget_ends_at(step):
                nets_now = _nets(c, layout, flat)
                returns = closed_loop_returns(nets_now, c.eval_episodes, c.eval_seed, env_id=c.env_id).mean(1)  # (K,)
            if regular:
                window = np.stack([w.numpy() for w in window_losses]) if window_losses else None  # (W, K)
                # each agent's mean over its own contiguous column: the same sum however many agents train
                losses = [None if window is None else float(np.ascontiguousarray(window[:, k]).mean())
                          for k in range(n_agents)]  # fmt: skip
                window_losses = []
                for k in range(n_agents):
                    records[k]["evals"].append({"step": step, "mean_return": float(returns[k]), "mean_loss": losses[k]})
                selection.offer(step, returns, flat)
                bar.set_postfix(eval_ret=f"{returns.mean():.0f}", best=f"{selection.best_return.mean():.0f}")
            if selection.budget_ends_at(step):
                selection.close_budgets(step, returns, flat, n_updates)
            bar.update(n_envs)
            report_progress(f"DQN, {n_agents} agent{'s' * (n_agents > 1)}: environment steps", step, n_vector * n_envs)
        bar.close()
        envs.close()

    wall = time.perf_counter() - started
    at_budgets = selection.budget_checkpoints()
    out = []
    for k, cfg in enumerate(configs):
        state = layout.state_dict(selection.best_flat, k)
        budget_states = [layout.state_dict(b.flat, k) for b in at_budgets]
        records[k].update(
            config=cfg.to_dict(),
            best_step=int(selection.best_step[k]),
            best_selection_return=float(selection.best_return[k]),
            state_sha256=state_dict_digest(state),
            budgets=[b.agent_record(k, state_dict_digest(bs)) for b, bs in zip(at_budgets, budget_states, strict=True)],
            train_wall_time_s=wall,
            agents_trained_together=n_agents,
        )
        out.append(TrainedAgent(state, records[k], budget_states))
    return out


def _versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "platform": platform.platform(),
    }


def test_record(state: dict[str, torch.Tensor], record: dict[str, Any]) -> dict[str, Any]:
    """``record`` plus the greedy returns on the 100 test episodes (seeds ``TEST_SEED + i``), mean, 95% CI, versions."""
    config = DQNConfig.from_params(record["config"])
    net = agent_network(config)
    net.load_state_dict(state)
    returns = closed_loop_returns([freeze(net)], TEST_EPISODES, TEST_SEED, env_id=config.env_id)[0]
    mean, lo, hi = mean_ci(returns)
    return record | {
        "env_id": config.env_id,
        "bar": task(config.env_id).bar,
        "architecture": f"QNetwork({net.input_dim}, {config.hidden}, {net.output_dim}, dropout={TEACHER_DROPOUT})",
        "test_seed": TEST_SEED,
        "test_episodes": TEST_EPISODES,
        "test_returns": returns.tolist(),
        "test_mean": mean,
        "test_ci95": [lo, hi],
        "versions": _versions(),
        "provenance": provenance(),  # commit, code hash, CPU: how these weights were made
    }


def train_and_save(
    configs: DQNConfig | Sequence[DQNConfig], paths: str | Path | Sequence[str | Path], progress: bool = True
) -> list[dict[str, Any]]:
    """Train (``train_dqn``), test, and write ``<path>.pt`` (state dict) and ``<path>.json`` (the record) per config.

    ``paths`` are file stems, one per config (``assets/cartpole/teacher`` writes
    ``teacher.pt`` and ``teacher.json``); load a result with ``tasks.load_teacher``.
    Returns the records (``test_record``'s).
    """
    configs = [configs] if isinstance(configs, DQNConfig) else list(configs)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if len(paths) != len(configs):
        raise ValueError(f"{len(paths)} paths for {len(configs)} configs: give one file stem per config")
    records = []
    for agent, stem in zip(train_dqn(configs, progress=progress), paths):
        record = test_record(agent.state, agent.record)
        stem = Path(stem)
        atomic_torch_save(stem.with_suffix(".pt"), agent.state)
        atomic_write_json(stem.with_suffix(".json"), record)
        records.append(record)
    return records
