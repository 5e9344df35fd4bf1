"""Many episodes of one task stepped together: ``BulkEnv``, the environment behind every episode the study plays.

A bulk environment holds ``n`` slots, each running one episode of a gymnasium task, and
steps any subset of them in one call: observations ``(n, D)`` float32, rewards ``(n,)``,
``terminated`` and ``truncated`` ``(n,)``, as ``n`` gymnasium environments made with
``gymnasium.make(env_id)`` would return them (the time limit included: ``truncated`` once a
slot's episode has run ``max_steps`` steps). It never resets a slot by itself: the caller
resets ended slots (``reset``), so a loop that plays fixed episodes steps only the running
ones, and one that mimics gymnasium's vector autoreset resets a slot on the step after its
episode ended (``rl.dqn``, ``rl.rollouts``).

Where episodes start. A slot is reset from gymnasium's own seeded reset: ``reset(slots,
seeds)`` starts slot ``j`` exactly where ``gymnasium.make(env_id).reset(seed=seeds[j])``
starts (its physics state is read from ``env.unwrapped.state``); with ``own_generators``
every slot keeps a gymnasium environment whose generator continues, so ``reset(slots)``
without seeds gives the next start of that generator, as a sub-environment of
``gymnasium.make_vec(..., vectorization_mode="sync")`` does after its first seeded reset.

Routes, by task (``make_bulk``):

* CartPole-v1, Acrobot-v1: ``PortedBulk``, gymnasium 1.4.0's dynamics ported to numpy
  (``rl.classic_physics``), bit for bit the scalar environment's (tests on many seeds).
* Any other task (LunarLander-v3's Box2D physics): ``GymnasiumBulk``, one gymnasium
  environment per slot (``env.unwrapped``, without the checker and order wrappers; our own
  time limit), stepped in a Python loop. It is gymnasium's environment itself, so exact by
  construction; LunarLander-v3's is ``rl.lunar_lander.LeanLunarLander``, gymnasium's with a
  leaner step (the same Box2D calls and arithmetic: equal bit for bit, tested). Measured alternatives (``benchmarks/bench_closed_loop.py``'s docstring has
  the figures): envpool's C++ LunarLander steps 2-3x faster, matching gymnasium's return
  distributions but not its seeded episodes (other seeding, another Box2D build), and
  gymnasium's ``AsyncVectorEnv`` is 4-6x slower than one process on this 2-core machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from .classic_physics import acrobot_observe, acrobot_step, cartpole_observe, cartpole_step
from .tasks import task

__all__ = ["PORTS", "BulkEnv", "GymnasiumBulk", "PortedBulk", "make_bulk", "seeded_start"]

Physics = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: the tasks with a numpy port: (step, observe, reward of a step that does not end / that ends the episode)
PORTS: dict[str, tuple[Physics, Callable[[np.ndarray], np.ndarray], float, float]] = {
    "CartPole-v1": (cartpole_step, cartpole_observe, 1.0, 1.0),
    "Acrobot-v1": (acrobot_step, acrobot_observe, -1.0, 0.0),
}


def _unwrapped(env_id: str) -> gym.Env:
    """``gymnasium.make(env_id).unwrapped``; for LunarLander-v3 (default arguments) its lean step's subclass."""
    env = gym.make(env_id).unwrapped
    if env_id == "LunarLander-v3" and type(env).__name__ == "LunarLander":
        from .lunar_lander import LeanLunarLander  # imports Box2D: only where the task needs it

        lean = LeanLunarLander(env.render_mode, env.continuous, env.gravity, env.enable_wind, env.wind_power,
                               env.turbulence_power)  # fmt: skip
        lean.spec = env.spec
        env.close()
        return lean
    return env


@functools.lru_cache(maxsize=65_536)
def seeded_start(env_id: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Where ``gymnasium.make(env_id).reset(seed=seed)`` starts: the float64 physics state and the float32 observation.

    Read-only arrays (cached: the test episodes' starts are reused by every network).
    """
    env = _start_env(env_id)
    obs, _ = env.reset(seed=seed)
    state, obs = np.array(env.state, dtype=np.float64), np.array(obs, dtype=np.float32)
    state.flags.writeable = obs.flags.writeable = False
    return state, obs


@functools.cache
def _start_env(env_id: str) -> gym.Env:
    """One environment per task that only ever makes seeded resets (a seeded reset forgets the past)."""
    return _unwrapped(env_id)


class BulkEnv:
    """``n`` episodes of ``env_id`` stepped together (the module docstring's protocol)."""

    def __init__(self, env_id: str, n: int, own_generators: bool = False) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r}: must be an integer >= 1 (the number of slots)")
        t = task(env_id)
        self.env_id, self.n, self.obs_dim, self.n_actions = env_id, n, t.obs_dim, t.n_actions
        self.max_steps = t.max_steps
        self.own_generators = own_generators
        self.obs = np.zeros((n, t.obs_dim), dtype=np.float32)  # (n, D) each slot's latest observation
        self.elapsed = np.zeros(n, dtype=np.int64)  # steps since the slot's reset

    def reset(self, slots: np.ndarray, seeds: np.ndarray | None = None) -> np.ndarray:
        """Start a new episode in ``slots`` ``(m,)``: from ``reset(seed=seeds[j])``, or (``own_generators``)
        each slot's next start; returns their observations ``(m, D)``."""
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        if seeds is None and not self.own_generators:
            raise ValueError("reset without seeds needs own_generators=True (each slot continues its generator)")
        if seeds is not None:
            seeds = np.asarray(seeds).reshape(-1)
            if len(seeds) != len(slots):
                raise ValueError(f"{len(seeds)} seeds for {len(slots)} slots: give one seed per slot")
        self.elapsed[slots] = 0
        self._reset(slots, None if seeds is None else [int(s) for s in seeds])
        return self.obs[slots]  # a copy (fancy indexing)

    def step(
        self, actions: np.ndarray, active: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step the ``active`` slots ``(n,)`` bool (default all) with ``actions`` ``(n,)``.

        Returns ``(obs (n, D) float32, reward (n,) float64, terminated (n,), truncated (n,))``;
        an inactive slot keeps its observation and gets reward 0 and both flags False. Step a
        slot only while its episode runs (after it ended, reset it).
        """
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        if len(actions) != self.n:
            raise ValueError(f"{len(actions)} actions for {self.n} slots: give one action per slot")
        index = np.arange(self.n) if active is None else np.flatnonzero(active)
        reward = np.zeros(self.n, dtype=np.float64)
        terminated, truncated = np.zeros(self.n, dtype=bool), np.zeros(self.n, dtype=bool)
        if len(index):
            if ((actions[index] < 0) | (actions[index] >= self.n_actions)).any():
                raise ValueError(f"actions must lie in 0..{self.n_actions - 1} ({self.env_id})")
            reward[index], terminated[index] = self._step(index, actions[index])
            self.elapsed[index] += 1
            if self.max_steps is not None:
                truncated[index] = self.elapsed[index] >= self.max_steps
        return self.obs.copy(), reward, terminated, truncated

    def close(self) -> None:
        """Release the slots' environments."""

    def _reset(self, slots: np.ndarray, seeds: list[int] | None) -> None:
        raise NotImplementedError

    def _step(self, index: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class PortedBulk(BulkEnv):
    """A task of ``PORTS``: the physics of all slots as one float64 array ``(n, 4)``, stepped in numpy."""

    def __init__(self, env_id: str, n: int, own_generators: bool = False) -> None:
        if env_id not in PORTS:
            raise ValueError(f"env_id={env_id!r} has no numpy port: use one of {sorted(PORTS)} or GymnasiumBulk")
        super().__init__(env_id, n, own_generators)
        self._physics, self._observe, self._reward, self._final_reward = PORTS[env_id]
        self.state = np.zeros((n, 4), dtype=np.float64)  # (n, 4)
        # own_generators: the gymnasium environment of each slot, made at its first seeded reset
        self._sources: dict[int, gym.Env] = {}

    def _reset(self, slots: np.ndarray, seeds: list[int] | None) -> None:
        for j, slot in enumerate(slots.tolist()):
            if not self.own_generators:
                self.state[slot], self.obs[slot] = seeded_start(self.env_id, seeds[j])
                continue
            if slot not in self._sources:
                if seeds is None:
                    raise ValueError(f"slot {slot} was never reset with a seed: its generator has no start")
                self._sources[slot] = _unwrapped(self.env_id)
            env = self._sources[slot]
            obs, _ = env.reset() if seeds is None else env.reset(seed=seeds[j])
            self.state[slot], self.obs[slot] = np.asarray(env.state, dtype=np.float64), obs

    def _step(self, index: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        whole = len(index) == self.n
        state, terminated = self._physics(self.state if whole else self.state[index], actions)
        if whole:
            self.state, self.obs = state, self._observe(state)
        else:
            self.state[index], self.obs[index] = state, self._observe(state)
        return np.where(terminated, self._final_reward, self._reward), terminated

    def close(self) -> None:
        for env in self._sources.values():
            env.close()
        self._sources.clear()


class GymnasiumBulk(BulkEnv):
    """Any task: one gymnasium environment per slot (``gymnasium.make(env_id).unwrapped``), stepped in a loop."""

    def __init__(self, env_id: str, n: int, own_generators: bool = False) -> None:
        super().__init__(env_id, n, own_generators)
        self._envs = [_unwrapped(env_id) for _ in range(n)]
        env = self._envs[0]
        self._lean = hasattr(env, "lean_step") and not (env.continuous or env.enable_wind or env.render_mode)
        self._seeded = np.zeros(n, dtype=bool)

    def _reset(self, slots: np.ndarray, seeds: list[int] | None) -> None:
        if seeds is None and not self._seeded[slots].all():
            raise ValueError("a slot was never reset with a seed: its generator has no start")
        for j, slot in enumerate(slots.tolist()):
            env = self._envs[slot]
            self.obs[slot] = env.reset()[0] if seeds is None else env.reset(seed=seeds[j])[0]
        self._seeded[slots] = True

    def _step(self, index: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reward, terminated = np.zeros(len(index)), np.zeros(len(index), dtype=bool)
        obs, envs = self.obs, self._envs
        if self._lean:  # the same numbers, without a numpy array per step (rl.lunar_lander)
            for j, (slot, action) in enumerate(zip(index.tolist(), actions.tolist())):
                obs[slot], reward[j], terminated[j] = envs[slot].lean_step(action)
            return reward, terminated
        for j, (slot, action) in enumerate(zip(index.tolist(), actions.tolist())):
            obs[slot], reward[j], terminated[j], _, _ = envs[slot].step(action)
        return reward, terminated

    def close(self) -> None:
        for env in self._envs:
            env.close()


def make_bulk(env_id: str, n: int, own_generators: bool = False) -> BulkEnv:
    """``n`` slots of ``env_id``: the numpy port where one exists (``PORTS``), else gymnasium's environments."""
    cls = PortedBulk if env_id in PORTS else GymnasiumBulk
    return cls(env_id, n, own_generators)
