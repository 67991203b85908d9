"""Linear forward processes dX = f(t) X dt + g(t) dW on R^d (CLAIMS.md §1).

Each process has the Gaussian kernel X_t | X_0 = x0 ~ N(alpha(t) x0, sigma(t)^2 I) with

    alpha(t) = exp(int_0^t f),    sigma(t)^2 = alpha(t)^2 int_0^t g(s)^2 / alpha(s)^2 ds,

so sigma(0) = 0 and the marginal at t = 0 is the data measure itself. Everything is vectorized
over ``t`` (any shape). Exponentials are taken of the exact exponent (log alpha, or its increment
between two times for the two-time kernel), never of a ratio of exponentials, and differences
1 - exp(-y) are written with ``expm1``, so no quantity cancels.

Processes are frozen dataclasses: hashable, comparable, validated on construction. The symbolic
twins (:meth:`ForwardProcess.symbolic`) are the single source the SymPy predicates start from;
``tests/test_processes.py`` checks the NumPy formulas against them.

Accuracy
--------
Rounding model: each float64 operation errs by at most u = eps / 2 relatively; NumPy's float64
``exp``, ``expm1`` and ``log`` err by at most 1 ulp (relative eps) on every SIMD path (NumPy's own
``test_umath_accuracy`` holds them to that). exp(y) turns a relative error r of its argument into
a relative error |y| r of its value, expm1(y) into at most (1 + |y|) r, and -expm1(-y) (y >= 0)
into at most r. Each kernel quantity is a few such operations; the class docstrings count them
and state the bound

    |computed - exact| <= C eps (1 + E) |exact|,

where ``exact`` is the quantity of the process with its float parameters at the float times,
E is the largest |argument| of an exp or expm1 in the formula (listed per quantity) and C is a
constant of the process: 2 (OU), 4 (VP), 6 + 1/rate (VE, rate = 2 log(sigma_max/sigma_min)).

Range
-----
The bound holds while the result is a normal float (>= DBL_MIN = 2.2e-308) and within float64's
range. Outside:

- *Decay below DBL_MIN* (alpha and the two-time factor a for large t; sigma^2 and the two-time
  variance near t = 0 for some processes, see the classes): the result underflows gradually,
  silently (NumPy's default ``under="ignore"``) and keeps the bound plus an absolute error of
  one subnormal ulp, 2^-1074 = 4.9e-324 (times the factor a subnormal intermediate is multiplied
  by, stated where it applies). exp(y) is subnormal for y < log(DBL_MIN) = -708.396 and rounds to
  0 for y < log(2^-1075) = -745.13 (the 1-ulp model allows 2^-1074 there as well): 0 is the float64
  nearest the exact value, not an error.
- *Growth beyond DBL_MAX = 1.8e308*: never returned. Each process accepts times in
  [0, ``t_max``], the range on which every quantity stays below DBL_MAX / HEADROOM, and raises
  ``ValueError`` for larger t. The drift integral of OU and VP grows with the step, not with t:
  it is refused with ``ValueError`` when its exponent exceeds DRIFT_EXPONENT_MAX = 707.70.

Nothing returns NaN or inf: inputs are finite (validated) and every result is in range or refused.
"""

from __future__ import annotations

import abc
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from theory import _validate

# Largest finite float64 (1.8e308) and its logarithm (709.78): exp(y) overflows for y above it.
DBL_MAX = float(np.finfo(np.float64).max)
LOG_DBL_MAX = math.log(DBL_MAX)
# Every quantity a process returns on [0, t_max] stays below DBL_MAX / HEADROOM. The factor 4 covers
# the rounding near the limit (an exponent of 710 errs by ~1e-12, a factor 1 + 1e-12 in the value)
# with room to spare, so no result inside the documented range rounds up to inf.
HEADROOM = 4.0
# The drift integral 2 (exp(y) - 1) of OU and VP stays below DBL_MAX / HEADROOM for exponents
# y <= log(DBL_MAX / (2 HEADROOM)) = 707.70; larger y are refused.
DRIFT_EXPONENT_MAX = LOG_DBL_MAX - math.log(2.0 * HEADROOM)


@dataclass(frozen=True)
class ProcessExpressions:
    """SymPy expressions of one process in the time symbol ``t``.

    Attributes: ``f`` (drift coefficient), ``g2`` (g(t)^2), ``alpha``, ``sigma2`` (sigma(t)^2).
    """

    t: Any
    f: Any
    g2: Any
    alpha: Any
    sigma2: Any


class ForwardProcess(abc.ABC):
    """A linear forward SDE dX = f(t) X dt + g(t) dW with its Gaussian transition kernel.

    Every public method accepts times in [0, ``t_max``] (any shape) and raises ``ValueError``
    outside; accuracy and underflow are stated in the module docstring and each class's.
    """

    # What overflows beyond t_max, for the error message (set by each process).
    _T_MAX_REASON: str = ""

    # -- the defining functions, implemented by each process on validated float64 arrays -------
    @abc.abstractmethod
    def _log_alpha(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _sigma2(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _drift(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _g2(self, t: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _transition(self, t0: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @abc.abstractmethod
    def _drift_integral(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def _time_at_sigma2(self, s2: np.ndarray) -> np.ndarray: ...

    @property
    @abc.abstractmethod
    def t_max(self) -> float:
        """The largest time accepted: every kernel quantity on [0, t_max] is below DBL_MAX / HEADROOM."""

    @abc.abstractmethod
    def symbolic(self) -> ProcessExpressions:
        """SymPy expressions for f, g^2, alpha and sigma^2 in a positive symbol ``t``."""

    # -- public, validated (t finite, 0 <= t <= t_max, any shape) -----------------------------------
    def _times(self, t, name: str = "t") -> np.ndarray:
        t = _validate.time_array(t, name)
        if np.any(t > self.t_max):
            raise ValueError(f"{name} must be <= t_max = {self.t_max!r} for {self!r} (beyond it "
                             f"{self._T_MAX_REASON}), got {float(np.max(t))!r}")
        return t

    def log_alpha(self, t: np.ndarray | float) -> np.ndarray:
        """log alpha(t) = int_0^t f(s) ds, elementwise."""
        return self._log_alpha(self._times(t))

    def sigma2(self, t: np.ndarray | float) -> np.ndarray:
        """sigma(t)^2, the kernel variance per coordinate, elementwise (accuracy: the class docstring)."""
        return self._sigma2(self._times(t))

    def drift(self, t: np.ndarray | float) -> np.ndarray:
        """The drift coefficient f(t) of dX = f(t) X dt + g(t) dW, elementwise."""
        return self._drift(self._times(t))

    def g2(self, t: np.ndarray | float) -> np.ndarray:
        """g(t)^2, the squared diffusion coefficient, elementwise."""
        return self._g2(self._times(t))

    @property
    def sigma2_sup(self) -> float:
        """sup of sigma(t)^2 over the accepted times [0, t_max]: 1 for OU and VP, approached as t grows
        and never reached by an exact sigma^2 (so time_at_sigma2 needs s2 < 1); sigma2(t_max) for VE,
        reached at t_max (s2 <= sigma2_sup)."""
        return 1.0

    _SIGMA2_SUP_REACHED = False  # whether s2 = sigma2_sup itself has a time (VE: t_max)

    def time_at_sigma2(self, s2: np.ndarray | float) -> np.ndarray:
        """The time t with sigma(t)^2 = s2, elementwise: the inverse of :meth:`sigma2` (CLAIMS.md §1).

        s2 : float or ndarray of any shape, 0 < s2 < 1 (OU, VP) or 0 < s2 <= sigma2(t_max) (VE).
        Returns float64 t of the shape of s2. In closed form (each class's ``_time_at_sigma2``):

            OU:  t = -log(1 - s2) / 2
            VP:  B(t) = L := -log(1 - s2),  t = 2 L / (beta_min + sqrt(beta_min^2 + 2 (beta_max - beta_min) L))
            VE:  t = log(1 + s2 / sigma_min^2) / rate

        with log(1 - s2) and log(1 + q) evaluated by ``log1p`` and the VP root in its cancellation-free
        form. Accuracy for normal s2 (>= DBL_MIN): relative error of t <= K eps, K = 1 (OU), 5 (VP),
        4 + 1/rate (VE), derived in the comments of each class's ``_time_at_sigma2``.
        """
        arr = np.asarray(s2)
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"s2 must be a real number or an array of real numbers, got {type(s2).__name__} "
                            f"of dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        sup = self.sigma2_sup
        inside = np.isfinite(arr) & (arr > 0.0) & ((arr <= sup) if self._SIGMA2_SUP_REACHED else (arr < sup))
        if not np.all(inside):
            bad = float(arr.flat[np.flatnonzero(~inside)[0]])
            interval = f"(0, {sup!r}]" if self._SIGMA2_SUP_REACHED else f"(0, {sup!r})"
            reason = (f"{sup!r} is sigma(t)^2 at t_max = {self.t_max!r}" if self._SIGMA2_SUP_REACHED
                      else f"sigma(t)^2 approaches {sup!r} as t grows and never reaches it")
            raise ValueError(f"s2 must be in {interval} for {self!r} ({reason}), got {bad!r}")
        return self._time_at_sigma2(arr)

    def _pair(self, t0, t1) -> tuple[np.ndarray, np.ndarray]:
        t0, t1 = self._times(t0, "t0"), self._times(t1, "t1")
        if np.any(t1 < t0):
            raise ValueError(f"t1 must be >= t0 (the kernel runs forward in time), got t0={t0!r}, t1={t1!r}")
        return t0, t1

    def transition(self, t0: np.ndarray | float, t1: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Kernel of X_{t1} | X_{t0} for t1 >= t0: returns (a, v) with X_{t1} ~ N(a X_{t0}, v I).

        a = alpha(t1) / alpha(t0) = exp(log alpha(t1) - log alpha(t0)) and v = sigma(t1)^2 - a^2
        sigma(t0)^2, each computed from the exponent's increment (never as a ratio of the two
        alphas, which would lose precision once alpha(t1) is subnormal, nor as that difference).
        """
        return self._transition(*self._pair(t0, t1))

    def drift_integral(self, t0: np.ndarray | float, t1: np.ndarray | float) -> np.ndarray:
        """int_{t0}^{t1} alpha(t0) / alpha(s) g(s)^2 ds, for t1 >= t0, in closed form.

        The weight a frozen score gets in one exponential-integrator step of the reverse SDE
        from forward time t1 down to t0 (see :mod:`theory.simulator`).
        """
        return self._drift_integral(*self._pair(t0, t1))

    def _refuse_drift_overflow(self, y: np.ndarray, t0: np.ndarray, t1: np.ndarray, what: str) -> None:
        """Raise ValueError where the drift integral's exponent y exceeds DRIFT_EXPONENT_MAX."""
        over = y > DRIFT_EXPONENT_MAX
        if np.any(over):
            y, t0, t1, over = np.broadcast_arrays(y, t0, t1, over)
            i = np.flatnonzero(over)[0]
            raise ValueError(
                f"drift_integral(t0, t1) = 2 (exp(y) - 1) of {self!r} exceeds float64 for y = {what} > "
                f"{DRIFT_EXPONENT_MAX:.6g}, got y = {float(y.flat[i])!r} at t0={float(t0.flat[i])!r}, "
                f"t1={float(t1.flat[i])!r}"
            )

    # -- derived quantities ----------------------------------------------------------------
    def alpha(self, t: np.ndarray | float) -> np.ndarray:
        """alpha(t) = exp(int_0^t f(s) ds): the mean factor of the kernel."""
        return np.exp(self.log_alpha(t))

    def sigma(self, t: np.ndarray | float) -> np.ndarray:
        """sigma(t) = sqrt(sigma(t)^2): the kernel standard deviation."""
        return np.sqrt(self.sigma2(t))

    def diffusion(self, t: np.ndarray | float) -> np.ndarray:
        """g(t), the diffusion coefficient of dX = f X dt + g dW."""
        return np.sqrt(self.g2(t))

    def sample(self, x0: np.ndarray, t: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
        """Draw X_t = alpha(t) x0 + sigma(t) Z, Z ~ N(0, I).

        x0 : ndarray, shape (n, d); t : float or ndarray of shape (n,); returns shape (n, d).
        """
        rng = _validate.generator(rng)
        x0 = np.asarray(x0)
        if x0.ndim != 2:
            raise ValueError(f"x0 must have shape (n, d), got {x0.shape}")
        x0 = _validate.points(x0, x0.shape[1], name="x0")
        t_arr = self._times(t)
        if t_arr.ndim not in (0, 1) or (t_arr.ndim == 1 and t_arr.shape[0] != x0.shape[0]):
            raise ValueError(f"t must be a float or have shape ({x0.shape[0]},), got {t_arr.shape}")
        a = self.alpha(t_arr)
        s = self.sigma(t_arr)
        if t_arr.ndim == 1:
            a, s = a[:, None], s[:, None]
        return a * x0 + s * rng.standard_normal(x0.shape)


@dataclass(frozen=True)
class OU(ForwardProcess):
    """Ornstein-Uhlenbeck process dX = -X dt + sqrt(2) dW (the paper's normalization).

    alpha(t) = e^{-t}, sigma(t)^2 = 1 - e^{-2t}, stationary law N(0, I).

    Accuracy: relative error <= 2 eps (1 + E) (module docstring), with h = fl(t1 - t0):

    ==============  ===============  ====  ==========================================================
    quantity        formula          E     where the bound holds
    ==============  ===============  ====  ==========================================================
    log_alpha       -t               -     exact, 0 <= t <= t_max
    alpha           exp(-t)          t     t <= -log(DBL_MIN) = 708.396; subnormal up to 745.13, 0 beyond
    sigma2          -expm1(-2 t)     0     0 <= t <= t_max (2 t, and expm1 of a tiny 2 t, are exact)
    drift, g2       -1, 2            -     exact
    transition a    exp(-h)          h     h <= 708.396; subnormal up to 745.13, 0 beyond
    transition v    -expm1(-2 h)     0     0 <= h <= t_max
    drift_integral  2 expm1(h)       h     h <= DRIFT_EXPONENT_MAX = 707.70; ValueError beyond
    ==============  ===============  ====  ==========================================================

    Derivation: t and 2 t are exact; h is exact when t1 <= 2 t0 (Sterbenz) and within u otherwise;
    exp(-h) then errs by eps + u h, -expm1(-2 h) by eps + u, 2 expm1(h) by eps + u (1 + h): each
    <= 2 eps (1 + E). t_max = DBL_MAX / HEADROOM keeps 2 t finite.
    """

    _T_MAX_REASON = "2 t exceeds float64"

    @property
    def t_max(self) -> float:
        return DBL_MAX / HEADROOM

    def _log_alpha(self, t):
        return -np.asarray(t, dtype=np.float64)

    def _sigma2(self, t):
        return -np.expm1(-2.0 * np.asarray(t, dtype=np.float64))

    def _drift(self, t):
        return np.full(np.shape(t), -1.0)

    def _g2(self, t):
        return np.full(np.shape(t), 2.0)

    def _transition(self, t0, t1):
        h = np.asarray(t1, dtype=np.float64) - np.asarray(t0, dtype=np.float64)
        return np.exp(-h), -np.expm1(-2.0 * h)

    def _drift_integral(self, t0, t1):
        h = np.asarray(t1, dtype=np.float64) - np.asarray(t0, dtype=np.float64)
        self._refuse_drift_overflow(h, t0, t1, "t1 - t0")
        return 2.0 * np.expm1(h)

    def _time_at_sigma2(self, s2):
        # -s2 is exact and log1p errs by <= 1 ulp: t errs by <= eps relatively (K = 1).
        return -0.5 * np.log1p(-s2)

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        return ProcessExpressions(t=t, f=sympy.Integer(-1), g2=sympy.Integer(2), alpha=sympy.exp(-t),
                                  sigma2=1 - sympy.exp(-2 * t))


@dataclass(frozen=True)
class VP(ForwardProcess):
    """Variance-preserving process with linear beta(t) = beta_min + t (beta_max - beta_min).

    dX = -beta(t)/2 X dt + sqrt(beta(t)) dW; with B(t) = int_0^t beta = beta_min t + (beta_max -
    beta_min) t^2 / 2: alpha = exp(-B/2), sigma^2 = 1 - exp(-B). Defaults are those of Song et al.
    (2021) for T = 1.

    Accuracy: relative error <= 4 eps (1 + E) (module docstring). B(t) = t (beta_min + (beta_max -
    beta_min) t / 2) takes 4 roundings of non-negative terms (relative error <= 2 eps); the two-time
    increment dB = B(t1) - B(t0) = (t1 - t0) (beta_min + (beta_max - beta_min) (t0 + t1) / 2) takes 6
    (<= 3 eps) and never cancels:

    ==============  ================  ======  ====================================================
    quantity        formula           E       where the bound holds
    ==============  ================  ======  ====================================================
    log_alpha       -B / 2            -       0 <= t <= t_max (error <= 2 eps)
    alpha           exp(-B / 2)       B / 2   B / 2 <= 708.396; subnormal up to 745.13, 0 beyond
    sigma2          -expm1(-B)        0       B >= DBL_MIN (t >= DBL_MIN / beta_min suffices);
                                              below, plus 2^-1074 absolute
    drift, g2       -beta / 2, beta   -       0 <= t <= t_max (error <= 3 u)
    transition a    exp(-dB / 2)      dB / 2  dB / 2 <= 708.396; subnormal up to 745.13, 0 beyond
    transition v    -expm1(-dB)       0       dB >= DBL_MIN; below, plus 2^-1074 absolute
    drift_integral  2 expm1(dB / 2)   dB / 2  dB / 2 <= DRIFT_EXPONENT_MAX = 707.70; ValueError beyond
    ==============  ================  ======  ====================================================

    Derivation: exp(-B / 2) errs by eps + (B / 2) 2 eps, -expm1(-B) by eps + 2 eps, exp(-dB / 2) by
    eps + (dB / 2) 3 eps, -expm1(-dB) by eps + 3 eps, 2 expm1(dB / 2) by eps + (1 + dB / 2) 3 eps:
    each <= 4 eps (1 + E). Near t = 0 only the last product t (...) (or (t1 - t0) (...)) can be
    subnormal: it alone adds its absolute rounding 2^-1075. t_max solves B(t_max) = DBL_MAX /
    HEADROOM (about 1e153), capped at DBL_MAX / HEADROOM so that t0 + t1 stays finite.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    _T_MAX_REASON = "B(t) = int_0^t beta exceeds float64"

    def __post_init__(self) -> None:
        bmin = _validate.positive_real(self.beta_min, "beta_min")
        bmax = _validate.positive_real(self.beta_max, "beta_max")
        if bmax < bmin:
            raise ValueError(f"beta_max must be >= beta_min, got beta_min={bmin}, beta_max={bmax}")
        object.__setattr__(self, "beta_min", bmin)
        object.__setattr__(self, "beta_max", bmax)

    @functools.cached_property
    def t_max(self) -> float:
        limit = DBL_MAX / HEADROOM
        # The positive root of beta_min t + spread t^2 / 2 = limit, written without cancellation
        # (2 limit / (beta_min + sqrt(beta_min^2 + 2 spread limit))) and without overflowing 2 spread limit.
        spread = self.beta_max - self.beta_min
        root = math.hypot(self.beta_min, math.sqrt(2.0 * spread) * math.sqrt(limit))
        return min(limit, 2.0 * limit / (self.beta_min + root))

    def _big_b(self, t):
        t = np.asarray(t, dtype=np.float64)
        return t * (self.beta_min + 0.5 * (self.beta_max - self.beta_min) * t)

    def _log_alpha(self, t):
        return -0.5 * self._big_b(t)

    def _sigma2(self, t):
        return -np.expm1(-self._big_b(t))

    def _drift(self, t):
        return -0.5 * self._g2(t)

    def _g2(self, t):
        return self.beta_min + np.asarray(t, dtype=np.float64) * (self.beta_max - self.beta_min)

    def _big_b_increment(self, t0, t1):
        t0 = np.asarray(t0, dtype=np.float64)
        t1 = np.asarray(t1, dtype=np.float64)
        # B(t1) - B(t0) = (t1 - t0) (beta_min + (beta_max - beta_min) (t0 + t1) / 2), no cancellation.
        return (t1 - t0) * (self.beta_min + 0.5 * (self.beta_max - self.beta_min) * (t0 + t1))

    def _transition(self, t0, t1):
        db = self._big_b_increment(t0, t1)
        return np.exp(-0.5 * db), -np.expm1(-db)

    def _drift_integral(self, t0, t1):
        # g^2 = -2 f, so the integrand is -2 f alpha(t0)/alpha(s) = 2 d/ds[alpha(t0)/alpha(s)].
        y = 0.5 * self._big_b_increment(t0, t1)
        self._refuse_drift_overflow(y, t0, t1, "(B(t1) - B(t0)) / 2")
        return 2.0 * np.expm1(y)

    def _time_at_sigma2(self, s2):
        # B(t) = beta_min t + spread t^2 / 2 = L has the positive root 2 L / (beta_min + sqrt(beta_min^2
        # + 2 spread L)): a sum of non-negative terms, no cancellation (the textbook root (-beta_min + ...)
        # / spread cancels for small L). L errs by eps (log1p); spread, 2 spread L, the sqrt and hypot,
        # the sum and the quotient add about 3.5 eps more: t errs by <= 5 eps relatively (K = 5).
        big_b = -np.log1p(-s2)
        spread = self.beta_max - self.beta_min
        return 2.0 * big_b / (self.beta_min + np.hypot(self.beta_min, np.sqrt(2.0 * spread * big_b)))

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        bmin, bmax = sympy.Rational(repr(self.beta_min)), sympy.Rational(repr(self.beta_max))
        beta = bmin + t * (bmax - bmin)
        big_b = bmin * t + (bmax - bmin) * t**2 / 2
        return ProcessExpressions(t=t, f=-beta / 2, g2=beta, alpha=sympy.exp(-big_b / 2),
                                  sigma2=1 - sympy.exp(-big_b))


@dataclass(frozen=True)
class VE(ForwardProcess):
    """Variance-exploding process with geometric noise scale s(t) = sigma_min (sigma_max/sigma_min)^t.

    dX = sqrt(d s(t)^2 / dt) dW, so alpha = 1, g(t)^2 = 2 log(sigma_max/sigma_min) s(t)^2 and the
    exact kernel variance of this SDE started at t = 0 is sigma(t)^2 = s(t)^2 - sigma_min^2 (Song et
    al. use s(t)^2, which would put noise sigma_min on the data at t = 0; we keep sigma(0) = 0 so the
    reverse SDE targets mu itself).

    Accuracy: relative error <= (6 + 1/rate) eps (1 + E) (module docstring), rate = 2 log(sigma_max /
    sigma_min). rate errs by eps (1 + 1/rate) (the quotient's u becomes an absolute u in the log,
    relative u / log(sigma_max / sigma_min) = eps / rate, plus the log's eps); x = rate t by
    r = eps (1.5 + 1/rate), x_h = rate (t1 - t0) by eps (2 + 1/rate):

    ==============  ===========================================  ========  =====================
    quantity        formula                                      E         where the bound holds
    ==============  ===========================================  ========  =====================
    log_alpha       0 (alpha = 1, drift = 0, transition a = 1)   -         exact
    sigma2          sigma_min^2 expm1(x)                         rate t    see below
    g2              rate sigma_min^2 exp(x)                      rate t    0 <= t <= t_max
    transition v    sigma_min^2 exp(rate t0) expm1(x_h)          rate t1   see below
    drift_integral  transition v                                 rate t1   see below
    ==============  ===========================================  ========  =====================

    Derivation: sigma_min^2 expm1(x) errs by 2 u + eps + (1 + x) r; rate sigma_min^2 exp(x) by
    eps (1 + 1/rate) + 3 u + eps + x r; sigma_min^2 exp(rate t0) expm1(x_h) by 3 u + 2 eps + rate t0 r
    + (1 + x_h) eps (2 + 1/rate): each <= (6 + 1/rate) eps (1 + E).

    Range: every quantity is below DBL_MAX / HEADROOM for 0 <= t <= t_max = (log(DBL_MAX / HEADROOM)
    - max(0, log sigma_min^2, log(rate sigma_min^2))) / rate (41.59 for VE(0.01, 50)). sigma2 and v
    keep the relative bound while x (x_h) and the result are >= DBL_MIN; below (t or t1 - t0 within
    about 1e-308 / rate of 0), they carry an absolute error <= max(1, s(t0)^2) 2^-1074 more, s(t0)^2 =
    sigma_min^2 exp(rate t0) (t0 = 0 for sigma2), from the subnormal rounding of x (x_h).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    _T_MAX_REASON = "s(t)^2 = sigma_min^2 exp(rate t) exceeds float64"

    def __post_init__(self) -> None:
        smin = _validate.positive_real(self.sigma_min, "sigma_min")
        smax = _validate.positive_real(self.sigma_max, "sigma_max")
        if smax <= smin:
            raise ValueError(f"sigma_max must be > sigma_min, got sigma_min={smin}, sigma_max={smax}")
        object.__setattr__(self, "sigma_min", smin)
        object.__setattr__(self, "sigma_max", smax)
        if not math.isfinite(smax / smin):
            raise ValueError(f"sigma_max / sigma_min must be a finite float, got sigma_min={smin}, sigma_max={smax}")
        if not self.t_max > 0.0:
            raise ValueError(f"g(0)^2 = 2 log(sigma_max / sigma_min) sigma_min^2 must be below DBL_MAX / "
                             f"{HEADROOM:g}, got sigma_min={smin}, sigma_max={smax}")

    @property
    def _rate(self) -> float:
        """2 log(sigma_max / sigma_min): the exponential growth rate of s(t)^2."""
        return 2.0 * math.log(self.sigma_max / self.sigma_min)

    @functools.cached_property
    def t_max(self) -> float:
        log_smin2 = 2.0 * math.log(self.sigma_min)
        largest_prefactor = max(0.0, log_smin2, math.log(self._rate) + log_smin2)
        return (LOG_DBL_MAX - math.log(HEADROOM) - largest_prefactor) / self._rate

    def _log_alpha(self, t):
        return np.zeros(np.shape(t))

    def _sigma2(self, t):
        return self.sigma_min**2 * np.expm1(self._rate * np.asarray(t, dtype=np.float64))

    def _drift(self, t):
        return np.zeros(np.shape(t))

    def _g2(self, t):
        return self._rate * self.sigma_min**2 * np.exp(self._rate * np.asarray(t, dtype=np.float64))

    def _transition(self, t0, t1):
        t0 = np.asarray(t0, dtype=np.float64)
        t1 = np.asarray(t1, dtype=np.float64)
        v = self.sigma_min**2 * np.exp(self._rate * t0) * np.expm1(self._rate * (t1 - t0))
        return np.ones(np.broadcast_shapes(t0.shape, t1.shape)), v

    def _drift_integral(self, t0, t1):
        return self._transition(t0, t1)[1]

    @functools.cached_property
    def sigma2_sup(self) -> float:
        return float(self._sigma2(self.t_max))

    _SIGMA2_SUP_REACHED = True

    def _time_at_sigma2(self, s2):
        # t = log1p(q) / rate, q = s2 / sigma_min^2 = expm1(rate t) <= exp(rate t_max) <= DBL_MAX / 4
        # (t_max's definition), so q stays finite. q errs by <= eps (two roundings); log1p's condition
        # q / ((1 + q) log1p(q)) is <= 1, so log1p(q) errs by <= 2 eps; the division by rate (itself
        # within eps (1 + 1/rate)) adds the rest: t errs by <= (4 + 1/rate) eps relatively.
        log_q1 = np.log1p(s2 / self.sigma_min**2)
        # s2 = sigma2_sup may come out a few ulps above t_max: that time is t_max.
        return np.minimum(log_q1 / self._rate, self.t_max)

    def symbolic(self) -> ProcessExpressions:
        import sympy

        t = sympy.Symbol("t", positive=True)
        smin, smax = sympy.Rational(repr(self.sigma_min)), sympy.Rational(repr(self.sigma_max))
        rate = 2 * sympy.log(smax / smin)
        return ProcessExpressions(t=t, f=sympy.Integer(0), g2=rate * smin**2 * sympy.exp(rate * t),
                                  alpha=sympy.Integer(1), sigma2=smin**2 * (sympy.exp(rate * t) - 1))


def check_process(process: object) -> ForwardProcess:
    """Validate a ``process=`` argument."""
    if not isinstance(process, ForwardProcess):
        raise TypeError(f"process must be a ForwardProcess such as OU(), VP() or VE(), got {type(process).__name__}")
    return process


#: The process every ``process=`` argument defaults to: the paper's OU, dX = -X dt + sqrt(2) dW.
DEFAULT_PROCESS: ForwardProcess = OU()
