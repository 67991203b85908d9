"""Check of claim C3 (memorization): with the empirical measure of N training points, the exact score
and every L2-error score output training points only, and every point is hit.

CLAIMS.md C3 (Pidstrigach 2022, arXiv:2206.01018, formalized as): the nearest-training-point distance of
the output tends to 0 like sigma(delta) (RMS slope 1/2 in delta), every training point is hit with
positive frequency, and with the exact score, the exact prior p_T and uniform weights the
frequencies are uniform.

What is run
-----------
Training sets (fixed designs from DESIGN_SEED, the same for every seed; only the sampling noise
depends on ``seed``): ``grid2d`` (15 points, a jittered 5 x 3 grid of spacing 1.2 in R^2: the
scatter figure), ``cluster3`` (10 points in R^3), ``gauss8`` (20 points in R^8), ``gauss16`` (40
points in R^16; 50 in full) and ``digits`` (:func:`theory.datasets.digits`: a random subset of 50
images in R^64 in fast, all 1797 in full). Processes: OU (T = 2), VP (T = 0.5), VE (sigma_max = 5,
T = 0.7). Prior: ``ExactMarginal`` (pi = p_T exactly, so the predicted frequencies are the weights).
Scores: the exact score on every set; the L2-error scores BoundedConstant (b = (0.25, -0.25)) on
grid2d and NormalOffset (e = c t^-a v with a = 0.25 < 1/2, c = 0.5, v = e_1; for a PointCloud the
normal space is all of R^d, so the direction is the fixed v) on gauss8. Each setting gets
``CLAIM.predict`` before simulating.

Tests per case (all must pass for CONFIRMED):

1. *memorizes* -- :func:`checks.common.landing_study` with the nearest-training distance
   (PointCloud.distance) at 4 deltas over 3 decades (fast; 5 over 4 in full), RMS statistic, slope
   with its 99% bootstrap band (alpha = 0.01). Predicted rate 1/2: the band must clear FLAT_SLOPE and
   contain 1/2 within RATE_TOLERANCE = 0.02 (budget in :mod:`checks.c1_prior`; the deltas are chosen
   so that sigma(delta) sqrt(d) stays below a third of the nearest-neighbour spacing, and the
   finite-range slope of sigma is reported). Also reported: RMS / sigma(delta) (about sqrt(d)).
2. *every point hit* -- in a separate run down to one small delta, n = max(1000, 20 N) particles
   (max(4000, 15 N) in full), each sample's nearest training point; every point must be hit. This
   run samples the exact score's reverse SDE exactly in law: the ancestral scheme
   (:class:`theory.schemes.Ancestral`), which draws X_0 from the posterior instead of freezing its
   mean, so the step is the exact reverse transition at any step size (5 steps per decade). The
   default scheme with the exact score biases the frequencies on coarse grids (see
   :mod:`theory.schemes`). With an L2 error no frequencies are predicted, and the landing run's
   samples at the smallest delta are used instead.
3. *uniform frequencies* (exact score only) -- chi-square of the nearest-point counts against the
   predicted ``hit_probabilities`` (uniform) via :func:`theory.statistics.hit_frequencies`, level
   ALPHA = 0.001, every expected count >= 5 (else INCONCLUSIVE).

Negative controls (each must come out REFUTED):

- ``smoothed score``: Smoothed(h = 0.1) (the score of p_{t+h}, a kernel density estimate) on grid2d,
  judged against C3's prediction "memorizes at rate 1/2": its distance plateaus (slope ~ 0).
- ``wrong frequencies``: the exact-score hits of grid2d judged against p_i ~ 1 + i (non-uniform);
  and the digits' hits judged against p_i ~ 1 + (i mod 2).

Verdict rules: as in :mod:`checks.c1_prior` (REFUTED if a test rejects: band excludes the rate, a
point never hit, p < ALPHA; INCONCLUSIVE if undecidable; CONFIRMED otherwise).

Statistical budget (seed = ``seed``; streams from ``np.random.SeedSequence(seed)``): n = 1000
particles per delta for slopes (4000 full), n = max(1000, 20 N) for the hits (max(4000, 15 N) full).
Family-wise false-failure bound (Bonferroni) in fast: 5 chi-square tests x 0.001 + 7 slope tests x
1e-4 (see c1_prior) + 7 all-hit tests (the smallest expected count is 20 for the exact score and 18
for the L2 errors, measured once at n = 1e5 since their frequencies are not predicted, so
P(a point missed) <= N e^-18 < 1e-6) < 0.006.

Figures: every case carries ``LandingStudy.figure`` ({"kind": "loglog", "label", "deltas", "levels",
"predicted_slope", "fit"}) except ``grid2d / exact``, which carries the report writer's scatter
{"kind": "scatter", "label", "train": [[x, y], ...], "samples": [[x, y], ...]} (at most 600 outputs
of the hit run against the training points: memorized).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from checks.common import (RATE_TOLERANCE, Case, CheckResult, Verdict, check_budget, combine_verdicts, finish,
                           finite_range_rate, fit_summary, judge_hits, judge_rate, landing_study)
from theory import perturbations as pert
from theory.claims import CLAIMS, ErrorSpec, Setting
from theory.datasets import digits
from theory.measures.pointcloud import PointCloud
from theory.priors import ExactMarginal
from theory.processes import OU, VE, VP, ForwardProcess
from theory.schemes import Ancestral
from theory.simulator import reverse_sde
from theory.statistics import hit_frequencies

CLAIM = CLAIMS["C3"]

# Level of every chi-square test.
ALPHA = 1e-3
# Steps per decade of the hit runs. They sample the law exactly on any grid (the ancestral scheme), so the
# count only sets the cost. (The EXPONENTIAL scheme used before needed 100 per decade and still left
# a chi-square noncentrality of about 0.2 at n = 2000; its full digits run took 8 minutes.)
HIT_STEPS_PER_DECADE = {"fast": 5, "full": 5}
# Fixed seed of the training-set designs: part of the setting, not of the noise.
DESIGN_SEED = 20220602
# Horizons: OU T = 2 (alpha^2 = 0.018), VP T = 0.5 (alpha = 0.28), VE T = 0.7 (sigma(T)^2 = 0.6).
T_OU, T_VP, T_VE = 2.0, 0.5, 0.7
# Smoothing of the negative control: h = 0.1 puts sigma(h) sqrt(2) = 0.6, half the grid spacing.
SMOOTHING_H = 0.1
# The constant error b of the bounded case. It tilts the frequencies (smallest 0.018, largest 0.17
# against the uniform 0.067; n = 1e5, EXPONENTIAL scheme, 100 steps per decade) but keeps every point:
# with the 1000 landing samples the expected smallest count is 18, so P(a point missed) <= 15 e^-18.
# (b = (0.5, -0.5) starves a corner to 0.0039: 3.9 expected hits, missed in 3 of 50 seeds.)
BOUNDED_B = (0.25, -0.25)
# Size c of the normal offset c t^-a v: its mean displacement (2c/a) t^(1-a) is then 0.32 sigma sqrt(d)
# at delta = 1e-2 (0.64 at c = 1, which tilts the slope over 1e-5 .. 1e-2 by about +0.01).
OFFSET_C = 0.5
# Particles per training point in the hit runs: every point must be hit, and with expected count c
# per point P(some point missed) <= N e^-c: 50 e^-20 (fast) and, for the 1797 digits of full,
# 1797 e^-15 = 5.5e-4 (at 5 per point, Cochran's minimum for the chi-square, misses are certain).
HITS_PER_POINT = {"fast": 20, "full": 15}
# Digits images in the fast budget (all 1797 in full): the W2 cost of the 64-dim score dominates.
DIGITS_FAST_SUBSET = 50


@dataclass(frozen=True)
class _Budget:
    n_landing: int
    steps_per_decade: int
    n_hits_min: int  # a hit run has max(n_hits_min, HITS_PER_POINT[budget] N) particles
    decades: int


# 20 steps per decade in fast: at 10 the POSTERIOR scheme over-disperses the grid2d outputs at the
# largest delta (RMS / sigma 1.48 against the exact 1.42 of p_delta, n = 1e5), a slope bias of 0.006;
# at 20 it is 1.45 (bias 0.003), inside the discretization share of RATE_TOLERANCE.
_BUDGETS = {"fast": _Budget(n_landing=1000, steps_per_decade=20, n_hits_min=1000, decades=3),
            "full": _Budget(n_landing=4000, steps_per_decade=40, n_hits_min=4000, decades=4)}


@dataclass(frozen=True)
class _Design:
    """A training set with its process, horizon, largest delta and hit-run delta."""

    cloud: PointCloud
    process: ForwardProcess
    T: float
    delta_max: float  # sigma(delta_max) sqrt(d) < nearest spacing / 3; sigma^2 linear in t to 1% below it
    delta_hits: float


def _designs(budget: str) -> dict[str, _Design]:
    rng = np.random.default_rng(DESIGN_SEED)
    grid = np.array([[i, j] for i in range(-2, 3) for j in range(-1, 2)], dtype=np.float64)
    grid2d = PointCloud(1.2 * grid + 0.15 * rng.standard_normal(grid.shape))
    cluster3 = PointCloud(1.5 * rng.standard_normal((10, 3)))
    gauss8 = PointCloud(1.5 * rng.standard_normal((20, 8)))
    gauss16 = PointCloud(1.2 * rng.standard_normal((50 if budget == "full" else 40, 16)))
    images = digits().points
    if budget == "fast":
        images = images[np.sort(rng.choice(len(images), size=DIGITS_FAST_SUBSET, replace=False))]
    return {"grid2d": _Design(grid2d, OU(), T_OU, 1e-2, 1e-3),
            "cluster3": _Design(cluster3, VP(), T_VP, 1e-4, 1e-4),
            "gauss8": _Design(gauss8, VE(sigma_max=5.0), T_VE, 1e-3, 1e-4),
            "gauss16": _Design(gauss16, OU(), T_OU, 1e-2, 1e-3),
            "digits": _Design(PointCloud(images), OU(), T_OU, 1e-4, 1e-4)}


def _deltas(design: _Design, budget: str) -> tuple[float, ...]:
    return tuple(design.delta_max * 10.0 ** -j for j in range(_BUDGETS[budget].decades + 1))


def _hit_samples(score, design: _Design, n: int, budget: str,
                 seed_sequence: np.random.SeedSequence) -> tuple[np.ndarray, dict[str, Any]]:
    """Outputs of the exact-score reverse SDE at delta_hits, exact in law (ancestral sampling)."""
    if not isinstance(score, pert.ExactScore):  # frequencies are predicted for the exact score only
        raise TypeError(f"the hit run samples the exact score's law, got {type(score).__name__}")
    steps = int(np.ceil(HIT_STEPS_PER_DECADE[budget] * np.log10(design.T / design.delta_hits)))
    res = reverse_sde(score, d=design.cloud.d, n=n, T=design.T, delta=design.delta_hits, steps=steps,
                      process=design.process, prior=ExactMarginal(design.cloud, design.T, process=design.process),
                      scheme=Ancestral(), rng=np.random.default_rng(seed_sequence))
    return res.samples, {"n": n, "delta": design.delta_hits, "steps": steps,
                         "sampler": "exact score + ancestral scheme (exact in law)"}


def _offset_finite_range_rate(score: pert.NormalOffset, process: ForwardProcess, deltas, d: int) -> float:
    """Slope over the deltas of sqrt(d sigma^2 + m^2), m = (g0 c / a) t^(1 - a): the offset's mean
    displacement (leading order, CLAIMS.md C6 / theory.symbolic) added to the noise. Above 1/2 at a finite
    range because m decays faster than sigma (1 - a > 1/2) but is not yet negligible at the largest
    delta. An upper estimate: the homogeneous part A t of the mean (A < 0 when m starts near 0 at
    t ~ 1) lowers m at the largest delta (measured at c = 1: 0.509 against this 0.522)."""
    deltas = np.asarray(deltas, dtype=np.float64)
    g0 = float(process.g2(0.0))
    m = (g0 * score.c / score.a) * deltas ** (1.0 - score.a)
    return float(np.polyfit(np.log(deltas), 0.5 * np.log(d * process.sigma2(deltas) + m * m), 1)[0])


def _scatter(label: str, train: np.ndarray, samples: np.ndarray, limit: int = 600) -> dict[str, Any]:
    """The report writer's scatter figure: training points and (at most ``limit``) output samples."""
    return {"kind": "scatter", "label": label, "train": train.tolist(), "samples": samples[:limit].tolist()}


def _case(name: str, design: _Design, score, budget: str, seed_sequence: np.random.SeedSequence,
          *, scatter: bool = False) -> tuple[Case, np.ndarray]:
    plan = _BUDGETS[budget]
    cloud, process, T = design.cloud, design.process, design.T
    prior = ExactMarginal(cloud, T, process=process)
    setting = Setting(cloud, error=ErrorSpec.of(score), prior=prior, T=T, process=process)
    prediction = CLAIM.predict(setting)
    deltas = _deltas(design, budget)
    s_landing, s_hits = seed_sequence.spawn(2)
    study = landing_study(score, cloud, deltas=deltas, n=plan.n_landing, steps_per_decade=plan.steps_per_decade,
                          T=T, seed_sequence=s_landing, process=process, prior=prior, keep_samples=True)
    v_lands = judge_rate(study.fit, prediction.rate)
    if prediction.hit_probabilities is not None:
        n_hits = max(plan.n_hits_min, HITS_PER_POINT[budget] * cloud.size)
        samples, run_info = _hit_samples(score, design, n_hits, budget, s_hits)
    else:  # no frequencies predicted: "every point hit" needs no accurate law, the landing run will do
        samples = study.samples[-1]
        run_info = {"n": len(samples), "delta": float(study.deltas[-1]), "from": "the landing run"}
    index = cloud.nearest(samples)[0]
    counts = np.bincount(index, minlength=cloud.size)
    if prediction.hit_probabilities is None:  # shown, not judged: an L2 error may change the frequencies
        run_info["frequencies_vs_uniform_pvalue"] = hit_frequencies(index, cloud.weights).pvalue
    v_all = Verdict.CONFIRMED if np.all(counts > 0) else Verdict.REFUTED
    measurement: dict[str, Any] = {
        "landing": fit_summary(study.fit),
        "rms_over_sigma": (study.fit.levels / study.sigmas).tolist(),
        "hits_run": run_info, "points_hit": int(np.sum(counts > 0)), "points": cloud.size,
        "min_count": int(counts.min())}
    verdicts = {"memorizes": v_lands, "every point hit": v_all}
    pred: dict[str, Any] = {"memorizes": prediction.memorizes, "rate": prediction.rate,
                            "rate_tolerance": RATE_TOLERANCE, "finite_range_rate": finite_range_rate(process, deltas),
                            "covers_all": prediction.covers_all, "rms_over_sigma_about": float(np.sqrt(cloud.d))}
    if prediction.hit_probabilities is not None:
        test = hit_frequencies(index, prediction.hit_probabilities)
        verdicts["frequencies"] = judge_hits(test, prediction.hit_probabilities, ALPHA)
        measurement["frequencies"] = {"chi2": test.chi2, "pvalue": test.pvalue, "alpha": ALPHA,
                                      "min_expected": test.min_expected, "dof": cloud.size - 1}
        pred["hit_probabilities"] = "uniform: 1/N each" if np.ptp(prediction.hit_probabilities) == 0 \
            else prediction.hit_probabilities.tolist()
    if isinstance(score, pert.NormalOffset):
        pred["offset_mean_leading"] = "m ~ (g0 c / a) t^(1 - a) (theory.symbolic.boundary_prediction)"
        pred["finite_range_rate_with_offset_upper"] = _offset_finite_range_rate(score, process, deltas, cloud.d)
    measurement["tests"] = {k: v.value for k, v in verdicts.items()}
    figure = study.figure(f"{name}: RMS nearest-training distance", prediction.rate)
    if scatter:
        figure = _scatter(f"exact score: memorized (delta={design.delta_hits:g})", cloud.points, samples)
    case = Case(name=name, setting=setting.describe() + f", N={cloud.size}", prediction=pred,
                measurement=measurement, verdict=combine_verdicts(list(verdicts.values())), figure=figure)
    return case, index


def _wrong_frequency_control(name: str, cloud: PointCloud, index: np.ndarray, wrong: np.ndarray,
                             description: str) -> Case:
    wrong = wrong / wrong.sum()
    test = hit_frequencies(index, wrong)
    return Case(name=name, setting=f"the exact-score hits of {name.split(': ')[-1]} (N={cloud.size})", control=True,
                prediction={"hit_probabilities": description, "wrong_because": "exact score, p_T prior and "
                            "uniform weights give uniform frequencies"},
                measurement={"chi2": test.chi2, "pvalue": test.pvalue, "alpha": ALPHA,
                             "min_expected": test.min_expected, "n": int(test.counts.sum())},
                verdict=judge_hits(test, wrong, ALPHA))


def run(*, seed: int, budget: str = "fast") -> CheckResult:
    """Run the C3 check (module docstring): cases, controls, verdicts."""
    started = time.perf_counter()
    budget = check_budget(budget)
    plan = _BUDGETS[budget]
    designs = _designs(budget)

    def exact(name: str):
        return pert.ExactScore(designs[name].cloud, process=designs[name].process)

    g8 = designs["gauss8"].cloud
    offset_design = _Design(g8, OU(), T_OU, 1e-2, 1e-3)
    specs = [("grid2d / exact", designs["grid2d"], exact("grid2d")),
             ("cluster3 / exact / VP", designs["cluster3"], exact("cluster3")),
             ("gauss8 / exact / VE", designs["gauss8"], exact("gauss8")),
             ("gauss16 / exact", designs["gauss16"], exact("gauss16")),
             ("digits / exact", designs["digits"], exact("digits")),
             ("grid2d / bounded constant (L2 error)", designs["grid2d"],
              pert.BoundedConstant(exact("grid2d"), np.array(BOUNDED_B))),
             ("gauss8 / normal offset a=0.25 (L2 error)", offset_design,
              pert.NormalOffset(pert.ExactScore(g8, process=OU()), g8, np.eye(8)[0], OFFSET_C, 0.25))]
    streams = iter(np.random.SeedSequence(seed).spawn(len(specs) + 1))
    cases, indices = [], {}
    for name, design, score in specs:
        case, index = _case(name, design, score, budget, next(streams), scatter=name == "grid2d / exact")
        cases.append(case)
        indices[name] = index

    # Controls.
    grid = designs["grid2d"]
    smoothed = pert.Smoothed(grid.cloud, SMOOTHING_H, process=grid.process)
    setting = Setting(grid.cloud, error=ErrorSpec.of(smoothed), prior=ExactMarginal(grid.cloud, grid.T), T=grid.T,
                      process=grid.process)
    study = landing_study(smoothed, grid.cloud, deltas=_deltas(grid, budget), n=plan.n_landing,
                          steps_per_decade=plan.steps_per_decade, T=grid.T, seed_sequence=next(streams),
                          process=grid.process, prior=ExactMarginal(grid.cloud, grid.T))
    cases.append(Case(name="control: smoothed score judged as memorizing", setting=setting.describe(), control=True,
                      prediction={"memorizes": True, "rate": 0.5, "rate_tolerance": RATE_TOLERANCE,
                                  "wrong_because": "the smoothed error is not L2 (C7): its outputs are novel",
                                  "claim_covers_setting": CLAIM.predict(setting).covered},
                      measurement={"landing": fit_summary(study.fit)}, verdict=judge_rate(study.fit, 0.5),
                      figure=study.figure("smoothed score: RMS nearest-training distance", 0.5)))
    n_grid = grid.cloud.size
    cases.append(_wrong_frequency_control("control: wrong frequencies: grid2d", grid.cloud,
                                          indices["grid2d / exact"], 1.0 + np.arange(n_grid, dtype=np.float64),
                                          "p_i ~ 1 + i"))
    dig = designs["digits"].cloud
    cases.append(_wrong_frequency_control("control: wrong frequencies: digits", dig, indices["digits / exact"],
                                          1.0 + (np.arange(dig.size) % 2).astype(np.float64), "p_i ~ 1 + (i mod 2)"))
    return finish(CLAIM, budget=budget, seed=seed, cases=cases, started=started)
