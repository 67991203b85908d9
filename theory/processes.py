"""Linear forward processes dX = f(t) X dt + g(t) dW on R^d (SPEC section 1).

Each process has the Gaussian kernel X_t | X_0 = x0 ~ N(alpha(t) x0, sigma(t)^2 I) with

    alpha(t) = exp(int_0^t f),    sigma(t)^2 = alpha(t)^2 int_0^t g(s)^2 / alpha(s)^2 ds,

so sigma(0) = 0 and the marginal at t = 0 is the data measure itself. Everything is vectorized
over ``t`` (any shape) and written with ``expm1``/``exp`` of differences so that sigma(t)^2 keeps
full relative precision down to t = 1e-12, where it is about g(0)^2 t.

Processes are frozen dataclasses: hashable, comparable, validated on construction. The symbolic
twins (:meth:`ForwardProcess.symbolic`) are the single source the SymPy predicates start from;
``tests/test_processes.py`` checks the NumPy formulas against them.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory import _validate


@dataclass(frozen=True)
class ProcessExpressions:
    """SymPy expressions of one process in the time symbol ``t``.

    Attributes: ``f`` (drift coefficient), ``g2`` (g(t)^2), ``alpha``, ``sigma2`` (sigma(t)^2).
    """

    t: Any
    f: Any
    g2: Any
    alpha: Any
    sigma2: Any


class ForwardProcess(abc.ABC):
    """A linear forward SDE dX = f(t) X dt + g(t) dW with its Gaussian transition kernel."""

    # -- the defining functions, implemented by each process on validated float64 arrays -------
    @abc.abstractmethod
    def _log_alpha(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _sigma2(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _drift(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _g2(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _transition(self, t0: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abc.abstractmethod
    def _drift_integral(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def symbolic(self) -> ProcessExpressions:
        """SymPy expressions for f, g^2, alpha and sigma^2 in a positive symbol ``t``."""

    # -- public, validated (t finite and >= 0, any shape) -----------------------------------------
    def log_alpha(self, t: np.ndarray | float) -> np.ndarray:
        """log alpha(t) = int_0^t f(s) ds, elementwise."""
        return self._log_alpha(_validate.time_array(t))

    def sigma2(self, t: np.ndarray | float) -> np.ndarray:
        """sigma(t)^2, the kernel variance per coordinate, elementwise (full relative precision)."""
        return self._sigma2(_validate.time_array(t))

    def drift(self, t: np.ndarray | float) -> np.ndarray:
        """The drift coefficient f(t) of dX = f(t) X dt + g(t) dW, elementwise."""
        return self._drift(_validate.time_array(t))

    def g2(self, t: np.ndarray | float) -> np.ndarray:
        """g(t)^2, the squared diffusion coefficient, elementwise."""
        return self._g2(_validate.time_array(t))

    def _pair(self, t0, t1) -> tuple[np.ndarray, np.ndarray]:
        t0, t1 = _validate.time_array(t0, "t0"), _validate.time_array(t1, "t1")
        if np.any(t1 < t0):
            raise ValueError(f"t1 must be >= t0 (the kernel runs forward in time), got t0={t0!r}, t1={t1!r}")
        return t0, t1

    def transition(self, t0: np.ndarray | float, t1: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Kernel of X_{t1} | X_{t0} for t1 >= t0: returns (a, v) with X_{t1} ~ N(a X_{t0}, v I).

        a = alpha(t1) / alpha(t0) and v = sigma(t1)^2 - a^2 sigma(t0)^2, computed without the
        cancellation of that difference.
        """
        return self._transition(*self._pair(t0, t1))

    def drift_integral(self, t0: np.ndarray | float, t1: np.ndarray | float) -> np.ndarray:
        """int_{t0}^{t1} alpha(t0) / alpha(s) g(s)^2 ds, for t1 >= t0, in closed form.

        The weight a frozen score gets in one exponential-integrator step of the reverse SDE
        from forward time t1 down to t0 (see :mod:`theory.simulator`).
        """
        return self._drift_integral(*self._pair(t0, t1))

    # -- derived quantities ----------------------------------------------------------------
    def alpha(self, t: np.ndarray | float) -> np.ndarray:
        """alpha(t) = exp(int_0^t f(s) ds): the mean factor of the kernel."""
        return np.exp(self.log_alpha(t))

    def sigma(self, t: np.ndarray | float) -> np.ndarray:
        """sigma(t) = sqrt(sigma(t)^2): the kernel standard deviation."""
        return np.sqrt(self.sigma2(t))

    def diffusion(self, t: np.ndarray | float) -> np.ndarray:
        """g(t), the diffusion coefficient of dX = f X dt + g dW."""
        return np.sqrt(self.g2(t))

    def sample(self, x0: np.ndarray, t: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
        """Draw X_t = alpha(t) x0 + sigma(t) Z, Z ~ N(0, I).

        x0 : ndarray, shape (n, d); t : float or ndarray of shape (n,); returns shape (n, d).
        """
        rng = _validate.generator(rng)
        x0 = np.asarray(x0)
        if x0.ndim != 2:
            raise ValueError(f"x0 must have shape (n, d), got {x0.shape}")
        x0 = _validate.points(x0, x0.shape[1], name="x0")
        t_arr = _validate.time_array(t)
        if t_arr.ndim not in (0, 1) or (t_arr.ndim == 1 and t_arr.shape[0] != x0.shape[0]):
            raise ValueError(f"t must be a float or have shape ({x0.shape[0]},), got {t_arr.shape}")
        a = self.alpha(t_arr)
        s = self.sigma(t_arr)
        if t_arr.ndim == 1:
            a, s = a[:, None], s[:, None]
        return a * x0 + s * rng.standard_normal(x0.shape)


@dataclass(frozen=True)
class OU(ForwardProcess):
    """Ornstein-Uhlenbeck process dX = -X dt + sqrt(2) dW (the paper's normalization).

    alpha(t) = e^{-t}, sigma(t)^2 = 1 - e^{-2t}, stationary law N(0, I).
    """

    def _log_alpha(self, t):
        return -np.asarray(t, dtype=np.float64)

    def _sigma2(self, t):
        return -np.expm1(-2.0 * np.asarray(t, dtype=np.float64))

    def _drift(self, t):
        return np.full(np.shape(t), -1.0)

    def _g2(self, t):
        return np.full(np.shape(t), 2.0)

    def _transition(self, t0, t1):
        h = np.asarray(t1, dtype=np.float64) - np.asarray(t0, dtype=np.float64)
        return np.exp(-h), -np.expm1(-2.0 * h)

    def _drift_integral(self, t0, t1):
        h = np.asarray(t1, dtype=np.float64) - np.asarray(t0, dtype=np.float64)
        return 2.0 * np.expm1(h)

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        return ProcessExpressions(t=t, f=sympy.Integer(-1), g2=sympy.Integer(2), alpha=sympy.exp(-t),
                                  sigma2=1 - sympy.exp(-2 * t))


@dataclass(frozen=True)
class VP(ForwardProcess):
    """Variance-preserving process with linear beta(t) = beta_min + t (beta_max - beta_min).

    dX = -beta(t)/2 X dt + sqrt(beta(t)) dW; with B(t) = int_0^t beta = beta_min t + (beta_max -
    beta_min) t^2 / 2: alpha = exp(-B/2), sigma^2 = 1 - exp(-B). Defaults are those of Song et al.
    (2021) for T = 1.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        bmin = _validate.positive_real(self.beta_min, "beta_min")
        bmax = _validate.positive_real(self.beta_max, "beta_max")
        if bmax < bmin:
            raise ValueError(f"beta_max must be >= beta_min, got beta_min={bmin}, beta_max={bmax}")
        object.__setattr__(self, "beta_min", bmin)
        object.__setattr__(self, "beta_max", bmax)

    def _big_b(self, t):
        t = np.asarray(t, dtype=np.float64)
        return t * (self.beta_min + 0.5 * (self.beta_max - self.beta_min) * t)

    def _log_alpha(self, t):
        return -0.5 * self._big_b(t)

    def _sigma2(self, t):
        return -np.expm1(-self._big_b(t))

    def _drift(self, t):
        return -0.5 * self._g2(t)

    def _g2(self, t):
        return self.beta_min + np.asarray(t, dtype=np.float64) * (self.beta_max - self.beta_min)

    def _big_b_increment(self, t0, t1):
        t0 = np.asarray(t0, dtype=np.float64)
        t1 = np.asarray(t1, dtype=np.float64)
        # B(t1) - B(t0) = (t1 - t0) (beta_min + (beta_max - beta_min) (t0 + t1) / 2), no cancellation.
        return (t1 - t0) * (self.beta_min + 0.5 * (self.beta_max - self.beta_min) * (t0 + t1))

    def _transition(self, t0, t1):
        db = self._big_b_increment(t0, t1)
        return np.exp(-0.5 * db), -np.expm1(-db)

    def _drift_integral(self, t0, t1):
        # g^2 = -2 f, so the integrand is -2 f alpha(t0)/alpha(s) = 2 d/ds[alpha(t0)/alpha(s)].
        return 2.0 * np.expm1(0.5 * self._big_b_increment(t0, t1))

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        bmin, bmax = sympy.Rational(repr(self.beta_min)), sympy.Rational(repr(self.beta_max))
        beta = bmin + t * (bmax - bmin)
        big_b = bmin * t + (bmax - bmin) * t**2 / 2
        return ProcessExpressions(t=t, f=-beta / 2, g2=beta, alpha=sympy.exp(-big_b / 2),
                                  sigma2=1 - sympy.exp(-big_b))


@dataclass(frozen=True)
class VE(ForwardProcess):
    """Variance-exploding process with geometric noise scale s(t) = sigma_min (sigma_max/sigma_min)^t.

    dX = sqrt(d s(t)^2 / dt) dW, so alpha = 1, g(t)^2 = 2 log(sigma_max/sigma_min) s(t)^2 and the
    exact kernel variance of this SDE started at t = 0 is sigma(t)^2 = s(t)^2 - sigma_min^2 (Song et
    al. use s(t)^2, which would put noise sigma_min on the data at t = 0; we keep sigma(0) = 0 so the
    reverse SDE targets mu itself).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        smin = _validate.positive_real(self.sigma_min, "sigma_min")
        smax = _validate.positive_real(self.sigma_max, "sigma_max")
        if smax <= smin:
            raise ValueError(f"sigma_max must be > sigma_min, got sigma_min={smin}, sigma_max={smax}")
        object.__setattr__(self, "sigma_min", smin)
        object.__setattr__(self, "sigma_max", smax)

    @property
    def _rate(self) -> float:
        """2 log(sigma_max / sigma_min): the exponential growth rate of s(t)^2."""
        return 2.0 * math.log(self.sigma_max / self.sigma_min)

    def _log_alpha(self, t):
        return np.zeros(np.shape(t))

    def _sigma2(self, t):
        return self.sigma_min**2 * np.expm1(self._rate * np.asarray(t, dtype=np.float64))

    def _drift(self, t):
        return np.zeros(np.shape(t))

    def _g2(self, t):
        return self._rate * self.sigma_min**2 * np.exp(self._rate * np.asarray(t, dtype=np.float64))

    def _transition(self, t0, t1):
        t0 = np.asarray(t0, dtype=np.float64)
        t1 = np.asarray(t1, dtype=np.float64)
        v = self.sigma_min**2 * np.exp(self._rate * t0) * np.expm1(self._rate * (t1 - t0))
        return np.ones(np.broadcast_shapes(t0.shape, t1.shape)), v

    def _drift_integral(self, t0, t1):
        return self._transition(t0, t1)[1]

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        smin, smax = sympy.Rational(repr(self.sigma_min)), sympy.Rational(repr(self.sigma_max))
        rate = 2 * sympy.log(smax / smin)
        return ProcessExpressions(t=t, f=sympy.Integer(0), g2=rate * smin**2 * sympy.exp(rate * t),
                                  alpha=sympy.Integer(1), sigma2=smin**2 * (sympy.exp(rate * t) - 1))


def check_process(process: object) -> ForwardProcess:
    """Validate a ``process=`` argument."""
    if not isinstance(process, ForwardProcess):
        raise TypeError(f"process must be a ForwardProcess such as OU(), VP() or VE(), got {type(process).__name__}")
    return process
