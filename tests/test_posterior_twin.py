"""theory.posterior_twin: Bayes' rule for a weighted point set by the independent route."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory import OU, VE, VP, PointCloud
from theory.posterior_twin import posterior_rounding_bound, posterior_weights
from theory.predictions import marginal_draws

POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
WEIGHTS = np.array([0.5, 0.3, 0.2])


def test_two_atoms_in_one_dimension_by_hand():
    """Two atoms x_0 = -1, x_1 = 2 under OU (alpha = e^-t, sigma^2 = 1 - e^-2t, CLAIMS.md §1): the
    posterior of x_1 is the logistic function of its log-odds, written out with the math module."""
    t, x = 0.3, 0.4
    a, s2 = math.exp(-t), -math.expm1(-2 * t)
    w0, w1 = 0.25, 0.75
    log_odds = math.log(w1 / w0) - ((x - 2 * a) ** 2 - (x + a) ** 2) / (2 * s2)
    expected = 1.0 / (1.0 + math.exp(-log_odds))
    got = posterior_weights(np.array([[-1.0], [2.0]]), np.array([w0, w1]), t, np.array([[x]]), process=OU())
    assert got.shape == (1, 2)
    # Tolerance: the log-odds' terms are O(10), so the two routes (this logistic, posterior_weights' logsumexp) round
    # it by ~10 eps absolute; p and 1 - p change by that times at most 1 relatively: 1e-13 (450 eps) covers it.
    assert got[0, 1] == pytest.approx(expected, rel=1e-13)
    assert got[0, 0] == pytest.approx(1 - expected, rel=1e-13)


@pytest.mark.parametrize("process", [OU(), VP(), VE(sigma_max=5.0)], ids=repr)
@pytest.mark.parametrize("t", [1e-3, 0.05, 0.3])
def test_agrees_with_the_point_cloud_within_the_rounding_bound(process, t):
    """The two routes differ by rounding only, at times where the posterior is one-hot and spread."""
    rng = np.random.default_rng(3)
    cloud = PointCloud(1.3 * rng.standard_normal((12, 3)), 1.0 + np.arange(12) % 4)
    x, _ = marginal_draws(cloud.points, cloud.weights, t, 500, rng, process=process)
    ours = posterior_weights(cloud.points, cloud.weights, t, x, process=process)
    bound = posterior_rounding_bound(cloud.points, cloud.weights, t, x, process=process)
    assert 0 < bound < 1e-6
    assert np.max(np.abs(ours - cloud.posterior(t, x, process=process))) <= bound
    # Tolerance: 12 weights in [0, 1], each normalized by one division and summed: at most 12 x 2 eps = 5.3e-15 from
    # 1, below 1e-14.
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_a_kernel_variance_off_by_a_millionth_exceeds_the_bound():
    """The bound resolves small errors: the posterior at sigma^2 (1 + 1e-6) differs by far more."""
    process, t = OU(), 0.1
    cloud = PointCloud(POINTS, WEIGHTS)
    x, _ = marginal_draws(POINTS, WEIGHTS, t, 200, np.random.default_rng(1), process=process)
    shifted = float(process.time_at_sigma2(process.sigma2(t) * (1 + 1e-6)))
    gap = np.max(np.abs(posterior_weights(POINTS, WEIGHTS, t, x, process=process)
                        - cloud.posterior(shifted, x, process=process)))
    assert gap > 100 * posterior_rounding_bound(POINTS, WEIGHTS, t, x, process=process)


def test_zero_weights_and_far_queries():
    """An atom of weight 0 gets probability 0; far from the data the posterior is one-hot, not NaN."""
    got = posterior_weights(POINTS, np.array([0.0, 0.5, 0.5]), 0.2, np.array([[0.1, 0.1], [1e3, 0.0]]),
                            process=OU())
    assert np.all(got[:, 0] == 0.0)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"points": np.zeros(3)}, ValueError, "points must have shape"),
    ({"weights": np.ones(2)}, ValueError, "weights"),
    ({"t": 0.0}, ValueError, "t"),
    ({"x": np.zeros((4, 3))}, ValueError, r"shape \(n, 2\)"),
    ({"process": "OU"}, TypeError, "process"),
])
def test_bad_input(kwargs, error, match):
    args = {"points": POINTS, "weights": WEIGHTS, "t": 0.1, "x": np.zeros((4, 2)), "process": OU()} | kwargs
    for function in (posterior_weights, posterior_rounding_bound):
        with pytest.raises(error, match=match):
            function(args["points"], args["weights"], args["t"], args["x"], process=args["process"])
