"""Tests of theory/linearized.py: the symbolic process twin and the moments of the linearized normal
dynamics (CLAIMS.md C6), against closed forms and independent quadratures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from theory import OU, VE, VP
from theory.linearized import NormalMoments, SymbolicProcess, moment_levels, scheme_moments
from theory.symbolic import ErrorFamily

EPS = np.finfo(np.float64).eps
PROCESSES = [OU(), VP(), VE()]
OFFSET, SCALED = ErrorFamily.NORMAL_OFFSET, ErrorFamily.SCALED_NORMAL


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_symbolic_twin_agrees_with_the_numpy_kernel(process):
    """Both evaluate one formula within C eps (1 + E) of the exact value (theory/processes.py, C <= 6 +
    1/rate = 6.6 for VE, E <= rate t <= 8.5 here); the twin's own rounding is of the same order, so
    they agree within 2 x 6.6 x 9.5 eps < 128 eps. The transition variance v = sigma(t1)^2 -
    a^2 sigma(t0)^2 of the twin loses a factor sigma(t1)^2 / v <= 18 (steps of 40 per decade) more."""
    twin = SymbolicProcess(process)
    t = np.geomspace(1e-9, 0.5, 37)
    for name in ("sigma2", "alpha", "g2", "drift"):
        np.testing.assert_allclose(getattr(twin, name)(t), getattr(process, name)(t), rtol=128 * EPS, atol=0)
    t0, t1 = t[:-1], t[:-1] * 10 ** (1 / 40)
    a_twin, v_twin = twin.transition(t0, t1)
    a, v = process.transition(t0, t1)
    np.testing.assert_allclose(a_twin, a, rtol=128 * EPS, atol=0)
    np.testing.assert_allclose(v_twin, v, rtol=18 * 128 * EPS, atol=0)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_symbolic_twin_inverse_and_drift_integral(process):
    """brentq to a relative 4 eps on log t (time_at_sigma2); quad to 1e-12 (drift integral)."""
    twin = SymbolicProcess(process)
    s2 = np.array([1e-6, 0.01, 0.25])
    np.testing.assert_allclose(twin.time_at_sigma2(s2), process.time_at_sigma2(s2), rtol=1e-12)
    np.testing.assert_allclose(twin.drift_integral([0.01, 0.1], [0.02, 0.3]),
                               process.drift_integral([0.01, 0.1], [0.02, 0.3]), rtol=1e-10)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_exact_score_moments_are_the_forward_variance(process):
    """beta = 1, c = 0 from v0 = sigma(T)^2: v(t) = sigma(t)^2 exactly (the forward marginal).

    ODE: the global error of LSODA at rtol 1e-10 stays below 1e-8 here (observed 8e-11). Scheme: the
    posterior step is the exact Gaussian bridge when the denoiser's normal part is 0, so only
    rounding remains: about 4 eps per step over at most 400 steps, below 1e-12."""
    T = float(process.time_at_sigma2(0.25))
    deltas = np.geomspace(1e-4, 1e-9, 6)
    v0 = float(process.sigma2(T))
    ode = moment_levels(SCALED, process, 1.0, T=T, v0=v0, deltas=deltas)
    np.testing.assert_allclose(ode.v, process.sigma2(deltas), rtol=1e-8)
    np.testing.assert_array_equal(ode.m, 0.0)
    twin = scheme_moments(SCALED, process, 1.0, T=T, v0=v0, deltas=deltas, steps_per_decade=40)
    np.testing.assert_allclose(twin.v, process.sigma2(deltas), rtol=1e-12)


@pytest.mark.parametrize("a", [0.25, 0.75, 1.25])
def test_offset_mean_matches_variation_of_constants(a):
    """OU, beta = 1: h = sigma^2/alpha solves the homogeneous m-equation, so from m(T) = 0
    m(t) = h(t) int_t^T g^2 c s^(-a) / h(s) ds (sign: dm/dt = (f + g^2/sigma^2) m - g^2 c t^-a),
    by scipy quad in log s to 1e-12 relative."""
    process, c, T = OU(), 0.7, 0.2
    deltas = np.array([1e-2, 1e-4, 1e-6])

    def h(s):
        return -math.expm1(-2 * s) / math.exp(-s)

    expected = [h(t) * integrate.quad(lambda u: 2 * c * math.exp(u) ** (1 - a) / h(math.exp(u)), math.log(t),
                                      math.log(T), epsabs=0, epsrel=1e-12, limit=200)[0] for t in deltas]
    got = moment_levels(OFFSET, process, a, c=c, T=T, v0=0.1, deltas=deltas)
    np.testing.assert_allclose(got.m, expected, rtol=1e-7)


@pytest.mark.parametrize("family, param, c", [(OFFSET, 0.75, 1.0), (SCALED, 0.25, 0.0)])
def test_scheme_moments_converge_to_the_odes_at_first_order(family, param, c):
    """The posterior scheme has weak order 1: quadrupling the steps divides the level error by about 4
    (between 3 and 5)."""
    process = VE()
    T = float(process.time_at_sigma2(0.25))
    deltas = np.array([1e-4, 1e-6])
    kwargs = dict(c=c, T=T, v0=0.25, deltas=deltas)
    ode = moment_levels(family, process, param, **kwargs).rms(2)
    coarse = scheme_moments(family, process, param, steps_per_decade=20, **kwargs).rms(2)
    fine = scheme_moments(family, process, param, steps_per_decade=80, **kwargs).rms(2)
    ratio = np.abs(coarse / ode - 1) / np.abs(fine / ode - 1)
    assert np.all((3 < ratio) & (ratio < 5)), ratio


def test_rms_adds_the_shift():
    moments = NormalMoments(deltas=np.array([1e-2, 1e-3]), m=np.array([3.0, 0.0]), v=np.array([4.0, 1.0]))
    np.testing.assert_allclose(moments.rms(2, shift=np.array([0.0, 2.0])), [math.sqrt(17.0), math.sqrt(6.0)])


@pytest.mark.parametrize("call, error, match", [
    (lambda: SymbolicProcess(SymbolicProcess(OU())), TypeError, "NumPy process"),
    (lambda: SymbolicProcess("OU"), TypeError, "ForwardProcess"),
    (lambda: moment_levels("offset", OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[1e-3]), TypeError, "ErrorFamily"),
    (lambda: moment_levels(SCALED, OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[1e-3]), ValueError, "c must be 0"),
    (lambda: moment_levels(OFFSET, OU(), np.nan, c=1.0, T=0.1, v0=0.1, deltas=[1e-3]), ValueError, "param"),
    (lambda: moment_levels(OFFSET, OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[0.2]), ValueError, "< T"),
    (lambda: moment_levels(OFFSET, OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[]), ValueError, "non-empty"),
    (lambda: moment_levels(OFFSET, OU(), 0.5, c=1.0, T=0.1, v0=-1.0, deltas=[1e-3]), ValueError, "v0"),
    (lambda: scheme_moments(OFFSET, OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[1e-3], steps_per_decade=10,
                            scheme="ancestral"), ValueError, "Ancestral"),
    (lambda: scheme_moments(OFFSET, OU(), 0.5, c=1.0, T=0.1, v0=0.1, deltas=[1e-3], steps_per_decade=0),
     ValueError, "steps_per_decade"),
    (lambda: NormalMoments(np.ones(1), np.ones(1), np.ones(1)).rms(0), ValueError, "codim"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
