"""theory.predictions: reference routes for predicted levels and laws, each checked against a second
route (the NumPy processes, the measures, the schemes' coefficients, closed forms).

Tolerances: the kernel twins and the NumPy kernels evaluate the same closed forms (exp, expm1 of
arguments exact or within an ulp), so they agree to a few ulps times the condition number of exp
(|log alpha| <= 10 here): rtol 1e-13. The chain at beta = 1 against sigma(t)^2: a product of up to
800 factors, each within a few ulps, and the cancellation in w = sigma_1^2 - a^2 sigma_0^2 (at most
1/(1 - 10^(-1/40)) = 18 ulps per step): rtol 1e-11. The ODE against its closed form: LSODA at rtol
1e-10 over up to 14 units of log t: rtol 1e-8.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from theory import OU, VE, VP, PointCloud, Posterior
from theory.predictions import (atom_rms, bridge_chain, discrete_mean_rate, kernel_twin, marginal_draws,
                                marginal_spread, nearest_points, scaled_score_levels, scaled_score_variance_ode,
                                smoothed_output_time)
from theory.simulator import steps_for, time_grid

PROCESSES = [OU(), VP(), VE(sigma_max=20.0)]
POINTS = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_kernel_twin_matches_the_numpy_process(process):
    t = np.geomspace(1e-10, 0.9, 25)
    twin = kernel_twin(process)
    # Tolerance: both sides are exp / expm1 of the same argument written in two orders (condition <= |t| <= 0.9 for
    # exp, <= 1 for -expm1(-2t)): a few ulps each; 1e-13 (450 eps) also covers VP's polynomial exponent, whose terms
    # have the same sign.
    np.testing.assert_allclose(twin.alpha(t), process.alpha(t), rtol=1e-13)
    np.testing.assert_allclose(twin.sigma2(t), process.sigma2(t), rtol=1e-13)


def test_marginal_draws_follow_the_weights_and_the_kernel():
    """Seed 3, n = 20000: the atom counts against the weights (chi-square) and the offsets from the
    kernel centres against N(0, sigma^2) (Kolmogorov-Smirnov), each at 1e-6 (false failures 2e-6)."""
    weights = np.array([0.2, 0.0, 0.8])
    t, process = 0.3, OU()
    x, index = marginal_draws(POINTS, weights, t, 20000, np.random.default_rng(3), process=process)
    assert x.shape == (20000, 2) and not np.any(index == 1)
    counts = np.bincount(index, minlength=3)
    assert stats.chisquare(counts[[0, 2]], 20000 * weights[[0, 2]]).pvalue > 1e-6
    offsets = (x - process.alpha(t) * POINTS[index]) / np.sqrt(process.sigma2(t))
    assert stats.kstest(offsets.ravel(), "norm").pvalue > 1e-6


def test_nearest_points_agree_with_the_point_cloud():
    rng = np.random.default_rng(5)
    points = rng.standard_normal((30, 4))
    x = 2.0 * rng.standard_normal((500, 4))
    index, distance = nearest_points(points, x)
    ref_index, ref_distance = PointCloud(points).nearest(x)
    np.testing.assert_array_equal(index, ref_index)
    np.testing.assert_allclose(distance, ref_distance, rtol=1e-12)


def test_smoothed_output_time_only_for_a_time_homogeneous_process():
    # Tolerance: s = delta + h is one rounded sum of positives: within 1 ulp of 0.101, 1e-15 = 4.5 eps.
    assert smoothed_output_time(OU(), 0.1, 1e-3) == pytest.approx(0.101, rel=1e-15)
    for process in (VP(), VE()):
        with pytest.raises(ValueError, match="time-homogeneous"):
            smoothed_output_time(process, 0.1, 1e-3)


@pytest.mark.parametrize("process", PROCESSES, ids=repr)
def test_the_exact_score_chain_keeps_the_marginal_variance(process):
    """beta = 1: the bridge step maps N(0, sigma(t1)^2) to N(0, sigma(t0)^2) exactly, and the mean
    factor telescopes to alpha(T) sigma(delta)^2 / (alpha(delta) sigma(T)^2)."""
    T, delta = 1e-2, 1e-8
    times = time_grid(T, delta, steps_for(T, delta, 40))
    chain = bridge_chain(process, beta=1.0, times=times, v0=float(process.sigma2(T)))
    assert chain.variance == pytest.approx(float(process.sigma2(delta)), rel=1e-11)
    factor = process.alpha(T) * process.sigma2(delta) / (process.alpha(delta) * process.sigma2(T))
    assert chain.mean_factor == pytest.approx(float(factor), rel=1e-11)


@pytest.mark.parametrize("beta", [-0.05, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("process", PROCESSES[:2], ids=repr)
def test_the_chain_mean_rate_is_the_schemes(process, beta):
    """Two routes to the posterior scheme's per-step factor: the kernel twins and Posterior().coefficients."""
    times = time_grid(1e-2, 1e-7, steps_for(1e-2, 1e-7, 40))
    chain = bridge_chain(process, beta=beta, times=times, v0=1.0)
    assert chain.mean_rate == pytest.approx(discrete_mean_rate(Posterior(), process, beta=beta, times=times),
                                            rel=1e-10, abs=1e-12)


def test_half_score_ode_against_its_closed_form():
    """beta = 1/2 under OU: h = sigma solves the homogeneous equation, so
    v(delta) = sigma(delta)^2 [v0 / sigma(T)^2 + int_delta^T 2 / sigma(s)^2 ds], and
    int 2 / (1 - e^-2s) ds = log(e^2s - 1)."""
    T, v0 = 1e-2, 3e-3
    deltas = np.array([1e-3, 1e-5, 1e-8])
    s2 = lambda t: -np.expm1(-2 * t)  # noqa: E731
    closed = s2(deltas) * (v0 / s2(T) + np.log(np.expm1(2 * T) / np.expm1(2 * deltas)))
    np.testing.assert_allclose(scaled_score_variance_ode(OU(), beta=0.5, T=T, v0=v0, deltas=deltas), closed,
                               rtol=1e-8)


def test_the_chain_converges_to_the_ode_at_first_order():
    """The posterior scheme's discretization error of the variance is first order in the step: doubling
    the steps per decade halves chain / ode - 1 (within 10 %)."""
    T, delta, beta = 1e-2, 1e-8, 0.5
    v0 = float(OU().sigma2(T))
    ode = scaled_score_variance_ode(OU(), beta=beta, T=T, v0=v0, deltas=[delta])[0]
    bias = [bridge_chain(OU(), beta=beta, v0=v0, times=time_grid(T, delta, steps_for(T, delta, spd))).variance / ode - 1
            for spd in (40, 80, 160)]
    assert bias[0] > 0
    assert bias[0] / bias[1] == pytest.approx(2.0, rel=0.1)
    assert bias[1] / bias[2] == pytest.approx(2.0, rel=0.1)


def test_scaled_score_levels_at_beta_one_are_the_marginal_levels():
    process, T = OU(), 1e-2
    deltas = [1e-4, 1e-6]
    levels = scaled_score_levels(POINTS, None, process, beta=1.0, T=T, deltas=deltas, steps_per_decade=40)
    expected = atom_rms(POINTS, None, np.array(deltas), process.sigma2(np.array(deltas)), process=process)
    np.testing.assert_allclose(levels.chain, expected, rtol=1e-11)
    np.testing.assert_allclose(levels.ode, expected, rtol=1e-8)
    assert levels.uncommitted < 1e-25  # nearest pair 3 = 10.6 x 2 sigma(T): Phi(-10.6) = 1.6e-26


def test_uncommitted_bound_of_overlapping_kernels():
    """Two atoms 0.2 apart at sigma(T) = 0.44: each draw is nearer the other centre with probability
    Phi(-0.2 alpha / (2 sigma)), which the union bound over one neighbour gives exactly."""
    points = np.array([[0.0], [0.2]])
    T = 0.1
    levels = scaled_score_levels(points, None, OU(), beta=0.5, T=T, deltas=[1e-3], steps_per_decade=10)
    expected = stats.norm.cdf(-0.2 * math.exp(-T) / (2 * math.sqrt(-math.expm1(-2 * T))))
    assert levels.uncommitted == pytest.approx(expected, rel=1e-12)


def test_atom_rms_and_marginal_spread_closed_forms():
    process, t = OU(), 0.2
    weights = np.array([0.5, 0.25, 0.25])
    a, var = math.exp(-t), -math.expm1(-2 * t)
    second = 0.25 * 9 + 0.25 * 16
    # Tolerance: sums of positive terms (condition 1) over 3 atoms in 2-D, one sqrt: under 15 ulps either way, 1e-14 =
    # 45 eps.
    assert float(atom_rms(POINTS, weights, t, var, process=process)) == pytest.approx(
        math.sqrt(2 * var + (1 - a) ** 2 * second), rel=1e-14)
    spread = marginal_spread(POINTS, weights, t, process=process)
    mean = weights @ POINTS
    # Tolerance: a 3-term weighted mean of non-negative points with positive weights (condition 1) times a: a few
    # ulps, 1e-14 = 45 eps.
    np.testing.assert_allclose(spread.centre, a * mean, rtol=1e-14)
    # Tolerance: the same sums of positive terms (condition 1) and one sqrt: under 15 ulps, 1e-14 = 45 eps.
    assert spread.rms == pytest.approx(math.sqrt(a * a * (weights @ np.sum((POINTS - mean) ** 2, 1)) + 2 * var),
                                       rel=1e-14)


def test_marginal_spread_against_draws():
    """Seed 8, n = 200000: the RMS of |X - alpha m| within 5 standard errors (false failures 6e-7)."""
    process, t = VP(), 0.3
    spread = marginal_spread(POINTS, None, t, process=process)
    x, _ = marginal_draws(POINTS, None, t, 200000, np.random.default_rng(8), process=process)
    sq = np.sum((x - spread.centre) ** 2, axis=1)
    se = sq.std() / np.sqrt(sq.size)
    assert abs(sq.mean() - spread.rms**2) < 5 * se


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: marginal_draws(np.zeros(3), None, 0.1, 5, np.random.default_rng(0), process=OU()), ValueError,
     r"points must have shape \(N, d\)"),
    (lambda: marginal_draws(POINTS, None, 0.0, 5, np.random.default_rng(0), process=OU()), ValueError,
     "t must be a finite number > 0"),
    (lambda: marginal_draws(POINTS, [1.0, 2.0], 0.1, 5, np.random.default_rng(0), process=OU()), ValueError,
     "weights"),
    (lambda: nearest_points(POINTS, np.zeros((4, 3))), ValueError, r"x must have shape \(n, 2\)"),
    (lambda: smoothed_output_time(OU(), -1.0, 1e-3), ValueError, "h must be"),
    (lambda: bridge_chain(OU(), beta=0.5, times=np.array([1e-3, 1e-2]), v0=1.0), ValueError, "decreasing grid"),
    (lambda: bridge_chain(OU(), beta=float("nan"), times=np.array([1e-2, 1e-3]), v0=1.0), ValueError,
     "beta must be finite"),
    (lambda: bridge_chain(OU(), beta=0.5, times=np.array([1e-2, 1e-3]), v0=-1.0), ValueError, "v0 must be >= 0"),
    (lambda: bridge_chain(OU(), beta="half", times=np.array([1e-2, 1e-3]), v0=1.0), TypeError,
     "beta must be a real number"),
    (lambda: scaled_score_variance_ode(OU(), beta=0.5, T=1e-2, v0=1.0, deltas=[0.1]), ValueError,
     r"deltas must be a 1-d array of times in \(0, T"),
    (lambda: scaled_score_levels(POINTS, None, OU(), beta=0.5, T=1e-2, deltas=[1e-1], steps_per_decade=10),
     ValueError, r"deltas must lie in \(0, T"),
    (lambda: atom_rms(POINTS, None, [0.1], [-1.0], process=OU()), ValueError, "variance >= 0"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
