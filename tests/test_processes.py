"""Tests of the forward processes (SPEC section 1): closed forms against their SymPy twins,
small-time precision, the two-time kernel, the drift integral, the kernel ODEs, sampling, bad input.

Error bounds use one rounding model: each float64 operation errs by <= eps/2 relatively, and
exp(y) inherits the relative error eps |y| of its argument y. EXPONENT(t) below bounds the
arguments |y| of the exponentials a process evaluates at time t.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import strategies as sts
from theory import OU, VE, VP, ForwardProcess

EPS = np.finfo(np.float64).eps
# The t-range of the twin comparison (issue 2: t in [1e-6, 10]) and its grid size.
TWIN_GRID = np.geomspace(1e-6, 10.0, 241)


def exponent(process: ForwardProcess, t) -> np.ndarray:
    """A bound on the arguments of the exponentials evaluated at time t (rounding model above).

    OU, VP: alpha = exp(log alpha), sigma^2 = -expm1(2 log alpha); VE: exp(rate t).
    """
    t = np.asarray(t, dtype=np.float64)
    size = 2.0 * np.abs(process.log_alpha(t))
    if isinstance(process, VE):
        size = size + 2.0 * math.log(process.sigma_max / process.sigma_min) * t
    return size


def cancellation_scale(process: ForwardProcess, t) -> np.ndarray:
    """The largest intermediate of the twin's sigma^2 = difference of two terms.

    OU, VP: 1 - exp(-B) (terms <= 1); VE: sigma_min^2 exp(rate t) - sigma_min^2 = sigma^2 + sigma_min^2.
    """
    if isinstance(process, VE):
        return process.sigma2(t) + process.sigma_min**2
    return np.ones(np.shape(t))


@functools.lru_cache(maxsize=64)
def twins(process: ForwardProcess, modules: str = "numpy") -> dict:
    """The SymPy twins (alpha, sigma^2, f, g^2) of ``process.symbolic()`` lambdified for ``modules``.

    Cached: ``symbolic()`` (nsimplify) and lambdify take ~0.1 s per process; processes are frozen
    and hashable.
    """
    ex = process.symbolic()
    return {name: sympy.lambdify(ex.t, getattr(ex, name), modules=modules) for name in ("alpha", "sigma2", "f", "g2")}


@functools.lru_cache(maxsize=64)
def leading_series(process: ForwardProcess) -> tuple[float, float]:
    """Taylor coefficients (c_1, c_2) of sigma^2(t) = c_1 t + c_2 t^2 + O(t^3) at 0, from the twin.

    c_j = (d^j sigma^2 / dt^j)(0) / j!, exact in SymPy, evaluated to 30 digits and rounded once.
    """
    ex = process.symbolic()
    return tuple(float((sympy.diff(ex.sigma2, ex.t, j).subs(ex.t, 0) / sympy.factorial(j)).evalf(30))
                 for j in (1, 2))


# Hypothesis examples for the SymPy-backed tests: each new process costs ~0.1-0.3 s of SymPy, so
# these tests draw few processes and always include the three defaults (@example).
SYMPY_EXAMPLES = 8


# -- NumPy formulas vs SymPy twins ---------------------------------------------------------------
@settings(max_examples=SYMPY_EXAMPLES)
@given(sts.processes())
@example(OU())
@example(VP())
@example(VE())
def test_numpy_matches_sympy_twins(process):
    """alpha, sigma^2, f, g^2 equal their lambdified SymPy twins on 241 log-spaced t in [1e-6, 10].

    Bound: |numpy - twin| <= 8 eps (1 + E(t)) |twin| for alpha, f, g^2 (both sides evaluate the
    same exponentials, E = ``exponent``), and for sigma^2 additionally 8 eps (1 + E) times the
    largest intermediate of the twin's difference (1 - exp(-B) cancels for small t: that error is
    the twin's, the NumPy side uses expm1 and is checked at full precision in
    ``test_sigma2_full_relative_precision_at_tiny_t``).
    """
    twin_of = twins(process)
    t = TWIN_GRID
    size = 8 * EPS * (1 + exponent(process, t))
    numeric = {"alpha": process.alpha(t), "sigma2": process.sigma2(t), "f": process.drift(t), "g2": process.g2(t)}
    for name, value in numeric.items():
        twin = np.broadcast_to(np.asarray(twin_of[name](t), dtype=np.float64), t.shape)
        assert value.shape == t.shape
        bound = size * np.abs(twin)
        if name == "sigma2":
            bound = bound + size * cancellation_scale(process, t)
        assert np.all(np.abs(value - twin) <= bound), (name, process, np.max(np.abs(value - twin) / bound))


@settings(max_examples=SYMPY_EXAMPLES)
@given(sts.processes())
@example(OU())
@example(VP())
@example(VE())
def test_sigma2_full_relative_precision_at_tiny_t(process):
    """sigma^2(t) keeps full relative precision at t = 1e-12 (and below), against its series.

    Why a series: the twin's 1 - exp(-B(t)) (or exp(rate t) - 1) evaluated in float64 cancels and
    keeps only ~eps / (g(0)^2 t) relative precision, 1e-4 at t = 1e-12. The series g(0)^2 t + c_2 t^2
    (coefficients from the twin, exact to 30 digits, then rounded to float64) has relative truncation
    error O((c t)^2) < 1e-20 here, so it is a reference good to ~2 eps. Bound: 4 eps relative.
    """
    c1, c2 = leading_series(process)
    for t in (1e-12, 1e-15, 1e-100, 1e-300):
        reference = c1 * t + c2 * t * t
        value = float(process.sigma2(t))
        assert abs(value - reference) <= 4 * EPS * reference, (process, t, value, reference)
    assert c1 == pytest.approx(float(process.g2(0.0)), rel=4 * EPS)  # sigma^2 ~ g(0)^2 t


# -- two-time kernel -------------------------------------------------------------------------------
@given(sts.processes(), sts.times(1e-4, 5.0), sts.log_uniform(1e-3, 10.0))
def test_transition_equals_composition_at_safe_times(process, t0, ratio):
    """transition(t0, t1) = (alpha(t1) / alpha(t0), sigma^2(t1) - a^2 sigma^2(t0)) for t1 = t0 (1 + r).

    r in [1e-3, 10] keeps the composition's cancellation bounded: its rounding is <= 8 eps (1 + E)
    (sigma^2(t1) + a^2 sigma^2(t0)), E = ``exponent`` at t1, relative to v that is a factor
    (sigma^2(t1) + a^2 sigma^2(t0)) / v, which the bound carries explicitly.
    """
    t1 = t0 * (1 + ratio)
    a, v = process.transition(t0, t1)
    a_ref = process.alpha(t1) / process.alpha(t0)
    s0, s1 = process.sigma2(t0), process.sigma2(t1)
    v_ref = s1 - a_ref**2 * s0
    size = 8 * EPS * (1 + exponent(process, t1))
    assert abs(a - a_ref) <= size * a_ref
    assert abs(v - v_ref) <= size * (s1 + a_ref**2 * s0), (process, t0, t1, v, v_ref)
    assert v > 0


@settings(max_examples=3 * SYMPY_EXAMPLES)
@given(st.one_of(st.sampled_from([OU(), VP(), VE()]), sts.processes()), sts.times(1e-4, 10.0),
       sts.log_uniform(1e-14, 1e-6))
def test_transition_accurate_for_tiny_steps(process, t0, step):
    """transition(t0, t0 + h) keeps full relative precision for h = 1e-14 .. 1e-6 (h relative to t0).

    Reference: the twin's sigma^2(t1) - (alpha(t1)/alpha(t0))^2 sigma^2(t0) in mpmath at 50 digits,
    at the float64 values t0 and t1 = fl(t0 (1 + h)) (the cancellation costs log10(sigma^2 / v) <=
    16 digits, leaving >= 30). Bound: 8 eps (1 + E(t1)) relative.
    """
    t1 = t0 * (1 + step)
    a, v = process.transition(t0, t1)
    twin_of = twins(process, "mpmath")
    with mpmath.workdps(50):
        m0, m1 = mpmath.mpf(t0), mpmath.mpf(t1)
        a_ref = twin_of["alpha"](m1) / twin_of["alpha"](m0)
        v_ref = twin_of["sigma2"](m1) - a_ref**2 * twin_of["sigma2"](m0)
        a_ref, v_ref = float(a_ref), float(v_ref)
    size = 8 * EPS * (1 + float(exponent(process, t1)))
    assert abs(a - a_ref) <= size * a_ref
    assert abs(v - v_ref) <= size * v_ref, (process, t0, t1, v, v_ref)


@given(sts.processes(), sts.times(1e-4, 5.0), sts.log_uniform(1e-6, 5.0))
def test_drift_integral_matches_quadrature(process, t0, length):
    """drift_integral(t0, t1) = int_{t0}^{t1} alpha(t0) / alpha(s) g(s)^2 ds (scipy.integrate.quad).

    quad's Gauss-Kronrod error estimate (asked for 1e-13 relative; conservative for these smooth,
    at most exponentially growing integrands) plus 8 eps (1 + E(t1)) of rounding in the closed form.
    """
    t1 = t0 + length
    la0 = float(process.log_alpha(t0))

    def integrand(s):
        return math.exp(la0 - float(process.log_alpha(s))) * float(process.g2(s))

    value, abserr = integrate.quad(integrand, t0, t1, epsabs=0.0, epsrel=1e-13, limit=200)
    closed = float(process.drift_integral(t0, t1))
    bound = abserr + 8 * EPS * (1 + float(exponent(process, t1))) * abs(value)
    assert abs(closed - value) <= bound, (process, t0, t1, closed, value, abserr)


# -- kernel ODEs -----------------------------------------------------------------------------------
def central_difference(fun, t: float, dt: float) -> tuple[float, float]:
    """(fun(t + dt) - fun(t - dt)) / (2 dt'), with dt' the exact half-difference of the rounded times."""
    tp, tm = t + dt, t - dt
    return (float(fun(tp)) - float(fun(tm))) / (tp - tm), (tp - tm) / 2


@given(sts.processes(), sts.times(1e-6, 10.0))
def test_kernel_odes(process, t):
    """d/dt alpha = f alpha and d/dt sigma^2 = 2 f sigma^2 + g^2 (the moment ODEs of the linear SDE).

    Central differences with dt = 1e-3 tau, tau = 1 / (1/t + |f| + |g^2'| / g^2) the time scale of the
    coefficients. Truncation is estimated a posteriori by step halving: the O(dt^2) error of D(dt/2)
    is |D(dt/2) - D(dt)| / 3 to leading order; we allow twice that, plus rounding 2 * 4 eps (1 + E)
    |y| / dt for y = alpha or sigma^2, plus 8 eps times the size of the right-hand side's terms.
    """
    f = float(process.drift(t))
    g2 = float(process.g2(t))
    dg2 = abs(float(process.g2(t * 1.001)) - float(process.g2(t * 0.999))) / (0.002 * t)
    tau = 1.0 / (1.0 / t + abs(f) + dg2 / g2)
    size = 4 * EPS * (1 + float(exponent(process, t * (1 + 1e-3))))
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    for fun, y, rhs_terms in ((process.alpha, alpha, [f * alpha]), (process.sigma2, var, [2 * f * var, g2])):
        coarse, _ = central_difference(fun, t, 1e-3 * tau)
        fine, dt = central_difference(fun, t, 0.5e-3 * tau)
        bound = 2 * abs(fine - coarse) / 3 + 2 * size * abs(y) / dt + 8 * EPS * sum(abs(r) for r in rhs_terms)
        assert abs(fine - sum(rhs_terms)) <= bound, (process, t, fine, sum(rhs_terms), bound)


# -- sampling --------------------------------------------------------------------------------------
SAMPLE_SEED = 5_318_008
SAMPLE_N = 20_000
# Each case makes 3 coordinates x (mean, variance) = 6 two-sided tests at alpha = 1e-6; 18 cases
# give 108 tests, family-wise false-failure rate <= 1.1e-4 (Bonferroni).
SAMPLE_ALPHA = 1e-6


@pytest.mark.parametrize("process", [OU(), VP(), VE()], ids=repr)
@pytest.mark.parametrize("t", [1e-3, 0.5, 3.0])
@pytest.mark.parametrize("vector_t", [False, True], ids=["scalar_t", "vector_t"])
def test_sample_mean_and_variance(process, t, vector_t):
    """X_t = alpha x0 + sigma Z: Z = (X_t - alpha x0) / sigma has mean 0 and variance 1 per coordinate.

    Seed SAMPLE_SEED, n = 20000 rows in d = 3 (x0 rows distinct). Mean: |mean Z_j| <= z / sqrt(n)
    with z the two-sided 1e-6 normal quantile (4.89); variance: (n - 1) s_j^2 inside the central
    1 - 1e-6 interval of chi^2(n - 1). 108 tests over the 18 cases: family-wise rate <= 1.1e-4.
    """
    rng = np.random.default_rng(SAMPLE_SEED)
    x0 = rng.uniform(-2.0, 2.0, size=(SAMPLE_N, 3))
    times = np.full(SAMPLE_N, t) if vector_t else t
    x = process.sample(x0, times, rng)
    assert x.shape == x0.shape
    z = (x - float(process.alpha(t)) * x0) / float(process.sigma(t))
    z_crit = stats.norm.isf(SAMPLE_ALPHA / 2)
    assert np.all(np.abs(z.mean(axis=0)) <= z_crit / math.sqrt(SAMPLE_N)), z.mean(axis=0)
    lo, hi = stats.chi2.ppf([SAMPLE_ALPHA / 2, 1 - SAMPLE_ALPHA / 2], SAMPLE_N - 1)
    chi = (SAMPLE_N - 1) * z.var(axis=0, ddof=1)
    assert np.all((lo <= chi) & (chi <= hi)), (chi, lo, hi)


def test_sample_is_reproducible_and_uses_only_the_generator():
    """The same seed gives the same draw; t = 0 returns x0 itself (sigma(0) = 0)."""
    x0 = np.arange(6.0).reshape(3, 2)
    a = OU().sample(x0, 0.3, np.random.default_rng(1))
    b = OU().sample(x0, 0.3, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(OU().sample(x0, 0.0, np.random.default_rng(1)), x0)


# -- bad input -------------------------------------------------------------------------------------
X0 = np.zeros((4, 2))
RNG = np.random.default_rng(0)

BAD_PROCESS_INPUT = [
    (lambda: VP(beta_min=0.0), ValueError, r"beta_min must be a finite number > 0, got 0\.0"),
    (lambda: VP(beta_min=-1.0), ValueError, r"beta_min must be a finite number > 0, got -1\.0"),
    (lambda: VP(beta_min=2.0, beta_max=1.0), ValueError,
     r"beta_max must be >= beta_min, got beta_min=2\.0, beta_max=1\.0"),
    (lambda: VP(beta_min=float("nan")), ValueError, r"beta_min must be a finite number > 0, got nan"),
    (lambda: VP(beta_max=float("inf")), ValueError, r"beta_max must be a finite number > 0, got inf"),
    (lambda: VP(beta_min="0.1"), TypeError, r"beta_min must be a real number, got str"),
    (lambda: VE(sigma_min=1.0, sigma_max=1.0), ValueError,
     r"sigma_max must be > sigma_min, got sigma_min=1\.0, sigma_max=1\.0"),
    (lambda: VE(sigma_min=2.0, sigma_max=1.0), ValueError,
     r"sigma_max must be > sigma_min, got sigma_min=2\.0, sigma_max=1\.0"),
    (lambda: VE(sigma_min=0.0), ValueError, r"sigma_min must be a finite number > 0, got 0\.0"),
    (lambda: VE(sigma_max=float("nan")), ValueError, r"sigma_max must be a finite number > 0, got nan"),
    (lambda: VE(sigma_min=True), TypeError, r"sigma_min must be a real number, got bool"),
    (lambda: OU().sample(X0, -1.0, RNG), ValueError, r"t must be finite and >= 0, got"),
    (lambda: OU().sample(X0, float("nan"), RNG), ValueError, r"t must be finite and >= 0, got"),
    (lambda: OU().sample(X0, np.array([0.1, -0.1, 0.1, 0.1]), RNG), ValueError, r"t must be finite and >= 0, got"),
    (lambda: OU().sample(X0, np.full(3, 0.1), RNG), ValueError, r"t must be a float or have shape \(4,\), got \(3,\)"),
    (lambda: OU().sample(np.zeros(4), 0.1, RNG), ValueError, r"x0 must have shape \(n, d\), got \(4,\)"),
    (lambda: OU().sample(X0, 0.1, 0), TypeError, r"rng must be a numpy\.random\.Generator .*, got int"),
    (lambda: OU().sample(X0, 0.1, np.random.RandomState(0)), TypeError,
     r"rng must be a numpy\.random\.Generator .*, got RandomState"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_PROCESS_INPUT)
def test_bad_process_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception with a message naming what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()


# -- regression tests of defects found and fixed in theory/ ------------------------------------------
def test_symbolic_parameters_are_exact():
    """The twin's parameters are the process's floats exactly (the twin is the reference of C6)."""
    process = VP(beta_min=0.1 + 1e-12, beta_max=20.0)
    ex = process.symbolic()
    assert float(ex.g2.subs(ex.t, 0)) == process.beta_min


def test_transition_rejects_backward_times():
    with pytest.raises(ValueError, match=r"t1 must be >= t0"):
        OU().transition(1.0, 0.5)


def test_sample_rejects_nan_start():
    with pytest.raises(ValueError, match=r"x0 must be finite"):
        OU().sample(np.array([[np.nan, 0.0]]), 0.1, np.random.default_rng(0))
