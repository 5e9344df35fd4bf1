"""LunarLander-v3 with gymnasium's own Box2D world and a leaner step: the same physics calls, less Python around them.

Of the ~45 us a step of gymnasium 1.4.0's ``LunarLander`` takes on this project's machine, Box2D's
world step is about 18 us; the rest is Python around it: the action-space check, two generator
draws through a property and a list comprehension, three ``np.sqrt`` on Python floats, a
``numpy`` array per observation. ``LeanLunarLander`` subclasses gymnasium's environment (its
``reset``, world, lander, legs, contact listener and generator are gymnasium's) and replaces
``step`` for the discrete, windless, unrendered task the study uses with one that makes the same
calls on the same Box2D objects with the same float64 arithmetic in the same order:

1. the engines (gymnasium's ``LunarLander.step``; constants of its module): with ``tip =
   (sin angle, cos angle)`` and ``side = (-tip[1], tip[0])``, two draws ``d = U(-1, 1) / SCALE``
   from the environment's generator every step; action 2 fires the main engine, an impulse of
   ``-(ox, oy) * MAIN_ENGINE_POWER`` at ``position + (ox, oy)``, ``ox = tip[0] (MAIN_ENGINE_Y_LOCATION
   / SCALE + 2 d0) + side[0] d1``, ``oy = -tip[1] (...) - side[1] d1``; actions 1 and 3 a side
   engine, direction ``action - 2``, ``ox = tip[0] d0 + side[0] (3 d1 + direction SIDE_ENGINE_AWAY
   / SCALE)`` (``oy`` likewise with ``-tip[1]``, ``-side[1]``), applied at ``position + (ox, oy) +
   (-tip[0] 17 / SCALE, tip[1] SIDE_ENGINE_HEIGHT / SCALE)`` with ``SIDE_ENGINE_POWER``;
2. ``world.Step(1 / FPS, 180, 60)``;
3. the observation (position and velocity normalised by the viewport, angle, angular velocity,
   the legs' contacts), the shaping ``-100 |(x, y)| - 100 |(vx, vy)| - 100 |angle| + 10 legs``,
   the reward (the change in shaping, minus 0.30 per main-engine and 0.03 per side-engine
   step), and termination (-100 on a crash or leaving the screen, +100 once the lander sleeps).

``math.sqrt`` and ``numpy.sqrt`` are both IEEE's correctly rounded square root, a generator's
``uniform(-1, 1, 2)`` is its two scalar draws in order, and a float32 row filled from a list of
Python floats rounds each as ``np.array(state, dtype=np.float32)`` does: the observations,
rewards and terminations are gymnasium's, bit for bit (``tests/rl/test_lunar_lander.py`` steps both
side by side over many seeded episodes). Any other configuration (continuous actions, wind,
rendering) runs gymnasium's own ``step``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium.envs.box2d import lunar_lander as gym_lunar

__all__ = ["LeanLunarLander"]

SCALE = gym_lunar.SCALE
FPS = gym_lunar.FPS
MAIN_POWER, SIDE_POWER = gym_lunar.MAIN_ENGINE_POWER, gym_lunar.SIDE_ENGINE_POWER
MAIN_Y = gym_lunar.MAIN_ENGINE_Y_LOCATION
SIDE_AWAY, SIDE_HEIGHT = gym_lunar.SIDE_ENGINE_AWAY, gym_lunar.SIDE_ENGINE_HEIGHT
HALF_W, HALF_H = gym_lunar.VIEWPORT_W / SCALE / 2, gym_lunar.VIEWPORT_H / SCALE / 2
LEG_DOWN = gym_lunar.LEG_DOWN


class LeanLunarLander(gym_lunar.LunarLander):
    """Gymnasium's ``LunarLander`` (same constructor) whose discrete, windless, unrendered step is ``lean_step``."""

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.continuous or self.enable_wind or self.render_mode is not None:
            return super().step(action)
        if not self.action_space.contains(action):
            raise ValueError(f"{action!r} ({type(action)}) is not an action of LunarLander-v3 (0, 1, 2 or 3)")
        state, reward, terminated = self.lean_step(int(action))
        return np.array(state, dtype=np.float32), reward, terminated, False, {}

    def lean_step(self, action: int) -> tuple[list[float], float, bool]:
        """One step of the discrete task (``action`` in 0..3, not checked): the observation as 8 Python floats (the
        float64 values gymnasium rounds to float32), the reward and ``terminated`` (module docstring)."""
        lander = self.lander
        angle = lander.angle
        tip0, tip1 = math.sin(angle), math.cos(angle)
        side0, side1 = -tip1, tip0
        draws = self.np_random.uniform(-1.0, 1.0, 2)
        d0, d1 = float(draws[0]) / SCALE, float(draws[1]) / SCALE
        m_power = s_power = 0.0
        if action == 2:
            m_power = 1.0
            ox = tip0 * (MAIN_Y / SCALE + 2 * d0) + side0 * d1
            oy = -tip1 * (MAIN_Y / SCALE + 2 * d0) - side1 * d1
            position = lander.position
            at = (position[0] + ox, position[1] + oy)
            lander.ApplyLinearImpulse((-ox * MAIN_POWER * m_power, -oy * MAIN_POWER * m_power), at, True)
        elif action == 1 or action == 3:
            direction = action - 2
            s_power = 1.0
            ox = tip0 * d0 + side0 * (3 * d1 + direction * SIDE_AWAY / SCALE)
            oy = -tip1 * d0 - side1 * (3 * d1 + direction * SIDE_AWAY / SCALE)
            position = lander.position
            at = (position[0] + ox - tip0 * 17 / SCALE, position[1] + oy + tip1 * SIDE_HEIGHT / SCALE)
            lander.ApplyLinearImpulse((-ox * SIDE_POWER * s_power, -oy * SIDE_POWER * s_power), at, True)
        self.world.Step(1.0 / FPS, 6 * 30, 2 * 30)

        position, velocity = lander.position, lander.linearVelocity
        legs = self.legs
        state = [
            (position.x - HALF_W) / HALF_W,
            (position.y - (self.helipad_y + LEG_DOWN / SCALE)) / HALF_H,
            velocity.x * HALF_W / FPS,
            velocity.y * HALF_H / FPS,
            lander.angle,
            20.0 * lander.angularVelocity / FPS,
            1.0 if legs[0].ground_contact else 0.0,
            1.0 if legs[1].ground_contact else 0.0,
        ]
        s0, s1, s2, s3, s4 = state[:5]
        shaping = (
            -100 * math.sqrt(s0 * s0 + s1 * s1)
            - 100 * math.sqrt(s2 * s2 + s3 * s3)
            - 100 * abs(s4)
            + 10 * state[6]
            + 10 * state[7]
        )
        reward = 0.0 if self.prev_shaping is None else shaping - self.prev_shaping
        self.prev_shaping = shaping
        reward -= m_power * 0.30
        reward -= s_power * 0.03
        terminated = False
        if self.game_over or abs(s0) >= 1.0:
            terminated, reward = True, -100.0
        if not lander.awake:
            terminated, reward = True, 100.0
        return state, reward, terminated
