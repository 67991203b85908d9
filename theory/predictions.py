"""Predicted levels and laws computed by routes that share no code with the simulator (CLAIMS.md C6, C7).

A claim check compares what the simulator produces with a prediction; a prediction computed by the
code under test cannot fail together with it. The functions here see a process only through its
symbolic twin (:meth:`theory.processes.ForwardProcess.symbolic`, lambdified by
:func:`theory.symbolic.numpy_twin`), never through the NumPy kernels that the scores, the priors
and the simulator use, and they never call a measure's score, denoiser or posterior: a point set
enters as its plain arrays.

- :func:`kernel_twin`: alpha(t) and sigma(t)^2 of a process, from its symbolic expressions.
- :func:`marginal_draws`: exact draws of p_t for a weighted point set, X_t = alpha(t) x_I + sigma(t) Z.
- :func:`nearest_points`: the nearest training point and the distance to it (scipy's k-d tree).
- :func:`smoothed_output_time`: the time s with law(output at delta) = p_s for the smoothed score
  grad log p_{t+h}, where it exists in closed form (time-homogeneous processes: s = delta + h).
- :func:`bridge_chain`: the mean factor and the variance of one coordinate near an atom after the
  steps of the posterior (Gaussian-bridge) scheme with the score beta times the exact one.
- :func:`scaled_score_variance_ode`: the same variance from the continuous moment ODE of CLAIMS.md C6.
- :func:`scaled_score_levels`: the predicted RMS nearest-training distance of that sampler at each
  early-stopping time, from an exact-marginal start at which every particle is near its own atom.
- :func:`atom_rms`, :func:`marginal_spread`: closed-form RMS distances of Gaussians about the atoms.
- :func:`discrete_mean_rate`: the same chain's mean decay rate from a scheme's own coefficients
  (the one function here that uses the simulator's code: it reports what the scheme does).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, spatial, stats

from theory import _validate
from theory.processes import ForwardProcess, check_process
from theory.schemes import Scheme, resolve
from theory.simulator import steps_for, time_grid

__all__ = ["KernelTwin", "kernel_twin", "marginal_draws", "nearest_points", "smoothed_output_time", "BridgeChain",
           "bridge_chain", "scaled_score_variance_ode", "ScaledScoreLevels", "scaled_score_levels", "atom_rms",
           "Spread", "marginal_spread", "discrete_mean_rate"]


@dataclass(frozen=True)
class KernelTwin:
    """alpha(t) and sigma(t)^2 of one process as NumPy functions of t (any shape), lambdified from
    the process's SymPy expressions (CLAIMS.md §1)."""

    alpha: Callable[[np.ndarray], np.ndarray]
    sigma2: Callable[[np.ndarray], np.ndarray]


@functools.lru_cache(maxsize=None)
def kernel_twin(process: ForwardProcess) -> KernelTwin:
    """The :class:`KernelTwin` of ``process``: ``numpy_twin`` of ``process.symbolic().alpha`` and
    ``.sigma2`` (cancellation-prone 1 - exp(x) rewritten as -expm1(x), so sigma^2 keeps its
    relative precision as t -> 0). Cached per process."""
    from theory.symbolic import numpy_twin

    ex = check_process(process).symbolic()
    return KernelTwin(alpha=numpy_twin(ex.alpha, ex.t), sigma2=numpy_twin(ex.sigma2, ex.t))


def marginal_draws(points: np.ndarray, weights: np.ndarray | None, t: float, n: int, rng: np.random.Generator, *,
                   process: ForwardProcess) -> tuple[np.ndarray, np.ndarray]:
    """Exact draws of p_t for mu = sum_i w_i delta_{x_i}: X_t = alpha(t) x_I + sigma(t) Z, I ~ w, Z ~ N(0, I).

    points : (N, d). weights : (N,) or None (uniform). Returns (x (n, d), atom index I (n,)).
    alpha and sigma^2 come from :func:`kernel_twin` (CLAIMS.md §1: X_t | X_0 ~ N(alpha X_0, sigma^2 I)).
    """
    pts, w = _validate.point_set(points, weights)
    t = _validate.positive_time(t, "t")
    n = _validate.integer(n, "n", minimum=1)
    rng = _validate.generator(rng)
    twin = kernel_twin(check_process(process))
    index = rng.choice(pts.shape[0], size=n, p=w)
    scale = math.sqrt(float(twin.sigma2(t)))
    return float(twin.alpha(t)) * pts[index] + scale * rng.standard_normal((n, pts.shape[1])), index


def nearest_points(points: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x (n, d): the index of the nearest row of ``points`` (N, d) and the Euclidean
    distance to it, each of shape (n,), by a k-d tree (:class:`scipy.spatial.cKDTree`)."""
    pts, _ = _validate.point_set(points, None)
    x = _validate.points(x, pts.shape[1])
    distance, index = spatial.cKDTree(pts).query(x)
    return np.asarray(index, dtype=np.intp), np.asarray(distance, dtype=np.float64)


def smoothed_output_time(process: ForwardProcess, h: float, delta: float) -> float:
    """The time s with law(Y_delta) = p_s for the reverse SDE driven by the smoothed score
    grad log p_{t+h} (:class:`theory.perturbations.Smoothed`) from the prior p_{T+h}: s = delta + h.

    Derivation (CLAIMS.md §1, C7): the exact reverse SDE of the forward process on [0, T + h] has the
    drift -f(t') Y + g(t')^2 grad log p_{t'}(Y) at forward time t' and the marginals p_{t'}. Written
    in t = t' - h, its score is the smoothed one, and its coefficients f(t + h), g(t + h) are the
    sampler's f(t), g(t) exactly when f and g^2 do not depend on time (OU). The output at t = delta
    is then p_{delta + h}. For a process whose f or g^2 depends on t (VP, VE) there is no such
    closed form and ValueError is raised.
    """
    process = check_process(process)
    h = _validate.positive_real(h, "h")
    delta = _validate.positive_time(delta, "delta")
    ex = process.symbolic()
    if ex.f.has(ex.t) or ex.g2.has(ex.t):
        raise ValueError(f"the smoothed sampler's output law is p_(delta + h) only for a time-homogeneous process "
                         f"(f and g^2 constant), got {process!r} with f = {ex.f}, g^2 = {ex.g2}")
    return delta + h


@dataclass(frozen=True)
class BridgeChain:
    """One coordinate z = y - alpha(t) x_0 near an atom x_0 after the steps of a grid.

    mean_factor : m(delta) / m(T), the product of the per-step factors. variance : v(delta) from v(T).
    mean_rate : -log(mean_factor) / log(T / delta), the decay rate of the mean in delta per unit of
    log t (beta for the continuous dynamics).
    """

    mean_factor: float
    variance: float
    mean_rate: float


def bridge_chain(process: ForwardProcess, *, beta: float, times: np.ndarray, v0: float) -> BridgeChain:
    """The Gaussian-bridge (posterior) scheme's chain for the score beta (alpha(t) x_0 - y)/sigma(t)^2.

    times : (steps + 1,), decreasing from T to delta. v0 : variance of z at T. Each step from t1 down to
    t0 is the bridge of CLAIMS.md §1 with the score frozen at (t1, y): with a = alpha(t1)/alpha(t0) and
    w = sigma(t1)^2 - a^2 sigma(t0)^2 the transition of X_{t1} | X_{t0},

        y <- y/a + (w/a) s + sqrt(sigma(t0)^2 w / sigma(t1)^2) xi,

    and since (1/a) alpha(t1) = alpha(t0), z = y - alpha(t) x_0 obeys z <- mu z + noise with
    mu = (1 - beta w / sigma(t1)^2) / a and noise variance sigma(t0)^2 w / sigma(t1)^2: so the mean
    is multiplied by mu and the variance becomes mu^2 v + sigma(t0)^2 w / sigma(t1)^2. At beta = 1
    the chain keeps v = sigma(t)^2 exactly. alpha and sigma^2 from :func:`kernel_twin`.
    """
    process = check_process(process)
    beta = _finite(beta, "beta")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2 or not np.all(np.isfinite(times)) or np.any(times <= 0) \
            or np.any(np.diff(times) >= 0):
        raise ValueError(f"times must be a decreasing grid of >= 2 positive times, got {times!r}")
    v0 = _finite(v0, "v0")
    if v0 < 0:
        raise ValueError(f"v0 must be >= 0, got {v0!r}")
    twin = kernel_twin(process)
    alpha, sigma2 = twin.alpha(times), twin.sigma2(times)
    s1, s0 = sigma2[:-1], sigma2[1:]
    a = alpha[:-1] / alpha[1:]
    w = s1 - a * a * s0
    mu = (1.0 - beta * w / s1) / a
    noise = s0 * w / s1
    # v_N = v0 prod_i mu_i^2 + sum_i noise_i prod_{j > i} mu_j^2
    later = np.append(np.cumprod((mu * mu)[::-1])[::-1][1:], 1.0)
    mean_factor = float(np.prod(mu))
    variance = float(v0 * np.prod(mu * mu) + np.sum(noise * later))
    rate = -math.log(abs(mean_factor)) / math.log(times[0] / times[-1]) if mean_factor != 0 else math.inf
    return BridgeChain(mean_factor=mean_factor, variance=variance, mean_rate=rate)


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def scaled_score_variance_ode(process: ForwardProcess, *, beta: float, T: float, v0: float,
                              deltas: Sequence[float]) -> np.ndarray:
    """v(delta) for each delta (shape (m,)) from the continuous moment ODE of one normal coordinate
    under the score beta times the exact one (CLAIMS.md C6, :func:`theory.symbolic.moment_odes`):

        dv/dt = 2 f v + 2 beta g^2 v / sigma^2 - g^2,   v(T) = v0,

    integrated from T down to each delta in log t (scipy LSODA, rtol 1e-10, atol 1e-14 v0).
    """
    from theory.symbolic import ErrorFamily, moment_odes

    process = check_process(process)
    beta = _finite(beta, "beta")
    T = _validate.positive_time(T, "T")
    v0 = _finite(v0, "v0")
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 1 or deltas.size < 1 or np.any(deltas <= 0) or np.any(deltas >= T):
        raise ValueError(f"deltas must be a 1-d array of times in (0, T = {T!r}), got {deltas!r}")
    rhs_v = moment_odes(ErrorFamily.SCALED_NORMAL, process).dv_dt_numpy

    def rhs(u: float, y: np.ndarray) -> list[float]:
        t = math.exp(u)
        return [t * float(rhs_v(t, y[0], beta))]

    order = np.argsort(-deltas)
    us = np.log(deltas[order])
    sol = integrate.solve_ivp(rhs, (math.log(T), float(us[-1])), [v0], t_eval=us, method="LSODA", rtol=1e-10,
                              atol=1e-14 * max(v0, 1e-300))
    if not sol.success:
        raise ArithmeticError(f"moment ODE integration failed: {sol.message}")
    out = np.empty_like(deltas)
    out[order] = sol.y[0]
    return out


@dataclass(frozen=True)
class ScaledScoreLevels:
    """Predicted RMS nearest-training distance of the sampler with the score beta times the exact one.

    deltas : (m,) decreasing. chain : (m,) from :func:`bridge_chain` on the simulator's grid of each
    delta (what the posterior scheme computes, discretization included). ode : (m,) from the
    continuous moment ODE (:func:`scaled_score_variance_ode`): chain / ode - 1 is the scheme's
    discretization bias. uncommitted : a bound on the probability that a draw of the prior at T lies nearer to another
    atom than to its own (where the linearization about one atom does not hold).
    """

    deltas: np.ndarray
    chain: np.ndarray
    ode: np.ndarray
    uncommitted: float


def scaled_score_levels(points: np.ndarray, weights: np.ndarray | None, process: ForwardProcess, *, beta: float,
                        T: float, deltas: Sequence[float], steps_per_decade: int) -> ScaledScoreLevels:
    """RMS nearest-training distance predicted at each delta for the reverse SDE with the score
    beta grad log p_t of mu = sum_i w_i delta_{x_i}, the prior p_T and the posterior scheme on the
    geometric grid of ``steps_per_decade`` steps per decade (:func:`theory.simulator.steps_for`).

    Near atom x_i the score is beta (alpha x_i - y)/sigma^2 (the posterior is one-hot), so each
    coordinate of z = y - alpha(t) x_i follows :func:`bridge_chain` from the prior's N(0, sigma(T)^2):
    mean 0, variance v(delta). The distance to x_i is |z + (alpha(delta) - 1) x_i| (alpha(delta) x_i
    is the kernel's centre), so the mean square is d v(delta) + (1 - alpha(delta))^2 sum_i w_i |x_i|^2
    (the cross term has mean 0). This holds while every particle stays nearest its own atom; the
    prior's draws violate it with probability at most sum_i w_i sum_{j != i}
    Phi(-alpha(T) |x_i - x_j| / (2 sigma(T))) (a union bound over the half-spaces nearer x_j),
    returned as ``uncommitted``. After T the spread about each atom shrinks for beta > 0 and grows like
    (T/delta)^(-beta) for beta < 0, which the caller must keep small against the atoms' spacing.
    """
    pts, w = _validate.point_set(points, weights)
    process = check_process(process)
    T = _validate.positive_time(T, "T")
    deltas = np.asarray(sorted((float(x) for x in deltas), reverse=True), dtype=np.float64)
    if deltas.size < 1 or deltas[-1] <= 0 or deltas[0] >= T:
        raise ValueError(f"deltas must lie in (0, T = {T!r}), got {deltas!r}")
    steps_per_decade = _validate.integer(steps_per_decade, "steps_per_decade", minimum=1)
    v0 = float(kernel_twin(process).sigma2(T))
    grids = [time_grid(T, float(delta), steps_for(T, float(delta), steps_per_decade)) for delta in deltas]
    chain = np.array([bridge_chain(process, beta=beta, times=times, v0=v0).variance for times in grids])
    ode = scaled_score_variance_ode(process, beta=beta, T=T, v0=v0, deltas=deltas)
    return ScaledScoreLevels(deltas=deltas, chain=atom_rms(pts, w, deltas, chain, process=process),
                             ode=atom_rms(pts, w, deltas, ode, process=process),
                             uncommitted=_uncommitted(pts, w, T, process))


def _uncommitted(pts: np.ndarray, w: np.ndarray, T: float, process: ForwardProcess) -> float:
    """sum_i w_i sum_{j != i} Phi(-alpha(T) |x_i - x_j| / (2 sigma(T))): a union bound on P(a draw of p_T is
    nearer another kernel centre alpha x_j than its own)."""
    twin = kernel_twin(process)
    gaps = spatial.distance.cdist(pts, pts)
    np.fill_diagonal(gaps, np.inf)
    tails = stats.norm.sf(float(twin.alpha(T)) * gaps / (2.0 * math.sqrt(float(twin.sigma2(T)))))
    return float(w @ tails.sum(axis=1))


def atom_rms(points: np.ndarray, weights: np.ndarray | None, t: Sequence[float] | float,
             variance: Sequence[float] | float, *, process: ForwardProcess) -> np.ndarray:
    """sqrt(d v + (1 - alpha(t))^2 sum_i w_i |x_i|^2) (shape of t): the RMS distance |Y - x_I| of
    Y = alpha(t) x_I + z with z of mean 0 and variance v per coordinate, I ~ w (the cross term has
    mean 0). With v = sigma(t)^2 it is the RMS nearest-training distance of p_t while the kernels do
    not overlap. points : (N, d); t, variance : broadcastable arrays."""
    pts, w = _validate.point_set(points, weights)
    t = np.asarray(t, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    if np.any(t <= 0) or np.any(variance < 0) or not (np.all(np.isfinite(t)) and np.all(np.isfinite(variance))):
        raise ValueError(f"t must be > 0 and variance >= 0, finite, got t={t!r}, variance={variance!r}")
    second = float(w @ np.einsum("ij,ij->i", pts, pts))
    return np.sqrt(pts.shape[1] * variance + (1.0 - kernel_twin(check_process(process)).alpha(t)) ** 2 * second)


@dataclass(frozen=True)
class Spread:
    """The kernel centre alpha(t) m of p_t (m = sum_i w_i x_i), shape (d,), and the RMS distance of X_t
    from it, sqrt(alpha(t)^2 sum_i w_i |x_i - m|^2 + d sigma(t)^2)."""

    centre: np.ndarray
    rms: float


def marginal_spread(points: np.ndarray, weights: np.ndarray | None, t: float, *, process: ForwardProcess) -> Spread:
    """:class:`Spread` of p_t for mu = sum_i w_i delta_{x_i}: X_t - alpha m = alpha (x_I - m) + sigma Z,
    whose two terms are uncorrelated, so E|X_t - alpha m|^2 = alpha^2 sum_i w_i |x_i - m|^2 + d sigma^2."""
    pts, w = _validate.point_set(points, weights)
    t = _validate.positive_time(t, "t")
    twin = kernel_twin(check_process(process))
    mean = w @ pts
    a, var = float(twin.alpha(t)), float(twin.sigma2(t))
    return Spread(centre=a * mean, rms=math.sqrt(a * a * float(w @ np.sum((pts - mean) ** 2, axis=1))
                                                 + pts.shape[1] * var))


def discrete_mean_rate(scheme: Scheme | str, process: ForwardProcess, *, beta: float, times: np.ndarray) -> float:
    """-log|prod_i (c_y,i - beta c_s,i / sigma(t_i)^2)| / log(times[0] / times[-1]): the decay rate per unit
    of log t of the mean deviation from an atom under ``scheme``'s own coefficients
    (:meth:`theory.schemes.Scheme.coefficients`) with the score beta times the exact one (beta for the
    continuous dynamics; :func:`bridge_chain` computes the posterior scheme's by the independent route)."""
    process = check_process(process)
    beta = _finite(beta, "beta")
    c_y, c_s, _ = resolve(scheme).coefficients(np.asarray(times, dtype=np.float64), process)
    times = np.asarray(times, dtype=np.float64)
    factor = np.prod(c_y - beta * c_s / process.sigma2(times[:-1]))
    return float(-np.log(abs(factor)) / np.log(times[0] / times[-1]))
