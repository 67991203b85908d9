"""The linearized normal dynamics of CLAIMS.md C6, evaluated at finite times: the levels the
samplers are judged against.

Along one normal coordinate y of M the approximate score is s_n = -beta y/sigma^2 + c t^(-a)
(:class:`theory.symbolic.ErrorFamily`). Started at forward time T from a Gaussian with mean 0 and
variance v0, y stays Gaussian; its mean m and variance v are predicted here by two routes that
share no code with the NumPy processes or the simulator:

- :func:`moment_levels`: the full (non-asymptotic) moment ODEs of
  :func:`theory.symbolic.moment_odes`, built from ``process.symbolic()`` and integrated with
  ``scipy.integrate.solve_ivp``: the continuous-time prediction.
- :func:`scheme_moments`: the same moments pushed through one scheme's affine update
  Y <- c_y Y + c_s s + c_z Z on the geometric grid the simulator uses for each delta, with the
  coefficients of :meth:`theory.schemes.Scheme.coefficients` evaluated on :class:`SymbolicProcess`
  (the process's kernel rebuilt from its symbolic expressions): the discrete-time twin. Its ratio
  to :func:`moment_levels` is the scheme's discretization bias.

For a Gaussian on a linear subspace the normal coordinates follow these dynamics exactly (the
normal part of the exact score is -y/sigma^2), so the twin is the exact law of the simulator's
normal coordinates; on a curved M it is the leading order in sigma/radius.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from scipy import integrate, optimize

from theory import _validate
from theory.processes import ForwardProcess, ProcessExpressions, check_process
from theory.schemes import Ancestral, Scheme, resolve
from theory.simulator import steps_for, time_grid
from theory.symbolic import ErrorFamily, moment_odes, numpy_twin

__all__ = ["SymbolicProcess", "NormalMoments", "moment_levels", "scheme_moments"]

# Relative tolerance of the moment-ODE integration (LSODA): far below any statistical resolution
# (the levels are compared with Monte-Carlo estimates at about 1e-3 relative), well above rounding.
ODE_RTOL = 1e-10
# Absolute tolerance on the scaled unknowns m / sqrt(t) and v / t, which are O(1) to O(1e6) on the
# ranges used: 1e-12 is below ODE_RTOL times their smallest size.
ODE_ATOL = 1e-12


@dataclass(frozen=True)
class SymbolicProcess(ForwardProcess):
    """``process`` with its kernel rebuilt from ``process.symbolic()``: an independent twin.

    sigma^2, log alpha, f and g^2 are the :func:`theory.symbolic.numpy_twin` of the symbolic
    expressions (``expm1`` where 1 - exp cancels); the transition is (a, v) with
    a = exp(log alpha(t1) - log alpha(t0)), v = sigma(t1)^2 - a^2 sigma(t0)^2 (relative error about
    eps sigma(t1)^2 / v: 20 eps on a grid of 40 steps per decade); the drift integral
    int_{t0}^{t1} alpha(t0)/alpha(s) g(s)^2 ds by ``scipy.integrate.quad``; the inverse of sigma^2
    by ``scipy.optimize.brentq`` in log t. Nothing calls the NumPy kernels of ``process`` (its
    ``t_max`` only bounds the accepted times), so a prediction computed on this twin does not
    share a bug of those kernels.
    """

    process: ForwardProcess

    def __post_init__(self) -> None:
        check_process(self.process)
        if isinstance(self.process, SymbolicProcess):
            raise TypeError("process must be a NumPy process (OU, VP, VE), got a SymbolicProcess")

    @functools.cached_property
    def _twins(self) -> dict:
        ex = self.process.symbolic()
        log_alpha = sympy.expand_log(sympy.log(ex.alpha), force=True)
        return {"sigma2": numpy_twin(ex.sigma2, ex.t), "log_alpha": numpy_twin(log_alpha, ex.t),
                "f": numpy_twin(ex.f, ex.t), "g2": numpy_twin(ex.g2, ex.t)}

    @property
    def t_max(self) -> float:
        return self.process.t_max

    def symbolic(self) -> ProcessExpressions:
        return self.process.symbolic()

    def _log_alpha(self, t):
        return self._twins["log_alpha"](t)

    def _sigma2(self, t):
        return self._twins["sigma2"](t)

    def _drift(self, t):
        return self._twins["f"](t)

    def _g2(self, t):
        return self._twins["g2"](t)

    def _transition(self, t0, t1):
        a = np.exp(self._log_alpha(t1) - self._log_alpha(t0))
        return a, self._sigma2(t1) - a**2 * self._sigma2(t0)

    def _drift_integral(self, t0, t1):
        t0, t1 = np.broadcast_arrays(np.asarray(t0, dtype=np.float64), np.asarray(t1, dtype=np.float64))
        out = np.empty(t0.shape)
        for i in np.ndindex(t0.shape):
            s0 = float(t0[i])
            out[i] = integrate.quad(lambda s: math.exp(float(self._log_alpha(s0) - self._log_alpha(s)))
                                    * float(self._g2(s)), s0, float(t1[i]), epsabs=0.0, epsrel=1e-12)[0]
        return out

    def _time_at_sigma2(self, s2):
        s2 = np.asarray(s2, dtype=np.float64)
        out = np.empty(s2.shape)
        hi = math.log(min(self.t_max, 1e6))
        for i in np.ndindex(s2.shape):
            target = math.log(float(s2[i]))
            out[i] = math.exp(optimize.brentq(lambda u: math.log(float(self._sigma2(math.exp(u)))) - target,
                                              math.log(1e-300), hi, xtol=1e-14, rtol=4 * np.finfo(float).eps))
        return out

    def __repr__(self) -> str:
        return f"SymbolicProcess({self.process!r})"


@dataclass(frozen=True)
class NormalMoments:
    """Mean ``m`` and variance ``v`` (each shape (j,)) of one normal coordinate at ``deltas`` (j,).

    :meth:`rms` turns them into the RMS distance to M when ``codim`` normal coordinates share the
    variance v and one of them carries the mean m.
    """

    deltas: np.ndarray
    m: np.ndarray
    v: np.ndarray

    def rms(self, codim: int, shift: np.ndarray | float = 0.0) -> np.ndarray:
        """sqrt(m^2 + codim v + shift^2), shape (j,): the RMS distance to M.

        shift : the distance from M of the centre of the normal coordinates (scalar or (j,)), e.g.
        (1 - alpha(delta)) r for a sphere of radius r about the origin, whose kernel mean alpha M
        is a sphere of radius alpha r (0 for a subspace through the origin).
        """
        codim = _validate.integer(codim, "codim", minimum=1)
        return np.sqrt(self.m**2 + codim * self.v + np.asarray(shift, dtype=np.float64) ** 2)


def _family_parameters(family: ErrorFamily, param: float, c: float) -> tuple[float, float, float]:
    """(beta, a, c) of the two-parameter model for one family (c is 0 for SCALED_NORMAL)."""
    if not isinstance(family, ErrorFamily):
        raise TypeError(f"family must be an ErrorFamily, got {type(family).__name__}")
    for name, value in (("param", param), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if family is ErrorFamily.NORMAL_OFFSET:
        return 1.0, float(param), float(c)
    if c != 0.0:
        raise ValueError(f"c must be 0 for the scaled normal family, got {c!r}")
    return float(param), 0.0, 0.0


def _checked_deltas(deltas: Sequence[float], T: float) -> np.ndarray:
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 1 or deltas.size < 1 or not np.all(np.isfinite(deltas)) or np.any(deltas <= 0):
        raise ValueError(f"deltas must be a non-empty 1-d array of positive numbers, got {deltas!r}")
    if np.any(deltas >= T):
        raise ValueError(f"every delta must be < T = {T!r}, got max {float(deltas.max())!r}")
    return deltas


def moment_levels(family: ErrorFamily, process: ForwardProcess, param: float, *, c: float = 0.0, T: float,
                  v0: float, deltas: Sequence[float]) -> NormalMoments:
    """m and v at ``deltas`` (any order, each < T) from (m, v) = (0, v0) at T, by the full moment ODEs.

    The ODEs of :func:`theory.symbolic.moment_odes` (CLAIMS.md C6), in forward time,

        dm/dt = f m + beta g^2 m / sigma^2 - g^2 c t^(-a),   dv/dt = 2 f v + 2 beta g^2 v / sigma^2 - g^2,

    integrated from T down to min(deltas) with LSODA in u = log t for the scaled unknowns
    m / sqrt(t) and v / t (both stay O(1) where the distance scales like sqrt(t), so a relative
    tolerance ``ODE_RTOL`` holds down to t = 1e-15). param : a (NORMAL_OFFSET, with amplitude c) or
    beta (SCALED_NORMAL, c = 0). Returns :class:`NormalMoments` in the order of ``deltas``.
    """
    beta, a, c = _family_parameters(family, param, c)
    process = check_process(process)
    T = _validate.positive_time(T, "T")
    v0 = _validate.positive_real(v0, "v0")
    deltas = _checked_deltas(deltas, T)
    odes = moment_odes(family, process.process if isinstance(process, SymbolicProcess) else process)

    def rhs(u: float, y: np.ndarray) -> list[float]:
        t = math.exp(u)
        root = math.sqrt(t)
        m, v = y[0] * root, y[1] * t
        dm = float(odes.dm_dt_numpy(t, m, param, c))
        dv = float(odes.dv_dt_numpy(t, v, param))
        return [t * dm / root - 0.5 * y[0], dv - y[1]]

    order = np.argsort(-deltas)
    us = np.log(deltas[order])
    sol = integrate.solve_ivp(rhs, (math.log(T), float(us[-1])), [0.0, v0 / T], t_eval=us, method="LSODA",
                              rtol=ODE_RTOL, atol=ODE_ATOL)
    if not sol.success:
        raise ArithmeticError(f"moment ODE integration failed: {sol.message}")
    m, v = np.empty(deltas.size), np.empty(deltas.size)
    m[order] = sol.y[0] * np.sqrt(deltas[order])
    v[order] = sol.y[1] * deltas[order]
    return NormalMoments(deltas=deltas, m=m, v=v)


def scheme_moments(family: ErrorFamily, process: ForwardProcess, param: float, *, c: float = 0.0, T: float,
                   v0: float, deltas: Sequence[float], steps_per_decade: int,
                   scheme: Scheme | str = "posterior") -> NormalMoments:
    """m and v at ``deltas`` after the scheme's steps on the simulator's grid, from (0, v0) at T.

    For each delta the grid is the one :func:`theory.estimators.landing_study` integrates on:
    ``time_grid(T, delta, steps_for(T, delta, steps_per_decade))``, geometric. With the scheme's
    coefficients (c_y, c_s, c_z) evaluated on :class:`SymbolicProcess` (process) and the drift input
    s = -beta y / sigma(t1)^2 + c t1^(-a) at the step's start t1, the update
    y <- c_y y + c_s s + c_z Z gives

        m <- (c_y - beta c_s / sigma(t1)^2) m + c_s c t1^(-a),   v <- (c_y - beta c_s / sigma(t1)^2)^2 v + c_z^2.

    Only schemes whose drift input is the score: not :class:`theory.schemes.Ancestral`.
    """
    beta, a, c = _family_parameters(family, param, c)
    process = check_process(process)
    twin = process if isinstance(process, SymbolicProcess) else SymbolicProcess(process)
    T = _validate.positive_time(T, "T")
    v0 = _validate.positive_real(v0, "v0")
    deltas = _checked_deltas(deltas, T)
    scheme = resolve(scheme)
    if isinstance(scheme, Ancestral):
        raise ValueError("scheme must take the score as its drift input, got Ancestral (it draws X_0 instead)")
    m_out, v_out = np.empty(deltas.size), np.empty(deltas.size)
    for j, delta in enumerate(deltas):
        times = time_grid(T, float(delta), steps_for(T, float(delta), steps_per_decade))
        c_y, c_s, c_z = scheme.coefficients(times, twin)
        t1 = times[:-1]
        factor = c_y - beta * c_s / twin.sigma2(t1)
        forcing = c_s * c * t1 ** (-a)
        m, v = 0.0, float(v0)
        for i in range(t1.size):
            m = factor[i] * m + forcing[i]
            v = factor[i] ** 2 * v + c_z[i] ** 2
        m_out[j], v_out[j] = m, v
    return NormalMoments(deltas=deltas, m=m_out, v=v_out)
