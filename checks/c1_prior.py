"""Check of claim C1, *any prior* (CLAIMS.md C1).

Claim: with the exact score the output Y at delta -> 0 lands on M and charges every part of it for
every prior pi, even a point mass. From a start y at time T the exact reverse SDE is the forward
process conditioned on X_T = y (CLAIMS.md §1), so the output at delta is the pi-mixture of
law(X_delta | X_T = y); it is *not* mu: its relative frequencies depend on pi. Among Gaussians G,
KL(p_T || G) is smallest at the moment-matched MM, and KL(p_T || G) - KL(p_T || MM) = KL(MM || G).

Predictions (routes that share no code with the simulator)
------------------------------------------------------------
- *Levels*: the RMS distance to M of exact draws of the output law (:mod:`theory.output_law`): y ~ pi,
  x_0 ~ law(X_0 | X_T = y), then the Gaussian bridge law(X_delta | X_T = y, X_0 = x_0) of CLAIMS.md §1
  with alpha and sigma^2 from the process's symbolic twin. The posterior draw is the measure's
  closed form ``posterior_sample`` (von Mises-Fisher on the spheres, Gaussian on the plane); for the
  point cloud it is the log-sum-exp softmax of scipy over pairwise distances
  (:func:`theory.posterior_twin.posterior_weights`), never ``PointCloud.posterior``, which the score
  shares. REFERENCE_FACTOR = 10 draws per simulated particle; their Monte-Carlo error is added to
  the level's standard error.
- *Rate*: the least-squares slope of those predicted levels over the measured deltas (the claim's
  exact-score rate carried to the finite range: 0.499 to 0.506; the slope of sigma(delta) alone is
  recorded as ``sigma_slope``).
- *Law*: the same exact draws at the law runs' delta (spheres, plane), and for the cloud the atom
  probabilities P(X_0 = x_i | X_T = y) of the point mass, or their average over 10 n prior draws
  (Rao-Blackwellized) for the other priors.
- *Moment matching*: KL(p_T || G) - KL(p_T || MM) = KL(MM || G) in closed form
  (:func:`theory.estimators.gaussian_kl`); the measured gap is E[log MM - log G] over exact draws of
  p_T (:func:`theory.output_law.marginal_sample`, :func:`theory.output_law.kl_gap`), so the
  library's MM is judged against p_T itself, not against its own moments.

The table (fast and full: the same rows; full doubles every n)
--------------------------------------------------------------
Measures (fixed designs from DESIGN_SEED): ``circle`` = Sphere(k=1, d=3, r=1.5, off-centre),
``vmf-sphere`` = Sphere(k=2, d=5) with a von Mises-Fisher law (kappa = 2) in a random frame,
``plane`` = Subspace(k=2, d=4) (tilted, off-centre, correlated covariance), ``cloud`` = 8 points in
R^3 with weights proportional to 1..8. Priors, each given explicitly to the simulator and to the
prediction: N(0, I), the moment-matched Gaussian, Student-t (df = 2: infinite variance) and a point
mass y = alpha(T) E X + (0.5, 0.3, -0.2, ...) (pi not equivalent to p_T: C1 says it still covers M).
OU with T = 1 on the full measure x prior grid (16 rows), VP with T = 0.5 for the cloud from a point
mass and the circle from the Student-t prior.

Cases (each must be CONFIRMED; decisions judged at z = Phi^-1(1 - ALPHA / (2 m)) = 3.91 with
m = C1Plan.tests = 109 case decisions):

- *rate*: log-log slope of the RMS distance at 4 deltas over 3 decades (OU 1e-2 .. 1e-5, VP 1e-4 ..
  1e-7; posterior scheme, 40 steps per decade, n = 2000 per delta), band slope +- z se (bootstrap se
  and the prediction's own in quadrature), against the predicted slope +- RATE_TOLERANCE; the band
  must also clear FLAT_SLOPE. Band half-width about 0.008.
- *level*: the mean over the deltas of log(measured RMS / predicted RMS)
  (:func:`theory.statistics.level_fit`) +- z se must contain 0 +- LEVEL_TOLERANCE. Band half-width
  about 0.023: a level off by 2.5 % is resolved.
- *law* (spheres, plane): the plain exact-score SDE (exponential scheme, 100 steps per decade under
  OU, 200 under VP, n_law = 4000) stopped at delta = 1e-3 (OU) or 1e-4 (VP), counted in the cells of
  ``measure.partition()`` (8 arcs, 8 octants of the frame, 8 orthant-radius cells of the plane)
  against exact output draws: two-sample chi-square (:func:`theory.statistics.count_homogeneity`,
  7 dof; refutes at p < ALPHA / m). Detectable: a noncentrality of about 50 (power 0.99), i.e.
  sum_c (p_c - q_c)^2 / q_c above 0.0125 at n = 4000.
- *aligned law* (spheres, plane): two-sample Kolmogorov-Smirnov test of the position on M along the
  predicted mean departure from mu, (project(x) - E_mu X) . e with e the unit vector of the exact
  draws' mean departure: the statistic aligned with what the prior changes (on the vMF sphere it
  follows the mean direction nu and the start). Detectable: a sup-distance of the CDFs of about
  0.04 at n = 4000 against 40000 reference draws (the asymptotic critical value at ALPHA / m).
- *hits* (cloud): chi-square of the nearest-atom counts of the same plain SDE run against the atom
  probabilities (:func:`theory.statistics.hit_frequencies`; every expected count >= 5, else
  INCONCLUSIVE), and under OU also of an ancestral-scheme run (:class:`theory.schemes.Ancestral`,
  exact in law on any grid, one step per decade, n_ancestral = 20000): with the prediction from the
  independent route this tests ``PointCloud.posterior_sample`` and the chain of bridges, and with
  one step per decade it is sensitive to the posterior weights themselves.
- *coverage*: every cell (or atom) of positive predicted mass hit by the law run; a miss refutes
  when its predicted probability sum_c (1 - p_c)^n is below ALPHA / m (it is below 1e-70 here).
- *KL* (OU, T = 1, one row per measure, n_kl = 40000 draws of p_T): for G in {N(0, I), MM with
  covariance x0.9 and x1.1, MM with the mean + 0.1 standard deviation} the measured gap +- z se must
  contain KL(MM || G) (exact identity, tolerance 0); and the smallest gap's band must lie above 0
  (MM is KL-minimal). Gaps are 0.006 to 0.31 nats, their bands +-0.002 to +-0.02.

Scheme biases, measured (not in the predictions; seeds outside the test's)
--------------------------------------------------------------------------
- Level and rate of the posterior scheme at 40 steps per decade, n = 40000 per delta on every OU and
  VP output case: mean log ratios between -0.0015 and +0.0014 (se 0.0011 to 0.0018; the Student-t
  circle -0.0052 +- 0.0044), measured minus predicted slopes at most 0.0012 +- 0.0004. Hence
  LEVEL_TOLERANCE = 0.0045 and RATE_TOLERANCE = 0.002 (the largest |bias| plus two standard errors),
  a fifth of the level band and a quarter of the slope band. At 10 steps per decade the level bias
  reached 0.014 at delta = 1e-2.
- Law runs, exponential scheme, n = 30000 (spheres, plane) and 40000 (cloud): the excess chi-square
  over its null mean, per 2000 samples, lies between -0.12 and 0.76 (null sd 0.30) for the cells and
  between -0.23 and 0.21 (null sd 0.19) for the hits; the aligned KS p-values at n = 30000 were 0.04
  to 0.95. For the OU point mass the hit bias per 2000 samples was 6.3 at 20 steps per decade, 1.13
  at 40 and 0.27 +- 0.04 at 100 (n = 2e5); for the VP point mass 1.10 +- 0.19 at 100 and
  -0.23 +- 0.19 at 200. Against the tests' resolution (a noncentrality of 24 is detected with
  probability 1/2, 50 with 0.98): at n_law = 4000 the largest measured bias, 1.5, moves one test's
  false-rejection probability from 9e-5 to at most 6.5e-4, so the 16 law and hit tests add at most
  0.01 to the family-wise rate (bound: 0.02 in all).

Near-miss controls (each its own run, ``CONTROL_RUN``; each must be REFUTED)
-----------------------------------------------------------------------------
- ``cloud / point mass judged with the posterior at 1.05 T``: the ancestral run's atom counts
  against the posterior weights at 1.05 T instead of T. Effect: a chi-square noncentrality of 9.1 per
  2000 samples, 91 at n = 20000, against a critical value of 31.
- ``circle / reference N(0,I) normal score x0.95 judged as exact``: NormalScaling(exact, 0.95)
  lands at the same rate, but its normal variance settles at g0 t / (2 beta - 1), 11 % above
  sigma^2: the RMS is up to 5.4 % above the exact levels (mean log ratio about 0.048 against a band
  of +-0.023 + 0.0045).
- ``plane / Student-t(df=2) judged as distributed like mu``: the output's cells against draws of mu
  (the claim says the output is *not* mu). Effect: a noncentrality of 29 per 2000 samples, 88 at
  the control's n = 3 n = 6000.
- ``vmf-sphere / KL MM with covariance x1.05 judged KL-minimal``: the wrong hypothesis that G = MM
  with 1.05 times its covariance minimizes KL(p_T || .): its gap over MM is KL(MM || G) = 0.0027
  nats, about 7 standard errors at n_kl = 40000 against the band's z = 3.9.
The moment-matched Gaussian without alpha(T), N(E X, Cov X + sigma(T)^2 I), is not a near miss at
T = 1 (its gaps are 0.14 to 0.82 nats, 57 to 202 standard errors) and is not a control.

Mutants (``python -m checks.mutants --claims C1``) this fast check kills: vmf-direction-flip (the
vMF sphere's law and aligned-law decisions), moment-matched-covariance-x1.05 (the KL gaps),
pointcloud-weights-ignored and posterior-temperature-1.1 (the cloud's hit frequencies; the
temperature is seen by the ancestral run, whose first step draws the atom from the posterior at T),
and noise-x1.05, noise-variance-half, drift-coefficient-x1.02, subspace-score-x0.97 (levels);
the neutral neutral-prior-scale is kept (every prior here is explicit).

Statistics and false failures
-----------------------------
Family-wise level ALPHA = 0.01 over the 109 case decisions (Bonferroni), plus at most 0.01 from
the law runs' measured scheme bias (above): a false-failure bound of 0.02 per fast run. Every case draws from its
own stream (:func:`checks.harness.case_seed`), the designs from DESIGN_SEED. False failures of the
fast check over seeds 0..19: 0 runs with a wrong verdict out of 20; the closest case decision stayed
0.13 band half-widths inside its rule, the weakest control (the x0.95 score's level) was refuted by
0.65 band half-widths (tests/test_check_c1.py). Cost of the fast check: 9.8 s of CPU (13.8 s wall
on the shared 2-core machine at load 6).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from checks import judges
from checks.harness import (Budget, CaseSpec, ClaimCheck, Decision, Estimate, Expected, Figure, Outcome, Plan, Role,
                            Verdict, loglog_figure, run_claim)
from theory import OU, VP, ForwardProcess, Measure, PointCloud, Sphere, Subspace, reverse_sde
from theory.claims import CLAIMS, Setting
from theory.estimators import gaussian_kl, landing_study
from theory.output_law import (kl_gap, marginal_sample, measure_sampler, output_draws,
                               point_set_sampler)
from theory.posterior_twin import posterior_weights
from theory.perturbations import ExactScore, NormalScaling
from theory.priors import Gaussian, PointMass, Prior, StudentT
from theory.schemes import Ancestral, Exponential, Posterior
from theory.simulator import steps_for
from theory.statistics import (cell_counts, count_homogeneity, finite_range_slope, hit_frequencies,
                               level_fit, normal_band, rms_level, slope_se)

CLAIM = CLAIMS["C1"]

# Family-wise false-failure level of the cases' decisions (Bonferroni over C1Plan.tests).
ALPHA = 0.01
# Fixed seed of the measure designs (frames, point sets): part of the setting, not of the noise.
DESIGN_SEED = 20220601
# Weights of the cloud's 8 atoms (proportional to 1..8): unequal, so that a posterior that ignores
# them is visible in the hit frequencies.
CLOUD_WEIGHTS = tuple(float(i) for i in range(1, 9))
# Horizons: OU T = 1 (alpha(1)^2 = 0.135: the priors really differ from p_T); VP T = 0.5
# (alpha = 0.28 for the default beta_min = 0.1, beta_max = 20).
T_OU = 1.0
T_VP = 0.5
# The landing deltas: four decades where sigma(t)^2 is linear in t within 1 % (OU below 1e-2, VP
# below 1e-4), so the finite-range slope of sigma(delta) is within 0.005 of 1/2.
DELTAS = {"OU": (1e-2, 1e-3, 1e-4, 1e-5), "VP": (1e-4, 1e-5, 1e-6, 1e-7)}
# Early stopping of the law runs: sigma(delta) sqrt(d) is below 5 % of the cloud's smallest atom
# spacing (the nearest atom is the atom a particle was drawn to) and of the spheres' radius.
LAW_DELTA = {"OU": 1e-3, "VP": 1e-4}
# Steps per decade of the landing runs (posterior scheme): its bias of the levels and slopes, measured
# on every output case (module docstring), sets LEVEL_TOLERANCE and RATE_TOLERANCE: the largest
# |bias| plus two standard errors of its estimate (0.0014 + 2 x 0.0011 rounded up; 0.0012 + 2 x 0.0004).
LANDING_STEPS_PER_DECADE = 40
LEVEL_TOLERANCE = 0.0045
RATE_TOLERANCE = 0.002
# The law runs of the plain exact-score SDE: exponential scheme at 100 steps per decade under OU and
# 200 under VP (its drift is stiffer at t ~ T: beta(0.5) = 10), where the measured bias of the cell and
# hit frequencies is far below the chi-square tests' resolution (module docstring).
LAW_STEPS_PER_DECADE = {"OU": 100, "VP": 200}
LAW_SCHEME = Exponential()
# The ancestral runs: exact in law on any grid, so one step per decade only sets the cost (and keeps
# the first step's posterior draw at T decisive for the atom).
ANCESTRAL_STEPS_PER_DECADE = 1
# Reference (exact) draws of the predicted law per simulated sample: their Monte-Carlo error is a
# third of the measurement's and is carried in the standard errors.
REFERENCE_FACTOR = 10
# The near-miss controls (module docstring): the wrong horizon factor of the posterior weights, the
# normal-score factor, the particles of the "distributed like mu" run in units of n, the covariance
# factor of the wrong KL minimizer.
WRONG_T_FACTOR = 1.05
WEAK_BETA = 0.95
MU_FACTOR = 3
WRONG_COVARIANCE = 1.05


# -- designs ------------------------------------------------------------------------------------

class Design(enum.Enum):
    """The measures (fixed designs from DESIGN_SEED)."""

    CIRCLE = "circle"
    VMF_SPHERE = "vmf-sphere"
    PLANE = "plane"
    CLOUD = "cloud"

    def measure(self) -> Measure:
        return _designs()[self]


@functools.lru_cache(maxsize=1)
def _designs() -> dict[Design, Measure]:
    rng = np.random.default_rng(DESIGN_SEED)
    frame5, _ = np.linalg.qr(rng.standard_normal((5, 3)))
    basis4, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    return {
        Design.CIRCLE: Sphere(k=1, d=3, radius=1.5, center=np.array([0.5, -0.3, 0.2])),
        Design.VMF_SPHERE: Sphere(k=2, d=5, frame=frame5, kappa=2.0, direction=np.array([0.0, 0.6, 0.8]),
                                  center=np.array([0.3, 0.0, -0.4, 0.2, 0.0])),
        Design.PLANE: Subspace(k=2, d=4, basis=basis4, mean=np.array([0.4, -0.2, 0.3, 0.1]),
                               cov=np.array([[1.5, 0.4], [0.4, 0.6]])),
        Design.CLOUD: PointCloud(2.0 * rng.standard_normal((8, 3)), np.array(CLOUD_WEIGHTS)),
    }


class Proc(enum.Enum):
    OU = "OU"
    VP = "VP"

    def process(self) -> ForwardProcess:
        return OU() if self is Proc.OU else VP()

    @property
    def T(self) -> float:
        return T_OU if self is Proc.OU else T_VP


class PriorKind(enum.Enum):
    """The priors, each built explicitly for its case (never the simulator's default)."""

    REFERENCE = "reference N(0,I)"
    MOMENT_MATCHED = "moment-matched"
    STUDENT_T = "Student-t(df=2)"
    POINT_MASS = "point mass"

    def prior(self, measure: Measure, T: float, process: ForwardProcess) -> Prior:
        if self is PriorKind.REFERENCE:
            return Gaussian.standard(measure.d)
        if self is PriorKind.MOMENT_MATCHED:
            return Gaussian.moment_matched(measure, T, process=process)
        if self is PriorKind.STUDENT_T:
            return StudentT(measure.d, df=2.0)
        return PointMass(start_point(measure, T, process))


def start_point(measure: Measure, T: float, process: ForwardProcess) -> np.ndarray:
    """The point-mass start y: alpha(T) E_mu X plus the fixed offset (0.5, 0.3, -0.2, ...), so that
    law(X_0 | X_T = y) is visibly not mu while every atom of the cloud keeps >= 5 expected hits."""
    offset = np.resize(np.array([0.5, 0.3, -0.2]), measure.d)
    return float(process.alpha(T)) * measure.moments()[0] + offset


def _posterior(design: Design, measure: Measure, T: float, process: ForwardProcess):
    """Exact draws of law(X_0 | X_T = y) by a route independent of the scores: for the point set the
    log-sum-exp weights of theory.output_law (PointCloud.posterior_sample shares the score's
    softmax), otherwise the measure's closed-form posterior_sample."""
    if design is Design.CLOUD:
        return point_set_sampler(measure.points, measure.weights, T, process=process)
    return measure_sampler(measure, T, process=process)


# -- the plan -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class C1Plan(Plan):
    """n particles per landing delta, ``steps_per_decade`` of the landing runs, ``n_law`` particles of
    the law runs (plain SDE), ``n_ancestral`` of the ancestral runs, ``n_kl`` draws of p_T per KL
    estimate, ``tests`` the number of case decisions the family-wise alpha is split over."""

    n_law: int
    n_ancestral: int
    n_kl: int
    tests: int

    @property
    def decision_alpha(self) -> float:
        return self.alpha / self.tests

    @property
    def z(self) -> float:
        return float(stats.norm.isf(self.decision_alpha / 2))


# -- helpers ------------------------------------------------------------------------------------


def _predicted_levels(measure: Measure, prior: Prior, posterior, *, T: float, deltas, n: int,
                      rng: np.random.Generator, process: ForwardProcess) -> tuple[np.ndarray, np.ndarray]:
    """RMS distance to M of exact output draws at each delta, with the standard error of its log."""
    levels, ses = [], []
    for delta in deltas:
        draws = output_draws(prior, posterior, T=T, delta=float(delta), n=n, rng=rng, process=process)
        rms, se = rms_level(measure.distance(draws))
        levels.append(rms)
        ses.append(se)
    return np.array(levels), np.array(ses)


def _coverage(counts, alpha: float) -> Decision:
    """Every cell of positive predicted mass hit: CONFIRMED; a miss REFUTES when its predicted
    probability is below alpha, else it cannot decide."""
    missed = int(np.sum((counts.counts == 0) & (counts.masses > 0)))
    cells = int(np.sum(counts.masses > 0))
    p_miss = counts.miss_probability()
    if missed == 0:
        verdict = Verdict.CONFIRMED
    else:
        verdict = Verdict.REFUTED if p_miss < alpha else Verdict.INCONCLUSIVE
    return Decision(test="coverage", statistic="cells of M hit (partition of M)",
                    expected=Expected(cells, f"every cell: P(some cell missed) = {p_miss:.2g} under the prediction"),
                    measured=Estimate(value=float(cells - missed), n=int(counts.counts.sum())),
                    rule=f"every cell hit (a miss refutes when P(miss) < {alpha:g})", verdict=verdict)


# The landing studies' figure, with this claim's distance.
_loglog = functools.partial(loglog_figure, ylabel="RMS distance to M")


def _bars(title: str, counts: np.ndarray, predicted: np.ndarray, wrong: np.ndarray | None = None, *,
          xlabel: str = "atom i of the point cloud") -> Figure:
    data = {"categories": list(range(len(counts))), "observed": (counts / counts.sum()).tolist(),
            "predicted": np.asarray(predicted).tolist(), "xlabel": xlabel}
    if wrong is not None:
        data["wrong"] = np.asarray(wrong).tolist()
    return Figure("bars", title, data)


def _aligned(measure: Measure, x: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(project(x) - E_mu X) . direction: the position on M along the predicted departure from mu."""
    return (measure.project(x) - measure.moments()[0]) @ direction


# -- the output cases ---------------------------------------------------------------------------

class Kind(enum.Enum):
    """What a row simulates and judges (module docstring)."""

    OUTPUT = "output"  # the exact score from a prior: rate, level, law, coverage
    KL = "KL"  # moment matching: the KL gaps of Gaussians near MM
    AT_WRONG_T = "judged with the posterior at 1.05 T"  # control: ancestral hits vs weights at 1.05 T
    WEAK_SCORE = "normal score x0.95 judged as exact"  # control: levels of NormalScaling(0.95)
    JUDGED_AS_MU = "judged as distributed like mu"  # control: the output's law against mu
    KL_WRONG_COVARIANCE = "MM with covariance x1.05 judged KL-minimal"  # control: its KL gap over MM

    @property
    def role(self) -> Role:
        return Role.CASE if self in (Kind.OUTPUT, Kind.KL) else Role.CONTROL_RUN


# Why each sampling control's prediction is wrong, and the effect the check must detect (module docstring).
_WHY = {
    Kind.AT_WRONG_T: "the output's atom frequencies are the posterior weights given X_T = y at T, not at 1.05 T",
    Kind.WEAK_SCORE: "a normal score 5 % too weak is not the exact score: the normal variance settles at "
                     "g0 t / (2 beta - 1), 11 % above sigma(t)^2",
    Kind.JUDGED_AS_MU: "the output is the pi-mixture of posteriors, not mu (C1: frequencies depend on pi): for the "
                       "Student-t prior the cells differ from mu's masses",
}
_EFFECT = {
    Kind.AT_WRONG_T: "chi-square noncentrality 91 at n = 20000 (9.1 per 2000) against a critical value of 30",
    Kind.WEAK_SCORE: "RMS up to 5.4 % above the exact levels (mean log ratio about 0.048) against a band of "
                     "+-0.023 + 0.0045",
    Kind.JUDGED_AS_MU: "cell chi-square noncentrality 88 at n = 6000 (29 per 2000) against a critical value of 30",
}


@dataclass(frozen=True)
class OutputCase(CaseSpec):
    """The exact score (or the weak-score control) from ``prior`` on ``design`` (module docstring)."""

    design: Design
    prior_kind: PriorKind
    proc: Proc = Proc.OU
    kind: Kind = Kind.OUTPUT

    def __post_init__(self) -> None:
        for name, cls in (("design", Design), ("prior_kind", PriorKind), ("proc", Proc), ("kind", Kind)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        if self.kind in (Kind.KL, Kind.KL_WRONG_COVARIANCE):
            raise ValueError(f"an output case is OUTPUT or a sampling control, got {self.kind}")
        if self.kind is Kind.AT_WRONG_T and (self.design is not Design.CLOUD or self.proc is not Proc.OU):
            raise ValueError("the wrong-T control judges the OU point-cloud hit frequencies")

    @property
    def role(self) -> Role:
        return self.kind.role

    @property
    def name(self) -> str:
        base = f"{self.design.value} / {self.prior_kind.value}" + ("" if self.proc is Proc.OU else " / VP")
        return base if self.kind is Kind.OUTPUT else f"{base} {self.kind.value}"

    @property
    def tests(self) -> int:
        """Decisions of an OUTPUT row (the Bonferroni count of C1Plan.tests covers them)."""
        if self.kind is not Kind.OUTPUT:
            return 0
        if self.design is Design.CLOUD:
            return 5 if self.proc is Proc.OU else 4  # rate, level, hits (SDE), [hits (ancestral)], coverage
        return 5  # rate, level, cells, aligned KS, coverage

    def _parts(self):
        measure, process, T = self.design.measure(), self.proc.process(), self.proc.T
        prior = self.prior_kind.prior(measure, T, process)
        score = ExactScore(measure, process=process)
        if self.kind is Kind.WEAK_SCORE:
            score = NormalScaling(score, measure, WEAK_BETA)
        return measure, process, T, prior, score

    def setting(self) -> str:
        measure, process, T, prior, _ = self._parts()
        error = "normal score x0.95" if self.kind is Kind.WEAK_SCORE else "exact score"
        text = Setting(measure, prior=prior, T=T, process=process).describe().split(", error=")[0]
        return f"{text}, {error}"

    def why(self) -> str:
        return _WHY.get(self.kind, "")

    def effect(self) -> str:
        return _EFFECT.get(self.kind, "")

    def run(self, plan: C1Plan, seed: np.random.SeedSequence) -> Outcome:
        measure, process, T, prior, score = self._parts()
        s_landing, s_reference, s_law, s_ancestral = seed.spawn(4)
        if self.kind is Kind.AT_WRONG_T:
            return self._at_wrong_t(plan, measure, process, T, prior, score, s_ancestral, s_reference)
        posterior = _posterior(self.design, measure, T, process)
        if self.kind is Kind.JUDGED_AS_MU:
            return self._judged_as_mu(plan, measure, process, T, prior, score, posterior, s_law, s_reference)
        ref_rng = np.random.default_rng(s_reference)
        deltas = np.array(DELTAS[self.proc.value])
        alpha = plan.decision_alpha
        study = landing_study(score, measure, deltas=deltas, n=plan.n, steps_per_decade=plan.steps_per_decade,
                              T=T, seed_sequence=s_landing, process=process, prior=prior, scheme=Posterior())
        predicted, predicted_ses = _predicted_levels(measure, prior, posterior, T=T, deltas=study.deltas,
                                                     n=REFERENCE_FACTOR * plan.n, rng=ref_rng, process=process)
        level = level_fit(study.distances, predicted, predicted_ses=predicted_ses)
        record: dict[str, Any] = {"landing": study.fit.record(), "predicted_levels": predicted.tolist(),
                                  "level": {"mean_log_ratio": level.value, "se": level.se,
                                            "log_ratios": level.log_ratios.tolist()}}
        level_decision = judges.value_in_band(
            "level", "mean over delta of log(RMS distance to M / predicted)",
            Estimate(value=level.value, band=level.band(alpha), level=1 - alpha), 0.0, tolerance=LEVEL_TOLERANCE,
            source="exact draws of the pi-mixture of law(X_delta | X_T = y) (CLAIMS.md C1)")
        figure = _loglog(self.name, study.fit, predicted_levels=predicted)
        if self.kind is Kind.WEAK_SCORE:
            return Outcome((level_decision,), record, figure)
        predicted_slope = finite_range_slope(study.deltas, predicted)
        fit = normal_band(dataclasses.replace(study.fit, se=float(np.hypot(study.fit.se, slope_se(
            study.deltas, predicted_ses)))), alpha)
        record["predicted_slope"] = predicted_slope
        record["sigma_slope"] = finite_range_slope(study.deltas, np.sqrt(process.sigma2(study.deltas)))
        decisions = [judges.rate(fit, predicted_slope, tolerance=RATE_TOLERANCE,
                                 source="least-squares slope of the predicted levels (sigma(delta): 1/2)"),
                     level_decision]
        if self.design is Design.CLOUD:
            law, law_record, figure_law = self._cloud_law(plan, measure, process, T, prior, score, s_law,
                                                          s_ancestral, ref_rng)
        else:
            law, law_record, figure_law = self._continuous_law(plan, measure, process, T, prior, score, posterior,
                                                               s_law, ref_rng)
        decisions += law
        record |= law_record
        return Outcome(tuple(decisions), record, figure if figure_law is None else figure_law)

    # -- laws --
    def _law_samples(self, n, measure, process, T, prior, score, seed) -> np.ndarray:
        """The plain exact-score SDE's output at LAW_DELTA: LAW_SCHEME at LAW_STEPS_PER_DECADE. (n, d)."""
        delta = LAW_DELTA[self.proc.value]
        steps = steps_for(T, delta, LAW_STEPS_PER_DECADE[self.proc.value])
        return reverse_sde(score, d=measure.d, n=n, T=T, delta=delta, steps=steps, process=process, prior=prior,
                           scheme=LAW_SCHEME, rng=np.random.default_rng(seed)).samples

    def _continuous_law(self, plan, measure, process, T, prior, score, posterior, s_law, ref_rng):
        """Cells of measure.partition() and the aligned coordinate of the plain SDE's output at LAW_DELTA,
        against exact output draws at the same delta."""
        delta = LAW_DELTA[self.proc.value]
        samples = self._law_samples(plan.n_law, measure, process, T, prior, score, s_law)
        reference = output_draws(prior, posterior, T=T, delta=delta, n=REFERENCE_FACTOR * plan.n_law, rng=ref_rng,
                                 process=process)
        partition = measure.partition()
        cells, ref_cells = partition.assign(samples), partition.assign(reference)
        homogeneity = count_homogeneity(cells, ref_cells, partition.size)
        masses = np.bincount(ref_cells, minlength=partition.size) / len(ref_cells)
        counts = cell_counts(cells, masses, alpha=plan.decision_alpha)
        departure = measure.project(reference).mean(axis=0) - measure.moments()[0]
        norm = float(np.linalg.norm(departure))
        direction = departure / norm if norm > 0 else np.eye(measure.d)[0]
        ks = stats.ks_2samp(_aligned(measure, samples, direction), _aligned(measure, reference, direction))
        alpha = plan.decision_alpha
        decisions = [
            judges.p_value("law", f"chi-square of the {partition.size} cells of M against exact output draws",
                           homogeneity.pvalue, alpha=alpha, n=int(len(cells)),
                           source=f"pi-mixture of posteriors at delta = {delta:g}: two-sample test, "
                                  f"{homogeneity.dof} dof"),
            judges.p_value("aligned law", "two-sample KS of the position on M along the predicted mean departure "
                           "from mu", float(ks.pvalue), alpha=alpha, n=int(len(samples)),
                           source="exact output draws (the mean departure from mu is the prior's effect)"),
            _coverage(counts, alpha)]
        record = {"law": {"chi2": homogeneity.chi2, "dof": homogeneity.dof, "pvalue": homogeneity.pvalue,
                          "counts": homogeneity.counts.tolist(),
                          "reference_counts": homogeneity.reference_counts.tolist(),
                          "ks_statistic": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
                          "departure_from_mu": norm, "delta": delta}}
        return decisions, record, None

    def _cloud_law(self, plan, measure, process, T, prior, score, s_law, s_ancestral, ref_rng):
        """Atom frequencies of the plain SDE (exponential scheme) and of the ancestral scheme against the
        log-sum-exp posterior weights (point mass) or their prior average (Rao-Blackwellized)."""
        delta = LAW_DELTA[self.proc.value]
        alpha = plan.decision_alpha
        probabilities = self._hit_probabilities(measure, process, T, prior, REFERENCE_FACTOR * plan.n_law, ref_rng)
        samples = self._law_samples(plan.n_law, measure, process, T, prior, score, s_law)
        hits = hit_frequencies(measure.nearest(samples)[0], probabilities)
        source = "log-sum-exp posterior weights at T (scipy), alpha and sigma^2 from the symbolic twin"
        decisions = [judges.p_value("hits (SDE)", "chi-square of the atom counts, exact score, exponential scheme",
                                    hits.pvalue, alpha=alpha, n=plan.n_law, valid=hits.min_expected >= 5,
                                    source=source)]
        record: dict[str, Any] = {"hit_probabilities": probabilities.tolist(),
                                  "hits_sde": {"counts": hits.counts.tolist(), "chi2": hits.chi2,
                                               "pvalue": hits.pvalue, "min_expected": hits.min_expected,
                                               "steps_per_decade": LAW_STEPS_PER_DECADE[self.proc.value],
                                               "delta": delta}}
        if self.proc is Proc.OU:
            anc = self._ancestral_hits(plan, measure, process, T, prior, score, s_ancestral, probabilities)
            decisions.append(judges.p_value("hits (ancestral)", "chi-square of the atom counts, ancestral scheme",
                                            anc.pvalue, alpha=alpha, n=plan.n_ancestral,
                                            valid=anc.min_expected >= 5, source=source))
            record["hits_ancestral"] = {"counts": anc.counts.tolist(), "chi2": anc.chi2, "pvalue": anc.pvalue}
        masses = probabilities
        counts = cell_counts(measure.nearest(samples)[0], masses, alpha=alpha)
        decisions.append(_coverage(counts, alpha))
        return decisions, record, _bars(f"{self.name}: atom frequencies (plain SDE)", hits.counts, probabilities)

    @staticmethod
    def _hit_probabilities(measure, process, T, prior, m, rng) -> np.ndarray:
        if isinstance(prior, PointMass):
            return posterior_weights(measure.points, measure.weights, T, prior.y[None, :], process=process)[0]
        probs = posterior_weights(measure.points, measure.weights, T, prior.sample(m, rng), process=process)
        probs = probs.mean(axis=0)
        return probs / probs.sum()

    @staticmethod
    def _ancestral_hits(plan, measure, process, T, prior, score, seed, probabilities):
        delta = LAW_DELTA["OU"]
        res = reverse_sde(score, d=measure.d, n=plan.n_ancestral, T=T, delta=delta,
                          steps=steps_for(T, delta, ANCESTRAL_STEPS_PER_DECADE), process=process, prior=prior,
                          scheme=Ancestral(), rng=np.random.default_rng(seed))
        return hit_frequencies(measure.nearest(res.samples)[0], probabilities)

    def _at_wrong_t(self, plan, measure, process, T, prior, score, seed, s_reference) -> Outcome:
        right = self._hit_probabilities(measure, process, T, prior, REFERENCE_FACTOR * plan.n_ancestral,
                                        np.random.default_rng(s_reference))
        wrong = self._hit_probabilities(measure, process, WRONG_T_FACTOR * T, prior,
                                        REFERENCE_FACTOR * plan.n_ancestral, np.random.default_rng(s_reference))
        hits = self._ancestral_hits(plan, measure, process, T, prior, score, seed, wrong)
        lam = plan.n_ancestral * float(np.sum((right - wrong) ** 2 / wrong))
        decision = judges.p_value("hits (ancestral)", "chi-square of the atom counts against weights at 1.05 T",
                                  hits.pvalue, alpha=plan.decision_alpha, n=plan.n_ancestral,
                                  valid=hits.min_expected >= 5, source="wrong: posterior weights at 1.05 T")
        record = {"counts": hits.counts.tolist(), "chi2": hits.chi2, "pvalue": hits.pvalue,
                  "right": right.tolist(), "wrong": wrong.tolist(), "noncentrality": lam}
        return Outcome((decision,), record, _bars(self.name, hits.counts, right, wrong))

    def _judged_as_mu(self, plan, measure, process, T, prior, score, posterior, s_run, s_reference) -> Outcome:
        """Control: the law run's output (MU_FACTOR n particles) against draws of mu, cell by cell."""
        delta = LAW_DELTA[self.proc.value]
        n = MU_FACTOR * plan.n
        rng = np.random.default_rng(s_reference)
        samples = self._law_samples(n, measure, process, T, prior, score, s_run)
        partition = measure.partition()
        mu = measure.sample(REFERENCE_FACTOR * n, rng)
        cells = partition.assign(samples)
        homogeneity = count_homogeneity(cells, partition.assign(mu), partition.size)
        predicted = np.bincount(partition.assign(output_draws(prior, posterior, T=T, delta=delta,
                                                              n=REFERENCE_FACTOR * n, rng=rng, process=process)),
                                minlength=partition.size) / (REFERENCE_FACTOR * n)
        lam = n * float(np.sum((predicted - partition.masses) ** 2 / partition.masses))
        decision = judges.p_value("law", "chi-square of the cells of M against draws of mu", homogeneity.pvalue,
                                  alpha=plan.decision_alpha, n=n, source="wrong: the output is distributed like mu")
        record = {"chi2": homogeneity.chi2, "dof": homogeneity.dof, "pvalue": homogeneity.pvalue,
                  "counts": homogeneity.counts.tolist(), "mu_masses": partition.masses.tolist(),
                  "predicted_masses": predicted.tolist(), "noncentrality": lam}
        return Outcome((decision,), record, _bars(self.name, homogeneity.counts, predicted, partition.masses,
                                                  xlabel="cell of the partition of M"))


# -- the KL cases -------------------------------------------------------------------------------

@dataclass(frozen=True)
class KLCase(CaseSpec):
    """KL(p_T || G) - KL(p_T || MM) for Gaussians G near MM, against KL(MM || G) (module docstring)."""

    design: Design
    kind: Kind = Kind.KL

    def __post_init__(self) -> None:
        if not isinstance(self.design, Design):
            raise TypeError(f"design must be a Design, got {self.design!r}")
        if self.kind not in (Kind.KL, Kind.KL_WRONG_COVARIANCE):
            raise ValueError(f"a KL case is KL or KL_AT_WRONG_T, got {self.kind}")

    @property
    def role(self) -> Role:
        return self.kind.role

    @property
    def name(self) -> str:
        return f"{self.design.value} / KL " + ("of Gaussians near MM" if self.kind is Kind.KL else self.kind.value)

    @property
    def tests(self) -> int:
        return len(self._neighbours(self.design.measure(), OU())) + 1 if self.kind is Kind.KL else 0

    @staticmethod
    def _neighbours(measure: Measure, process: ForwardProcess) -> dict[str, Gaussian]:
        mm = Gaussian.moment_matched(measure, T_OU, process=process)
        sd = np.sqrt(np.diag(mm.cov))
        return {"N(0, I)": Gaussian.standard(measure.d), "MM, covariance x0.9": Gaussian(mm.mean, 0.9 * mm.cov),
                "MM, covariance x1.1": Gaussian(mm.mean, 1.1 * mm.cov),
                "MM, mean + 0.1 sd": Gaussian(mm.mean + 0.1 * sd, mm.cov)}

    def setting(self) -> str:
        measure = self.design.measure()
        return f"{type(measure).__name__}(k={measure.k}, d={measure.d}), OU, T={T_OU:g}; Gaussians G near MM"

    def why(self) -> str:
        if self.kind is Kind.KL_WRONG_COVARIANCE:
            return "KL(p_T || G) is smallest where G has the moments of p_T, not 1.05 times its covariance"
        return ""

    def effect(self) -> str:
        if self.kind is Kind.KL_WRONG_COVARIANCE:
            return "gap KL(MM || G) = 0.0027 nats, 7 standard errors at n = 40000, against the band's z = 3.9"
        return ""

    def run(self, plan: C1Plan, seed: np.random.SeedSequence) -> Outcome:
        measure, process = self.design.measure(), OU()
        mm = Gaussian.moment_matched(measure, T_OU, process=process)
        draws = marginal_sample(measure, T_OU, plan.n_kl, np.random.default_rng(seed), process=process)
        z = plan.z
        if self.kind is Kind.KL_WRONG_COVARIANCE:
            wrong = Gaussian(mm.mean, WRONG_COVARIANCE * mm.cov)
            gap = kl_gap(draws, mm, wrong)
            decision = judges.ordering("KL-minimal", "KL(p_T || G) - KL(p_T || MM), G = MM with covariance x1.05",
                                       Estimate(gap.value, (gap.value - z * gap.se, gap.value + z * gap.se),
                                                1 - plan.decision_alpha, gap.n), 0.0, below=True,
                                       source="wrong: G is the KL-minimal Gaussian")
            return Outcome((decision,), {"gap": gap.value, "se": gap.se, "predicted": gaussian_kl(mm, wrong)})
        decisions, record = [], {}
        smallest = None
        for label, g in self._neighbours(measure, process).items():
            gap = kl_gap(draws, mm, g)
            predicted = gaussian_kl(mm, g)
            est = Estimate(gap.value, (gap.value - z * gap.se, gap.value + z * gap.se), 1 - plan.decision_alpha, gap.n)
            decisions.append(judges.value_in_band("KL gap", f"KL(p_T || G) - KL(p_T || MM), G = {label}", est,
                                                  predicted, tolerance=0.0,
                                                  source="KL(MM || G) in closed form (exact identity)"))
            record[label] = {"gap": gap.value, "se": gap.se, "predicted": predicted}
            if smallest is None or gap.value < smallest[1].value:
                smallest = (label, gap, est)
        label, gap, est = smallest
        decisions.append(judges.ordering("KL-minimal", f"smallest gap over the neighbours ({label})", est, 0.0,
                                         below=False, source="MM minimizes KL(p_T || G) over Gaussians"))
        return Outcome(tuple(decisions), record)


# -- the table ----------------------------------------------------------------------------------

def table(budget: Budget) -> tuple[CaseSpec, ...]:
    """The case table of ``budget`` (module docstring)."""
    rows: list[CaseSpec] = [OutputCase(design, prior_kind) for design in Design for prior_kind in PriorKind]
    rows += [OutputCase(Design.CLOUD, PriorKind.POINT_MASS, Proc.VP),
             OutputCase(Design.CIRCLE, PriorKind.STUDENT_T, Proc.VP)]
    rows += [KLCase(design) for design in Design]
    rows += [OutputCase(Design.CLOUD, PriorKind.POINT_MASS, kind=Kind.AT_WRONG_T),
             OutputCase(Design.CIRCLE, PriorKind.REFERENCE, kind=Kind.WEAK_SCORE),
             OutputCase(Design.PLANE, PriorKind.STUDENT_T, kind=Kind.JUDGED_AS_MU),
             KLCase(Design.VMF_SPHERE, kind=Kind.KL_WRONG_COVARIANCE)]
    return tuple(rows)


PLANS = {Budget.FAST: C1Plan(n=2000, steps_per_decade=LANDING_STEPS_PER_DECADE, alpha=ALPHA, n_law=4000,
                             n_ancestral=20000, n_kl=40000, tests=1),
         Budget.FULL: C1Plan(n=4000, steps_per_decade=LANDING_STEPS_PER_DECADE, alpha=ALPHA, n_law=8000,
                             n_ancestral=40000, n_kl=100000, tests=1)}
PLANS = {b: dataclasses.replace(p, tests=sum(r.tests for r in table(b))) for b, p in PLANS.items()}


def formulas() -> list[tuple[str, str]]:
    """The closed forms behind the predictions, for the claim page."""
    return [
        ("output at delta from the prior pi", r"Y_\delta \sim \int \mathrm{law}(X_\delta \mid X_T = y)\,\pi(dy)"),
        ("Gaussian bridge (a = alpha(T)/alpha(delta), v = sigma(T)^2 - a^2 sigma(delta)^2)",
         r"X_\delta \mid X_T = y, X_0 = x_0 \sim N\Big(\frac{a\sigma_\delta^2}{\sigma_T^2} y + "
         r"\frac{\alpha_\delta v}{\sigma_T^2} x_0,\ \frac{\sigma_\delta^2 v}{\sigma_T^2} I\Big)"),
        ("point-set posterior", r"P(X_0 = x_i \mid X_T = y) \propto w_i \exp(-|y - \alpha_T x_i|^2 / 2\sigma_T^2)"),
        ("moment matching", r"KL(p_T \| G) - KL(p_T \| MM) = KL(MM \| G)"),
    ]


CHECK = ClaimCheck("C1", PLANS, table, formulas)


def run(*, seed: int, budget: Budget | str = Budget.FAST):
    """Run the C1 check (module docstring)."""
    return run_claim(CHECK, seed=seed, budget=budget)
