"""Tests of theory/symbolic/bridge.py: the shared symbols and numpy_twin."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from symbolic_cases import EPS, t_sym
from theory.symbolic import SYMBOLS, numpy_twin


def test_numpy_twin_broadcasts_constants_and_relationals():
    one = numpy_twin(sympy.Integer(1), t_sym)
    out = one(np.zeros((2, 3)))
    assert out.shape == (2, 3) and out.dtype == np.float64 and np.all(out == 1.0)
    rel = numpy_twin(SYMBOLS.a < sympy.Rational(1, 2), SYMBOLS.a)
    np.testing.assert_array_equal(rel([0.0, 0.5, 0.7]), [True, False, False])
    assert rel(0.2).shape == () and rel(0.2).dtype == np.bool_


def test_numpy_twin_keeps_relative_precision_through_expm1():
    """1 - exp(-2t) is rewritten as -expm1(-2t): full relative precision at t = 1e-12.

    Reference: the series 2t - 2t^2 + (4/3) t^3, whose truncation is below 1e-36 relative at
    t = 1e-12. The twin is one product (exact: times 2), one expm1 (at most 1 ulp: NumPy's
    validation set bounds float64 expm1 at 1 ULP) and a negation, so 2 eps covers it; the literal
    formula would lose about 1e-4 relative there (eps / (2t))."""
    t = np.array([1e-12, 1e-9])
    twin = numpy_twin(1 - sympy.exp(-2 * t_sym), t_sym)
    expected = 2 * t - 2 * t**2 + 4 / 3 * t**3
    np.testing.assert_allclose(twin(t), expected, rtol=2 * EPS)
    assert abs((1 - np.exp(-2 * t[0])) / expected[0] - 1) > 1e-6  # the rewrite is what keeps the digits


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: numpy_twin(SYMBOLS.a * t_sym, t_sym), ValueError, "free symbols"),
        (lambda: numpy_twin(t_sym, t_sym)(1.0, 2.0), TypeError, "expected 1 arguments"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
