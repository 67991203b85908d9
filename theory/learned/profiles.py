"""Profiles of a score along t on the forward-noised training set (CLAIMS.md C5, C2/C3, C8).

For a training set x_1..x_N (its empirical measure mu_N = ``PointCloud(train)``) and a score s,
draw once the pairs (I_j, Z_j), j = 1..n, I uniform on 1..N and Z ~ N(0, I_d), and evaluate at every
node t of a decreasing grid on X_t = alpha(t) x_I + sigma(t) Z, a sample of the forward marginal of
mu_N. The same pairs serve every node (common random numbers), so the profiles are smooth in t and
their node-to-node changes are not masked by Monte-Carlo noise. Three families:

(i) explosion (CLAIMS.md C5): the codimension profile

        c(t) = d + E[sigma(t)^2 |s(t, X_t)|^2 - |Z|^2]  (= sigma(t)^2 E|s(t, X_t)|^2, as E|Z|^2 = d),

    estimated with |Z|^2 as a control variate: for a score that lands on the training points,
    sigma s = -Z + o(1) near t = 0 and the estimate has almost no noise. c(t) -> d for the exact
    empirical score and -> d - k for the exact score of a k-dimensional measure the points lie on.
    By Stam's inequality the Fisher information of X_t = alpha X_0 + sigma Z is at most that of
    sigma Z, d / sigma^2, so c(t) <= d for the exact score of mu_N (in sample form
    E|E[Z | X_t]|^2 <= E|Z|^2, Jensen). The same profile is recorded for the exact empirical score
    and, with a population, for the population score.
    Beside it the alignment a(t) = -E[sigma(t) s(t, X_t) . Z] (estimated as d - E[(sigma s + Z) . Z]):
    for the exact score of the training set's forward law a = c (Tweedie: sigma s = -E[Z | X_t]),
    and near t = 0 the population score has a = c = d - k too. A score that interpolates,
    s = w s_emp + (1 - w) s_pop, has a = d - k + w k but c = d - k + w^2 k: the pull towards the
    training points (which makes the sampler memorize for every w > 0, CLAIMS.md C6/C7) enters c only
    at second order, and a - c measures it.

(ii) error against the empirical score, e_emp(t) = sigma^2 E|s - s_emp|^2, and the L2 integral
    int (g^2/2) E|s - s_emp|^2 dt over a range (the Girsanov term of CLAIMS.md C2; finite for every L2
    error, and C3: an L2 error against s_emp memorizes).

(iii) with a population measure mu (the law the training set was drawn from): e_pop(t) =
    sigma^2 E|s - s_pop|^2 and the separation of the two references, sep(t) = sigma^2
    E|s_emp - s_pop|^2 (-> k near t = 0, where s_emp pulls along M towards a training point and s_pop
    does not; -> 0 at large t, where both see a blurred cloud).

Every quantity is dimensionless (an expected squared norm of sigma times a score), in the units of
the codimension. Standard errors are per node (the n pairs are i.i.d.; nodes share them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from theory import _validate
from theory.learned.adapters import checked_output
from theory.measures.base import Measure
from theory.measures.pointcloud import PointCloud
from theory.processes import ForwardProcess

ScoreFn = Callable[[float, np.ndarray], np.ndarray]

# Nodes of the default grid per decade of sigma(t)^2: four resolve a profile that changes regime
# over about a decade (the empirical score's transition from blurred cloud to separated points),
# and adjacent nodes are close enough (a factor 1.78 in sigma^2) that the node-to-node change of an
# exact score's profile inside the decisive window stays small (theory.learned.resolution).
NODES_PER_DECADE = 4
# Bottom of the default grid, in sigma(t)^2: sigma = 1e-4, far below the spacing of any training
# set we study (digits: nearest distances >= 0.33; 1024 points on the unit circle: 6e-3), so the
# empirical score has separated the points well above it; a network's floor lies above it too.
SIGMA2_BOTTOM = 1e-8


@dataclass(frozen=True)
class ExplosionProfile:
    """Codimension profiles c(t) = sigma(t)^2 E|s(t, X_t)|^2 at each node (module docstring, (i)).

    times, sigma2 : (m,), decreasing. value, sem : (m,) the profile of the score under study and
    its standard error. empirical, empirical_sem : (m,) the same for the exact empirical score
    PointCloud(train).score. population, population_sem : (m,) for the population score, or None.
    alignment, alignment_sem : (m,) a(t) = -E[sigma s . Z] of the score under study.
    d : the ambient dimension (the limit for a score that lands on the training points).
    """

    times: np.ndarray
    sigma2: np.ndarray
    value: np.ndarray
    sem: np.ndarray
    empirical: np.ndarray
    empirical_sem: np.ndarray
    population: np.ndarray | None
    population_sem: np.ndarray | None
    alignment: np.ndarray
    alignment_sem: np.ndarray
    d: int


@dataclass(frozen=True)
class ErrorProfile:
    """Squared errors sigma(t)^2 E|.|^2 at each node (module docstring, (ii) and (iii)).

    times : (m,), decreasing. empirical, empirical_sem : e_emp = sigma^2 E|s - s_emp|^2 and its
    standard error. population, population_sem : e_pop = sigma^2 E|s - s_pop|^2, or None.
    separation, separation_sem : sep = sigma^2 E|s_emp - s_pop|^2, or None.
    girsanov : (m,) the L2 integrand (g(t)^2 / 2) E|s - s_emp|^2 = (g^2 / 2) e_emp / sigma^2.
    """

    times: np.ndarray
    empirical: np.ndarray
    empirical_sem: np.ndarray
    population: np.ndarray | None
    population_sem: np.ndarray | None
    separation: np.ndarray | None
    separation_sem: np.ndarray | None
    girsanov: np.ndarray

    def l2_integral(self, t_low: float, t_high: float) -> float:
        """int_{t_low}^{t_high} (g^2/2) E|s - s_emp|^2 dt by the trapezoid rule in log t over the
        nodes in [t_low, t_high] (0 when fewer than two nodes lie there)."""
        inside = (self.times >= t_low) & (self.times <= t_high)
        if inside.sum() < 2:
            return 0.0
        log_t = np.log(self.times[inside])
        integrand = self.girsanov[inside] * self.times[inside]  # dt = t dlog t
        return float(abs(np.trapezoid(integrand, log_t)))


def time_of_sigma2(process: ForwardProcess, sigma2: float) -> float:
    """The t with sigma(t)^2 = sigma2 (sigma^2 increases in t), by Brent's method to 1e-13 relative."""
    hi = 1.0
    while float(process.sigma2(hi)) < sigma2:
        hi *= 2.0
        if hi > 1e6:
            raise ValueError(f"sigma(t)^2 of {process!r} never reaches {sigma2!r}")
    return float(optimize.brentq(lambda t: float(process.sigma2(t)) - sigma2, 0.0, hi, xtol=1e-300, rtol=1e-13))


def default_times(process: ForwardProcess, T: float) -> np.ndarray:
    """The default grid: sigma(t)^2 geometric from sigma(T)^2 down to SIGMA2_BOTTOM, NODES_PER_DECADE
    nodes per decade (t found by :func:`time_of_sigma2`); shape (m,), decreasing, times[0] = T."""
    top = float(process.sigma2(T))
    if not top > SIGMA2_BOTTOM:
        raise ValueError(f"sigma(T)^2 = {top:.3g} must exceed {SIGMA2_BOTTOM:g}; use a larger T")
    m = int(np.ceil(NODES_PER_DECADE * np.log10(top / SIGMA2_BOTTOM)))
    sigma2 = top * (SIGMA2_BOTTOM / top) ** (np.arange(m + 1) / m)
    return np.array([T] + [time_of_sigma2(process, s2) for s2 in sigma2[1:]])


def _mean_sem(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def score_profiles(score: ScoreFn, train: np.ndarray, *, times: Sequence[float], n: int,
                   rng: np.random.Generator, process: ForwardProcess,
                   population: Measure | None = None) -> tuple[ExplosionProfile, ErrorProfile]:
    """The profiles (i)-(iii) of the module docstring at ``times``.

    score : (t, x (n, d)) -> (n, d). train : (N, d), validated by the caller. times : decreasing,
    > 0. n : pairs (I, Z). population : a measure on R^d or None.
    Raises ValueError if the score returns a wrong shape or NaN/inf.
    """
    times = np.asarray(times, dtype=np.float64)
    cloud = PointCloud(train)
    d = train.shape[1]
    index = rng.integers(0, train.shape[0], size=n)
    z = rng.standard_normal((n, d))
    z2 = np.einsum("ij,ij->i", z, z)
    x0 = train[index]
    sigma2_all = process.sigma2(times)
    g2_all = process.g2(times)
    m = times.size
    fields = {name: np.full(m, np.nan) for name in (
        "value", "sem", "empirical", "empirical_sem", "population", "population_sem",
        "e_emp", "e_emp_sem", "e_pop", "e_pop_sem", "sep", "sep_sem", "align", "align_sem")}

    def sq(v: np.ndarray, s2: float) -> np.ndarray:
        return s2 * np.einsum("ij,ij->i", v, v)

    for j, t in enumerate(times):
        t = float(t)
        s2 = float(sigma2_all[j])
        xt = float(process.alpha(t)) * x0 + np.sqrt(s2) * z
        s = checked_output(score(t, xt), xt, name="score", t=t)
        s_emp = cloud.score(t, xt, process=process)
        fields["value"][j], fields["sem"][j] = _mean_sem(sq(s, s2) - z2)
        fields["align"][j], fields["align_sem"][j] = _mean_sem(np.einsum("ij,ij->i", np.sqrt(s2) * s + z, z))
        fields["empirical"][j], fields["empirical_sem"][j] = _mean_sem(sq(s_emp, s2) - z2)
        fields["e_emp"][j], fields["e_emp_sem"][j] = _mean_sem(sq(s - s_emp, s2))
        if population is not None:
            s_pop = population.score(t, xt, process=process)
            fields["population"][j], fields["population_sem"][j] = _mean_sem(sq(s_pop, s2) - z2)
            fields["e_pop"][j], fields["e_pop_sem"][j] = _mean_sem(sq(s - s_pop, s2))
            fields["sep"][j], fields["sep_sem"][j] = _mean_sem(sq(s_emp - s_pop, s2))
    pop = population is not None
    explosion = ExplosionProfile(
        times=times, sigma2=sigma2_all, value=d + fields["value"], sem=fields["sem"],
        empirical=d + fields["empirical"], empirical_sem=fields["empirical_sem"],
        population=d + fields["population"] if pop else None, population_sem=fields["population_sem"] if pop else None,
        alignment=d - fields["align"], alignment_sem=fields["align_sem"], d=d)
    errors = ErrorProfile(
        times=times, empirical=fields["e_emp"], empirical_sem=fields["e_emp_sem"],
        population=fields["e_pop"] if pop else None, population_sem=fields["e_pop_sem"] if pop else None,
        separation=fields["sep"] if pop else None, separation_sem=fields["sep_sem"] if pop else None,
        girsanov=0.5 * g2_all * fields["e_emp"] / sigma2_all)
    return explosion, errors


def validate_times(times: object) -> np.ndarray:
    """A user grid: >= 3 distinct finite times > 0, returned sorted decreasing, shape (m,)."""
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 3 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"times must be >= 3 finite numbers > 0 of shape (m,), got {np.asarray(times)!r}")
    if np.unique(arr).size != arr.size:
        raise ValueError("times must be distinct")
    return np.sort(arr)[::-1].copy()


def check_sample_size(n: object, name: str) -> int:
    """n as an int >= 2 (standard errors need two draws)."""
    return _validate.integer(n, name, minimum=2)
