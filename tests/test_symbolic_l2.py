"""Tests of theory/symbolic/l2.py: the L2 condition and region, sympy.integrate, the Girsanov weight.

The symbolic regions are checked against ``sympy.integrate`` (:func:`l2_integral`) and, where the
integral is finite, against scipy quadrature of the NumPy weight g(t)^2 / 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from scipy.integrate import quad

from symbolic_cases import EPS, IDS, NAMED, PROCESSES, sample_times, t_sym
from theory.processes import OU
from theory.symbolic import (
    SYMBOLS,
    girsanov_weight,
    l2_condition,
    l2_integral,
    l2_region,
    normal_score_squared,
    numpy_twin,
    offset_error_squared,
    scaled_normal_error_squared,
)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_l2_region_of_normal_offset_is_a_below_half(process):
    a = SYMBOLS.a
    region = l2_region(offset_error_squared(), process, a)
    assert region == sympy.Interval.open(-sympy.oo, sympy.Rational(1, 2))
    cond = l2_condition(offset_error_squared(), process)
    assert cond == (a < sympy.Rational(1, 2))
    twin = numpy_twin(region.as_relational(a), a)
    np.testing.assert_array_equal(twin([-1.0, 0.0, 0.25, 0.4999, 0.5, 0.75]), [True] * 4 + [False] * 2)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
@pytest.mark.parametrize("a_value, finite", [(sympy.Rational(1, 4), True), (sympy.Rational(3, 4), False)])
def test_l2_condition_agrees_with_sympy_integrate(process, a_value, finite):
    err2 = offset_error_squared(((1, a_value),))
    value = l2_integral(err2, process, t1=1)
    assert bool(value.is_finite) is finite, value
    if finite:
        # The same integral by quadrature of the NumPy weight g^2/2 (substitution t = u^2 removes
        # the t^(-1/2) singularity at a = 1/4).
        w = lambda u: 0.5 * float(process.g2(u * u)) * (u * u) ** (-2 * float(a_value)) * 2 * u
        assert complex(value.evalf()).real == pytest.approx(quad(w, 0.0, 1.0, epsabs=0, epsrel=1e-12)[0], rel=1e-9)
    cond = l2_condition(offset_error_squared(), process).subs(SYMBOLS.a, a_value)
    assert bool(cond) is finite


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_true_normal_score_is_never_l2_when_k_below_d(process):
    d, k = SYMBOLS.d, SYMBOLS.k
    cond = l2_condition(normal_score_squared(process), process)
    assert cond == sympy.Eq(d, k)
    j = sympy.Symbol("j", positive=True, integer=True)
    assert cond.subs(d, k + j) is sympy.false  # any k < d
    if process == OU():  # (sympy.integrate of 1/sigma^2 takes seconds for VP; OU suffices)
        value = l2_integral(normal_score_squared(process, d=3, k=1), process, t1=1)
        assert value.is_finite is False
        # The boundary a = 1/2 of the offset family diverges (logarithmically).
        assert l2_integral(offset_error_squared(((1, sympy.Rational(1, 2)),)), process).is_finite is False
    # Scaled normal score: L2 exactly at beta = 1.
    region = l2_region(scaled_normal_error_squared(process), process, SYMBOLS.beta)
    assert region == sympy.FiniteSet(1)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_l2_condition_of_a_sum_of_offsets(process):
    a1, a2 = sympy.symbols("a1 a2", real=True)
    err2 = offset_error_squared(((SYMBOLS.c, a1), (2, a2)))
    cond = l2_condition(err2, process)
    half = sympy.Rational(1, 2)
    for x1, x2, expected in [(0.2, 0.3, True), (0.2, 0.6, False), (0.7, 0.1, False), (0.49, 0.49, True)]:
        assert bool(cond.subs({a1: x1, a2: x2})) is expected
    assert cond.subs(a2, 0).as_set() == sympy.Interval.open(-sympy.oo, half)


@pytest.mark.parametrize("process, name", NAMED, ids=IDS)
def test_girsanov_weight(process, name):
    w = girsanov_weight(process)
    if name == "OU":
        assert w == 1
    t = sample_times()
    # VE's g^2 is c exp(rate t): the two sides round rate = 2 log(sigma_max / sigma_min) separately
    # (math.log, NumPy's log of the lambdified expression) and take NumPy's exp (SIMD, last ulp may
    # vary), so they differ by eps |rate t| (exp's condition) plus a few ulps; rate t = log(g2(t) / g2(0)).
    condition = np.abs(np.log(process.g2(t) / process.g2(0.0)))
    np.testing.assert_allclose(numpy_twin(w, t_sym)(t), 0.5 * process.g2(t), rtol=8 * EPS * (1 + condition.max()))


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: offset_error_squared(()), ValueError, "at least one pair"),
        (lambda: l2_region(offset_error_squared(), OU(), "a"), TypeError, "parameter must be a SymPy Symbol"),
        (lambda: l2_condition(offset_error_squared(), "OU"), TypeError, "process must be a ForwardProcess"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
