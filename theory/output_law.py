"""The output law of the exact reverse SDE from any prior, by exact draws (CLAIMS.md §1, C1).

From a start y at time T the exact reverse SDE is the forward process conditioned on X_T = y, so
its output at the early-stopping time delta is law(X_delta | X_T = y): the mixture over the
posterior x_0 ~ law(X_0 | X_T = y) of the Gaussian bridge law(X_delta | X_T = y, X_0 = x_0).
Averaged over y ~ pi it is the output from the prior pi. The functions here draw from that law
without the reverse-SDE simulator, and see the process only through its symbolic twin
(:func:`theory.predictions.kernel_twin`), never through the NumPy kernels the scores and the
simulator use. For a point set the posterior is evaluated from the plain arrays by
scipy.special.logsumexp over pairwise squared distances
(:func:`theory.posterior_twin.posterior_weights`), never by ``PointCloud.posterior``.

- :func:`point_set_sampler`, :func:`measure_sampler`: draws of law(X_0 | X_T = y) as callables
  (y, rng) -> x_0 (a point set by the independent route; any measure with a closed-form
  ``posterior_sample``).
- :func:`bridge_draws`: the Gaussian bridge law(X_{t0} | X_{t1} = y, X_0 = x_0).
- :func:`output_draws`: exact draws of the output at delta from the prior pi.
- :func:`marginal_sample`: exact draws of p_t = law(alpha(t) X_0 + sigma(t) Z), X_0 ~ mu.
- :func:`kl_gap`: KL(p_T || q) - KL(p_T || p) = E_{p_T}[log p - log q] over draws of p_T, with its
  standard error (the moment-matching identity of CLAIMS.md C1 is a statement about this number).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory import _validate
from theory.measures.base import Measure, check_measure
from theory.posterior_twin import posterior_weights
from theory.predictions import kernel_twin
from theory.priors import Prior
from theory.processes import ForwardProcess, check_process

__all__ = ["point_set_sampler", "measure_sampler", "bridge_draws", "output_draws",
           "marginal_sample", "KLGap", "kl_gap"]

#: A posterior sampler: (y (n, d), rng) -> one draw x_0 ~ law(X_0 | X_T = y_i) per row, shape (n, d).
PosteriorSampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def point_set_sampler(points: np.ndarray, weights: np.ndarray | None, t: float, *,
                      process: ForwardProcess) -> PosteriorSampler:
    """A sampler of law(X_0 | X_t = y) for mu = sum_i w_i delta_{x_i}: index I_j drawn from the row
    j of :func:`theory.posterior_twin.posterior_weights` by the inverse CDF of one uniform per row (``rng.random``);
    returns points[I], shape (n, d)."""
    pts, w = _validate.point_set(points, weights)
    t = _validate.positive_time(t, "t")
    process = check_process(process)

    def sample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        probs = posterior_weights(pts, w, t, y, process=process)
        cdf = np.cumsum(probs, axis=1)
        u = _validate.generator(rng).random(probs.shape[0]) * cdf[:, -1]
        index = np.minimum(np.count_nonzero(cdf <= u[:, None], axis=1), pts.shape[0] - 1)
        return pts[index]

    return sample


def measure_sampler(measure: Measure, t: float, *, process: ForwardProcess) -> PosteriorSampler:
    """A sampler of law(X_0 | X_t = y) by the measure's closed form, ``measure.posterior_sample``
    (NotImplementedError at the first call for a measure without one)."""
    measure = check_measure(measure)
    t = _validate.positive_time(t, "t")
    process = check_process(process)

    def sample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return measure.posterior_sample(t, y, rng, process=process)

    return sample


def bridge_draws(x0: np.ndarray, y: np.ndarray, *, t0: float, t1: float, rng: np.random.Generator,
                 process: ForwardProcess) -> np.ndarray:
    """One draw of X_{t0} | X_{t1} = y_j, X_0 = x0_j per row (CLAIMS.md §1, the Gaussian bridge).

    With a = alpha(t1) / alpha(t0) and v = sigma(t1)^2 - a^2 sigma(t0)^2 (X_{t1} = a X_{t0} + N(0, v I)),
    the law is Gaussian with mean a sigma(t0)^2 / sigma(t1)^2 y + alpha(t0) v / sigma(t1)^2 x0 and
    variance sigma(t0)^2 v / sigma(t1)^2 per coordinate. x0, y : (n, d); 0 < t0 < t1. Returns (n, d).
    alpha and sigma^2 from :func:`theory.predictions.kernel_twin`.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d), got {x0.shape}")
    x0 = _validate.points(x0, x0.shape[1], name="x0")
    y = _validate.points(y, x0.shape[1], name="y")
    if y.shape != x0.shape:
        raise ValueError(f"y must have the shape of x0 {x0.shape}, got {y.shape}")
    t0 = _validate.positive_time(t0, "t0")
    t1 = _validate.positive_time(t1, "t1")
    if not t0 < t1:
        raise ValueError(f"need t0 < t1, got t0={t0!r}, t1={t1!r}")
    rng = _validate.generator(rng)
    twin = kernel_twin(check_process(process))
    a0, a1 = float(twin.alpha(t0)), float(twin.alpha(t1))
    s0, s1 = float(twin.sigma2(t0)), float(twin.sigma2(t1))
    a = a1 / a0
    v = s1 - a * a * s0
    mean = (a * s0 / s1) * y + (a0 * v / s1) * x0
    return mean + math.sqrt(s0 * v / s1) * rng.standard_normal(x0.shape)


def output_draws(prior: Prior, posterior: PosteriorSampler, *, T: float, delta: float, n: int,
                 rng: np.random.Generator, process: ForwardProcess) -> np.ndarray:
    """n exact draws of the exact reverse SDE's output at delta from the prior pi (CLAIMS.md C1):
    y ~ pi, x_0 ~ law(X_0 | X_T = y) by ``posterior`` (built for time T), then X_delta from
    :func:`bridge_draws` between delta and T. Returns (n, d)."""
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a theory.priors.Prior, got {type(prior).__name__}")
    if not callable(posterior):
        raise TypeError(f"posterior must be a callable (y, rng) -> x0, got {type(posterior).__name__}")
    n = _validate.integer(n, "n", minimum=1)
    rng = _validate.generator(rng)
    y = prior.sample(n, rng)
    x0 = posterior(y, rng)
    return bridge_draws(x0, y, t0=delta, t1=T, rng=rng, process=process)


def marginal_sample(measure: Measure, t: float, n: int, rng: np.random.Generator, *,
                    process: ForwardProcess) -> np.ndarray:
    """n exact draws of p_t: alpha(t) X_0 + sigma(t) Z with X_0 ~ mu (``measure.sample``) and
    Z ~ N(0, I); alpha and sigma^2 from :func:`theory.predictions.kernel_twin`. Returns (n, d)."""
    measure = check_measure(measure)
    t = _validate.positive_time(t, "t")
    n = _validate.integer(n, "n", minimum=2)
    rng = _validate.generator(rng)
    twin = kernel_twin(check_process(process))
    x0 = measure.sample(n, rng)
    return float(twin.alpha(t)) * x0 + math.sqrt(float(twin.sigma2(t))) * rng.standard_normal(x0.shape)


@dataclass(frozen=True)
class KLGap:
    """An estimate of KL(p_T || q) - KL(p_T || p): ``value`` with its standard error ``se`` over n draws."""

    value: float
    se: float
    n: int


def kl_gap(draws: np.ndarray, p: Prior, q: Prior) -> KLGap:
    """KL(p_T || q) - KL(p_T || p) = E_{p_T}[log p(X) - log q(X)], estimated by the mean over ``draws``
    (n, d) of p_T (e.g. :func:`marginal_sample`), se = sd / sqrt(n). p_T's own density cancels, so
    the estimate needs only the two priors' densities (both must have one)."""
    for name, prior in (("p", p), ("q", q)):
        if not isinstance(prior, Prior) or not getattr(prior, "positive_density", False):
            raise TypeError(f"{name} must be a theory.priors.Prior with a density, got {type(prior).__name__}")
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 2 or draws.shape[0] < 2:
        raise ValueError(f"draws must have shape (n, d) with n >= 2, got {draws.shape}")
    diffs = p.log_density(draws) - q.log_density(draws)
    n = draws.shape[0]
    return KLGap(value=float(diffs.mean()), se=float(diffs.std(ddof=1) / math.sqrt(n)), n=n)
