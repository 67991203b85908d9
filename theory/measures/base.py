"""The interface every data measure implements (CLAIMS.md §2).

A measure mu on R^d with support M of intrinsic dimension k gives, for any linear forward
process, the exact marginal p_t(x) = E_mu[N(x; alpha(t) X_0, sigma(t)^2 I)], its score and the
denoiser E[X_0 | X_t = x]. They are tied by Tweedie's formula

    grad log p_t(x) = (alpha(t) E[X_0 | X_t = x] - x) / sigma(t)^2,

which is how :meth:`Measure.score` is computed from :meth:`Measure.denoise` here. Subclasses only
implement the private methods ``_log_density``, ``_denoise``, ``_sample``, ``_distance`` and
``_project`` on validated float64 arrays; the public methods validate once (STYLE.md rule 7).

A measure depends on the process only through (alpha(t), sigma(t)^2), so the private methods take
those two numbers instead of a process and a time.

Abilities that only some measures have are methods too, raising NotImplementedError where a
measure lacks them: ``posterior_sample`` (exact draws from law(X_0 | X_t = x), implemented through
``_posterior_draws`` and ``_posterior_from_uniforms``: each row maps its own fixed-width row of
uniforms to a draw) and ``partition`` (cells of M with exact masses, through ``_partition``).
``codimension`` is d - k (a Mixture weighs its components').

Extreme inputs (t down to the time where sigma(t)^2 is the smallest normal float64, |x| up to
1e300). The private methods return the exact value to rounding wherever it is representable, and
+-inf where it is not (log p_t below -1.8e308, a score or denoiser beyond 1.8e308); they never
return NaN. The public methods then raise a ValueError that names the overflow instead of
returning a non-finite value. Where log p_t itself overflows, ``_log_density_scaled`` gives
4^-k log p_t for a per-row integer k: a mixture needs those to weigh its components far from
the data, where each component's log-density is beyond float64 but their differences are not.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from theory import _validate
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process

_DEFAULT_PROCESS = DEFAULT_PROCESS  # the name theory.measures.* import; the public one is DEFAULT_PROCESS

# Smallest kernel variance accepted: the smallest normal float64 (2.2e-308). Below it sigma^2 is
# subnormal and has lost relative precision (t = 1e-310 under OU gives 2e-310, known to ~1e-14
# relative only; at 1e-320 to ~1e-4), so no result computed from it could be trusted.
MIN_VARIANCE = float(np.finfo(np.float64).tiny)
# Sums of squares in [_SQUARE_MIN, _SQUARE_MAX] are accurate to a few ulps (no square of a single
# entry overflowed or lost more than eps of the sum to underflow); outside, norms are rescaled.
_SQUARE_MIN = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)
_SQUARE_MAX = float(np.finfo(np.float64).max / 8.0)
# Largest finite float64: a result beyond it overflows.
FLOAT_MAX = float(np.finfo(np.float64).max)
# Cells of a one-dimensional support (circle arcs, line bins) in Measure.partition by default.
DEFAULT_CELLS = 8
# Largest (rows x uniforms) block of uniforms that posterior_sample holds at once (8 MiB).
DRAW_BLOCK_ELEMENTS = 1 << 20
# Generator.random returns k 2^-53 for an integer 0 <= k < 2^53; half a step moves u off the grid.
_HALF_STEP = 2.0 ** -54


def row_norms(v: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row, sqrt(sum_j v_ij^2), shape (n,) for v of shape (n, m), without
    overflow or underflow of the squares (finite whenever the norm is representable).

    One pass where the sum of squares is safe (the common case); other rows are divided by their
    largest |v_ij| first, as LAPACK's dnrm2 does.
    """
    with np.errstate(over="ignore", under="ignore"):
        squares = np.einsum("ij,ij->i", v, v)
    out = np.sqrt(squares)
    unsafe = ~((squares >= _SQUARE_MIN) & (squares <= _SQUARE_MAX))
    if unsafe.any():
        rows = np.flatnonzero(unsafe)
        part = v[rows]
        scale = np.abs(part).max(axis=1)
        scale[scale == 0.0] = 1.0
        part = part / scale[:, None]
        with np.errstate(over="ignore"):
            out[rows] = scale * np.sqrt(np.einsum("ij,ij->i", part, part))
    return out


def log_normalization(d: int, var: float) -> float:
    """(d/2) log(2 pi var), the Gaussian kernel's log-normalizer, without overflow of 2 pi var."""
    return 0.5 * d * (math.log(2.0 * math.pi) + math.log(var))


def scaling_exponents(x: np.ndarray, extent: float, var: float) -> np.ndarray:
    """k (n,) with 2^k >= (|x| + extent) / sigma >= 2^(k-1), at least 0: the exponents for which
    ``_log_density_scaled`` keeps -|x - alpha x_0|^2 / (2 sigma^2) 4^-k of order one."""
    with np.errstate(divide="ignore"):
        log2 = np.log2(row_norms(x) + extent) - 0.5 * math.log2(var)
    return np.maximum(np.ceil(np.nan_to_num(log2, neginf=0.0)), 0.0).astype(np.int64)


def normal_quantiles(u: np.ndarray) -> np.ndarray:
    """Standard normal draws from uniforms of ``Generator.random``: Phi^-1 of the midpoint of u's cell.

    u = k 2^-53 (0 <= k < 2^53, any shape) maps to Phi^-1((k + 1/2) 2^-53), evaluated on the nearer
    tail (-Phi^-1(1 - q) for q > 1/2) so that both tails keep full relative precision; the midpoints
    are symmetric about 1/2, so the draws are symmetric about 0, never 0, and bounded by 8.3 (the
    law is N(0, 1) quantized to probability cells of 2^-53).
    """
    lower = u < 0.5
    q = np.where(lower, u + _HALF_STEP, (1.0 - u) - _HALF_STEP)  # both exact in float64
    z = special.ndtri(q)
    np.negative(z, out=z, where=~lower)
    return z


def open_uniforms(u: np.ndarray) -> np.ndarray:
    """u + 2^-54: the uniforms of ``Generator.random`` moved off 0, for logarithms and inverse CDFs.

    In (0, 1] (the largest u, 1 - 2^-53, rounds up to 1); the shift changes the law by at most 2^-54.
    """
    return u + _HALF_STEP


def _nonfinite_rows(value: np.ndarray) -> np.ndarray:
    """Indices of the rows (first axis) of ``value`` with a NaN or inf entry (one pass when there
    are none)."""
    bad = ~np.isfinite(value)
    if not bad.any():
        return np.empty(0, dtype=np.intp)
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    return np.flatnonzero(bad)


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
    def _log_density_scaled(self, x: np.ndarray, alpha: float, var: float, k: np.ndarray) -> np.ndarray:
        """4^-k log p_t(x) for integer exponents k >= 0 of shape (n,), shape (n,), computed so that
        nothing overflows unless 4^-k log p_t does (each length is scaled by 2^-k before it is
        squared). With k = 0 it is the careful evaluation of log p_t that ``_log_density`` falls
        back to where its fast path overflows."""

    @property
    def _extent(self) -> float:
        """A length scale of the support (e.g. its radius about the origin): sizes the exponents of
        ``_log_density_scaled``; any value within a few orders of magnitude serves."""
        mean, cov = self.moments()
        return float(np.linalg.norm(mean) + math.sqrt(max(float(np.trace(cov)), 0.0)))

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

    # -- abilities some measures have ----------------------------------------------------
    @property
    def _posterior_draws(self) -> int:
        """Uniforms that one draw from law(X_0 | X_t = x) consumes per row (see :meth:`posterior_sample`).

        Measures whose posterior has a closed-form sampler override this and :meth:`_posterior_from_uniforms`.
        """
        raise NotImplementedError(f"{type(self).__name__} has no closed-form sampler of law(X_0 | X_t = x), "
                                  "so posterior_sample is not available for it")

    def _posterior_from_uniforms(self, x: np.ndarray, alpha: float, var: float, u: np.ndarray) -> np.ndarray:
        """One draw of X_0 | X_t = x[i] per row from the row's uniforms u[i], u : (n, _posterior_draws),
        for the kernel N(alpha x0, var I). Returns (n, d)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form sampler of law(X_0 | X_t = x)")

    # -- public, validated ---------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. draws from mu. Returns ndarray, shape (n, d)."""
        n = _validate.integer(n, "n", minimum=0)
        return self._sample(n, _validate.generator(rng))

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Euclidean distance to the support M (CLAIMS.md §4). x : (n, d) -> (n,)."""
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._distance(x)
        return _checked(out, "the distance to M", x, None)

    def project(self, x: np.ndarray) -> np.ndarray:
        """A nearest point of M (ties broken deterministically). x : (n, d) -> (n, d)."""
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._project(x)
        return _checked(out, "the projection on M", x, None)

    def normal_part(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """v minus its projection on the tangent space of M at project(x): the normal component.

        x, v : ndarray, shape (n, d) -> (n, d). Used by the score-error families of CLAIMS.md C6.
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
                             f"the smallest normal float64, where it has lost its precision; use a larger t")
        return alpha, var

    def log_density(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """log p_t(x), p_t(x) = E_mu[N(x; alpha(t) X_0, sigma(t)^2 I)]. t > 0, x : (n, d) -> (n,).

        Raises ValueError where log p_t(x) is below -1.8e308 (not representable in float64).
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._log_density(x, alpha, var)
        return _checked(out, "log p_t(x)", x, (t, process, var))

    def score(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """grad_x log p_t(x) = (alpha(t) E[X_0 | X_t = x] - x) / sigma(t)^2. x : (n, d) -> (n, d).

        Raises ValueError where the score is beyond 1.8e308 (not representable in float64).
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._score(x, alpha, var)
        return _checked(out, "the score", x, (t, process, var))

    @property
    def codimension(self) -> float:
        """d - k: the codimension of the support M, the limit of sigma(t)^2 E|grad log p_t(X_t)|^2 as
        t -> 0 (CLAIMS.md C5). A Mixture overrides it with sum_j w_j (d - k_j)."""
        return float(self.d - self.k)

    def partition(self, *, cells: int = DEFAULT_CELLS) -> Partition:
        """A partition of M into cells with their exact mu-masses (for coverage tests, CLAIMS.md C1, C2).

        cells : the number of cells of a one-dimensional support (arcs of a circle, bins of a line);
        supports of other dimensions have a fixed number of cells (each measure states its cells)
        and do not use it. Raises NotImplementedError for a measure without exact cell masses.
        """
        _validate.integer(cells, "cells", minimum=1)
        return self._partition(cells)

    def _partition(self, cells: int) -> Partition:
        raise NotImplementedError(f"{type(self).__name__} has no partition into cells of exact mass")

    def _support_probes(self, directions: np.ndarray) -> np.ndarray:
        """Points of M in general position, (m, d), for directions (m, d): the projections onto M of
        mean + extent directions. A finite support returns its own points, every one of which carries mass."""
        return self._project(self.moments()[0] + self._extent * directions)

    def posterior_sample(self, t: float, x: np.ndarray, rng: np.random.Generator, *,
                         process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """One exact draw X_0 ~ law(X_0 | X_t = x_i) per row of x (CLAIMS.md §1, §2). x : (n, d) -> (n, d).

        The draws come from ``rng.random((n, m))`` taken in row order (m uniforms per row, fixed by
        the measure; blocks of at most DRAW_BLOCK_ELEMENTS), and row i is a function of x_i and its
        own row of uniforms only: splitting x into consecutive row chunks drawn from the same ``rng``
        gives the same draws. Raises NotImplementedError for a measure whose posterior has no
        closed-form sampler (each measure's ``_posterior_from_uniforms`` states its sampler).
        """
        width = self._posterior_draws
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        rng = _validate.generator(rng)
        n = x.shape[0]
        out = np.empty(x.shape)
        step = max(1, DRAW_BLOCK_ELEMENTS // width)
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            u = rng.random((rows.stop - rows.start, width))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                out[rows] = self._posterior_from_uniforms(x[rows], alpha, var, u)
        return _checked(out, "the posterior draw", x, (t, process, var))

    def denoise(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """E[X_0 | X_t = x] (Tweedie's denoiser). x : (n, d) -> (n, d).

        Raises ValueError where the denoiser is beyond 1.8e308 (not representable in float64).
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self._denoise(x, alpha, var)
        return _checked(out, "the denoiser", x, (t, process, var))


def _checked(value: np.ndarray, quantity: str, x: np.ndarray, kernel: tuple | None) -> np.ndarray:
    """``value`` if it is finite; else a ValueError naming the quantity, the rows and the inputs.

    The private methods return +-inf only where the true value is beyond float64's range (see the
    module docstring), so the message says that it overflows.
    """
    bad = _nonfinite_rows(value)
    if not bad.size:
        return value
    first = int(bad[0])
    where = "" if kernel is None else (f" at t={kernel[0]!r} for {kernel[1]!r} "
                                       f"(sigma(t)^2 = {kernel[2]:.3g})")
    raise ValueError(
        f"{quantity} overflows float64{where}: it is beyond +-{FLOAT_MAX:.3g} in {bad.size} of "
        f"{x.shape[0]} rows (first: row {first}, |x| = {float(row_norms(x[first:first + 1])[0]):.3g})"
    )


# Tolerance on |sum of a partition's masses - 1|: the masses are exact to rounding or to the
# quadrature tolerance of theory.measures.vmf (1e-11 each, at most 2^k of them summed).
MASS_SUM_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Partition:
    """A partition of the support M of a measure mu into cells of known mu-mass (coverage tests).

    masses : array_like, shape (m,), the exact mu-mass of each cell (>= 0, summing to 1 within
    MASS_SUM_TOL). cell_of : callable taking a validated float64 array of shape (n, d) to the cell
    indices (n,) of the rows' nearest points of M (ties broken as by ``Measure.project``). d : the
    ambient dimension. Built by ``Measure.partition``.
    """

    masses: np.ndarray
    cell_of: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    d: int

    def __post_init__(self) -> None:
        masses = np.array(self.masses, dtype=np.float64)
        if masses.ndim != 1 or masses.size == 0:
            raise ValueError(f"masses must have shape (m,) with m >= 1, got {masses.shape}")
        if not np.all(masses >= 0.0) or not abs(float(masses.sum()) - 1.0) <= MASS_SUM_TOL:
            raise ValueError(f"masses must be >= 0 and sum to 1 (within {MASS_SUM_TOL:g}), got min "
                             f"{float(masses.min())!r} and sum {float(masses.sum())!r}")
        masses.setflags(write=False)
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "d", _validate.integer(self.d, "d", minimum=1))

    @property
    def size(self) -> int:
        """The number of cells m."""
        return int(self.masses.size)

    def assign(self, x: np.ndarray) -> np.ndarray:
        """The cell of the nearest point of M for each row of x. x : (n, d) -> (n,) ints in [0, m)."""
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return np.asarray(self.cell_of(x), dtype=np.intp)


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
