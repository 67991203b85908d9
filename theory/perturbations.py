"""Score-error families (CLAIMS.md §3: C2, C4, C6, C7).

Each family is a frozen, callable wrapper: ``family(t, x)`` returns s(t, x) = base(t, x) + e(t, x)
for a base score (usually :class:`ExactScore`) and an error e in closed form, given by
``family.error(t, x)``. x : ndarray, shape (n, d); t : float > 0; both return shape (n, d).

Families and their errors (n(x) a unit normal field, N_x / T_x the normal / tangent projections of
M at the nearest point of x):

=====================  ========================================  ==================================
family                  e(t, x)                                    L2 near t = 0 (CLAIMS.md C2)
=====================  ========================================  ==================================
BoundedConstant         b (a fixed vector)                         yes
NormalOffset            c t^(-a) n(x)                              iff a < 1/2
NormalScaling           (beta - 1) N_x s(t, x)                     iff beta = 1 (when k < d)
Tangential              c T_x v (v a fixed vector)                 yes
Clipped                 s min(1, C(t)/|s|) - s, C(t) = C sigma^-g  no; drift bounded iff g = 0 (C4)
Smoothed                grad log p_{t+h} - grad log p_t            no (C7)
RandomField             A m^(-1/2) sum_j u_j cos(w_j.x + b_j)      yes (bounded)
SignFlip                -2 s(t, x)                                 no (when k < d)
DroppedComponent        s_j - s for a mixture's component j        no (the dropped part ~ 1/sigma)
Rescaled                (f sigma(t)^-p - 1) s(t, x)                no unless f = 1 and p = 0
=====================  ========================================  ==================================
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from theory import _validate
from theory.measures.base import Measure, check_measure
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process
from theory.types import ScoreFn


def _check_score(score: object) -> ScoreFn:
    if not callable(score):
        raise TypeError(f"score must be callable (t, x) -> (n, d), got {type(score).__name__}")
    return score


def _real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class ExactScore:
    """The exact score grad log p_t of ``measure`` under ``process``, as a plain (t, x) callable."""

    kind: ClassVar[str] = "exact"
    parameters: ClassVar[tuple[str, ...]] = ()

    measure: Measure
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        check_measure(self.measure)
        check_process(self.process)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        return self.measure.score(t, x, process=self.process)


class Perturbation(abc.ABC):
    """A score s = base + e with e in closed form.

    Every family names itself for the claims registry: ``kind`` (a value of
    :class:`theory.claims.ErrorKind`) and ``parameters`` (the attribute names that identify it).
    """

    score: ScoreFn

    @abc.abstractmethod
    def error(self, t: float, x: np.ndarray) -> np.ndarray:
        """e(t, x), shape (n, d)."""

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        return self.score(t, x) + self.error(t, x)


@dataclass(frozen=True)
class BoundedConstant(Perturbation):
    """e(t, x) = b: a constant vector (bounded, hence L2)."""

    kind: ClassVar[str] = "bounded_constant"
    parameters: ClassVar[tuple[str, ...]] = ()

    score: ScoreFn
    b: np.ndarray

    def __post_init__(self) -> None:
        _check_score(self.score)
        b = np.asarray(self.b, dtype=np.float64)
        if b.ndim != 1 or not np.all(np.isfinite(b)):
            raise ValueError(f"b must be a finite vector of shape (d,), got {np.asarray(self.b)!r}")
        object.__setattr__(self, "b", b)

    def error(self, t, x):
        return np.broadcast_to(self.b, np.shape(x))


@dataclass(frozen=True)
class NormalOffset(Perturbation):
    """e(t, x) = c t^(-a) n(x), n(x) = N_x v / |N_x v|: the normal part of a fixed vector v, normalized.

    For a linear subspace (v normal to it) n is the constant v; for a sphere with v along the
    off-span directions it is constant too. Rows where N_x v = 0 get e = 0. L2 iff a < 1/2; lands
    on M iff a < 1 (CLAIMS.md C6, derived in :mod:`theory.symbolic`).
    """

    kind: ClassVar[str] = "normal_offset"
    parameters: ClassVar[tuple[str, ...]] = ('a', 'c')

    score: ScoreFn
    measure: Measure
    v: np.ndarray
    c: float
    a: float

    def __post_init__(self) -> None:
        _check_score(self.score)
        check_measure(self.measure)
        v = _validate.vector(self.v, self.measure.d, "v")
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "c", _real(self.c, "c"))
        object.__setattr__(self, "a", _real(self.a, "a"))

    def error(self, t, x):
        x = np.asarray(x, dtype=np.float64)
        normal = self.measure._normal(x, np.broadcast_to(self.v, x.shape))
        norm = np.linalg.norm(normal, axis=1, keepdims=True)
        unit = np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)
        return (self.c * t ** (-self.a)) * unit


@dataclass(frozen=True)
class NormalScaling(Perturbation):
    """e(t, x) = (beta - 1) N_x s(t, x): the normal part of the score multiplied by beta.

    For a PointCloud (k = 0, N_x = I) this is beta s, e.g. "half the exact score" at beta = 1/2
    (CLAIMS.md C7). L2 only at beta = 1 when k < d; lands on M iff beta > 0, at rate delta^min(beta, 1/2).
    """

    kind: ClassVar[str] = "normal_scaling"
    parameters: ClassVar[tuple[str, ...]] = ('beta',)

    score: ScoreFn
    measure: Measure
    beta: float

    def __post_init__(self) -> None:
        _check_score(self.score)
        check_measure(self.measure)
        object.__setattr__(self, "beta", _real(self.beta, "beta"))

    def error(self, t, x):
        x = np.asarray(x, dtype=np.float64)
        return (self.beta - 1.0) * self.measure._normal(x, self.score(t, x))

    def __call__(self, t, x):
        x = np.asarray(x, dtype=np.float64)
        s = self.score(t, x)
        return s + (self.beta - 1.0) * self.measure._normal(x, s)


@dataclass(frozen=True)
class Tangential(Perturbation):
    """e(t, x) = c T_x v: the tangential part of a fixed vector v (bounded; moves mass along M)."""

    kind: ClassVar[str] = "tangential"
    parameters: ClassVar[tuple[str, ...]] = ('c',)

    score: ScoreFn
    measure: Measure
    v: np.ndarray
    c: float = 1.0

    def __post_init__(self) -> None:
        _check_score(self.score)
        check_measure(self.measure)
        object.__setattr__(self, "v", _validate.vector(self.v, self.measure.d, "v"))
        object.__setattr__(self, "c", _real(self.c, "c"))

    def error(self, t, x):
        x = np.asarray(x, dtype=np.float64)
        return self.c * self.measure._tangent(x, np.broadcast_to(self.v, x.shape))


@dataclass(frozen=True)
class Clipped(Perturbation):
    """s(t, x) clipped to norm at most C(t) = C sigma(t)^(-growth): e = s min(1, C(t)/|s|) - s.

    growth = 0 (the default) is a bounded drift, C4's hypothesis. growth > 0 needs ``process``
    (for sigma(t)): an unbounded clip level, below the exact score's own 1/sigma growth when
    growth < 1. Near M the clipped dynamics then settle at a distance of order 1/C(t)
    (CLAIMS.md C4), which shrinks like sigma^growth: such a score still lands, slowly.
    """

    kind: ClassVar[str] = "clipped"
    parameters: ClassVar[tuple[str, ...]] = ('C', 'growth')

    score: ScoreFn
    C: float
    growth: float = field(default=0.0, kw_only=True)
    process: ForwardProcess | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_score(self.score)
        object.__setattr__(self, "C", _validate.positive_real(self.C, "C"))
        growth = _real(self.growth, "growth")
        if growth < 0:
            raise ValueError(f"growth must be >= 0, got {growth!r}")
        object.__setattr__(self, "growth", growth)
        if growth > 0 and self.process is None:
            raise ValueError("growth > 0 needs process= (the clip level C sigma(t)^-growth depends on sigma)")
        if self.process is not None:
            check_process(self.process)

    def level(self, t: float) -> float:
        """The clip level C sigma(t)^(-growth) at time t."""
        if self.growth == 0.0:
            return self.C
        return self.C * float(self.process.sigma2(t)) ** (-0.5 * self.growth)

    def _clipped(self, t, x):
        s = self.score(t, x)
        norm = np.linalg.norm(s, axis=1, keepdims=True)
        factor = np.minimum(1.0, self.level(t) / np.maximum(norm, np.finfo(np.float64).tiny))
        return s, s * factor

    def error(self, t, x):
        s, clipped = self._clipped(t, x)
        return clipped - s

    def __call__(self, t, x):
        return self._clipped(t, x)[1]


@dataclass(frozen=True)
class Smoothed(Perturbation):
    """s(t, x) = grad log p_{t+h}(x): the exact score at a later time (a kernel-smoothed score, C7).

    For a PointCloud this is the score of a Gaussian kernel density estimate with bandwidth
    sigma(t + h) around the contracted points alpha(t + h) x_i. e = grad log p_{t+h} - grad log p_t.
    """

    kind: ClassVar[str] = "smoothed"
    parameters: ClassVar[tuple[str, ...]] = ('h',)

    measure: Measure
    h: float
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        check_measure(self.measure)
        object.__setattr__(self, "h", _validate.positive_real(self.h, "h"))
        check_process(self.process)

    @property
    def score(self) -> ScoreFn:
        return ExactScore(self.measure, process=self.process)

    def error(self, t, x):
        return self(t, x) - self.measure.score(t, x, process=self.process)

    def __call__(self, t, x):
        return self.measure.score(t + self.h, x, process=self.process)


@dataclass(frozen=True)
class RandomField(Perturbation):
    """e(x) = amplitude m^(-1/2) sum_j u_j cos(w_j . x + b_j): a random smooth bounded field.

    m random features with w_j ~ N(0, I / length_scale^2), b_j ~ U[0, 2 pi), u_j ~ N(0, I_d),
    drawn once at construction from ``rng`` (so the field is a fixed function afterwards).
    |e| <= amplitude sqrt(m) max|u_j| and, in mean square over the feature draw, E|e|^2 ~
    amplitude^2 d / 2.
    """

    kind: ClassVar[str] = "random_field"
    parameters: ClassVar[tuple[str, ...]] = ('amplitude',)

    score: ScoreFn
    d: int
    rng: np.random.Generator = field(repr=False)
    amplitude: float = 1.0
    length_scale: float = 1.0
    features: int = 64
    _w: np.ndarray = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)
    _u: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_score(self.score)
        d = _validate.integer(self.d, "d", minimum=1)
        rng = _validate.generator(self.rng)
        m = _validate.integer(self.features, "features", minimum=1)
        amplitude = _real(self.amplitude, "amplitude")
        ell = _validate.positive_real(self.length_scale, "length_scale")
        object.__setattr__(self, "_w", rng.standard_normal((d, m)) / ell)
        object.__setattr__(self, "_b", rng.uniform(0.0, 2.0 * np.pi, m))
        object.__setattr__(self, "_u", rng.standard_normal((m, d)) * (amplitude / np.sqrt(m)))

    def error(self, t, x):
        return np.cos(np.asarray(x, dtype=np.float64) @ self._w + self._b) @ self._u


@dataclass(frozen=True)
class SignFlip(Perturbation):
    """s = -base: the drift's sign error. e = -2 base; not L2 near a lower-dimensional M (the base
    score is not, CLAIMS.md C5). Pushes particles away from M (distance ~ 1/delta)."""

    kind: ClassVar[str] = "sign_flip"
    parameters: ClassVar[tuple[str, ...]] = ()

    score: ScoreFn

    def __post_init__(self) -> None:
        _check_score(self.score)

    def error(self, t, x):
        return -2.0 * self.score(t, x)

    def __call__(self, t, x):
        return -self.score(t, x)


@dataclass(frozen=True)
class DroppedComponent(Perturbation):
    """The score of one component of a mixture used for the whole mixture: s = grad log p_t^(keep).

    e = s_keep - grad log p_t: near the support of a dropped component it is of order 1/sigma, so
    not L2 (CLAIMS.md C2); the dropped component receives no mass while the kept one is still
    landed on.
    """

    kind: ClassVar[str] = "dropped_component"
    parameters: ClassVar[tuple[str, ...]] = ('keep',)

    mixture: Measure
    keep: int
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        components = getattr(check_measure(self.mixture, "mixture"), "components", None)
        if components is None:
            raise TypeError(f"mixture must be a Mixture, got {type(self.mixture).__name__}")
        keep = _validate.integer(self.keep, "keep", minimum=0)
        if keep >= len(components):
            raise ValueError(f"keep must be a component index in [0, {len(components)}), got {keep}")
        object.__setattr__(self, "keep", keep)
        check_process(self.process)

    @property
    def score(self) -> ScoreFn:
        return ExactScore(self.mixture, process=self.process)

    def __call__(self, t, x):
        return self.mixture.components[self.keep].score(t, x, process=self.process)

    def error(self, t, x):
        return self(t, x) - self.mixture.score(t, x, process=self.process)


@dataclass(frozen=True)
class Rescaled(Perturbation):
    """s' = factor sigma(t)^(-sigma_power) s: the score rescaled, optionally by a power of sigma.

    sigma^2 |s'|^2 = factor^2 sigma^(2 - 2 sigma_power) |s|^2, so sigma_power = 1 turns the C5
    estimator sigma^2 E|s|^2 into E|s|^2 (the sigma^2 factor forgotten), 1/2 into sigma E|s|^2,
    and sigma_power = 0 with factor 1/2 is half the score (for a point set the same as
    NormalScaling with beta = 1/2). e = s' - s.
    """

    kind: ClassVar[str] = "rescaled"
    parameters: ClassVar[tuple[str, ...]] = ('factor', 'sigma_power')

    score: ScoreFn
    process: ForwardProcess = field(kw_only=True)
    factor: float = field(default=1.0, kw_only=True)
    sigma_power: float = field(default=0.0, kw_only=True)

    def __post_init__(self) -> None:
        _check_score(self.score)
        check_process(self.process)
        object.__setattr__(self, "factor", _real(self.factor, "factor"))
        object.__setattr__(self, "sigma_power", _real(self.sigma_power, "sigma_power"))

    def _scale(self, t: float) -> float:
        return self.factor * float(self.process.sigma2(t)) ** (-0.5 * self.sigma_power)

    def __call__(self, t, x):
        return self._scale(t) * self.score(t, x)

    def error(self, t, x):
        return (self._scale(t) - 1.0) * self.score(t, x)
