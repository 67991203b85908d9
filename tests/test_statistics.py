"""theory.statistics: the slope classifier, finite-range slopes, binary-KL mass bounds and cell counts.

References come from independent routes: closed forms, scipy.stats.binomtest's Clopper-Pearson
interval, and brute-force grids.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from theory.statistics import (FLAT_SLOPE, SlopeFit, Statistic, Trend, binary_kl, cell_counts, finite_range_slope,
                               kl_mass_bounds, loglog_slope)


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


def test_rms_level_ratio_is_the_mean_log_ratio_with_its_delta_method_error():
    from theory.statistics import rms_level_ratio

    d1, d2 = np.array([1.0, 3.0]), np.array([2.0, 2.0, 4.0])
    r = rms_level_ratio([d1, d2], [1.0, 2.0])
    logs = [0.5 * np.log(5.0), 0.5 * np.log(8.0) - np.log(2.0)]
    ses = [np.std([1.0, 9.0], ddof=1) / (2 * np.sqrt(2) * 5.0), np.std([4.0, 4.0, 16.0], ddof=1) / (2 * np.sqrt(3) * 8.0)]
    np.testing.assert_allclose(r.log_ratios, logs, rtol=1e-14)
    np.testing.assert_allclose(r.ses, ses, rtol=1e-14)
    assert r.log_ratio == pytest.approx(np.mean(logs), rel=1e-14)
    assert r.se == pytest.approx(np.sqrt(ses[0] ** 2 + ses[1] ** 2) / 2, rel=1e-14)
    assert r.band(2.0) == pytest.approx((np.exp(r.log_ratio - 2 * r.se), np.exp(r.log_ratio + 2 * r.se)), rel=1e-14)


def test_rms_level_ratio_covers_at_its_level():
    """Distances with d^2 exponential (two Gaussian normal coordinates), 3 deltas of n = 500, against
    the true RMS levels: |log ratio| > 1.96 se in 5 % of 4000 draws, +- 4 binomial sd (0.0138);
    seed 20240601."""
    from theory.statistics import rms_level_ratio

    rng = np.random.default_rng(20240601)
    levels = np.array([1.0, 0.3, 0.1])
    hits = 0
    for _ in range(4000):
        distances = [lv * np.sqrt(rng.standard_exponential(500)) for lv in levels]  # E d^2 = lv^2
        r = rms_level_ratio(distances, levels)
        hits += abs(r.log_ratio) > 1.96 * r.se
    assert abs(hits / 4000 - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 4000)


@pytest.mark.parametrize(("args", "match"), [
    (([np.ones(3)], [1.0, 2.0]), "one array per predicted level"),
    (([np.ones(3)], [0.0]), "finite numbers > 0"),
    (([np.ones(1)], [1.0]), ">= 2 finite non-negative"),
    (([-np.ones(3)], [1.0]), ">= 2 finite non-negative"),
    (([np.zeros(3)], [1.0]), "all 0"),
])
def test_rms_level_ratio_bad_input(args, match):
    from theory.statistics import rms_level_ratio

    with pytest.raises(ValueError, match=match):
        rms_level_ratio(*args)
