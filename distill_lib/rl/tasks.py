"""The tasks a real teacher can come from: gymnasium environments with a 1-D state and discrete actions.

A *task* is what the real-task experiments need to know about an environment: its
dimensions (read from the environment itself), the bar its teacher must reach, where
"0%" of its return scale lies, and which folder of ``assets/`` holds its shipped teacher.
Three are known and ship a DQN teacher of the study's architecture
``QNetwork(obs_dim, 64, n_actions, dropout=0.1)``:

===============  =====  =======  =========  =========================================
env id           state  actions  bar        0% of the return scale (``score_floor``)
===============  =====  =======  =========  =========================================
CartPole-v1      4      2        475        0 (an episode's return is its length)
Acrobot-v1       6      3        -100       -500 (never reaching the goal in 500 steps)
LunarLander-v3   8      4        200        the uniform-random policy's mean return
===============  =====  =======  =========  =========================================

The bars are gymnasium's ``reward_threshold`` of each environment (the mean return over
100 episodes that counts as solving it). Any other gymnasium id with a ``Box`` observation
of one dimension and a ``Discrete`` action space is accepted too (``task``): its bar is its
``reward_threshold`` (none if it has none), its floor the random policy's, and it has no
shipped teacher (bring one with ``teacher_checkpoint``). Anything else fails with one line.
A teacher of your own comes in any form ``rl.policies`` reads (a Stable-Baselines3 DQN ``.zip``,
a CleanRL or other MLP state dict, a TorchScript file), its architecture read from the file.

Return as a percentage of the teacher's. Rusu et al. (2016) report a student's score as a
percentage of its teacher's; on tasks whose returns are negative the plain ratio is
meaningless, so the study measures from the task's floor,
``100 * (G - floor) / (G_teacher - floor)``. With CartPole's floor 0 it is the plain ratio.
A random floor is measured on the same test episodes as the teacher (``rl.exploration.score_floor``).

Seeds are the same numbers on every task (they seed different environments): test episodes
``TEST_SEED + i``, DQN selection episodes from 20_000, state buffers from ``COLLECT_SEED``.

A known task's teachers are four: the shipped ``teacher.pt`` (DQN seed 0) and its independent
peers ``independent/seed<s>.pt`` (the same recipe with seeds 1-3, each reaching the bar), each
with its record (``.json``) beside it; ``task_teachers`` lists them, the shipped one first.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from torch import nn

from ..core.config import TeacherFileParams, TeacherWidthParams
from ..core.networks import QNetwork
from ..core.schema import ParamError, param
from ..records.provenance import file_sha256
from .policies import describe, load_policy

__all__ = [
    "ASSETS",
    "DEFAULT_ENV_ID",
    "INDEPENDENT",
    "KNOWN_TASKS",
    "Task",
    "TaskError",
    "TaskParams",
    "load_teacher",
    "pct_of_teacher",
    "task",
    "task_teachers",
    "teacher_network",
]

#: the task of the study's defaults
DEFAULT_ENV_ID = "CartPole-v1"
#: the teacher architecture's hidden width and dropout (the shipped teachers'; a checkpoint of your own may differ)
TEACHER_HIDDEN, TEACHER_DROPOUT = 64, 0.1
#: the folder of the shipped teachers, one sub-folder per known task
ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: the sub-folder of a task's assets with the shipped teacher's independent peers: ``seed<s>.pt`` and ``seed<s>.json``
INDEPENDENT = "independent"


class TaskError(ValueError):
    """An environment the real-task experiments cannot use, with the one-line reason."""


@dataclass(frozen=True)
class Task:
    """One environment as the real-task experiments see it."""

    env_id: str
    obs_dim: int
    n_actions: int
    max_steps: int | None  # the time limit of an episode (None: none)
    bar: float | None  # the mean test return a teacher must reach (gymnasium's reward_threshold)
    score_floor: float | None  # 0% of the return scale; None: the random policy's mean return
    asset: str | None = None  # sub-folder of ``ASSETS`` with the shipped teacher (None: none ships)
    vector_entry_point: bool = False  # gymnasium has a numpy-vectorised version (CartPole)
    max_return: float | None = None  # the largest return an episode can earn, where there is one

    @property
    def asset_dir(self) -> Path | None:
        """The folder of the shipped teacher (``teacher.pt``, ``teacher.json``), or None."""
        return None if self.asset is None else ASSETS / self.asset

    @property
    def teacher_file(self) -> Path | None:
        return None if self.asset_dir is None else self.asset_dir / "teacher.pt"

    @property
    def vectorization_mode(self) -> str:
        """How ``gymnasium.make_vec`` builds many copies: the numpy version where one exists."""
        return "vector_entry_point" if self.vector_entry_point else "sync"

    def make_vec(self, num_envs: int) -> gym.vector.VectorEnv:
        """``num_envs`` copies stepped together (next-step autoreset)."""
        return gym.make_vec(self.env_id, num_envs=num_envs, vectorization_mode=self.vectorization_mode)

    @property
    def label(self) -> str:
        """The task's name for prose: its id without the version (``CartPole``)."""
        return self.env_id.rsplit("/", 1)[-1].rsplit("-v", 1)[0]


#: The tasks with a shipped teacher (``rl.dqn``'s recipes in ``rl.dqn_config.TASK_RECIPES``).
KNOWN_TASKS = {
    "CartPole-v1": Task("CartPole-v1", 4, 2, 500, 475.0, 0.0, "cartpole", vector_entry_point=True, max_return=500.0),
    "Acrobot-v1": Task("Acrobot-v1", 6, 3, 500, -100.0, -500.0, "acrobot"),
    "LunarLander-v3": Task("LunarLander-v3", 8, 4, 1000, 200.0, None, "lunarlander"),
}


@functools.cache
def task(env_id: str) -> Task:
    """The task of ``env_id``; raises ``TaskError`` (one line) for an environment the study cannot use.

    A known task is returned as is; any other id is made once to read its spaces.
    """
    if not isinstance(env_id, str) or not env_id:
        raise TaskError(f"env_id={env_id!r}: must be a gymnasium environment id such as {DEFAULT_ENV_ID!r}")
    if env_id in KNOWN_TASKS:
        return KNOWN_TASKS[env_id]
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:  # unknown id or namespace (an extra's package not imported)
        raise TaskError(f"env_id={env_id!r}: gymnasium does not know it ({_first_line(e)})") from None
    try:
        env = gym.make(env_id)
    except gym.error.DependencyNotInstalled as e:
        raise TaskError(f"env_id={env_id!r} needs a package that is not installed: {_first_line(e)}") from None
    except Exception as e:  # an environment that cannot be built here
        raise TaskError(
            f"env_id={env_id!r}: gymnasium could not make it ({type(e).__name__}: {_first_line(e)})"
        ) from None
    try:
        obs, act = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise TaskError(
            f"env_id={env_id!r} observes {obs}: the study's Q-networks need a 1-D Box observation (a state vector)"
        )
    if not isinstance(act, gym.spaces.Discrete) or act.start != 0:
        raise TaskError(f"env_id={env_id!r} acts in {act}: a Q-network needs a Discrete action space from 0")
    return Task(env_id, int(obs.shape[0]), int(act.n), spec.max_episode_steps, spec.reward_threshold, None)


def task_teachers(env_id: str) -> list[Path]:
    """The checkpoints of the task's shipped teachers: ``teacher.pt``, then ``independent/seed<s>.pt`` by seed.

    Raises ``TaskError`` for a task that ships no teacher (bring yours with ``teacher_checkpoint``).
    """
    t = task(env_id)
    if t.asset_dir is None or t.teacher_file is None:
        raise TaskError(f"env_id={env_id!r} has no shipped teachers: give your own with teacher_checkpoint")
    peers = sorted((t.asset_dir / INDEPENDENT).glob("seed*.pt"), key=lambda f: int(f.stem.removeprefix("seed")))
    return [t.teacher_file, *peers]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def pct_of_teacher(value: float, teacher_mean: float, floor: float) -> float:
    """A return as a % of the teacher's mean, measured from the task's floor: ``100 (G - f) / (G_T - f)``.

    A teacher no better than the floor (an untrained one, or one of another task) has no scale to measure by.
    """
    if not teacher_mean > floor:
        raise ValueError(
            f"the teacher returns {teacher_mean:.1f} on the test episodes, no more than the task's floor {floor:.1f} "
            "(0% of the scale): a student's return cannot be a % of it; is the teacher trained for this env_id?"
        )
    return 100.0 * (value - floor) / (teacher_mean - floor)


def teacher_network(env_id: str, hidden: int = TEACHER_HIDDEN) -> QNetwork:
    """An untrained teacher of the study's architecture for ``env_id``: ``QNetwork(obs_dim, hidden, n_actions, 0.1)``."""
    t = task(env_id)
    return QNetwork(t.obs_dim, hidden, t.n_actions, dropout=TEACHER_DROPOUT)


def load_teacher(env_id: str, path: str | Path | None = None) -> nn.Module:
    """The teacher of ``env_id``, frozen, with its ``description``: the shipped one, or your policy at ``path``.

    ``path`` holds a policy in any form ``rl.policies.load_policy`` reads (a Stable-Baselines3 DQN
    ``.zip``, a CleanRL or other MLP state dict, this project's ``QNetwork`` state dict, a
    TorchScript file); its architecture is read from the file, its state and action counts must be
    the environment's. A shipped teacher, and your ``QNetwork`` state dict, load as a ``QNetwork``.
    A file that does not fit fails with one line saying what was found and what is accepted.
    """
    t = task(env_id)
    if path is None:
        if t.teacher_file is None:
            raise TaskError(f"env_id={env_id!r} has no shipped teacher: give your own with teacher_checkpoint")
        path = t.teacher_file
    return load_policy(path, t.obs_dim, t.n_actions, env_id)


@dataclass(frozen=True)
class TaskParams(TeacherFileParams, TeacherWidthParams):
    """The real task and its teacher: the shipped one, or your ``teacher_checkpoint``."""

    env_id: str = param(
        DEFAULT_ENV_ID,
        "gymnasium id of the real task: CartPole-v1, Acrobot-v1, LunarLander-v3 (shipped teachers) or any other "
        "with 1-D Box states and Discrete actions (bring its teacher_checkpoint)",
    )

    def check(self) -> None:
        super().check()
        try:
            t = task(self.env_id)
        except TaskError as e:
            raise ParamError(str(e)) from None
        if self.teacher_checkpoint is None and t.teacher_file is None:
            raise self.fail(
                "teacher_checkpoint",
                f"env_id={self.env_id!r} has no shipped teacher: give yours ({t.obs_dim} state variables, "
                f"{t.n_actions} actions), a Stable-Baselines3 DQN .zip, a CleanRL or other MLP state dict, "
                "or a TorchScript file",
            )

    def check_files(self) -> None:
        """Your checkpoint must fit the task before the study starts, not when its first step runs."""
        super().check_files()
        if self.teacher_checkpoint is not None and self.checkpoint_is_task_teacher():
            try:
                self.load_teacher()
            except (ValueError, OSError) as e:
                raise ParamError(f"teacher_checkpoint: {e}") from None

    def checkpoint_is_task_teacher(self) -> bool:
        """Whether ``teacher_checkpoint`` is this task's teacher (a study config may give it another meaning)."""
        return True

    @property
    def task(self) -> Task:
        return task(self.env_id)

    @property
    def teacher_path(self) -> Path:
        """Your checkpoint, or the task's shipped teacher: an input file of the steps that read it."""
        return Path(self.teacher_checkpoint) if self.teacher_checkpoint else self.task.teacher_file  # type: ignore[return-value]

    @property
    def teacher_width(self) -> int:
        """The teacher width the students' configs carry (``RunConfig.teacher_hidden``), known before any file
        is read: 64 for a shipped teacher, ``teacher_hidden`` for yours. The students' widths are given
        explicitly, so it decides nothing; what your teacher is, is read from its file (``teacher_fields``)."""
        return self.teacher_hidden if self.teacher_checkpoint else TEACHER_HIDDEN

    def load_teacher(self) -> nn.Module:
        """The teacher, frozen, with its ``description`` (``rl.policies``)."""
        return load_teacher(self.env_id, self.teacher_path)

    def teacher_fields(self, teacher: nn.Module) -> dict[str, Any]:
        """What a record says about its teacher: task, file (content hash), shipped or yours, what it is.

        ``hidden`` is its hidden width (``64``; ``"120-84"`` where the layers differ), ``format`` and
        ``layers`` (``"4-64-64-2"``) are ``rl.policies.describe``'s.
        """
        desc = describe(teacher)
        return {
            "env_id": self.env_id,
            "file": self.teacher_path.name,
            "shipped": self.teacher_checkpoint is None,
            "sha256": file_sha256(self.teacher_path),
            "hidden": desc.width,
            "format": desc.format,
            "layers": desc.layers,
        }
