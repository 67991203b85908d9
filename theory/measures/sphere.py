"""The k-sphere with the uniform (area) law or a von Mises-Fisher law (SPEC section 2).

Geometry. With p = k + 1, a center c in R^d, a radius r > 0 and a frame F (d x p, orthonormal
columns), the support is M = {c + r F u : u in S^{p-1}} (S^{p-1} the unit sphere of R^p, which is
the k-sphere S^k). The law of u is uniform on S^{p-1} (kappa = 0) or von Mises-Fisher,

    f(u) = C_p(kappa) exp(kappa nu . u)  w.r.t. surface area,
    C_p(z) = z^{p/2-1} / ((2 pi)^{p/2} I_{p/2-1}(z)),   C_p(0) = 1 / area(S^{p-1}),

with mean direction nu (a unit vector in frame coordinates) and concentration kappa >= 0.

Diffused law (our derivation, SPEC section 2). For the kernel N(alpha x0, var I) put
y = x - alpha c, z = F^T y (shape (p,)), y_perp = y - F z, b = alpha r |z| / var and
m = kappa nu + alpha r z / var. Because |F u| = 1,

    |x - alpha (c + r F u)|^2 = |y|^2 + alpha^2 r^2 - 2 alpha r z . u,

so the posterior of u given X_t = x is vMF(m / |m|, |m|) and, with A_p(z) = I_{p/2}(z) / I_{p/2-1}(z),

    E[X_0 | X_t = x] = c + r A_p(|m|) F m / |m|,
    log p_t(x) = -(d/2) log(2 pi var) - (|y|^2 + alpha^2 r^2) / (2 var) + log C_p(kappa) - log C_p(|m|).

Numerics. Near the sphere at small t both -(|y|^2 + alpha^2 r^2)/(2 var) and |m| are huge and
nearly cancel, and the score (alpha D - x)/var divides a nearly cancelling difference by var. The
code never forms those differences: with ell(z) = log C_p(z) + z (which grows only like log z),

    log p_t(x) = -(d/2) log(2 pi var) - ((|z| - alpha r)^2 + |y_perp|^2) / (2 var)
                 + (|m| - b - kappa) + ell(kappa) - ell(|m|),
    |m| - b - kappa = -2 kappa b (1 - cos theta) / (|m| + b + kappa),   cos theta = nu . z / |z|,

and the score is assembled from its off-span part -y_perp / var, its tangential part and its radial
part, where 1 - A_p is evaluated directly (never as 1 minus a number close to 1). A_p / z, 1 - A_p
and ell use a power series below ``_series_limit(p)``, the large-z asymptotic series of I_v above
``_asymptotic_limit(p)`` and ``scipy.special.ive`` in between (only for p >= 13); each branch is
checked against mpmath at 50 digits in ``tests/test_sphere.py`` (relative error below 1e-13).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import KW_ONLY, dataclass
from fractions import Fraction

import numpy as np
from scipy import special, stats

from theory import _validate
from theory.measures.base import Measure

# -- Bessel-ratio kernels ----------------------------------------------------------------------
# Truncation tolerance of both series, relative to their leading term 1: one tenth of the float64
# spacing at 1, so truncation never shows next to rounding.
_SERIES_TOL = 1e-17
# Highest number of terms kept in the power series in q = z^2 / 4; at z = 32 and p = 2 the terms
# fall below _SERIES_TOL times the largest term after 60 terms.
_SERIES_MAX_TERMS = 80
# Upper end of the power-series branch (if the asymptotic series does not start earlier): the
# terms are all positive, so the series loses nothing to cancellation, but it needs about 2 z
# terms; beyond 32 the scaled Bessel functions of scipy take over until the asymptotic branch.
_SERIES_Z_MAX = 32.0
# Lowest start of the asymptotic branch, and the growth factor of the grid on which the start is
# searched: at z = 25 the series sum_k (-1)^k a_k(v) / z^k for p = 2 reaches _SERIES_TOL after 25
# terms; larger orders need z of order v^2 (see _asymptotic_limit).
_ASYMPTOTIC_Z_MIN = 20.0
_ASYMPTOTIC_GRID_FACTOR = 1.25
# Most terms the asymptotic branch may use, and the largest allowed ratio between the sum of the
# absolute values of its terms and the absolute value of the sum (bounded cancellation).
_ASYMPTOTIC_MAX_TERMS = 50
_ASYMPTOTIC_MAX_CANCELLATION = 4.0


@functools.lru_cache(maxsize=None)
def _series_coefficients(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients 1 / (j! (nu + 1)_j) of S_nu(q) = sum_j q^j / (j! (nu + 1)_j) for nu = v, v + 1.

    I_nu(z) = (z/2)^nu / Gamma(nu + 1) S_nu(z^2 / 4) (DLMF 10.25.2), v = p/2 - 1. Also returns the
    logarithms of the coefficients of S_v, the larger of the two, for choosing the truncation
    without underflow.
    """
    v = p / 2 - 1
    coefficients = []
    for nu in (v, v + 1):
        c = np.ones(_SERIES_MAX_TERMS)
        for i in range(1, _SERIES_MAX_TERMS):  # exact recursion (one rounding per step)
            c[i] = c[i - 1] / (i * (nu + i))
        coefficients.append(c)
    j = np.arange(_SERIES_MAX_TERMS, dtype=np.float64)
    log_c_v = -special.gammaln(j + 1) - (special.gammaln(v + 1 + j) - special.gammaln(v + 1))
    return coefficients[0], coefficients[1], log_c_v


@functools.lru_cache(maxsize=None)
def _asymptotic_coefficients(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of B_v(w) = sum_k (-1)^k a_k(v) w^k and of B_v(w) - B_{v+1}(w), v = p/2 - 1.

    sqrt(2 pi z) e^{-z} I_nu(z) ~ B_nu(1/z), a_k(nu) = prod_{j=1}^k (4 nu^2 - (2j - 1)^2) / (k! 8^k)
    (DLMF 10.40.1). 4 v^2 = (p - 2)^2 and 4 (v + 1)^2 = p^2 are integers, so the coefficients and
    their differences are computed exactly in rational arithmetic and rounded once. For odd p the
    series terminates (half-integer order) and is exact up to a relative e^{-2z}.
    """

    def coefficients(four_nu2: int) -> list[Fraction]:
        out = [Fraction(1)]
        for k in range(1, _ASYMPTOTIC_MAX_TERMS):
            out.append(-out[-1] * (four_nu2 - (2 * k - 1) ** 2) / (8 * k))
        return out

    b_v = coefficients((p - 2) ** 2)
    b_v1 = coefficients(p**2)
    return (np.array([float(c) for c in b_v]), np.array([float(a - b) for a, b in zip(b_v, b_v1)]))


def _asymptotic_terms(p: int, z_min: float) -> int:
    """Number of terms of B_v and B_v - B_{v+1} needed at z >= z_min (first term below tolerance)."""
    b_v, diff = _asymptotic_coefficients(p)
    k = np.arange(_ASYMPTOTIC_MAX_TERMS)
    w = 1.0 / z_min
    n_terms = 2
    for c, scale in ((b_v, 1.0), (diff, abs(diff[1]) * w)):
        with np.errstate(under="ignore"):
            small = np.nonzero((np.abs(c) * w**k < _SERIES_TOL * scale) & (k > 1))[0]
        n_terms = max(n_terms, int(small[0]) if small.size else _ASYMPTOTIC_MAX_TERMS + 1)
    return n_terms


@functools.lru_cache(maxsize=None)
def _asymptotic_limit(p: int) -> float:
    """Smallest z on the grid 20 * 1.25^i from which the asymptotic branch is accurate for this p.

    Accurate means: the terms fall below _SERIES_TOL within _ASYMPTOTIC_MAX_TERMS terms and the sum
    of the absolute values of the terms is at most _ASYMPTOTIC_MAX_CANCELLATION times the absolute
    value of the sum (for B_v and for B_v - B_{v+1}). Grows like v^2 for large orders.
    """
    b_v, diff = _asymptotic_coefficients(p)
    z = _ASYMPTOTIC_Z_MIN
    while True:
        n_terms = _asymptotic_terms(p, z)
        if n_terms <= _ASYMPTOTIC_MAX_TERMS:
            powers = z ** -np.arange(n_terms, dtype=np.float64)
            ok = True
            for c in (b_v[:n_terms], diff[1:n_terms]):
                terms = c * powers[: c.size]
                ok = ok and np.sum(np.abs(terms)) <= _ASYMPTOTIC_MAX_CANCELLATION * abs(np.sum(terms))
            if ok:
                return z
        z *= _ASYMPTOTIC_GRID_FACTOR


@functools.lru_cache(maxsize=None)
def _series_limit(p: int) -> float:
    """Upper end of the power-series branch: the asymptotic start, capped at _SERIES_Z_MAX."""
    return min(_asymptotic_limit(p), _SERIES_Z_MAX)


def _series_terms(p: int, z_max: float) -> int:
    """Number of terms of S_v, S_{v+1} at z <= z_max: past the largest term, below tolerance."""
    if z_max <= 0.0:
        return 1
    log_c = _series_coefficients(p)[2]
    log_terms = log_c + np.arange(_SERIES_MAX_TERMS) * math.log(z_max * z_max / 4.0)
    peak = int(np.argmax(log_terms))
    below = np.nonzero(log_terms[peak:] < log_terms[peak] + math.log(_SERIES_TOL))[0]
    return min(peak + int(below[0]) + 1, _SERIES_MAX_TERMS) if below.size else _SERIES_MAX_TERMS


def _horner(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_j coefficients[j] x^j, elementwise, in place on one preallocated array."""
    out = np.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        out *= x
        out += c
    return out


def _branches(p: int, z: np.ndarray) -> tuple[np.ndarray | slice, np.ndarray | slice, np.ndarray | slice]:
    """Index sets (series, middle, asymptotic) partitioning z; slices when one branch takes all."""
    z_series, z_asymptotic = _series_limit(p), _asymptotic_limit(p)
    if z.size == 0 or np.max(z) < z_series:
        return slice(None), slice(0, 0), slice(0, 0)
    if np.min(z) >= z_asymptotic:
        return slice(0, 0), slice(0, 0), slice(None)
    return z < z_series, (z >= z_series) & (z < z_asymptotic), z >= z_asymptotic


def _vmf_ratio(p: int, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A_p(z) / z, 1 - A_p(z)) for z >= 0, A_p(z) = I_{p/2}(z) / I_{p/2-1}(z), shapes of z.

    A_p is the mean resultant length of vMF(kappa = z) on S^{p-1}; A_p(z) / z -> 1/p as z -> 0 and
    1 - A_p(z) ~ (p - 1) / (2 z) as z -> infinity, both returned with full relative precision:
    series branch A/z = S_{v+1}(q) / (p S_v(q)), q = z^2/4; asymptotic branch
    1 - A = (B_v - B_{v+1})(1/z) / B_v(1/z); middle branch ive(v + 1, z) / ive(v, z).
    """
    z = np.asarray(z, dtype=np.float64)
    v = p / 2 - 1
    a_over_z = np.empty_like(z)
    one_minus_a = np.empty_like(z)
    series, middle, asymptotic = _branches(p, z)
    zs = z[series]
    if zs.size:
        c_v, c_v1, _ = _series_coefficients(p)
        n_terms = _series_terms(p, float(np.max(zs)))
        q = 0.25 * zs * zs
        ratio = _horner(c_v1[:n_terms], q) / (p * _horner(c_v[:n_terms], q))
        a_over_z[series] = ratio
        one_minus_a[series] = 1.0 - zs * ratio
    zl = z[asymptotic]
    if zl.size:
        b_v, diff = _asymptotic_coefficients(p)
        n_terms = _asymptotic_terms(p, float(np.min(zl)))
        w = 1.0 / zl
        oma = (w * _horner(diff[1:n_terms], w)) / _horner(b_v[:n_terms], w)
        one_minus_a[asymptotic] = oma
        a_over_z[asymptotic] = (1.0 - oma) * w
    zm = z[middle]
    if zm.size:
        a = special.ive(v + 1, zm) / special.ive(v, zm)
        a_over_z[middle] = a / zm
        one_minus_a[middle] = 1.0 - a
    return a_over_z, one_minus_a


def _vmf_log_normalizer(p: int, z: np.ndarray) -> np.ndarray:
    """ell(z) = log C_p(z) + z = v log z - (p/2) log(2 pi) - log(ive(v, z)), v = p/2 - 1, z >= 0.

    C_p is the vMF normalizer w.r.t. surface area on S^{p-1}; ell(0) = -log area(S^{p-1}) and
    ell(z) ~ (v + 1/2) log(z / (2 pi)) for large z. Series branch: ell = v log 2 + lgamma(v + 1)
    - (p/2) log(2 pi) - log S_v(z^2/4) + z; asymptotic branch: ell = (v + 1/2) log(z / (2 pi))
    - log B_v(1/z). Shape of z.
    """
    z = np.asarray(z, dtype=np.float64)
    v = p / 2 - 1
    out = np.empty_like(z)
    series, middle, asymptotic = _branches(p, z)
    zs = z[series]
    if zs.size:
        c_v = _series_coefficients(p)[0]
        n_terms = _series_terms(p, float(np.max(zs)))
        q = 0.25 * zs * zs
        s_minus_1 = q * _horner(c_v[1:n_terms], q) if n_terms > 1 else np.zeros_like(q)
        const = v * math.log(2.0) + math.lgamma(v + 1) - 0.5 * p * math.log(2.0 * math.pi)
        out[series] = const - np.log1p(s_minus_1) + zs
    zl = z[asymptotic]
    if zl.size:
        b_v = _asymptotic_coefficients(p)[0]
        n_terms = _asymptotic_terms(p, float(np.min(zl)))
        w = 1.0 / zl
        out[asymptotic] = (v + 0.5) * np.log(zl / (2.0 * math.pi)) - np.log1p(w * _horner(b_v[1:n_terms], w))
    zm = z[middle]
    if zm.size:
        out[middle] = v * np.log(zm) - 0.5 * p * math.log(2.0 * math.pi) - np.log(special.ive(v, zm))
    return out


# -- the measure ---------------------------------------------------------------------------------
class _RequiredField:
    """Class attribute for a required dataclass field that overrides an abstract property.

    ``Measure`` declares ``k`` and ``d`` as abstract properties; here they are plain constructor
    fields. A non-data descriptor makes the class define them (so they are not abstract) while
    raising AttributeError on class access tells ``dataclass`` that the field has no default; the
    instance value, set in ``__init__``, shadows it.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, objtype: type | None = None):
        raise AttributeError(self.name)


# Tolerance on | |direction| - 1 | for a user-supplied vMF mean direction (same role and value as
# _validate.ORTHONORMAL_TOL for frames): the stored direction is then renormalized exactly.
UNIT_NORM_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class Sphere(Measure):
    """The k-sphere S^k = {c + r F u : |u| = 1} in R^d, uniform or von Mises-Fisher (SPEC section 2).

    Parameters
    ----------
    k : int
        Intrinsic dimension, 1 <= k <= d - 1 (k = 1 a circle, k = 2 the usual sphere).
    d : int
        Ambient dimension.
    radius : float, keyword-only
        r > 0.
    center : array_like, shape (d,), keyword-only
        c; default the origin.
    frame : array_like, shape (d, k + 1), keyword-only
        F with orthonormal columns (|F^T F - I| <= 1e-8); default the first k + 1 standard basis
        vectors, so ``Sphere(k=2, d=5)`` is the uniform unit 2-sphere in the first three
        coordinates of R^5. The stored frame is re-orthonormalized (QR with positive diagonal,
        a change of at most about 1e-8) so that the closed forms, which use F^T F = I, hold to
        rounding.
    kappa : float, keyword-only
        Concentration >= 0; 0 is the uniform (area) law.
    direction : array_like, shape (k + 1,), keyword-only
        Mean direction nu of the vMF law in frame coordinates (the mode is c + r F nu); required
        when kappa > 0, must have unit norm within 1e-8 (it is not normalized for you, but the
        stored copy is renormalized exactly).

    Instances compare and hash by identity (``eq=False``): they hold arrays.
    """

    k: int = _RequiredField()  # type: ignore[assignment]
    d: int = _RequiredField()  # type: ignore[assignment]
    _: KW_ONLY
    radius: float = 1.0
    center: np.ndarray | None = None
    frame: np.ndarray | None = None
    kappa: float = 0.0
    direction: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("k", "d"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        k, d = int(self.k), int(self.d)
        if not 1 <= k <= d - 1:
            raise ValueError(f"k must satisfy 1 <= k <= d - 1, got k={k}, d={d}")
        p = k + 1
        radius = _validate.positive_real(self.radius, "radius")
        center = np.zeros(d) if self.center is None else _validate.vector(self.center, d, "center").copy()
        if self.frame is None:
            frame = np.eye(d)[:, :p].copy()
        else:
            frame = _validate.orthonormal_frame(self.frame, d, p)
            q, r = np.linalg.qr(frame)
            frame = q * np.where(np.diag(r) < 0, -1.0, 1.0)
        kappa = self.kappa
        if isinstance(kappa, (bool, np.bool_)) or not isinstance(kappa, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"kappa must be a real number, got {type(kappa).__name__}")
        kappa = float(kappa)
        if not (np.isfinite(kappa) and kappa >= 0.0):
            raise ValueError(f"kappa must be a finite number >= 0, got {kappa!r}")
        direction = None
        if self.direction is not None:
            direction = _validate.vector(self.direction, p, "direction")
            norm = float(np.linalg.norm(direction))
            if not abs(norm - 1.0) <= UNIT_NORM_TOL:
                raise ValueError(
                    f"direction must have unit norm (| |direction| - 1 | <= {UNIT_NORM_TOL}), got norm {norm!r}"
                )
            direction = direction / norm
        elif kappa > 0.0:
            raise ValueError(
                f"direction is required when kappa > 0: a unit vector of shape ({p},) in frame coordinates, got None"
            )
        for array in (center, frame) + ((direction,) if direction is not None else ()):
            array.setflags(write=False)
        for name, value in (("k", k), ("d", d), ("radius", radius), ("center", center), ("frame", frame),
                            ("kappa", kappa), ("direction", direction)):
            object.__setattr__(self, name, value)
        # Derived constants, computed once.
        object.__setattr__(self, "_p", p)
        object.__setattr__(self, "_zero_center", not np.any(center))
        object.__setattr__(self, "_standard_frame", bool(np.array_equal(frame, np.eye(d)[:, :p])))
        object.__setattr__(self, "_log_c_kappa", float(_vmf_log_normalizer(p, np.array([kappa]))[0]))

    # -- geometry ----------------------------------------------------------------------------
    def _split(self, x: np.ndarray, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y, z, y_perp) with y = x - shift c, z = F^T y (n, p), y_perp = y - F z (n, d).

        For the standard frame z and y_perp are views of y (y_perp is y with the first p columns
        dropped, shape (n, d - p)); the callers only use y_perp through norms and -y_perp / var.
        """
        y = x if self._zero_center else x - shift * self.center
        p = self._p
        if self._standard_frame:
            return y, y[:, :p], y[:, p:]
        z = y @ self.frame
        return y, z, y - z @ self.frame.T

    def _embed(self, span: np.ndarray, perp: np.ndarray) -> np.ndarray:
        """F span + perp, where perp is in the form returned by :meth:`_split`. Shapes (n, p) -> (n, d)."""
        if self._standard_frame:
            out = np.empty((span.shape[0], self.d))
            out[:, : self._p] = span
            out[:, self._p :] = perp
            return out
        out = span @ self.frame.T
        out += perp
        return out

    @staticmethod
    def _unit(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(|z|, z / |z|) row-wise; rows with z = 0 get the first frame direction e_1 (deterministic)."""
        zn = np.sqrt(np.einsum("ij,ij->i", z, z))
        positive = zn > 0.0
        if positive.all():
            return zn, z / zn[:, None]
        zhat = z / np.where(positive, zn, 1.0)[:, None]
        zhat[~positive] = 0.0
        zhat[~positive, 0] = 1.0
        return zn, zhat

    def _distance(self, x: np.ndarray) -> np.ndarray:
        """sqrt((|F^T (x - c)| - r)^2 + |off-span part of x - c|^2) (SPEC section 4). (n, d) -> (n,)."""
        _, z, y_perp = self._split(x, 1.0)
        zn = np.sqrt(np.einsum("ij,ij->i", z, z))
        return np.hypot(zn - self.radius, np.sqrt(np.einsum("ij,ij->i", y_perp, y_perp)))

    def _project(self, x: np.ndarray) -> np.ndarray:
        """c + r F u / |u|, u = F^T (x - c); u = 0 (the axis) maps to c + r F e_1. (n, d) -> (n, d)."""
        _, z, _ = self._split(x, 1.0)
        _, zhat = self._unit(z)
        out = self.radius * (zhat @ self.frame.T)
        out += self.center
        return out

    def _tangent(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """F (w - (w . u) u), w = F^T v, u the unit radial direction of project(x). (n, d) -> (n, d).

        The tangent space of M at c + r F u is F (u^perp within R^p): the frame span minus the
        radial direction.
        """
        _, z, _ = self._split(x, 1.0)
        _, zhat = self._unit(z)
        w = v @ self.frame
        w -= np.einsum("ij,ij->i", w, zhat)[:, None] * zhat
        return w @ self.frame.T

    # -- sampling and moments --------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """c + r F u with u ~ scipy.stats.uniform_direction(p) or vonmises_fisher(nu, kappa). (n, d)."""
        if self.kappa == 0.0:
            u = stats.uniform_direction(self._p).rvs(size=n, random_state=rng)
        else:
            u = stats.vonmises_fisher(self.direction, self.kappa).rvs(size=n, random_state=rng)
        out = self.radius * (np.reshape(u, (n, self._p)) @ self.frame.T)
        out += self.center
        return out

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(E X, Cov X), shapes (d,) and (d, d), X = c + r F u (our derivation).

        Uniform: E X = c, Cov X = r^2 / p F F^T. vMF on S^{p-1}: E u = A_p(kappa) nu and
        E[u u^T] = (A_p/kappa) I + (1 - p A_p/kappa) nu nu^T (the trace is 1 and
        E[(nu . u)^2] = 1 - (p - 1) A_p / kappa from the second derivative of log C_p), so
        E X = c + r A_p F nu, Cov X = r^2 F (E[u u^T] - A_p^2 nu nu^T) F^T.
        """
        p, r, frame = self._p, self.radius, self.frame
        if self.kappa == 0.0:
            return self.center.copy(), (r * r / p) * (frame @ frame.T)
        a_over_k, one_minus_a = (float(v[0]) for v in _vmf_ratio(p, np.array([self.kappa])))
        a = 1.0 - one_minus_a if self.kappa > 1.0 else self.kappa * a_over_k
        nu = self.direction
        second = a_over_k * np.eye(p) + (1.0 - p * a_over_k - a * a) * np.outer(nu, nu)
        return self.center + r * a * (frame @ nu), r * r * (frame @ second @ frame.T)

    # -- diffused law ------------------------------------------------------------------------------
    def _posterior(self, z: np.ndarray, alpha: float, var: float):
        """Posterior vMF(m / |m|, |m|) of u given X_t in the coordinates of z / |z|.

        Returns (zn, zhat, b, cos, nu_perp, sin, m_norm) with zn = |z|, zhat = z/|z| (n, p),
        b = alpha r |z| / var, cos = nu . zhat, nu_perp = nu - cos zhat (n, p), sin = |nu_perp| and
        |m| = hypot(kappa cos + b, kappa sin), which needs no squares of the (possibly 1e20) b.
        For kappa = 0 the vMF quantities are None and |m| = b.
        """
        zn, zhat = self._unit(z)
        b = (alpha * self.radius / var) * zn
        if self.kappa == 0.0:
            return zn, zhat, b, None, None, None, b
        cos = zhat @ self.direction
        nu_perp = self.direction - cos[:, None] * zhat
        sin = np.sqrt(np.einsum("ij,ij->i", nu_perp, nu_perp))
        m_norm = np.hypot(self.kappa * cos + b, self.kappa * sin)
        return zn, zhat, b, cos, nu_perp, sin, m_norm

    def _log_density(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """log p_t(x), shape (n,) (module docstring; SPEC section 2, our derivation).

        log p_t = -(d/2) log(2 pi var) - ((|z| - alpha r)^2 + |y_perp|^2) / (2 var)
                  + (|m| - b - kappa) + ell(kappa) - ell(|m|),
        |m| - b - kappa = -2 kappa b (1 - cos) / (|m| + b + kappa) with 1 - cos = sin^2 / (1 + cos)
        for cos > 0, ell(z) = log C_p(z) + z.
        """
        _, z, y_perp = self._split(x, alpha)
        zn, _, b, cos, _, sin, m_norm = self._posterior(z, alpha, var)
        quad = (zn - alpha * self.radius) ** 2
        quad += np.einsum("ij,ij->i", y_perp, y_perp)
        out = quad
        out *= -0.5 / var
        out += (-0.5 * self.d * math.log(2.0 * math.pi * var) + self._log_c_kappa)
        out -= _vmf_log_normalizer(self._p, m_norm)
        if self.kappa > 0.0:
            one_minus_cos = np.where(cos > 0.0, sin * sin / (1.0 + np.abs(cos)), 1.0 - cos)
            out -= 2.0 * self.kappa * b * one_minus_cos / (m_norm + b + self.kappa)
        return out

    def _denoise(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """E[X_0 | X_t = x] = c + r A_p(|m|) F m / |m|, m = kappa nu + b zhat. (n, d) -> (n, d).

        Computed as c + r (A_p(|m|) / |m|) F m, which is 0 + c (the center) at m = 0.
        """
        _, z, _ = self._split(x, alpha)
        _, zhat, b, _, _, _, m_norm = self._posterior(z, alpha, var)
        a_over_m, _ = _vmf_ratio(self._p, m_norm)
        u_mean = zhat * (a_over_m * b)[:, None]
        if self.kappa > 0.0:
            u_mean += (a_over_m * self.kappa)[:, None] * self.direction
        out = self.radius * (u_mean @ self.frame.T)
        out += self.center
        return out

    def _score(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """grad log p_t(x) = (F w - y_perp) / var, w = alpha r A_p(|m|) m / |m| - z. (n, d) -> (n, d).

        Tweedie (SPEC section 1) with the denoiser above, split so nothing cancels (our derivation):
        w = w_rad zhat + w_tan with
            w_tan = alpha r (A_p / |m|) kappa nu_perp,
            w_rad = (alpha r - |z|) - alpha r [(1 - A_p) + A_p (1 - gamma)],
            A_p (1 - gamma) = (A_p / |m|) kappa^2 sin^2 / (|m| + kappa cos + b)  (kappa cos + b >= 0),
                            = (A_p / |m|) (|m| - kappa cos - b)                  (otherwise),
        gamma = (kappa cos + b) / |m| the cosine between m and z. Near M at small var the radial
        part is (alpha r - |z|) / var - alpha r (1 - A_p) / var with 1 - A_p ~ (p - 1)/(2 |m|)
        evaluated directly, so the score keeps full relative precision.
        """
        _, z, y_perp = self._split(x, alpha)
        zn, zhat, b, cos, nu_perp, sin, m_norm = self._posterior(z, alpha, var)
        ar = alpha * self.radius
        a_over_m, one_minus_a = _vmf_ratio(self._p, m_norm)
        w_rad = ar - zn
        if self.kappa > 0.0:
            kappa = self.kappa
            kc = kappa * cos + b
            denominator = m_norm + kc
            safe = np.where(denominator > 0.0, denominator, 1.0)
            bend = np.where(kc >= 0.0, (kappa * sin) ** 2 / safe, m_norm - kc)
            bend *= a_over_m
            one_minus_a += bend
        one_minus_a *= ar
        w_rad -= one_minus_a
        w_rad /= var
        span = zhat * w_rad[:, None]
        if self.kappa > 0.0:
            span += ((ar * self.kappa / var) * a_over_m)[:, None] * nu_perp
        return self._embed(span, y_perp / -var)
