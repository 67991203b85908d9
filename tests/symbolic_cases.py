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
