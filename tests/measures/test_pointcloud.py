"""Tests of the weighted point cloud (theory/measures/pointcloud.py, CLAIMS.md §2): the tiny-time
limits, nearest points, the kernel's row blocks and paths, underflowing weights, far queries."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.spatial.distance import cdist, pdist

import strategies as sts
from error_model import EPS, rounding_units, support_radius
from theory import OU, VE, Measure, PointCloud

CLOUD = PointCloud(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))


@st.composite
def dyadic_point_clouds(draw) -> PointCloud:
    """2-10 distinct points on the grid (1/8) Z^d in [-2, 2]^d, uniform weights: exact in float32."""
    d = draw(sts.dimensions())
    rows = draw(st.lists(st.tuples(*[st.integers(-16, 16)] * d), min_size=2, max_size=10, unique=True))
    return PointCloud(np.array(rows, dtype=np.float64) / 8.0)


TINY_T = 1e-8


@given(dyadic_point_clouds(), sts.processes())
def test_point_cloud_denoises_to_point_and_midpoint_at_tiny_time(cloud, process):
    """At t = 1e-8: a query at a data point denoises to that point; at the midpoint of the closest
    pair (scaled by alpha) to the midpoint; log_density is finite at both; float32 queries too.

    At a point x_i every other point is >= 1/8 away while sigma(1e-8) <= 2e-4, so its posterior
    weight is exp(-(1/8)^2 / (2 sigma^2)) = 0 in float64 (at most e^-700 where the kernel clamps):
    the weighted sum u_i x_i / u_i has one nonzero term, exact in any summation order, so the result
    is x_i up to two roundings.
    Midpoint: the posterior is centred on alpha x_i, so the equidistant query is x = alpha (x_1 +
    x_2) / 2 (at the plain midpoint the log-odds are alpha (1 - alpha)(|x_1|^2 - |x_2|^2) / (2
    sigma^2) = O(1) for OU, since 1 - alpha ~ sigma^2 / 2). Every other point is >= sqrt(3)/2 |x_1 -
    x_2| from the midpoint (closest pair), so its weight is 0; the two logits are equal up to rounding
    Delta <= 2 c eps (alpha |x| |x_i| + alpha^2 |x_i|^2 / 2) / sigma^2, which moves the denoiser by
    <= |x_1 - x_2| Delta / 4. float32: the data points are exact in float32; the midpoint is exact in
    float32 only when alpha = 1 (VE), so only VE checks the float32 midpoint.
    """
    pts = cloud.points
    alpha, var = float(process.alpha(TINY_T)), float(process.sigma2(TINY_T))
    c = rounding_units(cloud.d)
    for x in (pts, pts.astype(np.float32)):
        np.testing.assert_allclose(cloud.denoise(TINY_T, x, process=process), pts,
                                   rtol=0, atol=4 * EPS * np.abs(pts).max())
        assert np.all(np.isfinite(cloud.log_density(TINY_T, x, process=process)))
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.diag(np.full(cloud.size, np.inf))
    i, j = np.unravel_index(np.argmin(gaps), gaps.shape)
    mid = 0.5 * (pts[i] + pts[j])[None]
    queries = [alpha * mid] + ([mid.astype(np.float32)] if isinstance(process, VE) else [])
    for x in queries:
        radius = np.linalg.norm(x) * max(np.linalg.norm(pts[i]), np.linalg.norm(pts[j]))
        logit_err = 2 * c * EPS * (alpha * radius + alpha**2 * max(np.sum(pts[i] ** 2), np.sum(pts[j] ** 2)) / 2) / var
        bound = gaps[i, j] * logit_err / 4 + 4 * EPS * np.abs(pts).max()
        np.testing.assert_allclose(cloud.denoise(TINY_T, x, process=process), mid, rtol=0, atol=bound)
        assert np.all(np.isfinite(cloud.log_density(TINY_T, x, process=process)))


@given(sts.point_clouds(), st.data())
def test_point_cloud_nearest_matches_brute_force(cloud, data):
    """PointCloud.nearest agrees with scipy.spatial.distance.cdist.

    The candidate is chosen through |x_i|^2 / 2 - x . x_i, whose rounding (<= (d + 2) eps (|x| R +
    R^2)) may pick a near-tie: the reported squared distance may exceed the minimum by <= 2 (d + 2)
    eps (|x| R + R^2) (plus the rounding of both distances), and the reported distance is exactly
    |x - points[index]|, up to the rounding of a root-sum-square of d terms: compared with
    math.dist (scaled, so it neither overflows nor underflows, unlike cdist's squares), <= ((d + 3) / 2)
    eps relative each.
    """
    x, _ = data.draw(sts.query_points(cloud, 0.1))
    index, dist = cloud.nearest(x)
    all_dist = cdist(x, cloud.points)
    best = all_dist.min(axis=1)
    radius = float(np.max(np.linalg.norm(cloud.points, axis=1)))
    xnorm = np.linalg.norm(x, axis=1)
    slack = 2 * (cloud.d + 2) * EPS * (xnorm * radius + radius**2) + 4 * EPS * best**2
    assert np.all(dist**2 - best**2 <= slack), (dist, best)
    exact = [math.dist(row, cloud.points[i]) for row, i in zip(x, index)]
    np.testing.assert_allclose(dist, exact, rtol=(cloud.d + 3) * EPS, atol=0)
    np.testing.assert_array_equal(cloud.distance(x), dist)
    np.testing.assert_array_equal(cloud.project(x), cloud.points[index])


# -- PointCloud kernel: row blocks and the underflow clamp -------------------------------------------
@given(sts.point_clouds(max_points=12), st.data())
def test_point_cloud_blocking_does_not_change_results(cloud, data):
    """Row blocks of any size (down to one row per block and per softmax sub-block) give the same
    denoiser, log-density and posterior as one block, up to the rounding of the matrix products.

    OpenBLAS may round a row differently depending on how many rows its block has. Error model: each
    logit is a (d + 2)-term dot product, so the two evaluations differ by at most Delta = 2 (d + 2)
    eps S with S = (alpha |x| R + alpha^2 R^2 / 2) / sigma^2 + max |log w| (R the support radius);
    a posterior weight then moves by a factor within exp(+-2 Delta), the log-density by Delta, and
    the denoiser by 2 Delta R. Checked with 4x those bounds (plus a few ulps of the result).
    """
    from theory.measures import pointcloud

    x, _ = data.draw(sts.query_points(cloud, 0.3))
    t = data.draw(st.sampled_from([1e-4, 1e-2, 0.3, 3.0]))
    whole = (cloud.denoise(t, x), cloud.log_density(t, x), cloud.posterior(t, x))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pointcloud, "BLOCK_ELEMENTS", 2 * cloud.size)
        patch.setattr(pointcloud, "SOFTMAX_ELEMENTS", 1)
        split = (cloud.denoise(t, x), cloud.log_density(t, x), cloud.posterior(t, x))
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    radius = support_radius(cloud)
    xnorm = np.linalg.norm(x, axis=1)[:, None]
    delta = 2 * (cloud.d + 2) * EPS * ((alpha * xnorm * radius + alpha**2 * radius**2 / 2) / var
                                       + np.abs(np.log(cloud.weights)).max())
    ulps = 8 * EPS
    assert np.all(np.abs(split[0] - whole[0]) <= 8 * delta * radius + ulps * (radius + 1))
    assert np.all(np.abs(split[1] - whole[1]) <= 4 * delta[:, 0] + ulps * np.abs(whole[1]))
    assert np.all(np.abs(split[2] - whole[2]) <= (8 * delta + ulps) * whole[2] + 1e-300)


def test_point_cloud_posterior_where_almost_every_weight_underflows():
    """Near t = 0 almost every posterior weight underflows; the kernel clamps those logits (numpy's
    exp is several times slower on underflowing inputs). The clamp must not show in the results:
    posterior() equals scipy.special.softmax of the same logits, with exact zeros where the true
    weight is below 1e-300, and the denoiser equals posterior @ points.

    Seed 11, 300 points and 40 queries in d = 8 at t = 1e-4 (OU): 99.9% of the weights underflow.
    The logits here are formed by cdist, not by the kernel's matrix product; the two differ by at most
    4 (d + 2) eps (|x| R + R^2) / sigma^2 (about 2e-8 here), which bounds the relative difference of
    every weight that does not underflow.
    """
    from scipy.special import softmax

    rng = np.random.default_rng(11)
    cloud = PointCloud(rng.standard_normal((300, 8)))
    t = 1e-4
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    x = alpha * cloud.points[rng.integers(0, 300, 40)] + np.sqrt(var) * rng.standard_normal((40, 8))
    logits = -cdist(x, alpha * cloud.points, "sqeuclidean") / (2 * var)
    expected = softmax(logits, axis=1)
    assert np.mean(expected < 1e-300) > 0.99  # the regime the clamp is for
    got = cloud.posterior(t, x)
    radius = support_radius(cloud)
    xnorm = np.abs(x).max() * np.sqrt(8)
    logit_err = 4 * (8 + 2) * EPS * (xnorm * radius + radius**2) / var
    np.testing.assert_array_equal(got[expected < 1e-300], 0.0)
    np.testing.assert_allclose(got, expected, rtol=4 * logit_err, atol=1e-300)
    # Each row is normalized by its sum: the sum of the normalized weights is 1 up to one rounding
    # per nonzero weight plus this sum's own (gamma_k, k nonzero terms).
    nonzero = np.count_nonzero(got, axis=1)
    assert np.all(np.abs(got.sum(axis=1) - 1.0) <= 2 * (nonzero + 1) * EPS)
    np.testing.assert_allclose(cloud.denoise(t, x), got @ cloud.points, rtol=0, atol=4 * logit_err * radius)


# The three evaluation paths of PointCloud's normalizer and first moment (see _weight_sums): "fast"
# (no max pass, taken where its overflow and underflow bounds hold), "sparse" (only weights within
# SPARSE_TAIL + log N of the row maximum) and "dense" (shift by the maximum, clamp at EXP_FLOOR).
# Sparse and dense are forced by patching the module's switch and disabling the fast path.
# The sparse path's documented contract: the weights it omits add up to at most e^-50 of the largest.
SPARSE_OMITTED = np.exp(-50.0)


def _force_path(patch: pytest.MonkeyPatch, cloud: PointCloud, path: str) -> None:
    """"sparse" or "dense": no row takes the fast path and every block takes the named one. Any
    other value ("natural", or "fast" where the caller has checked the bounds hold) leaves the
    kernel's own choice alone."""
    from theory.measures import pointcloud

    if path not in ("sparse", "dense"):
        return
    fast_shift = pointcloud.PointCloud._fast_shift

    def never_fast(self, x, alpha, var, prec=None):
        log_scale, shift, fast = fast_shift(self, x, alpha, var, prec)
        return log_scale - shift, np.zeros_like(shift), np.zeros_like(fast)

    patch.setattr(pointcloud.PointCloud, "_fast_shift", never_fast)
    patch.setattr(pointcloud, "SPARSE_DENSITY", 1.0 if path == "sparse" else -1.0)


@pytest.mark.parametrize("path", ["fast", "sparse", "dense"])
@pytest.mark.parametrize("gap", [40.0, 52.0, 54.0, 690.0, 800.0])
def test_point_cloud_small_weights(path, gap):
    """Which small posterior weights each path keeps: one point at 0 and 10 copies of a point p whose
    logit is -gap relative to it (query x = 0, t = 0.5, N = 11). Closed form: denoise =
    10 e^-gap p / (1 + 10 e^-gap).

    - Every path keeps weights down to e^-(SPARSE_TAIL + log N) = e^-52.4 of the largest: gaps 40 and
      52 match the closed form to rounding (a cut 0.4 nats tighter fails at 52).
    - The sparse path may drop the rest; its contract is |error| <= e^-50 |p| (the omitted mass),
      checked at 54, 690 and 800.
    - The dense path keeps weights down to its clamp: 690 matches the closed form to rounding only if
      the clamp sits below -690; at 800 the true value is below 1e-300 |p| and a clamp at or below
      -700 leaves at most 1e-301 |p|.
    - The fast path is taken where its bounds hold (here up to gap ~340): 40, 52 and 54.

    "Matches the closed form": the kernel's logit of p is a (d + 3)-term product whose terms are at
    most 2 gap (the quadratic term) and 700 (the fast path's shift), so it is off by <= Delta =
    (d + 3) eps (2 gap + 700) in any summation order; the closed form's exponent by <= 4 eps gap.
    The result, mass p / (1 + mass), moves by a factor within exp(+-(2 Delta + 4 eps gap)) plus a
    few roundings: 3e-12 relative at gap 690, far below the e^-0.4 - 1 = -33 % a misplaced cut or
    clamp would cause.
    """
    t = 0.5
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    p = np.zeros(3)
    p[0] = np.sqrt(2 * var * gap) / alpha
    cloud = PointCloud(np.vstack([np.zeros((1, 3)), np.tile(p, (10, 1))]))
    mass = 10 * np.exp(-(alpha * p[0]) ** 2 / (2 * var))  # the logit is -gap up to rounding
    expected = mass * p / (1 + mass)
    x = np.zeros((1, 3))
    is_fast = bool(cloud._fast_shift(x, alpha, var)[2][0])
    if path == "fast":
        if gap > 340:
            assert not is_fast
            return
        assert is_fast
    with pytest.MonkeyPatch.context() as patch:
        _force_path(patch, cloud, path)
        got = cloud.denoise(t, x)[0]
    kept_by_all = gap < 50.0 + np.log(cloud.size)
    delta = (cloud.d + 3) * EPS * (2 * gap + 700.0)
    if kept_by_all or path == "fast" or (path == "dense" and gap < 700):
        np.testing.assert_allclose(got, expected, rtol=2 * delta + 4 * EPS * gap + 8 * EPS, atol=0)
    elif path == "sparse":
        assert np.all(np.abs(got - expected) <= SPARSE_OMITTED * p[0])
    else:
        assert np.all(np.abs(got) <= 1e-300 * p[0])


def _cloud_reference(cloud: PointCloud, t: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log p_t(x) and E[X_0 | X_t = x] of a PointCloud under OU, in mpmath at 50 digits from the
    definition (sum over atoms of w_i N(x; alpha x_i, var I)), rounded to float64."""
    log_p, denoised = np.empty(len(x)), np.empty(x.shape)
    with mpmath.workdps(50):
        alpha, var = mpmath.exp(-mpmath.mpf(t)), -mpmath.expm1(-2 * mpmath.mpf(t))
        points = [[mpmath.mpf(float(v)) for v in row] for row in cloud.points]
        for j, row in enumerate(x):
            logits = [mpmath.log(mpmath.mpf(float(w))) - sum((mpmath.mpf(float(v)) - alpha * pv) ** 2
                                                             for v, pv in zip(row, point)) / (2 * var)
                      for w, point in zip(cloud.weights, points)]
            top = max(logits)
            u = [mpmath.exp(v - top) for v in logits]
            total = mpmath.fsum(u)
            log_p[j] = float(top + mpmath.log(total) - cloud.d * mpmath.log(2 * mpmath.pi * var) / 2)
            denoised[j] = [float(mpmath.fsum(ui * point[k] for ui, point in zip(u, points)) / total)
                           for k in range(cloud.d)]
    return log_p, denoised


@settings(max_examples=30)
@given(sts.point_clouds(max_points=12), st.data())
def test_point_cloud_paths_agree(cloud, data):
    """The kernel's own choice of path per row ("natural": fast where its bounds hold, which was
    535 of 600 rows in a 200-example probe of these strategies), and the
    sparse and dense paths forced on every row, all give the log-density and the denoiser of a
    50-digit mpmath evaluation, to the rounding of the kernel's logits plus the sparse path's
    omitted mass.

    Error model: the kernel's logits are (d + 3)-term dot products of size at most
    S = (2 alpha |x| R + alpha^2 R^2) / sigma^2 + max |log w_i - log w_j| + 700 (R the support radius,
    700 bounds the fast path's shift), so each is off by <= Delta = (d + 3) eps S and a weight by a
    factor within exp(+-2 Delta). The log-density then moves by <= 2 Delta plus the rounding of the
    reference logit (eps |x - alpha x_ref|^2 / sigma^2 <= eps |log p| + ...), the denoiser by
    <= 2 Delta L (L the diameter), plus e^-50 L for the omitted mass. Checked with 4x the rounding.
    """
    x, _ = data.draw(sts.query_points(cloud, 0.3))
    t = data.draw(st.sampled_from([1e-4, 1e-2, 0.3, 3.0]))
    path = data.draw(st.sampled_from(["natural", "sparse", "dense"]))
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    log_p, denoised = _cloud_reference(cloud, t, x)
    with pytest.MonkeyPatch.context() as patch:
        _force_path(patch, cloud, path)
        got_log_p, got_denoised = cloud.log_density(t, x), cloud.denoise(t, x)
    radius = support_radius(cloud)
    diameter = float(np.max(pdist(cloud.points))) if cloud.size > 1 else 0.0
    xnorm = np.linalg.norm(x, axis=1)
    log_w = np.log(cloud.weights)
    delta = (cloud.d + 3) * EPS * ((2 * alpha * xnorm * radius + alpha**2 * radius**2) / var
                                   + log_w.max() - log_w.min() + 700.0)
    ref_rounding = 4 * EPS * (xnorm + alpha * radius) ** 2 / var
    assert np.all(np.abs(got_log_p - log_p) <= 8 * delta + ref_rounding + SPARSE_OMITTED
                  + 8 * EPS * np.abs(log_p))
    bound = (8 * delta + SPARSE_OMITTED)[:, None] * diameter + 8 * EPS * (radius + 1)
    assert np.all(np.abs(got_denoised - denoised) <= bound)


def test_point_cloud_far_query_at_tiny_time_is_finite():
    """Issue 11: PointCloud([[0,0],[1,0],[0,1]]).score(1e-12, [[3e7, 3e7]]) was NaN (the sparse path's
    cut top - 52 rounded to top ~ 1.5e19 and dropped every weight). The query is equidistant from
    (1, 0) and (0, 1), whose logits tie exactly, so the posterior is (0, 1/2, 1/2): denoise (1/2, 1/2)
    and score (alpha / 2 - 3e7) / sigma^2 exactly up to a few roundings; log p_t against the 50-digit
    reference, whose terms (|x|^2 / (2 sigma^2) ~ 4.5e26) have the size of the result (16 eps)."""
    cloud = CLOUD
    t = 1e-12
    x = np.full((1, 2), 3e7)
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    np.testing.assert_allclose(cloud.posterior(t, x), [[0.0, 0.5, 0.5]], rtol=0, atol=4 * EPS)
    np.testing.assert_allclose(cloud.denoise(t, x), [[0.5, 0.5]], rtol=4 * EPS)
    np.testing.assert_allclose(cloud.score(t, x), (alpha * 0.5 - x) / var, rtol=8 * EPS)
    log_p, _ = _cloud_reference(cloud, t, x)
    np.testing.assert_allclose(cloud.log_density(t, x), log_p, rtol=16 * EPS)


def test_point_cloud_far_field_posterior_is_one_hot():
    """At t = 1e-300 (sigma^2 = 2e-300) the logits differ by ~1e305 or overflow: the posterior is
    exactly one-hot on the nearest atom, the denoiser that atom (up to the clamped weights, <= N e^-700
    of a coordinate), and log p_t = log w - |x - alpha x_near|^2 / (2 sigma^2) - log(2 pi sigma^2) is
    the finite -1.25e298 it is at distance |(0.2, 0.1)| from the origin (50-digit reference), while at
    |x| = 3.6e7 it is ~ -3e314: a ValueError that names the overflow."""
    t = 1e-300
    x = np.array([[0.2, 0.1], [3e7, 2e7], [-1e200, 1e200]])
    np.testing.assert_array_equal(CLOUD.posterior(t, x), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(CLOUD.denoise(t, x), [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], rtol=0, atol=3e-304)
    assert np.array_equal(CLOUD.posterior_index(t, x, np.random.default_rng(0)), [0, 1, 2])
    log_p, _ = _cloud_reference(CLOUD, t, x[:1])
    np.testing.assert_allclose(CLOUD.log_density(t, x[:1]), log_p, rtol=16 * EPS)
    with pytest.raises(ValueError, match=r"log p_t\(x\) overflows float64 at t=1e-300 .* in 2 of 3 rows \(first: row 1"):
        CLOUD.log_density(t, x)
    with pytest.raises(ValueError, match=r"the score overflows float64 at t=1e-300 .* in 1 of 3 rows \(first: row 2"):
        CLOUD.score(t, x)


# -- posterior draws and the partition ---------------------------------------------------------------
POSTERIOR_SEED = 20_260_608
POSTERIOR_N = 100_000
# Level of the chi-square test of the drawn atoms' counts (measured over seeds 0-199: see the tests).
POSTERIOR_ALPHA = 1e-3


def _posterior_case() -> tuple[PointCloud, np.ndarray, float]:
    """Six weighted atoms in R^3, a query between them and a t at which every atom carries posterior
    mass between 3 % and 29 %."""
    rng = np.random.default_rng(POSTERIOR_SEED)
    cloud = PointCloud(rng.standard_normal((6, 3)), weights=[1.0, 2.0, 1.0, 3.0, 1.0, 2.0])
    return cloud, cloud.points[:3].mean(axis=0), 0.5


def reference_probabilities(cloud: PointCloud, t: float, x: np.ndarray, var_factor: float = 1.0) -> np.ndarray:
    """P(X_0 = x_i | X_t = x) = softmax_i(log w_i - |x - alpha x_i|^2 / (2 sigma^2)), computed here with
    sigma^2 multiplied by ``var_factor`` (1: the true posterior)."""
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t)) * var_factor
    return special.softmax(np.log(cloud.weights) - np.sum((x - alpha * cloud.points) ** 2, axis=1) / (2 * var))


def posterior_pvalue(cloud: PointCloud, t: float, x: np.ndarray, var_factor: float, seed: int) -> float:
    """Chi-square p-value of the atoms drawn by the measure's posterior sampler (Measure.posterior_sample,
    which returns the drawn points) against :func:`reference_probabilities`."""
    draws = Measure.posterior_sample(cloud, t, np.tile(x, (POSTERIOR_N, 1)), np.random.default_rng(seed))
    index, distance = cloud.nearest(draws)
    assert np.all(distance == 0.0)  # every draw is one of the atoms, exactly
    counts = np.bincount(index, minlength=cloud.size)
    return stats.chisquare(counts, POSTERIOR_N * reference_probabilities(cloud, t, x, var_factor)).pvalue


def test_posterior_draws_follow_the_softmax():
    """The drawn atoms follow the posterior softmax computed here (chi-square, 5 degrees of freedom,
    alpha = 1e-3, n = 100000, seed POSTERIOR_SEED; measured over seeds 0-199: 0 of 200 rejected)."""
    cloud, x, t = _posterior_case()
    assert posterior_pvalue(cloud, t, x, 1.0, POSTERIOR_SEED) >= POSTERIOR_ALPHA


def test_posterior_draw_test_rejects_sigma2_off_by_five_percent():
    """Near-miss control: against the softmax with sigma^2 5 % too large the same test rejects at the
    same n, alpha and seed (measured power over seeds 0-199: 200 of 200)."""
    cloud, x, t = _posterior_case()
    assert posterior_pvalue(cloud, t, x, 1.05, POSTERIOR_SEED) < POSTERIOR_ALPHA


def test_posterior_draws_far_from_the_data_are_the_nearest_atom():
    """At t = 1e-300 the posterior is one-hot on the nearest atom (see
    test_point_cloud_far_field_posterior_is_one_hot): every draw is that atom, exactly."""
    x = np.array([[0.2, 0.1], [3e7, 2e7], [-1e200, 1e200]])
    draws = Measure.posterior_sample(CLOUD, 1e-300, x, np.random.default_rng(0))
    np.testing.assert_array_equal(draws, CLOUD.points[[0, 1, 2]])


def test_partition_cells_are_the_atoms():
    """One cell per atom with its weight; a point's cell is its nearest atom."""
    cloud, _, _ = _posterior_case()
    partition = cloud.partition()
    np.testing.assert_array_equal(partition.masses, cloud.weights)
    x = np.random.default_rng(0).standard_normal((500, 3))
    np.testing.assert_array_equal(partition.assign(x), cloud.nearest(x)[0])


# -- bad input ------------------------------------------------------------------------------------
X = np.zeros((3, 2))
NAN_X = np.array([[0.0, 0.0], [np.nan, 1.0], [0.0, 0.0]])


BAD_MEASURE_INPUT = [
    (lambda: PointCloud(X, weights=[1.0, -1.0, 1.0]), ValueError,
     r"weights must be finite and >= 0, got min (np\.float64\()?-1\.0"),
    (lambda: PointCloud(X, weights=[1.0, np.nan, 1.0]), ValueError,
     r"weights must be finite and >= 0, got min (np\.float64\()?nan"),
    (lambda: PointCloud(X, weights=[1.0, 1.0]), ValueError, r"weights must have shape \(3,\), got \(2,\)"),
    (lambda: PointCloud(X, weights=np.zeros(3)), ValueError, r"weights must have a positive sum, got all zeros"),
    (lambda: PointCloud(np.zeros((0, 2))), ValueError,
     r"points must have shape \(N, d\) with N >= 1, d >= 1, got \(0, 2\)"),
    (lambda: PointCloud(np.zeros(3)), ValueError, r"points must have shape \(N, d\) with N >= 1, d >= 1, got \(3,\)"),
    (lambda: PointCloud(NAN_X), ValueError, r"points must be finite, got 1 NaN/inf entries"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()


# -- the float32 kernel (PointCloud.score of float32 queries, issue 15) ---------------------------
U32 = 2.0 ** -24  # float32's unit roundoff (eps / 2)
TINY_32 = float(np.finfo(np.float32).tiny)  # smallest normal float32, 1.2e-38
# NumPy's float32 exp is within 2.52 ulp (its documented SIMD maximum; libm is below 1 ulp): a
# relative error of at most 4 u.
EXP_ULPS_32 = 4.0


def _gamma32(k: float) -> float:
    """gamma_k = k u / (1 - k u) for float32: the relative error bound of a k-term sum or dot
    product in any order (Higham, Accuracy and Stability of Numerical Algorithms, 3.1)."""
    return k * U32 / (1.0 - k * U32)


def _direct_score(cloud: PointCloud, t: float, x: np.ndarray):
    """The exact score at float64 by a route that shares nothing with the kernel: logits
    log w_i - |x - alpha x_i|^2 / (2 sigma^2) from the differences themselves, scipy's softmax,
    then Tweedie. Returns (score (n, d), posterior (n, N), denoiser (n, d)). Its own error (float64
    rounding of logits of size |x - alpha x_i|^2 / sigma^2) is below 1e-9 of the float32 bound in
    every case here, and is covered by the bound's float64 term."""
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    sq = np.sum((x[:, None, :] - alpha * cloud.points[None]) ** 2, axis=-1)
    post = special.softmax(np.log(cloud.weights) - sq / (2 * var), axis=1)
    denoised = post @ cloud.points
    return (alpha * denoised - x) / var, post, denoised


def _float32_score_bound(cloud: PointCloud, t: float, x: np.ndarray, score, post, denoised) -> np.ndarray:
    """A priori bound on |score_float32 - score| per entry, shape (n, d) (x exact in float32).

    1. Logits: each is a (d + 3)-term float32 dot product of [alpha/var x, 1, -alpha^2/var, -shift]
       with [x_i - x_ref, log w_i - log w_ref, (|x_i|^2 - |x_ref|^2)/2, 1] (module docstring), both
       rounded to float32: error <= gamma_{d+5} times the sum of the terms' sizes, which is at most
       L + |shift| with L = alpha/var |x| D + max |log w_i - log w_j| + alpha^2/var max |x_i|^2 / 2
       (D the diameter, Cauchy-Schwarz). The fast path's shift puts every shifted logit in
       [-30, 80] (+ its one-nat slack), so |shift| <= L + 81; the dense path's is 0. eta = gamma_{d+5}
       (2 L + 81). Subtracting the row maximum (dense path) rounds by <= 30 u for the weights above the
       clamp; the exp adds 4 u (EXP_ULPS_32). So every unclamped weight carries a relative error
       <= e_w = exp(eta + 34 u) - 1 beyond a factor common to its row, which cancels.
    2. Relative weight errors e_i move E[X_0 | x] by sum_i pi_i e_i (x_i - m) / (1 + sum_i pi_i e_i):
       per coordinate <= e_w / (1 - e_w) sum_i pi_i |x_ik - m_k| (m = E[X_0 | x]).
    3. Clamp and sparse cut: the mass added (weights raised to e^-30 of the largest) or dropped
       (below e^-(20 + log N)) is at most tau = N e^-30 + e^-20 of the normalizer, moving m by
       <= tau / (1 - tau) max_i |x_ik - m_k|.
    4. Moment product: N-term float32 sums of w_i x_ik (x_ik rounded too) and of w_i: m_k is off
       by <= (1 + e_w) (gamma_{N+1} sum_i pi_i |x_ik| + gamma_N |m_k|) (first order; the sparse
       path sums fewer terms in float64).
    5. Tweedie in float64, rounded to float32: alpha/var times the error of m, plus u |s_k|, plus
       4 eps_64 (|x_k| + alpha |m_k|) / var for the float64 steps and the reference.
    6. Underflow: float32 entries below its smallest normal TINY_32 = 1.2e-38 carry an absolute error
       up to TINY_32 instead of a relative one: the points (adding TINY_32 to m, and alpha/var |x|_1
       TINY_32 to each logit) and the result (TINY_32).
    """
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    n_atoms, d = cloud.points.shape
    diameter = float(np.max(pdist(cloud.points))) if n_atoms > 1 else 0.0
    log_w = np.log(cloud.weights)
    xnorm = np.linalg.norm(x, axis=1, keepdims=True)
    big_l = (alpha / var * xnorm * diameter + (log_w.max() - log_w.min())
             + alpha**2 / var * np.max(np.sum(cloud.points**2, axis=1)) / 2)
    eta = _gamma32(d + 5) * (2 * big_l + 81.0) + alpha / var * np.sum(np.abs(x), axis=1, keepdims=True) * TINY_32
    e_w = np.expm1(eta + (30.0 + EXP_ULPS_32) * U32)
    spread = np.abs(cloud.points[None] - denoised[:, None, :])  # (n, N, d): |x_ik - m_k|
    weights_err = e_w / (1 - e_w) * np.einsum("ji,jik->jk", post, spread)
    tau = n_atoms * np.exp(-30.0) + np.exp(-20.0)
    clamp_err = tau / (1 - tau) * spread.max(axis=1)
    moment_err = (1 + e_w) * (_gamma32(n_atoms + 1) * (post @ np.abs(cloud.points))
                              + _gamma32(n_atoms) * np.abs(denoised)) + TINY_32
    return (alpha / var * (weights_err + clamp_err + moment_err) + U32 * np.abs(score)
            + 4 * EPS * (np.abs(x) + alpha * np.abs(denoised)) / var + TINY_32)


@settings(max_examples=40)
@given(sts.point_clouds(max_points=12), st.data())
def test_point_cloud_float32_score_within_its_rounding_bound(cloud, data):
    """score of float32 queries: float32 out, and within the a-priori bound of
    :func:`_float32_score_bound` (float32's unit roundoff times the condition numbers derived there)
    of the exact score at those queries, on each path of the kernel (natural, sparse and dense
    forced), for t from 1e-4 to 3."""
    x, _ = data.draw(sts.query_points(cloud, 0.3))
    x = x.astype(np.float32)
    t = data.draw(st.sampled_from([1e-4, 1e-2, 0.3, 3.0]))
    path = data.draw(st.sampled_from(["natural", "sparse", "dense"]))
    x64 = x.astype(np.float64)
    score, post, denoised = _direct_score(cloud, t, x64)
    with pytest.MonkeyPatch.context() as patch:
        _force_path(patch, cloud, path)
        got = cloud.score(t, x)
    assert got.dtype == np.float32
    bound = _float32_score_bound(cloud, t, x64, score, post, denoised)
    assert np.all(np.abs(got - score) <= bound), (np.abs(got - score) / bound).max()


@pytest.mark.parametrize("path", ["natural", "sparse", "dense"])
@pytest.mark.parametrize("t", [1e-3, 5e-3, 0.05, 1.0])
def test_point_cloud_float32_score_on_a_digits_sized_cloud(path, t):
    """The bound of :func:`_float32_score_bound` on a cloud of W2's size (N = 1797 points in d = 64,
    coordinates in [0, 1] like the digits, seed 0) at 200 queries near the data (a point plus
    N(0, 0.2^2 I)), at the times where the kernel takes its sparse (1e-3, 5e-3) and fast or dense
    paths; and the bound itself below 1 % of the score's size (it must be able to fail)."""
    rng = np.random.default_rng(0)
    cloud = PointCloud(rng.random((1797, 64)) ** 3)
    x = (cloud.points[rng.integers(0, cloud.size, 200)] + 0.2 * rng.standard_normal((200, 64))).astype(np.float32)
    x64 = x.astype(np.float64)
    score, post, denoised = _direct_score(cloud, t, x64)
    with pytest.MonkeyPatch.context() as patch:
        _force_path(patch, cloud, path)
        got = cloud.score(t, x)
    bound = _float32_score_bound(cloud, t, x64, score, post, denoised)
    assert got.dtype == np.float32
    assert np.all(np.abs(got - score) <= bound), (np.abs(got - score) / bound).max()
    assert np.max(bound) <= 0.01 * np.max(np.abs(score))


def test_point_cloud_float32_far_rows_and_float32_overflow():
    """Rows whose logits could overflow float32 (beyond LOGIT_LIMIT_32) are computed by the float64
    kernel and rounded: at t = 1e-12, x = (3e7, 3e7) the score is (alpha / 2 - 3e7) / sigma^2 per
    coordinate (issue 11's tie), within float32's rounding (u) plus the float64 kernel's (8 eps).
    A score beyond float32's range (-1e10 / 2e-30 = -5e39 at t = 1e-30) raises, naming float32."""
    x = np.array([[3e7, 3e7]], dtype=np.float32)
    alpha, var = float(OU().alpha(1e-12)), float(OU().sigma2(1e-12))
    expected = (alpha * 0.5 - float(x[0, 0])) / var
    got = CLOUD.score(1e-12, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.full((1, 2), expected), rtol=U32 + 8 * EPS, atol=0)
    with pytest.raises(ValueError, match="overflows float32"):
        CLOUD.score(1e-30, np.array([[1e10, 0.0]], dtype=np.float32))


# -- local_score: late steps below the GEMM bound (issue 15) ---------------------------------------
def _spread_cloud(n_atoms: int, d: int = 8, k: int = 3, scale: float = 20.0, seed: int = 0) -> PointCloud:
    """n_atoms points of a k-dimensional Gaussian (sd ``scale``) in a random k-plane of R^d, with
    random weights in [0.5, 1]: atoms about scale N^(-1/k) apart, so at t <= 1e-3 the posterior sits
    on a few of them (the late steps of a reverse SDE)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, k)))[0]
    return PointCloud(scale * rng.standard_normal((n_atoms, k)) @ basis.T, weights=rng.uniform(0.5, 1.0, n_atoms))


def _late_queries(cloud: PointCloud, t: float, n: int, seed: int = 1) -> np.ndarray:
    """Forward-noised atoms alpha x_i + sigma z: where a reverse SDE's particles are at time t."""
    rng = np.random.default_rng(seed)
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    return alpha * cloud.points[rng.integers(0, cloud.size, n)] + math.sqrt(var) * rng.standard_normal((n, cloud.d))


@pytest.mark.parametrize("tail", [1.0, 5.0, 50.0])
@pytest.mark.parametrize("t", [1e-4, 1e-3, 1e-2])
def test_local_score_certified_tail(t, tail):
    """local_score keeps the atoms within r of y = x / alpha, r^2 = r_0^2 + 2 sigma^2 (tail +
    log(1 / w_0)) / alpha^2. Against a direct evaluation (every atom, scipy's softmax): the reported
    ``tail`` is at least the true posterior mass of the atoms beyond r (recomputed here from direct
    distances) and at most e^-tail; the reported ``error`` bounds the true score error plus rounding.

    Rounding allowance: the direct reference's logits, of size at most L = |x - alpha x_i|^2 /
    (2 sigma^2), carry 4 eps L each, moving the denoiser by 8 eps L times the diameter D and the
    score by alpha / sigma^2 times that; both sides' Tweedie step adds 8 eps (|x| + alpha R) / sigma^2.
    At t = 1e-2 with tail = 1 the neglected mass is large enough (> 1e-6) that the bound is exercised;
    at t <= 1e-3 the atoms are far apart on the noise scale and nothing is neglected.
    The ball's atom counts equal a direct count of the atoms within r."""
    cloud = _spread_cloud(2000)
    x = _late_queries(cloud, t, 200)
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    local = cloud.local_score(t, x, tail=tail)
    score, post, _ = _direct_score(cloud, t, x)
    dist = cdist(x / alpha, cloud.points)
    nearest = np.argmin(dist, axis=1)
    r0 = dist[np.arange(len(x)), nearest]
    radius_sq = r0**2 + 2 * var * (tail - np.log(cloud.weights[nearest])) / alpha**2
    outside = np.sum(np.where(dist**2 > radius_sq[:, None], post, 0.0), axis=1)
    assert np.all(outside <= local.tail * (1 + 1e-6) + 1e-300)
    assert np.all(local.tail <= math.exp(-tail) * (1 + 1e-6))
    assert np.array_equal(local.atoms, np.count_nonzero(dist**2 <= radius_sq[:, None], axis=1))
    diameter = float(np.max(pdist(cloud.points)))
    radius = support_radius(cloud)
    big_l = np.max((np.linalg.norm(x[:, None] - alpha * cloud.points[None], axis=-1)) ** 2, axis=1) / (2 * var)
    rounding = (alpha / var * 8 * EPS * big_l * diameter
                + 8 * EPS * (np.linalg.norm(x, axis=1) + alpha * radius) / var)
    assert np.all(np.linalg.norm(local.score - score, axis=1) <= local.error + rounding)
    if tail == 1.0 and t == 1e-2:
        assert np.max(outside) > 1e-6  # the bound is exercised, not only met


def test_local_score_is_cheap_where_the_posterior_is_sparse():
    """At t = 1e-3 on 20000 atoms spaced ~ 20 N^(-1/3) = 0.7 apart (sigma = 0.045), each row sums a few
    atoms (mean below 5), not N."""
    cloud = _spread_cloud(20_000, d=16)
    local = cloud.local_score(1e-3, _late_queries(cloud, 1e-3, 300))
    assert local.atoms.mean() < 5 and local.atoms.min() >= 1


@pytest.mark.parametrize("tail, match", [(0.0, "tail must be a finite number > 0"),
                                         (-1.0, "tail must be a finite number > 0")])
def test_local_score_bad_tail(tail, match):
    with pytest.raises(ValueError, match=match):
        CLOUD.local_score(1e-3, np.zeros((1, 2)), tail=tail)
