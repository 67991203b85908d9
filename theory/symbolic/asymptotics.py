"""The leading-term engine: sums of c t^p log(t)^q as t -> 0, piecewise in one parameter.

:func:`theory.symbolic.boundary_prediction` reads the leading behaviour of dsolve's solutions
(sums of terms c t^p log(t)^q whose exponents p depend on a parameter such as a or beta) on
each piece of the parameter line: the pieces are cut where two exponents cross, where dsolve's
solution is resonant (a log(t) appears) and where the dominant exponent is 0; on each piece the
dominant term has the least p and, among those, the largest q. The pieces are then assembled
into SymPy Piecewise expressions. ``L`` (``SYMBOLS.L``) stands for log(1/t) in the results.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy

from theory.symbolic.bridge import SYMBOLS, _is_zero

__all__: list[str] = []


def _leading(expr: sympy.Expr, t: sympy.Symbol) -> tuple[sympy.Expr, sympy.Expr]:
    """(coefficient, exponent) of the leading term coefficient * t^exponent of ``expr`` as t -> 0."""
    coeff, exponent = sympy.sympify(expr).leadterm(t)
    if coeff.has(t):
        raise NotImplementedError(f"leading term of {expr} as t -> 0 has a logarithmic factor {coeff}")
    return coeff, exponent


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
