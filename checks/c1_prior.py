"""Check of claim C1 (any prior): with the exact score the output lands on M and covers it for every prior.

CLAIMS.md C1 (Pidstrigach 2022, arXiv:2206.01018, formalized as): from a start y the exact reverse SDE is
the forward process conditioned on X_T = y, so the output is the pi-mixture of the posteriors
law(X_0 | X_T = y). That law lives on M and charges every part of it, but it is NOT mu: its relative
frequencies depend on pi. Among Gaussian priors, KL(p_T || N(m, V)) is minimized by moment matching.

What is run
-----------
Measures (fixed designs: the same for every seed, only the sampling noise depends on ``seed``):
``circle`` = Sphere(k=1, d=3, r=1.5, off-center), ``vmf-sphere`` = Sphere(k=2, d=5) with a von
Mises-Fisher law (kappa = 2) in a random frame, ``plane`` = Subspace(k=2, d=4) (tilted, off-center,
correlated covariance), ``cloud`` = PointCloud of 8 points in R^3. Priors: the reference N(0, I)
(the simulator default), ``Gaussian.moment_matched``, ``StudentT`` (df = 2: infinite variance) and
``PointMass(y)``. Processes: OU with T = 1 (small enough that the priors really differ from p_T) on
the full measure x prior grid, plus VP (T = 0.5) for the cloud with a point mass and the circle with
the Student-t prior; ``full`` adds VE cases. Every setting gets ``CLAIM.predict`` before simulating.

Three tests per sampling case (all three must pass for CONFIRMED):

1. *lands* -- :func:`checks.common.landing_study` (default POSTERIOR scheme, geometric grid):
   RMS distance to M at 4 deltas over 3 decades (fast; 5 over 4 decades in full), log-log slope with
   its 99% percentile-bootstrap band (alpha = 0.01, 400 resamples). Predicted: rate 1/2. Pass:
   ``fit.lands()`` (band above FLAT_SLOPE) and 1/2 in [low - RATE_TOLERANCE, high + RATE_TOLERANCE].
   RATE_TOLERANCE = 0.02 is budgeted before looking at outcomes as: finite-range bias of sigma(delta)
   (the slope of sigma over the chosen deltas, reported as ``finite_range_rate``: 0.4993 to 0.5007
   for these deltas), curvature and alpha(delta) terms (|x - alpha x| ~ delta, <= 0.005), sampler
   discretization (<= 0.005; measured: the mean slope of every case over 50 seeds lies in
   [0.4987, 0.5041]), and a 0.005 margin. Since the known biases use at most 0.015 of it, a false
   failure needs a slope error of more than 0.005 + the band half-width, at least 4 standard errors
   at n = 2000 (measured across seeds: 0.0015 to 0.005, the largest for the Student-t prior, whose
   band widens with it): probability < 1e-4.
2. *covers* -- a partition of M into cells (circle: 12 equal arcs; 2-sphere: the 8 octants of the
   frame coordinates; plane: the 10 deciles of the predicted law of the first tangent coordinate;
   cloud: the points). Every cell has positive predicted mass (the posteriors have full support on
   M); the check needs every cell hit. Reported: the predicted cell masses and
   P(some cell missed) = sum_c (1 - p_c)^n, which the designs keep below 1e-6.
3. *law* -- the samples follow the pi-mixture of posteriors, not mu. Reference: m exact draws from
   the predicted law (y ~ pi, then X_0 ~ law(X_0 | X_T = y) in closed form: a von Mises-Fisher law
   on the sphere, a Gaussian on the plane, see :func:`posterior_mixture`). Sphere and plane: the
   two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp) of the sphere coordinate (angle on S^1,
   first frame coordinate of the direction on S^2) or the first tangent coordinate. Cloud: the
   chi-square test of the nearest-point counts (:func:`theory.statistics.hit_frequencies`) against
   ``CLAIM.predict(...).hit_probabilities`` for a point mass, and otherwise against the
   Rao-Blackwellized mixture E_{y ~ pi}[posterior(T, y)] over m prior draws (m >= 20 n, so its
   Monte Carlo error adds < 5% to the chi-square's variance). Level ALPHA = 0.001 per test; the
   chi-square needs every expected count >= 5 (else INCONCLUSIVE).
   These samples come from a separate run down to one small delta. For the circle, sphere and plane
   it uses the EXPONENTIAL scheme at DIST_STEPS_PER_DECADE = 100 steps per decade (200 in full,
   where n is 4 times larger). For the cloud it samples the law exactly, with the ancestral scheme
   (:class:`theory.schemes.Ancestral`: X_0 drawn from the posterior rather than its mean frozen),
   at 5 steps per decade. The default POSTERIOR scheme with the plain exact score (it
   freezes the posterior mean, which under-disperses every step while the posterior is spread over
   several atoms) biases the frequencies at first order in the step; measured at n = 1e5 from a
   point mass (cloud, T = 1), the chi-square noncentrality it adds at n = 2000 is 16 at 20 steps per
   decade and 0.9 at 100, against 4.9 and 0.2 for the EXPONENTIAL scheme and none for the
   ancestral sampler.

KL cases (circle, plane, cloud under OU, T = 1): for Gaussians G in {reference N(0, I), moment
matched, twice its covariance, its mean shifted by 0.5 per coordinate}, KL(p_T || pi) from
:func:`theory.estimators.kl_to_prior` (closed form for the plane, Monte Carlo with common random
numbers otherwise). Prediction (exact, because E_p log G depends on p only through its first two
moments, which the moment-matched Gaussian MM shares with p_T):
KL(p_T || G) - KL(p_T || MM) = KL(MM || G) >= 0. Test per G: |measured gap - KL(MM || G)| <= z se
and gap > z se for G != MM (z for ALPHA / 3 two-sided, Bonferroni over the 3 gaps), se from the
paired differences on an independent forward sample of the same size; exact agreement to 1e-9 in
closed form. The Student-t prior (finite KL) and the point mass (no density: KL = inf) are reported.

Negative controls (each must come out REFUTED):

- ``sign error``: the exact score negated (circle, reference prior), judged against "lands at rate
  1/2" -- the particles are pushed off M (distance ~ 1/delta, slope about -1).
- ``uniform weights``: the cloud's point-mass hits judged against uniform frequencies (chi-square).
- ``wrong T``: the same hits judged against the posterior weights computed at 2T.
- ``mu instead of posterior``: the circle's point-mass sphere coordinates judged against mu itself
  (KS against draws of mu): "covers M" is not "distributed like mu".
- ``KL without alpha``: the moment-matched Gaussian without the alpha(T) factors,
  N(E X, Cov X + sigma^2 I), claimed KL-minimal: REFUTED when its measured gap over MM exceeds
  z se (z for ALPHA two-sided) on at least one of circle, plane, cloud (observed: on all three).

Verdicts. A sampling case is REFUTED if any test rejects (slope band excludes the rate, a cell
is missed although its predicted miss probability is < ALPHA, p-value < ALPHA), INCONCLUSIVE if
none rejects but one cannot decide (band contains the rate but does not clear FLAT_SLOPE, an
expected count < 5), CONFIRMED otherwise. A control uses the same rules against its wrong prediction.

Statistical budget (seed = the ``seed`` argument, all streams from ``np.random.SeedSequence(seed)``):
n = 2000 particles per delta for slopes (fast; 4000 full), n = 2000 for the law tests (8000 full),
m = 40000 reference draws (fast; 160000 full), 20000 forward samples per KL estimate (fast; 100000
full). Family-wise false-failure bound (Bonferroni) in fast: 18 law tests x 0.001 + 3 KL cases x
0.001 + 18 slope tests x 1e-4 + 18 coverage tests x 1e-6 < 0.025.

Figures: every sampling case carries ``LandingStudy.figure`` ({"kind": "loglog", "label",
"deltas", "levels", "predicted_slope", "fit": [slope, intercept]}). The hit-frequency controls carry
{"kind": "bars", "label", "categories": point indices, "observed": frequencies,
"predicted": the claim's probabilities, "wrong": the control's probabilities}.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from checks.common import (RATE_TOLERANCE, Case, CheckResult, Verdict, check_budget, combine_verdicts, finish,
                           finite_range_rate, fit_summary, judge_hits, judge_rate, landing_study)
from theory import perturbations as pert
from theory.claims import CLAIMS, Setting
from theory.estimators import kl_to_prior
from theory.measures.base import Measure
from theory.measures.pointcloud import PointCloud
from theory.measures.sphere import Sphere
from theory.measures.subspace import Subspace
from theory.priors import Gaussian, PointMass, Prior, StudentT
from theory.processes import OU, VE, VP, ForwardProcess
from theory.schemes import Ancestral, Exponential
from theory.simulator import reverse_sde
from theory.statistics import hit_frequencies

CLAIM = CLAIMS["C1"]

# Level of every distribution test (KS, chi-square, KL z-tests); see the module docstring.
ALPHA = 1e-3
# Steps per decade of the EXPONENTIAL-scheme runs that feed the law tests of the circle, sphere and
# plane (bias table in the docstring).
DIST_STEPS_PER_DECADE = {"fast": 100, "full": 200}
# Steps per decade of the cloud's law runs: the ancestral scheme samples the law exactly on any grid, so
# the count only sets the cost.
CLOUD_STEPS_PER_DECADE = 5
# Horizon of the OU cases: alpha(1)^2 = 0.135, so the priors differ from p_T (at T = 5 all would be ~ N(0, I)).
T_OU = 1.0
# Horizon of the VP cases: alpha(0.5) = 0.28 (B(0.5) = 2.54 for the default beta_min = 0.1, beta_max = 20);
# at T = 0.3 the point-mass posterior of the cloud puts < 1e-3 on three atoms (expected counts < 5).
T_VP = 0.5
# Horizon of the VE cases (full): sigma(T)^2 = 0.01^2 (5^(2 T) - 1) = 3.9 with sigma_max = 5 below.
T_VE = 0.7
# Deltas per process: sigma(t)^2 is linear in t to within 1% below 1e-2 (OU), 1e-4 (VP: the beta_max
# t^2 term), 1e-3 (VE: s(t)^2 grows like e^(17 t) with sigma_max = 5), so each range has a
# finite-range slope of sigma within 0.005 of 1/2.
DELTAS = {"fast": {"OU": (1e-2, 1e-3, 1e-4, 1e-5), "VP": (1e-4, 1e-5, 1e-6, 1e-7), "VE": (1e-3, 1e-4, 1e-5, 1e-6)},
          "full": {"OU": (1e-2, 1e-3, 1e-4, 1e-5, 1e-6), "VP": (1e-4, 1e-5, 1e-6, 1e-7, 1e-8),
                   "VE": (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)}}
# Early-stopping time of the law-test runs: sigma(delta) sqrt(d - k) is below 5% of the smallest scale
# of every design (radius, point spacing, tangent standard deviation).
DIST_DELTA = {"OU": 1e-3, "VP": 1e-4, "VE": 1e-4}
# Fixed seed of the measure designs (frames, point sets, start points): part of the setting, not noise.
DESIGN_SEED = 20220601
# Cells of the coverage partition of the circle (equal arcs).
CIRCLE_CELLS = 12
# Cells of the coverage partition of the plane (deciles of the predicted law of the first coordinate).
PLANE_CELLS = 10


@dataclass(frozen=True)
class _Budget:
    n_landing: int
    steps_per_decade: int
    n_law: int
    n_reference: int
    n_kl: int


_BUDGETS = {"fast": _Budget(n_landing=2000, steps_per_decade=10, n_law=2000, n_reference=40000, n_kl=20000),
            "full": _Budget(n_landing=4000, steps_per_decade=20, n_law=8000, n_reference=160000, n_kl=100000)}


# -- designs ----------------------------------------------------------------------------------

def _designs() -> dict[str, Measure]:
    rng = np.random.default_rng(DESIGN_SEED)
    frame5, _ = np.linalg.qr(rng.standard_normal((5, 3)))
    basis4, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    return {
        "circle": Sphere(k=1, d=3, radius=1.5, center=np.array([0.5, -0.3, 0.2])),
        "vmf-sphere": Sphere(k=2, d=5, frame=frame5, kappa=2.0, direction=np.array([0.0, 0.6, 0.8]),
                             center=np.array([0.3, 0.0, -0.4, 0.2, 0.0])),
        "plane": Subspace(k=2, d=4, basis=basis4, mean=np.array([0.4, -0.2, 0.3, 0.1]),
                          cov=np.array([[1.5, 0.4], [0.4, 0.6]])),
        "cloud": PointCloud(2.0 * rng.standard_normal((8, 3))),
    }


def _start_point(measure: Measure, T: float, process: ForwardProcess) -> np.ndarray:
    """The point-mass start y: alpha(T) E_mu X plus a fixed offset (0.5, 0.3, -0.2, ...) off the mean.

    Off the mean so that the posterior law(X_0 | X_T = y) is visibly not mu; close enough that every
    atom of the cloud keeps an expected count >= 5 at the fast n (checked, reported as min_expected).
    """
    offset = np.resize(np.array([0.5, 0.3, -0.2]), measure.d)
    return float(process.alpha(T)) * measure.moments()[0] + offset


def _priors(measure: Measure, T: float, process: ForwardProcess) -> dict[str, Prior | None]:
    return {"reference N(0,I)": None,
            "moment-matched": Gaussian.moment_matched(measure, T, process=process),
            "Student-t(df=2)": StudentT(measure.d, df=2.0),
            "point mass": PointMass(_start_point(measure, T, process))}


# -- the predicted law: the pi-mixture of posteriors ----------------------------------------

def _vmf_directions(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of vMF(m_i / |m_i|, |m_i|) on S^{p-1} per row of mean (shape (n, p), p = 2 or 3).

    p = 2: the von Mises angle (scipy.stats.vonmises); p = 3: the closed-form cosine
    w = 1 + log(U + (1 - U) e^{-2 kappa}) / kappa (inverse CDF of the density ~ e^{kappa w} on [-1, 1])
    and a uniform direction orthogonal to the mean.
    """
    n, p = mean.shape
    kappa = np.linalg.norm(mean, axis=1)
    if p == 2:
        angle = stats.vonmises.rvs(kappa, loc=np.arctan2(mean[:, 1], mean[:, 0]), size=n, random_state=rng)
        return np.column_stack([np.cos(angle), np.sin(angle)])
    if p != 3:
        raise ValueError(f"posterior sampling is implemented for circles and 2-spheres (p = 2, 3), got p = {p}")
    nu = mean / kappa[:, None]
    u = 1.0 - rng.random(n)  # in (0, 1]
    w = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa
    w = np.clip(w, -1.0, 1.0)
    g = rng.standard_normal((n, p))
    g -= np.einsum("ij,ij->i", g, nu)[:, None] * nu
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return w[:, None] * nu + np.sqrt(1.0 - w * w)[:, None] * g


def posterior_mixture(measure: Measure, prior: Prior, *, T: float, process: ForwardProcess, m: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Exact draws of the predicted output law: y ~ pi, then X_0 ~ law(X_0 | X_T = y).

    Sphere (CLAIMS.md §2): the posterior of the sphere coordinate is vMF with mean vector
    kappa nu + alpha r F^T (y - alpha c) / sigma^2, so X_0 = c + r F u. Subspace N(m0, B C B^T): the
    posterior of the tangent coordinate w is N(S (alpha / sigma^2) B^T (y - alpha m0), S) with
    S = (C^-1 + alpha^2 / sigma^2 I)^-1 (Gaussian conjugacy), X_0 = m0 + B w.
    Returns shape (m, d). PointCloud: use :func:`posterior_mixture_probabilities`.
    """
    alpha, var = float(process.alpha(T)), float(process.sigma2(T))
    y = prior.sample(m, rng)
    if isinstance(measure, Sphere):
        z = (y - alpha * measure.center) @ measure.frame
        mean = (alpha * measure.radius / var) * z
        if measure.kappa > 0.0:
            mean += measure.kappa * measure.direction
        return measure.center + measure.radius * (_vmf_directions(mean, rng) @ measure.frame.T)
    if isinstance(measure, Subspace):
        k = measure.k
        cov_post = np.linalg.inv(np.linalg.inv(measure.cov) + (alpha * alpha / var) * np.eye(k))
        w = ((alpha / var) * ((y - alpha * measure.mean) @ measure.basis)) @ cov_post
        w += rng.standard_normal((m, k)) @ np.linalg.cholesky(cov_post).T
        return measure.mean + w @ measure.basis.T
    raise TypeError(f"posterior_mixture needs a Sphere or Subspace, got {type(measure).__name__}")


def posterior_mixture_probabilities(measure: PointCloud, prior: Prior, *, T: float, process: ForwardProcess,
                                    m: int, rng: np.random.Generator) -> np.ndarray:
    """E_{y ~ pi}[P(X_0 = x_i | X_T = y)] over m prior draws (Rao-Blackwellized), shape (N,)."""
    probs = measure.posterior(T, prior.sample(m, rng), process=process).mean(axis=0)
    return probs / probs.sum()


# -- statistics on M --------------------------------------------------------------------------

def _coordinate(measure: Measure, x: np.ndarray) -> np.ndarray:
    """The 1-d law statistic: angle on S^1, first frame coordinate of the direction on S^2, first
    tangent coordinate on a subspace. x : (n, d) -> (n,)."""
    if isinstance(measure, Sphere):
        u = (x - measure.center) @ measure.frame
        if measure.k == 1:
            return np.arctan2(u[:, 1], u[:, 0])
        return u[:, 0] / np.linalg.norm(u, axis=1)
    return (x - measure.mean) @ measure.basis[:, 0]


def _cells(measure: Measure, x: np.ndarray, edges: np.ndarray | None) -> np.ndarray:
    """Cell index of each row of x in the coverage partition of M (module docstring)."""
    if isinstance(measure, PointCloud):
        return measure.nearest(x)[0]
    if isinstance(measure, Sphere):
        u = (x - measure.center) @ measure.frame
        if measure.k == 1:
            angle = np.arctan2(u[:, 1], u[:, 0])
            return np.minimum((angle + np.pi) // (2 * np.pi / CIRCLE_CELLS), CIRCLE_CELLS - 1).astype(np.intp)
        return ((u > 0) * (1 << np.arange(u.shape[1]))).sum(axis=1)
    return np.searchsorted(edges, _coordinate(measure, x))


def _n_cells(measure: Measure) -> int:
    if isinstance(measure, PointCloud):
        return measure.size
    if isinstance(measure, Sphere):
        return CIRCLE_CELLS if measure.k == 1 else 2 ** (measure.k + 1)
    return PLANE_CELLS


# -- verdict rules ----------------------------------------------------------------------------

def _judge_p(pvalue: float) -> Verdict:
    return Verdict.REFUTED if pvalue < ALPHA else Verdict.CONFIRMED


# -- one sampling case ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sampled:
    """What a sampling case keeps for the controls: the law-run samples and the reference."""

    samples: np.ndarray
    reference: np.ndarray | None
    probabilities: np.ndarray | None


def _sampling_case(name: str, measure: Measure, prior: Prior | None, process: ForwardProcess, T: float,
                   budget: str, seed_sequence: np.random.SeedSequence) -> tuple[Case, _Sampled]:
    plan = _BUDGETS[budget]
    kind = type(process).__name__
    setting = Setting(measure, prior=prior, T=T, process=process)
    prediction = CLAIM.predict(setting)
    deltas = DELTAS[budget][kind]
    s_landing, s_law, s_reference = seed_sequence.spawn(3)
    score = pert.ExactScore(measure, process=process)
    study = landing_study(score, measure, deltas=deltas, n=plan.n_landing, steps_per_decade=plan.steps_per_decade,
                          T=T, seed_sequence=s_landing, process=process, prior=prior)
    v_lands = judge_rate(study.fit, prediction.rate)

    delta = DIST_DELTA[kind]
    steps = int(np.ceil(DIST_STEPS_PER_DECADE[budget] * np.log10(T / delta)))
    law_prior = prior if prior is not None else Gaussian.reference(measure.d, T, process=process)
    if isinstance(measure, PointCloud):  # exact in law on any grid: draw X_0 from the posterior
        steps = int(np.ceil(CLOUD_STEPS_PER_DECADE * np.log10(T / delta)))
        scheme, sampler = Ancestral(), "exact score + ancestral scheme (exact in law)"
    else:
        scheme, sampler = Exponential(), "exact score + exponential scheme"
    samples = reverse_sde(score, d=measure.d, n=plan.n_law, T=T, delta=delta, steps=steps, process=process,
                          prior=law_prior, scheme=scheme, rng=np.random.default_rng(s_law)).samples
    ref_rng = np.random.default_rng(s_reference)
    measurement: dict[str, Any] = {"landing": fit_summary(study.fit),
                                   "law_run": {"n": plan.n_law, "delta": delta, "steps": steps, "sampler": sampler}}
    reference = probabilities = None
    if isinstance(measure, PointCloud):
        if prediction.hit_probabilities is not None:
            probabilities, source = prediction.hit_probabilities, "CLAIM.predict(...).hit_probabilities"
        else:
            probabilities = posterior_mixture_probabilities(measure, law_prior, T=T, process=process,
                                                            m=plan.n_reference, rng=ref_rng)
            source = f"E_pi[posterior(T, y)] over {plan.n_reference} prior draws"
        test = hit_frequencies(measure.nearest(samples)[0], probabilities)
        v_law = judge_hits(test, probabilities, ALPHA)
        cell_p = probabilities
        hits = test.counts
        measurement["law"] = {"test": "chi-square (hit_frequencies)", "chi2": test.chi2, "pvalue": test.pvalue,
                              "min_expected": test.min_expected, "alpha": ALPHA,
                              "observed": (test.counts / plan.n_law).tolist()}
        law_prediction = {"hit_probabilities": probabilities.tolist(), "source": source}
    else:
        reference = posterior_mixture(measure, law_prior, T=T, process=process, m=plan.n_reference, rng=ref_rng)
        ks = stats.ks_2samp(_coordinate(measure, samples), _coordinate(measure, reference))
        v_law = _judge_p(ks.pvalue)
        edges = None
        if isinstance(measure, Subspace):
            edges = np.quantile(_coordinate(measure, reference), np.arange(1, PLANE_CELLS) / PLANE_CELLS)
        n_cells = _n_cells(measure)
        cell_p = np.bincount(_cells(measure, reference, edges), minlength=n_cells) / len(reference)
        hits = np.bincount(_cells(measure, samples, edges), minlength=n_cells)
        measurement["law"] = {"test": "two-sample KS of the coordinate on M", "statistic": ks.statistic,
                              "pvalue": ks.pvalue, "alpha": ALPHA, "n_reference": plan.n_reference}
        law_prediction = {"law": "pi-mixture of posteriors law(X_0 | X_T = y)",
                          "reference": f"{plan.n_reference} exact draws (posterior_mixture)"}
    miss_probability = float(np.sum((1.0 - cell_p) ** plan.n_law))
    missed = int(np.sum((hits == 0) & (cell_p > 0)))
    if missed == 0:
        v_covers = Verdict.CONFIRMED
    else:
        v_covers = Verdict.REFUTED if miss_probability < ALPHA else Verdict.INCONCLUSIVE
    measurement["covers"] = {"cells": int(len(cell_p)), "cells_hit": int(np.sum(hits > 0)), "missed": missed,
                             "predicted_miss_probability": miss_probability}
    verdict = combine_verdicts([v_lands, v_covers, v_law])
    measurement["tests"] = {"lands": v_lands.value, "covers": v_covers.value, "law": v_law.value}
    case = Case(
        name=name, setting=setting.describe(),
        prediction={"lands": prediction.lands, "rate": prediction.rate, "rate_tolerance": RATE_TOLERANCE,
                    "finite_range_rate": finite_range_rate(process, deltas), "covers_all": prediction.covers_all,
                    "cell_probabilities": np.asarray(cell_p).tolist(), **law_prediction},
        measurement=measurement, verdict=verdict,
        figure=study.figure(f"{name}: RMS distance to M", prediction.rate))
    return case, _Sampled(samples=samples, reference=reference, probabilities=probabilities)


# -- KL cases ---------------------------------------------------------------------------------

def _gaussian_kl(p: Gaussian, q: Gaussian) -> float:
    """KL(N(m0, V0) || N(m1, V1)) in closed form."""
    inv = np.linalg.inv(q.cov)
    diff = q.mean - p.mean
    return float(0.5 * (np.trace(inv @ p.cov) + diff @ inv @ diff - p.d
                        + np.linalg.slogdet(q.cov)[1] - np.linalg.slogdet(p.cov)[1]))


def _kl_gaps(measure: Measure, gaussians: dict[str, Gaussian], mm: Gaussian, *, T: float, process: ForwardProcess,
             n: int, seed_sequence: np.random.SeedSequence) -> dict[str, dict[str, float]]:
    """Measured KL(p_T || G) - KL(p_T || MM) for each G (common random numbers), with se, and KL(MM || G)."""
    s_common, s_se = seed_sequence.spawn(2)
    kl_mm = kl_to_prior(measure, mm, T=T, process=process, n=n, rng=np.random.default_rng(s_common))
    rng_se = np.random.default_rng(s_se)
    xt = process.sample(measure.sample(n, rng_se), T, rng_se)
    out = {}
    for label, g in gaussians.items():
        kl = kl_to_prior(measure, g, T=T, process=process, n=n, rng=np.random.default_rng(s_common))
        closed = kl.se == 0.0 and kl_mm.se == 0.0
        diffs = mm.log_density(xt) - g.log_density(xt)
        out[label] = {"kl": kl.value, "kl_se": kl.se, "gap": kl.value - kl_mm.value,
                      "gap_se": 0.0 if closed else float(diffs.std(ddof=1) / np.sqrt(n)),
                      "predicted_gap": _gaussian_kl(mm, g), "method": kl.method}
    return out


def _judge_gap(entry: dict[str, float], z: float, *, positive: bool) -> Verdict:
    gap, se, pred = entry["gap"], entry["gap_se"], entry["predicted_gap"]
    if se == 0.0:
        ok = abs(gap - pred) <= 1e-9 * (1.0 + abs(pred)) and (gap > 0 or not positive)
        return Verdict.CONFIRMED if ok else Verdict.REFUTED
    if abs(gap - pred) > z * se or (positive and gap < -z * se):
        return Verdict.REFUTED
    if positive and gap <= z * se:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED


def _kl_case(name: str, measure: Measure, *, T: float, process: ForwardProcess, n: int,
             seed_sequence: np.random.SeedSequence) -> tuple[Case, dict[str, dict[str, float]]]:
    mm = Gaussian.moment_matched(measure, T, process=process)
    mean_e, cov_e = measure.moments()
    wrong = Gaussian(mean_e, cov_e + float(process.sigma2(T)) * np.eye(measure.d))
    gaussians = {"reference N(0,I)": Gaussian.reference(measure.d, T, process=process), "moment-matched": mm,
                 "MM, 2x covariance": Gaussian(mm.mean, 2.0 * mm.cov),
                 "MM, mean + 0.5": Gaussian(mm.mean + 0.5, mm.cov), "MM without alpha(T)": wrong}
    s_gap, s_t = seed_sequence.spawn(2)
    gaps = _kl_gaps(measure, gaussians, mm, T=T, process=process, n=n, seed_sequence=s_gap)
    z = float(stats.norm.ppf(1.0 - ALPHA / (2 * 3)))
    verdicts = {label: _judge_gap(gaps[label], z, positive=label != "moment-matched")
                for label in ("reference N(0,I)", "MM, 2x covariance", "MM, mean + 0.5")}
    verdicts["moment-matched"] = Verdict.CONFIRMED if abs(gaps["moment-matched"]["gap"]) == 0.0 else Verdict.REFUTED
    others = {}
    st = kl_to_prior(measure, StudentT(measure.d, df=2.0), T=T, process=process, n=n, rng=np.random.default_rng(s_t))
    others["Student-t(df=2)"] = {"kl": st.value, "kl_se": st.se, "method": st.method}
    try:
        kl_to_prior(measure, PointMass(_start_point(measure, T, process)), T=T, process=process, n=n,
                    rng=np.random.default_rng(s_t))
        others["point mass"] = {"kl": "finite (unexpected)"}
    except TypeError:
        others["point mass"] = {"kl": "inf", "method": "no Lebesgue density (kl_to_prior raises TypeError)"}
    setting = Setting(measure, T=T, process=process).describe().replace(", prior=reference Gaussian", "")
    case = Case(
        name=name, setting=setting + ", priors: Gaussians G, Student-t, point mass",
        prediction={"ordering": "KL(p_T||MM) <= KL(p_T||G) for every Gaussian G",
                    "gap": "KL(p_T||G) - KL(p_T||MM) = KL(MM||G)",
                    "predicted_gaps": {k: v["predicted_gap"] for k, v in gaps.items() if k != "MM without alpha(T)"},
                    "alpha": ALPHA, "z": z},
        measurement={"gaussians": {k: v for k, v in gaps.items() if k != "MM without alpha(T)"}, "others": others,
                     "tests": {k: v.value for k, v in verdicts.items()}},
        verdict=combine_verdicts(list(verdicts.values())))
    return case, gaps


# -- controls ---------------------------------------------------------------------------------

def _bars(label: str, counts: np.ndarray, predicted: np.ndarray, wrong: np.ndarray) -> dict[str, Any]:
    return {"kind": "bars", "label": label, "categories": list(range(len(counts))),
            "observed": (counts / counts.sum()).tolist(), "predicted": predicted.tolist(), "wrong": wrong.tolist()}


def _hit_control(name: str, description: str, cloud: PointCloud, sampled: _Sampled, wrong: np.ndarray,
                 setting: str) -> Case:
    test = hit_frequencies(cloud.nearest(sampled.samples)[0], wrong)
    return Case(name=name, setting=setting, control=True,
                prediction={"hit_probabilities": wrong.tolist(), "wrong_because": description},
                measurement={"chi2": test.chi2, "pvalue": test.pvalue, "alpha": ALPHA,
                             "min_expected": test.min_expected, "n": int(test.counts.sum())},
                verdict=judge_hits(test, wrong, ALPHA),
                figure=_bars(name, test.counts, sampled.probabilities, wrong))


def run(*, seed: int, budget: str = "fast") -> CheckResult:
    """Run the C1 check (module docstring): cases, controls, verdicts."""
    started = time.perf_counter()
    budget = check_budget(budget)
    plan = _BUDGETS[budget]
    designs = _designs()
    ou, vp = OU(), VP()
    grid = [(f"{mname} / {pname}", mname, prior, ou, T_OU)
            for mname in designs for pname, prior in _priors(designs[mname], T_OU, ou).items()]
    grid += [("cloud / point mass / VP", "cloud", PointMass(_start_point(designs["cloud"], T_VP, vp)), vp, T_VP),
             ("circle / Student-t(df=2) / VP", "circle", StudentT(3, df=2.0), vp, T_VP)]
    if budget == "full":
        ve = VE(sigma_max=5.0)
        grid += [("plane / point mass / VE", "plane", PointMass(_start_point(designs["plane"], T_VE, ve)), ve, T_VE),
                 ("vmf-sphere / moment-matched / VE", "vmf-sphere",
                  Gaussian.moment_matched(designs["vmf-sphere"], T_VE, process=ve), ve, T_VE)]
    kl_names = ("circle", "plane", "cloud")
    streams = iter(np.random.SeedSequence(seed).spawn(len(grid) + len(kl_names) + 2))
    cases, kept = [], {}
    for name, mname, prior, process, T in grid:
        case, sampled = _sampling_case(name, designs[mname], prior, process, T, budget, next(streams))
        cases.append(case)
        kept[name] = sampled
    kl_gaps = {}
    for mname in kl_names:
        case, gaps = _kl_case(f"{mname} / KL ordering", designs[mname], T=T_OU, process=ou, n=plan.n_kl,
                              seed_sequence=next(streams))
        cases.append(case)
        kl_gaps[mname] = gaps

    # Controls.
    circle, cloud = designs["circle"], designs["cloud"]
    neg = lambda t, x: -circle.score(t, x, process=ou)  # noqa: E731 - the sign error under test
    study = landing_study(neg, circle, deltas=DELTAS[budget]["OU"], n=plan.n_landing,
                          steps_per_decade=plan.steps_per_decade, T=T_OU, seed_sequence=next(streams), process=ou)
    cases.append(Case(name="control: sign error in the score", control=True,
                      setting=Setting(circle, T=T_OU, process=ou).describe().replace("error=exact", "error=-score"),
                      prediction={"lands": True, "rate": 0.5, "rate_tolerance": RATE_TOLERANCE,
                                  "wrong_because": "s = -grad log p_t pushes particles off M"},
                      measurement={"landing": fit_summary(study.fit)}, verdict=judge_rate(study.fit, 0.5),
                      figure=study.figure("sign error: RMS distance to M", 0.5)))
    pm_name = "cloud / point mass"
    y = _start_point(cloud, T_OU, ou)
    pm_setting = Setting(cloud, prior=PointMass(y), T=T_OU, process=ou).describe()
    cases.append(_hit_control("control: uniform weights for a point-mass start",
                              "uniform weights ignore the posterior given X_T = y", cloud, kept[pm_name],
                              cloud.weights.copy(), pm_setting))
    wrong_t = cloud.posterior(2 * T_OU, y[None, :], process=ou)[0]
    cases.append(_hit_control("control: posterior weights computed at 2T", "weights w_i N(y; alpha(2T) x_i, "
                              "sigma(2T)^2 I) instead of T", cloud, kept[pm_name], wrong_t, pm_setting))
    circ = kept["circle / point mass"]
    mu_draws = circle.sample(len(circ.reference), np.random.default_rng(next(streams)))
    ks = stats.ks_2samp(_coordinate(circle, circ.samples), _coordinate(circle, mu_draws))
    cases.append(Case(name="control: mu instead of the posterior mixture", control=True,
                      setting=Setting(circle, prior=PointMass(_start_point(circle, T_OU, ou)), T=T_OU,
                                      process=ou).describe(),
                      prediction={"law": "mu (uniform on the circle)", "wrong_because": "the output law is the "
                                  "posterior given X_T = y, not mu"},
                      measurement={"ks_statistic": ks.statistic, "pvalue": ks.pvalue, "alpha": ALPHA},
                      verdict=_judge_p(ks.pvalue)))
    z = float(stats.norm.ppf(1.0 - ALPHA / 2))
    entries = {m: kl_gaps[m]["MM without alpha(T)"] for m in kl_names}
    refuted = [m for m, e in entries.items() if e["gap"] - z * e["gap_se"] > 0]
    cases.append(Case(name="control: moment matching without alpha(T) is KL-minimal", control=True,
                      setting="circle, plane, cloud; OU, T=1; G = N(E X, Cov X + sigma(T)^2 I)",
                      prediction={"gap": "KL(p_T||G) - KL(p_T||MM) <= 0",
                                  "wrong_because": "the moments of p_T carry alpha(T) and alpha(T)^2"},
                      measurement={m: {"gap": e["gap"], "gap_se": e["gap_se"], "predicted_gap": e["predicted_gap"]}
                                   for m, e in entries.items()} | {"z": z},
                      verdict=Verdict.REFUTED if refuted else Verdict.INCONCLUSIVE))
    return finish(CLAIM, budget=budget, seed=seed, cases=cases, started=started)
