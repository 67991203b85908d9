"""Diagnose a score: will its sampler memorize the training set or generalize? (CLAIMS.md C8)

:func:`diagnose` predicts from the score alone and then measures by sampling.

Prediction (Pidstrigach 2022, arXiv:2206.01018, through CLAIMS.md C5 and C2/C3; formalized as C8).
(i) On the forward-noised training set (:mod:`theory.learned.profiles`) the explosion profile
c(t) = sigma(t)^2 E|s(t, X_t)|^2 tends to d for a score that lands on the N training points and to
d - k for one that lands on a k-dimensional set. It is read at the bottom of the decisive window
(:mod:`theory.learned.resolution`: where the training points are separated and the score is still
trusted) as the codimension estimate c^ with standard error se. With lambda = (d - c^) / k_ref
(0: explodes like the points, 1: like a k_ref-dimensional set) and z = Phi^-1(1 - alpha/2):

- "memorizes" if lambda + z se / k_ref <= BAND;
- "generalizes" if lambda - z se / k_ref >= 1 - BAND and, with a population of dimension k,
  lambda + z se / k_ref <= 1 + BAND (c^ within the band of d - k, not below it);
- "inconclusive" otherwise, and whenever the window spans less than MIN_WINDOW_DECADES.

Beside the verdict: the alignment -E[sigma s . Z] at the same nodes (equal to c for exact scores
and their either-or mixtures; by default a window node where they differ by more than
ALIGNMENT_TOL k_ref is not trusted, see :mod:`theory.learned.resolution`); (ii) the Girsanov integral
int_{t_floor}^T (g^2/2) E|s - s_emp|^2 dt plus KL(p_T || prior), which by CLAIMS.md C2 and Pinsker bounds
the total variation between the score's samples at delta = t_floor and the exact empirical score's
(memorization guaranteed for all but that fraction; C3); (iii) the errors against the empirical
and population scores over the window.

Measurement (CLAIMS.md §4, :mod:`theory.learned.sampling`), at MEASURE_DELTAS early-stopping
times spread over the bottom MEASURE_DECADES of the window (the range the prediction is about):
"memorizes" if the RMS and the median nearest-training distances both land (bootstrap band above
FLAT_SLOPE); "generalizes" if both plateau (band inside +-FLAT_SLOPE at a positive level) and,
with a population, the distance to its M lands; "inconclusive" otherwise (for instance the median
lands and the RMS plateaus: some samples are copies, others are not).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from theory import _validate
from theory.learned.adapters import checked_output
from theory.learned.profiles import (ErrorProfile, ExplosionProfile, check_sample_size, default_times,
                                     score_profiles, validate_times)
from theory.estimators import kl_to_prior
from theory.learned.resolution import ALIGNMENT_TOL, BAND, MIN_WINDOW_DECADES, Resolution, resolve
from theory.learned.sampling import STEPS_PER_DECADE, SamplingMeasurement, measure_sampling
from theory.measures.base import Measure
from theory.measures.pointcloud import PointCloud
from theory.priors import Gaussian
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process
from theory.statistics import FLAT_SLOPE

ScoreFn = Callable[[float, np.ndarray], np.ndarray]

# Early-stopping times of the measurement: four, geometric over the bottom MEASURE_DECADES of the
# window (the shortest window given a verdict). The bottom, because a sampler that lands on M
# between the training points shows its plateau only once sigma(delta) is small against the
# points' spacing: the nearest-training distance is about sqrt((d - k) sigma^2 + u^2) with u the
# distance along M, whose slope (1/2) (d - k) sigma^2 / ((d - k) sigma^2 + u^2) is still 0.1-0.2
# for the median near the top of the window (measured: 16 points on the circle, window top 8e-4).
MEASURE_DELTAS = 4
MEASURE_DECADES = 1.0


class Behaviour(enum.Enum):
    """What a score's sampler does with its training set (CLAIMS.md C8)."""

    MEMORIZES = "memorizes"
    GENERALIZES = "generalizes"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Diagnosis:
    """The result of :func:`diagnose`.

    predicted, measured : :class:`Behaviour`. codimension, codimension_se : c^ and its standard
    error (nan without a window). lam : (d - c^) / k_ref. alignment : the mean alignment
    -E[sigma s . Z] at the same nodes (equal to c^ for exact scores and their either-or mixtures).
    d, k : ambient dimension and the population's intrinsic dimension (None without one);
    k_ref : the gap unit (k or 1). explosion, errors : the profiles. resolution : the trusted range
    and window; t_range : the trusted range (t_floor, t_top), or None. l2_empirical :
    int_{t_floor}^{t_top} (g^2/2) E|s - s_emp|^2 dt; prior_kl : KL(p_T || prior) for the empirical
    p_T and the sampler's default prior; tv_bound : min(1, sqrt((l2_empirical + prior_kl) / 2)), the
    Girsanov-Pinsker bound on the total variation between the score's samples at delta = t_floor
    and the exact empirical score's (nan without a trusted range). follows_empirical,
    follows_population : whether e_emp (e_pop) stays within BAND k_ref over the window (None when
    unknown). measurement : the sampling study (None when
    not run). predicted_reasons, measured_reasons : sentences with the deciding numbers.
    """

    predicted: Behaviour
    measured: Behaviour
    codimension: float
    codimension_se: float
    lam: float
    alignment: float
    d: int
    k: int | None
    k_ref: int
    explosion: ExplosionProfile
    errors: ErrorProfile
    resolution: Resolution
    t_range: tuple[float, float] | None
    l2_empirical: float
    prior_kl: float
    tv_bound: float
    follows_empirical: bool | None
    follows_population: bool | None
    measurement: SamplingMeasurement | None
    predicted_reasons: tuple[str, ...]
    measured_reasons: tuple[str, ...]
    alpha: float

    @property
    def agrees(self) -> bool:
        """Prediction and measurement give the same decided behaviour (neither inconclusive)."""
        return self.predicted is self.measured and self.predicted is not Behaviour.INCONCLUSIVE

    @property
    def refuted(self) -> bool:
        """Prediction and measurement are both decided and differ: a refutation of CLAIMS.md C8."""
        decided = Behaviour.INCONCLUSIVE not in (self.predicted, self.measured)
        return decided and self.predicted is not self.measured

    def to_dict(self) -> dict[str, Any]:
        """Plain data (numbers, strings, lists, None; nan for undefined numbers): the verdicts, the
        deciding numbers, the reasons, and the profiles as lists for plots."""
        res, ex, er, ms = self.resolution, self.explosion, self.errors, self.measurement

        def floats(a):
            return None if a is None else [float(v) for v in a]

        def fit(f):
            return None if f is None else {"slope": f.slope, "low": f.low, "high": f.high, "levels": floats(f.levels)}

        return {
            "predicted": self.predicted.value, "measured": self.measured.value, "agrees": self.agrees,
            "refuted": self.refuted, "codimension": self.codimension, "codimension_se": self.codimension_se,
            "lambda": self.lam, "alignment": self.alignment, "d": self.d, "k": self.k, "k_ref": self.k_ref,
            "t_range": None if self.t_range is None else list(self.t_range),
            "window": None if res.window is None else list(res.window), "window_decades": res.window_decades,
            "t_separation": res.t_separation, "floor_reason": res.floor_reason,
            "l2_empirical": self.l2_empirical, "prior_kl": self.prior_kl, "tv_bound": self.tv_bound,
            "follows_empirical": self.follows_empirical, "follows_population": self.follows_population,
            "alpha": self.alpha, "predicted_reasons": list(self.predicted_reasons),
            "measured_reasons": list(self.measured_reasons),
            "profiles": {"t": floats(ex.times), "sigma2": floats(ex.sigma2), "codimension": floats(ex.value),
                         "codimension_sem": floats(ex.sem), "alignment": floats(ex.alignment),
                         "empirical": floats(ex.empirical), "population": floats(ex.population),
                         "error_empirical": floats(er.empirical), "error_population": floats(er.population),
                         "separation": floats(er.separation), "trusted": [bool(v) for v in res.trusted],
                         "window": [bool(v) for v in res.in_window]},
            "measurement": None if ms is None else {
                "deltas": floats(ms.deltas), "nearest_rms": fit(ms.nearest_rms),
                "nearest_median": fit(ms.nearest_median), "manifold": fit(ms.manifold),
                "copy_fraction": floats(ms.copy_fraction), "n": ms.n, "steps_per_decade": ms.steps_per_decade,
                "T": ms.T},
        }


@dataclass(frozen=True)
class _CheckedScore:
    """The user's score with its output checked on every call (shape (n, d), finite)."""

    score: ScoreFn

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        return checked_output(self.score(t, x), x, name="score", t=float(t))


def _check_train(train: object) -> np.ndarray:
    arr = np.asarray(train) if not isinstance(train, np.ndarray) else train
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"train must have shape (N, d), got {arr.shape}")
    arr = _validate.points(arr, arr.shape[1], name="train")
    distinct = np.unique(arr, axis=0).shape[0]
    if distinct < 2:
        raise ValueError(f"train must hold at least 2 distinct points (N >= 2), got {distinct}")
    return arr


def _check_population(population: object, d: int) -> Measure | None:
    if population is None:
        return None
    if not isinstance(population, Measure):
        raise TypeError(f"population must be a theory Measure (e.g. Sphere(1, 2)) or None, "
                        f"got {type(population).__name__}")
    if population.d != d:
        raise ValueError(f"population must live in R^{d} like train, got a measure on R^{population.d}")
    if population.k < 1:
        raise ValueError(f"population must have intrinsic dimension k >= 1 (a finite population explodes like a point "
                         f"set too), got k = {population.k}")
    return population


def _predict(explosion: ExplosionProfile, resolution: Resolution, *, k: int | None,
             z: float) -> tuple[Behaviour, float, float, float, tuple[str, ...]]:
    d, k_ref = explosion.d, resolution.k_ref
    if resolution.window is None:
        if resolution.t_separation is None:
            why = (f"the exact empirical score's profile never comes within {BAND * k_ref:.3g} of d = {d} on the grid "
                   f"(down to t = {explosion.times[-1]:.3g}): the training points are not separated there")
        else:
            why = (f"the training points separate below t = {resolution.t_separation:.3g}, but the score is trusted "
                   f"only down to t = {resolution.t_floor if resolution.t_floor is not None else float('nan'):.3g} "
                   f"({resolution.floor_reason})")
        return Behaviour.INCONCLUSIVE, math.nan, math.nan, math.nan, (f"no decisive window: {why}.",)
    idx = resolution.estimate_nodes
    c_hat = float(explosion.value[idx].mean())
    # The nodes share their random numbers, so their estimates are positively correlated: the mean of
    # their standard errors bounds the standard error of their mean.
    se = float(explosion.sem[idx].mean())
    lam = (d - c_hat) / k_ref
    half = z * se / k_ref
    t_lo, t_hi = resolution.window
    where = (f"codimension {c_hat:.3f} +- {se:.3f} (mean of sigma^2 E|s|^2 over t in "
             f"[{explosion.times[idx][-1]:.3g}, {explosion.times[idx][0]:.3g}], the bottom of the decisive window "
             f"[{t_lo:.3g}, {t_hi:.3g}])")
    reasons = []
    if not resolution.decisive:
        behaviour = Behaviour.INCONCLUSIVE
        reasons.append(f"the decisive window [{t_lo:.3g}, {t_hi:.3g}] spans {resolution.window_decades:.2f} decades, "
                       f"less than {MIN_WINDOW_DECADES:g} ({resolution.floor_reason}); {where}.")
    elif lam + half <= BAND:
        behaviour = Behaviour.MEMORIZES
        reasons.append(f"{where} is within {BAND * k_ref:.3g} of d = {d} (lambda = {lam:.3f} +- {half:.3f}): the score "
                       f"explodes like the training points (C5), so the sampler lands on them.")
    elif lam - half >= 1 - BAND and (k is None or lam + half <= 1 + BAND):
        behaviour = Behaviour.GENERALIZES
        target = (f"of d - k = {d - k}" if k is not None else f"of d - 1 = {d - 1} or below")
        reasons.append(f"{where} is within {BAND * k_ref:.3g} {target} (lambda = {lam:.3f} +- {half:.3f}): the score "
                       f"explodes like a set of dimension about {d - c_hat:.2f}, not like the training points (C5).")
    else:
        behaviour = Behaviour.INCONCLUSIVE
        reasons.append(f"{where} lies between the hypotheses (lambda = {lam:.3f} +- {half:.3f}; memorizes needs "
                       f"<= {BAND:g}, generalizes >= {1 - BAND:g}" + (f" and <= {1 + BAND:g}" if k is not None else "")
                       + ").")
    return behaviour, c_hat, se, lam, tuple(reasons)


def _measured(measurement: SamplingMeasurement, population: Measure | None) -> tuple[Behaviour, tuple[str, ...]]:
    rms, median = measurement.nearest_rms, measurement.nearest_median
    span = f"delta in [{measurement.deltas[-1]:.3g}, {measurement.deltas[0]:.3g}]"

    def fit(name: str, f) -> str:
        return f"{name} slope {f.slope:.3f} [{f.low:.3f}, {f.high:.3f}]"

    nearest = (f"nearest-training distance over {span}: {fit('RMS', rms)}, {fit('median', median)} "
               f"(lands: band above {FLAT_SLOPE:g}; plateau: band inside +-{FLAT_SLOPE:g}); copy fraction "
               f"{measurement.copy_fraction[-1]:.2f} at the smallest delta (Gu et al. 2023)")
    reasons = [nearest]
    if population is not None:
        reasons.append(f"distance to the population's M: {fit('RMS', measurement.manifold)}")
    if rms.lands() and median.lands():
        return Behaviour.MEMORIZES, tuple(reasons + ["the samples land on the training points."])
    if rms.plateaus() and median.plateaus():
        if population is None or measurement.manifold.lands():
            tail = "and land on M." if population is not None else "(novel samples)."
            return Behaviour.GENERALIZES, tuple(reasons + [f"the samples stay away from the training points {tail}"])
        return Behaviour.INCONCLUSIVE, tuple(reasons + ["the samples stay away from the training points but do not "
                                                        "land on M either."])
    if median.lands() and rms.plateaus():
        return Behaviour.INCONCLUSIVE, tuple(reasons + ["the median lands while the RMS plateaus: some samples are "
                                                        "copies and some are not."])
    return Behaviour.INCONCLUSIVE, tuple(reasons + ["the slopes decide neither landing nor a plateau."])


def measurement_deltas(resolution: Resolution) -> np.ndarray:
    """MEASURE_DELTAS early-stopping times, geometric, over the bottom MEASURE_DECADES of the window."""
    t_lo, t_hi = resolution.window
    top = min(t_hi, t_lo * 10.0**MEASURE_DECADES)
    return np.geomspace(top, t_lo, MEASURE_DELTAS)


def diagnose(score: ScoreFn, train: np.ndarray, *, process: ForwardProcess = DEFAULT_PROCESS,
             population: Measure | None = None, rng: np.random.Generator, T: float = 1.0,
             times: Sequence[float] | None = None, n: int = 4000, n_samples: int = 4000,
             steps_per_decade: int = STEPS_PER_DECADE, alpha: float = 0.01, sample: bool = True,
             check_alignment: bool = True) -> Diagnosis:
    """Predict from the score's explosion whether its sampler memorizes ``train``, and measure it (CLAIMS.md C8).

    score : callable (t: float, x: ndarray (n, d)) -> ndarray (n, d), e.g. a trained network through
    :func:`from_noise_prediction`. train : (N, d), N >= 2 distinct points, the training set.
    process : the forward process the score belongs to. population : optional closed-form
    :class:`theory.Measure` (k >= 1) the training set was drawn from. rng : numpy Generator (the only
    randomness; independent streams from ``rng.spawn``). T : horizon of the sampler and top of the
    default grid. times : the profile grid (default: sigma^2 geometric from sigma(T)^2 down to 1e-8,
    four nodes per decade). n : forward samples per profile node. n_samples : samples per delta
    (the exact population score of 8 points on the circle was measured inconclusive in 2 of 20 runs
    at 2000, 10 training sets x 2 seeds, its median-distance slope band reaching 0.1; in 0 of 40
    at 4000, 20 x 2).
    steps_per_decade : sampler steps per decade. alpha : level of the codimension interval and of
    the slope bands. sample : run the measurement (else ``measured`` is inconclusive).
    check_alignment : trust only window nodes where the alignment matches the explosion profile
    (:mod:`theory.learned.resolution`); False reads the explosion alone, as CLAIMS.md C8 states it (a
    scaled explosion then gets a prediction, which sampling refutes).

    The rules are in the module docstring; every threshold is a named constant of
    :mod:`theory.learned.resolution`, :mod:`theory.learned.sampling` or this module.
    Raises TypeError/ValueError for bad input (including a score whose ``process`` attribute, as
    trained models and adapters have, differs from ``process``), and ValueError if the score returns
    a wrong shape or NaN/inf.
    """
    if not callable(score):
        raise TypeError(f"score must be callable (t, x) -> ndarray of x's shape (n, d), got {type(score).__name__}")
    train = _check_train(train)
    d = train.shape[1]
    process = check_process(process)
    own = getattr(score, "process", None)  # trained models and adapters know their process
    if isinstance(own, ForwardProcess) and own != process:
        raise ValueError(f"score belongs to the process {own!r} but diagnose got process={process!r}")
    population = _check_population(population, d)
    rng = _validate.generator(rng)
    T = _validate.positive_time(T, "T")
    n = check_sample_size(n, "n")
    n_samples = check_sample_size(n_samples, "n_samples")
    steps_per_decade = _validate.integer(steps_per_decade, "steps_per_decade", minimum=1)
    if isinstance(alpha, bool) or not isinstance(alpha, (float, int)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    for name, flag in (("sample", sample), ("check_alignment", check_alignment)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    grid = default_times(process, T) if times is None else validate_times(times)
    if grid[0] > T:
        raise ValueError(f"times must not exceed T = {T!r}, got max {grid[0]!r}")
    checked = _CheckedScore(score)
    profile_rng, kl_rng, sample_rng = rng.spawn(3)

    k = None if population is None else int(population.k)
    k_ref = 1 if k is None else k
    explosion, errors = score_profiles(checked, train, times=grid, n=n, rng=profile_rng, process=process,
                                      population=population)
    resolution = resolve(explosion, k_ref=k_ref, check_alignment=check_alignment)
    z = float(stats.norm.ppf(1 - alpha / 2))
    predicted, c_hat, se, lam, reasons = _predict(explosion, resolution, k=k, z=z)
    window = resolution.in_window
    extra = []
    a_hat = math.nan
    if window.any():
        a_hat = float(explosion.alignment[resolution.estimate_nodes].mean())
        gap = a_hat - c_hat
        sentence = (f"alignment -E[sigma s . Z] = {a_hat:.3f} at the same nodes, {gap:+.3f} from the codimension "
                    f"(0 for an exact score and for a score that follows the empirical score near some training "
                    f"points and the population score near the others)")
        if abs(gap) > ALIGNMENT_TOL * k_ref:
            sentence += (f"; more than {ALIGNMENT_TOL * k_ref:.3g} apart, so the score is neither: a score "
                         f"w s_emp + (1 - w) s_pop has codimension d - k + w^2 k but alignment d - k + w k, and "
                         f"memorizes for every w > 0, so the codimension reading may not predict the sampler")
        extra.append(sentence + ".")

    # (ii) Girsanov (CLAIMS.md C2) and Pinsker: the samples at delta = t_floor are within total variation
    # sqrt((KL(p_T || pi) + int_{t_floor}^T (g^2/2) E|s - s_emp|^2 dt) / 2) of the exact empirical
    # score's samples, which lie within sigma(t_floor) of the training points.
    t_range = None if resolution.t_floor is None else (resolution.t_floor, resolution.t_top)
    l2 = prior_kl = tv = math.nan
    if t_range is not None:
        l2 = errors.l2_integral(*t_range)
        prior = Gaussian.reference(d, T, process=process)
        prior_kl = kl_to_prior(PointCloud(train), prior, T=T, process=process, n=n, rng=kl_rng).value
        tv = min(1.0, math.sqrt(max(l2 + prior_kl, 0.0) / 2))
        extra.append(f"Girsanov (C2/C3): int (g^2/2) E|s - s_emp|^2 dt over [{t_range[0]:.3g}, {T:g}] = {l2:.3g} "
                     f"nats and KL(p_T || prior) = {prior_kl:.3g}, so by Pinsker the samples at delta = "
                     f"{t_range[0]:.3g} are within total variation {tv:.3g} of the exact empirical score's, which "
                     f"land on the training points" + (f": memorization guaranteed for at least {1 - tv:.2f} of "
                                                       f"them." if tv <= BAND else " (no guarantee beyond "
                                                       f"{BAND:g} total variation)."))
    follows_emp = None if not window.any() else bool(np.all(errors.empirical[window] <= BAND * k_ref))
    follows_pop = None if (population is None or not window.any()) else bool(
        np.all(errors.population[window] <= BAND * k_ref))
    if follows_emp is not None:
        extra.append(f"error against the exact empirical score over the window: sigma^2 E|s - s_emp|^2 up to "
                     f"{float(errors.empirical[window].max()):.3f} ({'<=' if follows_emp else '>'} "
                     f"{BAND * k_ref:.3g}).")
    if follows_pop is not None:
        extra.append(f"error against the population score over the window: sigma^2 E|s - s_pop|^2 up to "
                     f"{float(errors.population[window].max()):.3f} ({'<=' if follows_pop else '>'} "
                     f"{BAND * k_ref:.3g}).")
    extra.append("trusted range of t: " + (f"[{t_range[0]:.3g}, {t_range[1]:.3g}]" if t_range else "empty")
                 + f"; {resolution.floor_reason}.")
    predicted_reasons = reasons + tuple(extra)

    measurement = None
    if not sample:
        measured, measured_reasons = Behaviour.INCONCLUSIVE, ("not measured (sample=False).",)
    elif not resolution.decisive:
        measured, measured_reasons = Behaviour.INCONCLUSIVE, (
            "not measured: no decisive window of at least "
            f"{MIN_WINDOW_DECADES:g} decade to sample in (the same range the prediction needs).",)
    else:
        measurement = measure_sampling(checked, train, deltas=measurement_deltas(resolution), n=n_samples, T=T,
                                       rng=sample_rng, process=process, population=population,
                                       steps_per_decade=steps_per_decade, alpha=alpha)
        measured, measured_reasons = _measured(measurement, population)
    return Diagnosis(predicted=predicted, measured=measured, codimension=c_hat, codimension_se=se, lam=lam,
                     alignment=a_hat, d=d, k=k, k_ref=k_ref, explosion=explosion, errors=errors, resolution=resolution,
                     t_range=t_range, l2_empirical=l2, prior_kl=prior_kl, tv_bound=tv, follows_empirical=follows_emp,
                     follows_population=follows_pop, measurement=measurement,
                     predicted_reasons=predicted_reasons, measured_reasons=measured_reasons, alpha=float(alpha))
