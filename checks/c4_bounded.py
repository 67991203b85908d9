"""Check of claim C4, *unbounded drift is necessary* (CLAIMS.md C4).

Claim: if the score has linear growth, |s(t, x)| <= C (1 + |x|) on [0, T] (here: the exact score
clipped to norm C, :class:`theory.perturbations.Clipped`), the reverse-SDE output has a Lebesgue
density, so it can neither land on a lower-dimensional M nor memorize a point set: the distance to
M *plateaus* at a positive level as delta -> 0.

Where the plateau starts (CLAIMS.md C4): near M the exact score has size about sqrt(d - k)/sigma(t),
so the clip binds below the onset delta* with sigma(delta*)^2 = (d - k)/C^2
(``process.time_at_sigma2``); above it the clipped sampler behaves like the exact one. Every
plateau case studies delta from delta*/10 down to delta*/10^4 (3 decades), so that the statement
is tested where it applies.

What is run and how it is decided
---------------------------------
- ``plateau`` (CASE): Clipped(exact, C) on spheres, subspaces and a point set (the 20 vertices of
  the regular dodecahedron, k = 0: a plateau there means no memorization) under OU, VP and VE.
  Decision ``trend``: the one slope classifier (:meth:`theory.statistics.SlopeFit.trend`) of the
  median distance over the plateau range must say FLAT (99 % bootstrap band inside (-0.1, 0.1)).
- ``onset`` (CASE): C = 1000 on Sphere(1, 3) under OU (delta* ~ 1e-6): the same clipped score
  SHRINKS over [10 delta*, 10^4 delta*] (the clip is inactive there: it lands like the exact
  score) and is FLAT over [delta*/10^4, delta*/10]. A clip level so large that the studied deltas
  stay above the onset tests the design, not the claim, which is why it is a positive prediction.
- ``level`` (CASE): the plateau's *level*, predicted. mu = the point mass at 0 in R (k = 0,
  d = 1), OU, T = 0.5, prior N(0, 1) given explicitly, C = 5: the median of |Y_delta| at
  delta = delta*/10 against the law the 1-D Fokker-Planck equation of the clipped reverse SDE
  predicts (:func:`theory.fokker_planck.clipped_point_law`: finite volumes on the density, every
  coefficient from the process's symbolic twin; it shares no code with the particle simulator).
  The quasi-stationary law r^(d-k-1) e^(-2Cr) of CLAIMS.md C4 is not that prediction: the
  relaxation time 1/(g0 C^2) of the clipped normal dynamics equals delta*/(d - k), so the density
  never settles below the onset; at this case the Fokker-Planck median is 0.0952, the
  quasi-stationary median log(2)/(2C) = 0.069 (both recorded). Band: the sign-test interval of
  the sample median (:func:`theory.statistics.median_band`) at level 1 - LEVEL_ALPHA, widened by
  LEVEL_BIAS (the simulator's time-step bias, measured: see its comment). n = LEVEL_N particles,
  LEVEL_STEPS steps per decade.

Near-miss controls (CONTROL_RUN, judged against C4's "plateaus" as if the drift were bounded)
------------------------------------------------------------------------------------------
The scaled normal score: the exact score's normal part times beta = BETA
(:class:`theory.perturbations.NormalScaling`), on Sphere(1, 3) under OU (the deltas of C = 5) and
on the dodecahedron under VP (the deltas of C = 20; k = 0, so the whole score is scaled). It
grows like beta/sigma^2 near M: not of linear growth, but by the smallest factor the family
allows. By CLAIMS.md C6 it lands at rate delta^min(beta, 1/2) = delta^0.15; measured over these
ranges (4 seeds, fast plan): slopes 0.139 and 0.144 (sd 0.004), 99 % band half-widths 0.008, the
lowest band edge 0.123. The classifier calls a slope flat below 0.1, so the detectable effect is
a slope of about 0.1 + 0.008: the controls' effect, 0.14, is just beyond it. Their horizon is the
time where sigma(T)^2 = SCALED_SIGMA2_T = 0.6 (OU 0.46, VP 0.30, VE 0.57), not the cases' T: with
only 15 % of the score the expanding linear drift (+Y under OU) dominates at large t and would
carry the particles out by about e^(0.85 T) (median distance 44 at the first delta for T = 5)
before they start landing; the slope below the onset is the same (0.144 at T = 5), the levels stay
on the scale of M (about 1 down to 0.25).

Why the clip level C sigma(t)^(-1/2), unbounded but growing slower than the exact score, is *not*
a control: it does not land. The clipped normal dynamics relax in time 1/(g0 C(t)^2) =
sigma(t)/(g0 C^2), which for any clip C sigma^-gamma with gamma < 1 eventually exceeds the time t
that is left: the distance freezes at the scale reached when the two cross, sigma_f ~
C^(-1/(1 - gamma)) (the drift and the noise still to come move a particle by ~ C sigma^(2 - gamma)
and ~ sigma, both much smaller). Measured for C = 5, gamma = 1/2 on Sphere(1, 3) under OU (one
seed, n = 4000, delta from 1e-1 to 1e-9): the median distance shrinks like sigma^(1/2) down to
delta ~ 1e-3, then plateaus at 0.036 (local slopes below 0.1 from delta = 3e-5 on). Over the
range delta*/10 .. delta*/10^4 it reads a slope of about 0.16, a transient; as a control it would
be refuted for the wrong reason. (The same argument shows C sigma^-1 with C small escapes too, at
a rate ~ exp(-C^2): a clip is never "just unbounded enough".)

Statistics and seeds
--------------------
Plateau and onset: n particles per delta (fast 2000, full 4000), 4 (fast) or 7 (full) deltas
log-spaced over 3 decades, 20 (fast) / 30 (full) steps per decade, the MEDIAN distance (a clipped
score no longer balances the expanding linear drift far from M: the few particles starting beyond
~2C in the prior's tail drift off and make an RMS noisy), 99 % percentile bootstrap (400
resamples). Plateau bands stay within about +-0.03 of 0, landing bands above 0.45: a wrong trend
verdict needs an excursion of more than 5 band half-widths (no such event in the seed runs). The
level decision has false-failure probability LEVEL_ALPHA = 0.001 plus the bias allowance's
margin, so the family-wise false-failure rate of the check is about 0.001. Each case draws from
its own stream (:func:`checks.harness.case_seed`). False failures over seeds 0..19 of the fast
budget: 0 runs with a wrong verdict out of 20 (tests/test_check_c4.py).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from checks import judges
from checks.harness import Budget, CaseSpec, ClaimCheck, Estimate, Figure, Outcome, Plan, Role, run_claim
from theory import OU, VE, VP, ForwardProcess, Measure, PointCloud, Sphere, Subspace, reverse_sde
from theory.claims import CLAIMS, ErrorSpec, Setting
from theory.estimators import landing_study
from theory.fokker_planck import clipped_point_law
from theory.observers import Distance
from theory.perturbations import Clipped, ExactScore, NormalScaling
from theory.priors import Gaussian
from theory.simulator import steps_for
from theory.statistics import SlopeFit, Statistic, Trend, median_band

CLAIM = CLAIMS["C4"]
# The seed of the tests and of the report (any seed works: see the seed runs in the test module).
DEFAULT_SEED = 20220601

# The plateau deltas start this many decades below the onset delta* and span STUDY_DECADES.
BELOW_ONSET_DECADES = 1.0
STUDY_DECADES = 3.0
# Clip level of the onset case: delta* ~ 1e-6 on Sphere(1, 3) under OU, so that both the landing
# range [10 delta*, 1e4 delta*] (<= 1e-2, where sigma is still small) and the plateau range fit.
ONSET_C = 1000.0
# Factor of the near-miss controls' scaled normal score (module docstring): landing rate delta^0.15.
BETA = 0.15
# sigma(T)^2 at the controls' horizon (module docstring).
SCALED_SIGMA2_T = 0.6
# The level case: clip level, horizon (short: the early, exact-score phase costs steps and tells
# nothing about the plateau), and where the level is read (decades below the onset).
LEVEL_C = 5.0
LEVEL_T = 0.5
LEVEL_DECADES = 1.0
# Level of the median's band in the level decision.
LEVEL_ALPHA = 0.001
# Relative allowance for the simulator's time-step bias of the level at LEVEL_STEPS steps per
# decade. The Posterior scheme is exact only for the unclipped point mass: where the clip binds,
# its bridge noise under-disperses each step by a relative O(h/t), which lowers the plateau.
# Measured against the Fokker-Planck median at delta*/10 (n = 20000, seeds 1000..): -1.84 % +- 0.27 %
# at 50 steps per decade, -1.11 % +- 0.26 % at 100 (20 runs each), -0.90 % +- 0.25 % at 200 (20 runs),
# -0.14 % +- 0.34 % at 400 (12 runs; Euler-Maruyama at 400: +0.39 % +- 0.34 %): first order in the step,
# and the particle and density routes agree in the limit. 1.5 % covers the bias at 100 steps with
# 1.5 standard errors of its estimate to spare.
LEVEL_BIAS = 0.015
LEVEL_STEPS = 100
LEVEL_N = 20000
# Steps between the recorded medians of the level run (4 per decade at LEVEL_STEPS): the figure.
LEVEL_RECORD_EVERY = 25
# The level case's prior, given explicitly (the level depends on it at a short horizon): N(0, 1),
# the Fokker-Planck prediction's prior_variance = 1.
_LEVEL_PRIOR = Gaussian(np.zeros(1), np.eye(1))


@dataclass(frozen=True)
class C4Plan(Plan):
    """n particles per delta, ``points`` deltas per 3-decade range, steps per decade, band level."""

    points: int


PLANS = {Budget.FAST: C4Plan(n=2000, steps_per_decade=20, alpha=0.01, points=4),
         Budget.FULL: C4Plan(n=4000, steps_per_decade=30, alpha=0.01, points=7)}


def dodecahedron() -> np.ndarray:
    """The 20 vertices of the regular dodecahedron inscribed in the unit sphere, shape (20, 3).

    (+-1, +-1, +-1), (0, +-1/phi, +-phi), (+-1/phi, +-phi, 0), (+-phi, 0, +-1/phi), divided by sqrt(3);
    edge length 2/(phi sqrt 3) = 0.714. A deterministic, well-separated training set.
    """
    phi = (1 + np.sqrt(5)) / 2
    cube = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=np.float64)
    rest = []
    for s1 in (-1, 1):
        for s2 in (-1, 1):
            rest += [[0, s1 / phi, s2 * phi], [s1 / phi, s2 * phi, 0], [s1 * phi, 0, s2 / phi]]
    return np.vstack([cube, np.array(rest)]) / np.sqrt(3)


class Shape(enum.Enum):
    """The test measures."""

    CIRCLE = "sphere(1,3)"
    SPHERE2 = "sphere(2,5)"
    LINE = "subspace(1,3)"
    PLANE = "subspace(2,5)"
    DODECAHEDRON = "pointcloud(20,3)"
    POINT = "point in R"

    def measure(self) -> Measure:
        return {Shape.CIRCLE: lambda: Sphere(k=1, d=3), Shape.SPHERE2: lambda: Sphere(k=2, d=5),
                Shape.LINE: lambda: Subspace(k=1, d=3), Shape.PLANE: lambda: Subspace(k=2, d=5),
                Shape.DODECAHEDRON: lambda: PointCloud(dodecahedron()),
                Shape.POINT: lambda: PointCloud(np.zeros((1, 1)))}[self]()


class Proc(enum.Enum):
    """The processes and their horizons: OU with T = 5; VP (default betas) and VE (sigma_max = 20), T = 1."""

    OU = "OU"
    VP = "VP"
    VE = "VE"

    def process(self) -> tuple[ForwardProcess, float]:
        return {Proc.OU: (OU(), 5.0), Proc.VP: (VP(), 1.0), Proc.VE: (VE(sigma_max=20.0), 1.0)}[self]


class Kind(enum.Enum):
    """What a row simulates (module docstring)."""

    PLATEAU = "plateau"  # Clipped(exact, C), judged FLAT below the onset
    ONSET = "onset"  # Clipped(exact, C): SHRINKS above the onset, FLAT below
    LEVEL = "level"  # Clipped(exact, C) on the point in R: the Fokker-Planck median
    SCALED = "scaled normal score"  # control: the normal part times BETA


def onset_delta(process: ForwardProcess, codim: int, C: float, T: float) -> float:
    """delta* with sigma(delta*)^2 = codim / C^2 (``process.time_at_sigma2``); T if never reached before T."""
    target = codim / C**2
    if float(process.sigma2(T)) <= target:
        return float(T)
    return float(process.time_at_sigma2(target))


@dataclass(frozen=True)
class ClipCase(CaseSpec):
    """One row: a shape, a process, a clip level C (for a control: the clip level whose deltas it
    uses) and what is simulated."""

    shape: Shape
    proc: Proc
    C: float
    kind: Kind = Kind.PLATEAU

    def __post_init__(self) -> None:
        for name, cls in (("shape", Shape), ("proc", Proc), ("kind", Kind)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        if isinstance(self.C, bool) or not isinstance(self.C, (int, float)) or not math.isfinite(self.C) \
                or self.C <= 0:
            raise ValueError(f"C must be a finite number > 0, got {self.C!r}")
        if (self.kind is Kind.LEVEL) != (self.shape is Shape.POINT):
            raise ValueError(f"the level case runs on the point in R and only it, got {self.kind.value} on "
                             f"{self.shape.value}")
        if self.kind is Kind.LEVEL and self.proc is not Proc.OU:
            raise ValueError(f"the level case runs under OU (prior N(0, 1) at T = {LEVEL_T:g}), got {self.proc.value}")

    @property
    def role(self) -> Role:
        return Role.CONTROL_RUN if self.kind is Kind.SCALED else Role.CASE

    @property
    def name(self) -> str:
        what = {Kind.PLATEAU: f"clipped C = {self.C:g}", Kind.ONSET: f"onset, clipped C = {self.C:g}",
                Kind.LEVEL: f"level, clipped C = {self.C:g}",
                Kind.SCALED: f"normal score x {BETA:g} (deltas of C = {self.C:g})"}[self.kind]
        return f"{self.shape.value}, {self.proc.value}, {what}"

    def _process(self) -> tuple[ForwardProcess, float]:
        process, T = self.proc.process()
        if self.kind is Kind.LEVEL:
            return process, LEVEL_T
        if self.kind is Kind.SCALED:
            return process, float(process.time_at_sigma2(SCALED_SIGMA2_T))
        return process, T

    def _score(self, measure: Measure, process: ForwardProcess):
        exact = ExactScore(measure, process=process)
        if self.kind is Kind.SCALED:
            return NormalScaling(exact, measure, BETA)
        return Clipped(exact, self.C)

    def setting(self) -> str:
        measure = self.shape.measure()
        process, T = self._process()
        prior = _LEVEL_PRIOR if self.kind is Kind.LEVEL else None
        return Setting(measure, ErrorSpec.of(self._score(measure, process)), prior=prior, T=T,
                       process=process).describe()

    def why(self) -> str:
        if self.kind is Kind.SCALED:
            return (f"beta times the normal score grows like beta/sigma^2 near M, not linearly: it lands at rate "
                    f"delta^{BETA:g} (CLAIMS.md C6)")
        return ""

    def effect(self) -> str:
        if self.kind is Kind.SCALED:
            return f"slope {BETA:g} where the claim says 0 (flat below 0.1; band +- 0.008)"
        return ""

    def run(self, plan: C4Plan, seed: np.random.SeedSequence) -> Outcome:
        measure = self.shape.measure()
        process, T = self._process()
        codim = measure.d - measure.k
        score = self._score(measure, process)
        d_star = onset_delta(process, codim, self.C, T)
        record: dict[str, Any] = {"C": self.C, "onset_delta": d_star, "statistic": "median",
                                  "quasi_stationary_median": float(stats.gamma.median(codim, scale=1 / (2 * self.C)))}
        if self.kind is Kind.LEVEL:
            return self._level(measure, process, T, score, d_star, seed, record)
        kwargs = dict(n=plan.n, steps_per_decade=plan.steps_per_decade, T=T, process=process,
                      statistic=Statistic.MEDIAN, alpha=plan.alpha)
        below = d_star * 10.0 ** -(BELOW_ONSET_DECADES + np.linspace(0.0, STUDY_DECADES, plan.points))
        source = "C4: drift of linear growth, the distance plateaus"
        if self.kind is Kind.ONSET:
            above = d_star * 10.0 ** (BELOW_ONSET_DECADES + np.linspace(STUDY_DECADES, 0.0, plan.points))
            if above.max() >= T:
                raise ValueError(f"onset case needs 10^4 delta* < T, got delta* = {d_star:.3g}, T = {T:g}")
            up_seed, down_seed = seed.spawn(2)
            up = landing_study(score, measure, deltas=above, seed_sequence=up_seed, **kwargs).fit
            down = landing_study(score, measure, deltas=below, seed_sequence=down_seed, **kwargs).fit
            decisions = (judges.trend(up, Trend.SHRINKS, source="clip inactive above delta*: lands like the exact "
                                      "score", statistic="log-log slope of the median distance above delta*"),
                         judges.trend(down, Trend.FLAT, source=source,
                                      statistic="log-log slope of the median distance below delta*"))
            record |= {"above": _fit_record(up), "below": _fit_record(down)}
            figure = Figure("loglog", f"onset: {self.name}", {
                "deltas": above.tolist() + below.tolist(), "levels": up.levels.tolist() + down.levels.tolist(),
                "ylabel": "median distance to M"})
            return Outcome(decisions, record, figure)
        study = landing_study(score, measure, deltas=below, seed_sequence=seed, keep_samples=True, **kwargs)
        record |= _fit_record(study.fit)
        if self.shape is Shape.DODECAHEDRON:
            # the fraction of samples within the exact score's noise scale of a training point
            radius = 3.0 * np.sqrt(measure.d) * float(study.sigmas[-1])
            record["memorized_fraction"] = float(np.mean(study.distances[-1] < radius))
        decision = judges.trend(study.fit, Trend.FLAT, source=source,
                                statistic="log-log slope of the median distance to M")
        figure = Figure("loglog", self.name, {"deltas": study.deltas.tolist(), "levels": study.fit.levels.tolist(),
                                              "fit": [study.fit.slope, study.fit.intercept], "predicted_slope": 0.0,
                                              "ylabel": "median distance to M"})
        return Outcome((decision,), record, figure)

    def _level(self, measure: Measure, process: ForwardProcess, T: float, score, d_star: float,
               seed: np.random.SeedSequence, record: dict[str, Any]) -> Outcome:
        """The level case (module docstring): simulated median of |Y_delta| against the Fokker-Planck median."""
        delta = d_star * 10.0 ** -LEVEL_DECADES
        res = reverse_sde(score, d=1, n=LEVEL_N, T=T, delta=delta, steps=steps_for(T, delta, LEVEL_STEPS),
                          process=process, prior=_LEVEL_PRIOR, rng=np.random.default_rng(seed),
                          record={"distance": Distance(measure, every=LEVEL_RECORD_EVERY)})
        path = res.records["distance"]
        times = path.t[path.t < T]  # the recorded times below the start (the last one is delta)
        law = clipped_point_law(process, C=self.C, T=T, times=times, prior_variance=1.0)
        medians = law.abs_quantile(0.5)[0]
        predicted = float(medians[-1])
        median, low, high = median_band(measure.distance(res.samples), alpha=LEVEL_ALPHA)
        record |= {"delta": delta, "predicted_median": predicted, "median": median, "band": [low, high],
                   "n": LEVEL_N, "steps_per_decade": LEVEL_STEPS, "bias_allowance": LEVEL_BIAS,
                   "path": {"t": times.tolist(), "median": path["median"][path.t < T].tolist(),
                            "predicted": medians.tolist()}}
        decision = judges.value_in_band(
            "level", f"median |Y_delta| at delta = delta*/10 = {delta:.3g}",
            Estimate(median, (low, high), 1 - LEVEL_ALPHA, LEVEL_N), predicted, tolerance=LEVEL_BIAS * predicted,
            source="1-D Fokker-Planck equation of the clipped reverse SDE (symbolic twin); tolerance: time-step bias")
        figure = Figure("loglog", f"level: {self.name}, median along the run against the Fokker-Planck law", {
            "deltas": times.tolist(), "levels": record["path"]["median"], "predicted_levels": medians.tolist(),
            "ylabel": "median distance to M"})
        return Outcome((decision,), record, figure)


def _fit_record(fit: SlopeFit) -> dict[str, Any]:
    return {"slope": fit.slope, "band": (fit.low, fit.high), "deltas": fit.deltas.tolist(),
            "levels": fit.levels.tolist(), "trend": fit.trend().value}


def table(budget: Budget) -> tuple[ClipCase, ...]:
    """The case table of ``budget`` (module docstring)."""
    level = ClipCase(Shape.POINT, Proc.OU, LEVEL_C, Kind.LEVEL)
    controls = (ClipCase(Shape.CIRCLE, Proc.OU, 5.0, Kind.SCALED), ClipCase(Shape.DODECAHEDRON, Proc.VP, 20.0, Kind.SCALED))
    if budget is Budget.FAST:
        return (ClipCase(Shape.CIRCLE, Proc.OU, 5.0), ClipCase(Shape.CIRCLE, Proc.OU, 20.0),
                ClipCase(Shape.SPHERE2, Proc.VP, 10.0), ClipCase(Shape.PLANE, Proc.VP, 5.0),
                ClipCase(Shape.PLANE, Proc.OU, 20.0), ClipCase(Shape.DODECAHEDRON, Proc.OU, 10.0),
                ClipCase(Shape.DODECAHEDRON, Proc.VP, 20.0), ClipCase(Shape.LINE, Proc.VE, 10.0),
                ClipCase(Shape.DODECAHEDRON, Proc.VE, 5.0), ClipCase(Shape.CIRCLE, Proc.OU, ONSET_C, Kind.ONSET),
                level, *controls)
    shapes = [s for s in Shape if s is not Shape.POINT]
    grid = tuple(ClipCase(s, p, C) for s in shapes for p in Proc for C in (5.0, 20.0, 50.0))
    onsets = tuple(ClipCase(Shape.CIRCLE, p, ONSET_C, Kind.ONSET) for p in (Proc.OU, Proc.VP))
    more = tuple(ClipCase(s, p, 5.0, Kind.SCALED) for s in (Shape.CIRCLE, Shape.DODECAHEDRON) for p in Proc)
    return grid + onsets + (level,) + more


CHECK = ClaimCheck("C4", PLANS, table)


def run(*, seed: int, budget: Budget | str = Budget.FAST):
    """Run the C4 check (module docstring)."""
    return run_claim(CHECK, seed=seed, budget=budget)
