"""theory.statistics: the slope classifier, finite-range slopes, binary-KL mass bounds and cell counts.

References come from independent routes: closed forms, scipy.stats.binomtest's Clopper-Pearson
interval, and brute-force grids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from theory.statistics import (FLAT_SLOPE, SlopeFit, Statistic, Trend, binary_kl, cell_counts, count_homogeneity,
                               decade_deltas, finite_range_slope, kl_mass_bounds, level_fit, level_test, loglog_slope,
                               median_band, normal_band, rms_level)


def fit_with_band(low: float, high: float, levels=(1.0, 1.0, 1.0)) -> SlopeFit:
    return SlopeFit(deltas=np.array([1e-2, 1e-3, 1e-4]), levels=np.asarray(levels, float), slope=(low + high) / 2,
                    intercept=0.0, low=low, high=high, alpha=0.01, n_boot=400, statistic=Statistic.RMS, se=0.01)


@pytest.mark.parametrize(("low", "high", "trend"), [
    (0.45, 0.55, Trend.SHRINKS),
    (FLAT_SLOPE + 1e-9, 0.3, Trend.SHRINKS),
    (FLAT_SLOPE, 0.3, Trend.UNDECIDED),  # touching the threshold is not clearing it
    (-0.05, 0.05, Trend.FLAT),
    (-0.3, -0.2, Trend.GROWS),
    (-0.15, 0.05, Trend.UNDECIDED),
])
def test_trend_table(low, high, trend):
    assert fit_with_band(low, high).trend() is trend


def test_a_flat_band_at_level_zero_is_not_a_plateau():
    assert fit_with_band(-0.01, 0.01, levels=(1.0, 0.5, 0.0)).trend() is Trend.UNDECIDED


def test_loglog_slope_classifies_a_known_power():
    rng = np.random.default_rng(4)
    deltas = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    distances = [d**0.5 * np.abs(rng.standard_normal(2000)) for d in deltas]
    fit = loglog_slope(deltas, distances, rng=rng)
    assert fit.trend() is Trend.SHRINKS and fit.low < 0.5 < fit.high


def test_finite_range_slope_of_a_power_and_of_sigma():
    deltas = np.array([1e-2, 1e-3, 1e-4])
    assert finite_range_slope(deltas, 3 * deltas**0.25) == pytest.approx(0.25, abs=1e-12)
    # sigma(delta) of OU: d log sigma / d log delta = 1/2 - delta/2 + O(delta^2), between 0.495 and
    # 0.5 on [1e-4, 1e-2], so the least-squares slope is too
    slope = finite_range_slope(deltas, np.sqrt(-np.expm1(-2 * deltas)))
    assert 0.495 < slope < 0.5


@pytest.mark.parametrize(("p", "q"), [(0.3, 0.3), (0.3, 0.1), (0.9, 0.99), (0.5, 1e-6)])
def test_binary_kl_matches_scipy_entropy(p, q):
    # Tolerance: both sides sum two p log(p/q) terms of condition (|t1| + |t2|) / |KL| (below 1e3 for these p, q) with
    # a few ulps each, so 1e-12 relative; abs=1e-15 is for p = q, where both are 0 up to the rounding of log(p/q) = 0
    # terms.
    assert binary_kl(p, q) == pytest.approx(stats.entropy([p, 1 - p], [q, 1 - q]), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("p", [0.0, 0.01, 0.125, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("bound", [0.0, 1e-6, 0.1, 1.0, 5.0])
def test_kl_mass_bounds_against_a_grid(p, bound):
    lo, hi = kl_mass_bounds(p, bound)
    assert 0.0 <= lo <= p <= hi <= 1.0
    grid = np.linspace(1e-9, 1 - 1e-9, 200001)
    inside = grid[[binary_kl(p, q) <= bound for q in grid]] if bound > 0 else np.array([p])
    spacing = grid[1] - grid[0]
    assert lo <= inside.min() + spacing and hi >= inside.max() - spacing
    if 0 < p < 1 and bound > 0:
        assert binary_kl(p, lo) == pytest.approx(bound, rel=1e-6) or lo == 0.0
        assert binary_kl(p, hi) == pytest.approx(bound, rel=1e-6) or hi == 1.0


def test_kl_mass_bounds_of_an_infinite_bound_is_everything():
    assert kl_mass_bounds(0.3, float("inf")) == (0.0, 1.0)


def test_cell_counts_clopper_pearson_matches_scipy():
    labels = np.repeat([0, 1, 2, 3], [5, 0, 40, 155])
    cc = cell_counts(labels, np.array([0.05, 0.05, 0.2, 0.7]), alpha=0.04)
    level = 1 - 0.04 / 4
    for j, count in enumerate(cc.counts):
        ci = stats.binomtest(int(count), 200).proportion_ci(confidence_level=level, method="exact")
        assert cc.lower[j] == pytest.approx(ci.low, abs=1e-12) and cc.upper[j] == pytest.approx(ci.high, abs=1e-12)
    assert not cc.every_cell_hit
    assert cc.miss_probability() == pytest.approx(2 * 0.95**200 + 0.8**200 + 0.3**200, rel=1e-9)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: finite_range_slope([1e-2], [1.0]), ValueError, "length >= 2"),
    (lambda: finite_range_slope([1e-2, 1e-3], [1.0, 0.0]), ValueError, "finite and > 0"),
    (lambda: kl_mass_bounds(1.5, 0.1), ValueError, r"p must be in \[0, 1\]"),
    (lambda: kl_mass_bounds(0.5, -1.0), ValueError, "bound must be >= 0"),
    (lambda: cell_counts(np.array([0, 3]), np.array([0.5, 0.5]), alpha=0.01), ValueError, "labels must be"),
    (lambda: cell_counts(np.array([0, 1]), np.array([0.5, 0.5]), alpha=2.0), ValueError, "alpha must be"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_level_test_is_the_chi_square_of_the_standardized_deviations():
    t = level_test([1.1, 0.8, 3.0], [0.1, 0.1, 0.5], [1.0, 1.0, 3.0])
    assert np.allclose(t.z, [1.0, -2.0, 0.0], rtol=1e-12)
    assert t.chi2 == pytest.approx(5.0, rel=1e-12)
    assert t.pvalue == pytest.approx(stats.chi2.sf(5.0, 3), rel=1e-12)


def test_level_test_has_its_level_on_normal_estimates():
    """10^4 draws of 5 standard normal estimates: the rejection rate at 0.05 is 0.05 +- 4 sd of a
    binomial (0.0087), seed 20240601."""
    rng = np.random.default_rng(20240601)
    p = np.array([level_test(z, np.ones(5), np.zeros(5)).pvalue for z in rng.standard_normal((10_000, 5))])
    assert abs(np.mean(p < 0.05) - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 10_000)


@pytest.mark.parametrize(("args", "match"), [
    (([1.0], [0.1, 0.1], [1.0]), "1-d arrays of one length"),
    (([1.0], [0.0], [1.0]), "sems finite and > 0"),
    (([np.nan], [1.0], [1.0]), "must be finite"),
])
def test_level_test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        level_test(*args)


def test_median_band_covers_the_median_at_its_level():
    """2000 samples of n = 301 exponentials (median log 2): the band misses with rate <= alpha = 0.05
    (binomial: at most 0.05 + 4 sd of 2000 draws, 0.0195); it is the sign-test interval, so it
    misses at about alpha, not much less (>= 0.02). Seed 20240601."""
    rng = np.random.default_rng(20240601)
    misses = 0
    for _ in range(2000):
        med, lo, hi = median_band(rng.exponential(size=301), alpha=0.05)
        assert lo <= med <= hi
        misses += not lo <= np.log(2.0) <= hi
    assert 0.02 <= misses / 2000 <= 0.05 + 4 * np.sqrt(0.05 * 0.95 / 2000)


def test_median_band_order_statistics():
    """n = 10, alpha = 0.05: P(B <= 1) = 11/1024 < 0.025 <= P(B <= 2) = 56/1024, so j = 2: x_(2), x_(9)."""
    med, lo, hi = median_band(np.arange(10.0)[::-1], alpha=0.05)
    assert (med, lo, hi) == (4.5, 1.0, 8.0)


@pytest.mark.parametrize(("args", "match"), [
    ((np.array([1.0]), 0.05), "values must be >= 2 finite"),
    ((np.array([1.0, np.inf]), 0.05), "values must be >= 2 finite"),
    ((np.array([1.0, 2.0]), 1.5), r"alpha must be in \(0, 1\)"),
])
def test_median_band_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        median_band(args[0], alpha=args[1])


def test_normal_band_is_slope_plus_minus_z_se():
    fit = fit_with_band(0.4, 0.6)
    wide = normal_band(fit, 0.001)
    z = stats.norm.isf(0.0005)
    assert (wide.low, wide.high, wide.alpha) == pytest.approx((fit.slope - z * fit.se, fit.slope + z * fit.se, 0.001))


def test_rms_level_and_its_delta_method_se():
    """Seed 11: the delta-method se of log RMS against the spread of log RMS over 400 replicates of
    n = 500 chi-square(2)-like squares; they agree within 15 % (the sd of a sample sd over 400
    replicates is 3.5 %, and the delta method's O(1/n) bias is far smaller)."""
    rng = np.random.default_rng(11)
    samples = np.abs(rng.standard_normal((400, 500))) * (1.0 + rng.random((400, 500)))
    logs = [np.log(rms_level(s)[0]) for s in samples]
    ses = [rms_level(s)[1] for s in samples]
    assert np.mean(ses) == pytest.approx(np.std(logs, ddof=1), rel=0.15)
    # Tolerance: two squares, a mean and a sqrt, each of condition <= 1: at most 4 ulps of rounding, 1e-15 = 4.5 eps.
    assert rms_level(np.array([3.0, 4.0]))[0] == pytest.approx(np.sqrt(12.5), rel=1e-15)


def test_level_fit_of_a_right_and_a_wrong_prediction():
    """Seed 12: distances with known RMS 2 at three deltas: the right prediction gives a mean log ratio
    within 4 se of 0 (false failure 6e-5); one 5 % too low gives log(1/0.95) = 0.051 within 4 se."""
    rng = np.random.default_rng(12)
    distances = [2.0 * np.abs(rng.standard_normal(4000)) for _ in range(3)]
    right = level_fit(distances, [2.0, 2.0, 2.0])
    assert abs(right.value) < 4 * right.se
    wrong = level_fit(distances, [1.9, 1.9, 1.9])
    assert abs(wrong.value - np.log(2.0 / 1.9)) < 4 * wrong.se
    # Tolerance: 3 squares, their sum, a sqrt and a division (condition 1, all terms positive), possibly in another
    # order: 1e-15 = 4.5 eps.
    assert wrong.se == pytest.approx(np.sqrt(np.sum(wrong.ses**2)) / 3, rel=1e-15)
    with_error = level_fit(distances, [2.0, 2.0, 2.0], predicted_ses=[0.01, 0.01, 0.01])
    # Tolerance: per row one square, one sum of positives and one sqrt (condition <= 1) on each side: a few ulps;
    # 1e-14 = 45 eps.
    np.testing.assert_allclose(with_error.ses, np.sqrt(right.ses**2 + 1e-4), rtol=1e-14)
    low, high = right.band(0.01)
    # Tolerance: (high - low) / 2 cancels the level v (|v| < 4 se, asserted above), so the rounding of v +- z se is
    # amplified by at most (|v| + z se) / (z se) < 2.6; with scipy's isf to a few ulps, 1e-14 (45 eps) covers it.
    assert (high - low) / 2 == pytest.approx(stats.norm.isf(0.005) * right.se, rel=1e-14)


def test_count_homogeneity_against_scipy_and_its_power():
    """Two samples from one law pass, two from laws that differ by 0.05 in one cell's probability fail
    (seed 13, n = 4000 against 40000: noncentrality n n_ref/(n + n_ref) sum (p - q)^2/q = 34)."""
    rng = np.random.default_rng(13)
    p = np.array([0.2, 0.3, 0.5])
    q = np.array([0.25, 0.3, 0.45])
    same = count_homogeneity(rng.choice(3, 4000, p=p), rng.choice(3, 40000, p=p), 3)
    assert same.dof == 2 and same.pvalue > 1e-3
    other = count_homogeneity(rng.choice(3, 4000, p=q), rng.choice(3, 40000, p=p), 3)
    table = np.vstack([other.counts, other.reference_counts])
    assert other.chi2 == pytest.approx(stats.chi2_contingency(table, correction=False)[0], rel=1e-12)
    assert other.pvalue < 1e-4
    empty_cell = count_homogeneity(np.array([0, 1, 2]), np.array([0, 2, 2]), 4)
    assert empty_cell.dof == 2  # cell 3 is empty in both samples and dropped: 3 cells, 2 dof


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: normal_band(fit_with_band(0.4, 0.6), 1.5), ValueError, "alpha must be in"),
    (lambda: rms_level(np.zeros(5)), ValueError, "not all 0"),
    (lambda: level_fit([np.ones(5)], [1.0, 2.0]), ValueError, "one array per predicted level"),
    (lambda: level_fit([np.ones(5)], [0.0]), ValueError, "levels > 0"),
    (lambda: level_fit([np.ones(5)], [1.0], predicted_ses=[-1.0]), ValueError, "predicted_ses"),
    (lambda: level_fit([np.array([1.0, np.nan])], [1.0]), ValueError, r"distances\[0\]"),
    (lambda: count_homogeneity(np.array([0, 5]), np.array([0, 1]), 3), ValueError, r"integers in \[0, 3\)"),
    (lambda: count_homogeneity(np.array([0.5]), np.array([0, 1]), 3), ValueError, "labels must be"),
])
def test_bad_input_of_the_level_and_count_statistics(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_level_fit_covers_at_its_level():
    """Distances with d^2 exponential (two Gaussian normal coordinates), 3 deltas of n = 500, against
    the true RMS levels: |log ratio| > 1.96 se in 5 % of 4000 draws, +- 4 binomial sd (0.0138);
    seed 20240601."""
    rng = np.random.default_rng(20240601)
    levels = np.array([1.0, 0.3, 0.1])
    hits = 0
    for _ in range(4000):
        distances = [lv * np.sqrt(rng.standard_exponential(500)) for lv in levels]  # E d^2 = lv^2
        r = level_fit(distances, levels)
        hits += abs(r.value) > 1.96 * r.se
    assert abs(hits / 4000 - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 4000)


def test_slope_se_of_equal_errors_is_the_textbook_formula():
    """With one se s at every delta, se(slope) = s / sqrt(sum (x - mean x)^2) (x = log delta), to rounding."""
    from theory.statistics import slope_se

    deltas = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    x = np.log(deltas)
    # Tolerance: a centred sum of 4 squares (condition 1), a sqrt and a division on each side: under 10 ulps, 1e-14 =
    # 45 eps.
    assert slope_se(deltas, np.full(4, 0.01)) == pytest.approx(0.01 / np.sqrt(np.sum((x - x.mean()) ** 2)), rel=1e-14)
    assert slope_se(deltas, np.zeros(4)) == 0.0


@pytest.mark.parametrize(("deltas", "ses", "match"), [
    ([1e-2], [0.1], "length >= 2"),
    ([1e-2, 1e-3], [0.1], "length >= 2"),
    ([1e-2, 1e-2], [0.1, 0.1], "distinct"),
    ([1e-2, -1e-3], [0.1, 0.1], "distinct and > 0"),
    ([1e-2, 1e-3], [0.1, -0.1], ">= 0"),
])
def test_slope_se_bad_input(deltas, ses, match):
    from theory.statistics import slope_se

    with pytest.raises(ValueError, match=match):
        slope_se(deltas, ses)


def test_decade_deltas_and_records():
    np.testing.assert_array_equal(decade_deltas(1e-2, 3), [1e-2, 1e-3, 1e-4, 1e-5])
    with pytest.raises(ValueError, match="decades"):
        decade_deltas(1.0, 0)
    fit = fit_with_band(0.4, 0.6)
    record = fit.record()
    assert record["band"] == [0.4, 0.6] and record["trend"] == fit.trend().value
    assert record["deltas"] == fit.deltas.tolist() and record["levels"] == fit.levels.tolist()
    level = level_fit([np.array([1.0, 3.0])], [2.0])
    assert level.record()["mean_log_ratio"] == level.value and level.record()["predicted"] == [2.0]
