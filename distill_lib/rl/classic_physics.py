"""CartPole-v1's and Acrobot-v1's dynamics on a batch of states: gymnasium 1.4.0's equations, op for op, in numpy.

Each function maps float64 states ``(N, 4)`` and actions ``(N,)`` to the next states and the
``terminated`` flags, as gymnasium's scalar ``step`` does for one state, with the same
floating-point operations in the same order (numpy's float64 ``sin``/``cos`` give the same
bits on an array as on a scalar), so a batch steps bit for bit as N scalar environments
(``tests/rl/test_bulk_envs.py`` checks it on many seeds). Observations are the float32 casts
gymnasium returns. Sources (read for the facts, not copied):

* CartPole (Barto, Sutton & Anderson 1983; ``gymnasium/envs/classic_control/cartpole.py``):
  explicit Euler with ``tau = 0.02``, force ``+-10``, pole half-length 0.5, masses 1.0 (cart)
  and 0.1 (pole); the pole falls past 12 degrees, the cart leaves past ``|x| = 2.4``;
  reward 1 on every step, the failing one included.
* Acrobot (Sutton 1996; Sutton & Barto's book dynamics, gymnasium's default ``book_or_nips``;
  ``gymnasium/envs/classic_control/acrobot.py``): torques ``(-1, 0, 1)``, one classic RK4
  step of ``dt = 0.2`` on ``(theta1, theta2, dtheta1, dtheta2, torque)``, angles wrapped into
  ``[-pi, pi]`` by whole turns, velocities clipped to ``4 pi`` and ``9 pi``; the episode
  ends when the tip rises above the bar, ``-cos(theta1) - cos(theta1 + theta2) > 1``; reward
  -1 per step, 0 on the step that ends it.

The constants are written as gymnasium's expressions (``M1 * LC1**2`` ...): products of the
unit masses and lengths are exact, and the sums keep gymnasium's association. One op needed care:
gymnasium squares Acrobot's numpy scalars with ``**2``, C's ``pow`` (``_pow2``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ACROBOT_DT",
    "CARTPOLE_TAU",
    "acrobot_observe",
    "acrobot_step",
    "cartpole_observe",
    "cartpole_step",
]

# CartPole-v1
GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG = 9.8, 1.0, 0.1, 0.5, 10.0
TOTAL_MASS = MASSPOLE + MASSCART
POLEMASS_LENGTH = MASSPOLE * LENGTH
#: CartPole's Euler time step (seconds)
CARTPOLE_TAU = 0.02
THETA_LIMIT, X_LIMIT = 12 * 2 * math.pi / 360, 2.4

# Acrobot-v1 (book dynamics)
M1 = M2 = L1 = I1 = I2 = 1.0
LC1 = LC2 = 0.5
G = 9.8
MAX_VEL_1, MAX_VEL_2 = 4 * math.pi, 9 * math.pi
TORQUES = np.array([-1.0, 0.0, 1.0])
#: Acrobot's RK4 step (seconds)
ACROBOT_DT = 0.2


def cartpole_step(state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Euler step: state ``(N, 4)`` float64 ``(x, x_dot, theta, theta_dot)``, actions ``(N,)`` in {0, 1}.

    Returns the next state ``(N, 4)`` and ``terminated`` ``(N,)``.
    """
    x, x_dot, theta, theta_dot = state.T  # (N,) each
    force = np.where(actions == 1, FORCE_MAG, -FORCE_MAG)
    costheta, sintheta = np.cos(theta), np.sin(theta)
    temp = (force + POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        LENGTH * (4.0 / 3.0 - MASSPOLE * np.square(costheta) / TOTAL_MASS)
    )
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    out = np.empty_like(state)
    out[:, 0] = x + CARTPOLE_TAU * x_dot
    out[:, 1] = x_dot + CARTPOLE_TAU * xacc
    out[:, 2] = theta + CARTPOLE_TAU * theta_dot
    out[:, 3] = theta_dot + CARTPOLE_TAU * thetaacc
    terminated = (out[:, 0] < -X_LIMIT) | (out[:, 0] > X_LIMIT) | (out[:, 2] < -THETA_LIMIT) | (out[:, 2] > THETA_LIMIT)
    return out, terminated


def cartpole_observe(state: np.ndarray) -> np.ndarray:
    """The observation ``(N, 4)`` float32: the state cast."""
    return state.astype(np.float32)


def _pow2(x: np.ndarray) -> np.ndarray:
    """``x**2`` as gymnasium computes it on a numpy scalar: C's ``pow(x, 2.0)``, not ``x * x``.

    The two differ by one ulp in about 1 in 1,000 values, and numpy's array ``x**2`` is
    ``x * x``; ``float_power`` calls the C ``pow`` on every element, as the scalar does.
    """
    return np.float_power(x, 2.0)


def _acrobot_derivatives(y: np.ndarray) -> np.ndarray:
    """``d/dt (theta1, theta2, dtheta1, dtheta2, torque)`` ``(5, N)`` of y ``(5, N)`` (the book's equations)."""
    theta1, theta2, dtheta1, dtheta2, a = y
    d1 = M1 * LC1**2 + M2 * (L1**2 + LC2**2 + 2 * L1 * LC2 * np.cos(theta2)) + I1 + I2
    d2 = M2 * (LC2**2 + L1 * LC2 * np.cos(theta2)) + I2
    phi2 = M2 * LC2 * G * np.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -M2 * L1 * LC2 * _pow2(dtheta2) * np.sin(theta2)
        - 2 * M2 * L1 * LC2 * dtheta2 * dtheta1 * np.sin(theta2)
        + (M1 * LC1 + M2 * L1) * G * np.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (a + d2 / d1 * phi1 - M2 * L1 * LC2 * _pow2(dtheta1) * np.sin(theta2) - phi2) / (
        M2 * LC2**2 + I2 - _pow2(d2) / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2, np.zeros_like(a)])


def _wrap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Add or subtract whole turns ``high - low`` until ``low <= x <= high`` (gymnasium's ``wrap``)."""
    turn = high - low
    while (above := x > high).any():
        x = np.where(above, x - turn, x)
    while (below := x < low).any():
        x = np.where(below, x + turn, x)
    return x


def acrobot_step(state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One RK4 step: state ``(N, 4)`` float64 ``(theta1, theta2, dtheta1, dtheta2)``, actions ``(N,)`` in {0, 1, 2}.

    Returns the next state ``(N, 4)`` and ``terminated`` ``(N,)``.
    """
    y0 = np.concatenate([state.T, TORQUES[actions][None]])  # (5, N): the state with its torque
    dt = ACROBOT_DT - 0  # gymnasium integrates over the times [0, dt]
    dt2 = dt / 2.0
    k1 = _acrobot_derivatives(y0)
    k2 = _acrobot_derivatives(y0 + dt2 * k1)
    k3 = _acrobot_derivatives(y0 + dt2 * k2)
    k4 = _acrobot_derivatives(y0 + dt * k3)
    y1 = y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)  # (5, N)
    out = np.empty_like(state)
    out[:, 0] = _wrap(y1[0], -math.pi, math.pi)
    out[:, 1] = _wrap(y1[1], -math.pi, math.pi)
    out[:, 2] = np.minimum(np.maximum(y1[2], -MAX_VEL_1), MAX_VEL_1)
    out[:, 3] = np.minimum(np.maximum(y1[3], -MAX_VEL_2), MAX_VEL_2)
    terminated = -np.cos(out[:, 0]) - np.cos(out[:, 1] + out[:, 0]) > 1.0
    return out, terminated


def acrobot_observe(state: np.ndarray) -> np.ndarray:
    """The observation ``(N, 6)`` float32: ``cos, sin`` of both angles (computed in float64), both velocities."""
    theta1, theta2, dtheta1, dtheta2 = state.T
    return np.stack([np.cos(theta1), np.sin(theta1), np.cos(theta2), np.sin(theta2), dtheta1, dtheta2], 1).astype(
        np.float32
    )
