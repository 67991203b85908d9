"""Tests of the forward processes (CLAIMS.md §1): NumPy formulas against their SymPy twins and
against mpmath, small-time precision, the two-time kernel, the drift integral, the edges of every
quantity's range, the kernel ODEs, sampling, bad input.

Error bounds. ``theory/processes.py`` documents for each process |computed - exact| <= C eps (1 + E)
|exact|, with C = 2 (OU), 4 (VP), 6 + 1/rate (VE) and E the largest |argument| of an exp or expm1 in
the quantity's formula, derived from its rounding model (each float64 operation errs by <= u =
eps / 2; NumPy's exp, expm1 and log by <= 1 ulp on every SIMD path). The tests check that bound
against mpmath at 50 digits, comparing in mpmath so that the reference adds no rounding; every other
tolerance is derived from it in the test that uses it. No test assumes bit-identical transcendental
results (two CPUs may differ by an ulp); the only exact comparisons are of exactly representable
values (stated where they occur).
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
from scipy import stats

import strategies as sts
from theory import OU, VE, VP, ForwardProcess

EPS = np.finfo(np.float64).eps
U = EPS / 2  # unit roundoff: the relative error of one rounded operation
DBL_MIN = float(np.finfo(np.float64).tiny)  # smallest normal float64, 2.2e-308
DBL_MAX = float(np.finfo(np.float64).max)
SUBNORMAL_ULP = math.ldexp(1.0, -1074)  # spacing of the subnormal floats, 4.9e-324
# The t-range of the twin comparison (t in [1e-6, 10]) and its grid size.
TWIN_GRID = np.geomspace(1e-6, 10.0, 241)
# Digits of the mpmath references.
MP_DIGITS = 50


def bound_constant(process: ForwardProcess) -> float:
    """C of the documented bound C eps (1 + E): 2 (OU), 4 (VP), 6 + 1/rate (VE)."""
    if isinstance(process, VE):
        return 6.0 + 1.0 / (2.0 * math.log(process.sigma_max / process.sigma_min))
    return 2.0 if isinstance(process, OU) else 4.0


def exponent(process: ForwardProcess, t) -> np.ndarray:
    """An upper bound on the documented E of every quantity at time t (two-time ones: at t1).

    2 |log alpha(t)| (OU, VP: B(t) >= every exponent, including the increments of the two-time
    kernel) or rate t (VE).
    """
    t = np.asarray(t, dtype=np.float64)
    if isinstance(process, VE):
        return 2.0 * math.log(process.sigma_max / process.sigma_min) * t
    return 2.0 * np.abs(process.log_alpha(t))


# -- exact references: the closed forms at the process's float parameters, in mpmath ---------------
def exact_log_alpha(process: ForwardProcess, t) -> mpmath.mpf:
    """log alpha(t): -t (OU), -(beta_min t + (beta_max - beta_min) t^2 / 2) / 2 (VP), 0 (VE)."""
    t = mpmath.mpf(t)
    if isinstance(process, OU):
        return -t
    if isinstance(process, VP):
        bmin, bmax = mpmath.mpf(process.beta_min), mpmath.mpf(process.beta_max)
        return -(bmin * t + (bmax - bmin) * t**2 / 2) / 2
    return mpmath.mpf(0)


def exact_rate(process: VE) -> mpmath.mpf:
    return 2 * mpmath.log(mpmath.mpf(process.sigma_max) / mpmath.mpf(process.sigma_min))


def exact_sigma2(process: ForwardProcess, t) -> mpmath.mpf:
    """sigma^2(t): 1 - alpha^2 (OU, VP), sigma_min^2 (exp(rate t) - 1) (VE)."""
    if isinstance(process, VE):
        return mpmath.mpf(process.sigma_min) ** 2 * mpmath.expm1(exact_rate(process) * mpmath.mpf(t))
    return -mpmath.expm1(2 * exact_log_alpha(process, t))


def exact_g2(process: ForwardProcess, t) -> mpmath.mpf:
    """g(t)^2: 2 (OU), beta(t) (VP), rate sigma_min^2 exp(rate t) (VE)."""
    t = mpmath.mpf(t)
    if isinstance(process, OU):
        return mpmath.mpf(2)
    if isinstance(process, VP):
        bmin, bmax = mpmath.mpf(process.beta_min), mpmath.mpf(process.beta_max)
        return bmin + (bmax - bmin) * t
    return exact_rate(process) * mpmath.mpf(process.sigma_min) ** 2 * mpmath.exp(exact_rate(process) * t)


def exact_v(process: ForwardProcess, t0, t1) -> mpmath.mpf:
    """sigma^2(t1) - a^2 sigma^2(t0), with the working precision raised by the digits the difference cancels."""
    for extra in (0, 40, 80, 160, 320, 640):
        with mpmath.workdps(MP_DIGITS + extra):
            s1 = exact_sigma2(process, t1)
            a2 = mpmath.exp(2 * (exact_log_alpha(process, t1) - exact_log_alpha(process, t0)))
            a2s0 = a2 * exact_sigma2(process, t0)
            v = s1 - a2s0
            if v == 0 and s1 == 0:
                return v
            if v != 0 and max(s1, a2s0) / abs(v) < mpmath.mpf(10) ** extra:
                return +v
    raise AssertionError(f"v cancels more than 640 digits at t0={t0}, t1={t1}")


def exact(process: ForwardProcess, name: str, t0, t1=None) -> mpmath.mpf:
    """The exact value of quantity ``name`` at float t0 (and t1), at MP_DIGITS digits."""
    with mpmath.workdps(MP_DIGITS):
        if name == "log_alpha":
            return exact_log_alpha(process, t0)
        if name == "alpha":
            return mpmath.exp(exact_log_alpha(process, t0))
        if name == "sigma2":
            return exact_sigma2(process, t0)
        if name == "g2":
            return exact_g2(process, t0)
        if name == "drift":  # f = -g^2 / 2 (OU, VP), 0 (VE)
            return mpmath.mpf(0) if isinstance(process, VE) else -exact_g2(process, t0) / 2
        if name == "a":
            return mpmath.exp(exact_log_alpha(process, t1) - exact_log_alpha(process, t0))
        if name == "v":
            return exact_v(process, t0, t1)
        if name == "drift_integral":
            # OU, VP: g^2 = -2 f makes the integrand 2 d/ds[alpha(t0) / alpha(s)]; VE: g^2 = d sigma^2 / ds.
            # (test_drift_integral_matches_quadrature checks the integral itself.)
            if isinstance(process, VE):
                return exact_v(process, t0, t1)
            return 2 * mpmath.expm1(exact_log_alpha(process, t0) - exact_log_alpha(process, t1))
    raise ValueError(name)


def documented_exponent(process: ForwardProcess, name: str, t0, t1=None) -> float:
    """E of quantity ``name`` as listed in the process's docstring (the exponents' exact values).

    OU, VP: |log alpha(t)| for alpha, |log a| for a and the drift integral, 0 for the rest (sigma^2
    and v are -expm1(-y), whose condition is <= 1); VE: rate t for sigma^2 and g^2, rate t1 for v and
    the drift integral, 0 for the rest.
    """
    with mpmath.workdps(MP_DIGITS):
        if isinstance(process, VE):
            if name in ("sigma2", "g2"):
                return float(exact_rate(process) * mpmath.mpf(t0))
            if name in ("v", "drift_integral"):
                return float(exact_rate(process) * mpmath.mpf(t1))
            return 0.0
        la0 = exact_log_alpha(process, t0)
        if name == "alpha":
            return float(-la0)
        if name in ("a", "drift_integral"):
            return float(la0 - exact_log_alpha(process, t1))
        return 0.0


def computed(process: ForwardProcess, name: str, t0, t1=None):
    """The NumPy value of quantity ``name``."""
    if name in ("a", "v"):
        return process.transition(t0, t1)[0 if name == "a" else 1]
    if name == "drift_integral":
        return process.drift_integral(t0, t1)
    return getattr(process, name)(t0)


def relative_error(value, reference: mpmath.mpf) -> float:
    """|value - reference| / |reference|, evaluated in mpmath (0 if both are 0)."""
    error = abs(mpmath.mpf(float(value)) - reference)
    return 0.0 if error == 0 else float(error / abs(reference))


# -- SymPy twins ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def twins(process: ForwardProcess, modules: str = "mpmath") -> dict:
    """The SymPy twins (alpha, sigma^2, f, g^2) of ``process.symbolic()`` lambdified for ``modules``.

    Cached: ``symbolic()`` (nsimplify) and lambdify take ~0.1 s per process; processes are frozen
    and hashable.
    """
    ex = process.symbolic()
    return {name: sympy.lambdify(ex.t, getattr(ex, name), modules=modules) for name in ("alpha", "sigma2", "f", "g2")}


@functools.lru_cache(maxsize=64)
def leading_series(process: ForwardProcess) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Taylor coefficients (c_1, c_2) of sigma^2(t) = c_1 t + c_2 t^2 + O(t^3) at 0, from the twin.

    c_j = (d^j sigma^2 / dt^j)(0) / j!, exact in SymPy, evaluated to MP_DIGITS digits.
    """
    ex = process.symbolic()
    return tuple(mpmath.mpf(str((sympy.diff(ex.sigma2, ex.t, j).subs(ex.t, 0) / sympy.factorial(j)).evalf(MP_DIGITS)))
                 for j in (1, 2))


def _exact_decimal(x: float) -> float:
    """x itself, after checking that the twin's Rational(repr(x)) is exactly the float x."""
    assert sympy.Rational(repr(x)) == sympy.Rational(x), x
    return x


@st.composite
def dyadic_processes(draw) -> ForwardProcess:
    """OU, VP or VE whose parameters are dyadic rationals with exact decimal reprs.

    Then the twin's parameters (Rational(repr(p))) are the floats themselves and the twin is the
    process's exact closed form, so the twin can serve as a reference at any precision. Ranges as
    in ``strategies.processes``: VP beta_min = k / 64 in [0.0625, 2], beta_max - beta_min = j / 8 in
    [0, 25]; VE sigma_min = k / 2^14 in [1e-3, 0.1], sigma_max = j / 4 in [1, 50].
    """
    kind = draw(st.sampled_from(["OU", "VP", "VE"]))
    if kind == "OU":
        return OU()
    if kind == "VP":
        bmin = draw(st.integers(4, 128)) / 64
        return VP(_exact_decimal(bmin), _exact_decimal(bmin + draw(st.integers(0, 200)) / 8))
    return VE(_exact_decimal(draw(st.integers(17, 1638)) / 2**14), _exact_decimal(draw(st.integers(4, 200)) / 4))


# Hypothesis examples for the SymPy-backed tests: each new process costs ~0.1-0.3 s of SymPy, so
# these tests draw few processes (8 under the 50-example profiles ci and dev, scaled with the
# profile: 160 under thorough) and always include three representatives (@example): OU(), and VP
# and VE with dyadic parameters next to the defaults VP(0.1, 20), VE(0.01, 50).
SYMPY_EXAMPLES = 8 * settings.default.max_examples // 50
VP_DYADIC = VP(0.125, 20.0)
VE_DYADIC = VE(0.0078125, 50.0)
# A process the ``thorough`` profile found: alpha(12.57) = 4.9e-313 is subnormal there.
VP_SUBNORMAL_ALPHA = VP(beta_min=0.05, beta_max=18.253)


# -- NumPy formulas vs SymPy twins ---------------------------------------------------------------
@settings(max_examples=SYMPY_EXAMPLES)
@given(dyadic_processes())
@example(OU())
@example(VP_DYADIC)
@example(VE_DYADIC)
def test_numpy_matches_sympy_twins(process):
    """alpha, sigma^2, f, g^2 equal their SymPy twins on 241 log-spaced t in [1e-6, 10].

    The twin is evaluated in mpmath at 50 digits and, the parameters being dyadic (see
    ``dyadic_processes``), it is the exact value. Bound: the documented C eps (1 + E), E <=
    ``exponent(t)``.
    """
    twin_of = twins(process)
    t = TWIN_GRID
    size = bound_constant(process) * EPS * (1 + exponent(process, t))
    numeric = {"alpha": process.alpha(t), "sigma2": process.sigma2(t), "f": process.drift(t), "g2": process.g2(t)}
    for name, values in numeric.items():
        assert values.shape == t.shape
        with mpmath.workdps(MP_DIGITS):
            errors = np.array([relative_error(value, mpmath.mpf(twin_of[name](mpmath.mpf(ti))))
                               for value, ti in zip(values, t)])
        assert np.all(errors <= size), (name, process, np.max(errors / size))


@settings(max_examples=SYMPY_EXAMPLES)
@given(dyadic_processes())
@example(OU())
@example(VP_DYADIC)
@example(VE_DYADIC)
def test_sigma2_full_relative_precision_at_tiny_t(process):
    """sigma^2(t) keeps the documented relative bound C eps (1 + E) at t = 1e-12 down to 1e-300.

    Why a series: 1 - exp(-B(t)) (or exp(rate t) - 1) would need 300 more digits at t = 1e-300. The
    series c_1 t + c_2 t^2, with the twin's exact coefficients (exact for dyadic parameters) at 50
    digits, has relative truncation error O((c t)^2) < 1e-20 here. E = ``exponent(t)`` < 1e-9.
    Every t here is inside the documented relative range (VP: t >= DBL_MIN / beta_min; VE: t >=
    DBL_MIN / (rate min(1, sigma_min^2)), below 1e-302 for these parameters).
    """
    c1, c2 = leading_series(process)
    for t in (1e-12, 1e-15, 1e-100, 1e-300):
        size = bound_constant(process) * EPS * (1 + float(exponent(process, t)))
        with mpmath.workdps(MP_DIGITS):
            reference = c1 * mpmath.mpf(t) + c2 * mpmath.mpf(t) ** 2
            assert relative_error(process.sigma2(t), reference) <= size, (process, t)
    # sigma^2 ~ g(0)^2 t: g2(0) errs by at most C eps (E = 0 for OU, VP; rate * 0 = 0 for VE).
    assert relative_error(process.g2(0.0), c1) <= bound_constant(process) * EPS


# -- two-time kernel -------------------------------------------------------------------------------
def composition_bounds(process: ForwardProcess, t0: float, t1: float):
    """Bounds on |a - a_ref|, |v - v_ref| for a_ref = alpha(t1) / alpha(t0), v_ref = sigma^2(t1) - a_ref^2 sigma^2(t0).

    Each of alpha(t0), alpha(t1), sigma^2(t0), sigma^2(t1), a and v errs by <= r = C eps (1 + E),
    E = ``exponent(t1)`` >= every exponent involved, and by one subnormal ulp more when the value is
    below DBL_MIN. a_ref: r (alpha(t1)) + r (alpha(t0)) + u (division), plus SUBNORMAL_ULP /
    alpha(t0) when alpha(t1) is subnormal: that term is the reference's, not the kernel's (the
    kernel exponentiates the exponent's increment and keeps its relative precision; see
    ``test_transition_keeps_precision_where_alpha_is_subnormal``). v_ref: r sigma^2(t1), the
    perturbation of a_ref^2 sigma^2(t0) by a_ref's error, r sigma^2(t0) and two roundings, and u for
    the subtraction.
    """
    alpha0, alpha1 = float(process.alpha(t0)), float(process.alpha(t1))
    s0, s1 = float(process.sigma2(t0)), float(process.sigma2(t1))
    a_ref = alpha1 / alpha0
    r = bound_constant(process) * EPS * (1 + float(exponent(process, t1)))
    a, v = (float(x) for x in process.transition(t0, t1))
    err_a_ref = (2 * r + U) * a_ref + (SUBNORMAL_ULP / alpha0 if alpha1 < DBL_MIN else 0.0)
    # a or a_ref subnormal themselves: one subnormal ulp each (the rounding of the exp or the division).
    bound_a = err_a_ref + r * max(a, a_ref) + (2 * SUBNORMAL_ULP if min(a, a_ref) < DBL_MIN else 0.0)
    a_hi = max(a, a_ref) + err_a_ref
    sq = a_ref**2 * s0
    err_sq = (2 * a_hi * err_a_ref) * s0 + (r + 2 * U) * a_hi**2 * s0
    bound_v = r * s1 + err_sq + U * (s1 + sq) + r * v
    return (a, a_ref, bound_a), (v, s1 - sq, bound_v)


@given(sts.processes(), sts.times(1e-4, 5.0), sts.log_uniform(1e-3, 10.0))
@example(VP_SUBNORMAL_ALPHA, 3.080216848918031, 3.080216848918031)  # found by the thorough profile
def test_transition_equals_composition_at_safe_times(process, t0, ratio):
    """transition(t0, t1) = (alpha(t1) / alpha(t0), sigma^2(t1) - a^2 sigma^2(t0)) for t1 = t0 (1 + r).

    r in [1e-3, 10] keeps the composition's cancellation bounded; t1 is capped at t_max (>= 32.8 for
    the drawn VE processes, so t1 / t0 stays >= 6.5). The bounds are derived in
    ``composition_bounds``. The @example is the case the ``thorough`` profile found:
    alpha(t1) = 4.9e-313 is subnormal there and the composition, not the kernel, errs by 4e-12.
    """
    t1 = min(t0 * (1 + ratio), process.t_max)
    (a, a_ref, bound_a), (v, v_ref, bound_v) = composition_bounds(process, t0, t1)
    assert abs(a - a_ref) <= bound_a, (process, t0, t1, a, a_ref)
    assert abs(v - v_ref) <= bound_v, (process, t0, t1, v, v_ref)
    assert v > 0


@settings(max_examples=3 * SYMPY_EXAMPLES)
@given(st.one_of(st.sampled_from([OU(), VP(), VE()]), sts.processes()), sts.times(1e-4, 10.0),
       sts.log_uniform(1e-14, 1e-6))
def test_transition_accurate_for_tiny_steps(process, t0, step):
    """transition(t0, t0 + h) keeps the documented relative bound for h = 1e-14 .. 1e-6 (relative to t0).

    Reference: sigma^2(t1) - (alpha(t1)/alpha(t0))^2 sigma^2(t0) in mpmath at the float values t0 and
    t1 = fl(t0 (1 + h)), with the working precision raised by the digits the difference cancels
    (``exact_v``). Bound: C eps (1 + E) with E = ``exponent(t1)``.
    """
    t1 = t0 * (1 + step)
    a, v = process.transition(t0, t1)
    size = bound_constant(process) * EPS * (1 + float(exponent(process, t1)))
    assert relative_error(a, exact(process, "a", t0, t1)) <= size, (process, t0, t1)
    assert relative_error(v, exact(process, "v", t0, t1)) <= size, (process, t0, t1)


def log_alpha_inverse(process: ForwardProcess, log_alpha: float) -> float:
    """The float t with log alpha(t) = log_alpha (< 0), from the closed form in mpmath.

    OU: t = -log_alpha; VP: the positive root of B(t) = -2 log_alpha, 2 c / (beta_min + sqrt(beta_min^2 +
    2 (beta_max - beta_min) c)) with c = -2 log_alpha.
    """
    with mpmath.workdps(MP_DIGITS):
        c = -mpmath.mpf(log_alpha)
        if isinstance(process, OU):
            return float(c)
        bmin, bmax = mpmath.mpf(process.beta_min), mpmath.mpf(process.beta_max)
        return float(4 * c / (bmin + mpmath.sqrt(bmin**2 + 4 * (bmax - bmin) * c)))


@settings(max_examples=SYMPY_EXAMPLES)
@given(st.one_of(sts.ou(), sts.vp()), st.floats(709.0, 740.0), st.floats(1.0, 700.0))
@example(VP_SUBNORMAL_ALPHA, 719.12, 675.87)  # t0 = 3.08, t1 = 12.57, alpha(t1) = 4.9e-313
def test_transition_keeps_precision_where_alpha_is_subnormal(process, depth, step):
    """The two-time factor a keeps the documented relative bound where alpha(t1) is subnormal.

    t0, t1 solve log alpha(t1) = -depth, depth in [709, 740] (alpha(t1) is subnormal and alpha(t1) /
    alpha(t0) has lost up to 13 digits) and log alpha(t0) = -(depth - step), step in [1, 700] (a =
    e^-step is normal). a = exp(increment of log alpha) keeps full precision. Reference: mpmath at
    50 digits. Bound: C eps (1 + E), E = |log a|.
    """
    t0, t1 = log_alpha_inverse(process, step - depth), log_alpha_inverse(process, -depth)
    assert t1 > t0 and float(process.alpha(t1)) < DBL_MIN
    a = process.transition(t0, t1)[0]
    size = bound_constant(process) * EPS * (1 + documented_exponent(process, "a", t0, t1))
    assert relative_error(a, exact(process, "a", t0, t1)) <= size, (process, t0, t1)


# mpmath.quad's error estimate must put its value this close (relative) for it to serve as the
# reference: far below float64's eps, so only the closed form's rounding is tested.
QUAD_RELATIVE_ERROR = 1e-30


@given(sts.processes(), sts.times(1e-4, 5.0), sts.log_uniform(1e-6, 5.0))
@example(VP(beta_min=0.05, beta_max=13.482), 4.4816890703380645, 0.049787068367863944)
def test_drift_integral_matches_quadrature(process, t0, length):
    """drift_integral(t0, t1) = int_{t0}^{t1} alpha(t0) / alpha(s) g(s)^2 ds, by mpmath.quad at 50 digits.

    The integrand is the exact closed form (alpha, g^2) in mpmath; quad's own error estimate is
    checked to be below QUAD_RELATIVE_ERROR, so the bound is the documented C eps (1 + E) of the
    closed form alone, E its exponent. (scipy's quad is no reference here: in the @example its
    value erred by 1.3e-14 relative while its error estimate said 1.1e-14; the closed form erred
    by 8e-17.)
    """
    t1 = t0 + length
    with mpmath.workdps(MP_DIGITS):
        la0 = exact_log_alpha(process, t0)
        value, error = mpmath.quad(lambda s: mpmath.exp(la0 - exact_log_alpha(process, s)) * exact_g2(process, s),
                                   [mpmath.mpf(t0), mpmath.mpf(t1)], error=True)
        assert error <= QUAD_RELATIVE_ERROR * abs(value), (process, t0, t1, error)
    closed = process.drift_integral(t0, t1)
    size = bound_constant(process) * EPS * (1 + documented_exponent(process, "drift_integral", t0, t1))
    assert relative_error(closed, value) <= size, (process, t0, t1, float(closed), float(value))


# -- the edges of each quantity's documented range ---------------------------------------------------


def _next_up(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def _edge_cases():
    """(process, quantity, t0, t1, kind) just inside and just outside each documented range.

    kind: "relative" (inside: the documented C eps (1 + E), exact >= DBL_MIN); "underflow" (outside
    the normal range: the bound plus the documented absolute subnormal error, exact < DBL_MIN);
    "refused" (ValueError). Depths of log alpha: -log(DBL_MIN) = 708.396 and log(2^-1075) = -745.13.
    """
    cases = []

    def add(process, name, t0, t1, kind, label):
        cases.append(pytest.param(process, name, t0, t1, kind, id=f"{process!r}-{name}-{label}"))

    for p in (OU(), VP(), VP_SUBNORMAL_ALPHA):
        for depth, kind, label in ((708.39, "relative", "normal"), (708.40, "underflow", "subnormal"),
                                   (745.13, "underflow", "last-subnormal"), (746.0, "underflow", "zero")):
            add(p, "alpha", log_alpha_inverse(p, -depth), None, kind, label)
            la1 = -depth + float(exact_log_alpha(p, 1.0))
            add(p, "a", 1.0, log_alpha_inverse(p, la1), kind, label)
        # drift integral: exponent log alpha(t0) - log alpha(t1) just below / above 707.70.
        for depth, kind in ((707.70, "relative"), (707.71, "refused")):
            add(p, "drift_integral", 0.0, log_alpha_inverse(p, -depth), kind, f"exponent-{depth}")
            la1 = -depth + float(exact_log_alpha(p, 2.0))
            add(p, "drift_integral", 2.0, log_alpha_inverse(p, la1), kind, f"from-2-exponent-{depth}")
    for p in (VP(), VP_SUBNORMAL_ALPHA):
        # sigma^2 and v near 0: relative while B (dB) >= DBL_MIN; below, one subnormal ulp absolute.
        add(p, "sigma2", 4 * DBL_MIN / p.beta_min, None, "relative", "normal")
        add(p, "sigma2", DBL_MIN / (8 * p.beta_min), None, "underflow", "subnormal")
        add(p, "v", 0.0, DBL_MIN / (8 * p.beta_min), "underflow", "subnormal")
    add(VP_SUBNORMAL_ALPHA, "a", 3.080216848918031, 12.567952685276556, "relative", "issue-16")
    add(VP_SUBNORMAL_ALPHA, "alpha", 12.567952685276556, None, "underflow", "issue-16")
    add(OU(), "sigma2", 5e-324, None, "relative", "subnormal-t")
    add(OU(), "v", 1.0, 1.0 + EPS, "relative", "one-ulp-step")
    for p in (VE(), VE(0.001, 1.0), VE_DYADIC):
        rate = 2 * math.log(p.sigma_max / p.sigma_min)
        add(p, "sigma2", 4 * DBL_MIN / (rate * min(1.0, p.sigma_min**2)), None, "relative", "normal")
        add(p, "sigma2", DBL_MIN / (8 * rate), None, "underflow", "subnormal")
        add(p, "v", 0.0, DBL_MIN / (8 * rate), "underflow", "subnormal")
    # t_max: every quantity finite and within its bound at t_max, refused just above it.
    for p in (OU(), VP(), VP_SUBNORMAL_ALPHA, VE(), VE(0.001, 1.0), VE_DYADIC):
        t_max = p.t_max
        for name in ("log_alpha", "alpha", "sigma2", "g2", "drift"):
            kind = "underflow" if name == "alpha" and not isinstance(p, VE) else "relative"
            add(p, name, t_max, None, kind, "t_max")
            add(p, name, _next_up(t_max), None, "refused", "above-t_max")
        for name in ("a", "v"):
            kind = "underflow" if name == "a" and not isinstance(p, VE) else "relative"
            add(p, name, t_max / 2, t_max, kind, "t_max")
            add(p, name, t_max / 2, _next_up(t_max), "refused", "above-t_max")
        if isinstance(p, VE):
            add(p, "drift_integral", t_max / 2, t_max, "relative", "t_max")
            add(p, "drift_integral", 0.0, t_max, "relative", "0-to-t_max")
            add(p, "drift_integral", t_max / 2, _next_up(t_max), "refused", "above-t_max")
    return cases


def subnormal_allowance(process: ForwardProcess, name: str, t0, t1) -> float:
    """The documented absolute error of a result below DBL_MIN: one subnormal ulp, times
    max(1, s(t0)^2) for VE's sigma^2 and v (the factor that multiplies the subnormal x or x_h)."""
    if isinstance(process, VE) and name in ("sigma2", "v"):
        start = 0.0 if name == "sigma2" else t0
        return max(1.0, process.sigma_min**2 * math.exp(2 * math.log(process.sigma_max / process.sigma_min) * start)) \
            * SUBNORMAL_ULP
    return SUBNORMAL_ULP


@pytest.mark.parametrize(("process", "name", "t0", "t1", "kind"), _edge_cases())
def test_range_edges(process, name, t0, t1, kind):
    """Just inside each documented range the bound holds against mpmath; just outside, the documented behaviour.

    Reference: the closed form in mpmath at 50 digits at the float times. "relative": |value - exact|
    <= C eps (1 + E) |exact| (the row is inside the range of the relative bound). "underflow": exact < DBL_MIN
    (the row is outside), and |value - exact| <= C eps (1 + E) |exact| + the documented subnormal
    allowance: for exact < 2^-1075 that allows 0 or the smallest subnormal (a 1-ulp exp may return
    either; every libm we know returns 0). "refused": ValueError naming the limit.
    """
    if kind == "refused":
        with pytest.raises(ValueError, match=r"t_max|drift_integral"):
            computed(process, name, t0, t1)
        return
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = computed(process, name, t0, t1)
    assert np.isfinite(value)
    reference = exact(process, name, t0, t1)
    size = bound_constant(process) * EPS * (1 + documented_exponent(process, name, t0, t1))
    if kind == "relative":
        assert relative_error(value, reference) <= size, (float(value), float(reference))
    else:
        assert abs(reference) < DBL_MIN, "row is not outside the normal range"
        error = abs(mpmath.mpf(float(value)) - reference)
        allowance = subnormal_allowance(process, name, t0, t1)
        assert error <= size * abs(reference) + allowance, (float(value), float(reference))


def test_documented_t_max():
    """The t_max quoted in the docstrings: DBL_MAX / 4 (OU), about 2.1e153 (VP()), 41.59 (VE()), and
    VP's B(t_max) = DBL_MAX / 4.

    OU: DBL_MAX / 4 is a power-of-two scaling, exact on both sides, so == holds bit for bit. VP:
    t_max = 2 L / (beta_min + hypot(beta_min, sqrt(2 spread) sqrt(L))) takes 7 correctly rounded
    operations (u each; the first sqrt halves the spread's u) and hypot (<= 1 ulp, eps): relative
    error <= 7.5 u; B(t) ~ t^2 doubles it: |B(t_max) / L - 1| <= 15 u < 8 eps.
    """
    assert OU().t_max == DBL_MAX / 4
    assert VP().t_max == pytest.approx(2.125e153, rel=1e-3)
    assert VE().t_max == pytest.approx(41.59, abs=0.005)
    for process in (VP(), VP_SUBNORMAL_ALPHA, VP(2.0, 27.0)):
        with mpmath.workdps(MP_DIGITS):
            ratio = -2 * exact_log_alpha(process, process.t_max) / (mpmath.mpf(DBL_MAX) / 4)
            assert abs(ratio - 1) <= 8 * EPS, (process, float(ratio - 1))


def _domain_times(process: ForwardProcess) -> st.SearchStrategy[float]:
    """Times anywhere in [0, t_max]: Hypothesis's float edges (0, subnormals, t_max) and log-uniform ones."""
    upper = process.t_max
    return st.one_of(st.floats(0.0, upper, allow_subnormal=True), st.sampled_from([0.0, 5e-324, upper]),
                     sts.log_uniform(1e-300, upper))


@given(st.one_of(st.sampled_from([OU(), VP(), VE(), VP_SUBNORMAL_ALPHA]), sts.processes()), st.data())
def test_no_nan_or_inf_anywhere_on_the_domain(process, data):
    """For t0 <= t1 anywhere in [0, t_max], every quantity is finite (never NaN or inf, no floating-point
    overflow or invalid operation on the way), or drift_integral refuses with ValueError beyond its
    documented exponent limit; times above t_max are refused."""
    t0, t1 = sorted(data.draw(st.tuples(_domain_times(process), _domain_times(process)), label="t0, t1"))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for name in ("log_alpha", "alpha", "sigma2", "g2", "drift"):
            assert np.isfinite(computed(process, name, t1)), (name, t1)
        a, v = process.transition(t0, t1)
        assert np.isfinite(a) and np.isfinite(v) and a >= 0 and v >= 0
        try:
            assert np.isfinite(process.drift_integral(t0, t1))
        except ValueError as error:
            assert not isinstance(process, VE) and "drift_integral" in str(error)
            # Refused when the computed exponent exceeds 707.703; the exact one differs by its
            # documented rounding (< 1e-9 at this size), far less than the 0.003 of slack here.
            assert documented_exponent(process, "drift_integral", t0, t1) > 707.7
    with pytest.raises(ValueError, match="t_max"):
        process.sigma2(_next_up(process.t_max))


# -- the inverse of sigma^2 ----------------------------------------------------------------------
INVERSE_PROCESSES = [OU(), VP(), VE(), VP_DYADIC, VE_DYADIC, VP_SUBNORMAL_ALPHA, VP(2.0, 2.0), VE(1e-5, 50.0)]


def inverse_constant(process: ForwardProcess) -> float:
    """K of time_at_sigma2's documented bound |t - t_exact| <= K eps t_exact: 1 (OU), 5 (VP), 4 + 1/rate (VE)."""
    if isinstance(process, VE):
        return 4.0 + 1.0 / (2.0 * math.log(process.sigma_max / process.sigma_min))
    return 1.0 if isinstance(process, OU) else 5.0


def sigma2_nodes(process: ForwardProcess) -> np.ndarray:
    """Normal s2 over the whole range: 80 log-spaced from DBL_MIN up, plus 1 - 2^-k (k = 1 .. 53, the
    floats that approach 1 for OU and VP) or sigma2_sup itself (VE, reached at t_max)."""
    if isinstance(process, VE):
        return np.append(np.geomspace(DBL_MIN, process.sigma2_sup, 80), process.sigma2_sup)
    return np.concatenate([np.geomspace(DBL_MIN, 0.5, 80), 1.0 - np.ldexp(1.0, -np.arange(1, 54))])


def exact_root(process: ForwardProcess, s2: float, guess: float) -> mpmath.mpf:
    """The t with exact sigma^2(t) = s2 (float s2, exact in mpmath), at MP_DIGITS digits: a bracketed
    root of the forward closed form, relative form sigma^2(t) / s2 - 1, within 1e-9 relative of ``guess``
    (mpmath raises if it is not there)."""
    with mpmath.workdps(MP_DIGITS):
        target = mpmath.mpf(s2)
        bracket = (mpmath.mpf(guess) * (1 - mpmath.mpf(1e-9)), mpmath.mpf(guess) * (1 + mpmath.mpf(1e-9)))
        return mpmath.findroot(lambda t: exact_sigma2(process, t) / target - 1, bracket, solver="anderson")


@pytest.mark.parametrize("process", INVERSE_PROCESSES, ids=repr)
def test_time_at_sigma2_matches_the_exact_root(process):
    """time_at_sigma2(s2) against the root of the exact sigma^2(t) = s2 at 50 digits: relative error <=
    K eps (K = 1 OU, 5 VP, 4 + 1/rate VE, derived in theory/processes.py). The reference solves the
    forward closed form numerically and shares no formula with the inverse."""
    s2 = sigma2_nodes(process)
    t = process.time_at_sigma2(s2)
    assert t.shape == s2.shape and np.all(t <= process.t_max)
    worst = max(relative_error(ti, exact_root(process, float(si), float(ti))) for si, ti in zip(s2, t))
    assert worst <= inverse_constant(process) * EPS, worst / EPS


@pytest.mark.parametrize("process", INVERSE_PROCESSES, ids=repr)
def test_time_at_sigma2_inverts_the_forward_map(process):
    """sigma2(time_at_sigma2(s2)) = s2 to |error| <= (K cond(t) + C (1 + E)) eps s2: the inverse's error
    K eps (above) times sigma^2's condition cond(t) = t (d sigma^2/dt) / sigma^2 = t (2 f sigma^2 + g^2)
    / sigma^2 (the variance ODE), plus sigma2's own documented error C eps (1 + E)."""
    s2 = sigma2_nodes(process)
    t = process.time_at_sigma2(s2)
    back = process.sigma2(t)
    cond = t * (2.0 * process.drift(t) * back + process.g2(t)) / back
    allowed = (inverse_constant(process) * cond + bound_constant(process) * (1.0 + exponent(process, t))) * EPS
    assert np.all(np.abs(back - s2) <= allowed * s2), np.max(np.abs(back - s2) / (allowed * s2))


def test_time_at_sigma2_keeps_shape_and_reaches_t_max():
    """Any shape in, the same shape out; VE's sigma2_sup maps to a time in [0, t_max] with sigma^2 equal to
    it within sigma2's own error C eps (1 + rate t_max) (cond >= 1 there only shrinks the t error)."""
    grid = np.full((2, 3), 0.25)
    assert OU().time_at_sigma2(grid).shape == (2, 3)
    assert VP().time_at_sigma2(0.25).shape == ()
    ve = VE()
    t = float(ve.time_at_sigma2(ve.sigma2_sup))
    assert t <= ve.t_max
    assert abs(float(ve.sigma2(t)) / ve.sigma2_sup - 1) <= bound_constant(ve) * (1 + exponent(ve, ve.t_max)) * EPS


# -- kernel ODEs -----------------------------------------------------------------------------------
def central_difference(fun, t: float, dt: float) -> tuple[float, float, float]:
    """((fun(t + dt) - fun(t - dt)) / (2 dt'), dt', max |fun(t +- dt)|).

    dt' is the exact half-difference of the rounded times.
    """
    tp, tm = t + dt, t - dt
    fp, fm = float(fun(tp)), float(fun(tm))
    return (fp - fm) / (tp - tm), (tp - tm) / 2, max(abs(fp), abs(fm))


@given(sts.processes(), sts.times(1e-6, 10.0))
def test_kernel_odes(process, t):
    """d/dt alpha = f alpha and d/dt sigma^2 = 2 f sigma^2 + g^2 (the moment ODEs of the linear SDE).

    Central differences with dt = 1e-3 tau, tau = 1 / (1/t + |f| + |g^2'| / g^2) the time scale of the
    coefficients. Truncation is estimated a posteriori by step halving: the O(dt^2) error of D(dt/2)
    is |D(dt/2) - D(dt)| / 3 to leading order; we allow twice that. Rounding: each of fun(t +- dt)
    errs by <= r |fun| (r = C eps (1 + E), E = ``exponent`` at t (1 + 1e-3) >= both times), so the
    quotient by r max|fun(t +- dt)| / dt, plus u for the subtraction and u for the division (2 u |D|).
    The right-hand side: each term is a product of two computed factors (r each) rounded once, and
    the sum is rounded once: (2 r + 2 u) times the sum of the terms' sizes.
    """
    f = float(process.drift(t))
    g2 = float(process.g2(t))
    dg2 = abs(float(process.g2(t * 1.001)) - float(process.g2(t * 0.999))) / (0.002 * t)
    tau = 1.0 / (1.0 / t + abs(f) + dg2 / g2)
    r = bound_constant(process) * EPS * (1 + float(exponent(process, t * (1 + 1e-3))))
    alpha, var = float(process.alpha(t)), float(process.sigma2(t))
    for fun, rhs_terms in ((process.alpha, [f * alpha]), (process.sigma2, [2 * f * var, g2])):
        coarse, _, _ = central_difference(fun, t, 1e-3 * tau)
        fine, dt, size = central_difference(fun, t, 0.5e-3 * tau)
        bound = (2 * abs(fine - coarse) / 3 + r * size / dt + 2 * U * abs(fine)
                 + (2 * r + 2 * U) * sum(abs(term) for term in rhs_terms))
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
    """The same seed gives the same draw; t = 0 returns x0 itself (sigma(0) = 0).

    Bit identity holds: the first comparison repeats one computation in one process; the second
    needs alpha(0) = exp(-0) = 1 and sigma(0) = sqrt(-expm1(-0)) = 0 exactly, which C99 Annex F
    requires of exp, expm1 and sqrt at 0 (special cases, not rounding) and NumPy's SIMD paths keep.
    """
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
    # The documented range: times above t_max, drift-integral exponents above 707.70, parameters whose
    # kernel would leave float64 at every t.
    (lambda: OU().alpha(DBL_MAX), ValueError,
     r"t must be <= t_max = 4\.49\d*e\+307 for OU\(\) \(beyond it 2 t exceeds float64\), got 1\.79\d*e\+308"),
    (lambda: VP().log_alpha(1e154), ValueError, r"t must be <= t_max = 2\.12\d*e\+153 for VP\(beta_min=0\.1, "
     r"beta_max=20\.0\) \(beyond it B\(t\) = int_0\^t beta exceeds float64\), got 1e\+154"),
    (lambda: VP().transition(0.0, 1e154), ValueError, r"t1 must be <= t_max = 2\.12\d*e\+153 for VP"),
    (lambda: VE().sigma2(50.0), ValueError,
     r"t must be <= t_max = 41\.58\d* for VE\(sigma_min=0\.01, sigma_max=50\.0\) "
     r"\(beyond it s\(t\)\^2 = sigma_min\^2 exp\(rate t\) exceeds float64\), got 50\.0"),
    (lambda: VE().g2(np.array([1.0, 42.0])), ValueError, r"t must be <= t_max = 41\.58\d* .*, got 42\.0"),
    (lambda: OU().sample(X0, 1e308, RNG), ValueError, r"t must be <= t_max = 4\.49\d*e\+307 for OU\(\)"),
    (lambda: OU().drift_integral(0.0, 800.0), ValueError,
     r"drift_integral\(t0, t1\) = 2 \(exp\(y\) - 1\) of OU\(\) exceeds float64 for y = t1 - t0 > 707\.703, "
     r"got y = 800\.0 at t0=0\.0, t1=800\.0"),
    (lambda: VP().drift_integral(np.array([0.0, 0.0]), np.array([1.0, 20.0])), ValueError,
     r"drift_integral\(t0, t1\) = 2 \(exp\(y\) - 1\) of VP\(beta_min=0\.1, beta_max=20\.0\) exceeds float64 for "
     r"y = \(B\(t1\) - B\(t0\)\) / 2 > 707\.703, got y = 1991\.0 at t0=0\.0, t1=20\.0"),
    (lambda: VE(sigma_min=1e-300, sigma_max=1e300), ValueError,
     r"sigma_max / sigma_min must be a finite float, got sigma_min=1e-300, sigma_max=1e\+300"),
    (lambda: VE(sigma_min=1e200, sigma_max=1e201), ValueError,
     r"g\(0\)\^2 = 2 log\(sigma_max / sigma_min\) sigma_min\^2 must be below DBL_MAX / 4, got sigma_min=1e\+200"),
    # time_at_sigma2: 0 < s2 < 1 (OU, VP; sigma^2 only approaches 1) or <= sigma2(t_max) (VE).
    (lambda: OU().time_at_sigma2(0.0), ValueError,
     r"s2 must be in \(0, 1\.0\) for OU\(\) \(sigma\(t\)\^2 approaches 1\.0 as t grows and never reaches it\), "
     r"got 0\.0"),
    (lambda: OU().time_at_sigma2(-0.5), ValueError, r"s2 must be in \(0, 1\.0\) for OU\(\) .*, got -0\.5"),
    (lambda: OU().time_at_sigma2(1.0), ValueError, r"s2 must be in \(0, 1\.0\) for OU\(\) .*, got 1\.0"),
    (lambda: VP().time_at_sigma2(np.array([0.5, 1.5])), ValueError, r"s2 must be in \(0, 1\.0\) for VP\(.*, got 1\.5"),
    (lambda: VP().time_at_sigma2(float("nan")), ValueError, r"s2 must be in \(0, 1\.0\) .*, got nan"),
    (lambda: VE().time_at_sigma2(float("inf")), ValueError,
     r"s2 must be in \(0, 4\.49\d*e\+303\] for VE\(sigma_min=0\.01, sigma_max=50\.0\) \(4\.49\d*e\+303 is "
     r"sigma\(t\)\^2 at t_max = 41\.58\d*\), got inf"),
    (lambda: VE().time_at_sigma2(2.0 * VE().sigma2_sup), ValueError, r"s2 must be in \(0, .*\] for VE\(.*, got "),
    (lambda: OU().time_at_sigma2("0.5"), TypeError, r"s2 must be a real number or an array of real numbers, got str"),
    (lambda: OU().time_at_sigma2(True), TypeError, r"s2 must be a real number .*, got bool of dtype bool"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_PROCESS_INPUT)
def test_bad_process_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception with a message naming what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()


# -- regression tests of defects found and fixed in theory/ ------------------------------------------
def test_symbolic_parameters_are_exact():
    """The twin's parameters are the process's floats exactly (the twin is the reference of C6).

    == is exact: float(Rational(repr(x))) is one correctly rounded conversion, which returns x by
    repr's round-trip guarantee; nothing transcendental is evaluated.
    """
    process = VP(beta_min=0.1 + 1e-12, beta_max=20.0)
    ex = process.symbolic()
    assert float(ex.g2.subs(ex.t, 0)) == process.beta_min


def test_transition_rejects_backward_times():
    with pytest.raises(ValueError, match=r"t1 must be >= t0"):
        OU().transition(1.0, 0.5)


def test_sample_rejects_nan_start():
    with pytest.raises(ValueError, match=r"x0 must be finite"):
        OU().sample(np.array([[np.nan, 0.0]]), 0.1, np.random.default_rng(0))
