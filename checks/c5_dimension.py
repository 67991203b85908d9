"""C5: the explosion rate of the exact score encodes the dimension of M.

Prediction (``CLAIMS["C5"].predict``): sigma(t)^2 E_fwd |grad log p_t(X_t)|^2 -> d - k as t -> 0
(for a mixture: the weight-averaged codimension sum_j w_j (d - k_j)); and near a point of M the
scores span the (d - k)-dimensional normal space (a *local* statement: for a mixture of a circle
and a point, d - 1 near the circle and d near the point).

Measurement, for the exact score of each measure and process:

- codimension (:func:`theory.estimators.codimension`): sigma(t)^2 |s(t, X_t)|^2 averaged over n
  fresh forward samples at ``len(SIGMA2_NODES)`` times with sigma(t)^2 geometric in
  [1e-4, 1e-2] (the times are found per process by inverting sigma^2), extrapolated to
  sigma^2 = 0 by a weighted linear fit in sigma^2, with the fit's standard error ``limit_se``;
- normal rank (:func:`theory.estimators.normal_rank`; compare Stanczuk et al. 2022,
  arXiv:2212.12611): the position of the largest gap of the log singular values of n scores at
  X_t = alpha(t) x0 + sigma(t) Z, x0 a point of M, at the t with sigma(t)^2 = ``RANK_SIGMA2``.

Measures: the spheres Sphere(1, 2), Sphere(1, 3), Sphere(2, 5), Sphere(3, 6), Sphere(4, 5)
(d - k = 1, 2, 3, 3, 1), a von Mises-Fisher Sphere(2, 4) (kappa = 4: a non-uniform law on M),
Subspace(2, 5) (3; the exact value is (d - k) + k sigma^2 / (alpha^2 + sigma^2), linear in sigma^2
under OU), the flat torus Product((Sphere(1, 2), Sphere(1, 2))) (k = 2, d = 4) and a rotated torus
with radii 1.5 (shifted center) and 0.7, a PointCloud of 5 points in R^3 (k = 0), and the mixture
(1/2, 1/2) of the circle Sphere(1, 3) and the point (0, 0, 3) (global codimension 2.5; local ranks
2 near the circle and 3 near the point). The full budget adds the digits data set (k = 0, d = 64).
Processes: OU, VP, VE (every measure under every process).

Verdict of a case: CONFIRMED iff |limit - (d - k)| <= z limit_se + ``EXTRAPOLATION_BIAS`` and every
normal rank equals its prediction exactly; REFUTED if either fails. ``EXTRAPOLATION_BIAS`` = 0.01
bounds the error of the linear extrapolation (the sigma^4 and higher terms of sigma^2 E|s|^2 on
[1e-4, 1e-2]; exactly 0 for the Subspace under OU): measured once with n = 2 x 10^5 per node (digits:
2 x 10^4) for every measure and process, |limit - (d - k)| <= 0.0064, at most 2.3 standard errors
in 36 estimates, i.e. no bias detectable at the 0.003 level (0.04 for digits).

Statistics: family-wise alpha = ``ALPHA`` = 0.01, Bonferroni over the codimension tests of the
check (cases and controls): z = Phi^-1(1 - alpha / (2 m)). n = 4000 forward samples per node
(fast; limit_se ~ 0.02), 40000 (full). The rank decisions are exact comparisons; the singular-value
gap (log(1/sigma) ~ 4.6 between the normal and the tangent singular values) makes a wrong rank a
vanishing-probability event (0 in the 50-seed run). Seeds: every estimate draws from
``np.random.SeedSequence(seed).spawn``; the fast check was run for seeds 0..49 with 0 wrong
verdicts (tests/test_check_c5_c6.py).

Negative controls (each judged against the true measure's prediction, as if C5's hypothesis, the
exact score, held; each must be REFUTED), on Sphere(2, 5) under OU (d - k = 3):

- the estimator without the sigma^2 factor, E|s|^2 (fed to the estimator as s / sigma(t), so that
  sigma^2 |s / sigma|^2 = |s|^2 exactly): explodes like (d - k)/sigma^2;
- the estimator with sigma instead of sigma^2 (s / sigma(t)^(1/2)): explodes like (d - k)/sigma;
- the clipped score |s| <= 30 (:class:`theory.perturbations.Clipped`, C4's bounded drift):
  sigma^2 E|s|^2 <= 900 sigma^2 -> 0;
- half the exact score: sigma^2 E|s/2|^2 -> (d - k)/4 (the record says whether the limit matches
  (d - k)/4 within the same tolerance);
- a manifold-blind score, that of the moment-matched Gaussian (it lives on the sphere's 3-dim span,
  not on the sphere): codimension 2 instead of 3. Its normal rank is recorded but not judged: the
  estimator's uncentred score matrix has a constant row -S^-1 (alpha x0 - m) of size ~3 besides the
  two off-span directions of size 1/sigma, so the largest log-gap comes after 3 singular values and
  the rank reads 3 for the wrong reason (a limitation of the rank estimator worth knowing);
- a smoothed score, the score of p_(t+h) with h = 0.1 (:class:`theory.perturbations.Smoothed`, C7):
  no explosion (codimension -> 0) and one dominant direction (rank 1, not 3); both are judged.

The normal rank is invariant under rescaling the score, so the first four controls cannot move it;
it is judged where the score's *directions* change (the smoothed score).

Figure per case: {"kind": "codim", "label": str, "t": [times], "value": [sigma^2 E|s|^2],
"sem": [standard errors], "predicted": d - k (weight-averaged for the mixture), "sigma2":
[sigma(t)^2], "limit": [value, se]}.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.linalg import expm

from checks.common import Case, Verdict, check_budget, finish
from theory.claims import CLAIMS, ErrorSpec, Setting
from theory.datasets import digits
from theory.estimators import CodimensionEstimate, codimension, normal_rank
from theory.measures.base import Measure
from theory.measures.mixture import Mixture
from theory.measures.pointcloud import PointCloud
from theory.measures.product import Product
from theory.measures.sphere import Sphere
from theory.measures.subspace import Subspace
from theory.perturbations import Clipped, ExactScore, ScoreFn, Smoothed
from theory.processes import OU, VE, VP, ForwardProcess

CLAIM = CLAIMS["C5"]
# The seed of the tests and of the report (any seed works: see the 50-seed run in the docstring).
DEFAULT_SEED = 20220601

# Family-wise false-failure rate of the check (Bonferroni over its codimension tests).
ALPHA = 0.01
# sigma(t)^2 at the codimension nodes: small enough that the sigma^4 terms are negligible
# (EXTRAPOLATION_BIAS), large enough that the nodes span two decades for the linear fit.
SIGMA2_NODES = tuple(np.geomspace(1e-4, 1e-2, 6))
# Bound on the error of the linear extrapolation to sigma^2 = 0 (module docstring).
EXTRAPOLATION_BIAS = 0.01
# sigma(t)^2 at which the normal rank is read: normal singular values ~ 1/sigma = 100 against
# tangent ones ~ 1, a gap of log(100) = 4.6 against the estimator's threshold log(10).
RANK_SIGMA2 = 1e-4
# Scores per normal-rank estimate (the estimator's default).
RANK_SAMPLES = 500
# Norm bound of the clipped-score control: most scores are clipped at every node (|s| ~ sqrt(3)/sigma
# = 173 at sigma^2 = 1e-4), but about 1% stay unclipped there, so no node has zero variance: with
# every score at norm exactly C, theory.estimators.codimension's inverse-variance fit divides by a
# zero standard error and fails (LinAlgError; reported to the lead, not worked around here).
CLIP = 30.0
# Smoothing time of the smoothed-score control: blurs M at the scale sigma(h) ~ 0.4 under OU.
SMOOTH_H = 0.1


@dataclass(frozen=True)
class _Rescaled:
    """s'(t, x) = factor sigma(t)^(-sigma_power) s(t, x): the wrong estimators and the scaled score.

    sigma(t)^2 |s'|^2 = factor^2 sigma^(2 - 2 sigma_power) |s|^2: sigma_power = 1 turns the estimator
    into E|s|^2 (the sigma^2 factor forgotten), 1/2 into sigma E|s|^2, 0 with factor 1/2 is half the
    score.
    """

    score: ScoreFn
    process: ForwardProcess = field(kw_only=True)
    factor: float = field(default=1.0, kw_only=True)
    sigma_power: float = field(default=0.0, kw_only=True)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        scale = self.factor * float(self.process.sigma2(t)) ** (-0.5 * self.sigma_power)
        return scale * self.score(t, x)


@dataclass(frozen=True)
class _Subject:
    """A measure with the points x0 of M at which the normal rank is read, and their predicted ranks."""

    name: str
    measure: Measure
    anchors: tuple[tuple[str, np.ndarray, int], ...]  # (where, x0, predicted rank)


def _single(name: str, measure: Measure, x0: np.ndarray) -> _Subject:
    return _Subject(name, measure, (("on M", np.asarray(x0, dtype=np.float64), measure.d - measure.k),))


# A fixed rotation of R^4 for the rotated torus: exp of a skew-symmetric matrix (orthogonal, det 1)
# that mixes the two factors' planes.
_ROTATION = expm(np.array([[0.0, 0.3, -0.7, 0.2], [-0.3, 0.0, 0.5, -0.4], [0.7, -0.5, 0.0, 0.6],
                           [-0.2, 0.4, -0.6, 0.0]]))


def _torus(*, rotated: bool) -> Product:
    """The flat torus S^1 x S^1 in R^4; rotated: radii 1.5 (center (0.5, -0.5)) and 0.7, then _ROTATION."""
    if not rotated:
        return Product((Sphere(1, 2), Sphere(1, 2)))
    return Product((Sphere(1, 2, radius=1.5, center=np.array([0.5, -0.5])), Sphere(1, 2, radius=0.7)),
                   rotation=_ROTATION)


def _subjects(budget: str) -> tuple[_Subject, ...]:
    circle = Sphere(1, 3)
    point = np.array([0.0, 0.0, 3.0])
    cloud = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2], [2, 2, 2]], dtype=np.float64)
    vmf = Sphere(2, 4, kappa=4.0, direction=np.array([0.0, 0.0, 1.0]))
    subjects = [
        _single("Sphere(1,2)", Sphere(1, 2), np.array([0.0, -1.0])),
        _single("Sphere(1,3)", circle, np.array([1.0, 0.0, 0.0])),
        _single("Sphere(2,5)", Sphere(2, 5), np.array([0.0, 1.0, 0.0, 0.0, 0.0])),
        _single("Sphere(3,6)", Sphere(3, 6), np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])),
        _single("Sphere(4,5)", Sphere(4, 5), np.array([0.0, 0.0, 0.0, 0.0, 1.0])),
        _single("vMF Sphere(2,4), kappa=4", vmf, np.array([0.0, 0.0, 1.0, 0.0])),
        _single("Subspace(2,5)", Subspace(2, 5), np.array([0.3, -0.5, 0.0, 0.0, 0.0])),
        _single("torus S1xS1 in R^4", _torus(rotated=False), np.array([1.0, 0.0, 0.0, 1.0])),
        _single("rotated torus, radii 1.5 and 0.7", _torus(rotated=True), _ROTATION @ np.array([2.0, -0.5, 0.7, 0.0])),
        _single("PointCloud(5 points in R^3)", PointCloud(cloud), cloud[1]),
        _Subject("Mixture(circle, point)", Mixture((circle, PointCloud(point[None, :]))),
                 (("near the circle", np.array([0.0, 1.0, 0.0]), 2), ("near the point", point, 3))),
    ]
    if budget == "full":
        data = digits()
        subjects.append(_single("digits (1797 points in R^64)", data, data.points[0]))
    return tuple(subjects)


def _codim_record(est: CodimensionEstimate, process: ForwardProcess) -> dict[str, Any]:
    return {"limit": [est.limit, est.limit_se], "values": est.values.tolist(), "sems": est.sems.tolist(),
            "times": est.times.tolist(), "sigma2": process.sigma2(est.times).tolist()}


def _figure(label: str, est: CodimensionEstimate, process: ForwardProcess, predicted: float) -> dict[str, Any]:
    return {"kind": "codim", "label": label, "t": est.times.tolist(), "value": est.values.tolist(),
            "sem": est.sems.tolist(), "predicted": predicted, "sigma2": process.sigma2(est.times).tolist(),
            "limit": [est.limit, est.limit_se]}


def _consistent(est: CodimensionEstimate, predicted: float, z: float) -> tuple[bool, float]:
    """|limit - predicted| <= z limit_se + EXTRAPOLATION_BIAS; returns (decision, tolerance)."""
    tol = z * est.limit_se + EXTRAPOLATION_BIAS
    return bool(abs(est.limit - predicted) <= tol), float(tol)


def run(*, seed: int, budget: str = "fast"):
    """Run the C5 check: codimension and normal-rank estimates against d - k (module docstring)."""
    budget = check_budget(budget)
    started = time.perf_counter()
    n = 4000 if budget == "fast" else 40000
    subjects = _subjects(budget)
    processes = (OU(), VP(), VE())
    n_controls = 6
    m = len(subjects) * len(processes) + n_controls
    z = float(stats.norm.ppf(1.0 - ALPHA / (2.0 * m)))
    root = np.random.SeedSequence(seed)
    case_streams = root.spawn(len(subjects) * len(processes) + n_controls)
    cases: list[Case] = []
    for i, (subject, process) in enumerate((s, p) for s in subjects for p in processes):
        measure = subject.measure
        score = ExactScore(measure, process=process)
        setting = Setting(measure, ErrorSpec.of(score), process=process)
        pred = CLAIM.predict(setting)  # the prediction, before measuring
        ranks_pred = {where: rank for where, _, rank in subject.anchors}
        times = process.time_at_sigma2(SIGMA2_NODES).tolist()
        t_rank = float(process.time_at_sigma2(RANK_SIGMA2))
        s_codim, *s_ranks = case_streams[i].spawn(1 + len(subject.anchors))
        est = codimension(score, measure, times=times, n=n, rng=np.random.default_rng(s_codim), process=process)
        ranks = {where: normal_rank(score, x0, t=t_rank, n=RANK_SAMPLES, rng=np.random.default_rng(s), process=process)
                 for (where, x0, _), s in zip(subject.anchors, s_ranks)}
        ok, tol = _consistent(est, pred.codimension, z)
        ranks_ok = all(ranks[w].rank == ranks_pred[w] for w in ranks)
        label = f"{subject.name}, {process!r}"
        cases.append(Case(
            name=f"codimension and normal rank: {label}", setting=setting.describe(),
            prediction={"codimension": pred.codimension, "normal_rank": ranks_pred, "k": measure.k, "d": measure.d},
            measurement={"codimension": _codim_record(est, process), "tolerance": tol, "z": z,
                         "extrapolation_bias": EXTRAPOLATION_BIAS, "codimension_consistent": ok,
                         "normal_rank": {w: {"rank": r.rank, "gap": r.gap,
                                             "singular_values": r.singular_values.tolist()} for w, r in ranks.items()},
                         "rank_t": t_rank, "n": n},
            verdict=Verdict.CONFIRMED if ok and ranks_ok else Verdict.REFUTED,
            figure=_figure(label, est, process, pred.codimension)))
    cases += _controls(case_streams[-n_controls:], n=n, z=z)
    return finish(CLAIM, budget=budget, seed=seed, cases=cases, started=started)


def _controls(streams: list[np.random.SeedSequence], *, n: int, z: float) -> list[Case]:
    """The negative controls on Sphere(2, 5) under OU (module docstring)."""
    process = OU()
    sphere = Sphere(2, 5)
    exact = ExactScore(sphere, process=process)
    pred = CLAIM.predict(Setting(sphere, ErrorSpec.of(exact), process=process))
    codim = pred.codimension
    times = process.time_at_sigma2(SIGMA2_NODES).tolist()
    mean, cov = sphere.moments()
    span = sphere.frame
    blind = Subspace(3, 5, basis=span, mean=mean, cov=span.T @ cov @ span)
    # (name, score, what happens, whether the normal rank is judged too)
    controls = [
        ("control: estimator without the sigma^2 factor (E|s|^2)", _Rescaled(exact, process=process, sigma_power=1.0),
         "E|s|^2 ~ (d - k)/sigma^2 does not converge", False),
        ("control: estimator with sigma instead of sigma^2 (sigma E|s|^2)",
         _Rescaled(exact, process=process, sigma_power=0.5), "sigma E|s|^2 ~ (d - k)/sigma does not converge", False),
        (f"control: clipped score |s| <= {CLIP:g}", Clipped(exact, CLIP), "sigma^2 E|s|^2 <= C^2 sigma^2 -> 0", False),
        ("control: half the exact score", _Rescaled(exact, process=process, factor=0.5), "-> (d - k)/4", False),
        ("control: manifold-blind score (moment-matched Gaussian on the sphere's span)",
         ExactScore(blind, process=process), "-> d - (k + 1) = 2: the span, not the sphere", True),
        (f"control: smoothed score (score of p_(t+h), h = {SMOOTH_H:g})", Smoothed(sphere, SMOOTH_H, process=process),
         "no explosion: sigma^2 E|s|^2 -> 0, one dominant (radial mean) direction", True),
    ]
    cases = []
    x0 = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    t_rank = float(process.time_at_sigma2(RANK_SIGMA2))
    rank_pred = sphere.d - sphere.k
    for (name, score, expected, judge_rank), stream in zip(controls, streams):
        s_codim, s_rank = stream.spawn(2)
        est = codimension(score, sphere, times=times, n=n, rng=np.random.default_rng(s_codim), process=process)
        ok, tol = _consistent(est, codim, z)
        r = normal_rank(score, x0, t=t_rank, n=RANK_SAMPLES, rng=np.random.default_rng(s_rank), process=process)
        rank_ok = r.rank == rank_pred
        measurement = {"codimension": _codim_record(est, process), "tolerance": tol, "z": z,
                       "codimension_consistent": ok, "what_happens": expected,
                       "normal_rank": {"rank": r.rank, "gap": r.gap, "singular_values": r.singular_values.tolist(),
                                       "judged": judge_rank}}
        if "half" in name:
            measurement["matches_quarter_codimension"] = _consistent(est, codim / 4.0, z)[0]
        if "manifold-blind" in name:
            measurement["normal_rank"]["note"] = (
                "the uncentred score matrix has the constant row -S^-1 (alpha x0 - m) of size ~3 besides the two "
                "off-span normal directions of size 1/sigma, so the largest gap sits after 3 singular values: the "
                "rank reads 3 for the wrong reason; this control is judged on the codimension")
        consistent = ok and (rank_ok or not judge_rank)
        cases.append(Case(name=name, setting=f"Sphere(k=2, d=5), {process!r}, score: {name.split(': ', 1)[1]}",
                          prediction={"codimension": codim, "normal_rank": rank_pred,
                                      "as_if": "the exact score of Sphere(2,5) (C5's hypothesis)"},
                          measurement=measurement, control=True,
                          verdict=Verdict.CONFIRMED if consistent else Verdict.REFUTED,
                          figure=_figure(name, est, process, codim)))
    return cases
