"""Tests of theory/fokker_planck.py: the 1-D Fokker-Planck solver of the reverse SDE (CLAIMS.md §1, C4).

Reference laws are closed forms: the exact reverse SDE of a point mass keeps the forward marginal
N(0, sigma(t)^2) when started from p_T (CLAIMS.md §1); a constant drift -b sign(y) with constant
noise g^2 has the stationary Laplace law of rate 2 b / g^2, median of |Y| log(2) g^2/(2 b).
Tolerances are measured convergence orders, stated at each test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from theory import OU, VP
from theory.fokker_planck import ReverseLaw, bernoulli, clipped_point_law, reverse_law, symmetric_edges
from theory.symbolic import numpy_twin

# The median of |Z| for Z ~ N(0, 1): Phi^-1(3/4).
HALF_NORMAL_MEDIAN = float(stats.norm.ppf(0.75))


def test_bernoulli_function():
    """B(0) = 1; B(-z) = B(z) + z (so the stationary ratio B(-z)/B(z) is e^z); the series and the
    direct branch agree across the switch at 1e-6 to rounding; no overflow for |z| up to 700 and beyond."""
    z = np.array([-50.0, -1.0, -1e-6, 0.0, 1e-7, 0.3, 40.0])
    assert bernoulli(np.array([0.0]))[0] == 1.0
    # Tolerance: B is one expm1 and one division (2 ulps each side). At z = -50 the right side cancels 50 - 50 to
    # within one ulp of 50 (7.1e-15 absolute) while the left is 1e-20: the atol (14 such ulps) covers it. Elsewhere
    # the sum's condition (|B(z)| + |z|) / |B(-z)| is at most 4.5 (z = -1): a few ulps, well inside the rtol (no
    # BLAS product).
    assert np.allclose(bernoulli(-z), bernoulli(z) + z, rtol=1e-13, atol=1e-13)
    assert np.allclose(bernoulli(-z) / bernoulli(z), np.exp(z), rtol=1e-12)
    # Tolerance: each branch rounds to within 2 ulps of B ~ 1 - z/2 (series truncation z^4/720 ~ 1e-27; the 1e-18
    # relative shift of z moves B by 5e-19): 1e-15 = 4.5 eps.
    assert bernoulli(np.array([1e-6 * (1 - 1e-12)]))[0] == pytest.approx(bernoulli(np.array([1e-6]))[0], rel=1e-15)
    with np.errstate(all="raise"):
        assert np.all(np.isfinite(bernoulli(np.array([-1e4, 1e4]))))


@pytest.mark.parametrize("h0", [1e-3, 0.016])
def test_symmetric_edges(h0):
    e = symmetric_edges(8.0, 1000, h0=h0)
    assert e.shape == (1001,) and e[500] == 0.0 and e[0] == -8.0 and e[-1] == 8.0
    assert np.array_equal(e, -e[::-1])
    widths = np.diff(e[500:])
    assert widths[0] == pytest.approx(h0, rel=1e-9)
    assert np.all(np.diff(widths) >= -1e-12)  # non-decreasing outwards (uniform at h0 = 0.016)


@pytest.mark.parametrize("process, T", [(OU(), 5.0), (VP(), 1.0)], ids=["OU", "VP"])
def test_exact_reverse_sde_keeps_the_forward_marginal(process, T):
    """mu = delta_0, exact score -y/sigma^2, prior p_T = N(0, sigma(T)^2): the law at t is N(0, sigma(t)^2).

    2000 cells, central width 1e-4, against sigma(t) >= 0.0105 (VP at t = 1e-3): the median of |Y|
    errs by at most 6.7e-5 relatively (measured; 1.8e-5 with cells half as wide: second order in the
    cell width; doubling the time steps changes it by < 1e-6); 2e-4 bounds it.
    """
    ex = process.symbolic()
    f, g2, s2 = (numpy_twin(e, ex.t) for e in (ex.f, ex.g2, ex.sigma2))
    times = [0.3, 1e-2, 1e-3]
    law = reverse_law(lambda t, y: -float(f(t)) * y - float(g2(t)) * y / float(s2(t)), lambda t: float(g2(t)),
                      edges=symmetric_edges(8.0, 2000, h0=1e-4), prior=stats.norm(0.0, math.sqrt(float(s2(T)))),
                      T=T, times=times)
    medians, densities = law.abs_quantile(0.5)
    expected = HALF_NORMAL_MEDIAN * np.sqrt(s2(np.array(times)))
    assert np.allclose(medians, expected, rtol=2e-4)
    # the density of |Y| at its median, 2 phi(Phi^-1(3/4)) / sigma: a cell average, which misses the
    # point value by about h |p'|/p = h m / sigma^2 <= 1 % (h <= 2e-4 at the median m, t = 1e-3)
    assert np.allclose(densities, 2 * stats.norm.pdf(HALF_NORMAL_MEDIAN) / np.sqrt(s2(np.array(times))), rtol=1e-2)
    # zero-flux ends: the mass stays 1 (minus the prior's tail beyond 8 sigma(T), < 1e-15) to rounding
    assert np.allclose(law.mass, 1.0, rtol=0, atol=1e-10)


def test_constant_drift_settles_at_the_laplace_law():
    """Drift -b sign(y), g^2 = 2, b = 5: stationary density ~ exp(-b |y|), median of |Y| log(2)/b.

    Relaxation time 1/b^2 = 0.04 against u = T - t ~ 2 of running: converged to rounding. The
    fitted flux makes the cell ratios exactly e^(-b h) on a uniform grid; the piecewise-constant
    CDF then places the median within O((b h)^2) relatively (h = 0.004; measured 6.7e-5): 2e-4 bounds it."""
    b = 5.0
    law = reverse_law(lambda t, y: -b * np.sign(y), lambda t: 2.0, edges=symmetric_edges(8.0, 4000, h0=0.004),
                      prior=stats.norm(0.0, 1.0), T=2.0, times=[1e-3])
    assert law.abs_quantile(0.5)[0][0] == pytest.approx(math.log(2.0) / b, rel=2e-4)


def test_clipped_point_law_without_an_active_clip_is_the_exact_law():
    """C = 1e8 never binds here (|y|/sigma^2 < 1e8): from N(0, 1) at T = 5 under OU the law at t is
    N(0, sigma(t)^2 + (alpha(5)/alpha(t) sigma(t)^2 / sigma(5)^2)^2 (1 - sigma(5)^2)) (the exact
    bridge, CLAIMS.md §1), i.e. N(0, sigma(t)^2) up to 1e-8 relatively. Grid error of the median at
    1000 cells, central width 5e-4: 1.4e-4 at t = 1e-3 (measured); 3e-4 bounds it."""
    process = OU()
    times = [1e-1, 1e-3]
    law = clipped_point_law(process, C=1e8, T=5.0, times=times, h0=5e-4)
    expected = HALF_NORMAL_MEDIAN * np.sqrt(process.sigma2(np.array(times)))
    assert np.allclose(law.abs_quantile(0.5)[0], expected, rtol=3e-4)


def test_clipped_point_law_defaults_are_converged():
    """C = 5, OU, T = 0.5: the defaults (1000 cells, 100 steps per unit) against 8000 cells and 200
    steps differ by 1.6e-4 relatively in the median at delta*/10 (measured): 3e-4 bounds it."""
    process = OU()
    delta = float(process.time_at_sigma2(1 / 25.0)) / 10
    coarse = clipped_point_law(process, C=5.0, T=0.5, times=[delta]).abs_quantile(0.5)[0][0]
    fine = clipped_point_law(process, C=5.0, T=0.5, times=[delta], cells=8000, h0=2.5e-4, half_width=6.0,
                             steps_per_unit=200).abs_quantile(0.5)[0][0]
    assert coarse == pytest.approx(fine, rel=3e-4)
    # not the quasi-stationary median log(2)/(2C) = 0.069 of CLAIMS.md C4: the clip's relaxation time
    # equals delta* here, so the law never settles
    assert fine > 1.3 * math.log(2.0) / 10.0


def test_reverse_law_results_in_requested_order():
    law = clipped_point_law(OU(), C=5.0, T=0.5, times=[1e-3, 1e-1, 1e-2])
    assert isinstance(law, ReverseLaw) and law.densities.shape == (3, 1000)
    medians = law.abs_quantile(0.5)[0]
    assert medians[1] > medians[2] > medians[0]


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: symmetric_edges(8.0, 999, h0=0.01), ValueError, "cells must be even"),
    (lambda: symmetric_edges(8.0, 1000, h0=0.1), ValueError, "h0 must be <="),
    (lambda: reverse_law(lambda t, y: 0 * y, lambda t: 1.0, edges=np.array([0.0, 1.0]), prior=stats.norm(),
                         T=1.0, times=[0.5]), ValueError, "edges must be a finite increasing array"),
    (lambda: reverse_law(lambda t, y: 0 * y, lambda t: 1.0, edges=np.linspace(-1, 1, 11), prior=stats.norm(),
                         T=1.0, times=[2.0]), ValueError, r"times must hold >= 1 forward times in \(0, T"),
    (lambda: reverse_law(lambda t, y: 0 * y, lambda t: 0.0, edges=np.linspace(-1, 1, 11), prior=stats.norm(),
                         T=1.0, times=[0.5]), ValueError, "g2 must be > 0"),
    (lambda: clipped_point_law(OU(), C=-1.0, T=1.0, times=[0.5]), ValueError, "C must be"),
    (lambda: clipped_point_law(OU(), C=5.0, T=1.0, times=[0.5], prior_variance=0.0), ValueError,
     "prior_variance must be"),
    (lambda: ReverseLaw(np.array([0.0, 1.0, 2.0]), np.array([0.1]), np.ones((1, 2))).abs_quantile(0.5), ValueError,
     "symmetric about 0"),
    (lambda: ReverseLaw(np.array([-1.0, 0.0, 1.0]), np.array([0.1]), np.ones((1, 2))).abs_quantile(1.0), ValueError,
     r"q must be in \(0, 1\)"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
