"""The von Mises-Fisher law on the unit sphere S^{p-1} of R^p: its special-function kernels.

vMF(nu, kappa), nu a unit vector of R^p and kappa >= 0, has the density

    f(u) = C_p(kappa) exp(kappa nu . u)  w.r.t. surface area on S^{p-1},
    C_p(z) = z^{p/2-1} / ((2 pi)^{p/2} I_{p/2-1}(z)),   C_p(0) = 1 / area(S^{p-1}),

and mean resultant length E[nu . u] = A_p(kappa), A_p(z) = I_{p/2}(z) / I_{p/2-1}(z) (CLAIMS.md §2).

Kernels. :func:`bessel_ratio` gives A_p(z) / z and 1 - A_p(z), :func:`log_normalizer` gives
ell(z) = log C_p(z) + z (which grows only like log z), both with full relative precision for
every z >= 0. They are piecewise: the Gauss continued fraction (resp. the power series) for small
z, the large-z expansion of I_v for large z (for odd p, where I_v has half-integer order, it
terminates and its e^{-2z} terms make it exact), and ``scipy.special.ive`` in between only where
neither is accurate (p >= 18). The number of levels or terms each branch needs is tabulated per p
(cached). Every branch is checked against mpmath at 50 digits in ``tests/measures/test_vmf.py``:
relative error below 1e-13 (measured: 3.4e-15 for p <= 33, 7.8e-14 for p = 64, 65).
"""

from __future__ import annotations

import functools
import math
import warnings
from fractions import Fraction

import numpy as np
from scipy import integrate, special

from theory import _validate
from theory.measures.base import DRAW_BLOCK_ELEMENTS, normal_quantiles, open_uniforms

# Truncation tolerance of every series and continued fraction, relative to the value: a tenth of
# the float64 spacing at 1, so that truncation never shows next to rounding.
_TOL = 1e-17
# Most terms of the power series S_v(q) = sum_j q^j / (j! (v+1)_j) used by ell; at z = 32, p = 2
# the terms fall below _TOL times the largest one after about 60 terms.
_SERIES_MAX_TERMS = 80
# Most levels of the continued fraction for A_p / z; 37 suffice at z = 32 for p = 2.
_CF_MAX_LEVELS = 80
# Upper end of the small-z branch (continued fraction, power series), unless the large-z branch
# starts earlier: both need about z terms, so beyond 32 scipy's ive takes over (only for p >= 18).
_SMALL_Z_MAX = 32.0
# Grid of the cached continued-fraction level counts: z = 2^(i/4) for i in [-20, 20], i.e. from
# 1/32 (4 levels suffice below) to 32 (the top of the small-z region).
_CF_GRID_MIN_EXP4 = -20
_CF_GRID_MAX_EXP4 = 20
# Lowest start of the large-z expansion and the growth factor of the grid on which its start is
# searched: for p = 2 the terms reach _TOL at z = 25 after 25 terms; large orders need z ~ v^2.
_ASYMPTOTIC_Z_MIN = 20.0
_ASYMPTOTIC_GRID_FACTOR = 1.25
# Most terms the large-z expansion may use.
_ASYMPTOTIC_MAX_TERMS = 50
# Points of the cached term-count grid of the large-z expansion: its start times sqrt(2)^i,
# i < 80, i.e. up to 2^40 times the start, where 3 terms suffice for every order.
_ASYMPTOTIC_GRID_POINTS = 80
# A closed form or expansion is used only where the sum of the absolute values of its terms is at
# most this multiple of the absolute value of the result (bounded cancellation: <= 3 bits lost).
_MAX_CANCELLATION = 8.0
# Points of the grid 32 / sqrt(2)^i on which the start of the odd-p closed form is searched
# (down to 32 / 2^7 = 0.25; p = 3 starts at 0.5).
_CLOSED_GRID_POINTS = 15
# Above this z the e^{-2z} terms of the odd-p closed form are below 1e-20 relative and are dropped.
_EXP_NEGLIGIBLE_Z = 25.0


@functools.lru_cache(maxsize=None)
def _asymptotic_coefficients(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients of B_v(w), B_{v+1}(w) and B_v(w) - B_{v+1}(w), v = p/2 - 1, length 50.

    sqrt(2 pi z) e^{-z} I_nu(z) ~ B_nu(1/z) = sum_k (-1)^k a_k(nu) z^{-k} with
    a_k(nu) = prod_{j=1}^k (4 nu^2 - (2j - 1)^2) / (k! 8^k) (DLMF sec. 10.40). 4 v^2 = (p - 2)^2 and
    4 (v + 1)^2 = p^2 are integers, so the coefficients and their differences are computed exactly
    in rational arithmetic and rounded once. For odd p (half-integer orders) the series terminate
    and sqrt(2 pi z) e^{-z} I_nu(z) = B_nu(1/z) + (-1)^{nu + 1/2} e^{-2z} B_nu(-1/z) exactly
    (DLMF sec. 10.49).
    """

    def coefficients(four_nu2: int) -> list[Fraction]:
        out = [Fraction(1)]
        for k in range(1, _ASYMPTOTIC_MAX_TERMS):
            out.append(-out[-1] * (four_nu2 - (2 * k - 1) ** 2) / (8 * k))
        return out

    b_v, b_v1 = coefficients((p - 2) ** 2), coefficients(p**2)
    diff = [a - b for a, b in zip(b_v, b_v1)]
    return tuple(np.array([float(c) for c in cs]) for cs in (b_v, b_v1, diff))


def _asymptotic_terms(p: int, z_min: float) -> int:
    """Terms of B_v and B_v - B_{v+1} needed for z >= z_min: index of the first term below _TOL.

    Returns _ASYMPTOTIC_MAX_TERMS + 1 if no term is small enough (z_min too small).
    """
    b_v, _, diff = _asymptotic_coefficients(p)
    k = np.arange(_ASYMPTOTIC_MAX_TERMS)
    w = 1.0 / z_min
    n_terms = 2
    for c, scale in ((b_v, 1.0), (diff, abs(diff[1]) * w)):
        with np.errstate(under="ignore"):
            small = np.flatnonzero((np.abs(c) * w**k < _TOL * scale) & (k > 1))
        n_terms = max(n_terms, int(small[0]) if small.size else _ASYMPTOTIC_MAX_TERMS + 1)
    return n_terms


def _cancellation(terms: np.ndarray) -> float:
    """sum |terms| / |sum terms| (inf for a zero sum): the error amplification of summing them."""
    total = abs(float(np.sum(terms)))
    return float(np.sum(np.abs(terms))) / total if total > 0.0 else math.inf


@functools.lru_cache(maxsize=None)
def _asymptotic_limit(p: int) -> float:
    """Smallest z on the grid 20 * 1.25^i from which the large-z expansion is accurate for this p.

    Accurate: its terms fall below _TOL within _ASYMPTOTIC_MAX_TERMS terms, and B_v and B_v - B_{v+1}
    cancel by at most _MAX_CANCELLATION. Grows like v^2 for large orders (888 for p = 64).
    """
    b_v, _, diff = _asymptotic_coefficients(p)
    z = _ASYMPTOTIC_Z_MIN
    while True:
        n_terms = _asymptotic_terms(p, z)
        if n_terms <= _ASYMPTOTIC_MAX_TERMS:
            powers = z ** -np.arange(n_terms, dtype=np.float64)
            if max(_cancellation(b_v[:n_terms] * powers), _cancellation(diff[1:n_terms] * powers[1:])) <= (
                _MAX_CANCELLATION
            ):
                return z
        z *= _ASYMPTOTIC_GRID_FACTOR


@functools.lru_cache(maxsize=None)
def _closed_form_limit(p: int) -> float | None:
    """For odd p: smallest z on the grid 32 / sqrt(2)^i where the exact closed form cancels by at
    most _MAX_CANCELLATION (0.5 for p = 3, 2 for p = 5, 16 for p = 11); None for even p or if even
    z = 32 is not accurate (p >= 19). The cancellation is monotone in z, so the search goes down.
    """
    if p % 2 == 0:
        return None
    b_v, b_v1, diff = _asymptotic_coefficients(p)
    sign = -1.0 if (p - 1) // 2 % 2 else 1.0  # (-1)^{v + 1/2}, v = p/2 - 1
    k = np.arange(_ASYMPTOTIC_MAX_TERMS)
    best = None
    for i in range(_CLOSED_GRID_POINTS):
        z = _SMALL_Z_MAX * 2.0 ** (-i / 2)
        w, e = 1.0 / z, math.exp(-2.0 * z)
        numerator = np.concatenate([diff * w**k, sign * e * (b_v + b_v1) * (-w) ** k])
        denominator = np.concatenate([b_v * w**k, sign * e * b_v * (-w) ** k])
        if max(_cancellation(numerator), _cancellation(denominator)) > _MAX_CANCELLATION:
            break
        best = z
    return best


def _cf_levels_at(p: int, z_max: float) -> int:
    """Levels of the continued fraction A_p(z)/z = 1/(p + z^2/(p + 2 + z^2/(p + 4 + ...))) at z <= z_max.

    Truncating at level N replaces f_N = A_{p+2N}(z)/z by 1/(p + 2N), a relative error
    delta_N = z^2 f_{N+1} / (p + 2N + z^2 f_{N+1}); each level above damps it by
    s_j = z^2 f_{j+1} / (p + 2j + z^2 f_{j+1}) < 1. The exact f_j (a deep backward recursion at
    z_max) give the linearized error delta_N prod_{j<N} s_j; N is the first level where it is < _TOL
    (7 levels at z = 0.5, 17 at z = 6, 32 at z = 25 for p = 2).
    """
    z2 = z_max * z_max
    a = p + 2.0 * np.arange(_CF_MAX_LEVELS + 2)
    f = np.empty(_CF_MAX_LEVELS + 2)
    f[-1] = 1.0 / a[-1]
    for j in range(_CF_MAX_LEVELS, -1, -1):
        f[j] = 1.0 / (a[j] + z2 * f[j + 1])
    damping = z2 * f[1:] / (a[:-1] + z2 * f[1:])
    product = 1.0
    for n_levels in range(1, _CF_MAX_LEVELS):
        product *= damping[n_levels - 1]
        if product * damping[n_levels] < _TOL:
            return n_levels
    return _CF_MAX_LEVELS


@functools.lru_cache(maxsize=None)
def _cf_table(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(grid, levels): levels[i] continued-fraction levels suffice for z <= grid[i], grid 2^(i/4)."""
    grid = 2.0 ** (np.arange(_CF_GRID_MIN_EXP4, _CF_GRID_MAX_EXP4 + 1) / 4.0)
    return grid, np.array([_cf_levels_at(p, z) for z in grid])


@functools.lru_cache(maxsize=None)
def _asymptotic_table(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(grid, terms): terms[i] terms of the large-z expansion suffice for z >= grid[i], where the
    grid starts at :func:`_asymptotic_limit` and grows by sqrt(2) (the count falls with z)."""
    grid = _asymptotic_limit(p) * 2.0 ** (np.arange(_ASYMPTOTIC_GRID_POINTS) / 2.0)
    return grid, np.array([_asymptotic_terms(p, z) for z in grid])


def _lookup_cf_levels(p: int, z_max: float) -> int:
    grid, levels = _cf_table(p)
    return int(levels[min(int(np.searchsorted(grid, z_max)), grid.size - 1)])


def _lookup_asymptotic_terms(p: int, z_min: float) -> int:
    grid, terms = _asymptotic_table(p)
    return int(terms[max(int(np.searchsorted(grid, z_min, side="right")) - 1, 0)])


def _ratio_cf(p: int, z: np.ndarray, z_lo: float, z_hi: float, want_a_over_z: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A_p/z, 1 - A_p) by the continued fraction, with the levels z_hi needs (z_hi below 32)."""
    n_levels = _lookup_cf_levels(p, z_hi)
    z2 = z * z
    f = z2 * (1.0 / (p + 2 * n_levels))
    for j in range(n_levels - 1, -1, -1):
        f += p + 2 * j
        np.reciprocal(f, out=f)
        if j:
            f *= z2
    one_minus_a = z * f
    np.subtract(1.0, one_minus_a, out=one_minus_a)
    return f, one_minus_a


def _ratio_ive(p: int, z: np.ndarray, z_lo: float, z_hi: float, want_a_over_z: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A_p/z, 1 - A_p) from scipy.special.ive (only where neither expansion is accurate, p >= 18)."""
    v = p / 2 - 1
    a = special.ive(v + 1, z) / special.ive(v, z)
    return a / z, 1.0 - a


def _ratio_expansion(p: int, z: np.ndarray, z_lo: float, z_hi: float,
                     want_a_over_z: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(A_p/z, 1 - A_p) from 1 - A_p = (B_v - B_{v+1})(1/z) / B_v(1/z) (large-z expansion).

    For odd p the expansions terminate (B_v has (p - 1)/2 terms, B_{v+1} and the difference
    (p + 1)/2) and, where z < 25 (the closed-form region starts lower), the e^{-2z} terms of
    DLMF sec. 10.49 are added, which makes the result exact; from z = 25 on they are below 1e-20
    relative. For even p the terms are truncated where they fall below _TOL at z_lo. A/z is
    skipped (None) unless wanted.
    """
    b_v, b_v1, diff = _asymptotic_coefficients(p)
    if p % 2:
        n_v, n_diff = (p - 1) // 2, (p + 1) // 2
    else:
        n_v = n_diff = _lookup_asymptotic_terms(p, z_lo)
    w = 1.0 / z
    leading = _horner(diff[1:n_diff], w)
    numerator = w if _is_one(leading) else leading * w  # p = 3: 1 - A_3 = 1/z + O(e^{-2z})
    denominator = _horner(b_v[:n_v], w)
    if p % 2 and z_lo < _EXP_NEGLIGIBLE_Z:
        e = np.exp(-2.0 * z)
        if (p - 1) // 2 % 2:  # the sign (-1)^{v + 1/2} of DLMF sec. 10.49
            e = -e
        minus_w = -w
        numerator = numerator + e * _horner(b_v[:n_diff] + b_v1[:n_diff], minus_w)
        denominator = denominator + e * _horner(b_v[:n_v], minus_w)
    one_minus_a = numerator if _is_one(denominator) else numerator / denominator  # B_{1/2} = 1
    if not want_a_over_z:
        return None, one_minus_a
    a_over_z = 1.0 - one_minus_a
    a_over_z *= w
    return a_over_z, one_minus_a


def _is_one(value: np.ndarray | float) -> bool:
    return isinstance(value, float) and value == 1.0


def _horner(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray | float:
    """sum_j coefficients[j] x^j elementwise on one new array; a float for a single coefficient."""
    if coefficients.size == 1:
        return float(coefficients[0])
    out = coefficients[-1] * x
    for c in coefficients[-2:0:-1]:
        out += c
        out *= x
    out += coefficients[0]
    return out


def bessel_ratio(p: int, z: np.ndarray, *, want_a_over_z: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """(A_p(z) / z, 1 - A_p(z)) for z >= 0, A_p(z) = I_{p/2}(z) / I_{p/2-1}(z); z : (n,) -> (n,), (n,).

    A_p is the mean resultant length of vMF(kappa = z) on S^{p-1} (CLAIMS.md §2 notation).
    A_p(z)/z -> 1/p as z -> 0 and 1 - A_p(z) ~ (p - 1)/(2z) as z -> infinity; both are returned
    with full relative precision. Regions: the continued fraction
    A_p/z = 1/(p + z^2/(p + 2 + z^2/(p + 4 + ...))) (DLMF sec. 10.33) below the closed-form limit
    (odd p <= 17) or min(32, large-z limit) (other p); then the large-z expansion
    1 - A = (B_v - B_{v+1})(1/z) / B_v(1/z), exact with its e^{-2z} terms for odd p; and for
    p >= 18 ive(v + 1, z) / ive(v, z) between 32 and the large-z limit. The number of levels or
    terms is chosen for the extreme z of each region. With ``want_a_over_z=False`` the first
    output may be None (the uniform score needs only 1 - A_p).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.size == 0:
        return np.empty_like(z), np.empty_like(z)
    closed = _closed_form_limit(p)
    z_large = closed if closed is not None else _asymptotic_limit(p)
    z_small = closed if closed is not None else min(z_large, _SMALL_Z_MAX)
    regions = ((0.0, z_small, _ratio_cf), (z_small, z_large, _ratio_ive), (z_large, math.inf, _ratio_expansion))
    z_lo, z_hi = float(z.min()), float(z.max())
    active = [(lo, hi, f) for lo, hi, f in regions if lo < hi and lo <= z_hi and z_lo < hi]
    if len(active) == 1:
        return active[0][2](p, z, z_lo, z_hi, want_a_over_z)
    a_over_z = np.empty_like(z) if want_a_over_z else None
    one_minus_a = np.empty_like(z)
    for lo, hi, evaluate in active:
        index = np.flatnonzero((z >= lo) & (z < hi))
        if index.size:
            part = z[index]
            part_a_over_z, one_minus_a[index] = evaluate(p, part, float(part.min()), float(part.max()), want_a_over_z)
            if want_a_over_z:
                a_over_z[index] = part_a_over_z
    return a_over_z, one_minus_a


@functools.lru_cache(maxsize=None)
def _series_coefficients(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients 1/(j! (v+1)_j) of S_v(q) = sum_j q^j / (j! (v+1)_j), v = p/2 - 1, and their logs.

    I_v(z) = (z/2)^v / Gamma(v + 1) S_v(z^2 / 4) (DLMF sec. 10.25). The logarithms (from gammaln) only
    choose the truncation; the coefficients come from the exact recursion c_j = c_{j-1} / (j (v+j)).
    """
    v = p / 2 - 1
    c = np.ones(_SERIES_MAX_TERMS)
    for j in range(1, _SERIES_MAX_TERMS):
        c[j] = c[j - 1] / (j * (v + j))
    j = np.arange(_SERIES_MAX_TERMS, dtype=np.float64)
    log_c = -special.gammaln(j + 1) - (special.gammaln(v + 1 + j) - special.gammaln(v + 1))
    return c, log_c


def _series_terms(p: int, z_max: float) -> int:
    """Terms of S_v(z^2/4) needed for z <= z_max: up to the first term past the largest that is
    below _TOL times the largest (all terms are positive, so that bounds the relative tail)."""
    q = z_max * z_max / 4.0
    if q < _TOL:  # also q = 0 (z_max = 0 or its square underflows): S_v = 1 to rounding
        return 1
    log_terms = _series_coefficients(p)[1] + np.arange(_SERIES_MAX_TERMS) * math.log(q)
    peak = int(np.argmax(log_terms))
    below = np.flatnonzero(log_terms[peak:] < log_terms[peak] + math.log(_TOL))
    return min(peak + int(below[0]) + 1, _SERIES_MAX_TERMS) if below.size else _SERIES_MAX_TERMS


def log_normalizer(p: int, z: np.ndarray) -> np.ndarray:
    """ell(z) = log C_p(z) + z = v log z - (p/2) log(2 pi) - log ive(v, z), v = p/2 - 1, z >= 0 (1-d).

    C_p is the vMF normalizer w.r.t. surface area on S^{p-1} (module docstring); ell(0) =
    -log area(S^{p-1}) and ell(z) ~ (v + 1/2) log(z / (2 pi)) for large z. Branches: for
    z < min(32, large-z start), ell = v log 2 + lgamma(v + 1) - (p/2) log(2 pi) - log S_v(z^2/4) + z
    (power series, all terms positive); from the large-z start (see :func:`_asymptotic_limit`),
    ell = (v + 1/2) log(z / (2 pi)) - log B_v(1/z); scipy's ive in between (p >= 18).
    """
    z = np.asarray(z, dtype=np.float64)
    v = p / 2 - 1
    out = np.empty_like(z)
    z_asymptotic = _asymptotic_limit(p)
    z_series = min(z_asymptotic, _SMALL_Z_MAX)
    series = z < z_series
    asymptotic = z >= z_asymptotic
    middle = ~(series | asymptotic)
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
        n_terms = _lookup_asymptotic_terms(p, float(np.min(zl)))
        w = 1.0 / zl
        out[asymptotic] = (v + 0.5) * np.log(zl / (2.0 * math.pi)) - np.log1p(w * _horner(b_v[1:n_terms], w))
    zm = z[middle]
    if zm.size:
        out[middle] = v * np.log(zm) - 0.5 * p * math.log(2.0 * math.pi) - np.log(special.ive(v, zm))
    return out


# -- sampling -------------------------------------------------------------------------------------
# Candidates of Wood's rejection sampler taken from each row's own uniforms. Its acceptance
# probability is at least 0.658 for every p >= 2 and kappa >= 0 (measured by simulation, 4e5 draws
# per point on kappa in [1e-3, 1e8] and p in {2, 3, 4, 5, 8, 16, 65}: it falls from 1 at kappa = 0
# to 0.658 for p = 2 and 0.68-0.71 for p >= 3 as kappa -> infinity), so all 6 candidates are
# rejected with probability <= 0.342^6 = 1.6e-3; such a row continues on a generator of its own
# (see :func:`from_uniforms`).
WOOD_CANDIDATES = 6
# Candidates drawn at a time by a row's own generator once its first WOOD_CANDIDATES are rejected.
_EXTRA_CANDIDATES = 8
# Generator.random returns k 2^-53 for an integer 0 <= k < 2^53: k seeds a row's own generator.
_RANDOM_BITS = 53
# Tolerance on | |mean_direction_i| - 1 | accepted by :func:`sample` (the rows are renormalized).
UNIT_NORM_TOL = 1e-8
# Concentrations from which a draw is the mean itself: its angle from the mean is about
# sqrt((p - 1) / kappa) < 1e-149 there, far below the rounding of the coordinates of order 1; below,
# Wood's b ~ (p - 1) / (4 kappa) and e^-kappa-free forms of the inverse CDF stay normal floats.
POINT_MASS_KAPPA = 1e300


def draws_per_row(p: int) -> int:
    """Uniforms :func:`from_uniforms` consumes per row on S^{p-1}.

    p = 3: one for the cosine along the mean (inverse CDF) and p - 1 = 2 for the orthogonal
    direction. Other p: WOOD_CANDIDATES candidates of Wood's sampler (each a symmetric Beta draw,
    one uniform for p = 2 and p normal quantiles otherwise, and one uniform for the acceptance test),
    p - 1 for the orthogonal direction and one seed for the rows whose candidates are all rejected.
    """
    if p == 3:
        return 1 + (p - 1)
    return WOOD_CANDIDATES * _candidate_width(p) + (p - 1) + 1


def _candidate_width(p: int) -> int:
    return 2 if p == 2 else p + 1


def _cosine_p3(kappa: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 - w, 1 + w) for the cosine w = nu . x of x ~ vMF(nu, kappa) on S^2, by the inverse CDF.

    The law of w has density kappa e^{kappa w} / (2 sinh kappa) on [-1, 1], so with u uniform on
    (0, 1], w = 1 + log(1 - y) / kappa, y = (1 - u)(1 - e^{-2 kappa}) in [0, 1). 1 - w = -log(1 - y) / kappa
    is formed as -log1p(-y) / kappa where y <= 1/2 (y from -expm1(-2 kappa), both factors to full
    relative precision) and as -log(u + (1 - u) e^{-2 kappa}) / kappa where y > 1/2 (a sum of two
    positive terms, no cancellation), so it keeps its relative precision for every u and kappa > 0;
    kappa = 0 gives the limit 2 (1 - u).
    """
    u = open_uniforms(u)
    one_minus_u = 1.0 - u
    positive = kappa > 0.0
    safe = np.where(positive, kappa, 1.0)
    y = one_minus_u * -np.expm1(-2.0 * safe)
    near_one = y > 0.5
    log_rest = np.empty_like(y)  # log(1 - y)
    log_rest[~near_one] = np.log1p(-y[~near_one])
    log_rest[near_one] = np.log(u[near_one] + one_minus_u[near_one] * np.exp(-2.0 * safe[near_one]))
    one_minus_w = np.where(positive, -log_rest / safe, 2.0 * one_minus_u)
    np.clip(one_minus_w, 0.0, 2.0, out=one_minus_w)
    return one_minus_w, 2.0 - one_minus_w


def _wood_candidates(p: int, kappa: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wood's (1994) rejection step for the cosine w = nu . x of x ~ vMF(nu, kappa) on S^{p-1}.

    kappa : (n,), u : (n, c, _candidate_width(p)) uniforms for c candidates per row. Returns
    (1 - w, 1 + w, accepted), each (n, c). With b = (p - 1) / (2 kappa + sqrt(4 kappa^2 + (p - 1)^2)),
    x0 = (1 - b)/(1 + b) and Z ~ Beta((p - 1)/2, (p - 1)/2), the candidate
    W = (1 - (1 + b) Z) / (1 - (1 - b) Z) is accepted when
    kappa (W - x0) + (p - 1) (log(1 - x0 W) - log(1 - x0^2)) >= log U. Every term is formed from
    the small quantities b, 1 - W = 2 b Z / (1 - (1 - b) Z) and 1 - x0 = 2 b / (1 + b), so that no
    digits are lost when kappa is large (W and x0 near 1). Z = (1 + t)/2 with t the first coordinate
    of a uniform direction of R^p (t = -cos(pi U) for p = 2, g_1 / |g| for p normal quantiles g).
    """
    kappa = kappa[:, None]
    b = (p - 1) / (2.0 * kappa + np.hypot(2.0 * kappa, p - 1))
    if p == 2:
        half_angle = 0.5 * np.pi * u[..., 0]
        z, one_minus_z = np.sin(half_angle) ** 2, np.cos(half_angle) ** 2
    else:
        g = normal_quantiles(u[..., :p])
        g1 = g[..., 0]
        norm = np.sqrt(np.einsum("...j,...j->...", g, g))
        rest = np.einsum("...j,...j->...", g[..., 1:], g[..., 1:])
        # (1 + t)/2 and (1 - t)/2 with t = g1 / |g|, each without cancellation
        near = rest / (2.0 * norm * (norm + np.abs(g1)))
        far = (norm + np.abs(g1)) / (2.0 * norm)
        z = np.where(g1 <= 0.0, near, far)
        one_minus_z = np.where(g1 <= 0.0, far, near)
    denominator = one_minus_z + b * z  # 1 - (1 - b) Z
    one_minus_w = 2.0 * b * z / denominator
    one_plus_w = 2.0 * one_minus_z / denominator
    one_minus_x0 = 2.0 * b / (1.0 + b)
    x0 = (1.0 - b) / (1.0 + b)
    log_envelope = np.log(4.0 * b) - 2.0 * np.log1p(b)  # log(1 - x0^2)
    log_target = np.log(one_minus_x0 + x0 * one_minus_w)
    accepted = (kappa * (one_minus_x0 - one_minus_w) + (p - 1) * (log_target - log_envelope)
                >= np.log(open_uniforms(u[..., -1])))
    return one_minus_w, one_plus_w, accepted


def _cosine_wood(p: int, kappa: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 - w, 1 + w) by Wood's sampler: the first accepted of the row's WOOD_CANDIDATES candidates,
    else the first accepted candidate from ``numpy.random.default_rng(k)``, k the row's seed
    uniform times 2^53 (an integer), drawn _EXTRA_CANDIDATES at a time. kappa : (n,), u : (n,
    WOOD_CANDIDATES * _candidate_width(p) + 1) -> (n,), (n,)."""
    n, width = kappa.shape[0], _candidate_width(p)
    candidates = u[:, :-1].reshape(n, WOOD_CANDIDATES, width)
    one_minus_w, one_plus_w, accepted = _wood_candidates(p, kappa, candidates)
    first = np.argmax(accepted, axis=1)
    rows = np.arange(n)
    out_minus, out_plus = one_minus_w[rows, first], one_plus_w[rows, first]
    for i in np.flatnonzero(~accepted.any(axis=1)):
        own = np.random.default_rng(int(u[i, -1] * 2.0**_RANDOM_BITS))
        while True:
            draws = own.random((1, _EXTRA_CANDIDATES, width))
            minus, plus, ok = _wood_candidates(p, kappa[i:i + 1], draws)
            if ok.any():
                j = int(np.argmax(ok[0]))
                out_minus[i], out_plus[i] = minus[0, j], plus[0, j]
                break
    return out_minus, out_plus


def _orthogonal_directions(mean: np.ndarray, v: np.ndarray) -> np.ndarray:
    """R_i (0, v_i) for an orthogonal R_i with R_i e_1 = mean_i: unit vectors orthogonal to mean_i,
    uniform on that sphere when v_i is uniform on S^{p-2}. mean : (n, p), v : (n, p - 1) -> (n, p).

    R = s H with the Householder reflection H = I - 2 h h^T / |h|^2, h = e_1 - s mean and s = 1 if
    mean_1 <= 0 else -1, so that |h|^2 = 2 (1 - s mean_1) >= 2. Applied to (0, v) it adds
    2 s h (mean[1:] . v) / |h|^2 to (0, v): terms of order one, so every coordinate of the result is
    accurate to a few eps (the small orthogonal part of a concentrated draw is scaled only afterwards).
    """
    s = np.where(mean[:, 0] <= 0.0, 1.0, -1.0)
    h = -s[:, None] * mean
    h[:, 0] += 1.0
    coefficient = 2.0 * s * np.einsum("ij,ij->i", mean[:, 1:], v) / np.einsum("ij,ij->i", h, h)
    out = coefficient[:, None] * h
    out[:, 1:] += v
    out *= s[:, None]
    return out


def from_uniforms(mean_direction: np.ndarray, kappa: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One draw of vMF(mean_direction_i, kappa_i) on S^{p-1} per row, from the row's uniforms.

    mean_direction : (n, p) unit rows; kappa : (n,) >= 0 (from POINT_MASS_KAPPA on, +inf included,
    the draw is the mean);
    u : (n, draws_per_row(p)) from ``Generator.random``. Returns (n, p).

    x = w nu + sqrt((1 - w)(1 + w)) R (0, v), with the cosine w along the mean from the inverse CDF
    (p = 3) or Wood's (1994) rejection sampler (other p), v = g / |g| uniform on S^{p-2} from p - 1
    normal quantiles, and R an orthogonal map with R e_1 = nu. 1 - w and 1 + w are formed directly,
    so the spread of a concentrated law keeps its relative precision. Each row uses only its own uniforms (and,
    where Wood's candidates are all rejected, a generator seeded by its own last uniform), so a
    row's draw does not depend on the other rows. kappa = 0 is the uniform law.
    """
    n, p = mean_direction.shape
    point_mass = kappa >= POINT_MASS_KAPPA
    kappa = np.where(point_mass, 1.0, kappa)  # the point-mass rows are overwritten below
    if p == 3:
        one_minus_w, one_plus_w = _cosine_p3(kappa, u[:, 0])
        orthogonal = u[:, 1:p]
    else:
        wood = WOOD_CANDIDATES * _candidate_width(p)
        one_minus_w, one_plus_w = _cosine_wood(p, kappa, np.concatenate([u[:, :wood], u[:, -1:]], axis=1))
        orthogonal = u[:, wood:wood + p - 1]
    g = normal_quantiles(orthogonal)
    g /= np.sqrt(np.einsum("ij,ij->i", g, g))[:, None]
    w = np.where(one_minus_w <= 1.0, 1.0 - one_minus_w, one_plus_w - 1.0)
    out = _orthogonal_directions(mean_direction, g)
    out *= np.sqrt(one_minus_w * one_plus_w)[:, None]
    out += w[:, None] * mean_direction
    out[point_mass] = mean_direction[point_mass]
    return out


def sample(mean_direction: np.ndarray, kappa: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of vMF(mean_direction_i, kappa_i) on the unit sphere S^{p-1} of R^p per row.

    mean_direction : array_like, shape (n, p), p >= 2, rows of unit norm (within 1e-8; renormalized).
    kappa : array_like, shape (n,), each >= 0 (0: the uniform law) or +inf (a point mass at the mean;
    so is every kappa >= POINT_MASS_KAPPA = 1e300, where the spread is far below rounding).
    rng : numpy.random.Generator. Returns ndarray, shape (n, p).

    Unlike ``scipy.stats.vonmises_fisher`` every row has its own mean and concentration. The draws
    come from ``rng.random((n, draws_per_row(p)))`` taken in row order (in blocks of at most
    DRAW_BLOCK_ELEMENTS), row i from its own row of uniforms (:func:`from_uniforms`): splitting the
    rows into consecutive calls on the same ``rng`` gives the same draws. Source: Wood (1994),
    Simulation of the von Mises Fisher distribution, Comm. Statist. Simulation Comput. 23(1).
    """
    mean = np.asarray(mean_direction, dtype=np.float64)
    if mean.ndim != 2 or mean.shape[1] < 2:
        raise ValueError(f"mean_direction must have shape (n, p) with p >= 2, got {mean.shape}")
    n, p = mean.shape
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"mean_direction must be finite, got {int(np.sum(~np.isfinite(mean)))} NaN/inf entries")
    norms = np.sqrt(np.einsum("ij,ij->i", mean, mean))
    if n and not np.all(np.abs(norms - 1.0) <= UNIT_NORM_TOL):
        worst = int(np.argmax(np.abs(norms - 1.0)))
        raise ValueError(f"mean_direction must have rows of unit norm (| |row| - 1 | <= {UNIT_NORM_TOL}), "
                         f"got norm {float(norms[worst])!r} in row {worst}")
    kappa = np.asarray(kappa, dtype=np.float64)
    if kappa.shape != (n,):
        raise ValueError(f"kappa must have shape ({n},), got {kappa.shape}")
    if not np.all(kappa >= 0.0):  # also catches NaN
        raise ValueError(f"kappa must be >= 0 or +inf, got min {float(np.min(kappa))!r}")
    rng = _validate.generator(rng)
    mean = mean / norms[:, None] if n else mean
    width = draws_per_row(p)
    out = np.empty((n, p))
    step = max(1, DRAW_BLOCK_ELEMENTS // width)
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        out[rows] = from_uniforms(mean[rows], kappa[rows], rng.random((rows.stop - rows.start, width)))
    return out


# -- masses of cells ------------------------------------------------------------------------------
# Requested absolute accuracy of the quadratures behind the cell masses, and the largest error
# estimate accepted from scipy.integrate.quad (QUADPACK's Gauss-Kronrod, adaptive): a mass whose
# estimate exceeds MASS_QUADRATURE_TOL raises instead of being returned.
_QUAD_EPSABS = 1e-13
MASS_QUADRATURE_TOL = 1e-11
_QUAD_LIMIT = 200
# Beyond t = 745, e^{-t} underflows to 0: the exponential weights below are integrated up to here.
_EXP_UNDERFLOW_T = 745.0


def _quad(f, lo: float, hi: float, points: list[float]) -> float:
    inner = sorted(pt for pt in points if lo < pt < hi)
    with warnings.catch_warnings():  # QUADPACK warns when it cannot reach epsabs; its estimate decides
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, error = integrate.quad(f, lo, hi, points=inner or None, epsabs=_QUAD_EPSABS, epsrel=0.0,
                                      limit=_QUAD_LIMIT)
    if not error <= MASS_QUADRATURE_TOL:
        raise ArithmeticError(f"quadrature of a vMF cell mass did not converge: error estimate {error:.3g} "
                              f"above {MASS_QUADRATURE_TOL:g}")
    return value


def arc_masses(angle: float, kappa: float, edges: np.ndarray) -> np.ndarray:
    """vMF masses of the arcs [edges_j, edges_{j+1}) of the circle S^1, mean at angle ``angle``.

    edges : (m + 1,) increasing angles spanning at most 2 pi. Returns (m,): the integrals of the
    von Mises density e^{kappa (cos(theta - angle) - 1)} / (2 pi ive(0, kappa)) over each arc, by
    adaptive quadrature with a breakpoint at every copy of the mode inside the arc (error estimate
    <= MASS_QUADRATURE_TOL each; ``scipy.stats.vonmises.cdf`` is only ~1e-6 accurate at kappa = 100).
    """
    if kappa == 0.0:
        return np.diff(edges) / (2.0 * math.pi)
    scale = 1.0 / (2.0 * math.pi * float(special.ive(0, kappa)))

    def density(theta: float) -> float:
        return scale * math.exp(kappa * (math.cos(theta - angle) - 1.0))

    modes = [angle + 2.0 * math.pi * j for j in range(-2, 3)]
    return np.array([_quad(density, float(a), float(b), modes) for a, b in zip(edges[:-1], edges[1:])])


def _arc_intersection_length(arcs: list[tuple[float, float]]) -> float:
    """Length of the intersection of arcs of the unit circle, each (center, half-width): the angles
    psi with |psi - center| <= half (mod 2 pi); half >= pi is the whole circle, half < 0 the empty set."""
    two_pi = 2.0 * math.pi
    pieces = [(0.0, two_pi)]
    for center, half in arcs:
        if half < 0.0:
            return 0.0
        if half >= math.pi:
            continue
        start = (center - half) % two_pi
        stop = start + 2.0 * half
        arc = [(start, stop)] if stop <= two_pi else [(start, two_pi), (0.0, stop - two_pi)]
        pieces = [(max(a, c), min(b, e)) for a, b in pieces for c, e in arc if min(b, e) > max(a, c)]
        if not pieces:
            return 0.0
    return sum(b - a for a, b in pieces)


def orthant_masses_s2(direction: np.ndarray, kappa: float) -> np.ndarray:
    """vMF(direction, kappa) masses of the 8 orthants of R^3 on S^2, shape (8,).

    Orthant c holds the u with u_j > 0 exactly for the bits j of c (u_j < 0 for the others). The
    cosine w = nu . u has density kappa e^{kappa (w - 1)} / (1 - e^{-2 kappa}) and, given w, u is
    uniform on the circle w nu + sqrt(1 - w^2) (cos psi a + sin psi b) ({a, b} a basis of nu^perp),
    of which the orthant holds a set of arcs of total length L_c(w) (the intersection of three arcs
    sigma_j (w nu_j + sqrt(1 - w^2) rho_j cos(psi - phi_j)) > 0). So with t = kappa (1 - w)

        mass_c = int_0^{2 kappa} e^{-t} / (1 - e^{-2 kappa}) L_c(1 - t/kappa) / (2 pi) dt,

    by adaptive quadrature with breakpoints where a circle touches a coordinate plane (w = +-rho_j,
    the kinks of L_c); error estimate <= MASS_QUADRATURE_TOL each (our derivation).
    """
    nu = [float(v) for v in np.asarray(direction, dtype=np.float64)]
    if kappa == 0.0:
        return np.full(8, 0.125)
    frame = _orthogonal_directions(np.tile(nu, (2, 1)), np.eye(2))  # a and b, rows
    rho = [math.hypot(a, b) for a, b in zip(frame[0], frame[1])]
    phi = [math.atan2(b, a) for a, b in zip(frame[0], frame[1])]
    upper = min(2.0 * kappa, _EXP_UNDERFLOW_T)
    normalizer = -math.expm1(-2.0 * kappa)
    kinks = [kappa * (1.0 - s * r) for r in rho for s in (1.0, -1.0)]
    out = np.empty(8)
    for cell in range(8):
        signs = [1.0 if cell >> j & 1 else -1.0 for j in range(3)]

        def integrand(t: float, signs=signs) -> float:
            w = 1.0 - t / kappa
            s = math.sqrt(max((t / kappa) * (2.0 - t / kappa), 0.0))  # sqrt((1 - w)(1 + w))
            arcs = []
            for sign, nu_j, rho_j, phi_j in zip(signs, nu, rho, phi):
                # sigma_j (w nu_j + s rho_j cos(psi - phi_j)) > 0, i.e. cos(psi - center) > c
                center = phi_j if sign > 0.0 else phi_j + math.pi
                if rho_j * s > 0.0:
                    c = -sign * w * nu_j / (s * rho_j)
                    arcs.append((center, -1.0 if c >= 1.0 else math.acos(max(c, -1.0))))
                else:
                    arcs.append((center, math.pi if sign * w * nu_j > 0.0 else -1.0))
            return math.exp(-t) / normalizer * _arc_intersection_length(arcs) / (2.0 * math.pi)

        out[cell] = _quad(integrand, 0.0, upper, kinks)
    return out
