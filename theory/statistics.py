"""The statistics that judge claims (SPEC section 4): slopes in delta, plateaus, memorization.

"Lands on M" is never one number at one delta: it is the log-log slope of a robust distance
statistic against delta over several decades, with a bootstrap confidence band. Each function
takes its randomness as an explicit ``rng`` and states its confidence level.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from theory import _validate

# Slope magnitude below which a distance curve counts as flat. Landing on M under any of the
# families we study has an exponent >= 1/4 over the tested range (SPEC C6: min(beta, 1/2) with
# beta >= 1/4 on our grids, 1 - a with a <= 3/4); a plateau has exponent 0. 0.1 separates the two
# with room for the bootstrap band (typically +-0.02 at n = 2000 per delta).
FLAT_SLOPE = 0.1


class Trend(enum.Enum):
    """What a log-log slope band says about a distance curve as delta -> 0 (:meth:`SlopeFit.trend`).

    SHRINKS: the whole band is above FLAT_SLOPE (the distance tends to 0 like a power of delta:
    landing). FLAT: the band lies inside (-FLAT_SLOPE, FLAT_SLOPE) at positive levels (a plateau).
    GROWS: the whole band is below -FLAT_SLOPE. UNDECIDED: the band straddles a threshold.
    """

    SHRINKS = "shrinks"
    FLAT = "flat"
    GROWS = "grows"
    UNDECIDED = "undecided"


class Statistic(enum.Enum):
    """Robust per-delta summaries of distances to M."""

    RMS = "rms"
    MEDIAN = "median"


def _summary(values: np.ndarray, statistic: Statistic) -> float:
    return float(np.sqrt(np.mean(values**2))) if statistic is Statistic.RMS else float(np.median(values))


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares slope of log(statistic) on log(delta) with a percentile bootstrap band.

    deltas, levels : (m,), the statistic at each delta. slope, intercept : the fit.
    low, high : the (1 - alpha) bootstrap band of the slope. se : the bootstrap standard deviation
    of the slope (for tests at levels finer than the band resolves). n_boot : bootstrap resamples.
    """

    deltas: np.ndarray
    levels: np.ndarray
    slope: float
    intercept: float
    low: float
    high: float
    alpha: float
    n_boot: int
    statistic: Statistic
    se: float

    @property
    def decades(self) -> float:
        """log10(max delta / min delta): the span the slope was measured over."""
        return float(np.log10(self.deltas.max() / self.deltas.min()))

    def contains(self, value: float, *, tolerance: float = 0.0) -> bool:
        """True if ``value`` lies in [low - tolerance, high + tolerance]."""
        return self.low - tolerance <= value <= self.high + tolerance

    def trend(self, flat: float = FLAT_SLOPE) -> Trend:
        """The one slope classifier (:class:`Trend`) with threshold ``flat`` (default FLAT_SLOPE)."""
        if self.low > flat:
            return Trend.SHRINKS
        if self.high < -flat:
            return Trend.GROWS
        if -flat < self.low and self.high < flat and bool(np.all(self.levels > 0)):
            return Trend.FLAT
        return Trend.UNDECIDED

    def lands(self) -> bool:
        """Distance shrinks as a positive power of delta: ``trend() is Trend.SHRINKS``."""
        return self.trend() is Trend.SHRINKS

    def plateaus(self) -> bool:
        """Distance does not shrink: ``trend() is Trend.FLAT``."""
        return self.trend() is Trend.FLAT


def loglog_slope(deltas: Sequence[float], distances: Sequence[np.ndarray], *, rng: np.random.Generator,
                 statistic: Statistic | str = Statistic.RMS, alpha: float = 0.01, n_boot: int = 400) -> SlopeFit:
    """Slope of log stat(distances at delta) vs log delta with a percentile bootstrap band.

    deltas : (m,) distinct, > 0, m >= 3. distances[j] : (n_j,) distances to M of independent
    samples at deltas[j]. Bootstrap: particles are resampled with replacement within each delta,
    independently across deltas (the runs at different deltas are independent), ``n_boot`` times;
    the band is the [alpha/2, 1 - alpha/2] percentile interval of the refitted slopes.
    """
    rng = _validate.generator(rng)
    statistic = Statistic(statistic) if not isinstance(statistic, Statistic) else statistic
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 1 or deltas.size < 3 or np.any(deltas <= 0) or np.unique(deltas).size != deltas.size:
        raise ValueError(f"deltas must be >= 3 distinct positive numbers, got {deltas!r}")
    if len(distances) != deltas.size:
        raise ValueError(f"distances must have one array per delta ({deltas.size}), got {len(distances)}")
    arrays = [np.asarray(dist, dtype=np.float64) for dist in distances]
    for j, arr in enumerate(arrays):
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"distances[{j}] must be >= 2 finite non-negative numbers, got shape {arr.shape}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    n_boot = _validate.integer(n_boot, "n_boot", minimum=10)
    x = np.log(deltas)
    levels = np.array([_summary(arr, statistic) for arr in arrays])
    if np.any(levels <= 0):
        raise ValueError("a distance statistic is 0: all samples exactly on M; the slope is undefined")
    slope, intercept = np.polyfit(x, np.log(levels), 1)
    boot = np.empty((n_boot, deltas.size))
    for j, arr in enumerate(arrays):
        draws = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))]
        boot[:, j] = np.sqrt(np.mean(draws**2, axis=1)) if statistic is Statistic.RMS else np.median(draws, axis=1)
    boot = np.maximum(boot, np.finfo(np.float64).tiny)
    xc = x - x.mean()
    boot_slopes = (np.log(boot) @ xc) / (xc @ xc)
    low, high = np.quantile(boot_slopes, [alpha / 2, 1 - alpha / 2])
    return SlopeFit(deltas=deltas, levels=levels, slope=float(slope), intercept=float(intercept), low=float(low),
                    high=float(high), alpha=alpha, n_boot=n_boot, statistic=statistic,
                    se=float(np.std(boot_slopes, ddof=1)))


@dataclass(frozen=True)
class HitTest:
    """Which training points the samples landed nearest to, against predicted probabilities.

    counts, expected : (N,). chi2, pvalue : Pearson's chi-square goodness of fit
    (scipy.stats.chisquare, N - 1 degrees of freedom). all_hit : every point with positive
    predicted probability was hit at least once. min_expected : the smallest expected count (the
    chi-square approximation wants >= 5).
    """

    counts: np.ndarray
    expected: np.ndarray
    chi2: float
    pvalue: float
    all_hit: bool
    min_expected: float

    def consistent(self, alpha: float) -> bool:
        """The frequencies are consistent with the prediction at level alpha and every point is hit."""
        return self.pvalue > alpha and self.all_hit


def hit_frequencies(nearest_index: np.ndarray, probabilities: np.ndarray) -> HitTest:
    """Chi-square test of the nearest-training-point counts against ``probabilities``.

    nearest_index : (n,) integers in [0, N). probabilities : (N,), >= 0, summing to 1 (within
    1e-9). Points with zero predicted probability must receive no hits (they are pooled into the
    statistic as an impossible cell: any hit there gives p-value 0).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or np.any(p < 0) or not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"probabilities must be a non-negative vector summing to 1, got sum {p.sum()!r}")
    idx = np.asarray(nearest_index)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or np.any(idx < 0) or np.any(idx >= p.size):
        raise ValueError(f"nearest_index must be integers in [0, {p.size}), got dtype {idx.dtype}, shape {idx.shape}")
    counts = np.bincount(idx, minlength=p.size)
    n = idx.size
    support = p > 0
    if np.any(counts[~support] > 0):
        return HitTest(counts, n * p, float("inf"), 0.0, False, float(np.min(n * p[support])))
    expected = n * p[support]
    chi2, pvalue = stats.chisquare(counts[support], expected)
    return HitTest(counts=counts, expected=n * p, chi2=float(chi2), pvalue=float(pvalue),
                   all_hit=bool(np.all(counts[support] > 0)), min_expected=float(expected.min()))


def finite_range_slope(deltas: Sequence[float], levels: Sequence[float]) -> float:
    """Least-squares slope of log(levels) on log(deltas): what a log-log fit over exactly these
    deltas reads off a predicted curve (e.g. sigma(delta), or RMS levels from moment equations),
    so that a finite range is compared with the same finite range, not with the asymptotic rate."""
    deltas = np.asarray(deltas, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if deltas.ndim != 1 or deltas.shape != levels.shape or deltas.size < 2:
        raise ValueError(f"deltas and levels must be 1-d arrays of the same length >= 2, got {deltas.shape} and "
                         f"{levels.shape}")
    if np.any(deltas <= 0) or np.any(levels <= 0) or not np.all(np.isfinite(levels)):
        raise ValueError("deltas and levels must be finite and > 0")
    return float(np.polyfit(np.log(deltas), np.log(levels), 1)[0])


def binary_kl(p: float, q: float) -> float:
    """kl(p || q) = p log(p/q) + (1 - p) log((1 - p)/(1 - q)), the KL divergence of Bernoulli laws."""
    return float(special.rel_entr(p, q) + special.rel_entr(1.0 - p, 1.0 - q))


def kl_mass_bounds(p: float, bound: float) -> tuple[float, float]:
    """The range [q_lo, q_hi] of masses q with kl(p || q) <= bound (CLAIMS.md C2).

    By data processing, an output law Q with KL(P || Q) <= bound gives any set of P-mass p a
    Q-mass in this range (the floor is what "every part of M keeps mass" means quantitatively).
    p in [0, 1], bound >= 0; an infinite bound gives [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not bound >= 0.0:
        raise ValueError(f"bound must be >= 0, got {bound!r}")
    if not np.isfinite(bound):
        return 0.0, 1.0
    if p == 0.0:
        return 0.0, float(-np.expm1(-bound))
    if p == 1.0:
        return float(np.exp(-bound)), 1.0

    # Roots in log q (below p) and log(1 - q) (above p): kl is monotone on each side and the roots
    # may lie many decades from p, where a root finder in q itself loses its relative accuracy.
    def below(u: float) -> float:
        return binary_kl(p, np.exp(u)) - bound

    def above(u: float) -> float:
        return binary_kl(p, -np.expm1(u)) - bound

    floor_u = np.log(np.finfo(np.float64).tiny)
    lo = 0.0 if below(floor_u) <= 0 else float(np.exp(optimize.brentq(below, floor_u, np.log(p), rtol=1e-13)))
    ceil_u = np.log(np.finfo(np.float64).eps / 2)
    hi = 1.0 if above(ceil_u) <= 0 else float(-np.expm1(optimize.brentq(above, ceil_u, np.log1p(-p), rtol=1e-13)))
    return lo, hi


@dataclass(frozen=True)
class CellCounts:
    """Counts of samples per cell of a partition of M against the cells' predicted masses.

    counts : (m,). masses : (m,) predicted probabilities. lower, upper : Clopper-Pearson bounds of
    each cell's fraction at simultaneous level 1 - alpha (Bonferroni over the m cells).
    """

    counts: np.ndarray
    masses: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    alpha: float

    @property
    def every_cell_hit(self) -> bool:
        """Every cell with positive predicted mass received a sample."""
        return bool(np.all(self.counts[self.masses > 0] > 0))

    def miss_probability(self) -> float:
        """P(some cell of positive mass gets no sample) <= sum_j (1 - p_j)^n under the prediction."""
        n = int(self.counts.sum())
        positive = self.masses[self.masses > 0]
        return float(min(1.0, np.sum(np.exp(n * np.log1p(-np.minimum(positive, 1.0 - 1e-16))))))


def cell_counts(labels: np.ndarray, masses: np.ndarray, *, alpha: float) -> CellCounts:
    """Count ``labels`` (n,) in cells 0..m-1 and bound each fraction (Clopper-Pearson, level 1 - alpha/m)."""
    masses = np.asarray(masses, dtype=np.float64)
    labels = np.asarray(labels)
    if masses.ndim != 1 or np.any(masses < 0):
        raise ValueError(f"masses must be a non-negative vector, got shape {masses.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or np.any(labels < 0) or \
            np.any(labels >= masses.size):
        raise ValueError(f"labels must be integers in [0, {masses.size}), got dtype {labels.dtype}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    m, n = masses.size, labels.size
    counts = np.bincount(labels, minlength=m)
    level = alpha / (2 * m)
    lower = np.where(counts > 0, stats.beta.ppf(level, np.maximum(counts, 1), n - counts + 1), 0.0)
    upper = np.where(counts < n, stats.beta.isf(level, counts + 1, np.maximum(n - counts, 1)), 1.0)
    return CellCounts(counts=counts, masses=masses, lower=lower, upper=upper, alpha=alpha)


@dataclass(frozen=True)
class LevelRatio:
    """Measured RMS levels against predicted ones, pooled over the deltas (:func:`rms_level_ratio`).

    log_ratios : (j,) log(RMS_j / predicted_j) per delta; ses : (j,) their delta-method standard
    errors. log_ratio : their mean (the log of the geometric-mean ratio); se : its standard error
    (the deltas' samples are independent). :meth:`ratio` and :meth:`band` are on the ratio scale.
    """

    log_ratios: np.ndarray
    ses: np.ndarray
    log_ratio: float
    se: float

    @property
    def ratio(self) -> float:
        """exp(log_ratio): the geometric mean over the deltas of measured RMS / predicted RMS."""
        return float(np.exp(self.log_ratio))

    def band(self, z: float) -> tuple[float, float]:
        """(exp(log_ratio - z se), exp(log_ratio + z se)): the ratio's band at z standard errors."""
        return float(np.exp(self.log_ratio - z * self.se)), float(np.exp(self.log_ratio + z * self.se))


def rms_level_ratio(distances: Sequence[np.ndarray], predicted: Sequence[float]) -> LevelRatio:
    """Pool measured RMS distances against predicted RMS levels over j deltas.

    distances[i] : (n_i,) distances of independent samples at delta i; predicted : (j,) > 0.
    Per delta, R_i = sqrt(mean d^2) and log R_i - log predicted_i has the delta-method standard
    error sd(d^2) / (2 sqrt(n_i) mean d^2) (log R = log(mean d^2)/2); the pooled statistic is the
    mean over i of the log ratios, with standard error sqrt(sum se_i^2) / j. Normal to first order
    in 1/sqrt(n_i): for d^2 exponential (a chi-square with 2 degrees of freedom) the pooled
    statistic has skewness about 2/sqrt(j n_i) (0.014 at j = 5, n_i = 4000), which by the
    Cornish-Fisher expansion moves its z = 3.5 quantile by gamma (z^2 - 1)/6 = 0.03 standard errors.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.ndim != 1 or predicted.size < 1 or not np.all(np.isfinite(predicted)) or np.any(predicted <= 0):
        raise ValueError(f"predicted must be a non-empty 1-d array of finite numbers > 0, got {predicted!r}")
    if len(distances) != predicted.size:
        raise ValueError(f"distances must have one array per predicted level ({predicted.size}), got {len(distances)}")
    log_ratios, ses = np.empty(predicted.size), np.empty(predicted.size)
    for i, arr in enumerate(distances):
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(f"distances[{i}] must be >= 2 finite non-negative numbers, got shape {arr.shape}")
        sq = arr**2
        mean = float(sq.mean())
        if mean <= 0.0:
            raise ValueError(f"distances[{i}] are all 0: the RMS level has no logarithm")
        log_ratios[i] = 0.5 * np.log(mean) - np.log(predicted[i])
        ses[i] = float(sq.std(ddof=1)) / (2.0 * np.sqrt(sq.size) * mean)
    return LevelRatio(log_ratios=log_ratios, ses=ses, log_ratio=float(log_ratios.mean()),
                      se=float(np.sqrt(np.sum(ses**2)) / predicted.size))
