"""States a student visits when it acts, mixed with its teacher: the data of DAgger's rounds.

DAgger (Ross, Gordon & Bagnell 2011, "A Reduction of Imitation Learning and Structured
Prediction to No-Regret Online Learning", AISTATS) trains a learner on the states its own
policy reaches, labelled by the expert: in round ``r`` the policy that acts is the mixture
``pi_r = beta_r * expert + (1 - beta_r) * learner`` (per step, the expert's action with
probability ``beta_r``), every visited state is labelled by the expert and added to the
aggregate data set, and the learner is retrained on it. Here the expert is the teacher, its
labels are its Q-values (the distillation objectives read them when training), and
``mixed_rollout_states`` collects one round's states for many students at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..core.networks import QNetwork
from ..core.training import single_thread
from .bulk_envs import make_bulk
from .evaluation import StackedGreedy
from .tasks import DEFAULT_ENV_ID

__all__ = ["mixed_rollout_states"]


def mixed_rollout_states(
    nets: Sequence[QNetwork],
    teacher: nn.Module,
    n_states: int,
    beta: float,
    seed: int,
    n_envs: int = 4,
    env_id: str = DEFAULT_ENV_ID,
) -> torch.Tensor:
    """The first ``n_states`` decision states of each network's mixed policy: ``(len(nets), n_states, D)`` float32.

    Network ``k`` acts in ``n_envs`` environments of ``env_id`` (slots ``k * n_envs + j`` of one
    bulk environment, ``rl.bulk_envs``; slot ``i`` reset once with ``seed + i``, then from its own
    continuing generator on the step after its episode ended, as gymnasium's sync vector env
    resets; CartPole's vector env, which drew every start from one generator, is no longer
    used, so CartPole's rollouts start elsewhere than before); at every step and
    in every environment the teacher's greedy action is taken with probability ``beta``, else
    the network's (draws from ``numpy.random.default_rng(seed)``). A state is recorded when an
    action is chosen in it, so the final, failed state of an episode is not (the environment
    resets on the next step instead), and states are kept in the order they were reached
    (all environments at step 1, then at step 2, ...). Steps continue until every network has
    ``n_states``. ``nets`` must be ``QNetwork`` s of one architecture (``StackedGreedy``).
    """
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 1:
        raise ValueError(f"n_states={n_states!r}: must be an integer >= 1")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta={beta!r}: must be in [0, 1] (the teacher's share of the actions)")
    if not nets:
        raise ValueError("nets is empty: give at least one network")
    n = len(nets)
    policy = StackedGreedy(nets, torch.device("cpu"))
    rng = np.random.default_rng(seed)
    envs = make_bulk(env_id, n * n_envs, own_generators=True)
    obs = envs.reset(np.arange(n * n_envs), seed + np.arange(n * n_envs))  # (K * P, D)
    obs_dim = obs.shape[-1]
    kept: list[list[np.ndarray]] = [[] for _ in range(n)]
    counts = np.zeros(n, dtype=np.int64)
    autoreset = np.zeros((n, n_envs), dtype=bool)  # the env resets on this step: no decision is made
    was_training = teacher.training
    teacher.eval()
    try:
        with single_thread(), torch.no_grad():
            while counts.min() < n_states:
                x = torch.from_numpy(obs).view(n, n_envs, obs_dim)  # (K, P, D)
                own = policy.q_values(x).argmax(-1).numpy()  # (K, P)
                expert = teacher(x.reshape(-1, obs_dim)).argmax(-1).numpy().reshape(n, n_envs)
                actions = np.where(rng.random((n, n_envs)) < beta, expert, own)
                decided = ~autoreset
                for k in range(n):
                    kept[k].append(obs.reshape(n, n_envs, obs_dim)[k][decided[k]])
                counts += decided.sum(1)
                restart = autoreset.reshape(-1)
                obs, _, terminated, truncated = envs.step(actions.reshape(-1), ~restart)
                if restart.any():  # the step after an episode's end starts the next one
                    obs[restart] = envs.reset(np.flatnonzero(restart))
                autoreset = (terminated | truncated).reshape(n, n_envs)
    finally:
        teacher.train(was_training)
        envs.close()
    return torch.from_numpy(np.stack([np.concatenate(k)[:n_states] for k in kept]).astype(np.float32))
