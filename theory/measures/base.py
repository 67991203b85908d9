"""The interface every data measure implements (SPEC section 2).

A measure mu on R^d with support M of intrinsic dimension k gives, for any linear forward
process, the exact marginal p_t(x) = E_mu[N(x; alpha(t) X_0, sigma(t)^2 I)], its score and the
denoiser E[X_0 | X_t = x]. They are tied by Tweedie's formula

    grad log p_t(x) = (alpha(t) E[X_0 | X_t = x] - x) / sigma(t)^2,

which is how :meth:`Measure.score` is computed from :meth:`Measure.denoise` here. Subclasses only
implement the private methods ``_log_density``, ``_denoise``, ``_sample``, ``_distance`` and
``_project`` on validated float64 arrays; the public methods validate once (STYLE.md rule 7).

A measure depends on the process only through (alpha(t), sigma(t)^2), so the private methods take
those two numbers instead of a process and a time.
"""

from __future__ import annotations

import abc

import numpy as np

from theory import _validate
from theory.processes import OU, ForwardProcess, check_process

_DEFAULT_PROCESS = OU()

# Smallest kernel variance accepted: sqrt of the smallest normal float64 (1.5e-154). Below it,
# |x| / sigma^2 overflows for |x| of order 1e154 and subnormal variances lose all precision
# (t = 1e-310 gives a subnormal sigma^2 that is still > 0).
MIN_VARIANCE = float(np.sqrt(np.finfo(np.float64).tiny))


class Measure(abc.ABC):
    """A probability measure on R^d with closed-form diffused scores."""

    # -- to implement ------------------------------------------------------------------
    # Every measure has an intrinsic dimension ``k`` of its support M (0 for a finite set, d for
    # a full-dimensional Gaussian) and an ambient dimension ``d``: a dataclass field or a property.
    k: int
    d: int

    @abc.abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. draws, shape (n, d)."""

    @abc.abstractmethod
    def _distance(self, x: np.ndarray) -> np.ndarray:
        """Euclidean distance from each row of x to M, shape (n,)."""

    @abc.abstractmethod
    def _project(self, x: np.ndarray) -> np.ndarray:
        """A nearest point of M for each row of x, shape (n, d)."""

    @abc.abstractmethod
    def _log_density(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """log p_t(x) for the kernel N(alpha x0, var I), shape (n,)."""

    @abc.abstractmethod
    def _denoise(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """E[X_0 | X_t = x] for the kernel N(alpha x0, var I), shape (n, d)."""

    @abc.abstractmethod
    def _tangent(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Orthogonal projection of v[i] onto the tangent space of M at project(x)[i], shape (n, d).

        For a finite set the tangent space is {0}; for a full-dimensional Gaussian it is R^d.
        """

    @abc.abstractmethod
    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(E_mu X, Cov_mu X), shapes (d,) and (d, d): used by the moment-matched prior (C1)."""

    def _score(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """Tweedie: (alpha E[X_0 | x] - x) / var. Subclasses override where a direct form is cheaper."""
        return (alpha * self._denoise(x, alpha, var) - x) / var

    # -- public, validated ---------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. draws from mu. Returns ndarray, shape (n, d)."""
        n = _validate.integer(n, "n", minimum=0)
        return self._sample(n, _validate.generator(rng))

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Euclidean distance to the support M (SPEC section 4). x : (n, d) -> (n,)."""
        return self._distance(_validate.points(x, self.d))

    def project(self, x: np.ndarray) -> np.ndarray:
        """A nearest point of M (ties broken deterministically). x : (n, d) -> (n, d)."""
        return self._project(_validate.points(x, self.d))

    def normal_part(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """v minus its projection on the tangent space of M at project(x): the normal component.

        x, v : ndarray, shape (n, d) -> (n, d). Used by the score-error families of SPEC C6.
        """
        x = _validate.points(x, self.d)
        v = _validate.points(v, self.d, name="v")
        if v.shape != x.shape:
            raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
        return self._normal(x, v)

    def _normal(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return v - self._tangent(x, v)

    def _kernel(self, t: float, process: ForwardProcess) -> tuple[float, float]:
        t = _validate.positive_time(t)
        process = check_process(process)
        with np.errstate(over="ignore"):
            alpha = float(process.alpha(t))
            var = float(process.sigma2(t))
        if not np.isfinite(var):
            raise ValueError(f"sigma(t)^2 overflows at t={t!r} for {process!r}; use a smaller t")
        if not var >= MIN_VARIANCE:
            raise ValueError(f"sigma(t)^2 = {var:.3g} at t={t!r} for {process!r} is below {MIN_VARIANCE:.3g}, "
                             f"where x / sigma^2 would overflow; use a larger t")
        return alpha, var

    def log_density(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """log p_t(x), p_t(x) = E_mu[N(x; alpha(t) X_0, sigma(t)^2 I)]. t > 0, x : (n, d) -> (n,)."""
        alpha, var = self._kernel(t, process)
        return self._log_density(_validate.points(x, self.d), alpha, var)

    def score(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """grad_x log p_t(x) = (alpha(t) E[X_0 | X_t = x] - x) / sigma(t)^2. x : (n, d) -> (n, d)."""
        alpha, var = self._kernel(t, process)
        return self._score(_validate.points(x, self.d), alpha, var)

    def denoise(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """E[X_0 | X_t = x] (Tweedie's denoiser). x : (n, d) -> (n, d)."""
        alpha, var = self._kernel(t, process)
        return self._denoise(_validate.points(x, self.d), alpha, var)


def check_measure(measure: object, name: str = "measure") -> Measure:
    """Validate an argument that must be a :class:`Measure`."""
    if not isinstance(measure, Measure):
        raise TypeError(f"{name} must be a Measure, got {type(measure).__name__}")
    return measure


def check_measures(measures: object, name: str) -> tuple[Measure, ...]:
    """Validate a non-empty list or tuple of :class:`Measure` (Product factors, Mixture components)."""
    items = tuple(measures) if isinstance(measures, (list, tuple)) else ()
    if not items:
        raise ValueError(f"{name} must be a non-empty sequence of Measure, got {measures!r}")
    return tuple(check_measure(m, f"{name}[{i}]") for i, m in enumerate(items))
