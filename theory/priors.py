"""Initial laws pi of the reverse SDE at forward time T (CLAIMS.md C1, C2).

A prior is a frozen object with ``d``, ``sample(n, rng) -> (n, d)`` and, where it has a
density, ``log_density(x) -> (n,)`` (used for KL(p_T || pi)). Any callable ``(n, rng) -> (n, d)``
can be wrapped in :class:`Sampler`.

Offered: :class:`Gaussian` (with the constructors :meth:`Gaussian.standard`,
:meth:`Gaussian.reference` and :meth:`Gaussian.moment_matched`), :class:`StudentT`,
:class:`PointMass`, :class:`ExactMarginal` (pi = p_T exactly, by pushing samples of mu through
the forward kernel), :class:`Sampler`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from theory import _validate
from theory.measures.base import Measure, check_measure
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process


class Prior(abc.ABC):
    """An initial law pi on R^d for the reverse SDE.

    ``positive_density``: whether pi has an everywhere-positive Lebesgue density, hence is
    equivalent to p_T for every t > 0 (the hypothesis pi ~ p_T of CLAIMS.md C2): True, False, or
    None when unknown (a user's sampler).
    """

    d: int
    positive_density: bool | None = None

    @abc.abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. draws, shape (n, d)."""

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log pi(x), shape (n,). Raises TypeError for priors without a Lebesgue density."""
        raise TypeError(f"{type(self).__name__} has no Lebesgue density")


@dataclass(frozen=True, eq=False)
class Gaussian(Prior):
    """pi = N(mean, cov). mean : (d,), cov : (d, d) symmetric positive definite.

    A diagonal cov (the default reference prior, N(0, I)) is sampled and evaluated directly as
    mean + sqrt(diag) Z, in O(n d); a general cov goes through scipy.stats.multivariate_normal,
    whose factorization costs O(d^3) (seconds at d = 3072, which is why the diagonal path exists).
    """

    positive_density = True

    mean: np.ndarray
    cov: np.ndarray
    _dist: object = field(init=False, repr=False)  # scipy frozen distribution, or None if diagonal
    _sd: np.ndarray = field(init=False, repr=False)  # sqrt(diag(cov))

    def __post_init__(self) -> None:
        mean = np.atleast_1d(np.asarray(self.mean, dtype=np.float64))
        if mean.ndim != 1 or not np.all(np.isfinite(mean)):
            raise ValueError(f"mean must be a finite vector of shape (d,), got shape {mean.shape}")
        cov = np.asarray(self.cov, dtype=np.float64)
        if cov.shape != (mean.size, mean.size):
            raise ValueError(f"cov must have shape ({mean.size}, {mean.size}), got {cov.shape}")
        diag = np.diagonal(cov).copy()
        if np.count_nonzero(cov - np.diag(diag)) == 0:
            if not np.all(np.isfinite(diag)) or not diag.min() > 0:
                raise ValueError(f"cov must be symmetric positive definite, got diagonal min {float(diag.min())!r}")
            dist = None
        else:
            try:
                dist = stats.multivariate_normal(mean, cov, allow_singular=False)
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise ValueError(f"cov must be symmetric positive definite: {exc}") from exc
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "_dist", dist)
        object.__setattr__(self, "_sd", np.sqrt(diag))

    @property
    def d(self) -> int:
        return int(self.mean.size)

    @classmethod
    def standard(cls, d: int) -> Gaussian:
        """N(0, I_d): the stationary law of OU, and of VP in the limit."""
        d = _validate.integer(d, "d", minimum=1)
        return cls(np.zeros(d), np.eye(d))

    @classmethod
    def reference(cls, d: int, T: float, *, process: ForwardProcess = DEFAULT_PROCESS) -> Gaussian:
        """N(0, (alpha(T)^2 + sigma(T)^2) I): the law of X_T when X_0 ~ N(0, I).

        Equals N(0, I) for OU and VP; for VE it is N(0, (1 + sigma(T)^2) I). The simulator's
        default prior.
        """
        d = _validate.integer(d, "d", minimum=1)
        T = _validate.positive_time(T, "T")
        process = check_process(process)
        scale = float(process.alpha(T)) ** 2 + float(process.sigma2(T))
        return cls(np.zeros(d), scale * np.eye(d))

    @classmethod
    def moment_matched(cls, measure: Measure, T: float, *, process: ForwardProcess = DEFAULT_PROCESS) -> Gaussian:
        """The Gaussian closest to p_T in KL(p_T || .) (CLAIMS.md C1): moment matching.

        mean = alpha(T) E_mu X, cov = alpha(T)^2 Cov_mu X + sigma(T)^2 I.
        """
        check_measure(measure)
        T = _validate.positive_time(T, "T")
        process = check_process(process)
        alpha, var = float(process.alpha(T)), float(process.sigma2(T))
        mean, cov = measure.moments()
        return cls(alpha * mean, alpha**2 * cov + var * np.eye(measure.d))

    def sample(self, n, rng):
        n = _validate.integer(n, "n", minimum=0)
        rng = _validate.generator(rng)
        if self._dist is None:
            return self.mean + self._sd * rng.standard_normal((n, self.d))
        return np.asarray(self._dist.rvs(size=n, random_state=rng)).reshape(n, self.d)

    def log_density(self, x):
        x = _validate.points(x, self.d)
        if self._dist is None:
            z = (x - self.mean) / self._sd
            return -0.5 * np.einsum("ij,ij->i", z, z) - np.sum(np.log(self._sd)) - 0.5 * self.d * np.log(2 * np.pi)
        return np.atleast_1d(self._dist.logpdf(x))


@dataclass(frozen=True, eq=False)
class StudentT(Prior):
    """Heavy-tailed pi: the multivariate Student t with ``df`` degrees of freedom, loc, scale^2 I.

    d : ambient dimension; df > 0; loc : (d,) or None (0); scale > 0.
    """

    positive_density = True

    d: int
    df: float = 3.0
    loc: np.ndarray | None = None
    scale: float = 1.0
    _dist: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        d = _validate.integer(self.d, "d", minimum=1)
        df = _validate.positive_real(self.df, "df")
        scale = _validate.positive_real(self.scale, "scale")
        loc = np.zeros(d) if self.loc is None else _validate.vector(self.loc, d, "loc")
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "df", df)
        object.__setattr__(self, "loc", loc)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "_dist", stats.multivariate_t(loc, scale**2 * np.eye(d), df=df))

    def sample(self, n, rng):
        n = _validate.integer(n, "n", minimum=0)
        rng = _validate.generator(rng)
        return np.asarray(self._dist.rvs(size=n, random_state=rng)).reshape(n, self.d)

    def log_density(self, x):
        x = _validate.points(x, self.d)
        return np.atleast_1d(self._dist.logpdf(x))


@dataclass(frozen=True, eq=False)
class PointMass(Prior):
    """pi = delta_y: every particle starts at y, shape (d,). No density (KL(p_T || pi) = inf)."""

    positive_density = False

    y: np.ndarray

    def __post_init__(self) -> None:
        y = np.atleast_1d(np.asarray(self.y, dtype=np.float64))
        if y.ndim != 1 or not np.all(np.isfinite(y)):
            raise ValueError(f"y must be a finite vector of shape (d,), got {np.asarray(self.y)!r}")
        y.setflags(write=False)
        object.__setattr__(self, "y", y)

    @property
    def d(self) -> int:
        return int(self.y.size)

    def sample(self, n, rng):
        n = _validate.integer(n, "n", minimum=0)
        return np.tile(self.y, (n, 1))


@dataclass(frozen=True, eq=False)
class ExactMarginal(Prior):
    """pi = p_T exactly: X_T = alpha(T) X_0 + sigma(T) Z with X_0 ~ mu."""

    positive_density = True

    measure: Measure
    T: float
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        check_measure(self.measure)
        object.__setattr__(self, "T", _validate.positive_time(self.T, "T"))
        check_process(self.process)

    @property
    def d(self) -> int:
        return self.measure.d

    def sample(self, n, rng):
        x0 = self.measure.sample(n, rng)
        return self.process.sample(x0, self.T, rng)

    def log_density(self, x):
        return self.measure.log_density(self.T, x, process=self.process)


@dataclass(frozen=True, eq=False)
class Sampler(Prior):
    """Wrap any callable ``fn(n, rng) -> ndarray (n, d)`` as a prior on R^d (shape is checked)."""

    fn: Callable[[int, np.random.Generator], np.ndarray]
    d: int

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"fn must be callable (n, rng) -> (n, d), got {type(self.fn).__name__}")
        object.__setattr__(self, "d", _validate.integer(self.d, "d", minimum=1))

    def sample(self, n, rng):
        n = _validate.integer(n, "n", minimum=0)
        out = np.asarray(self.fn(n, _validate.generator(rng)))
        if out.shape != (n, self.d):
            raise ValueError(f"prior sampler must return shape ({n}, {self.d}), got {out.shape}")
        return _validate.points(out, self.d, name="prior sample")
