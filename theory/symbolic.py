"""Symbolic predicates of the claims: L2 regions, score explosion, KL weight, sharp boundary (SPEC C2, C5, C6).

Idea: J. Pidstrigach, *Score-Based Generative Models Detect Manifolds*, NeurIPS 2022,
arXiv:2206.01018. The thresholds and rates below are our formalization (SPEC section 3), derived
here with SymPy from the expressions of :meth:`theory.processes.ForwardProcess.symbolic`; no
process formula is typed twice. Every public function is pure and returns SymPy expressions,
relationals or sets, or a frozen dataclass holding them; the NumPy twins are built with
``sympy.lambdify(..., modules="numpy")`` (STYLE.md rule 9) by :func:`numpy_twin`.

Contents
--------
- :func:`small_time_expansion`: sigma(t)^2 ~ g2(0) t, f(t) -> f(0), alpha(t) -> 1 as t -> 0.
- :func:`l2_condition`, :func:`l2_region`, :func:`l2_integral` and the error-rate helpers
  (:func:`offset_error_squared`, :func:`scaled_normal_error_squared`,
  :func:`normal_score_squared`): the L2-in-time condition near t = 0 (SPEC C2).
- :func:`score_explosion`: E_fwd |grad log p_t|^2 for a Gaussian on a k-dim subspace (SPEC C5).
- :func:`girsanov_weight`: the factor g(t)^2 / 2 of the KL decomposition (SPEC C2).
- :func:`moment_odes`, :func:`exact_score_variance_residual` and :func:`boundary_prediction`:
  the linearized normal dynamics near M and the sharp landing boundary (SPEC C6).

All expressions use the symbols of :data:`SYMBOLS`; its time symbol ``t`` is the one every
``process.symbolic()`` uses (SymPy symbols with equal name and assumptions are equal).
"""

from __future__ import annotations

import enum
import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1

from theory.processes import OU, ForwardProcess, check_process

__all__ = [
    "SYMBOLS",
    "Symbols",
    "numpy_twin",
    "SmallTimeExpansion",
    "small_time_expansion",
    "offset_error_squared",
    "scaled_normal_error_squared",
    "normal_score_squared",
    "l2_condition",
    "l2_region",
    "l2_integral",
    "ScoreExplosion",
    "score_explosion",
    "girsanov_weight",
    "ErrorFamily",
    "MomentODEs",
    "moment_odes",
    "exact_score_variance_residual",
    "BoundaryCase",
    "BoundaryPrediction",
    "boundary_prediction",
    "li_concentration_region",
]


# ---------------------------------------------------------------------------------------------
# Symbols
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Symbols:
    """The SymPy symbols shared by every expression of this module.

    ``t`` forward time (> 0, equal to the symbol of ``process.symbolic()``); ``a`` exponent of the
    normal offset c t^(-a) (real); ``beta`` factor of the scaled normal score (real); ``c``
    offset amplitude (> 0); ``c2`` tangent variance of the Subspace measure (> 0); ``d`` ambient
    and ``k`` intrinsic dimension; ``delta`` early-stopping time (> 0); ``m``, ``v`` mean and
    variance of one normal coordinate; ``A``, ``B`` amplitudes of the homogeneous solutions of
    the m- and v-equations, fixed by the data at the start time t1 (nonzero for generic data;
    ``B`` > 0 because a variance is positive); ``L`` = log(1/t), the log factor of boundary cases.
    """

    t: sympy.Symbol = sympy.Symbol("t", positive=True)
    a: sympy.Symbol = sympy.Symbol("a", real=True)
    beta: sympy.Symbol = sympy.Symbol("beta", real=True)
    c: sympy.Symbol = sympy.Symbol("c", positive=True)
    c2: sympy.Symbol = sympy.Symbol("c2", positive=True)
    d: sympy.Symbol = sympy.Symbol("d", positive=True, integer=True)
    k: sympy.Symbol = sympy.Symbol("k", nonnegative=True, integer=True)
    delta: sympy.Symbol = sympy.Symbol("delta", positive=True)
    m: sympy.Symbol = sympy.Symbol("m", real=True)
    v: sympy.Symbol = sympy.Symbol("v", positive=True)
    A: sympy.Symbol = sympy.Symbol("A", real=True, nonzero=True)
    B: sympy.Symbol = sympy.Symbol("B", positive=True)
    L: sympy.Symbol = sympy.Symbol("L", positive=True)


#: The module's symbols (see :class:`Symbols`).
SYMBOLS = Symbols()


def _is_zero(expr: Any, *, thorough: bool = True) -> bool:
    """Whether ``expr`` is identically 0: cheap normal forms first, simplify as the last resort.

    With ``thorough=False`` only the cheap forms (expand, cancel) are tried: a False may then be a
    missed identity, which is acceptable where it only costs an unmerged Piecewise branch.
    """
    expr = sympy.sympify(expr)
    if sympy.expand(expr) == 0 or sympy.cancel(sympy.together(expr)) == 0:
        return True
    return bool(thorough and sympy.simplify(expr) == 0)


def _with_expm1(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite every sum ... + c exp(x) - c + ... as ... + c expm1(x) + ... (c a number).

    sigma(t)^2 = 1 - exp(-2t) evaluated literally keeps only ~7 digits at t = 1e-9; with expm1 it
    keeps full precision, as the NumPy processes do. (sympy.codegen.rewriting.optimize does this
    too but takes seconds on the VP expressions.)
    """

    def fix(add: sympy.Add) -> sympy.Expr:
        const = sympy.Add(*(x for x in add.args if x.is_Number))
        if const == 0:
            return add
        for i, term in enumerate(add.args):
            coeff, rest = term.as_coeff_Mul()
            if isinstance(rest, sympy.exp) and coeff == -const:
                others = [x for j, x in enumerate(add.args) if j != i and not x.is_Number]
                return sympy.Add(*others, coeff * expm1(rest.args[0]))
        return add

    return expr.replace(lambda e: e.is_Add, fix)


def numpy_twin(expr: Any, *args: sympy.Symbol) -> Callable[..., np.ndarray]:
    """The NumPy twin of ``expr`` as a function of ``args``: ``lambdify(args, expr, "numpy")``.

    Cancellation-prone sums c exp(x) - c are first rewritten as c expm1(x), so that the twins
    keep full relative precision as t -> 0 like the NumPy processes do. The returned function
    broadcasts its arguments and always returns a float64 (or bool, for a relational) ndarray of
    the broadcast shape, also when ``expr`` is a constant (plain ``lambdify`` returns a Python
    scalar then). Symbols of ``expr`` not in ``args`` must have
    been substituted before.
    """
    expr = sympy.sympify(expr)
    missing = expr.free_symbols - set(args)
    if missing:
        raise ValueError(f"expr has free symbols {sorted(map(str, missing))} that are not arguments {args}")
    # (A Symbol is also a sympy Boolean, hence the explicit classes.)
    is_bool = isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction,
                                sympy.logic.boolalg.BooleanAtom))
    if not is_bool:
        expr = _with_expm1(expr)
    fn = sympy.lambdify(args, expr, modules="numpy")

    def twin(*values: Any) -> np.ndarray:
        if len(values) != len(args):
            raise TypeError(f"expected {len(args)} arguments {tuple(map(str, args))}, got {len(values)}")
        arrays = [np.asarray(x, dtype=np.float64) for x in values]
        shape = np.broadcast_shapes(*(x.shape for x in arrays)) if arrays else ()
        out = np.asarray(fn(*arrays), dtype=bool if is_bool else np.float64)
        return np.broadcast_to(out, shape).copy()

    twin.__doc__ = f"NumPy twin of {expr} in {tuple(map(str, args))}."
    return twin


# ---------------------------------------------------------------------------------------------
# 1. Small-time expansion of a process
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmallTimeExpansion:
    """Leading behaviour of a process as t -> 0.

    Attributes: ``g0`` = g(0)^2 = lim g2(t); ``f0`` = lim f(t); ``alpha0`` = lim alpha(t) (= 1);
    ``sigma2_leading`` = g0 t, the leading term of sigma(t)^2; ``sigma2_series`` = the Taylor
    polynomial of sigma(t)^2 to order t^2; ``sigma2_leading_numpy`` its NumPy twin in t.
    """

    process: ForwardProcess
    g0: sympy.Expr
    f0: sympy.Expr
    alpha0: sympy.Expr
    sigma2_leading: sympy.Expr
    sigma2_series: sympy.Expr
    sigma2_leading_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)


@functools.lru_cache(maxsize=None)
def small_time_expansion(process: ForwardProcess = OU()) -> SmallTimeExpansion:
    """sigma(t)^2 = g2(0) t + O(t^2), f(t) -> f(0), alpha(t) -> 1 as t -> 0, from ``process.symbolic()``.

    Derivation: sigma^2 solves d sigma^2/dt = 2 f sigma^2 + g^2 with sigma^2(0) = 0, so its slope
    at 0 is g2(0); here g0 = lim_{t->0} sigma^2(t)/t is computed by a SymPy limit and checked
    against lim g2(t) (a process for which they differ is inconsistent and is refused).
    Source: SPEC section 1 (the kernel N(alpha x0, sigma^2 I)).
    """
    process = check_process(process)
    ex = process.symbolic()
    t = ex.t
    g0 = sympy.limit(ex.g2, t, 0)
    slope = sympy.limit(ex.sigma2 / t, t, 0)
    if not _is_zero(slope - g0):
        raise ValueError(f"{process!r}: lim sigma^2/t = {slope} differs from g2(0) = {g0}")
    if not g0.is_positive:
        raise ValueError(f"{process!r}: g2(0) must be > 0 for the small-time expansion, got {g0}")
    f0 = sympy.limit(ex.f, t, 0)
    alpha0 = sympy.limit(ex.alpha, t, 0)
    series = sympy.series(ex.sigma2, t, 0, 3).removeO()
    leading = g0 * t
    return SmallTimeExpansion(process=process, g0=g0, f0=f0, alpha0=alpha0, sigma2_leading=leading,
                              sigma2_series=series, sigma2_leading_numpy=numpy_twin(leading, t))


# ---------------------------------------------------------------------------------------------
# 2. L2-in-time condition near t = 0 (SPEC C2)
# ---------------------------------------------------------------------------------------------
def offset_error_squared(terms: tuple[tuple[Any, Any], ...] = ((SYMBOLS.c, SYMBOLS.a),)) -> sympy.Expr:
    """E_fwd |e|^2 for a normal offset e = (sum_i c_i t^(-a_i)) n, n a unit normal: (sum_i c_i t^(-a_i))^2.

    ``terms`` : tuple of pairs (c_i, a_i), SymPy expressions or numbers; the default is the single
    offset c t^(-a) of SPEC C6, whose square is c^2 t^(-2a). Returned expanded, so that every
    product c_i c_j t^(-a_i - a_j) is a separate term (:func:`l2_condition` treats the terms one
    by one). Source: SPEC C6 (error family (i)); formalized as here.
    """
    if not terms:
        raise ValueError("terms must hold at least one pair (c_i, a_i), got ()")
    t = SYMBOLS.t
    e = sympy.Add(*(sympy.sympify(ci) * t ** (-sympy.sympify(ai)) for ci, ai in terms))
    return sympy.expand(sympy.powsimp(sympy.expand(e**2)))


def normal_score_squared(process: ForwardProcess = OU(), *, d: Any = SYMBOLS.d, k: Any = SYMBOLS.k) -> sympy.Expr:
    """E_fwd |normal part of grad log p_t|^2 = (d - k) / sigma(t)^2 near M.

    Exact for a linear subspace M (the normal part of the score is -y/sigma^2 with y ~ N(0,
    sigma^2 I_{d-k})), leading order for curved M. Source: SPEC C5 (formalized as here).
    """
    ex = check_process(process).symbolic()
    return (sympy.sympify(d) - sympy.sympify(k)) / ex.sigma2


def scaled_normal_error_squared(process: ForwardProcess = OU(), *, beta: Any = SYMBOLS.beta, d: Any = SYMBOLS.d,
                                k: Any = SYMBOLS.k) -> sympy.Expr:
    """E_fwd |e|^2 for e = (beta - 1) x (normal part of the true score): (beta - 1)^2 (d - k) / sigma(t)^2.

    Source: SPEC C6 (error family (ii), the scaled normal score); formalized as here.
    """
    return (sympy.sympify(beta) - 1) ** 2 * normal_score_squared(process, d=d, k=k)


def girsanov_weight(process: ForwardProcess = OU()) -> sympy.Expr:
    """The weight g(t)^2 / 2 of the Girsanov decomposition (SPEC C2).

    KL(P || Q) = KL(p_T || pi) + int_0^T (g(t)^2 / 2) E_fwd |e(t, X_t)|^2 dt, where P, Q are the
    path laws of the exact and the approximate reverse SDE; in the OU normalization g^2 = 2 and
    the weight is 1. Source: SPEC C2 (Girsanov's theorem; Pidstrigach 2022 for the idea).
    """
    ex = check_process(process).symbolic()
    return ex.g2 / 2


def _leading(expr: sympy.Expr, t: sympy.Symbol) -> tuple[sympy.Expr, sympy.Expr]:
    """(coefficient, exponent) of the leading term coefficient * t^exponent of ``expr`` as t -> 0."""
    coeff, exponent = sympy.sympify(expr).leadterm(t)
    if coeff.has(t):
        raise NotImplementedError(f"leading term of {expr} as t -> 0 has a logarithmic factor {coeff}")
    return coeff, exponent


def _nonzero_condition(coeff: sympy.Expr) -> sympy.Basic:
    """The condition coeff != 0, as a relational in the free symbols of ``coeff`` (simplified)."""
    factors = sympy.Mul.make_args(sympy.factor(coeff))
    conds = []
    for f in factors:
        if f.is_nonzero:
            continue
        base = f.base if f.is_Pow and f.exp.is_positive else f
        conds.append(sympy.Ne(base, 0))
    return sympy.And(*conds)


def _weighted_leading_groups(error_squared: Any, process: ForwardProcess) -> list[tuple[sympy.Expr, sympy.Expr]]:
    """Leading terms C t^p of (g^2/2) E|e|^2, grouped by exponent p: [(C_p, p), ...].

    The expression is expanded and every term's leading behaviour taken; terms with the same
    exponent (as expressions) are summed before their coefficient is examined, so that e.g.
    (beta - 1)^2 (d - k)/sigma^2 is read as one group and not as cancelling pieces.
    """
    t = SYMBOLS.t
    weight = girsanov_weight(process)
    groups: dict[sympy.Expr, sympy.Expr] = {}
    for term in sympy.Add.make_args(sympy.expand(sympy.sympify(error_squared))):
        coeff, exponent = _leading(weight * term, t)
        key = sympy.expand(exponent)
        groups[key] = groups.get(key, sympy.S.Zero) + coeff
    return [(sympy.factor(c), p) for p, c in groups.items()]


def l2_condition(error_squared: Any, process: ForwardProcess = OU()) -> sympy.Basic:
    """Exact condition for int_0^{t1} (g(t)^2 / 2) E_fwd |e|^2 dt < infinity (t1 > 0 fixed).

    ``error_squared`` : SymPy expression of E_fwd |e(t, X_t)|^2 in ``SYMBOLS.t``. On [t0, t1],
    t0 > 0, everything is continuous, so only t -> 0 matters: the weighted integrand is read as a
    sum of groups C_p t^p + (higher order) with distinct exponents p, and a group is integrable
    at 0 iff C_p = 0 or p > -1. The result is And over the groups of (C_p = 0 or p > -1), a SymPy
    relational in the parameters. Assumption (stated, not checked): the groups are nonnegative, so
    that distinct groups cannot cancel; true for the families here (offsets sum_i c_i t^(-a_i)
    along one normal with c_i > 0, the scaled and the true normal score). Source: SPEC C2 (the L2
    condition, with the general Girsanov weight g^2/2 of :func:`girsanov_weight`).
    """
    process = check_process(process)
    conds = [sympy.Or(sympy.Not(_nonzero_condition(coeff)), exponent > -1)
             for coeff, exponent in _weighted_leading_groups(error_squared, process)]
    return sympy.simplify(sympy.And(*conds))


def l2_region(error_squared: Any, process: ForwardProcess = OU(), parameter: sympy.Symbol = SYMBOLS.a) -> sympy.Set:
    """The set of real values of ``parameter`` for which the L2 condition (:func:`l2_condition`) holds.

    The other symbols are held generic: a factor of a leading coefficient that does not contain
    ``parameter`` (c, d - k) is taken nonzero, i.e. c > 0 and k < d. Examples (SPEC C2, C6): the
    normal offset c t^(-a) gives Interval.open(-oo, 1/2) (a < 1/2) under OU, VP and VE; the
    scaled normal score gives FiniteSet(1) (beta = 1). Source: SPEC C2; formalized as here.
    """
    process = check_process(process)
    if not isinstance(parameter, sympy.Symbol):
        raise TypeError(f"parameter must be a SymPy Symbol, got {type(parameter).__name__}")
    region: sympy.Set = sympy.S.Reals
    for coeff, exponent in _weighted_leading_groups(error_squared, process):
        param_factors = [f for f in sympy.Mul.make_args(coeff) if f.has(parameter)]
        zero_set = sympy.solveset(sympy.Mul(*param_factors), parameter, sympy.S.Reals) if param_factors \
            else sympy.S.EmptySet
        if exponent.has(parameter):
            ok = sympy.solveset(exponent > -1, parameter, sympy.S.Reals)
        else:
            ok = sympy.S.Reals if bool(exponent > -1) else sympy.S.EmptySet
        region = sympy.Intersection(region, sympy.Union(ok, zero_set))
    return region


def l2_integral(error_squared: Any, process: ForwardProcess = OU(), *, t1: Any = 1) -> sympy.Expr:
    """int_0^{t1} (g(t)^2 / 2) E_fwd |e|^2 dt by ``sympy.integrate(..., conds="piecewise")``.

    The validation path for :func:`l2_condition`: for concrete parameter values it returns a
    finite number or a non-finite expression (``oo``; SymPy may attach a spurious imaginary part,
    e.g. ``oo + I*pi/2`` for 1/sigma^2 under OU, so test ``.is_finite``). Source: SPEC C2.
    """
    process = check_process(process)
    t = SYMBOLS.t
    integrand = girsanov_weight(process) * sympy.sympify(error_squared)
    return sympy.integrate(integrand, (t, 0, sympy.sympify(t1)), conds="piecewise")


# ---------------------------------------------------------------------------------------------
# 3. Explosion rate of the exact score (SPEC C5)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreExplosion:
    """E_fwd |grad log p_t(X_t)|^2 for mu = N(0, c2 I_k) on a k-dim linear subspace of R^d.

    Attributes: ``mean_square`` = (d - k)/sigma^2 + k/(alpha^2 c2 + sigma^2) (exact, in t);
    ``scaled`` = sigma^2 x mean_square; ``limit`` = lim_{t->0} scaled (= d - k);
    ``log_coefficient`` = the coefficient of log(1/delta) in int_delta^T mean_square dt
    (= (d - k)/g2(0)); ``mean_square_numpy(t, d, k, c2)`` and ``scaled_numpy(t, d, k, c2)`` twins.
    """

    process: ForwardProcess
    mean_square: sympy.Expr
    scaled: sympy.Expr
    limit: sympy.Expr
    log_coefficient: sympy.Expr
    mean_square_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    scaled_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)


@functools.lru_cache(maxsize=None)
def score_explosion(process: ForwardProcess = OU()) -> ScoreExplosion:
    """Exact E_fwd |grad log p_t|^2 for a Gaussian on a k-dim subspace and its rate as t -> 0 (SPEC C5).

    With mu = N(0, c2 U U^T) (U orthonormal d x k), p_t = N(0, S), S = alpha^2 c2 U U^T + sigma^2 I,
    and grad log p_t(x) = -S^{-1} x, so E|S^{-1} X_t|^2 = tr(S^{-1}): k eigenvalues alpha^2 c2 +
    sigma^2 and d - k eigenvalues sigma^2 give

        E_fwd |grad log p_t|^2 = (d - k)/sigma^2 + k/(alpha^2 c2 + sigma^2).

    sigma^2 E|score|^2 -> d - k (exactly (d - k) + k sigma^2 for OU with c2 = 1, since alpha^2 +
    sigma^2 = 1), and as sigma^2 ~ g2(0) t, int_delta^T E|score|^2 dt = ((d - k)/g2(0))
    log(1/delta) + O(1) (OU: (d - k)/2). The coefficient is lim t E|score|^2, the remainder
    E|score|^2 - coefficient/t being O(1) (sigma^2/t is analytic and nonzero at 0). Source: SPEC C5;
    Pidstrigach 2022 for the idea (the true drift is not square-integrable); formalized as here.
    """
    process = check_process(process)
    ex = process.symbolic()
    t, d, k, c2 = SYMBOLS.t, SYMBOLS.d, SYMBOLS.k, SYMBOLS.c2
    mean_square = (d - k) / ex.sigma2 + k / (ex.alpha**2 * c2 + ex.sigma2)
    scaled = (d - k) + k * ex.sigma2 / (ex.alpha**2 * c2 + ex.sigma2)  # = sigma^2 * mean_square
    # Near t = 0 the tangent part k/(alpha^2 c2 + sigma^2) is continuous with value k/c2 (c2 > 0),
    # so only the normal part is singular: sigma^2 is analytic with sigma^2 = g0 t + O(t^2)
    # (:func:`small_time_expansion`), so t/sigma^2 = 1/g0 + O(t). Hence sigma^2 E|score|^2 ->
    # d - k, and t E|score|^2 = (d - k)/g0 + O(t): E|score|^2 - C/t = O(1) is integrable at 0 and
    # int_delta^T E|score|^2 dt = C log(1/delta) + O(1).
    g0 = small_time_expansion(process).g0
    sigma2_0 = sympy.limit(ex.sigma2, t, 0)
    alpha2_0 = sympy.limit(ex.alpha**2, t, 0)
    lim = sympy.factor((d - k) + k * sigma2_0 / (alpha2_0 * c2 + sigma2_0))
    log_coefficient = sympy.factor((d - k) / g0)
    return ScoreExplosion(process=process, mean_square=mean_square, scaled=scaled, limit=lim,
                          log_coefficient=log_coefficient,
                          mean_square_numpy=numpy_twin(mean_square, t, d, k, c2),
                          scaled_numpy=numpy_twin(scaled, t, d, k, c2))


# ---------------------------------------------------------------------------------------------
# 5. Linearized normal dynamics and the sharp boundary (SPEC C6)
# ---------------------------------------------------------------------------------------------
class ErrorFamily(enum.Enum):
    """The explicit score-error families of SPEC C6, along one normal direction n of M.

    NORMAL_OFFSET: s_n = -y/sigma^2 + c t^(-a) (e = c t^(-a) n), parameter ``a``.
    SCALED_NORMAL: s_n = -beta y/sigma^2 (e = (beta - 1) x the true normal part), parameter ``beta``.
    """

    NORMAL_OFFSET = "normal_offset"
    SCALED_NORMAL = "scaled_normal"

    @property
    def parameter(self) -> sympy.Symbol:
        """The family's parameter symbol: ``a`` or ``beta``."""
        return SYMBOLS.a if self is ErrorFamily.NORMAL_OFFSET else SYMBOLS.beta

    def specialize(self, expr: sympy.Expr) -> sympy.Expr:
        """Restrict an expression of the two-parameter model (beta, c t^(-a)) to this family."""
        if self is ErrorFamily.NORMAL_OFFSET:
            return expr.subs(SYMBOLS.beta, 1)
        return expr.subs(SYMBOLS.c, 0)


@dataclass(frozen=True)
class MomentODEs:
    """Forward-time moment equations of one normal coordinate y under the approximate reverse SDE.

    Attributes: ``dm_dt``, ``dv_dt`` (full, in t, m, v and the family parameter); the Euler-type
    leading-order equations ``dm_dt_leading``, ``dv_dt_leading`` (sigma^2 -> g0 t, f, alpha -> their
    values at 0); ``homogeneous`` = sigma^(2 beta) alpha^(1 - 2 beta), an exact solution of the
    homogeneous m-equation (its square solves the homogeneous v-equation); and the numeric
    right-hand sides ``dm_dt_numpy(t, m, param, c)`` (c is unused by SCALED_NORMAL) and
    ``dv_dt_numpy(t, v, param)``.
    """

    process: ForwardProcess
    family: ErrorFamily
    parameter: sympy.Symbol
    dm_dt: sympy.Expr
    dv_dt: sympy.Expr
    dm_dt_leading: sympy.Expr
    dv_dt_leading: sympy.Expr
    homogeneous: sympy.Expr
    dm_dt_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    dv_dt_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)


def _general_moment_odes(process: ForwardProcess) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr, sympy.Expr]:
    """(dm/dt, dv/dt, P, Q) of the two-parameter model s_n = -beta y/sigma^2 + c t^(-a).

    In reverse time u = T - t: dY = b(t, Y) du + g dB with b = -f y + g^2 s_n = P y + Q (P, Q
    free of y). Ito: dm/du = P m + Q, dv/du = 2 P v + g^2; forward time d/dt = -d/du.
    """
    ex = process.symbolic()
    t, y = ex.t, sympy.Dummy("y", real=True)
    s = SYMBOLS
    score = -s.beta * y / ex.sigma2 + s.c * t ** (-s.a)
    drift = -ex.f * y + ex.g2 * score
    p_coef = sympy.diff(drift, y)  # not expanded: keeps sigma^2 whole, so the twins can use expm1
    q_coef = drift.subs(y, 0)
    return -(p_coef * s.m + q_coef), -(2 * p_coef * s.v + ex.g2), p_coef, q_coef


def _euler_rhs(family: ErrorFamily, rate0: sympy.Expr, g0: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """Leading-order (Euler) right-hand sides: rate0 m/t - g0 c t^(-a) and 2 rate0 v/t - g0."""
    s = SYMBOLS
    dm = rate0 * s.m / s.t + family.specialize(-g0 * s.c * s.t ** (-s.a))
    return dm, 2 * rate0 * s.v / s.t - g0


@functools.lru_cache(maxsize=None)
def _leading_rate(family: ErrorFamily, process: ForwardProcess) -> sympy.Expr:
    """rate0 = lim_{t->0} t (f + beta g^2/sigma^2), by SymPy limits (= beta, or 1 for NORMAL_OFFSET).

    f, g^2 and sigma^2/t are analytic at 0 with sigma^2/t -> g0 = g2(0) > 0
    (:func:`small_time_expansion`), so t (f + beta g^2/sigma^2) = rate0 + O(t).
    """
    ex = process.symbolic()
    t = ex.t
    return family.specialize(sympy.limit(t * ex.f, t, 0) + SYMBOLS.beta * sympy.limit(t * ex.g2 / ex.sigma2, t, 0))


@functools.lru_cache(maxsize=None)
def moment_odes(family: ErrorFamily, process: ForwardProcess = OU()) -> MomentODEs:
    """Moment ODEs of the linearized normal dynamics near M, derived from the reverse SDE (SPEC C6).

    Reverse SDE (SPEC section 1), u = T - t: dY = [-f Y + g^2 s(T - u, Y)] du + g dB, along one
    normal coordinate y with s_n = -beta y/sigma^2 + c t^(-a) (the exact normal score is -y/sigma^2:
    exact for a linear subspace, leading order for curved M). For the mean m and variance v of y,
    in forward time t:

        dm/dt = f m + beta g^2 m / sigma^2 - g^2 c t^(-a),
        dv/dt = 2 f v + 2 beta g^2 v / sigma^2 - g^2,

    with beta = 1 for the NORMAL_OFFSET family and c = 0 for SCALED_NORMAL. Near t = 0,
    t (f + beta g^2/sigma^2) = beta + O(t) and g^2 = g0 + O(t) (the limits are computed here; the
    remainders are O(t) because f, g^2 and sigma^2/t are analytic at 0), so the
    leading-order equations are of Euler type: dm/dt = beta m/t - g0 c t^(-a), dv/dt = 2 beta v/t - g0;
    the O(t) remainders only multiply solutions by 1 + O(t). The exact homogeneous solution is
    h = sigma^(2 beta) alpha^(1 - 2 beta) (since d log sigma^2/dt = 2 f + g^2/sigma^2). Source:
    SPEC C6; formalized as here.
    """
    if not isinstance(family, ErrorFamily):
        raise TypeError(f"family must be an ErrorFamily, got {type(family).__name__}")
    process = check_process(process)
    ex = process.symbolic()
    t, s = ex.t, SYMBOLS
    g0 = small_time_expansion(process).g0
    dm_dt, dv_dt, _, _ = _general_moment_odes(process)
    dm_dt, dv_dt = family.specialize(dm_dt), family.specialize(dv_dt)
    # Leading order: t (f + beta g^2/sigma^2) = rate0 + O(t) and g^2 c t^(-a) = g0 c t^(-a) (1 + O(t)).
    dm_lead, dv_lead = _euler_rhs(family, _leading_rate(family, process), g0)
    beta = family.specialize(s.beta)
    homogeneous = ex.sigma2**beta * ex.alpha ** (1 - 2 * beta)
    param = family.parameter
    return MomentODEs(process=process, family=family, parameter=param, dm_dt=dm_dt, dv_dt=dv_dt,
                      dm_dt_leading=dm_lead, dv_dt_leading=dv_lead, homogeneous=homogeneous,
                      dm_dt_numpy=numpy_twin(dm_dt, t, s.m, param, s.c),
                      dv_dt_numpy=numpy_twin(dv_dt, t, s.v, param))


def exact_score_variance_residual(process: ForwardProcess = OU()) -> sympy.Expr:
    """d sigma^2/dt - (2 f sigma^2 + 2 g^2 sigma^2/sigma^2 - g^2), simplified: 0 for a consistent process.

    The sanity check of the signs of :func:`moment_odes`: with the exact score (beta = 1, c = 0)
    the forward marginal variance v = sigma(t)^2 must solve the v-equation. Source: SPEC C6.
    """
    process = check_process(process)
    ex = process.symbolic()
    _, dv_dt, _, _ = _general_moment_odes(process)
    rhs = dv_dt.subs({SYMBOLS.beta: 1, SYMBOLS.v: ex.sigma2})
    residual = sympy.diff(ex.sigma2, ex.t) - rhs
    return sympy.S.Zero if _is_zero(residual) else sympy.simplify(residual)


# -- asymptotics of sums of powers and logs ---------------------------------------------------
def _t_powers(expr: sympy.Expr, t: sympy.Symbol) -> sympy.Expr:
    """Rewrite exp(p log t) (as dsolve writes t^p) as t^p."""
    return expr.replace(lambda e: isinstance(e, sympy.exp) and e.args[0].has(sympy.log(t)),
                        lambda e: t ** sympy.simplify(sympy.expand(e.args[0]) / sympy.log(t)))


def _normalize(expr: sympy.Expr, t: sympy.Symbol) -> sympy.Expr:
    """Rewrite exp(p log t) as t^p, cancel and expand, so that ``expr`` is a sum of c t^p log(t)^q."""
    expr = sympy.powsimp(sympy.expand(_t_powers(expr, t)), force=True)
    return sympy.expand(sympy.powsimp(sympy.cancel(sympy.expand(expr)), force=True))


def _term_data(term: sympy.Expr, t: sympy.Symbol) -> tuple[sympy.Expr, sympy.Expr, int]:
    """(coefficient, p, q) with term = coefficient * t^p * log(1/t)^q."""
    coeff, p, q = sympy.S.One, sympy.S.Zero, 0
    for factor in sympy.Mul.make_args(term):
        base, e = factor.as_base_exp()
        if base == t:
            p += e
        elif base == sympy.log(t) and e.is_Integer and e > 0:
            q += int(e)
            coeff *= (-1) ** e  # log t = -log(1/t)
        elif factor.has(t):
            raise NotImplementedError(f"cannot read {factor} of {term} as t^p log(t)^q")
        else:
            coeff *= factor
    return coeff, sympy.expand(p), q


def _terms(expr: sympy.Expr, t: sympy.Symbol) -> list[tuple[sympy.Expr, sympy.Expr, int]]:
    """Terms (coefficient, p, q) of ``expr``, those with equal (p, q) merged and zero ones dropped."""
    merged: dict[tuple[sympy.Expr, int], sympy.Expr] = {}
    for term in sympy.Add.make_args(_normalize(expr, t)):
        coeff, p, q = _term_data(term, t)
        merged[(p, q)] = merged.get((p, q), sympy.S.Zero) + coeff
    out = [(sympy.factor(c), p, q) for (p, q), c in merged.items()]
    return [x for x in out if x[0] != 0]


def _generic_branch(expr: sympy.Expr, param: sympy.Symbol) -> tuple[sympy.Expr, set]:
    """Replace each Piecewise((e1, Ne(param, r)), (e2, True)) of a dsolve output by e1; return (expr, {r})."""
    resonances: set = set()

    def pick(pw: sympy.Piecewise) -> sympy.Expr:
        (e1, cond), *_ = pw.args
        if not (isinstance(cond, sympy.Ne) and param in cond.free_symbols):
            raise NotImplementedError(f"unexpected Piecewise condition {cond} in the solution")
        resonances.update(sympy.solveset(sympy.Eq(cond.lhs, cond.rhs), param, sympy.S.Reals))
        return e1

    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), pick), resonances


@dataclass(frozen=True)
class _Segment:
    """A piece of the parameter line (an open interval or a point) with the leading term there."""

    domain: sympy.Set
    leading: sympy.Expr
    exponent: sympy.Expr
    log_power: sympy.Expr


def _dominant(terms: list[tuple[sympy.Expr, sympy.Expr, int]], t: sympy.Symbol, at: sympy.Expr,
              param: sympy.Symbol) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """Leading term as t -> 0 (in the form coefficient t^p L^q, L = log(1/t)), p and q, at param = ``at``.

    The dominant terms have the least p; among them, the largest q (log(1/t) -> infinity).
    ``terms`` must be evaluated for ``param`` in a set on which the order of the exponents is the
    order at ``at`` (an open interval between crossings, or the point itself).
    """
    values = [sympy.nsimplify(p.subs(param, at)) for _, p, _ in terms]
    p_min = min(values)
    tied = [(c, p, q) for (c, p, q), val in zip(terms, values) if val == p_min]
    q_max = max(q for _, _, q in tied)
    top = [(c, p) for c, p, q in tied if q == q_max]
    exponent = top[0][1]
    coeff = sympy.factor(sympy.Add(*(c for c, _ in top)))
    return coeff * t**exponent * SYMBOLS.L**q_max, exponent, sympy.Integer(q_max)


def _segments(solution: sympy.Expr, t: sympy.Symbol, param: sympy.Symbol) -> list[_Segment]:
    """Leading behaviour of a dsolve solution as t -> 0 on each piece of the real line of ``param``.

    Breakpoints: values where two exponents of the generic solution cross, the resonances of
    dsolve's Piecewise (where a log(t) appears), and the zeros of the dominant exponent (the
    boundary between decay and non-decay). At a breakpoint the solution is re-evaluated with the
    parameter substituted, so the resonant branch of dsolve is used.
    """
    generic, resonances = _generic_branch(solution, param)
    terms = _terms(generic, t)
    points = set(resonances)
    for (_, p1, _), (_, p2, _) in itertools.combinations(terms, 2):
        if (p1 - p2).has(param):
            points.update(sympy.solveset(sympy.Eq(p1, p2), param, sympy.S.Reals))

    def intervals(pts: set) -> list[sympy.Interval]:
        ordered = sorted(pts)
        edges = [-sympy.oo, *ordered, sympy.oo]
        return [sympy.Interval.open(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]

    def sample(iv: sympy.Interval) -> sympy.Expr:
        lo, hi = iv.inf, iv.sup
        if lo == -sympy.oo and hi == sympy.oo:
            return sympy.S.Zero
        if lo == -sympy.oo:
            return hi - 1
        if hi == sympy.oo:
            return lo + 1
        return (lo + hi) / 2

    # Zeros of the dominant exponent inside each interval: where the solution stops decaying.
    for iv in intervals(points):
        _, exponent, _ = _dominant(terms, t, sample(iv), param)
        if exponent.has(param):
            points.update(sympy.solveset(sympy.Eq(exponent, 0), param, iv))

    segments = []
    for iv in intervals(points):
        lead, exponent, q = _dominant(terms, t, sample(iv), param)
        segments.append(_Segment(iv, lead, exponent, q))
    for r in sorted(points):
        terms_r = _terms(solution.subs(param, r), t)
        lead, exponent, q = _dominant(terms_r, t, r, param)
        segments.append(_Segment(sympy.FiniteSet(r), lead, exponent, q))
    return sorted(segments, key=lambda seg: (seg.domain.inf, isinstance(seg.domain, sympy.Interval)))


def _piecewise(segments: list[_Segment], attr: str, param: sympy.Symbol) -> sympy.Expr:
    """Piecewise of ``attr`` over the segments: a point whose value continues a neighbouring
    interval's formula is merged into it; segments with equal formulas are united."""
    groups: list[tuple[sympy.Expr, sympy.Set]] = []
    for i, seg in enumerate(segments):
        value = getattr(seg, attr)
        target = None
        if isinstance(seg.domain, sympy.FiniteSet):
            (r,) = seg.domain
            for j in (i - 1, i + 1):
                if 0 <= j < len(segments) and _is_zero(getattr(segments[j], attr).subs(param, r) - value,
                                                       thorough=False):
                    value = getattr(segments[j], attr)
                    break
        for n, (expr, dom) in enumerate(groups):
            if _is_zero(expr - value, thorough=False):
                target = n
                break
        if target is None:
            groups.append((value, seg.domain))
        else:
            groups[target] = (groups[target][0], sympy.Union(groups[target][1], seg.domain))
    if len(groups) == 1:
        return groups[0][0]
    pieces = [(expr, dom.as_relational(param)) for expr, dom in groups[:-1]]
    return sympy.Piecewise(*pieces, (groups[-1][0], True))


@dataclass(frozen=True)
class BoundaryCase:
    """The leading behaviour at one breakpoint of the parameter (treated explicitly).

    ``value`` of the parameter; ``rms2_leading`` the leading term of m^2 + v (L = log(1/t));
    ``rate`` exponent and ``log_power`` of the RMS distance sqrt(m^2 + v) ~ t^rate L^log_power;
    ``lands`` whether the RMS distance -> 0.
    """

    value: sympy.Expr
    rms2_leading: sympy.Expr
    rate: sympy.Expr
    log_power: sympy.Expr
    lands: bool


@dataclass(frozen=True)
class BoundaryPrediction:
    """The sharp landing boundary of one error family under one process (SPEC C6).

    Attributes
    ----------
    family, process, parameter : the error family, the process, its parameter symbol (a or beta).
    odes : the :class:`MomentODEs` it was derived from.
    m_solution, v_solution : general solutions of the leading-order (Euler) equations by dsolve,
        with the homogeneous amplitudes named A (mean) and B (variance).
    m_leading, v_leading, rms2_leading : leading terms as t -> 0 (Piecewise in the parameter,
        L = log(1/t)) of m, v and m^2 + v; e.g. NORMAL_OFFSET: m ~ (g0 c/a) t^(1-a) for a > 0.
    rate : exponent of the RMS distance sqrt(m^2 + v) ~ delta^rate (Piecewise).
    log_power : power of log(1/delta) multiplying it (nonzero only at resonant boundary cases).
    landing_region : the set of parameters for which the RMS distance -> 0 (lands on M).
    l2_region : the set of parameters for which the error is L2 in time (:func:`l2_region`).
    boundary_cases : the explicit breakpoints (:class:`BoundaryCase`).
    lands, is_l2, rate_numpy, log_power_numpy : vectorized NumPy twins in the parameter.
    """

    family: ErrorFamily
    process: ForwardProcess
    parameter: sympy.Symbol
    odes: MomentODEs
    m_solution: sympy.Expr
    v_solution: sympy.Expr
    m_leading: sympy.Expr
    v_leading: sympy.Expr
    rms2_leading: sympy.Expr
    rate: sympy.Expr
    log_power: sympy.Expr
    landing_region: sympy.Set
    l2_region: sympy.Set
    boundary_cases: tuple[BoundaryCase, ...]
    lands: Callable[..., np.ndarray] = field(repr=False, compare=False)
    is_l2: Callable[..., np.ndarray] = field(repr=False, compare=False)
    rate_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    log_power_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)


_G0 = sympy.Symbol("g0", positive=True)  # g2(0) kept symbolic while solving, substituted after


@functools.lru_cache(maxsize=None)
def _dsolve_linear(rhs: sympy.Expr, unknown: sympy.Symbol, amplitude: sympy.Symbol) -> sympy.Expr:
    """General solution of d unknown/dt = rhs (first-order linear) by dsolve, C1 renamed ``amplitude``.

    Cached: with g0 symbolic the Euler equations are the same for every process.
    """
    t = SYMBOLS.t
    fn = sympy.Function("y")
    ode = sympy.Eq(fn(t).diff(t), rhs.subs(unknown, fn(t)))
    sol = sympy.dsolve(ode, fn(t), hint="1st_linear").rhs
    return sol.subs(sympy.Symbol("C1"), amplitude)


@functools.lru_cache(maxsize=None)
def boundary_prediction(family: ErrorFamily, process: ForwardProcess = OU()) -> BoundaryPrediction:
    """Landing region, L2 region and rate of the RMS distance to M for an error family (SPEC C6).

    Derivation (formalized as; Pidstrigach 2022 for the L2 criterion it sharpens): solve the
    leading-order Euler equations of :func:`moment_odes` with ``sympy.dsolve`` for generic data at
    some t1 > 0 (homogeneous amplitudes A, B != 0), read off the leading term of m, v and of the
    mean-square distance m^2 + v as t = delta -> 0 on each piece of the parameter line, and set

        RMS distance ~ delta^rate log(1/delta)^log_power,   lands  <=>  rate > 0.

    Results (g0 = g2(0); OU: g0 = 2):

    - NORMAL_OFFSET, e = c t^(-a) n: m ~ (g0 c/a) t^(1-a) for a > 0 (m ~ g0 c t log(1/t) at a = 0,
      m ~ A t for a < 0; m -> g0 c != 0 at a = 1), v ~ g0 t; rate = min(1/2, 1 - a): lands iff
      a < 1, L2 iff a < 1/2, exact-score rate 1/2 for a <= 1/2.
    - SCALED_NORMAL, s_n = beta x the true normal part: m = A t^beta, v ~ g0 t/(2 beta - 1) for
      beta > 1/2, g0 t log(1/t) at beta = 1/2, B t^(2 beta) for beta < 1/2; rate = min(beta, 1/2)
      with log_power 1/2 at beta = 1/2; lands iff beta > 0 (at beta = 0, v -> v(0) > 0), L2 iff
      beta = 1.

    Consistent with Li, Shen, Hsieh, He 2025 (arXiv:2509.24912): a score error o(sigma^-2) keeps
    samples concentrated on M; with sigma^-2 ~ 1/(g0 t) this is a < 1 for the offset family.
    """
    odes = moment_odes(family, process)
    process = odes.process
    t, s, param = SYMBOLS.t, SYMBOLS, family.parameter
    g0 = small_time_expansion(process).g0
    # The Euler equations of odes.dm_dt_leading, odes.dv_dt_leading with g0 kept symbolic.
    dm_generic, dv_generic = _euler_rhs(family, _leading_rate(family, process), _G0)
    m_sol = _t_powers(_dsolve_linear(dm_generic, s.m, s.A).subs(_G0, g0), t)
    v_sol = _t_powers(_dsolve_linear(dv_generic, s.v, s.B).subs(_G0, g0), t)
    rms2 = sympy.expand(m_sol**2 + v_sol)
    seg_m = _segments(m_sol, t, param)
    seg_v = _segments(v_sol, t, param)
    seg_r = _segments(rms2, t, param)

    def lands_on(seg: _Segment) -> sympy.Set:
        # RMS ~ t^(p/2) L^(q/2): -> 0 iff p > 0 (a log factor cannot rescue p = 0).
        if seg.exponent.has(param):
            return sympy.solveset(seg.exponent > 0, param, seg.domain)
        return seg.domain if seg.exponent > 0 else sympy.S.EmptySet

    landing = sympy.Union(*(lands_on(seg) for seg in seg_r))
    if family is ErrorFamily.NORMAL_OFFSET:
        error_squared = offset_error_squared()
    else:
        error_squared = scaled_normal_error_squared(process, d=1, k=0)  # one normal direction
    l2 = l2_region(error_squared, process, param)
    rate_segments = [_Segment(seg.domain, seg.leading, seg.exponent / 2, seg.log_power / 2) for seg in seg_r]
    rate = _piecewise(rate_segments, "exponent", param)
    log_power = _piecewise(rate_segments, "log_power", param)
    cases = tuple(
        BoundaryCase(value=next(iter(seg.domain)), rms2_leading=seg.leading, rate=seg.exponent,
                     log_power=seg.log_power, lands=bool(seg.exponent > 0))
        for seg in rate_segments if isinstance(seg.domain, sympy.FiniteSet))
    return BoundaryPrediction(
        family=family, process=process, parameter=param, odes=odes, m_solution=m_sol, v_solution=v_sol,
        m_leading=_piecewise(seg_m, "leading", param), v_leading=_piecewise(seg_v, "leading", param),
        rms2_leading=_piecewise(seg_r, "leading", param), rate=rate, log_power=log_power,
        landing_region=landing, l2_region=l2, boundary_cases=cases,
        lands=numpy_twin(landing.as_relational(param), param),
        is_l2=numpy_twin(l2.as_relational(param), param),
        rate_numpy=numpy_twin(rate, param), log_power_numpy=numpy_twin(log_power, param))


def li_concentration_region(process: ForwardProcess = OU()) -> sympy.Set:
    """The set of offset exponents a with c t^(-a) = o(sigma(t)^-2) as t -> 0.

    Li, Shen, Hsieh, He 2025 (arXiv:2509.24912): a score error of size o(sigma^-2) keeps the
    samples concentrated on M. For the normal offset e = c t^(-a) n this is the condition that
    c t^(-a) sigma(t)^2, whose leading exponent is 1 - a (sigma^2 ~ g2(0) t), tends to 0: a < 1,
    the landing region of :func:`boundary_prediction` (NORMAL_OFFSET) -- the cross-check of SPEC C6.
    """
    ex = check_process(process).symbolic()
    _, exponent = _leading(SYMBOLS.c * ex.t ** (-SYMBOLS.a) * ex.sigma2, ex.t)
    return sympy.solveset(exponent > 0, SYMBOLS.a, sympy.S.Reals)
