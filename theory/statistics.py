"""The statistics that judge claims (CLAIMS.md §4): slopes in delta, plateaus, memorization.

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
# families we study has an exponent >= 1/4 over the tested range (CLAIMS.md C6: min(beta, 1/2) with
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

    def record(self) -> dict:
        """The fit as plain data for a report record: slope, se, band, deltas, levels, trend."""
        return {"slope": self.slope, "se": self.se, "band": [self.low, self.high], "deltas": self.deltas.tolist(),
                "levels": self.levels.tolist(), "trend": self.trend().value}

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
class LevelTest:
    """Independent estimates against predicted values: z = (values - predicted) / sems (m,), the
    statistic chi2 = sum z^2 and its p-value under chi-square with m degrees of freedom."""

    z: np.ndarray
    chi2: float
    pvalue: float


def level_test(values: Sequence[float], sems: Sequence[float], predicted: Sequence[float]) -> LevelTest:
    """Test m independent, approximately normal estimates ``values`` (m,) with standard errors
    ``sems`` (m,) against ``predicted`` (m,): chi2 = sum ((values - predicted)/sems)^2 ~ chi2(m).

    Each estimate is a mean of many i.i.d. terms (CLT) whose standard error is itself estimated;
    with n >= 1000 terms per estimate the estimated se is within a few percent of the true one,
    which moves the test's level by a negligible amount at the alphas used here.
    """
    values, sems, predicted = (np.asarray(a, dtype=np.float64) for a in (values, sems, predicted))
    if values.ndim != 1 or values.size < 1 or values.shape != sems.shape or values.shape != predicted.shape:
        raise ValueError(f"values, sems and predicted must be 1-d arrays of one length >= 1, got {values.shape}, "
                         f"{sems.shape} and {predicted.shape}")
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(predicted)) and np.all(np.isfinite(sems))
            and np.all(sems > 0)):
        raise ValueError("values and predicted must be finite and sems finite and > 0")
    z = (values - predicted) / sems
    chi2 = float(z @ z)
    return LevelTest(z=z, chi2=chi2, pvalue=float(stats.chi2.sf(chi2, df=values.size)))


def median_band(values: np.ndarray, *, alpha: float) -> tuple[float, float, float]:
    """The sample median of ``values`` (n,) and a distribution-free (1 - alpha) band for the median.

    The number B of values below the population median m is Binomial(n, 1/2) for any continuous
    law, so with j = the smallest integer with P(B <= j) >= alpha/2 (at least 1), the order
    statistics x_(j) <= m <= x_(n + 1 - j) (1-based) hold with probability >= 1 - alpha
    (e.g. Hollander and Wolfe, *Nonparametric Statistical Methods*, the sign-test interval).
    Returns (median, low, high).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be >= 2 finite numbers of shape (n,), got shape {values.shape}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    n = values.size
    j = max(int(stats.binom.ppf(alpha / 2.0, n, 0.5)), 1)
    ordered = np.sort(values)
    return float(np.median(values)), float(ordered[j - 1]), float(ordered[n - j])


def normal_band(fit: SlopeFit, alpha: float) -> SlopeFit:
    """``fit`` with its band replaced by slope +- z se, z = Phi^-1(1 - alpha/2), se the bootstrap
    standard deviation of the slope: a (1 - alpha) band for levels alpha too small for the
    percentile band of a few hundred resamples to resolve (e.g. after a Bonferroni correction)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    z = float(stats.norm.isf(alpha / 2))
    return SlopeFit(deltas=fit.deltas, levels=fit.levels, slope=fit.slope, intercept=fit.intercept,
                    low=fit.slope - z * fit.se, high=fit.slope + z * fit.se, alpha=alpha, n_boot=fit.n_boot,
                    statistic=fit.statistic, se=fit.se)


@dataclass(frozen=True)
class LevelFit:
    """Measured RMS levels against predicted ones at several deltas (independent runs).

    levels, predicted : (m,) the RMS of the distances at each delta and its prediction.
    log_ratios, ses : (m,) log(levels / predicted) and their standard errors (:func:`rms_level`, and
    the prediction's own where it is a Monte-Carlo estimate).
    value, se : the mean of the log ratios and its standard error sqrt(sum_j se_j^2) / m.
    """

    levels: np.ndarray
    predicted: np.ndarray
    log_ratios: np.ndarray
    ses: np.ndarray
    value: float
    se: float

    def record(self) -> dict:
        """The fit as plain data for a report record."""
        return {"mean_log_ratio": self.value, "se": self.se, "log_ratios": self.log_ratios.tolist(),
                "measured": self.levels.tolist(), "predicted": self.predicted.tolist()}

    def band(self, alpha: float) -> tuple[float, float]:
        """value -+ z se with z = Phi^-1(1 - alpha/2): a normal (1 - alpha) band of the mean log ratio."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        z = float(stats.norm.isf(alpha / 2))
        return self.value - z * self.se, self.value + z * self.se


def rms_level(distances: np.ndarray) -> tuple[float, float]:
    """The RMS of ``distances`` (n,) and the standard error of its logarithm by the delta method,
    sd(D^2) / (2 sqrt(n) mean(D^2)) (the RMS is the square root of a mean)."""
    arr = np.asarray(distances, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) or np.any(arr < 0) or not np.any(arr > 0):
        raise ValueError(f"distances must be >= 2 finite non-negative numbers, not all 0, got shape {arr.shape}")
    squares = arr * arr
    mean = float(squares.mean())
    return float(np.sqrt(mean)), float(squares.std(ddof=1) / (2.0 * np.sqrt(arr.size) * mean))


def level_fit(distances: Sequence[np.ndarray], predicted: Sequence[float], *,
              predicted_ses: Sequence[float] | None = None) -> LevelFit:
    """Compare the RMS of ``distances[j]`` (n_j,) with ``predicted[j]`` (> 0) for each of m >= 1
    deltas: the mean over j of log(RMS_j / predicted_j), with its delta-method standard error
    (:class:`LevelFit`; :func:`rms_level`). ``predicted_ses`` : the standard errors of log
    predicted_j when the prediction is itself a Monte-Carlo estimate (added in quadrature; default 0).
    A predicted level that is right gives a value near 0 within a few se."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if predicted.ndim != 1 or predicted.size < 1 or not np.all(np.isfinite(predicted)) or np.any(predicted <= 0):
        raise ValueError(f"predicted must be a 1-d array of finite levels > 0, got {predicted!r}")
    if len(distances) != predicted.size:
        raise ValueError(f"distances must have one array per predicted level ({predicted.size}), got {len(distances)}")
    extra = np.zeros(predicted.size) if predicted_ses is None else np.asarray(predicted_ses, dtype=np.float64)
    if extra.shape != predicted.shape or not np.all(np.isfinite(extra)) or np.any(extra < 0):
        raise ValueError(f"predicted_ses must be {predicted.size} finite numbers >= 0, got {predicted_ses!r}")
    measured = []
    for j, dist in enumerate(distances):
        try:
            measured.append(rms_level(dist))
        except ValueError as exc:
            raise ValueError(f"distances[{j}]: {exc}") from None
    levels = np.array([m[0] for m in measured])
    ses = np.sqrt(np.array([m[1] for m in measured]) ** 2 + extra**2)
    log_ratios = np.log(levels / predicted)
    return LevelFit(levels=levels, predicted=predicted, log_ratios=log_ratios, ses=ses,
                    value=float(log_ratios.mean()), se=float(np.sqrt(np.sum(ses**2)) / ses.size))


@dataclass(frozen=True)
class Homogeneity:
    """Two samples of labels in 0..m-1 compared: counts and reference_counts (m,), Pearson's
    chi-square statistic of the 2 x m table, its degrees of freedom and p-value."""

    counts: np.ndarray
    reference_counts: np.ndarray
    chi2: float
    dof: int
    pvalue: float


def count_homogeneity(labels: np.ndarray, reference_labels: np.ndarray, m: int) -> Homogeneity:
    """Chi-square test that ``labels`` (n,) and ``reference_labels`` (n_ref,), integers in [0, m),
    are drawn from one categorical law (scipy.stats.chi2_contingency on the 2 x m table of counts,
    no continuity correction; cells empty in both samples are dropped, dof = cells - 1).

    With a reference sample much larger than n this has the power of the one-sample test against
    the reference law: its noncentrality is n n_ref / (n + n_ref) sum_i (p_i - q_i)^2 / q_i.
    """
    m = _validate.integer(m, "m", minimum=2)
    tables = []
    for name, lab in (("labels", labels), ("reference_labels", reference_labels)):
        lab = np.asarray(lab)
        if lab.ndim != 1 or lab.size < 1 or not np.issubdtype(lab.dtype, np.integer) or np.any(lab < 0) \
                or np.any(lab >= m):
            raise ValueError(f"{name} must be a non-empty 1-d array of integers in [0, {m}), got dtype {lab.dtype}, "
                             f"shape {lab.shape}")
        tables.append(np.bincount(lab, minlength=m))
    counts, reference = tables
    used = (counts + reference) > 0
    if used.sum() < 2:
        return Homogeneity(counts=counts, reference_counts=reference, chi2=0.0, dof=0, pvalue=1.0)
    chi2, pvalue, dof, _ = stats.chi2_contingency(np.vstack([counts[used], reference[used]]), correction=False)
    return Homogeneity(counts=counts, reference_counts=reference, chi2=float(chi2), dof=int(dof),
                       pvalue=float(pvalue))


def slope_se(deltas: Sequence[float], log_ses: Sequence[float]) -> float:
    """Standard error of the least-squares slope of independent log levels on log(deltas), where the
    log level at deltas[j] has standard error log_ses[j]: sqrt(sum_j c_j^2 se_j^2) with
    c_j = (x_j - mean x) / sum_i (x_i - mean x)^2, x = log(deltas) (the slope is sum_j c_j log level_j).
    Used to carry a Monte-Carlo prediction's error into a slope band. deltas, log_ses : (m,), m >= 2."""
    deltas = np.asarray(deltas, dtype=np.float64)
    log_ses = np.asarray(log_ses, dtype=np.float64)
    if deltas.ndim != 1 or deltas.size < 2 or deltas.shape != log_ses.shape:
        raise ValueError(f"deltas and log_ses must be 1-d arrays of one length >= 2, got {deltas.shape} and "
                         f"{log_ses.shape}")
    if np.any(deltas <= 0) or np.unique(deltas).size != deltas.size or not np.all(np.isfinite(log_ses)) \
            or np.any(log_ses < 0):
        raise ValueError("deltas must be distinct and > 0, log_ses finite and >= 0")
    xc = np.log(deltas) - np.log(deltas).mean()
    return float(np.sqrt(np.sum((xc / (xc @ xc)) ** 2 * log_ses**2)))


def decade_deltas(top: float, decades: int) -> np.ndarray:
    """top, top/10, ..., top/10^decades: early-stopping times one decade apart, largest first."""
    top = _validate.positive_real(top, "top")
    decades = _validate.integer(decades, "decades", minimum=1)
    return top * 10.0 ** -np.arange(decades + 1.0)
