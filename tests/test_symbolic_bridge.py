"""Tests of theory/symbolic/bridge.py: the shared symbols, numpy_twin and inline_latex.

inline_latex is checked against hand-written LaTeX for known cases and against
``assert_github_inline_math`` (tests/symbolic_cases.py), an independent statement of what survives
Markdown inside ``$...$``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from symbolic_cases import EPS, assert_github_inline_math, t_sym
from theory.symbolic import SYMBOLS, inline_latex, numpy_twin


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


a, beta, c = SYMBOLS.a, SYMBOLS.beta, SYMBOLS.c
HALF = sympy.Rational(1, 2)


@pytest.mark.parametrize(
    "obj, expected",
    [
        # sympy.latex itself wherever it is already safe for Markdown.
        (c * t_sym ** (1 - a) / a, r"\frac{c t^{1 - a}}{a}"),
        (sympy.Interval.open(-sympy.oo, HALF), r"\left(-\infty, \frac{1}{2}\right)"),
        (sympy.Eq(beta, HALF), r"\beta = \frac{1}{2}"),
        # Its \{ \} (Markdown: { }) as \lbrace \rbrace; < and > as \lt and \gt.
        (sympy.FiniteSet(1), r"\left\lbrace 1\right\rbrace "),
        (a < 1, r"a \lt 1"),
        (a > 1, r"a \gt 1"),
        # Piecewise as one line: rows joined by \cr, "if" before each condition (sympy: "for" and \:).
        (sympy.Piecewise((HALF, a <= HALF), (1 - a, True)),
         r"\begin{cases} \frac{1}{2} & \text{if } a \leq \frac{1}{2} \cr 1 - a & \text{otherwise} \end{cases}"),
        (sympy.Piecewise((0, sympy.Ne(beta, HALF)), (HALF, True)),
         r"\begin{cases} 0 & \text{if } \beta \neq \frac{1}{2} \cr \frac{1}{2} & \text{otherwise} \end{cases}"),
    ],
)
def test_inline_latex_known_cases(obj, expected):
    out = inline_latex(obj)
    assert out == expected
    assert_github_inline_math(out)


def test_inline_latex_respells_markdown_escapes_and_symbol_names():
    x = sympy.Symbol("x")
    # sympy.latex's own Piecewise has \\ and \: (Markdown turns them into \ and :).
    raw = sympy.latex(sympy.Piecewise((1, x < 0), (0, True)))
    assert "\\\\" in raw and "\\:" in raw
    out = inline_latex(sympy.Piecewise((1, x < 0), (0, True)))
    assert out == r"\begin{cases} 1 & \text{if } x \lt 0 \cr 0 & \text{otherwise} \end{cases}"
    # Commands spelled with punctuation inside symbol names are respelled with letters.
    assert inline_latex(x, symbol_names={x: r"\{y\,z\;w\!v\|"}) == r"\lbrace y\thinspace z\ w\negthinspace v\Vert "
    assert inline_latex(x, symbol_names={x: r"\log(1/t)"}) == r"\log(1/t)"


@pytest.mark.parametrize("latex", [
    sympy.latex(sympy.Piecewise((1, SYMBOLS.a < 0), (0, True))),  # \\ and \: between rows
    sympy.latex(sympy.FiniteSet(1)),  # \{ and \}
    r"a < 1",
    r"x^{2}_{1}",  # an underscore after a brace could open emphasis
    r"\frac{1}{2",
])
def test_the_markdown_check_refuses_plain_sympy_latex(latex):
    """Negative controls for assert_github_inline_math: what sympy.latex writes fails it."""
    with pytest.raises(AssertionError):
        assert_github_inline_math(latex)


@pytest.mark.parametrize("name", [r"\#", r"x*y", r"\sim~", r"{x}_1", r"_x"])
def test_inline_latex_refuses_what_markdown_would_alter(name):
    x = sympy.Symbol("x")
    with pytest.raises(ValueError, match="LaTeX"):
        inline_latex(x, symbol_names={x: name})


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
