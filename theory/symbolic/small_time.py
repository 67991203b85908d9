"""Small-time expansion of a forward process: sigma(t)^2 ~ g(0)^2 t as t -> 0 (CLAIMS.md §1).

Near t = 0 every process has sigma(t)^2 = g0 t + O(t^2) with g0 = g(0)^2, hence the exact-score
rate sigma(delta) ~ sqrt(g0 delta). Derived with SymPy from :meth:`theory.processes.ForwardProcess.symbolic`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy

from theory.processes import OU, ForwardProcess, check_process
from theory.symbolic.bridge import _is_zero, numpy_twin

__all__ = ["SmallTimeExpansion", "small_time_expansion"]


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
    Source: CLAIMS.md §1 (the kernel N(alpha x0, sigma^2 I) and the exact-score rate).
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
