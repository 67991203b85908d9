"""Shared cases of the theory.symbolic tests: the processes, their g(0)^2, sample times, a zero test."""

from __future__ import annotations

import numpy as np
import sympy

from theory.processes import OU, VE, VP
from theory.symbolic import SYMBOLS

EPS = np.finfo(np.float64).eps
PROCESSES = [OU(), VP(), VE()]
IDS = ["OU", "VP", "VE"]
NAMED = list(zip(PROCESSES, IDS))
t_sym = SYMBOLS.t

# Reference values of g2(0), from the processes' definitions (CLAIMS.md §1): OU g^2 = 2; VP
# g^2(0) = beta_min = 0.1; VE g^2(0) = 2 log(sigma_max/sigma_min) sigma_min^2 = 2e-4 log 5000.
G0 = {"OU": sympy.Integer(2), "VP": sympy.Rational(1, 10), "VE": 2 * sympy.log(5000) / 10000}


def is_zero(expr) -> bool:
    """Symbolic zero test: cheap normal forms first (simplify takes seconds on the VP expressions)."""
    expr = sympy.sympify(expr)
    return sympy.expand(expr) == 0 or sympy.cancel(sympy.together(expr)) == 0 or sympy.simplify(expr) == 0


def sample_times() -> np.ndarray:
    """Forward times from deep in the small-time regime (1e-9) to order one (0.9)."""
    return np.array([1e-9, 1e-6, 1e-3, 0.05, 0.3, 0.9])


# ASCII punctuation: the characters a Markdown backslash escape applies to (CommonMark 2.4).
_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def assert_github_inline_math(latex: str) -> None:
    """``latex`` survives Markdown unchanged inside ``$...$`` on one line, and its groups balance.

    Written independently of theory.symbolic.bridge: one line; no backslash before ASCII
    punctuation (Markdown would drop the backslash: \\{ -> {, \\\\ -> \\, \\: -> :); no *, ~, $ or
    angle bracket; every underscore right after a letter or digit (such a one cannot open
    emphasis); braces balanced; every \\begin{cases} closed."""
    assert "\n" not in latex and "$" not in latex, latex
    for i, ch in enumerate(latex[:-1]):
        if ch == "\\":
            assert latex[i + 1] not in _PUNCTUATION, (latex, latex[i:i + 6])
    for ch in "*~<>":
        assert ch not in latex, (latex, ch)
    for i, ch in enumerate(latex):
        if ch == "_":
            assert i > 0 and latex[i - 1].isalnum(), (latex, latex[max(0, i - 6):i + 2])
    depth = 0
    for ch in latex:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, latex
    assert depth == 0, latex
    assert latex.count(r"\begin{cases}") == latex.count(r"\end{cases}"), latex
