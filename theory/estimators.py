"""Numeric predicates: Monte-Carlo estimators of the quantities the claims are stated in (CLAIMS.md C1, C2, C5).

- :func:`l2_error_integral`: int_delta^T (g^2/2) E_fwd |e(t, X_t)|^2 dt with a standard error,
  and a verdict on the L2 condition from its growth as delta -> 0;
- :func:`codimension`: sigma(t)^2 E_fwd |s(t, X_t)|^2 -> d - k (CLAIMS.md C5);
- :func:`normal_rank`: the rank of the score's normal space near a point of M, from the singular
  values of scores sampled there (compare Stanczuk et al. 2022, arXiv:2212.12611);
- :func:`kl_to_prior`: KL(p_T || pi), closed form for Gaussian p_T and pi, Monte Carlo otherwise;
  :func:`gaussian_kl`, the closed form between two Gaussians;
- :func:`girsanov_weight`: int_0^T (g^2/2) t^(-2a) dt, the Girsanov cost of a unit error c t^-a;
- :func:`landing_study`: reverse-SDE samples at several early-stopping times, their distances to
  M and the log-log slope (the measurement behind "lands on M", CLAIMS.md §4).

All randomness comes from the ``rng`` argument; forward samples are X_t = alpha(t) X_0 + sigma(t) Z
with X_0 ~ mu, fresh at every time node (so node estimates are independent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from theory import _validate
from theory.measures.base import Measure, check_measure
from theory.measures.subspace import Subspace
from theory.priors import Gaussian, Prior
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process
from theory.simulator import reverse_sde, steps_for
from theory.statistics import SlopeFit, Statistic, loglog_slope
from theory.types import ScoreFn

Field = ScoreFn

# Resolution of the L2 verdict, in log10 per decade: the per-decade increments of the integral must
# shrink by at least this much per decade (a factor 10^-0.05 = 0.89) to count as a convergent
# geometric tail. Constant increments (log growth: the boundary a = 1/2, or any error ~ 1/sigma)
# drift by a few 0.01 over a few decades from the O(t) corrections of sigma^2, which without a
# margin a precise Monte-Carlo estimate would call "significantly decaying". Offsets c t^-a with
# 1/2 - a < 0.025 are therefore reported as not L2: a stated resolution, not a hidden tolerance.
DECAY_RESOLUTION = 0.05

# Gauss-Legendre nodes per decade of t for the time integrals: the integrands are smooth power
# laws in log t, for which 8 nodes give relative quadrature errors far below the Monte-Carlo error.
NODES_PER_DECADE = 8



@dataclass(frozen=True)
class L2Estimate:
    """Monte-Carlo estimate of I(delta) = int_delta^T (g^2/2) E_fwd |e(t, X_t)|^2 dt.

    deltas : (m,) decreasing. values, sems : (m,) estimates and standard errors of I(delta).
    decay : fitted log10 ratio of successive per-decade increments of I over the smallest decades
    (negative: geometric decay, a finite integral), with its standard error ``decay_se``.
    finite : decay + z_{1-alpha} decay_se < -DECAY_RESOLUTION, i.e. the increments shrink
    geometrically, by at least the stated resolution per decade, at level alpha.
    """

    deltas: np.ndarray
    values: np.ndarray
    sems: np.ndarray
    decay: float
    decay_se: float
    alpha: float

    @property
    def finite(self) -> bool:
        return bool(self.decay + stats.norm.ppf(1 - self.alpha) * self.decay_se < -DECAY_RESOLUTION)


def l2_error_integral(error: Field, measure: Measure, *, T: float, decades: int = 6, n: int = 2000,
                      rng: np.random.Generator, process: ForwardProcess = DEFAULT_PROCESS,
                      alpha: float = 0.01) -> L2Estimate:
    """Estimate int_delta^T (g(t)^2 / 2) E_fwd |e(t, X_t)|^2 dt for delta = T 10^-j, j = 1..decades.

    error : (t, x (n, d)) -> e(t, x) (n, d), e.g. ``Perturbation.error``. The weight g^2/2 is the
    Girsanov factor of CLAIMS.md C2 (1 in OU, where this is the spec's integral). Quadrature in log t,
    ``NODES_PER_DECADE`` Gauss-Legendre nodes per decade, n fresh forward samples per node.
    The L2 verdict looks at the increments D_j = I(T 10^-j) - I(T 10^-(j-1)) over the last three
    decades (earlier ones carry the transient of large t): log10 D_j is fitted linearly in j
    (weighted least squares with delta-method errors); a slope below -DECAY_RESOLUTION means a
    convergent geometric tail.
    """
    if not callable(error):
        raise TypeError(f"error must be callable (t, x) -> (n, d), got {type(error).__name__}")
    measure = check_measure(measure)
    process = check_process(process)
    T = _validate.positive_time(T, "T")
    decades = _validate.integer(decades, "decades", minimum=3)
    n = _validate.integer(n, "n", minimum=2)
    rng = _validate.generator(rng)
    nodes, weights = np.polynomial.legendre.leggauss(NODES_PER_DECADE)
    increments, increment_vars = np.empty(decades), np.empty(decades)
    for j in range(decades):
        hi, lo = np.log(T) - j * np.log(10.0), np.log(T) - (j + 1) * np.log(10.0)
        u = 0.5 * (hi + lo) + 0.5 * (hi - lo) * nodes
        w = 0.5 * (hi - lo) * weights
        total, var_total = 0.0, 0.0
        for uk, wk in zip(u, w):
            t = float(np.exp(uk))
            xt = process.sample(measure.sample(n, rng), t, rng)
            e = np.asarray(error(t, xt))
            if e.shape != xt.shape:
                raise ValueError(f"error must return shape {xt.shape}, got {e.shape}")
            values = 0.5 * float(process.g2(t)) * np.einsum("ij,ij->i", e, e)
            factor = wk * t  # dt = t du
            total += factor * values.mean()
            var_total += factor**2 * values.var(ddof=1) / n
        increments[j], increment_vars[j] = total, var_total
    cumulative = np.cumsum(increments)
    sems = np.sqrt(np.cumsum(increment_vars))
    tail = slice(decades - 3, decades)
    deltas = T * 10.0 ** -(np.arange(decades) + 1.0)
    if not np.any(increments[tail] > 0):  # e = 0 on the tail (e.g. the exact score): trivially L2
        return L2Estimate(deltas=deltas, values=cumulative, sems=sems, decay=-np.inf, decay_se=0.0, alpha=alpha)
    js = np.arange(decades)[tail]
    positive = np.maximum(increments[tail], np.finfo(np.float64).tiny)
    log_inc = np.log10(positive)
    log_se = np.sqrt(increment_vars[tail]) / (positive * np.log(10.0))
    wls = 1.0 / np.maximum(log_se, 1e-12) ** 2
    jc = js - np.average(js, weights=wls)
    decay = float(np.sum(wls * jc * log_inc) / np.sum(wls * jc**2))
    decay_se = float(np.sqrt(1.0 / np.sum(wls * jc**2)))
    return L2Estimate(deltas=deltas, values=cumulative, sems=sems, decay=decay, decay_se=decay_se, alpha=alpha)


@dataclass(frozen=True)
class CodimensionEstimate:
    """sigma(t)^2 E_fwd |s(t, X_t)|^2 at each t (values, sems), and its extrapolation to t = 0.

    limit, limit_se : intercept at sigma^2 = 0 of a weighted linear fit of the values in sigma(t)^2
    (exact form for a Gaussian on a subspace: (d - k) + k sigma^2 / (alpha^2 c + sigma^2)).
    For a mixture the limit is the weight-averaged codimension sum_j w_j (d - k_j).
    """

    times: np.ndarray
    values: np.ndarray
    sems: np.ndarray
    limit: float
    limit_se: float


def codimension(score: Field, measure: Measure, *, times: Sequence[float], n: int = 4000,
                rng: np.random.Generator, process: ForwardProcess = DEFAULT_PROCESS) -> CodimensionEstimate:
    """Estimate d - k from the explosion rate sigma(t)^2 E_fwd|s(t, X_t)|^2 -> d - k (CLAIMS.md C5).

    score : (t, x) -> (n, d), exact or learned. times : >= 2 small times (e.g. 1e-4 .. 1e-2).
    """
    if not callable(score):
        raise TypeError(f"score must be callable (t, x) -> (n, d), got {type(score).__name__}")
    measure = check_measure(measure)
    process = check_process(process)
    rng = _validate.generator(rng)
    n = _validate.integer(n, "n", minimum=2)
    times = np.array([_validate.positive_time(t, "times[i]") for t in times])
    if times.size < 2:
        raise ValueError(f"times must hold at least 2 values, got {times.size}")
    values, sems = np.empty(times.size), np.empty(times.size)
    for i, t in enumerate(times):
        xt = process.sample(measure.sample(n, rng), t, rng)
        s = np.asarray(score(float(t), xt))
        q = float(process.sigma2(t)) * np.einsum("ij,ij->i", s, s)
        values[i], sems[i] = q.mean(), q.std(ddof=1) / np.sqrt(n)
    var = process.sigma2(times)
    # A node whose samples all give the same value (e.g. every score clipped to one norm) has a
    # zero standard error; floor it at rounding level so the weighted fit stays defined.
    sems = np.maximum(sems, np.finfo(np.float64).eps * max(np.abs(values).max(), 1.0))
    design = np.column_stack([np.ones_like(var), var]) / sems[:, None]
    coef, *_ = np.linalg.lstsq(design, values / sems, rcond=None)
    cov = np.linalg.inv(design.T @ design)
    return CodimensionEstimate(times=times, values=values, sems=sems, limit=float(coef[0]),
                               limit_se=float(np.sqrt(cov[0, 0])))


@dataclass(frozen=True)
class NormalRank:
    """Singular values (descending) of scores sampled near a point of M, and the rank read off them.

    rank : the position of the largest gap in log singular values (d - k for a k-dim M);
    gap : that gap, log(s_rank / s_{rank+1}) (inf when rank = d).
    """

    singular_values: np.ndarray
    rank: int
    gap: float


def normal_rank(score: Field, x0: np.ndarray, *, t: float, n: int = 500, rng: np.random.Generator,
                process: ForwardProcess = DEFAULT_PROCESS) -> NormalRank:
    """Rank of the normal space of M at x0 from the scores at X_t = alpha(t) x0 + sigma(t) Z.

    Near M the score is about -(normal part of x - alpha x0)/sigma^2 (size ~ 1/sigma in each of the
    d - k normal directions) plus O(1) tangential parts, so the singular values of the (n, d) score
    matrix / sqrt(n) split into d - k of order 1/sigma(t) and k of order 1 (Stanczuk et al. 2022).
    The mean score is subtracted first: a constant O(1) drift is not a normal direction.
    The rank is where the log singular values drop most; rank d when no drop exceeds log(10).
    """
    if not callable(score):
        raise TypeError(f"score must be callable (t, x) -> (n, d), got {type(score).__name__}")
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim != 1 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite point of shape (d,), got {x0.shape}")
    t = _validate.positive_time(t)
    n = _validate.integer(n, "n", minimum=x0.size)
    rng = _validate.generator(rng)
    process = check_process(process)
    xt = process.sample(np.tile(x0, (n, 1)), t, rng)
    s = np.asarray(score(t, xt))
    sv = np.linalg.svd((s - s.mean(axis=0)) / np.sqrt(n), compute_uv=False)
    gaps = np.log(sv[:-1]) - np.log(np.maximum(sv[1:], np.finfo(np.float64).tiny))
    j = int(np.argmax(gaps)) if gaps.size else 0
    if not gaps.size or gaps[j] < np.log(10.0):
        return NormalRank(singular_values=sv, rank=x0.size, gap=float("inf"))
    return NormalRank(singular_values=sv, rank=j + 1, gap=float(gaps[j]))


@dataclass(frozen=True)
class KLEstimate:
    """KL(p_T || pi) with its standard error (0 for the closed form) and the method used."""

    value: float
    se: float
    method: str


def kl_to_prior(measure: Measure, prior: Prior, *, T: float, process: ForwardProcess = DEFAULT_PROCESS,
                n: int = 20000, rng: np.random.Generator | None = None) -> KLEstimate:
    """KL(p_T || pi) = E_{p_T}[log p_T - log pi] (CLAIMS.md C1, C2).

    Closed form when mu is a :class:`Subspace` (p_T Gaussian) and pi is :class:`Gaussian`:
    1/2 [tr(V1^-1 V0) + (m1 - m0)^T V1^-1 (m1 - m0) - d + log det V1 - log det V0]. Otherwise Monte
    Carlo over n samples of p_T (needs ``rng``); a prior without density gives TypeError.
    """
    measure = check_measure(measure)
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a theory.priors.Prior, got {type(prior).__name__}")
    if prior.d != measure.d:
        raise ValueError(f"prior must live in R^{measure.d}, got R^{prior.d}")
    T = _validate.positive_time(T, "T")
    process = check_process(process)
    if isinstance(measure, Subspace) and isinstance(prior, Gaussian):
        p_t = Gaussian.moment_matched(measure, T, process=process)
        return KLEstimate(value=gaussian_kl(p_t, prior), se=0.0, method="closed form (Gaussian p_T and pi)")
    rng = _validate.generator(rng)
    n = _validate.integer(n, "n", minimum=2)
    xt = process.sample(measure.sample(n, rng), T, rng)
    log_ratio = measure.log_density(T, xt, process=process) - prior.log_density(xt)
    return KLEstimate(value=float(log_ratio.mean()), se=float(log_ratio.std(ddof=1) / np.sqrt(n)),
                      method=f"Monte Carlo, n = {n}")


def gaussian_kl(p: Gaussian, q: Gaussian) -> float:
    """KL(N(m0, V0) || N(m1, V1)) = 1/2 [tr(V1^-1 V0) + (m1 - m0)^T V1^-1 (m1 - m0) - d + log det V1 - log det V0].

    p, q : :class:`theory.priors.Gaussian` of the same dimension d. Closed form (Gaussian
    integrals); both covariances are factored by Cholesky, so a covariance that is not positive
    definite raises ValueError.
    """
    if not isinstance(p, Gaussian) or not isinstance(q, Gaussian):
        raise TypeError(f"p and q must be theory.priors.Gaussian, got {type(p).__name__} and {type(q).__name__}")
    if p.d != q.d:
        raise ValueError(f"p and q must have the same dimension, got {p.d} and {q.d}")
    try:
        lp, lq = np.linalg.cholesky(p.cov), np.linalg.cholesky(q.cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"covariances must be positive definite: {exc}") from exc
    a = np.linalg.solve(lq, lp)  # tr(V1^-1 V0) = |L1^-1 L0|_F^2
    b = np.linalg.solve(lq, q.mean - p.mean)
    log_det = 2.0 * (np.sum(np.log(np.diag(lq))) - np.sum(np.log(np.diag(lp))))
    return float(0.5 * (np.sum(a * a) + b @ b - p.d + log_det))


# Lower end of the log-t quadrature of girsanov_weight: the omitted [0, 1e-14] contributes
# O(g0 (1e-14)^(1 - 2a)) nats, below 1e-6 for a <= 1/4.
GIRSANOV_T_MIN = 1e-14


def girsanov_weight(process: ForwardProcess, T: float, a: float = 0.0) -> float:
    """W = int_0^T (g(t)^2 / 2) t^(-2a) dt for a < 1/2 (CLAIMS.md C2), by quadrature in log t.

    The Girsanov cost, in nats, of the error e = t^(-a) n with |n| = 1: an error c t^(-a) costs
    c^2 W, so c = sqrt(B / W) spends a budget of B nats. Integrated from GIRSANOV_T_MIN to T.
    """
    process = check_process(process)
    T = _validate.positive_time(T, "T")
    if not a < 0.5:
        raise ValueError(f"a must be < 1/2 (the error t^-a is L2 only then), got {a!r}")

    def integrand(u: float) -> float:
        t = np.exp(u)
        return 0.5 * float(process.g2(t)) * t ** (1.0 - 2.0 * a)

    value, _ = integrate.quad(integrand, np.log(GIRSANOV_T_MIN), np.log(T), limit=200)
    return float(value)


@dataclass(frozen=True)
class LandingStudy:
    """Distances to M of reverse-SDE samples at several early-stopping times, with the slope fit.

    fit : the log-log slope of the statistic against delta. deltas : (m,) decreasing.
    distances : per delta, the (n,) distances. sigmas : sigma(delta). samples : per delta the
    (n, d) samples when kept, else empty.
    """

    fit: SlopeFit
    deltas: np.ndarray
    distances: tuple[np.ndarray, ...]
    sigmas: np.ndarray
    samples: tuple[np.ndarray, ...]


def landing_study(score: ScoreFn, measure: Measure, *, deltas: Sequence[float], n: int, steps_per_decade: int,
                  T: float, seed_sequence: np.random.SeedSequence, process: ForwardProcess = DEFAULT_PROCESS,
                  prior: Prior | None = None, statistic: Statistic = Statistic.RMS,
                  distance: Callable[[np.ndarray], np.ndarray] | None = None, keep_samples: bool = False,
                  alpha: float = 0.01, **sampler_options) -> LandingStudy:
    """Run the reverse SDE once per delta, measure the distance to M, fit the log-log slope.

    Each delta gets an independent stream from ``seed_sequence.spawn`` (one more stream drives the
    bootstrap) and a geometric grid of ``steps_per_decade`` steps per decade of [delta, T]
    (:func:`theory.simulator.steps_for`), so every delta is integrated at the same resolution.
    distance : the distance function (default ``measure.distance``). sampler_options go to
    :func:`theory.simulator.reverse_sde` (e.g. ``scheme``). The slope is fitted by
    :func:`theory.statistics.loglog_slope` with a (1 - alpha) bootstrap band.
    """
    if not isinstance(seed_sequence, np.random.SeedSequence):
        raise TypeError(f"seed_sequence must be a numpy SeedSequence, got {type(seed_sequence).__name__}")
    measure = check_measure(measure)
    deltas = np.asarray(sorted((float(x) for x in deltas), reverse=True), dtype=np.float64)
    streams = seed_sequence.spawn(len(deltas) + 1)
    dist_fn = measure.distance if distance is None else distance
    distances, samples = [], []
    for delta, stream in zip(deltas, streams[:-1]):
        res = reverse_sde(score, d=measure.d, n=n, T=T, delta=float(delta), steps=steps_for(T, delta, steps_per_decade),
                          process=process, prior=prior, rng=np.random.default_rng(stream), **sampler_options)
        distances.append(dist_fn(res.samples))
        if keep_samples:
            samples.append(res.samples)
    fit = loglog_slope(deltas, distances, rng=np.random.default_rng(streams[-1]), statistic=statistic, alpha=alpha)
    return LandingStudy(fit=fit, deltas=deltas, distances=tuple(distances),
                        sigmas=np.sqrt(process.sigma2(deltas)), samples=tuple(samples))
