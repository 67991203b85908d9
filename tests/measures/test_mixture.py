"""Tests of mixtures of measures (theory/measures/mixture.py, CLAIMS.md §2)."""

from __future__ import annotations


import numpy as np
import pytest
from scipy import special, stats

from error_model import EPS
from theory import OU, Mixture, PointCloud, Sphere, Subspace


def test_mixture_score_far_from_the_data_where_log_p_overflows():
    """A line N(0, 1) on the first axis and a point (0, 3), at t = 1 (OU: alpha^2 + sigma^2 = 1):
    at x = (1e160, 1e150) both components' log-densities are below -1.8e308, yet the line dominates
    by ~1e320 nats and the score is the line's, (-x_1 / (alpha^2 + sigma^2), -x_2 / sigma^2), finite.
    log_density raises a ValueError naming the overflow."""
    mixture = Mixture((Subspace(1, 2), PointCloud([[0.0, 3.0]])))
    t = 1.0
    var = float(OU().sigma2(t))
    x = np.array([[1e160, 1e150], [-1e200, 3e199]])
    expected = np.column_stack([-x[:, 0] / (float(OU().alpha(t)) ** 2 + var), -x[:, 1] / var])
    np.testing.assert_allclose(mixture.score(t, x), expected, rtol=8 * EPS)
    np.testing.assert_allclose(mixture.denoise(t, x), np.column_stack([float(OU().alpha(t)) * x[:, 0], 0 * x[:, 0]]),
                               rtol=8 * EPS)
    with pytest.raises(ValueError, match=r"log p_t\(x\) overflows float64 at t=1.0 for OU\(\)"):
        mixture.log_density(t, x)


# -- posterior draws, partitions, codimension ------------------------------------------------------------
POSTERIOR_SEED = 20_260_609
POSTERIOR_N = 100_000
POSTERIOR_ALPHA = 1e-3


def _posterior_case() -> tuple[Mixture, np.ndarray, float]:
    """A circle, a point and a line in R^3 (disjoint supports) and a query at which all three
    components carry posterior weight."""
    mixture = Mixture((Sphere(1, 3), PointCloud([[0.0, 0.0, 1.5]]), Subspace(1, 3, mean=[0.0, 0.0, -1.5])),
                      weights=[0.5, 0.2, 0.3])
    return mixture, np.array([0.3, 0.2, 0.1]), 0.8


def reference_responsibilities(mixture: Mixture, t: float, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """r_j = w_j p_t^(j)(x) / sum_i w_i p_t^(i)(x) from the components' own log-densities."""
    log_joint = np.log(weights) + np.array([c.log_density(t, x[None])[0] for c in mixture.components])
    return special.softmax(log_joint)


def posterior_pvalue(mixture: Mixture, t: float, x: np.ndarray, weights: np.ndarray, seed: int) -> float:
    """Chi-square p-value of the components of POSTERIOR_N posterior draws (each draw lies on exactly one
    component's support) against :func:`reference_responsibilities` with the given weights."""
    draws = mixture.posterior_sample(t, np.tile(x, (POSTERIOR_N, 1)), np.random.default_rng(seed))
    distances = np.stack([c.distance(draws) for c in mixture.components])
    component = np.argmin(distances, axis=0)
    assert np.all(distances.min(axis=0) <= 1e-14)
    counts = np.bincount(component, minlength=len(mixture.components))
    return stats.chisquare(counts, POSTERIOR_N * reference_responsibilities(mixture, t, x, weights)).pvalue


def test_posterior_draws_pick_components_by_responsibility():
    """The component of each draw follows the responsibilities (chi-square, alpha = 1e-3, n = 100000,
    seed POSTERIOR_SEED; measured over seeds 0-199: 1 of 200 rejected); the law within a component is
    the component's own posterior (tested in each family's module)."""
    mixture, x, t = _posterior_case()
    assert posterior_pvalue(mixture, t, x, mixture.weights, POSTERIOR_SEED) >= POSTERIOR_ALPHA


def test_posterior_draw_test_rejects_weights_off_by_five_percent():
    """Near-miss control: against responsibilities from the weights (0.5, 0.2, 0.3) moved to (0.475,
    0.21, 0.315) (5 % each, renormalized) the same test rejects at the same n, alpha and seed
    (measured power over seeds 0-199: 200 of 200)."""
    mixture, x, t = _posterior_case()
    weights = mixture.weights * np.array([0.95, 1.05, 1.05])
    assert posterior_pvalue(mixture, t, x, weights / weights.sum(), POSTERIOR_SEED) < POSTERIOR_ALPHA


def test_codimension_is_the_weighted_codimension():
    """sum_j w_j (d - k_j): 0.5 * 2 + 0.2 * 3 + 0.3 * 2 = 2.2 (CLAIMS.md C5)."""
    mixture, _, _ = _posterior_case()
    assert mixture.codimension == pytest.approx(2.2, rel=4 * EPS)


def test_partition_refines_the_components():
    """Cells: the circle's 6 arcs, the point, the line's 6 bins, in component order; masses w_j times
    the component's masses; a point of a component's support is in that component's cells."""
    mixture, _, _ = _posterior_case()
    partition = mixture.partition(cells=6)
    expected = np.concatenate([0.5 * np.full(6, 1 / 6), [0.2], 0.3 * np.full(6, 1 / 6)])
    np.testing.assert_allclose(partition.masses, expected, rtol=4 * EPS)
    rng = np.random.default_rng(0)
    for j, (component, cells) in enumerate(zip(mixture.components, [range(0, 6), [6], range(7, 13)])):
        assert set(partition.assign(component.sample(200, rng))) <= set(cells), j


OVERLAPPING = [
    (Mixture((Sphere(1, 3), Subspace(2, 3))), r"components 0 \(Sphere\) and 1 \(Subspace\) share part"),
    (Mixture((Sphere(1, 3), Sphere(1, 3, kappa=1.0, direction=[1.0, 0.0]))), r"components 0 \(Sphere\) and 1 \(Sphere\)"),
    (Mixture((Subspace(1, 2), PointCloud([[0.5, 0.0]]))), r"components 1 \(PointCloud\) and 0 \(Subspace\)"),
]


@pytest.mark.parametrize(("mixture", "match"), OVERLAPPING, ids=["circle-in-plane", "two-laws-on-a-circle", "atom-on-a-line"])
def test_partition_refuses_supports_that_overlap(mixture, match):
    """Where a component's support lies partly on another's, nearest-component cells cannot split its
    mass: a ValueError names the two components."""
    with pytest.raises(ValueError, match=match):
        mixture.partition()


def test_partition_accepts_supports_that_cross():
    """A circle and a line through it meet in two points, a null set for both: the masses stay exact."""
    partition = Mixture((Sphere(1, 3), Subspace(1, 3))).partition(cells=4)
    np.testing.assert_allclose(partition.masses, np.full(8, 1 / 8), rtol=4 * EPS)


# -- bad input ------------------------------------------------------------------------------------
CLOUD = PointCloud(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
LINE = Subspace(1, 2)


BAD_MEASURE_INPUT = [
    (lambda: Mixture((CLOUD, Subspace(1, 3))), ValueError,
     r"components must share the ambient dimension d, got d = \[2, 3\]"),
    (lambda: Mixture(()), ValueError, r"components must be a non-empty sequence of Measure, got \(\)"),
    (lambda: Mixture((CLOUD, "line")), TypeError, r"components\[1\] must be a Measure, got str"),
    (lambda: Mixture((CLOUD, LINE), weights=[1.0]), ValueError, r"weights must have shape \(2,\), got \(1,\)"),
    (lambda: Mixture((CLOUD, LINE), weights=[1.0, -0.5]), ValueError, r"weights must be finite and >= 0, got"),
    (lambda: Mixture((CLOUD, LINE), weights=[0.0, 0.0]), ValueError,
     r"weights must have a positive sum, got all zeros"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()
