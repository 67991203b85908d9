"""Tests of products of measures on orthogonal blocks (theory/measures/product.py, CLAIMS.md §2),
among them the flat torus S^1 x S^1 in R^4."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import strategies as sts
from error_model import EPS
from theory import OU, PointCloud, Product, Sphere, Subspace


# -- the flat torus: area-uniform sampling ----------------------------------------------------------
TORUS_SEED = 1_618_033


TORUS_N = 20_000


# Level of each of the three tests per case (two KS, one chi-square); 2 cases give 6 tests, a
# family-wise false-failure rate <= 6e-3 (Bonferroni); the seed is fixed, so CI is deterministic.
TORUS_ALPHA = 1e-3


# 8 x 8 angle cells: 312 expected counts per cell, far above the chi-square approximation's needs.
TORUS_BINS = 8


def torus_angles(torus: Product, x: np.ndarray) -> np.ndarray:
    """The two angles in [0, 2 pi) of points of Product((Sphere(1, 2), Sphere(1, 2))), shape (n, 2)."""
    z = x if torus.rotation is None else x @ torus.rotation
    return np.mod(np.stack([np.arctan2(z[:, 1], z[:, 0]), np.arctan2(z[:, 3], z[:, 2])], axis=1), 2 * np.pi)


def uniformity_pvalues(angles: np.ndarray) -> tuple[float, float, float]:
    """KS p-values of each angle against Uniform[0, 2 pi) and the chi-square p-value of the 8 x 8
    angle histogram against equal counts (63 degrees of freedom; tests uniformity and independence)."""
    ks = [stats.kstest(angles[:, j] / (2 * np.pi), "uniform").pvalue for j in (0, 1)]
    counts, _, _ = np.histogram2d(angles[:, 0], angles[:, 1], bins=TORUS_BINS, range=[[0, 2 * np.pi]] * 2)
    return ks[0], ks[1], stats.chisquare(counts.ravel()).pvalue


@pytest.mark.parametrize("radii, rotated", [((1.0, 1.0), False), ((0.5, 2.0), True)], ids=["unit", "rotated"])
def test_flat_torus_samples_are_area_uniform(radii, rotated):
    """Samples of the flat torus S^1 x S^1 in R^4 lie on it and have independent Uniform[0, 2 pi) angles.

    The flat torus's area element is r_1 r_2 d(theta_1) d(theta_2), so area-uniform means the two
    angles are independent and uniform. Seed TORUS_SEED, n = 20000; KS per angle and a chi-square on
    the 8 x 8 angle histogram, each at alpha = 1e-3 (6 tests over both cases: family-wise <= 6e-3).
    """
    rotation = sts.random_orthogonal(np.random.default_rng(TORUS_SEED + 1), 4) if rotated else None
    torus = Product(tuple(Sphere(1, 2, radius=r) for r in radii), rotation=rotation)
    x = torus.sample(TORUS_N, np.random.default_rng(TORUS_SEED))
    # Samples and distances go through the rotation twice (gamma_4 each, any summation order) and a
    # few roundings of sizes <= |x| = hypot(r_1, r_2).
    assert np.max(torus.distance(x)) <= 16 * EPS * math.hypot(*radii)
    assert min(uniformity_pvalues(torus_angles(torus, x))) >= TORUS_ALPHA


def test_torus_uniformity_test_rejects_a_non_uniform_law():
    """Negative control: von Mises-Fisher circles (kappa = 0.2: the angle density varies by +-20 %
    around its mean) are rejected by all three tests at the same n and seed."""
    circles = tuple(Sphere(1, 2, kappa=0.2, direction=[1.0, 0.0]) for _ in range(2))
    torus = Product(circles)
    pvalues = uniformity_pvalues(torus_angles(torus, torus.sample(TORUS_N, np.random.default_rng(TORUS_SEED))))
    assert max(pvalues) < TORUS_ALPHA, pvalues


# -- posterior draws and partitions ---------------------------------------------------------------------
def test_posterior_draws_factor_by_factor():
    """The posterior of a product factorizes over its blocks (CLAIMS.md §2): the draw's block j is
    factor j's draw from block j of Q^T x with the next of the row's uniforms. Equal up to the
    rounding of rotating the draw back and forth (two 5-term products with an orthogonal matrix:
    <= 2 gamma_5 |z| <= 16 eps (1 + |z|) per row)."""
    rng = np.random.default_rng(0)
    rotation = sts.random_orthogonal(rng, 5)
    factors = (Sphere(1, 2, kappa=2.0, direction=[0.0, 1.0]), Subspace(1, 1), PointCloud([[0.0, 1.0], [1.0, 0.0]]))
    product = Product(factors, rotation=rotation)
    x = rng.standard_normal((50, 5))
    t = 0.3
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    u = rng.random((50, product._posterior_draws))
    z = product._posterior_from_uniforms(x, alpha, var, u) @ rotation
    blocks, start, column = x @ rotation, 0, 0
    for factor in factors:
        width = factor._posterior_draws
        expected = factor._posterior_from_uniforms(blocks[:, start:start + factor.d], alpha, var, u[:, column:column + width])
        bound = 16 * EPS * (1 + np.linalg.norm(z, axis=1))
        assert np.all(np.abs(z[:, start:start + factor.d] - expected).max(axis=1) <= bound)
        start, column = start + factor.d, column + width
    assert column == u.shape[1]


def test_partition_is_the_product_of_the_factors_cells():
    """Torus with 4 arcs per circle: 16 cells of mass 1/16, cell 4 c_1 + c_2 for the circles' arcs."""
    torus = Product((Sphere(1, 2), Sphere(1, 2, radius=0.5)))
    partition = torus.partition(cells=4)
    np.testing.assert_array_equal(partition.masses, np.full(16, 1 / 16))
    angles = np.array([[0.1, 0.1], [0.1, 2.0], [4.0, 5.0]])
    x = np.column_stack([np.cos(angles[:, 0]), np.sin(angles[:, 0]), 0.5 * np.cos(angles[:, 1]), 0.5 * np.sin(angles[:, 1])])
    np.testing.assert_array_equal(partition.assign(x), [0, 1, 2 * 4 + 3])


# -- bad input ------------------------------------------------------------------------------------
CLOUD = PointCloud(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
LINE = Subspace(1, 2)


BAD_MEASURE_INPUT = [
    (lambda: Product((CLOUD, 3)), TypeError, r"factors\[1\] must be a Measure, got int"),
    (lambda: Product(()), ValueError, r"factors must be a non-empty sequence of Measure, got \(\)"),
    (lambda: Product(CLOUD), ValueError, r"factors must be a non-empty sequence of Measure, got PointCloud"),
    (lambda: Product((CLOUD, LINE), rotation=np.ones((4, 4))), ValueError, r"rotation must have orthonormal columns"),
    (lambda: Product((CLOUD, LINE), rotation=np.eye(3)), ValueError,
     r"rotation must have shape \(4, 4\), got \(3, 3\)"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()
