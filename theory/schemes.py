"""One-step integrators of the reverse SDE, as frozen objects holding their formulas and orders
(CLAIMS.md §1).

Reverse SDE, u = T - t running forward: dY = [-f(t) Y + g(t)^2 s(t, Y)] du + g(t) dB. On the step
from forward time t1 down to t0 < t1 every scheme evaluates one drift input s at (t1, Y) and makes
the affine update

    Y <- c_y Y + c_s s + c_z Z,   Z ~ N(0, I),

with per-step coefficients (:meth:`Scheme.coefficients`) computed once for the whole grid, so the
simulator's hot loop is three fused array operations plus one call (:meth:`Scheme.drift_input`).
Below (a, v) = :meth:`ForwardProcess.transition` (t0, t1): X_{t1} = a X_{t0} + N(0, v I) with
a = alpha(t1)/alpha(t0), and h = t1 - t0.

=================  ======================================================  ====  ======  ========================
scheme             c_y, c_s, c_z                                           weak  strong  exact for
=================  ======================================================  ====  ======  ========================
``EulerMaruyama``  1 - h f(t1),  h g(t1)^2,  sqrt(h g(t1)^2)                1     1       nothing
``Exponential``    1/a,  int_{t0}^{t1} alpha(t0)/alpha(r) g(r)^2 dr,        1     1       the linear drift (s = 0)
                   sqrt(v)/a
``Posterior``      1/a,  v/a,  sigma(t0) sqrt(v)/sigma(t1)                  1     1       mu a point mass
``Ancestral``      as Posterior, with X_0 drawn from the posterior          inf   1/2     any mu, in law
=================  ======================================================  ====  ======  ========================

The drift input is the score s(t1, Y) for the first three. Orders hold for coefficients smooth on
the step; the strong orders are for additive noise, against the SDE driven by the same Brownian
path (``tests/test_schemes.py`` measures all of them).

``EulerMaruyama`` freezes every coefficient at t1.

``Exponential`` integrates the linear drift -f Y exactly with s frozen: exact when s = 0.

``Posterior`` writes s = (alpha D - y)/sigma^2 (Tweedie, D = E[X_0 | X_t = y]) and integrates the
semilinear drift -f Y - g^2 Y/sigma^2 exactly with the denoiser D frozen at its value at (t1, Y):
the step samples the Gaussian bridge law(X_{t0} | X_{t1} = Y, X_0 = D) of CLAIMS.md §1, whose mean
a sigma(t0)^2/sigma(t1)^2 Y + alpha(t0) v/sigma(t1)^2 D is c_y Y + c_s s. This is the DDPM step
with x0-prediction. It is exact for any step size when D is constant (mu a point mass), and it
has no step-size restriction from the 1/sigma^2 explosion of the score near M, which is why it is
the simulator's default. While the posterior is spread over several atoms, replacing the law of
X_0 | Y by its mean under-disperses every step, which biases how often each atom of a PointCloud
is hit at first order in the step. Measured from a point-mass prior (cloud, T = 1, n = 1e5), the
chi-square noncentrality this adds at n = 2000 is 16 at 20 steps per decade and 0.9 at 100
(Exponential: 4.9 and 0.2). For frequencies use ``Ancestral``.

``Ancestral`` is the same bridge step with X_0 *drawn* from law(X_0 | X_{t1} = Y)
(``measure.posterior_sample``) instead of its mean D: the drift input is (alpha(t1) X_0 - Y) /
sigma(t1)^2. Mixing the bridge over the posterior gives law(X_{t0} | X_{t1} = Y) exactly
(CLAIMS.md §1), so the chain has the exact reverse marginals on any grid: no weak error at all.
Against the SDE driven by the same Brownian path it has strong order 1/2: each step differs from
the Posterior step by (v/a) alpha (X_0 - D)/sigma^2, of order h with conditional mean zero and
independent across steps, which adds up to order sqrt(h). It needs a score that knows its
measure and process (:class:`theory.perturbations.ExactScore`) and takes its draws from the
simulator's ``rng``, the only source of randomness of a run.

Choose a scheme by instance (``Posterior()``), by alias (``Scheme.POSTERIOR``) or by name
(``"posterior"``, the keys of :data:`SCHEMES`); :func:`resolve` turns any of them into the instance.
"""

from __future__ import annotations

import abc
import enum
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from theory.perturbations import ExactScore
from theory.processes import ForwardProcess, check_process
from theory.types import ScoreFn

# exp(y) overflows float64 above this exponent (709.78): 1/a = exp(log alpha(t0) - log alpha(t1)) must stay below it.
LOG_DBL_MAX = math.log(float(np.finfo(np.float64).max))


class Exactness(enum.Enum):
    """What a scheme is exact for: where its step is the exact reverse transition at any step size.

    The value is the short statement; ``tests/test_schemes.py`` runs one case per member.
    """

    NOTHING = "nothing: first order on every problem"
    LINEAR_DRIFT = "the linear drift alone (s = 0): dY = -f Y du + g dB"
    POINT_MASS = "mu a point mass (a constant denoiser)"
    IN_LAW = "any measure with posterior_sample, in law"


class StepCoefficients(NamedTuple):
    """The coefficients of Y <- c_y Y + c_s s + c_z Z on every step, each of shape (steps,)."""

    c_y: np.ndarray
    c_s: np.ndarray
    c_z: np.ndarray


def _check_times(times: object) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError(f"times must have shape (steps + 1,) with steps >= 1, got {times.shape}")
    if not (np.all(np.isfinite(times)) and np.all(times > 0.0) and np.all(np.diff(times) < 0.0)):
        raise ValueError(f"times must be finite, > 0 and strictly decreasing (T down to delta), got {times!r}")
    return times


class Scheme(abc.ABC):
    """A one-step integrator of the reverse SDE (module docstring for the formulas).

    Class data: ``name`` (the key in :data:`SCHEMES`), ``weak_order`` and ``strong_order`` (``math.inf``
    for no error at all), ``exact_for`` (an :class:`Exactness`). Methods: :meth:`coefficients` (the
    update's c_y, c_s, c_z), :meth:`noise_kernel` (the integrand whose Ito integral is the step's
    noise c_z Z), :meth:`check_score` and :meth:`drift_input` (what the simulator calls on each row
    chunk). Aliases of the instances: ``Scheme.EULER_MARUYAMA``, ``Scheme.EXPONENTIAL``,
    ``Scheme.POSTERIOR``, ``Scheme.ANCESTRAL``.
    """

    name: ClassVar[str]
    weak_order: ClassVar[float]
    strong_order: ClassVar[float]
    exact_for: ClassVar[Exactness]

    EULER_MARUYAMA: ClassVar[Scheme]
    EXPONENTIAL: ClassVar[Scheme]
    POSTERIOR: ClassVar[Scheme]
    ANCESTRAL: ClassVar[Scheme]

    @abc.abstractmethod
    def _coefficients(self, t0: np.ndarray, t1: np.ndarray, process: ForwardProcess) -> tuple[np.ndarray, ...]:
        """(c_y, c_s, c_z) for the steps from t1 (shape (steps,)) down to t0, on validated times."""

    def coefficients(self, times: np.ndarray, process: ForwardProcess) -> StepCoefficients:
        """The coefficients of every step of the decreasing grid ``times`` (shape (steps + 1,)).

        Returns :class:`StepCoefficients`, each of shape (steps,). Raises ValueError, naming the step
        and its times, where a coefficient would not be a finite float64 (a step too long for the
        process: e.g. 1/a = exp(log alpha(t0) - log alpha(t1)) beyond 1.8e308 for OU steps longer
        than 709.78), before anything is integrated.
        """
        times = _check_times(times)
        process = check_process(process)
        t1, t0 = times[:-1], times[1:]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            raw = self._coefficients(t0, t1, process)
        coefficients = StepCoefficients(*(np.asarray(c, dtype=np.float64) for c in raw))
        for label, c in zip(StepCoefficients._fields, coefficients):
            bad = np.flatnonzero(~np.isfinite(c))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"{self!r} cannot take step {i} of the grid, from t1={float(t1[i])!r} down to "
                                 f"t0={float(t0[i])!r}, under {process!r}: its coefficient {label} = "
                                 f"{float(c[i])!r} is not a finite float64; use more steps")
        return coefficients

    @abc.abstractmethod
    def noise_kernel(self, t0: float, t1: float, r: np.ndarray, process: ForwardProcess) -> np.ndarray:
        """K(r) for r in [t0, t1] (any shape): the step's noise c_z Z is the Ito integral of K against
        the Brownian path over the step, so c_z^2 = int_{t0}^{t1} K(r)^2 dr."""

    def check_score(self, score: object, process: ForwardProcess) -> None:
        """Raise TypeError/ValueError if this scheme cannot use ``score`` under ``process``."""
        if not callable(score):
            raise TypeError(f"score must be callable (t, x) -> array of x's shape, got {type(score).__name__}")

    def drift_input(self, score: ScoreFn, t: float, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The s of the update at forward time t for the rows y (m, d): here score(t, y), shape (m, d)."""
        return score(t, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _inverse_a(t0: np.ndarray, t1: np.ndarray, process: ForwardProcess) -> tuple[np.ndarray, np.ndarray]:
    """(1/a, v) of the transition from t0 to t1; ValueError naming the first step where 1/a overflows."""
    a, v = process.transition(t0, t1)
    with np.errstate(divide="ignore", over="ignore"):
        inverse = 1.0 / a
    bad = np.flatnonzero(~np.isfinite(inverse))
    if bad.size:
        i = int(bad[0])
        exponent = float(process.log_alpha(t0[i]) - process.log_alpha(t1[i]))
        raise ValueError(f"step {i} of the grid, from t1={float(t1[i])!r} down to t0={float(t0[i])!r}, is too long "
                         f"for {process!r}: 1/a = alpha(t0)/alpha(t1) = exp({exponent:.6g}) exceeds float64 (exponent "
                         f"above {LOG_DBL_MAX:.2f}); use more steps")
    return inverse, v


def _bridge(t0: np.ndarray, t1: np.ndarray, process: ForwardProcess) -> tuple[np.ndarray, ...]:
    """Coefficients of the Gaussian bridge step: 1/a, v/a, sigma(t0) sqrt(v)/sigma(t1)."""
    inverse, v = _inverse_a(t0, t1, process)
    return inverse, v * inverse, np.sqrt(process.sigma2(t0) * v / process.sigma2(t1))


def _bridge_kernel(t0: float, r: np.ndarray, process: ForwardProcess) -> np.ndarray:
    """alpha(r)/alpha(t0) sigma(t0)^2/sigma(r)^2 g(r): the fundamental solution of the bridge's
    semilinear drift -f Y - g^2 Y/sigma^2 from r to t0, times g(r)."""
    return (np.exp(process.log_alpha(r) - process.log_alpha(t0)) * process.sigma2(t0) / process.sigma2(r)
            * process.diffusion(r))


@dataclass(frozen=True, repr=False)
class EulerMaruyama(Scheme):
    """Euler-Maruyama: every coefficient frozen at t1 (module docstring)."""

    name: ClassVar[str] = "euler_maruyama"
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 1.0
    exact_for: ClassVar[Exactness] = Exactness.NOTHING

    def _coefficients(self, t0, t1, process):
        h = t1 - t0
        g2 = process.g2(t1)
        return 1.0 - h * process.drift(t1), h * g2, np.sqrt(h * g2)

    def noise_kernel(self, t0, t1, r, process):
        """g(t1), constant over the step."""
        return np.full(np.shape(r), float(process.diffusion(t1)))


@dataclass(frozen=True, repr=False)
class Exponential(Scheme):
    """Exponential integrator: the linear drift -f Y integrated exactly, the score frozen (module docstring)."""

    name: ClassVar[str] = "exponential"
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 1.0
    exact_for: ClassVar[Exactness] = Exactness.LINEAR_DRIFT

    def _coefficients(self, t0, t1, process):
        inverse, v = _inverse_a(t0, t1, process)
        return inverse, process.drift_integral(t0, t1), np.sqrt(v) * inverse

    def noise_kernel(self, t0, t1, r, process):
        """alpha(t0)/alpha(r) g(r): the linear drift's fundamental solution from r to t0, times g(r)."""
        return np.exp(process.log_alpha(t0) - process.log_alpha(r)) * process.diffusion(r)


@dataclass(frozen=True, repr=False)
class Posterior(Scheme):
    """The Gaussian bridge step with the denoiser frozen at (t1, Y) (DDPM with x0-prediction; module docstring)."""

    name: ClassVar[str] = "posterior"
    weak_order: ClassVar[float] = 1.0
    strong_order: ClassVar[float] = 1.0
    exact_for: ClassVar[Exactness] = Exactness.POINT_MASS

    def _coefficients(self, t0, t1, process):
        return _bridge(t0, t1, process)

    def noise_kernel(self, t0, t1, r, process):
        return _bridge_kernel(t0, r, process)


@dataclass(frozen=True, repr=False)
class Ancestral(Scheme):
    """The Gaussian bridge step with X_0 drawn from the posterior: exact in law (module docstring).

    The score must be a :class:`theory.perturbations.ExactScore` under the simulator's process whose
    measure has ``posterior_sample(t, x, rng, *, process) -> (n, d)``; each step draws one X_0 per row
    from the simulator's ``rng``, rows in order, so the draws do not depend on ``chunk_size``.
    """

    name: ClassVar[str] = "ancestral"
    weak_order: ClassVar[float] = math.inf
    strong_order: ClassVar[float] = 0.5
    exact_for: ClassVar[Exactness] = Exactness.IN_LAW

    def _coefficients(self, t0, t1, process):
        return _bridge(t0, t1, process)

    def noise_kernel(self, t0, t1, r, process):
        return _bridge_kernel(t0, r, process)

    def check_score(self, score, process):
        if not isinstance(score, ExactScore):
            raise TypeError(f"the ancestral scheme draws X_0 from the measure's posterior, so score must be a "
                            f"theory.perturbations.ExactScore (it knows its measure and process), got "
                            f"{type(score).__name__}")
        if not callable(getattr(score.measure, "posterior_sample", None)):
            raise TypeError(f"the ancestral scheme needs measure.posterior_sample(t, x, rng, *, process), which "
                            f"{type(score.measure).__name__} does not have")
        if score.process != process:
            raise ValueError(f"the ancestral scheme needs the score's process to be the simulator's, got "
                             f"score.process={score.process!r}, process={process!r}")

    def drift_input(self, score, t, y, rng):
        """(alpha(t) X_0 - y) / sigma(t)^2 with X_0 ~ law(X_0 | X_t = y) drawn per row of y from ``rng``."""
        x0 = score.measure.posterior_sample(t, y, rng, process=score.process)
        return (float(score.process.alpha(t)) * x0 - y) / float(score.process.sigma2(t))


#: Every scheme by its name.
SCHEMES: Mapping[str, Scheme] = types.MappingProxyType(
    {scheme.name: scheme for scheme in (EulerMaruyama(), Exponential(), Posterior(), Ancestral())})

Scheme.EULER_MARUYAMA = SCHEMES["euler_maruyama"]
Scheme.EXPONENTIAL = SCHEMES["exponential"]
Scheme.POSTERIOR = SCHEMES["posterior"]
Scheme.ANCESTRAL = SCHEMES["ancestral"]


def resolve(scheme: Scheme | str) -> Scheme:
    """The :class:`Scheme` instance for an instance, an alias (``Scheme.POSTERIOR``) or a name (``"posterior"``)."""
    if isinstance(scheme, Scheme):
        return scheme
    if isinstance(scheme, str):
        try:
            return SCHEMES[scheme]
        except KeyError:
            pass
    names = ", ".join(repr(name) for name in SCHEMES)
    error = ValueError if isinstance(scheme, str) else TypeError
    raise error(f"scheme must be a Scheme such as Posterior() or one of {names}, got {scheme!r}")
