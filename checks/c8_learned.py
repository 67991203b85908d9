"""Check of claim C8, *learned scores: the explosion predicts the landing set* (CLAIMS.md C8).

Claim: the explosion codimension of a learned score, sigma(t)^2 E|s(t, X_t)|^2 on the forward-noised
training set over the range of t the score resolves, predicts what its sampler lands on: d for the
N training points (memorization), d - k for the population's k-dimensional M (generalization).

Every case is one score, read by :func:`theory.learned.diagnose`, which gives two verdicts, each
"memorizes", "generalizes" or "inconclusive": ``predicted`` from the score alone (its explosion
profile, read at the bottom of the window where the training points are separated and the score is
trusted) and ``measured`` by sampling (the nearest-training-point distance and the distance to M
against the early-stopping time delta). The decision of a case (:func:`judge`):

- both decisive and equal: CONFIRMED; both decisive and different: REFUTED (a refutation of C8,
  reported as such);
- predicted decisive, measured inconclusive: INCONCLUSIVE (the sampler did not show what it does);
- predicted "inconclusive": the predictor abstains (codimension between the hypotheses, or no
  decisive window: the network's resolution floor lies above the scale at which its training points
  separate). C8 then predicts nothing, so the network is kept in the study (its record, its profile
  plot, the transition curves) but is **not a deciding case**: its decision is marked "no
  prediction", vacuous (:class:`checks.harness.Decision`), with the verdict CONFIRMED (the claim is an
  implication from a decisive prediction) and no margin, so it moves neither the claim's verdict nor
  the overview plot, and the report counts it as "no prediction", apart from the confirmed cases.

The margin of a decision is that of the binding slope band in band half-widths (as in
:func:`checks.judges.trend_margin`): for "memorizes", the RMS and the median nearest-training
distance must shrink (band above FLAT_SLOPE = 0.1); for "generalizes", both must be flat (band
inside +-0.1) and the distance to M must shrink.

The table
---------
- Trained networks (:func:`theory.learned.train_score_model`: an MLP noise predictor, denoising
  score matching, Adam) on N points drawn from a closed-form measure, each network its own case: its
  training set, its initial weights and batches, and its diagnosis come from three streams spawned
  from the case's own stream, so a case is deterministic for the root seed and can run on any
  worker. Nothing is written to disk.

  fast: the 2-sphere in R^3 and the flat torus in R^4 at N = 4 (memorizes) and N = 256
  (generalizes), 4 x 256 networks, 8000 steps of batch 128. The calibration of these settings
  (network seeds 0-2, batch 256): decided and equal on both sides in 12 of 12, codimension
  within 0.09 k of d (N = 4) and of d - k (N = 256) against the decision band 0.25 k. Over the
  check's root seeds 0..19, 79 of the 80 calibrated networks decided; the one that did not (seed 5,
  2-sphere, N = 256) had a decisive window of 0.99 decades, just under the one decade required.

  full: the grid circle in R^2, 2-spheres in R^3, R^4 and R^5, flat torus, N = 4, 16, 64, 256, 1024,
  at 8000 steps; the 2-sphere in R^3 and the torus at N = 16, 64, 256, 1024 trained 4 times longer
  (32000 steps); a wider network (4 x 512) on both at N = 16, 64, 256; and the digits (R^64, no
  closed-form population) at N = 64 and 512.
- Exact scores (no training), as positive cases: the exact empirical score ``PointCloud(train)``
  (memorizes, codimension d exactly) and the exact population score (generalizes, d - k).
- Negative controls, run as their own cases (CONTROL_RUN) with the explosion read alone
  (``check_alignment=False``, the reading C8 states), each judged as if C8 held:

  * ``rescaled explosion``: the population score of the circle in R^2 multiplied by
    f = sqrt(d / (d - k)) = sqrt(2) below t = 1e-2. Its explosion is exactly that of a point set
    (codimension d instead of d - k: off by the whole gap k), so the prediction is "memorizes";
    its sampler follows a normal score scaled by beta = sqrt(2) > 0 (CLAIMS.md C6), which lands on
    M at rate 1/2 and has no tangential pull towards the training points: it generalizes. The
    smallest factor that makes the rule predict "memorizes" is sqrt((d - 0.25 k) / (d - k)) = 1.32;
    at f = 1.36 the predictor abstained in 8 of 50 seeds, at sqrt(2) in 0 of 50 (a calibration run
    outside the suite). Expected: refuted. The library's default predictor (alignment check on) abstains on it,
    which the record states.
  * ``interpolated score``: s = w s_emp + (1 - w) s_pop, w = INTERPOLATION_W = 0.25, on the circle
    in R^2 (N = 16). Its explosion d - k + w^2 k reads as generalization (lambda = 1 - w^2 = 0.94
    against the rule's 0.75), while the pull w s_emp towards the training points makes the sampler
    memorize at rate delta^w (CLAIMS.md C6/C7: a scaled empirical score memorizes for every
    w > 0). The effect to detect is a landing slope of 0.25 against the flat threshold 0.1: just
    beyond the measurement's resolution (w = 0.2 was still refuted in 100 of 100 seeds, but with a
    worst lower band of 0.107; w = 0.15 in 6 of 20). Expected: refuted.

Statistics (every budget): diagnose's profile n = 4000 pairs, 2000 samples at each of 4 early-
stopping times, 20 sampler steps per decade, alpha = 0.01 for the codimension interval and the
bootstrap slope bands. The false-failure rates measured with these settings are stated in
tests/test_check_c8.py.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from checks import judges
from checks.harness import (Budget, CaseResult, CaseSpec, ClaimCheck, Decision, Estimate, Expected, Figure, Outcome,
                            Plan, Role, Verdict, run_claim)
from theory import Measure, PointCloud, Product, Sphere, digits
from theory.claims import CLAIMS
from theory.learned import Behaviour, Diagnosis, Parametrization, diagnose
from theory.learned.resolution import BAND
from theory.perturbations import ExactScore
from theory.statistics import FLAT_SLOPE, SlopeFit, Trend

CLAIM = CLAIMS["C8"]

# Weight of the empirical score in the interpolated control w s_emp + (1 - w) s_pop: the smallest
# weight whose landing slope (w) the measurement separates from a plateau with room (module docstring).
INTERPOLATION_W = 0.25
# Below this time the rescaled control multiplies the population score; above it the score is exact,
# so the top of the profile keeps within Stam's bound and the trusted range reaches the window.
RESCALE_BELOW = 1e-2
# Allowance on the exact empirical score's codimension d: sigma s = -Z holds to rounding once the
# posterior sits on one point; (x - alpha x_i) / sigma^2 loses about log10(1 / sigma) digits at the
# grid's bottom, sigma = 1e-4, so sigma^2 |s|^2 - |Z|^2 is off by about 2 d 1e4 * 4 ulps = 2e-11 per
# sample (d <= 4); 1e-9 leaves a factor 50. (The posterior's second atom weighs exp(-r^2 / (2
# sigma^2)) < 1e-1000 at the estimate nodes for spacings r >= 0.01.)
EMPIRICAL_TOLERANCE = 1e-9
# Steps of the longer training run of the full budget, in multiples of the standard length.
LONG_TRAINING = 4


class Population(enum.Enum):
    """The measures the training sets are drawn from (``measure()`` is None for the digits, whose
    population has no closed form)."""

    CIRCLE = "circle in R^2"
    SPHERE_R3 = "2-sphere in R^3"
    SPHERE_R4 = "2-sphere in R^4"
    SPHERE_R5 = "2-sphere in R^5"
    TORUS = "flat torus in R^4"
    DIGITS = "digits in R^64"

    def measure(self) -> Measure | None:
        return {Population.CIRCLE: lambda: Sphere(1, 2), Population.SPHERE_R3: lambda: Sphere(2, 3),
                Population.SPHERE_R4: lambda: Sphere(2, 4), Population.SPHERE_R5: lambda: Sphere(2, 5),
                Population.TORUS: lambda: Product((Sphere(1, 2), Sphere(1, 2))),
                Population.DIGITS: lambda: None}[self]()

    def training_set(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """N points, shape (n, d): i.i.d. draws from the measure, or n distinct digits drawn without
        replacement."""
        measure = self.measure()
        if measure is not None:
            return measure.sample(n, rng)
        points = digits().points
        return points[np.sort(rng.choice(points.shape[0], size=n, replace=False))]


@dataclass(frozen=True)
class Network:
    """A network design and its training run: hidden ``width`` and ``depth`` of the MLP, Adam ``steps``
    of ``batch_size`` samples, noise-prediction output (module docstring of theory.learned.training)."""

    width: int
    depth: int
    steps: int
    batch_size: int = 128

    def __post_init__(self) -> None:
        for name in ("width", "depth", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Network.{name} must be an integer >= 1, got {value!r}")

    def label(self) -> str:
        return f"{self.depth}x{self.width}, {self.steps} steps"


# The standard network of both budgets and its variants in the full budget.
STANDARD = Network(width=256, depth=4, steps=8000)
LONG = Network(width=256, depth=4, steps=LONG_TRAINING * STANDARD.steps)
WIDE = Network(width=512, depth=4, steps=8000)


@dataclass(frozen=True)
class C8Plan(Plan):
    """n : forward pairs of the profiles; n_samples : samples per early-stopping time;
    steps_per_decade : sampler steps per decade; alpha : level of the codimension interval and of
    the slope bands."""

    n_samples: int


# 4000 samples per delta, twice diagnose's default: a memorizing network may leave a few samples in
# 1000 away from the training points, and at 2000 samples these few move the RMS slope's bootstrap
# band down to the flat threshold (measured: one network of the fast budget, re-diagnosed 30 times,
# was "inconclusive" once at 2000 samples, lowest band edge 0.05; never at 4000, lowest edge 0.20).
PLANS = {Budget.FAST: C8Plan(n=4000, steps_per_decade=20, alpha=0.01, n_samples=4000),
         Budget.FULL: C8Plan(n=4000, steps_per_decade=20, alpha=0.01, n_samples=4000)}


# -- the scores of the exact cases and the controls ------------------------------------------------

@dataclass(frozen=True)
class RescaledBelow:
    """s'(t, x) = factor s(t, x) for t < below, s(t, x) otherwise: an explosion rescaled near t = 0."""

    score: ExactScore
    factor: float
    below: float

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        return (self.factor if t < self.below else 1.0) * self.score(t, x)


@dataclass(frozen=True)
class Interpolated:
    """s = w s_emp + (1 - w) s_pop: a pointwise interpolation of the two exact references."""

    empirical: ExactScore
    population: ExactScore
    w: float

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        return self.w * self.empirical(t, x) + (1.0 - self.w) * self.population(t, x)


class ScoreKind(enum.Enum):
    """The exact-score rows: two cases and two controls (module docstring)."""

    EMPIRICAL = "exact empirical score"
    POPULATION = "exact population score"
    RESCALED = "rescaled explosion"
    INTERPOLATED = "interpolated score"


# The known behaviour of the exact scores and where it comes from.
KNOWN = {ScoreKind.EMPIRICAL: (Behaviour.MEMORIZES, "C3/C5: the exact empirical score lands on the training points"),
         ScoreKind.POPULATION: (Behaviour.GENERALIZES, "C5/C7: the population score lands on M, codimension d - k")}


# -- judging a diagnosis ----------------------------------------------------------------------------

STATISTIC = "{} slope in delta (measured: {})"
RULE = ("memorizes: RMS and median nearest-training slope bands above 0.1; generalizes: both inside +-0.1 "
        "and the distance to M shrinks")


def _conditions(dg: Diagnosis, behaviour: Behaviour) -> list[tuple[str, SlopeFit, Trend]]:
    """The slope fits that must show ``behaviour``, with the trend each must have."""
    ms = dg.measurement
    if behaviour is Behaviour.MEMORIZES:
        return [("RMS nearest-training distance", ms.nearest_rms, Trend.SHRINKS),
                ("median nearest-training distance", ms.nearest_median, Trend.SHRINKS)]
    out = [("RMS nearest-training distance", ms.nearest_rms, Trend.FLAT),
           ("median nearest-training distance", ms.nearest_median, Trend.FLAT)]
    if ms.manifold is not None:
        out.append(("RMS distance to M", ms.manifold, Trend.SHRINKS))
    return out


def _prediction_source(dg: Diagnosis) -> str:
    if math.isnan(dg.codimension):
        return "no decisive window"
    target = f"d - k = {dg.d - dg.k}" if dg.k is not None else "d - 1 or below"
    return f"codimension {dg.codimension:.3f} +- {dg.codimension_se:.3f}; d = {dg.d}, {target}"


def _verdict(expected: Behaviour, found: Behaviour) -> Verdict:
    """A decisive ``expected`` against ``found``: equal CONFIRMED, inconclusive INCONCLUSIVE, else REFUTED."""
    if found is expected:
        return Verdict.CONFIRMED
    return Verdict.INCONCLUSIVE if found is Behaviour.INCONCLUSIVE else Verdict.REFUTED


def prediction_margin(dg: Diagnosis, behaviour: Behaviour) -> float | None:
    """How far lambda = (d - c^) / k_ref lies inside the band of ``behaviour`` (memorizes: lambda <= BAND;
    generalizes: lambda >= 1 - BAND and, with a population, <= 1 + BAND), in half-widths
    z se / k_ref of the codimension interval beyond the rule's edge: >= 0 where the predictor
    decides ``behaviour`` (the rules of theory.learned.diagnose). None without an estimate."""
    if math.isnan(dg.lam) or behaviour is Behaviour.INCONCLUSIVE:
        return None
    half = float(stats.norm.ppf(1 - dg.alpha / 2)) * dg.codimension_se / dg.k_ref
    if behaviour is Behaviour.MEMORIZES:
        room = BAND - dg.lam
    else:
        room = dg.lam - (1 - BAND) if dg.k is None else min(dg.lam - (1 - BAND), 1 + BAND - dg.lam)
    if half <= 0.0:
        return math.inf if room > 0 else -math.inf
    return float(room / half - 1.0)


def landing(dg: Diagnosis, expected: Behaviour, source: str) -> Decision:
    """A decisive ``expected`` behaviour against the sampling measurement of ``dg``. The margin is that
    of the binding slope band (checks.judges.trend_margin), the estimate that band."""
    conditions = _conditions(dg, expected)
    margins = [judges.trend_margin(fit, trend) for _, fit, trend in conditions]
    name, fit, _ = conditions[int(np.argmin(margins))]
    return Decision(test="landing set", statistic=STATISTIC.format(name, dg.measured.value),
                    expected=Expected(expected.value, source), measured=judges.slope_estimate(fit), rule=RULE,
                    verdict=_verdict(expected, dg.measured), margin=float(min(margins)))


def judge(dg: Diagnosis, *, must_decide: bool = False) -> Decision:
    """The decision of a diagnosed score whose behaviour C8 must predict (networks, controls): the
    prediction against the measurement, or "no prediction" when the predictor abstains (module
    docstring); with ``must_decide`` (a setting calibrated to decide) an abstention is INCONCLUSIVE."""
    if dg.predicted is Behaviour.INCONCLUSIVE:
        value = dg.codimension if not math.isnan(dg.codimension) else float(dg.resolution.window_decades)
        what = "codimension" if not math.isnan(dg.codimension) else "decades of the decisive window"
        rule = ("calibrated to decide: an abstention leaves C8 untested here" if must_decide
                else "abstaining: not a deciding case")
        return Decision(test="no prediction", statistic=f"{what} (the predictor abstains)",
                        expected=Expected(dg.predicted.value, _prediction_source(dg)),
                        measured=Estimate(value=float(value)), rule=rule,
                        verdict=Verdict.INCONCLUSIVE if must_decide else Verdict.CONFIRMED, margin=None,
                        vacuous=not must_decide)
    return landing(dg, dg.predicted, _prediction_source(dg))


def judge_known(dg: Diagnosis, known: Behaviour, source: str) -> tuple[Decision, ...]:
    """The decisions of an exact score whose behaviour is known (``known``, from ``source``): the
    prediction must give it (an abstention is INCONCLUSIVE here, not vacuous), the sampler must show
    it, and for the exact empirical score the codimension must be d (C5 for a point set)."""
    z = float(stats.norm.ppf(1 - dg.alpha / 2))
    codimension = Estimate(value=float(dg.codimension), band=(dg.codimension - z * dg.codimension_se,
                                                              dg.codimension + z * dg.codimension_se),
                           level=1 - dg.alpha)
    margin = prediction_margin(dg, known)
    decisions = [Decision(test="prediction", statistic=f"codimension (predicted: {dg.predicted.value})",
                          expected=Expected(known.value, source), measured=codimension,
                          rule="the explosion's verdict equals the known behaviour",
                          verdict=_verdict(known, dg.predicted), margin=margin)]
    if known is Behaviour.MEMORIZES and not math.isnan(dg.codimension):
        decisions.append(judges.value_in_band(
            "codimension", "sigma^2 E|s|^2 at the bottom of the window", codimension, float(dg.d),
            tolerance=EMPIRICAL_TOLERANCE, source="C5 for a point set: d once the posterior sits on one point"))
    if dg.measurement is not None:
        decisions.append(landing(dg, known, source))
    return tuple(decisions)


def profiles_figure(title: str, dg: Diagnosis) -> Figure:
    """sigma^2 E|.|^2 profiles against t over the trusted range of t (below it a network extrapolates
    and its profile leaves the plot's scale; the record has every node): the score's explosion, the
    exact references', and the errors (ii) e_emp and (iii) e_pop (theory.learned.profiles)."""
    ex, er = dg.explosion, dg.errors
    keep = dg.resolution.trusted if dg.resolution.trusted.sum() >= 2 else np.ones(ex.times.size, dtype=bool)

    def shown(values: np.ndarray) -> list[float]:
        return values[keep].tolist()

    series = {"score: explosion c(t)": shown(ex.value), "exact empirical score": shown(ex.empirical)}
    if ex.population is not None:
        series["exact population score"] = shown(ex.population)
    series["error vs empirical e_emp(t)"] = shown(er.empirical)
    if er.population is not None:
        series["error vs population e_pop(t)"] = shown(er.population)
    references = {"d (memorizes)": dg.d}
    if dg.k is not None:
        references["d - k (generalizes)"] = dg.d - dg.k
    return Figure("curves", f"{title} (trusted t)", {
        "x": shown(ex.times), "series": series, "references": references, "xscale": "log",
        "xlabel": "forward time $t$", "ylabel": r"$\sigma(t)^2\,E|\cdot|^2$ (codimension units)"})


def _diagnosis_record(dg: Diagnosis) -> dict[str, Any]:
    record = dg.to_dict()
    record["prediction_margin"] = prediction_margin(dg, dg.predicted)
    return record


def _diagnose(score, train: np.ndarray, population: Measure | None, plan: C8Plan, rng_seed: np.random.SeedSequence,
              *, check_alignment: bool) -> Diagnosis:
    return diagnose(score, train, population=population, rng=np.random.default_rng(rng_seed), n=plan.n,
                    n_samples=plan.n_samples, steps_per_decade=plan.steps_per_decade, alpha=plan.alpha,
                    check_alignment=check_alignment)


# -- the cases ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkCase(CaseSpec):
    """A network trained on ``n_train`` points of ``population`` and diagnosed (module docstring).
    ``must_decide``: a setting calibrated to give a decisive prediction, where an abstention is
    INCONCLUSIVE (the check did not test C8 there) instead of "no prediction"."""

    population: Population
    n_train: int
    network: Network = STANDARD
    must_decide: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.population, Population):
            raise TypeError(f"population must be a Population, got {self.population!r}")
        if isinstance(self.n_train, bool) or not isinstance(self.n_train, int) or self.n_train < 2:
            raise ValueError(f"n_train must be an integer >= 2, got {self.n_train!r}")
        if not isinstance(self.network, Network):
            raise TypeError(f"network must be a Network, got {self.network!r}")
        if not isinstance(self.must_decide, bool):
            raise TypeError(f"must_decide must be a bool, got {self.must_decide!r}")

    @property
    def role(self) -> Role:
        return Role.CASE

    @property
    def name(self) -> str:
        return f"{self.population.value}, N = {self.n_train}, {self.network.label()}"

    def setting(self) -> str:
        net = self.network
        return (f"{net.depth}x{net.width} MLP noise predictor, {net.steps} Adam steps of batch {net.batch_size}, "
                f"trained on N = {self.n_train} points of the {self.population.value}; OU, T = 1")

    def run(self, plan: C8Plan, seed: np.random.SeedSequence) -> Outcome:
        from theory.learned import train_score_model

        data_seed, network_seed, diagnosis_seed = seed.spawn(3)
        train = self.population.training_set(self.n_train, np.random.default_rng(data_seed))
        started = time.perf_counter()
        model = train_score_model(train, width=self.network.width, depth=self.network.depth,
                                  steps=self.network.steps, batch_size=self.network.batch_size,
                                  seed=int(network_seed.generate_state(1)[0]), parametrization=Parametrization.NOISE)
        trained = time.perf_counter()
        population = self.population.measure()
        dg = _diagnose(model, train, population, plan, diagnosis_seed, check_alignment=True)
        diagnosed = time.perf_counter()
        # the explosion read alone (C8's own reading), on the same profiles (same stream), not sampled
        explosion_only = diagnose(model, train, population=population, rng=np.random.default_rng(diagnosis_seed),
                                  n=plan.n, alpha=plan.alpha, sample=False, check_alignment=False)
        record = {"population": self.population.value, "N": self.n_train, "width": self.network.width,
                  "depth": self.network.depth, "steps": self.network.steps, "batch_size": self.network.batch_size,
                  "training_seed": int(model.settings.seed), "final_loss": float(model.losses[-1]),
                  "training_seconds": round(trained - started, 2), "diagnosis_seconds": round(diagnosed - trained, 2),
                  "explosion_only_prediction": explosion_only.predicted.value,
                  "diagnosis": _diagnosis_record(dg)}
        return Outcome((judge(dg, must_decide=self.must_decide),), record, profiles_figure(self.name, dg))


@dataclass(frozen=True)
class ExactCase(CaseSpec):
    """An exact score (or a control built from exact scores) on ``n_train`` points of ``population``."""

    population: Population
    n_train: int
    kind: ScoreKind

    def __post_init__(self) -> None:
        if not isinstance(self.population, Population) or self.population is Population.DIGITS:
            raise ValueError(f"population must be a Population with a closed form, got {self.population!r}")
        if not isinstance(self.kind, ScoreKind):
            raise TypeError(f"kind must be a ScoreKind, got {self.kind!r}")
        if isinstance(self.n_train, bool) or not isinstance(self.n_train, int) or self.n_train < 2:
            raise ValueError(f"n_train must be an integer >= 2, got {self.n_train!r}")

    @property
    def role(self) -> Role:
        return Role.CONTROL_RUN if self.kind in (ScoreKind.RESCALED, ScoreKind.INTERPOLATED) else Role.CASE

    @property
    def name(self) -> str:
        detail = {ScoreKind.RESCALED: " (x sqrt(d/(d-k)) below t = 0.01)",
                  ScoreKind.INTERPOLATED: f" (w = {INTERPOLATION_W:g})"}.get(self.kind, "")
        return f"{self.population.value}, N = {self.n_train}, {self.kind.value}{detail}"

    def _factor(self, measure: Measure) -> float:
        return math.sqrt(measure.d / (measure.d - measure.k))

    def score(self, train: np.ndarray):
        """The score of this row for the training set ``train`` (n, d)."""
        measure = self.population.measure()
        if self.kind is ScoreKind.EMPIRICAL:
            return ExactScore(PointCloud(train))
        if self.kind is ScoreKind.POPULATION:
            return ExactScore(measure)
        if self.kind is ScoreKind.RESCALED:
            return RescaledBelow(ExactScore(measure), self._factor(measure), RESCALE_BELOW)
        return Interpolated(ExactScore(PointCloud(train)), ExactScore(measure), INTERPOLATION_W)

    def setting(self) -> str:
        measure = self.population.measure()
        score = {ScoreKind.EMPIRICAL: "s_emp, the exact score of PointCloud(train)",
                 ScoreKind.POPULATION: "s_pop, the exact score of the population",
                 ScoreKind.RESCALED: f"{self._factor(measure):.4g} s_pop below t = {RESCALE_BELOW:g}, s_pop above",
                 ScoreKind.INTERPOLATED: f"{INTERPOLATION_W:g} s_emp + {1 - INTERPOLATION_W:g} s_pop"}[self.kind]
        reading = " (explosion read alone)" if self.role.is_control else ""
        return f"{score}{reading}; N = {self.n_train} points of the {self.population.value}; OU, T = 1"

    def why(self) -> str:
        if self.kind is ScoreKind.RESCALED:
            return ("its explosion reads d (a point set) but it is a normal score scaled by sqrt(d/(d-k)) > 0: "
                    "lands on M, no pull towards the training points")
        if self.kind is ScoreKind.INTERPOLATED:
            return (f"its explosion d - k + w^2 k reads as generalization, but the pull w s_emp memorizes at "
                    f"rate delta^w, w = {INTERPOLATION_W:g}")
        return ""

    def effect(self) -> str:
        if self.kind is ScoreKind.RESCALED:
            return "codimension off by the whole gap k (read d, truly d - k); nearest-training slope 0 vs 1/2"
        if self.kind is ScoreKind.INTERPOLATED:
            return (f"nearest-training slope {INTERPOLATION_W:g} against the flat threshold {FLAT_SLOPE:g} "
                    f"(lambda = 1 - w^2 = {1 - INTERPOLATION_W**2:.3g} against the rule's {1 - BAND:g})")
        return ""

    def run(self, plan: C8Plan, seed: np.random.SeedSequence) -> Outcome:
        data_seed, diagnosis_seed = seed.spawn(2)
        train = self.population.training_set(self.n_train, np.random.default_rng(data_seed))
        measure = self.population.measure()
        score = self.score(train)
        dg = _diagnose(score, train, measure, plan, diagnosis_seed, check_alignment=not self.role.is_control)
        record = {"population": self.population.value, "N": self.n_train, "score": self.kind.value,
                  "check_alignment": not self.role.is_control, "diagnosis": _diagnosis_record(dg)}
        if not self.role.is_control:
            return Outcome(judge_known(dg, *KNOWN[self.kind]), record, profiles_figure(self.name, dg))
        # what the library's default predictor (alignment checked) says of the control
        default = diagnose(score, train, population=measure, rng=np.random.default_rng(diagnosis_seed),
                           n=plan.n, alpha=plan.alpha, sample=False)
        record["default_prediction"] = default.predicted.value
        record["default_reason"] = default.resolution.floor_reason
        return Outcome((judge(dg),), record, profiles_figure(self.name, dg))


# -- the table ----------------------------------------------------------------------------------------

EXACT_FAST = (ExactCase(Population.SPHERE_R3, 16, ScoreKind.EMPIRICAL),
              ExactCase(Population.SPHERE_R3, 16, ScoreKind.POPULATION),
              ExactCase(Population.CIRCLE, 16, ScoreKind.RESCALED),
              ExactCase(Population.CIRCLE, 16, ScoreKind.INTERPOLATED))
GRID_N = (4, 16, 64, 256, 1024)
# The networks calibrated to decide (module docstring); the same cases (names, hence seeds) in both budgets.
CALIBRATED = tuple(NetworkCase(p, n, must_decide=True) for p in (Population.SPHERE_R3, Population.TORUS)
                   for n in (4, 256))


def table(budget: Budget) -> tuple[CaseSpec, ...]:
    """The case table of ``budget`` (module docstring)."""
    if budget is Budget.FAST:
        return CALIBRATED + EXACT_FAST
    grid = tuple(case for case in CALIBRATED) + tuple(
        NetworkCase(p, n) for p in (Population.CIRCLE, Population.SPHERE_R3, Population.SPHERE_R4,
                                    Population.SPHERE_R5, Population.TORUS) for n in GRID_N
        if NetworkCase(p, n, must_decide=True) not in CALIBRATED)
    longer = tuple(NetworkCase(p, n, LONG) for p in (Population.SPHERE_R3, Population.TORUS) for n in GRID_N[1:])
    wider = tuple(NetworkCase(p, n, WIDE) for p in (Population.SPHERE_R3, Population.TORUS) for n in (16, 64, 256))
    data = tuple(NetworkCase(Population.DIGITS, n) for n in (64, 512))
    exact = tuple(ExactCase(p, 16, kind) for p in (Population.CIRCLE, Population.SPHERE_R3, Population.TORUS)
                  for kind in (ScoreKind.EMPIRICAL, ScoreKind.POPULATION))
    return grid + longer + wider + data + exact + EXACT_FAST[2:]


CHECK = ClaimCheck("C8", PLANS, table, summary_figures=lambda cases: transition_figures(cases))


def run(*, seed: int, budget: Budget | str = Budget.FAST):
    """Run the C8 check (module docstring)."""
    return run_claim(CHECK, seed=seed, budget=budget)


# -- the memorization-to-generalization transition ---------------------------------------------------

def transition(cases: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Per series (population and network design), the networks' verdicts against N, in N order:
    [{"series", "N", "predicted", "measured", "codimension", "codimension_se", "lambda",
    "copy_fraction"}], from the records of the network cases among ``cases``."""
    rows = []
    for case in cases:
        rec = case.record
        if "steps" not in rec:
            continue
        dg = rec["diagnosis"]
        copies = (dg.get("measurement") or {}).get("copy_fraction")
        rows.append({"series": f"{rec['population']}, {rec['depth']}x{rec['width']}, {rec['steps']} steps",
                     "N": rec["N"], "predicted": dg["predicted"], "measured": dg["measured"],
                     "codimension": dg["codimension"], "codimension_se": dg["codimension_se"],
                     "lambda": dg["lambda"], "copy_fraction": copies[-1] if copies else None})
    return sorted(rows, key=lambda r: (r["series"], r["N"]))


# Numeric code of a measured verdict on the transition plot.
VERDICT_LEVEL = {"memorizes": 1.0, "inconclusive": 0.5, "generalizes": 0.0}


def transition_figures(cases: Sequence[CaseResult]) -> list[Figure]:
    """One "curves" figure per series of :func:`transition` with at least two N, against N: the
    explosion's reading 1 - lambda = (c^ - (d - k)) / k (the prediction: "memorizes" above
    1 - BAND, "generalizes" below BAND, beyond the codimension's interval), the measured verdict
    (1 memorizes, 0.5 inconclusive, 0 generalizes) and Gu et al.'s copy fraction at the smallest
    delta."""
    series: dict[str, list[dict[str, Any]]] = {}
    for row in transition(cases):
        series.setdefault(row["series"], []).append(row)
    figures = []
    for name, rows in series.items():
        if len(rows) < 2:
            continue
        reading = [None if r["lambda"] is None or math.isnan(r["lambda"]) else 1.0 - r["lambda"] for r in rows]
        figures.append(Figure("curves", f"memorization against N: {name}", {
            "x": [r["N"] for r in rows], "xscale": "log", "xlabel": "training points $N$",
            "ylabel": "1 memorizes, 0 generalizes",
            "series": {r"predicted: $1-\lambda$": reading,
                       "measured (0.5: inconclusive)": [VERDICT_LEVEL[r["measured"]] for r in rows],
                       "copy fraction (Gu et al.)": [r["copy_fraction"] for r in rows]},
            "references": {f"prediction rule: {BAND:g} and {1 - BAND:g}": 1 - BAND, "_low threshold": BAND}}))
    return figures
