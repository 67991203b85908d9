"""theory.output_law: exact draws of the exact reverse SDE's output from any prior (CLAIMS.md §1, C1).

Deterministic identities are checked to rounding; the seeded Monte Carlo tests compare a sample
mean with its closed form within Z_MC standard errors (two-sided level 1e-6 each, so the file's
false-failure rate is below 1e-5; the seeds are fixed and CI is deterministic).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from theory import OU, PointCloud, Subspace
from theory.estimators import gaussian_kl
from theory.posterior_twin import posterior_weights
from theory.output_law import (bridge_draws, kl_gap, marginal_sample, measure_sampler, output_draws,
                               point_set_sampler)
from theory.predictions import kernel_twin
from theory.priors import ExactMarginal, Gaussian, PointMass

# Standard normal quantile of a two-sided 1e-6 test.
Z_MC = float(stats.norm.isf(0.5e-6))


def _cloud() -> PointCloud:
    rng = np.random.default_rng(3)
    return PointCloud(rng.standard_normal((5, 3)), np.array([1.0, 2.0, 3.0, 0.5, 1.5]))


def test_point_set_sampler_draws_the_posterior():
    """Draw counts from one start follow the posterior weights (chi-square at level 1e-6)."""
    cloud = _cloud()
    y = np.array([[0.3, -0.2, 0.1]])
    probs = posterior_weights(cloud.points, cloud.weights, 0.5, y, process=OU())[0]
    draws = point_set_sampler(cloud.points, cloud.weights, 0.5, process=OU())(np.repeat(y, 20000, axis=0),
                                                                              np.random.default_rng(4))
    index = cloud.nearest(draws)[0]
    _, p = stats.chisquare(np.bincount(index, minlength=cloud.size), 20000 * probs)
    assert p > 1e-6


def test_bridge_draws_have_the_forward_marginal():
    """With y ~ X_t1 | X_0 = x0, the bridge draw at t0 has the law N(alpha(t0) x0, sigma(t0)^2 I)."""
    process, t0, t1, n = OU(), 0.1, 0.8, 200000
    rng = np.random.default_rng(5)
    twin = kernel_twin(process)
    x0 = np.tile([1.0, -2.0], (n, 1))
    y = float(twin.alpha(t1)) * x0 + np.sqrt(float(twin.sigma2(t1))) * rng.standard_normal(x0.shape)
    x = bridge_draws(x0, y, t0=t0, t1=t1, rng=rng, process=process)
    mean, var = float(twin.alpha(t0)) * x0[0], float(twin.sigma2(t0))
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(x.mean(axis=0) - mean) < Z_MC * se_mean)
    se_var = var * np.sqrt(2.0 / n)
    assert np.all(np.abs(x.var(axis=0) - var) < Z_MC * se_var)


def test_output_from_the_exact_marginal_is_the_marginal_at_delta():
    """From pi = p_T the exact output at delta is p_delta (CLAIMS.md §1): compare the second moment
    about the origin with E|X_delta|^2 = alpha^2 E|X_0|^2 + d sigma^2 (closed form)."""
    cloud, process, T, delta, n = _cloud(), OU(), 1.0, 0.05, 100000
    draws = output_draws(ExactMarginal(cloud, T, process=process),
                         point_set_sampler(cloud.points, cloud.weights, T, process=process), T=T, delta=delta, n=n,
                         rng=np.random.default_rng(6), process=process)
    twin = kernel_twin(process)
    second = float(cloud.weights @ np.sum(cloud.points**2, axis=1))
    predicted = float(twin.alpha(delta)) ** 2 * second + 3 * float(twin.sigma2(delta))
    squares = np.sum(draws**2, axis=1)
    assert abs(squares.mean() - predicted) < Z_MC * squares.std(ddof=1) / np.sqrt(n)


def test_output_from_a_point_mass_on_a_plane_is_the_gaussian_posterior_bridge():
    """Subspace, point mass y: the mean at delta is a s_d y / s_T + alpha_d v E[X_0 | y] / s_T (s = sigma^2)."""
    plane, process, T, delta, n = Subspace(k=1, d=2), OU(), 1.0, 0.01, 100000
    y = np.array([0.7, -0.4])
    draws = output_draws(PointMass(y), measure_sampler(plane, T, process=process), T=T, delta=delta, n=n,
                         rng=np.random.default_rng(7), process=process)
    twin = kernel_twin(process)
    a0, a1, s0, s1 = (float(f(s)) for f, s in ((twin.alpha, delta), (twin.alpha, T), (twin.sigma2, delta),
                                                 (twin.sigma2, T)))
    a = a1 / a0
    v = s1 - a * a * s0
    mean = (a * s0 / s1) * y + (a0 * v / s1) * plane.denoise(T, y[None], process=process)[0]
    se = draws.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < Z_MC * se)


def test_marginal_sample_has_the_moment_matched_moments():
    plane, process, n = Subspace(k=2, d=3), OU(), 200000
    x = marginal_sample(plane, 0.7, n, np.random.default_rng(8), process=process)
    mm = Gaussian.moment_matched(plane, 0.7, process=process)
    se = np.sqrt(np.diag(mm.cov) / n)
    assert np.all(np.abs(x.mean(axis=0) - mm.mean) < Z_MC * se)


def test_kl_gap_is_the_moment_matching_identity():
    """KL(p_T || G) - KL(p_T || MM) = KL(MM || G) (CLAIMS.md C1), here for a Gaussian p_T."""
    plane, process, T = Subspace(k=2, d=3), OU(), 1.0
    mm = Gaussian.moment_matched(plane, T, process=process)
    g = Gaussian(mm.mean + 0.2, 1.3 * mm.cov)
    gap = kl_gap(marginal_sample(plane, T, 100000, np.random.default_rng(9), process=process), mm, g)
    assert abs(gap.value - gaussian_kl(mm, g)) < Z_MC * gap.se
    assert gap.n == 100000


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: bridge_draws(np.ones((2, 3)), np.ones((2, 3)), t0=0.5, t1=0.1, rng=np.random.default_rng(0),
                          process=OU()), ValueError, "need t0 < t1"),
    (lambda: bridge_draws(np.ones((2, 3)), np.ones((3, 3)), t0=0.1, t1=0.5, rng=np.random.default_rng(0),
                          process=OU()), ValueError, "y must have the shape of x0"),
    (lambda: output_draws("N(0, I)", lambda y, rng: y, T=1.0, delta=0.1, n=3, rng=np.random.default_rng(0),
                          process=OU()), TypeError, "prior must be a theory.priors.Prior"),
    (lambda: output_draws(PointMass(np.zeros(2)), None, T=1.0, delta=0.1, n=3, rng=np.random.default_rng(0),
                          process=OU()), TypeError, "posterior must be a callable"),
    (lambda: kl_gap(np.ones((4, 2)), PointMass(np.zeros(2)), Gaussian.standard(2)), TypeError,
     "p must be a theory.priors.Prior with a density"),
    (lambda: kl_gap(np.ones(4), Gaussian.standard(2), Gaussian.standard(2)), ValueError, "draws must have shape"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
