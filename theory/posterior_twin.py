"""Bayes' rule for a weighted point set by a route that shares no code with :mod:`theory.measures.pointcloud`
(CLAIMS.md §2, C3).

For mu = sum_i w_i delta_{x_i} and the forward kernel X_t | X_0 ~ N(alpha(t) X_0, sigma(t)^2 I),

    P(X_0 = x_i | X_t = x) = w_i exp(-|x - alpha x_i|^2 / (2 sigma^2))
                             / sum_j w_j exp(-|x - alpha x_j|^2 / (2 sigma^2)).

:class:`theory.measures.pointcloud.PointCloud` evaluates these weights through matrix products against
a reference atom, with several scaling paths; its score, denoiser and posterior draws all rest on
them. Here the squared distances come from :func:`scipy.spatial.distance.cdist` (a direct sum of
squared differences), the normalization from :func:`scipy.special.logsumexp`, and alpha, sigma^2
from the process's SymPy twin (:func:`theory.predictions.kernel_twin`), so a wrong kernel variance,
a wrong weight or a wrong logit in the point cloud cannot appear in both.

- :func:`posterior_weights`: the (n, N) matrix of posterior probabilities.
- :func:`posterior_rounding_bound`: a bound on the largest difference between two float64
  evaluations of that matrix (this one and any other that forms the logits by sums of at most
  d + 4 products), used as the tolerance of an exact comparison.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import spatial, special

from theory import _validate
from theory.predictions import kernel_twin
from theory.processes import ForwardProcess, check_process

__all__ = ["posterior_weights", "posterior_rounding_bound"]

# Factor of the rounding bound (see posterior_rounding_bound): 2 for two routes, 2 for the softmax's
# sensitivity to its logits, 4 to cover the products' own terms (each at most twice the scale L).
ROUNDING_FACTOR = 16.0
_EPS = float(np.finfo(np.float64).eps)


def _inputs(points: object, weights: object, t: object, x: object, process: object):
    pts, w = _validate.point_set(points, weights)
    t = _validate.positive_time(t, "t")
    x = _validate.points(x, pts.shape[1])
    twin = kernel_twin(check_process(process))
    return pts, w, x, float(twin.alpha(t)), float(twin.sigma2(t))


def posterior_weights(points: np.ndarray, weights: np.ndarray | None, t: float, x: np.ndarray, *,
                      process: ForwardProcess) -> np.ndarray:
    """P(X_0 = x_i | X_t = x_j) for each row x_j of x: shape (n, N) (module docstring).

    points : (N, d). weights : (N,) or None (uniform); atoms of weight 0 get probability 0.
    x : (n, d). logit_ji = log w_i - |x_j - alpha x_i|^2 / (2 sigma^2), normalized per row by
    log-sum-exp (scipy.special.logsumexp), so no row under- or overflows, and divided by its sum.
    """
    pts, w, x, alpha, var = _inputs(points, weights, t, x, process)
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    logits = log_w[None, :] - spatial.distance.cdist(x, alpha * pts, "sqeuclidean") / (2.0 * var)
    # exp(logit - logsumexp) sums to 1 only within |logit| ulps; the division restores it to a few ulps.
    probs = np.exp(logits - special.logsumexp(logits, axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def posterior_rounding_bound(points: np.ndarray, weights: np.ndarray | None, t: float, x: np.ndarray, *,
                             process: ForwardProcess) -> float:
    """An upper bound on max_ji |P_ji - P'_ji| for two float64 evaluations P, P' of the posterior
    matrix at (t, x) whose logits are sums of at most d + 4 terms each bounded by 2 L_j (a scalar).

    L_j = (|x_j| + alpha max_i |x_i|)^2 / (2 sigma^2) + max_i |log w_i| bounds the size of every logit
    and of every term of its expansion (|x - alpha x_i|^2 <= (|x| + alpha |x_i|)^2). A sum of m
    products is accurate to gamma_m = m eps / (1 - m eps) times the sum of the terms' magnitudes
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.5), so each logit is
    off by at most about 2 (d + 4) eps L_j; alpha and sigma^2 themselves carry a few eps of relative
    error, which moves a logit by a few eps L_j. The softmax maps a logit perturbation of size r in
    the max norm to probabilities off by at most e^(2r) - 1 ~ 2r. With both routes:
    ROUNDING_FACTOR (d + 4) eps max_j L_j + 8 eps (the exp and the normalization).
    """
    pts, w, x, alpha, var = _inputs(points, weights, t, x, process)
    positive = w[w > 0]
    reach = float(np.max(np.abs(np.log(positive))))
    norms = np.linalg.norm(x, axis=1)
    scale = float(np.max((norms + alpha * float(np.linalg.norm(pts, axis=1).max())) ** 2)) / (2.0 * var) + reach
    bound = ROUNDING_FACTOR * (pts.shape[1] + 4) * _EPS * scale + 8.0 * _EPS
    if not math.isfinite(bound):
        raise ValueError(f"the rounding bound overflows at t = {t!r} (sigma^2 = {var!r}): the logits are not finite")
    return bound
