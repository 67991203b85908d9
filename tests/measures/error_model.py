"""The error model shared by the measure tests: rounding scales, local length scales and the
accuracy of the special-function kernels, from which the tests derive their tolerances.

Every bound here is a gamma_n-style bound (any summation order, so any BLAS kernel); the tests
that use them explain how each enters.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from theory import Measure, Mixture, PointCloud, Product, Sphere, Subspace

EPS = np.finfo(np.float64).eps
TINY = np.finfo(np.float64).tiny  # the smallest normal float64, 2.2e-308

# References are computed at 50 significant digits (mpmath.workdps, which leaves the global
# precision of other test modules alone); comparisons with float results need no more than 53 bits.
MP_DIGITS = 50

# Relative accuracy the vMF kernels (theory/measures/vmf.py) must reach (measured: <= 3.4e-15 for
# p <= 33, <= 8e-14 for p = 64-65, where scipy's ive carries the middle region): 1e-13 leaves a
# margin without hiding a lost digit.
# No BLAS product is involved; the machine-dependent parts are NumPy's exp/log/log1p (SIMD paths that
# may differ in the last ulp) and scipy's ive, and since every branch sums terms that cancel by at
# most _MAX_CANCELLATION = 8, a last-ulp change moves a kernel by at most ~8 eps = 1.8e-15, inside
# the margin. Measured: the same maxima with NumPy's AVX-512, AVX2 and SSE4.2 paths.
KERNEL_RTOL = 1e-13


def norms(x: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows of x, shape (n,), by np.hypot.reduce: a sum of squares underflows
    to 0 for entries below 1e-154 and would make a rounding bound built on it 0."""
    return np.hypot.reduce(np.asarray(x, dtype=np.float64), axis=1)


def support_radius(measure: Measure) -> float:
    """R with |x0| <= R for the points x0 that enter log p_t's terms (rounding scale)."""
    if isinstance(measure, PointCloud):
        return float(np.max(norms(measure.points)))
    if isinstance(measure, Subspace):
        return float(np.linalg.norm(measure.mean))
    if isinstance(measure, Sphere):
        return float(np.linalg.norm(measure.center)) + measure.radius
    if isinstance(measure, Product):
        return float(np.hypot.reduce([support_radius(f) for f in measure.factors]))
    if isinstance(measure, Mixture):
        return max(support_radius(c) for c in measure.components)
    raise NotImplementedError(type(measure).__name__)


def posterior_extent(measure: Measure, t: float, x: np.ndarray, process) -> np.ndarray:
    """L(x), shape (n,): the part of the posterior spread of X_0 | X_t = x that is not Gaussian.

    For a direction e, Y = e . X_0 under the posterior is a mixture over components J of a law
    with bounded support of width L_J (point clouds: their diameter; spheres: 2 r) or a Gaussian of standard
    deviation <= sigma / alpha (subspaces), with component means at most Delta(x) apart (Delta =
    0 unless mu is a Mixture: the spread of the components' denoisers). L(x) = Delta(x) + max L_J.
    """
    n = x.shape[0]
    if isinstance(measure, PointCloud):
        diameter = float(np.max(pdist(measure.points))) if measure.size > 1 else 0.0
        return np.full(n, diameter)
    if isinstance(measure, Subspace):
        return np.zeros(n)
    if isinstance(measure, Sphere):
        return np.full(n, 2.0 * measure.radius)
    if isinstance(measure, Product):
        z = x if measure.rotation is None else x @ measure.rotation
        bounds = np.cumsum([0] + [f.d for f in measure.factors])
        return np.max([posterior_extent(f, t, z[:, a:b], process)
                       for f, a, b in zip(measure.factors, bounds[:-1], bounds[1:])], axis=0)
    if isinstance(measure, Mixture):
        means = np.stack([c.denoise(t, x, process=process) for c in measure.components])  # (m, n, d)
        spread = np.max(np.linalg.norm(means[:, None] - means[None, :], axis=-1), axis=(0, 1))
        return spread + np.max([posterior_extent(c, t, x, process) for c in measure.components], axis=0)
    raise NotImplementedError(type(measure).__name__)


def local_scale(measure: Measure, t: float, x: np.ndarray, process) -> np.ndarray:
    """ell(x) = sigma^2 / (sigma + alpha L(x)): the length scale on which log p_t bends, shape (n,)."""
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    return var / (np.sqrt(var) + alpha * posterior_extent(measure, t, x, process))


def rounding_scale(measure: Measure, t: float, x: np.ndarray, process, log_p: np.ndarray) -> np.ndarray:
    """S(x): the magnitude of the terms summed to form log p_t(x), shape (n,).

    (|x| + alpha R)^2 / sigma^2 bounds the quadratic terms (they may cancel), d |log(2 pi sigma^2)|
    the normalization, |log p| the result, 10 the log-weights and log-determinants of bounded
    spectra, and ``special_function_scale`` the less accurate Bessel kernels of spheres.
    """
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    radius = np.linalg.norm(x, axis=1) + alpha * support_radius(measure)
    return (radius**2 / var + measure.d * abs(np.log(2 * np.pi * var)) + np.abs(log_p) + 10.0
            + special_function_scale(measure, alpha, var, np.linalg.norm(x, axis=1)))


# The accuracy KERNEL_RTOL of the sphere's Bessel-ratio kernels in units of eps.
SPHERE_KERNEL_UNITS = KERNEL_RTOL / EPS


def special_function_scale(measure: Measure, alpha: float, var: float, xnorm: np.ndarray) -> np.ndarray:
    """Extra rounding scale of the sphere's log-normalizer ell(|m|), shape (n,) (0 without spheres).

    ell(z) = log C_p(z) + z grows like ((p - 1)/2) log z, so |ell(|m|)| <= p (log(2 + |m|) + 2) with
    |m| <= kappa + alpha r (|x| + alpha |c|) / sigma^2 (|x| bounds every block of a product); it is
    evaluated to 1e-13 relative, SPHERE_KERNEL_UNITS eps, so it counts SPHERE_KERNEL_UNITS / c times.
    """
    if isinstance(measure, Sphere):
        m_norm = measure.kappa + alpha * measure.radius * (xnorm + alpha * np.linalg.norm(measure.center)) / var
        return SPHERE_KERNEL_UNITS / rounding_units(measure.d) * (measure.k + 1) * (np.log(2 + m_norm) + 2)
    parts = getattr(measure, "factors", None) or getattr(measure, "components", None) or ()
    return sum((special_function_scale(part, alpha, var, xnorm) for part in parts), np.zeros_like(xnorm))


def l1_norm(v: np.ndarray) -> np.ndarray:
    """sum_j |v_ij|, shape (n,): >= the Euclidean norm and free of the underflow of squares."""
    return np.abs(v).sum(axis=1)


# Unit roundings per evaluation of log p_t in the standard model: a length-d dot product costs at
# most d (gamma_d), the sums, exp, log and log-sum-exp over components a few more each.
def rounding_units(d: int) -> float:
    return 4.0 * (d + 4)
