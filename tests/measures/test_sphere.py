"""Tests of the k-sphere measure, uniform and von Mises-Fisher (theory/measures/sphere.py, CLAIMS.md §2).

Deterministic laws (score = grad log p_t, Tweedie, geometry) are Hypothesis properties with bounded
strategies; independent evaluations (quadrature over the sphere, Monte Carlo posterior means,
mpmath at 50 digits) check the closed forms themselves; statistical tests of the samplers use
fixed seeds and state alpha and n.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from scipy import integrate, special, stats

import strategies as sts
from error_model import EPS, KERNEL_RTOL, MP_DIGITS
from laws import law_statistics
from finite_differences import assert_score_is_gradient
from theory import OU, VE, VP, Sphere
from theory.measures import vmf




# -- error model (as in error_model.py, with the sphere's constants) ---------------------------------
def local_scale(sphere: Sphere, alpha: float, var: float) -> float:
    """ell = sigma^2 / (sigma + alpha L), L = 2 r the diameter of the support of X_0 | X_t.

    |d_e^3 log p_t| = (alpha/sigma^2)^3 |kappa_3(e . X_0 | X_t)| <= (alpha/sigma^2)^3 (2 r)^3 <= 10.4 / ell^3.
    """
    return var / (math.sqrt(var) + 2.0 * alpha * sphere.radius)


def rounding_scale(sphere: Sphere, x: np.ndarray, alpha: float, var: float, log_p: np.ndarray) -> np.ndarray:
    """S(x): magnitude of the terms summed into log p_t(x), shape (n,): the quadratic terms, the
    normalization, the result, 10 + |ell(kappa)| for the vMF log-normalizers, and the log-normalizer
    ell(|m|), which is accurate to KERNEL_RTOL (not to a few eps): |ell(z)| <= p (log(2 + z) + 2)
    with |m| <= kappa + alpha r (|x| + alpha |c|) / sigma^2, counted KERNEL_RTOL / (c eps) times."""
    xnorm = np.linalg.norm(x, axis=1)
    radius = xnorm + alpha * (np.linalg.norm(sphere.center) + sphere.radius)
    ell_kappa = abs(float(vmf.log_normalizer(sphere.k + 1, np.array([sphere.kappa]))[0]))
    m_norm = sphere.kappa + alpha * sphere.radius * (xnorm + alpha * np.linalg.norm(sphere.center)) / var
    kernel = KERNEL_RTOL / (rounding_units(sphere.d) * EPS) * (sphere.k + 1) * (np.log(2 + m_norm) + 2)
    return radius**2 / var + sphere.d * abs(math.log(2 * math.pi * var)) + np.abs(log_p) + 10.0 + ell_kappa + kernel


def rounding_units(d: int) -> float:
    """Unit roundings per log p_t evaluation: a length-d dot product (gamma_d: d, in any summation
    order, so for any BLAS kernel) and a few sums and elementwise functions."""
    return 4.0 * (d + 4)


# -- 2. score == gradient of log p_t ------------------------------------------------------------------
@given(sts.sphere_cases())
def test_score_is_gradient_of_log_density(case):
    """score(t, x) equals grad_x log_density(t, x) by central differences, within a derived bound.

    For each coordinate e_j, D_j = (log p(x + h e_j) - log p(x - h e_j)) / (2h) (h taken exactly as
    half the difference of the rounded abscissae) satisfies

        |D_j - s_j| <= 1.74 h^2 / ell^3 + c eps S / h + 3 eps (|x| + h) / ell^2.

    Truncation: (h^2 / 6) |d^3 log p| with |d^3 log p| <= 10.4 / ell^3, because the third derivative
    is (alpha / sigma^2)^3 times the third cumulant of e . X_0 under the posterior, whose support
    has diameter <= 2r (``local_scale``). Rounding: each log p evaluation is off by <= c eps S
    (S the size of the summed terms, ``rounding_scale``; c = 4 (d + 4)). Centre: x +- h rounds, a
    shift of <= eps (|x| + h) / 2, times |d^2 log p| <= 3 / ell^2. h = eta ell with
    eta = (c eps S / 4)^(1/3) in [1e-6, 1e-2] balances the first two terms: the relative bound is
    about 3 (c eps S)^(2/3) / (ell |s|), ~1e-9 for |x| = 1e3 at t = 1e-4 and ~1e-6 near M.
    Covers k = 1, 2, 3 in d <= 5, uniform and vMF, t in [1e-4, 10], OU, VP and VE, points on,
    near and far (|x| <= 1e3) from M.
    """
    m, process, t, x = case.measure, case.process, case.t, case.x
    alpha, var = case.alpha, case.var
    score = m.score(t, x, process=process)
    log_p = m.log_density(t, x, process=process)
    ell = local_scale(m, alpha, var)
    size = rounding_scale(m, x, alpha, var, log_p)
    c = rounding_units(m.d)
    assert_score_is_gradient(m, process, t, x, score, ell=ell, size=size, c=c, context=case)


@given(sts.sphere_cases(t_max=2.0))
def test_score_agrees_with_tweedie(case):
    """The direct score equals Tweedie (alpha denoise - x) / sigma^2 (CLAIMS.md §1).

    The two are computed differently (the score never forms alpha D - x) from the same coordinates
    u = Q^T y and the same kernel outputs (A_p/|m| and 1 - A_p come from one evaluation, so they are
    consistent to a few roundings whatever the kernels' accuracy). They differ by the rounding of
    Tweedie's difference (2 eps), of the two products back to R^d (gamma_d and gamma_p, in any
    summation order) and of a few elementwise steps: <= (2 d + 8) eps (|x| + alpha (|c| + r)) / sigma^2
    per coordinate.
    """
    m, process, t, x = case.measure, case.process, case.t, case.x
    alpha, var = case.alpha, case.var
    score = m.score(t, x, process=process)
    tweedie = (alpha * m.denoise(t, x, process=process) - x) / var
    scale = (np.linalg.norm(x, axis=1) + alpha * (np.linalg.norm(m.center) + m.radius)) / var
    assert np.all(np.abs(score - tweedie) <= (2 * m.d + 8) * EPS * scale[:, None]), case


# -- 3. independent evaluation by quadrature ------------------------------------------------------
@mpmath.workdps(MP_DIGITS)
def log_vmf_normalizer_mp(p: int, kappa: float) -> float:
    """log C_p(kappa) (w.r.t. surface area) from mpmath: C_p(0) = Gamma(p/2) / (2 pi^(p/2))."""
    if kappa == 0.0:
        return float(mpmath.log(mpmath.gamma(mpmath.mpf(p) / 2) / (2 * mpmath.pi ** (mpmath.mpf(p) / 2))))
    v = mpmath.mpf(p) / 2 - 1
    return float(v * mpmath.log(kappa) - (mpmath.mpf(p) / 2) * mpmath.log(2 * mpmath.pi)
                 - mpmath.log(mpmath.besseli(v, kappa)))


def quadrature_circle(sphere: Sphere, x: np.ndarray, alpha: float, var: float) -> tuple[float, np.ndarray]:
    """(log p_t(x), E[X_0 | x]) for k = 1 by scipy.integrate.quad over the angle (about 1e-13)."""
    c, r, frame = sphere.center, sphere.radius, sphere.frame
    nu = sphere.direction if sphere.kappa > 0 else np.zeros(2)

    def point(theta):
        return c + r * (frame[:, 0] * np.cos(theta) + frame[:, 1] * np.sin(theta))

    def exponent(theta):
        diff = x - alpha * point(theta)
        return -diff @ diff / (2 * var) + sphere.kappa * (nu[0] * np.cos(theta) + nu[1] * np.sin(theta))

    grid = np.linspace(0.0, 2 * np.pi, 2001)
    top = max(exponent(th) for th in grid)
    weight = lambda th: math.exp(exponent(th) - top)  # noqa: E731
    # The weight is <= 1 with maximum 1, so its integral is >= ~sigma / (alpha r): absolute
    # tolerances 1e-14 (mass) and 1e-14 (|c| + r) (first moments) are relative ~1e-13 or better.
    mass = integrate.quad(weight, 0.0, 2 * np.pi, epsabs=1e-14, epsrel=1e-13, limit=500)[0]
    scale = np.linalg.norm(c) + r
    mean = np.array([integrate.quad(lambda th: point(th)[j] * weight(th), 0.0, 2 * np.pi,
                                    epsabs=1e-14 * scale, epsrel=1e-13, limit=500)[0]
                     for j in range(sphere.d)]) / mass
    log_p = (-0.5 * sphere.d * math.log(2 * math.pi * var) + log_vmf_normalizer_mp(2, sphere.kappa) + top
             + math.log(mass))
    return log_p, mean


# Agreement required of the two quadrature grids: a tenth of test_matches_quadrature's tolerance
# (1e-10), so that the reference's own error cannot decide a comparison.
QUADRATURE_CONVERGED = 1e-11


@functools.lru_cache(maxsize=None)
def legendre_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [-1, 1] (computed once per n)."""
    return special.roots_legendre(n)


def quadrature_sphere(sphere: Sphere, x: np.ndarray, alpha: float, var: float,
                      n_nodes: int = 200) -> tuple[float, np.ndarray]:
    """(log p_t(x), E[X_0 | x]) for k = 2 on a tensor grid: Gauss-Legendre in s = cos(polar angle)
    (area element ds dphi) and the periodic trapezoid rule in phi, both geometrically convergent
    for the smooth integrand. Convergence is checked a posteriori: the n x n and 1.5n x 1.5n grids
    must agree to QUADRATURE_CONVERGED (relative; log p absolute), else the reference itself is not
    trusted. The weighted sums are correctly rounded (math.fsum), so no summation order (BLAS or
    other) enters; each weight carries the rounding of its exponent, <= 4 eps |exponent| <= 3e-13
    at the largest concentration here (~330), below the check."""

    def on_grid(n: int) -> tuple[float, np.ndarray]:
        s_nodes, s_weights = legendre_nodes(n)
        phi = np.arange(n) * (2 * np.pi / n)
        s_grid, phi_grid = np.meshgrid(s_nodes, phi, indexing="ij")
        rho = np.sqrt(1 - s_grid**2)
        u = np.stack([rho * np.cos(phi_grid), rho * np.sin(phi_grid), s_grid], axis=-1).reshape(-1, 3)
        area_weights = np.repeat(s_weights * (2 * np.pi / n), n)
        x0 = sphere.center + sphere.radius * u @ sphere.frame.T
        nu = sphere.direction if sphere.kappa > 0 else np.zeros(3)
        exponent = -np.sum((x - alpha * x0) ** 2, axis=1) / (2 * var) + sphere.kappa * (u @ nu)
        top = exponent.max()
        w = area_weights * np.exp(exponent - top)
        mass = math.fsum(w)
        log_p = (-0.5 * sphere.d * math.log(2 * math.pi * var) + log_vmf_normalizer_mp(3, sphere.kappa) + top
                 + math.log(mass))
        return log_p, np.array([math.fsum(w * x0[:, j]) for j in range(sphere.d)]) / mass

    coarse, fine = on_grid(n_nodes), on_grid(3 * n_nodes // 2)
    scale = np.linalg.norm(sphere.center) + sphere.radius
    assert abs(coarse[0] - fine[0]) <= QUADRATURE_CONVERGED * max(1.0, abs(fine[0])), "quadrature not converged"
    assert np.linalg.norm(coarse[1] - fine[1]) <= QUADRATURE_CONVERGED * scale, "quadrature not converged"
    return fine


QUADRATURE_CASES = [(k, kappa, t, process) for k in (1, 2) for kappa in (0.0, 5.0)
                    for t, process in ((0.05, OU()), (0.5, VP()), (2.0, OU()), (0.3, VE()))]


@pytest.mark.parametrize(("k", "kappa", "t", "process"), QUADRATURE_CASES)
def test_matches_quadrature(k, kappa, t, process):
    """log p_t, denoiser and score agree with quadrature over the sphere (independent of the
    Bessel closed forms): |Delta log p| <= 1e-10 max(1, |log p|), |Delta D| <= 1e-10 (|c| + r) and
    |Delta s| <= 1e-10 alpha (|c| + r) / sigma^2 (the denoiser error times alpha / sigma^2).

    The sphere has a random frame and center (seed 7), radius 1.3; the points are one on M, one at
    distance sigma(t), one at |x| = 4 and one near the center; t from 0.05 to 2 (OU, VP, VE) keeps
    the posterior concentration alpha r |z| / sigma^2 + kappa below ~330, where quad (k = 1) and
    the 300 x 300 grid (k = 2, checked against 200 x 200) are exact to rounding.
    """
    rng = np.random.default_rng(7)
    d = 4
    frame = sts.random_orthogonal(rng, d)[:, : k + 1]
    direction = sts.unit_vector(rng, k + 1) if kappa > 0 else None
    sphere = Sphere(k, d, radius=1.3, center=rng.uniform(-1, 1, d), frame=frame, kappa=kappa, direction=direction)
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    on = sphere.sample(1, rng)
    x = np.concatenate([on, on + math.sqrt(var) * sts.unit_vector(rng, d), 4.0 * sts.unit_vector(rng, d)[None],
                        sphere.center[None] + 0.01 * rng.standard_normal((1, d))])
    log_p = sphere.log_density(t, x, process=process)
    denoised = sphere.denoise(t, x, process=process)
    score = sphere.score(t, x, process=process)
    scale = np.linalg.norm(sphere.center) + sphere.radius
    quad = quadrature_circle if k == 1 else quadrature_sphere
    for i in range(x.shape[0]):
        ref_log_p, ref_mean = quad(sphere, x[i], alpha, var)
        assert abs(log_p[i] - ref_log_p) <= 1e-10 * max(1.0, abs(ref_log_p)), (i, log_p[i], ref_log_p)
        assert np.linalg.norm(denoised[i] - ref_mean) <= 1e-10 * scale, (i, denoised[i], ref_mean)
        ref_score = (alpha * ref_mean - x[i]) / var
        assert np.linalg.norm(score[i] - ref_score) <= 1e-10 * alpha * scale / var + 1e-12 * np.linalg.norm(ref_score)


# -- 4. denoiser against a Monte Carlo posterior mean -------------------------------------------------
# Each coordinate is compared with the importance-sampling estimate within Z_MAX standard errors:
# P(|Z| > 5) = 5.7e-7 per comparison, 12 per case and 48 over the 4 cases: false-failure rate <= 3e-5.
Z_MAX = 5.0


MC_N = 200_000


MC_SEED = 20260514


@pytest.mark.parametrize("kappa", [0.0, 4.0])
@pytest.mark.parametrize("t", [0.3, 1.0])
def test_denoise_matches_monte_carlo(kappa, t):
    """E[X_0 | X_t = x] against a self-normalized importance-sampling estimate.

    X_0^(i) ~ mu (n = 200000, seed 20260514), weights w_i ~ N(x; alpha X_0^(i), sigma^2 I); the
    estimate sum w_i X_0^(i) / sum w_i has standard error sqrt(sum w_i^2 (X_0^(i) - est)^2) / sum w_i
    (delta method, computed from the sample itself). Each of 3 points x 4 coordinates must lie
    within 5 standard errors (false-failure rate <= 7e-6 per case, <= 3e-5 over the 4 cases);
    the effective sample size is checked to be >= 1000 so that the normal approximation holds.
    """
    rng = np.random.default_rng(MC_SEED)
    d, k = 4, 2
    frame = sts.random_orthogonal(rng, d)[:, : k + 1]
    direction = sts.unit_vector(rng, k + 1) if kappa > 0 else None
    sphere = Sphere(k, d, radius=1.5, center=np.array([0.5, -0.2, 0.1, 0.0]), frame=frame, kappa=kappa,
                    direction=direction)
    process = OU()
    alpha, sigma = float(process.alpha(t)), float(process.sigma(t))
    samples = sphere.sample(MC_N, rng)
    x = process.sample(sphere.sample(3, rng), t, rng)
    denoised = sphere.denoise(t, x, process=process)
    for i in range(x.shape[0]):
        log_w = -np.sum((x[i] - alpha * samples) ** 2, axis=1) / (2 * sigma**2)
        w = np.exp(log_w - log_w.max())
        total = w.sum()
        estimate = (w @ samples) / total
        se = np.sqrt((w**2) @ (samples - estimate) ** 2) / total
        assert total**2 / np.sum(w**2) >= 1000
        assert np.all(np.abs(denoised[i] - estimate) <= Z_MAX * se), (i, denoised[i], estimate, se)


# -- 5. numerics at the extremes against mpmath ---------------------------------------------------------
def mp_reference(sphere: Sphere, x: np.ndarray, alpha: float, var: float,
                 digits: int = MP_DIGITS) -> tuple[float, np.ndarray]:
    """(log p_t(x), score) at ``digits`` digits (50 by default) from the unsimplified closed forms
    (module docstring): log p = -(d/2) log(2 pi var) - (|y|^2 + alpha^2 r^2)/(2 var) + log C_p(kappa)
    - log C_p(|m|) and score = (alpha (c + r A_p(|m|) F m/|m|) - x) / var, with x, alpha, var, c, F
    exactly the floats (F must be exactly orthonormal, e.g. the default frame) and nu the float
    direction normalized. These forms cancel terms of size ~|m|, so |m| = 1e305 needs ~330 digits."""
    with mpmath.workdps(digits):
        return _mp_reference(sphere, x, alpha, var)


def _mp_reference(sphere: Sphere, x: np.ndarray, alpha: float, var: float) -> tuple[float, np.ndarray]:
    p, d = sphere.k + 1, sphere.d
    v = mpmath.mpf(p) / 2 - 1
    mpf = mpmath.mpf
    xm = [mpf(float(e)) for e in x]
    a, s2, r = mpf(alpha), mpf(var), mpf(sphere.radius)
    c = [mpf(float(e)) for e in sphere.center]
    frame = [[mpf(float(e)) for e in row] for row in sphere.frame]
    y = [xm[i] - a * c[i] for i in range(d)]
    z = [mpmath.fsum(frame[i][j] * y[i] for i in range(d)) for j in range(p)]
    kappa = mpf(sphere.kappa)
    nu = [mpf(float(e)) for e in sphere.direction] if sphere.kappa > 0 else [mpf(0)] * p
    if sphere.kappa > 0:  # the float direction is unit only to rounding; kappa eps would show
        nu_norm = mpmath.sqrt(mpmath.fsum(e * e for e in nu))
        nu = [e / nu_norm for e in nu]
    m = [kappa * nu[j] + a * r * z[j] / s2 for j in range(p)]
    m_norm = mpmath.sqrt(mpmath.fsum(e * e for e in m))

    def log_c(zz):
        if zz == 0:
            return -mpmath.log(2 * mpmath.pi ** (mpf(p) / 2) / mpmath.gamma(mpf(p) / 2))
        return v * mpmath.log(zz) - (mpf(p) / 2) * mpmath.log(2 * mpmath.pi) - mpmath.log(mpmath.besseli(v, zz))

    log_p = (-(mpf(d) / 2) * mpmath.log(2 * mpmath.pi * s2) - (mpmath.fsum(e * e for e in y) + a**2 * r**2) / (2 * s2)
             + log_c(kappa) - log_c(m_norm))
    ratio = mpmath.besseli(v + 1, m_norm) / mpmath.besseli(v, m_norm) / m_norm if m_norm > 0 else 1 / mpf(p)
    mean = [c[i] + r * ratio * mpmath.fsum(frame[i][j] * m[j] for j in range(p)) for i in range(d)]
    score = [(a * mean[i] - xm[i]) / s2 for i in range(d)]
    return float(log_p), np.array([float(e) for e in score])


def extreme_points(sphere: Sphere, sigma: float) -> np.ndarray:
    """On M (at the vMF mode, the antipode and 90 degrees), at distance sigma outside, at |x| = 1e4,
    at the center (z = 0) and just off the center (float64 rows)."""
    c, r, frame = sphere.center, sphere.radius, sphere.frame
    p = sphere.k + 1
    mode = sphere.direction if sphere.kappa > 0 else np.eye(p)[0]
    side = np.eye(p)[np.argmin(np.abs(mode))]
    side = side - (side @ mode) * mode
    side /= np.linalg.norm(side)
    rows = [c + r * frame @ mode, c - r * frame @ mode, c + r * frame @ side,
            c + (r + sigma) * frame @ (0.6 * mode + 0.8 * side), 1e4 * np.ones(sphere.d) / math.sqrt(sphere.d),
            c.copy(), c + 1e-3 * np.ones(sphere.d)]
    return np.array(rows)


EXTREME_SPHERES = [
    Sphere(2, 5),
    Sphere(1, 3),
    Sphere(3, 5, radius=2.0, center=[1.0, 0.0, -1.0, 0.0, 0.5]),
    Sphere(2, 4, kappa=1e6, direction=[0.0, 0.6, 0.8]),
    Sphere(1, 2, kappa=1e6, direction=[1.0, 0.0]),
    Sphere(3, 5, kappa=50.0, direction=[0.5, 0.5, 0.5, 0.5]),
]


@pytest.mark.parametrize("sphere", EXTREME_SPHERES, ids=lambda s: f"k{s.k}d{s.d}kappa{s.kappa:g}")
@pytest.mark.parametrize("t", [1e-8, 1e-4, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extremes_match_mpmath(sphere, t, dtype):
    """Finite and accurate at t = 1e-8 (sigma^2 = 2e-8), |x| = 1e4, kappa = 1e6, float32 input.

    Reference: :func:`mp_reference` at 50 digits for the same (float-rounded) inputs. The allowed
    error is that of a backward-stable evaluation: a relative perturbation eps of x moves the score
    by up to eps |x| / sigma^2 (the Hessian of log p_t has norm ~1/sigma^2 across M) and log p by
    eps |x| |score|, plus the kernels' relative 1e-13 (the mpmath test above):
        |Delta s| <= 4 eps (|x| + |c| + r) / sigma^2 + 1e-13 |s|,
        |Delta log p| <= 4 eps ((|x| + |c| + r) |s| + |log p| + d |log sigma^2|).
    Measured: at most 0.09 (score) and 0.22 (log p) of these bounds (score relative error <= 2e-9
    at t = 1e-8, <= 1e-14 at t = 1; log p relative error <= 1e-12), the same with NumPy's AVX-512,
    AVX2 and SSE4.2 paths. These spheres have the standard frame, so no BLAS product is involved.
    A naive evaluation fails the log p bound by orders of magnitude near M:
    -(|y|^2 + alpha^2 r^2)/(2 sigma^2) + |m| cancels two numbers ~1/sigma^2 ~ 5e7,
    an absolute error ~1e-8 against a bound ~1e-13 (and exp(|m|) overflows outright).
    """
    process = OU()
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    x = extreme_points(sphere, math.sqrt(var)).astype(dtype)
    score = sphere.score(t, x, process=process)
    log_p = sphere.log_density(t, x, process=process)
    denoised = sphere.denoise(t, x, process=process)
    assert np.all(np.isfinite(score)) and np.all(np.isfinite(log_p)) and np.all(np.isfinite(denoised))
    assert score.dtype == np.float64
    scale = np.linalg.norm(sphere.center) + sphere.radius
    for i in range(x.shape[0]):
        ref_log_p, ref_score = mp_reference(sphere, x[i].astype(np.float64), alpha, var)
        size = np.linalg.norm(x[i].astype(np.float64)) + scale
        s_norm = np.linalg.norm(ref_score)
        assert np.linalg.norm(score[i] - ref_score) <= 4 * EPS * size / var + 1e-13 * s_norm, (i, score[i], ref_score)
        tol = 4 * EPS * (size * s_norm + abs(ref_log_p) + sphere.d * abs(math.log(var)))
        assert abs(log_p[i] - ref_log_p) <= tol, (i, log_p[i], ref_log_p, tol)


def test_score_on_the_sphere_at_tiny_t():
    """On M at t = 1e-8 the score is O(1) although sigma^2 = 2e-8: its radial part
    ((alpha r - |z|) - alpha r (1 - A_p(|m|))) / sigma^2 is (r t + (p - 1)/(2 |m|) ...)/sigma^2 ~
    r t / sigma^2 + (p - 1)/(2 r) = 0.5 + 1 for Sphere(2, 5), evaluated with 1 - A_p in closed form.
    Matches mpmath within the backward-stability bound 4 eps |x| / sigma^2 + 1e-13 |s|."""
    sphere = Sphere(2, 5)
    t = 1e-8
    process = OU()
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    x = np.array([[0.6, 0.8, 0.0, 0.0, 0.0]])
    score = sphere.score(t, x)[0]
    ref = mp_reference(sphere, x[0], alpha, var)[1]
    assert np.linalg.norm(ref) == pytest.approx(1.5, rel=1e-6)
    assert np.linalg.norm(score - ref) <= 4 * EPS * 1.0 / var + 1e-13 * np.linalg.norm(ref)


@pytest.mark.parametrize("sphere", [Sphere(1, 2), Sphere(2, 4, kappa=3.0, direction=[0.0, 0.0, 1.0])],
                         ids=["circle", "vmf"])
def test_alpha_underflow_gives_the_stationary_gaussian(sphere):
    """At VP(0.05, 16.693), t = 9.49, alpha(t) = 1.7e-163 and b^2 = (alpha r |z| / sigma^2)^2 underflows
    to 0: p_t is N(0, sigma^2 I) to rounding, log p = -(d/2) log(2 pi sigma^2) - |x|^2 / (2 sigma^2),
    and the score is -x / sigma^2 up to alpha r A_p(kappa) nu / sigma^2 ~ 1e-163 (regression: the
    series truncation once took log(0) here; found by Hypothesis).

    Tolerance: the standard frame involves no BLAS product; log p sums |x|^2 / (2 sigma^2), the
    normalization and ell(kappa) - ell(|m|) (|m| = kappa up to rounding), each term a few roundings
    (the log-normalizer a few more, KERNEL_RTOL at most), so 16 eps of the summed sizes; the score
    is a few roundings of -x / sigma^2 plus at most alpha r / sigma^2 (A_p <= 1).
    """
    process = VP(0.05, 16.693)
    t = 9.487735836358526
    var = float(process.sigma2(t))
    x = np.array([[0.6894138, -0.72436774] + [0.0] * (sphere.d - 2), [0.0] * sphere.d,
                  [-9.76206526, -17.55365704] + [1.0] * (sphere.d - 2)])
    log_p = sphere.log_density(t, x, process=process)
    normalization = -0.5 * sphere.d * math.log(2 * math.pi * var)
    quadratic = np.sum(x**2, axis=1) / (2 * var)
    ell_kappa = abs(log_vmf_normalizer_mp(sphere.k + 1, sphere.kappa) + sphere.kappa)
    sizes = abs(normalization) + quadratic + 2 * ell_kappa
    np.testing.assert_array_less(np.abs(log_p - (normalization - quadratic)), 16 * EPS * sizes + KERNEL_RTOL * ell_kappa)
    alpha = float(process.alpha(t))
    np.testing.assert_allclose(sphere.score(t, x, process=process), -x / var, rtol=8 * EPS,
                               atol=alpha * sphere.radius / var)


@pytest.mark.parametrize("sphere", [Sphere(1, 2, radius=1e3), Sphere(2, 3, radius=1e3, kappa=7.0, direction=[0.6, 0.8, 0.0]),
                                    Sphere(2, 4, radius=50.0, kappa=1e3, direction=[0.0, 0.6, 0.8])],
                         ids=["circle", "vmf", "vmf-concentrated"])
def test_huge_concentration_matches_mpmath(sphere):
    """At t = 1e-300 a sphere of radius 50 or 1e3 has b = alpha r |z| / sigma^2 ~ 1e303 to 5e305 on M,
    where |m| may overflow: the careful path's b/|m|, kappa/b and log b forms (module docstring of
    theory/measures/sphere.py) against :func:`mp_reference` at 400 digits, within the bounds of
    :func:`test_extremes_match_mpmath`; the denoiser is on M (A_p = 1 to rounding). Rows: on M at the
    mode, the antipode and 90 degrees, and sigma outside (the other extreme points overflow)."""
    t = 1e-300
    process = OU()
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    x = extreme_points(sphere, math.sqrt(var))[:4]
    score = sphere.score(t, x, process=process)
    log_p = sphere.log_density(t, x, process=process)
    denoised = sphere.denoise(t, x, process=process)
    scale = np.linalg.norm(sphere.center) + sphere.radius
    for i in range(x.shape[0]):
        ref_log_p, ref_score = mp_reference(sphere, x[i], alpha, var, digits=400)
        size = np.linalg.norm(x[i]) + scale
        s_norm = np.linalg.norm(ref_score)
        assert np.linalg.norm(score[i] - ref_score) <= 4 * EPS * size / var + 1e-13 * s_norm, (i, score[i], ref_score)
        tol = 4 * EPS * (size * s_norm + abs(ref_log_p) + sphere.d * abs(math.log(var)))
        assert abs(log_p[i] - ref_log_p) <= tol, (i, log_p[i], ref_log_p, tol)
        assert abs(np.linalg.norm(denoised[i] - sphere.center) - sphere.radius) <= 8 * EPS * scale


def test_near_the_center_at_tiny_variance():
    """x = c + 1e-200 e_1 at t = 1e-300 (sigma^2 = 2e-300) for a vMF sphere: the fast path's
    coefficient (alpha r A_p cos / sigma^2) / |z| overflowed although the score, ~alpha r A_p(|m|) m/|m|
    / sigma^2 ~ 5e299, does not; the careful path forms it with z/|z| first. Against
    :func:`mp_reference` at 50 digits within the extremes' bounds, and at 1e-300 from the center."""
    sphere = Sphere(2, 4, kappa=5.0, direction=[0.6, 0.8, 0.0])
    process = OU()
    for t in (1e-300, 1e-100):
        alpha, var = float(process.alpha(t)), float(process.sigma2(t))
        x = np.array([[1e-200, 0.0, 0.0, 0.0], [1e-300, 0.0, 0.0, 0.0], [0.0, 0.0, 1e-250, 1e-160]])
        score = sphere.score(t, x, process=process)
        log_p = sphere.log_density(t, x, process=process)
        for i in range(x.shape[0]):
            ref_log_p, ref_score = mp_reference(sphere, x[i], alpha, var)
            size = np.linalg.norm(x[i]) + sphere.radius
            s_norm = math.hypot(*ref_score)  # no overflow of the squares
            assert math.hypot(*(score[i] - ref_score)) <= 4 * EPS * size / var + 1e-13 * s_norm, (t, i, score[i], ref_score)
            tol = 4 * EPS * (size * s_norm + abs(ref_log_p) + sphere.d * abs(math.log(var)))
            assert abs(log_p[i] - ref_log_p) <= tol, (t, i, log_p[i], ref_log_p, tol)


# -- 6. sampling ------------------------------------------------------------------------------------
# Every KS test below runs at alpha = 1e-3 with a fixed seed: the false-failure rate of a correct
# sampler is 1e-3 per test (deterministic for the fixed seed; no multiplicity correction needed
# because each statistic is a separate claim).
KS_ALPHA = 1e-3


N_SAMPLES = 20_000


def test_sphere_samples_are_area_uniform_archimedes():
    """k = 2: each frame coordinate u_j = F_j . (X - c) / r is Uniform[-1, 1] (Archimedes' hat-box
    theorem; an angle-uniform sampler fails it). KS test, alpha = 1e-3, n = 20000, seed 11, for
    each of the 3 axes of a random frame in R^5."""
    rng = np.random.default_rng(11)
    frame = sts.random_orthogonal(rng, 5)[:, :3]
    sphere = Sphere(2, 5, radius=2.5, center=[1.0, 2.0, 3.0, 4.0, 5.0], frame=frame)
    x = sphere.sample(N_SAMPLES, rng)
    u = (x - sphere.center) @ sphere.frame / sphere.radius
    # Samples c + r F u and their distance | |F^T (x - c)| - r | go through two d-term products with
    # unit columns (gamma_d each, any BLAS kernel) and a few roundings of sizes <= |c| + r.
    np.testing.assert_allclose(sphere.distance(x), 0.0,
                               atol=(2 * sphere.d + 4) * EPS * (np.linalg.norm(sphere.center) + sphere.radius))
    for j in range(3):
        assert stats.kstest(u[:, j], stats.uniform(loc=-1, scale=2).cdf).pvalue > KS_ALPHA


def test_circle_samples_have_uniform_angle():
    """k = 1: the angle atan2(u_2, u_1) is Uniform[-pi, pi]. KS test, alpha = 1e-3, n = 20000, seed 12."""
    rng = np.random.default_rng(12)
    sphere = Sphere(1, 3, radius=0.7, frame=sts.random_orthogonal(rng, 3)[:, :2])
    u = (sphere.sample(N_SAMPLES, rng) - sphere.center) @ sphere.frame / sphere.radius
    angle = np.arctan2(u[:, 1], u[:, 0])
    assert stats.kstest(angle, stats.uniform(loc=-np.pi, scale=2 * np.pi).cdf).pvalue > KS_ALPHA


def test_uniform_angle_sampler_is_rejected():
    """Negative control of the Archimedes test: uniform (polar, azimuth) angles put too much mass
    near the poles, and the KS test of the polar coordinate rejects them (same alpha, n, seed 13)."""
    rng = np.random.default_rng(13)
    polar = rng.uniform(0.0, np.pi, N_SAMPLES)
    assert stats.kstest(np.cos(polar), stats.uniform(loc=-1, scale=2).cdf).pvalue < KS_ALPHA


@pytest.mark.parametrize(("k", "kappa"), [(1, 2.0), (2, 5.0), (3, 30.0)])
def test_vmf_mean_resultant_length(k, kappa):
    """vMF: the sample mean of nu . u estimates A_p(kappa) (p = k + 1); it must lie within 5
    standard errors, Var(nu . u) = 1 - (p - 1) A_p / kappa - A_p^2 (n = 20000, seed 14; false-failure
    rate 5.7e-7 per case). A_p from mpmath."""
    p = k + 1
    rng = np.random.default_rng(14)
    direction = sts.unit_vector(rng, p)
    sphere = Sphere(k, k + 2, kappa=kappa, direction=direction, frame=sts.random_orthogonal(rng, k + 2)[:, :p])
    u = (sphere.sample(N_SAMPLES, rng) - sphere.center) @ sphere.frame / sphere.radius
    with mpmath.workdps(MP_DIGITS):
        a = float(mpmath.besseli(mpmath.mpf(p) / 2, kappa) / mpmath.besseli(mpmath.mpf(p) / 2 - 1, kappa))
    var = 1 - (p - 1) * a / kappa - a**2
    assert abs(np.mean(u @ direction) - a) <= Z_MAX * math.sqrt(var / N_SAMPLES)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 6.0, 1e4])
def test_moments_match_samples(kappa):
    """moments(): the mean and every covariance entry lie within 5 standard errors of the sample
    estimates (n = 20000, seed 15; 4 + 16 comparisons per case, false-failure rate <= 1.2e-5 per case).

    This checks the vMF second moment E[u u^T] = (A_p/kappa) I + (1 - p A_p/kappa) nu nu^T."""
    rng = np.random.default_rng(15)
    d, k = 4, 2
    direction = sts.unit_vector(rng, k + 1) if kappa > 0 else None
    sphere = Sphere(k, d, radius=1.2, center=[0.1, 0.2, 0.3, 0.4], frame=sts.random_orthogonal(rng, d)[:, :3],
                    kappa=kappa, direction=direction)
    mean, cov = sphere.moments()
    x = sphere.sample(N_SAMPLES, rng)
    # Rounding floors (gamma_n of the sample sums, any summation order): far below the standard errors.
    floor = N_SAMPLES * EPS * np.abs(x).max()
    assert np.all(np.abs(x.mean(axis=0) - mean) <= Z_MAX * x.std(axis=0) / math.sqrt(N_SAMPLES) + floor)
    centred = x - mean
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(axis=0) / math.sqrt(N_SAMPLES)
    assert np.all(np.abs(products.mean(axis=0) - cov) <= Z_MAX * se + N_SAMPLES * EPS * np.abs(products).max())
    # cov = r^2 F Cov(u) F^T by two BLAS products with p-term sums: each entry, and the trace
    # r^2 (1 - A_p^2) <= r^2, is off by <= 2 gamma_p p max|Cov(u)| r^2 <= 2 p^2 eps r^2 (max|Cov(u)| <= 1).
    p = k + 1
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=4 * p**2 * EPS * sphere.radius**2)
    assert np.trace(cov) <= sphere.radius**2 * (1 + (2 * p**2 + d) * EPS)


@pytest.mark.parametrize("kappa", [1e-10, 0.5, 30.0, 1e8])
def test_moments_match_mpmath(kappa):
    """moments() for Sphere(2, 3) with nu = e_3 against mpmath at 50 digits: E u = A nu and
    Cov u = diag(A/kappa, A/kappa, 1 - A^2 - 2 A/kappa), A = I_{3/2}(kappa)/I_{1/2}(kappa); relative
    1e-13 for the mean and 1e-12 of the largest covariance entry (the nu-variance, O(1/kappa^2) for
    large kappa, is a difference of O(1/kappa) terms; its absolute error is what matters here)."""
    sphere = Sphere(2, 3, kappa=kappa, direction=[0.0, 0.0, 1.0])
    mean, cov = sphere.moments()
    with mpmath.workdps(MP_DIGITS):
        km = mpmath.mpf(kappa)
        a = mpmath.besseli(mpmath.mpf(3) / 2, km) / mpmath.besseli(mpmath.mpf(1) / 2, km)
        ref_cov = np.diag([float(a / km), float(a / km), float(1 - a**2 - 2 * a / km)])
        terms = float((1 - a) * (1 + a) + 2 * a / km)  # the sizes of the nu-variance's two terms
    # The default frame's products with F (entries 0 and 1) are exact in any summation order, so the
    # error is the kernels' (KERNEL_RTOL) on terms of size <= ``terms`` plus a few roundings.
    assert mean[2] == pytest.approx(float(a), rel=KERNEL_RTOL + 4 * EPS) and np.all(mean[:2] == 0.0)
    np.testing.assert_allclose(cov, ref_cov, rtol=0, atol=(KERNEL_RTOL + 8 * EPS) * max(terms, np.abs(ref_cov).max()))


def test_default_sphere_contract():
    """Sphere(k=2, d=5) is the uniform unit 2-sphere in the first three coordinates of R^5.

    Exact comparisons: the default frame's entries are 0 and 1, so its BLAS products are exact in
    any summation order; |x| = 1 holds to the few roundings of normalizing and of the norm.
    """
    sphere = Sphere(k=2, d=5)
    assert (sphere.k, sphere.d, sphere.radius, sphere.kappa) == (2, 5, 1.0, 0.0)
    np.testing.assert_array_equal(sphere.frame, np.eye(5)[:, :3])
    np.testing.assert_array_equal(sphere.center, np.zeros(5))
    x = sphere.sample(100, np.random.default_rng(0))
    np.testing.assert_array_equal(x[:, 3:], 0.0)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=8 * EPS)
    mean, cov = sphere.moments()
    np.testing.assert_array_equal(mean, np.zeros(5))
    np.testing.assert_array_equal(cov, np.diag([1 / 3, 1 / 3, 1 / 3, 0, 0]))


# -- 7. geometry ------------------------------------------------------------------------------------
@given(sts.sphere_designs(), sts.seeds)
def test_distance_projection_and_tangent(sphere, seed):
    """project(x) lies on M (distance ~ 0) and is the nearest point: |x - project(x)| = distance(x)
    = sqrt((|F^T(x - c)| - r)^2 + |off-span part|^2) <= |x - y| for samples y of M; project is
    idempotent; the tangent part is orthogonal to the normal part and to the radius.

    Tolerances: each quantity goes through at most two d-term BLAS products with unit columns and a
    few elementwise roundings (gamma_d <= 5 eps each, in any summation order), so 16 eps of the
    sizes involved (64 eps for the products of two such results)."""
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal((8, sphere.d)) + sphere.center
    on = sphere.project(x)
    scale = 1.0 + np.linalg.norm(x, axis=1)
    assert np.all(sphere.distance(on) <= 16 * EPS * scale)
    np.testing.assert_allclose(sphere.project(on), on, atol=16 * EPS * scale.max())
    dist = sphere.distance(x)
    assert np.all(np.abs(np.linalg.norm(x - on, axis=1) - dist) <= 16 * EPS * scale)
    others = sphere.sample(200, rng)
    assert np.all(np.linalg.norm(x[:, None] - others[None], axis=-1).min(axis=1) >= dist - 16 * EPS * scale)
    v = rng.standard_normal(x.shape)
    normal = sphere.normal_part(x, v)
    tangent = v - normal
    assert np.all(np.abs(np.sum(tangent * normal, axis=1)) <= 64 * EPS * np.sum(v * v, axis=1))
    radial = np.abs(np.sum(tangent * (on - sphere.center), axis=1))
    assert np.all(radial <= 64 * EPS * sphere.radius * np.linalg.norm(v, axis=1))
    # The tangent part lies in the frame span.
    np.testing.assert_allclose(tangent - tangent @ sphere.frame @ sphere.frame.T, 0.0, atol=64 * EPS * np.abs(v).max())


def test_projection_of_the_axis_is_deterministic():
    """Points with F^T (x - c) = 0 (equidistant from all of M) project to c + r F e_1 (exactly: the
    default frame and these coordinates make every product and sum exact)."""
    sphere = Sphere(1, 3, radius=2.0, center=[1.0, 1.0, 1.0])
    x = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 5.0]])
    np.testing.assert_array_equal(sphere.project(x), [[3.0, 1.0, 1.0], [3.0, 1.0, 1.0]])
    np.testing.assert_allclose(sphere.distance(x), [2.0, math.sqrt(20.0)])


@given(sts.sphere_cases(t_max=2.0))
def test_denoiser_lies_in_the_convex_hull(case):
    """E[X_0 | x] lies in the ball |D - c| <= r within the affine span c + span F.

    Rounding: D = c + r F A_p m / |m| and the test's D - c and F^T (D - c) go through d-term products
    with unit columns (gamma_d each, any summation order) and the subtraction of c, so
    (2 d + 4) eps (r + |c|) bounds both checks."""
    m = case.measure
    denoised = m.denoise(case.t, case.x, process=case.process)
    offset = denoised - m.center
    inside = offset @ m.frame
    slack = (2 * m.d + 4) * EPS * (m.radius + np.linalg.norm(m.center))
    assert np.all(np.linalg.norm(inside, axis=1) <= m.radius + slack)
    np.testing.assert_allclose(offset - inside @ m.frame.T, 0.0, atol=slack)


def test_empty_input_and_shapes():
    sphere = Sphere(2, 4, kappa=2.0, direction=[1.0, 0.0, 0.0])
    empty = np.zeros((0, 4))
    assert sphere.score(0.1, empty).shape == (0, 4)
    assert sphere.log_density(0.1, empty).shape == (0,)
    assert sphere.denoise(0.1, empty).shape == (0, 4)
    assert sphere.sample(0, np.random.default_rng(0)).shape == (0, 4)
    assert sphere.sample(1, np.random.default_rng(0)).shape == (1, 4)


BLOCK_TEST_SPHERES = [Sphere(2, 5), Sphere(1, 4, kappa=3.0, direction=[0.6, 0.8], center=[1.0, 0.0, 0.0, 2.0],
                                          frame=np.linalg.qr(np.arange(8.0).reshape(4, 2) ** 1.5)[0])]


def backward_error_bounds(sphere: Sphere, x: np.ndarray, alpha: float, var: float, log_p: np.ndarray,
                          score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row bounds (score, log p, denoiser), shape (n,) each, on how far one evaluation may be from
    the exact value: the backward-stability bounds of :func:`test_extremes_match_mpmath`,

        |Delta s| <= 4 eps (|x| + |c| + r) / sigma^2 + KERNEL_RTOL |s|,
        |Delta log p| <= 4 eps ((|x| + |c| + r) |s| + |log p| + d |log sigma^2|),
        |Delta D| <= KERNEL_RTOL r + 4 (d + 2) eps (|c| + r)   (D = c + r F A_p(|m|) m / |m|),

    plus, for a frame other than the standard one, the rounding of the two BLAS products with the
    basis Q = [F, G] (u = Q^T y in, Q w out; our derivation). Each entry of u is a d-term dot
    product with a unit column, so |Delta u| <= sqrt(d) gamma_d |y| (gamma_d = d eps, any summation
    order, so any BLAS kernel), and likewise |Delta out| <= sqrt(d) gamma_d |out|. Delta u moves
    the score by at most |H| |Delta u| with the Hessian H = -I / sigma^2 + (alpha / sigma^2)^2
    r^2 F Cov(u | x) F^T, the denoiser by (alpha / sigma^2) r^2 |Cov(u | x)| |Delta u| and log p by
    |s| |Delta u|; the posterior of u is vMF(m / |m|, |m|), so |Cov(u | x)| <= tr Cov = 1 - A_p(|m|)^2
    (A_p from scipy.special.ive, independent of the module under test).
    """
    p, d, r = sphere.k + 1, sphere.d, sphere.radius
    xnorm = np.linalg.norm(x, axis=1)
    c_norm = float(np.linalg.norm(sphere.center))
    s_norm = np.linalg.norm(score, axis=1)
    tol_s = 4 * EPS * (xnorm + c_norm + r) / var + KERNEL_RTOL * s_norm
    tol_log_p = 4 * EPS * ((xnorm + c_norm + r) * s_norm + np.abs(log_p) + d * abs(math.log(var)))
    tol_d = np.full(len(x), KERNEL_RTOL * r + 4 * (d + 2) * EPS * (c_norm + r))
    if not np.array_equal(sphere.frame, np.eye(d)[:, :p]):
        y = x - alpha * sphere.center
        nu = sphere.direction if sphere.kappa > 0 else np.zeros(p)
        m_norm = np.linalg.norm(sphere.kappa * nu + (alpha * r / var) * (y @ sphere.frame), axis=1)
        with np.errstate(invalid="ignore"):  # 0/0 at m = 0, where A_p = 0
            a = np.nan_to_num(special.ive(p / 2, m_norm) / special.ive(p / 2 - 1, m_norm))
        cov_u = (1 - a) * (1 + a)
        du = math.sqrt(d) * d * EPS * np.linalg.norm(y, axis=1)
        hessian = 1 / var + (alpha * r / var) ** 2 * cov_u
        tol_s += hessian * du + math.sqrt(d) * d * EPS * s_norm
        tol_log_p += s_norm * du
        tol_d += alpha * r * r / var * cov_u * du + math.sqrt(d) * d * EPS * r
    return tol_s, tol_log_p, tol_d


@pytest.mark.parametrize("sphere", BLOCK_TEST_SPHERES, ids=["default", "vmf-general-frame"])
def test_row_blocks_do_not_change_results(sphere):
    """Rows are evaluated in blocks of 8192 with a truncation chosen per block; n = 20000 rows
    (3 blocks) give the same values as each row evaluated alone, up to the rounding of each
    evaluation: both are within :func:`backward_error_bounds` of the exact value, so they differ
    by at most twice those bounds. The default sphere involves no BLAS product (its rows differ
    only by the truncation chosen for their block); the general frame adds the rounding of the
    products with the frame, which OpenBLAS may round differently for 1 row and for 8192 (seen:
    3.6e-14 relative for the score with the Haswell kernel, 3e-16 with SkylakeX). Measured with the
    OpenBLAS kernels Haswell, SkylakeX, Sandybridge, Nehalem and Prescott: the default sphere's rows
    agree exactly; the general frame's differ by at most 0.016 of the bound (log p, Haswell).
    """
    rng = np.random.default_rng(5)
    n = 20_000
    x = sphere.sample(n, rng) + rng.choice([0.001, 0.1, 3.0], size=(n, 1)) * rng.standard_normal((n, sphere.d))
    rows = np.array([0, 1, 8191, 8192, 8193, 16383, 16384, n - 1])
    for t in (1e-4, 0.3):
        alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
        full = (sphere.score(t, x), sphere.log_density(t, x), sphere.denoise(t, x))
        single = [(sphere.score(t, x[i : i + 1]), sphere.log_density(t, x[i : i + 1]), sphere.denoise(t, x[i : i + 1]))
                  for i in rows]
        tol_s, tol_log_p, tol_d = backward_error_bounds(sphere, x[rows], alpha, var, full[1][rows], full[0][rows])
        for j, (k, (score, log_p, denoised)) in enumerate(zip(rows, single)):
            assert np.linalg.norm(full[0][k] - score[0]) <= 2 * tol_s[j], (t, k, full[0][k] - score[0], tol_s[j])
            assert abs(full[1][k] - log_p[0]) <= 2 * tol_log_p[j], (t, k, full[1][k] - log_p[0], tol_log_p[j])
            assert np.linalg.norm(full[2][k] - denoised[0]) <= 2 * tol_d[j], (t, k, full[2][k] - denoised[0], tol_d[j])


def test_pickle_and_replace():
    """Instances pickle and ``dataclasses.replace`` re-validates (identity equality, eq=False).

    The clone's score is bit-identical: the same arrays through the same code (the default frame,
    no BLAS product)."""
    import dataclasses
    import pickle

    sphere = Sphere(2, 4, radius=2.0, kappa=3.0, direction=[0.0, 0.0, 1.0])
    clone = pickle.loads(pickle.dumps(sphere))
    x = np.ones((3, 4))
    np.testing.assert_array_equal(clone.score(0.1, x), sphere.score(0.1, x))
    assert clone != sphere and hash(sphere) == hash(sphere)
    bigger = dataclasses.replace(sphere, radius=3.0)
    assert bigger.radius == 3.0 and bigger.kappa == 3.0
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        dataclasses.replace(sphere, radius=-1.0)


def test_stored_arrays_are_read_only_copies():
    center = np.array([1.0, 2.0, 3.0])
    sphere = Sphere(1, 3, center=center)
    center[0] = 100.0
    assert sphere.center[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        sphere.center[0] = 5.0
    with pytest.raises(AttributeError):
        sphere.radius = 2.0


def test_frame_is_reorthonormalized_within_tolerance():
    """A frame orthonormal to 1e-9 is accepted and stored orthonormal to rounding, close to the input.

    Rounding: Householder QR gives |Q - Q_exact| <= sqrt(d) gamma_{c d^2} (Higham, Accuracy and
    Stability of Numerical Algorithms, 2nd ed., Thm 19.4; c = 1 taken) in any LAPACK/BLAS kernel, so
    |F^T F - I| <= 2 sqrt(d) d^2 eps + gamma_d; the input is 1e-10 off."""
    rng = np.random.default_rng(3)
    d = 4
    frame = sts.random_orthogonal(rng, d)[:, :2] + 1e-10 * rng.standard_normal((d, 2))
    sphere = Sphere(1, d, frame=frame)
    np.testing.assert_allclose(sphere.frame.T @ sphere.frame, np.eye(2), atol=(2 * math.sqrt(d) * d**2 + d) * EPS)
    np.testing.assert_allclose(sphere.frame, frame, atol=1e-8)


# -- 8. posterior draws and partitions --------------------------------------------------------------
POSTERIOR_SEED = 20_260_606
# Level of each two-sample KS test (2 statistics per case, 2 cases: family-wise <= 4e-3; measured
# over seeds 0-199: see test_posterior_draws_are_von_mises_fisher).
POSTERIOR_ALPHA = 1e-3


def _posterior_cases() -> list[tuple[str, Sphere, np.ndarray, float, int]]:
    """(id, sphere, query x (d,), t, n): a vMF circle and a uniform 2-sphere in general position,
    queried near M at a t where the posterior concentration |m| is about 20 (circle) and 11 (sphere),
    where a concentration off by 5 % is resolved at n (test_vmf.py's resolution)."""
    rng = np.random.default_rng(POSTERIOR_SEED)
    circle = Sphere(1, 3, radius=1.5, center=[0.1, 0.0, 0.2], frame=sts.random_orthogonal(rng, 3)[:, :2],
                    kappa=2.0, direction=[0.6, 0.8])
    sphere = Sphere(2, 4, radius=0.8, center=[0.0, 1.0, 0.0, -1.0], frame=sts.random_orthogonal(rng, 4)[:, :3])
    out = []
    for name, m, t, n in (("circle-vmf", circle, 0.06, 200_000), ("sphere", sphere, 0.03, 100_000)):
        x = m.sample(1, rng)[0] + 0.05 * rng.standard_normal(m.d)
        out.append((name, m, x, t, n))
    return out


POSTERIOR_CASES = _posterior_cases()


def reference_posterior(sphere: Sphere, t: float, x: np.ndarray, var_factor: float = 1.0) -> tuple[np.ndarray, float]:
    """(nu, kappa) of the posterior vMF of the frame coordinate, from m = kappa nu + alpha r F^T (x - alpha c) /
    sigma^2 (CLAIMS.md §2), evaluated here with sigma^2 multiplied by ``var_factor`` (1: the true law)."""
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t)) * var_factor
    m = sphere.kappa * (sphere.direction if sphere.kappa > 0 else 0.0) + alpha * sphere.radius * (
        sphere.frame.T @ (x - alpha * sphere.center)) / var
    return m / np.linalg.norm(m), float(np.linalg.norm(m))


def posterior_pvalues(sphere: Sphere, t: float, x: np.ndarray, n: int, var_factor: float, seed: int) -> list[float]:
    """KS p-values of n posterior draws (frame coordinates) against n draws of scipy's vonmises_fisher
    with the reference parameter (``var_factor`` as in :func:`reference_posterior`)."""
    ours, theirs = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    draws = sphere.posterior_sample(t, np.tile(x, (n, 1)), ours)
    v = (draws - sphere.center) @ sphere.frame / sphere.radius
    nu, kappa = reference_posterior(sphere, t, x, var_factor)
    y = stats.vonmises_fisher(nu, kappa).rvs(n, random_state=theirs)
    return [stats.ks_2samp(a, b).pvalue for a, b in zip(law_statistics(v, nu), law_statistics(y, nu))]


@pytest.mark.parametrize(("name", "sphere", "x", "t", "n"), POSTERIOR_CASES, ids=[c[0] for c in POSTERIOR_CASES])
def test_posterior_draws_are_von_mises_fisher(name, sphere, x, t, n):
    """Sphere.posterior_sample draws c + r F v with v ~ vMF(m/|m|, |m|), m = kappa nu + alpha r F^T (x -
    alpha c) / sigma^2: two-sample KS tests against scipy.stats.vonmises_fisher with m computed here
    (the cosine along m and the orthogonal direction), alpha = 1e-3 each, seed POSTERIOR_SEED.
    Measured over seeds 0-199: 0 of 200 rejected per case."""
    assert min(posterior_pvalues(sphere, t, x, n, 1.0, POSTERIOR_SEED)) >= POSTERIOR_ALPHA


@pytest.mark.parametrize(("name", "sphere", "x", "t", "n"), POSTERIOR_CASES, ids=[c[0] for c in POSTERIOR_CASES])
def test_posterior_draw_test_rejects_sigma2_off_by_five_percent(name, sphere, x, t, n):
    """Near-miss control: the same tests against the law with sigma^2 5 % too large (|m| about 5 %
    too small) reject at the same n, alpha and seed (measured power over seeds 0-199: 200 of 200)."""
    assert min(posterior_pvalues(sphere, t, x, n, 1.05, POSTERIOR_SEED)) < POSTERIOR_ALPHA


@pytest.mark.parametrize("sphere", [Sphere(1, 3, radius=2.0, center=[0.0, 1.0, 0.0]),
                                    Sphere(2, 4, kappa=5.0, direction=[0.0, 0.6, 0.8])], ids=["circle", "vmf"])
def test_posterior_draws_at_tiny_times_sit_at_the_projection(sphere):
    """t = 1e-12 (|m| ~ 1e12): every draw lies on M (to rounding: <= 16 eps (|c| + r)) and within
    12 r / sqrt(|m|) of project(x), the posterior's mode (the angle from the mode exceeds
    a / sqrt(|m|) with probability ~e^{-a^2/2}: e^{-72} per row). t = 1e-300 (|m| >= 1e300, beyond
    which a draw is the mode): every draw is project(x) to rounding. 1000 rows, seed 7."""
    rng = np.random.default_rng(7)
    x = sphere.sample(1000, rng) + 0.1 * rng.standard_normal((1000, sphere.d))
    scale = np.linalg.norm(sphere.center) + sphere.radius
    for t in (1e-12, 1e-300):
        draws = sphere.posterior_sample(t, x, rng)
        assert np.all(sphere.distance(draws) <= 16 * EPS * scale)
        m_norm = np.array([reference_posterior(sphere, t, row)[1] for row in x]) if t > 1e-100 else np.inf
        bound = 12 * sphere.radius / np.sqrt(m_norm) + 16 * EPS * scale
        assert np.all(np.linalg.norm(draws - sphere.project(x), axis=1) <= bound)


@mpmath.workdps(30)
def mp_arc_mass(kappa: float, angle: float, a: float, b: float) -> float:
    """The von Mises mass of the arc [a, b] (mean at ``angle``) by mpmath quadrature at 30 digits."""
    f = lambda theta: mpmath.exp(kappa * (mpmath.cos(theta - angle) - 1))  # noqa: E731
    total = mpmath.quad(f, [angle - mpmath.pi, angle, angle + mpmath.pi])
    return float(mpmath.quad(f, sorted({a, b} | ({angle} if a < angle < b else set()))) / total)


@pytest.mark.parametrize("kappa", [0.3, 5.0, 100.0])
def test_circle_partition_masses_match_mpmath(kappa):
    """vMF circle, 8 equal arcs: each mass against an mpmath quadrature at 30 digits, to 1e-11 (the
    stated quadrature tolerance; scipy.stats.vonmises.cdf is off by 2e-6 at kappa = 100)."""
    sphere = Sphere(1, 2, kappa=kappa, direction=[0.6, -0.8])
    masses = sphere.partition(cells=8).masses
    edges = np.linspace(0.0, 2 * np.pi, 9)
    angle = math.atan2(-0.8, 0.6)
    expected = [mp_arc_mass(kappa, angle, float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_allclose(masses, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("kappa", [0.01, 3.0, 1e4])
def test_vmf_orthant_masses_with_the_mean_on_an_axis(kappa):
    """nu = e_3 on S^2: by symmetry each upper orthant holds P(w > 0) / 4 = 1 / (4 (1 + e^-kappa)) and
    each lower one e^-kappa / (4 (1 + e^-kappa)) (w = nu . u has density ~ e^{kappa w} on [-1, 1]);
    the quadrature reproduces them to 1e-11."""
    masses = Sphere(2, 3, kappa=kappa, direction=[0.0, 0.0, 1.0]).partition().masses
    upper = 0.25 / (1 + math.exp(-kappa))
    lower = 0.25 * math.exp(-kappa) / (1 + math.exp(-kappa))
    np.testing.assert_allclose(masses, [lower] * 4 + [upper] * 4, rtol=0, atol=1e-11)


def test_partition_refuses_vmf_orthants_beyond_s2():
    with pytest.raises(NotImplementedError, match=r"orthant masses of a von Mises-Fisher law on S\^3"):
        Sphere(3, 4, kappa=1.0, direction=[0.0, 0.0, 0.0, 1.0]).partition()


# -- 9. bad input --------------------------------------------------------------------------------
BAD_CONSTRUCTIONS = [
    (dict(k=3, d=3), ValueError, r"k must satisfy 1 <= k <= d - 1, got k=3, d=3"),
    (dict(k=4, d=3), ValueError, r"k must satisfy 1 <= k <= d - 1, got k=4, d=3"),
    (dict(k=0, d=3), ValueError, r"k must satisfy 1 <= k <= d - 1, got k=0, d=3"),
    (dict(k=1.0, d=3), TypeError, r"k must be an integer, got float"),
    (dict(k=1, d="3"), TypeError, r"d must be an integer, got str"),
    (dict(k=1, d=3, radius=0.0), ValueError, r"radius must be a finite number > 0, got 0.0"),
    (dict(k=1, d=3, radius=-1.0), ValueError, r"radius must be a finite number > 0, got -1.0"),
    (dict(k=1, d=3, radius=float("nan")), ValueError, r"radius must be a finite number > 0"),
    (dict(k=1, d=3, frame=np.eye(3)[:, :2] * 2), ValueError, r"frame must have orthonormal columns"),
    (dict(k=1, d=3, frame=np.eye(3)), ValueError, r"frame must have shape \(3, 2\), got \(3, 3\)"),
    (dict(k=1, d=3, center=np.zeros(2)), ValueError, r"center must have shape \(3,\), got \(2,\)"),
    (dict(k=1, d=3, center=[0.0, np.nan, 0.0]), ValueError, r"center must be finite"),
    (dict(k=1, d=3, kappa=-1.0), ValueError, r"kappa must be a finite number >= 0, got -1.0"),
    (dict(k=1, d=3, kappa=float("inf"), direction=[1.0, 0.0]), ValueError, r"kappa must be a finite number >= 0"),
    (dict(k=1, d=3, kappa=True, direction=[1.0, 0.0]), TypeError, r"kappa must be a real number, got bool"),
    (dict(k=1, d=3, kappa=2.0), ValueError, r"direction is required when kappa > 0 .*shape \(2,\).*got None"),
    (dict(k=1, d=3, kappa=2.0, direction=[1.0, 1.0]), ValueError,
     r"direction must have unit norm \(\| \|direction\| - 1 \| <= 1e-08\), got norm 1.414"),
    (dict(k=1, d=3, kappa=2.0, direction=[1.0, 0.0, 0.0]), ValueError, r"direction must have shape \(2,\), got \(3,\)"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_CONSTRUCTIONS)
def test_bad_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        Sphere(**kwargs)


SPHERE_FOR_CALLS = Sphere(2, 4, kappa=1.0, direction=[0.0, 0.0, 1.0])


GOOD_X = np.zeros((2, 4))


BAD_CALLS = [
    (lambda s: s.score(0.0, GOOD_X), ValueError, r"t must be a finite number > 0, got 0.0"),
    (lambda s: s.log_density(-1.0, GOOD_X), ValueError, r"t must be a finite number > 0, got -1.0"),
    (lambda s: s.denoise(float("nan"), GOOD_X), ValueError, r"t must be a finite number > 0, got nan"),
    (lambda s: s.score("0.1", GOOD_X), TypeError, r"t must be a real number, got str"),
    (lambda s: s.score(0.1, np.array([[0.0, np.nan, 0.0, 0.0]])), ValueError, r"x must be finite, got 1 NaN/inf"),
    (lambda s: s.log_density(0.1, np.array([[np.inf, 0.0, 0.0, 0.0]])), ValueError, r"x must be finite"),
    (lambda s: s.score(0.1, np.zeros((2, 3))), ValueError, r"x must have shape \(n, 4\), got \(2, 3\)"),
    (lambda s: s.denoise(0.1, np.zeros(4)), ValueError, r"x must have shape \(n, 4\), got \(4,\)"),
    (lambda s: s.distance(np.zeros((1, 5))), ValueError, r"x must have shape \(n, 4\), got \(1, 5\)"),
    (lambda s: s.project(np.array([["a", "b", "c", "d"]])), TypeError, r"x must be a real array"),
    (lambda s: s.normal_part(GOOD_X, np.zeros((3, 4))), ValueError, r"v must have the shape of x"),
    (lambda s: s.score(0.1, GOOD_X, process="OU"), TypeError, r"process must be a ForwardProcess"),
    (lambda s: s.sample(-1, np.random.default_rng(0)), ValueError, r"n must be >= 0, got -1"),
    (lambda s: s.sample(5, 0), TypeError, r"rng must be a numpy.random.Generator"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_CALLS)
def test_bad_calls(call, error, message):
    with pytest.raises(error, match=message):
        call(SPHERE_FOR_CALLS)


@pytest.mark.parametrize("t", [1.0, 9.5])
@pytest.mark.parametrize("k", [1, 2])
def test_sphere_score_near_the_centre_keeps_precision(k, t):
    """Uniform unit k-sphere in R^{k+1}, query 3e-9 from the centre: score to 16 eps relative.

    Reference: (alpha r A_p(b) x / |x| - x) / sigma^2, b = alpha r |x| / sigma^2, A_p = I_{p/2} / I_{p/2-1},
    in mpmath at 50 digits (CLAIMS.md §2). Near the centre A_p ~ b / p, so the score is about
    -(1 - alpha^2 r^2 / (p sigma^2)) x / sigma^2: no cancellation (alpha^2 r^2 / (p sigma^2) <= 0.08
    here), and the standard frame involves no BLAS product. Rounding: about 10 elementwise steps
    (b, the continued fraction, alpha r A_p - |z|, the divisions) plus one ulp each of NumPy's
    exp(-t) and expm1(-2t) (alpha, sigma^2, on any SIMD path), so 16 eps.
    """
    sphere, process = Sphere(k, k + 1), OU()
    x = np.zeros((1, k + 1))
    x[0, :2] = [2.8e-9, 4.6e-10]
    score = sphere.score(t, x, process=process)[0]
    with mpmath.workdps(50):
        alpha, var = mpmath.exp(-mpmath.mpf(t)), -mpmath.expm1(-2 * mpmath.mpf(t))
        xs = [mpmath.mpf(float(c)) for c in x[0]]
        norm = mpmath.sqrt(sum(c * c for c in xs))
        b, half = alpha * norm / var, mpmath.mpf(k + 1) / 2
        ratio = mpmath.besseli(half, b) / mpmath.besseli(half - 1, b)
        reference = np.array([float((alpha * ratio * c / norm - c) / var) for c in xs])
    np.testing.assert_allclose(score, reference, rtol=16 * EPS, atol=0)
