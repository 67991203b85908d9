"""Tests of theory/symbolic/asymptotics.py: the leading-term engine behind the C6 boundary.

Each symbolic leading term is checked numerically: for a sum of two terms the ratio of the sum
to its leading term is exactly 1 + (other term)/(leading term), so at t = 1e-12 it must lie within
(coefficient ratio) t^gap (+ rounding) of 1, where gap is the difference of the exponents.
"""

from __future__ import annotations

import math

import pytest
import sympy

from symbolic_cases import EPS
from theory.symbolic import SYMBOLS
from theory.symbolic.asymptotics import _dominant, _generic_branch, _leading, _piecewise, _segments, _term_data, \
    _terms

t, a, beta, A, B, c, L = SYMBOLS.t, SYMBOLS.a, SYMBOLS.beta, SYMBOLS.A, SYMBOLS.B, SYMBOLS.c, SYMBOLS.L
# Amplitudes for the numeric checks (any nonzero values; these are far from 0 and from each other).
A_VALUE, C_VALUE, B_VALUE = 0.7, 1.3, 0.9
T_SMALL = 1e-12


def test_term_data_reads_powers_and_logs():
    # log t = -log(1/t): an odd power of log t flips the sign of the coefficient.
    assert _term_data(3 * t * sympy.log(t), t) == (-3, 1, 1)
    assert _term_data(-3 * t**2 * sympy.log(t) ** 2, t) == (-3, 2, 2)
    assert _term_data(c * t ** (1 - a), t) == (c, 1 - a, 0)
    with pytest.raises(NotImplementedError, match="cannot read sin"):
        _term_data(sympy.sin(t), t)


def test_terms_merge_equal_powers_and_drop_zeros():
    assert _terms(t * sympy.log(t) + 2 * t * sympy.log(t) + t**2 - t**2, t) == [(-3, 1, 1)]
    # Equal least power: the larger log power dominates (log(1/t) -> infinity).
    lead, p, q = _dominant(_terms(t * sympy.log(t) ** 2 + 5 * t + t**2, t), t, 0, a)
    assert (lead, p, q) == (L**2 * t, 1, 2)


def test_leading_power_term():
    assert _leading(sympy.sin(t) ** 2 / t**3, t) == (1, -1)
    assert _leading(A * t + c * t**3, t) == (A, 1)
    with pytest.raises(NotImplementedError, match="logarithmic factor"):
        _leading(t * sympy.log(t), t)


def test_segments_of_two_crossing_powers():
    """A t + c t^(1-a): the powers cross at a = 0 and the dominant one stops decaying at a = 1."""
    expr = A * t + c * t ** (1 - a)
    segments = _segments(expr, t, a)
    assert [seg.domain for seg in segments] == [
        sympy.Interval.open(-sympy.oo, 0), sympy.FiniteSet(0), sympy.Interval.open(0, 1), sympy.FiniteSet(1),
        sympy.Interval.open(1, sympy.oo)]
    assert [seg.leading for seg in segments] == [A * t, (A + c) * t, c * t ** (1 - a), c, c * t ** (1 - a)]
    # The point a = 1 continues its neighbours' formula, a = 0 does not.
    assert _piecewise(segments, "leading", a) == sympy.Piecewise(
        (A * t, a < 0), ((A + c) * t, sympy.Eq(a, 0)), (c * t ** (1 - a), True))
    assert _piecewise(segments, "exponent", a) == sympy.Piecewise((1, a <= 0), (1 - a, True))
    # Numerically: the sum over its leading term at t = 1e-12. Both are SymPy values rounded once to
    # float64 (eps/2 each) and divided (eps/2): 4 eps covers the rounding of num/den - 1.
    values = {A: A_VALUE, c: C_VALUE}
    for x, gap, ratio in [(-0.5, 0.5, C_VALUE / A_VALUE), (0.5, 0.5, A_VALUE / C_VALUE), (1.0, 1.0, A_VALUE / C_VALUE),
                          (2.0, 2.0, A_VALUE / C_VALUE), (0.0, math.inf, 0.0)]:
        lead = next(seg.leading for seg in segments if seg.domain.contains(x))
        num = float(expr.subs(values).subs(a, x).subs(t, T_SMALL))
        den = float(lead.subs(values).subs(a, x).subs(t, T_SMALL))
        assert abs(num / den - 1) <= ratio * T_SMALL**gap + 4 * EPS, x


def test_resonant_solution_gets_a_log_segment():
    """dsolve's solution of dv/dt = 2 beta v/t - g0 (g0 = 2) is resonant at beta = 1/2.

    Generic branch: v = B t^(2 beta) + 2 t/(2 beta - 1); at beta = 1/2, v = B t + 2 t log(1/t),
    whose leading term 2 t L (L = log(1/t)) has relative correction exactly B/(2 L)."""
    fn = sympy.Function("y")
    sol = sympy.dsolve(sympy.Eq(fn(t).diff(t), 2 * beta * fn(t) / t - 2), fn(t), hint="1st_linear").rhs
    sol = sol.subs(sympy.Symbol("C1"), B)
    generic, resonances = _generic_branch(sol, beta)
    assert resonances == {sympy.Rational(1, 2)}
    segments = {seg.domain: seg for seg in _segments(sol, t, beta)}
    half = segments[sympy.FiniteSet(sympy.Rational(1, 2))]
    assert (half.leading, half.exponent, half.log_power) == (2 * L * t, 1, 1)
    above = segments[sympy.Interval.open(sympy.Rational(1, 2), sympy.oo)]
    assert sympy.simplify(above.leading - 2 * t / (2 * beta - 1)) == 0
    below = segments[sympy.Interval.open(0, sympy.Rational(1, 2))]
    assert below.leading == B * t ** (2 * beta)
    # Numerically at beta = 1/2 and t = 1e-12: exact v over 2 t log(1/t) is 1 + B/(2 log(1/t)).
    # Rounding: v is SymPy's value rounded once; math.log (1 ulp), two products, one quotient on the
    # left and a quotient and a sum on the right: about 4 eps, so 8 eps.
    log_inv = math.log(1 / T_SMALL)
    v = float(sol.subs({beta: sympy.Rational(1, 2), B: B_VALUE}).subs(t, T_SMALL))
    assert v / (2 * T_SMALL * log_inv) == pytest.approx(1 + B_VALUE / (2 * log_inv), rel=8 * EPS)
    with pytest.raises(NotImplementedError, match="unexpected Piecewise condition"):
        _generic_branch(sympy.Piecewise((t, a > 0), (1, True)), a)
