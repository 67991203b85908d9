"""The L2-in-time condition near t = 0 and the Girsanov weight (CLAIMS.md C2).

The L2 condition on a score error e is int_0^T (g(t)^2 / 2) E_fwd |e(t, X_t)|^2 dt < infinity.
On [t0, T] with t0 > 0 everything is continuous, so only t -> 0 matters: :func:`l2_condition`
and :func:`l2_region` decide it from the leading terms of the weighted integrand, and
:func:`l2_integral` computes the integral itself with ``sympy.integrate`` as the validation path.
The error families are those of CLAIMS.md C6: :func:`offset_error_squared` (normal offsets),
:func:`scaled_normal_error_squared` (the scaled normal score) and :func:`normal_score_squared`
(the true normal score, whose L2 failure is CLAIMS.md C5).
"""

from __future__ import annotations

from typing import Any

import sympy

from theory.processes import OU, ForwardProcess, check_process
from theory.symbolic.asymptotics import _leading
from theory.symbolic.bridge import SYMBOLS

__all__ = [
    "offset_error_squared",
    "scaled_normal_error_squared",
    "normal_score_squared",
    "girsanov_weight",
    "l2_condition",
    "l2_region",
    "l2_integral",
]


def offset_error_squared(terms: tuple[tuple[Any, Any], ...] = ((SYMBOLS.c, SYMBOLS.a),)) -> sympy.Expr:
    """E_fwd |e|^2 for a normal offset e = (sum_i c_i t^(-a_i)) n, n a unit normal: (sum_i c_i t^(-a_i))^2.

    ``terms`` : tuple of pairs (c_i, a_i), SymPy expressions or numbers; the default is the single
    offset c t^(-a) of CLAIMS.md C6, whose square is c^2 t^(-2a). Returned expanded, so that every
    product c_i c_j t^(-a_i - a_j) is a separate term (:func:`l2_condition` treats the terms one
    by one). Source: CLAIMS.md C6 (the normal offset); formalized as here.
    """
    if not terms:
        raise ValueError("terms must hold at least one pair (c_i, a_i), got ()")
    t = SYMBOLS.t
    e = sympy.Add(*(sympy.sympify(ci) * t ** (-sympy.sympify(ai)) for ci, ai in terms))
    return sympy.expand(sympy.powsimp(sympy.expand(e**2)))


def normal_score_squared(process: ForwardProcess = OU(), *, d: Any = SYMBOLS.d, k: Any = SYMBOLS.k) -> sympy.Expr:
    """E_fwd |normal part of grad log p_t|^2 = (d - k) / sigma(t)^2 near M.

    Exact for a linear subspace M (the normal part of the score is -y/sigma^2 with y ~ N(0,
    sigma^2 I_{d-k})), leading order for curved M. Source: CLAIMS.md C5 (formalized as here).
    """
    ex = check_process(process).symbolic()
    return (sympy.sympify(d) - sympy.sympify(k)) / ex.sigma2


def scaled_normal_error_squared(process: ForwardProcess = OU(), *, beta: Any = SYMBOLS.beta, d: Any = SYMBOLS.d,
                                k: Any = SYMBOLS.k) -> sympy.Expr:
    """E_fwd |e|^2 for e = (beta - 1) x (normal part of the true score): (beta - 1)^2 (d - k) / sigma(t)^2.

    Source: CLAIMS.md C6 (the scaled normal score); formalized as here.
    """
    return (sympy.sympify(beta) - 1) ** 2 * normal_score_squared(process, d=d, k=k)


def girsanov_weight(process: ForwardProcess = OU()) -> sympy.Expr:
    """The weight g(t)^2 / 2 of the Girsanov decomposition (CLAIMS.md C2).

    KL(P || Q) = KL(p_T || pi) + int_0^T (g(t)^2 / 2) E_fwd |e(t, X_t)|^2 dt, where P, Q are the
    path laws of the exact and the approximate reverse SDE; in the OU normalization g^2 = 2 and
    the weight is 1. Source: CLAIMS.md C2 (Girsanov's theorem; Pidstrigach 2022 for the idea).
    """
    ex = check_process(process).symbolic()
    return ex.g2 / 2


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
    along one normal with c_i > 0, the scaled and the true normal score). Source: CLAIMS.md C2 (the L2
    condition, with the general Girsanov weight g^2/2 of :func:`girsanov_weight`).
    """
    process = check_process(process)
    conds = [sympy.Or(sympy.Not(_nonzero_condition(coeff)), exponent > -1)
             for coeff, exponent in _weighted_leading_groups(error_squared, process)]
    return sympy.simplify(sympy.And(*conds))


def l2_region(error_squared: Any, process: ForwardProcess = OU(), parameter: sympy.Symbol = SYMBOLS.a) -> sympy.Set:
    """The set of real values of ``parameter`` for which the L2 condition (:func:`l2_condition`) holds.

    The other symbols are held generic: a factor of a leading coefficient that does not contain
    ``parameter`` (c, d - k) is taken nonzero, i.e. c > 0 and k < d. Examples (CLAIMS.md C2, C6): the
    normal offset c t^(-a) gives Interval.open(-oo, 1/2) (a < 1/2) under OU, VP and VE; the
    scaled normal score gives FiniteSet(1) (beta = 1). Source: CLAIMS.md C2; formalized as here.
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
    e.g. ``oo + I*pi/2`` for 1/sigma^2 under OU, so test ``.is_finite``). Source: CLAIMS.md C2.
    """
    process = check_process(process)
    t = SYMBOLS.t
    integrand = girsanov_weight(process) * sympy.sympify(error_squared)
    return sympy.integrate(integrand, (t, 0, sympy.sympify(t1)), conds="piecewise")
