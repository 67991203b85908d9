"""The explosion of the exact score near M: sigma(t)^2 E_fwd |grad log p_t|^2 -> d - k (CLAIMS.md C5).

For a Gaussian on a k-dimensional linear subspace the mean square of the score is exact in closed
form; its normal part grows like (d - k)/sigma(t)^2, so the true drift is never square-integrable
in time on a lower-dimensional M: int_delta^T E|score|^2 dt = ((d - k)/g0) log(1/delta) + O(1).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy
from scipy import integrate

from theory.processes import OU, ForwardProcess, check_process
from theory.symbolic.bridge import SYMBOLS, inline_latex, numpy_twin
from theory.symbolic.small_time import small_time_expansion

__all__ = ["ScoreExplosion", "score_explosion"]


@dataclass(frozen=True)
class ScoreExplosion:
    """E_fwd |grad log p_t(X_t)|^2 for mu = N(0, c2 I_k) on a k-dim linear subspace of R^d.

    Attributes: ``mean_square`` = (d - k)/sigma^2 + k/(alpha^2 c2 + sigma^2) (exact, in t);
    ``scaled`` = sigma^2 x mean_square; ``limit`` = lim_{t->0} scaled (= d - k);
    ``log_coefficient`` = the coefficient of log(1/delta) in int_delta^T mean_square dt
    (= (d - k)/g2(0)); ``weighted`` = (g(t)^2 / 2) mean_square, the integrand of the L2 condition
    with the Girsanov weight (CLAIMS.md C2); ``mean_square_numpy(t, d, k, c2)``,
    ``scaled_numpy(t, d, k, c2)`` and ``weighted_numpy(t, d, k, c2)`` twins.
    """

    process: ForwardProcess
    mean_square: sympy.Expr
    scaled: sympy.Expr
    limit: sympy.Expr
    log_coefficient: sympy.Expr
    weighted: sympy.Expr
    mean_square_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    scaled_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    weighted_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)

    def weighted_integral(self, t0: float, t1: float, *, d: float, k: float, c2: float = 1.0) -> float:
        """int_{t0}^{t1} (g(t)^2 / 2) E_fwd |grad log p_t(X_t)|^2 dt for mu = N(0, c2 I_k) on a k-dim
        subspace of R^d: the Girsanov-weighted L2 integral of the exact score (CLAIMS.md C2, C5).

        = int (g^2/2) [(d - k)/sigma^2 + k/(alpha^2 c2 + sigma^2)] dt, from the symbolic twin (no
        NumPy process kernel is used), by adaptive quadrature in log t (dt = t dlog t), relative
        accuracy 1e-12. As t -> 0, g^2/(2 sigma^2) ~ 1/(2t) for every process, so each decade adds
        (d - k) log(10)/2 + O(t1): the weighted integral diverges like ((d - k)/2) log(1/t0).
        With k = 0 and d replaced by a codimension m it is m int (g^2/2)/sigma^2 dt, the normal part
        of the explosion of any measure of codimension m.
        0 < t0 < t1; d > 0, 0 <= k <= d, c2 > 0 (real numbers: a mixture's weighted codimension works).
        """
        for name, value in (("t0", t0), ("t1", t1), ("d", d), ("c2", c2)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not 0 <= k <= d:
            raise ValueError(f"k must be a number in [0, d] = [0, {d!r}], got {k!r}")
        if not t0 < t1:
            raise ValueError(f"t0 must be < t1, got t0={t0!r}, t1={t1!r}")

        def integrand(u: float) -> float:
            t = math.exp(u)
            return float(self.weighted_numpy(t, d, k, c2)) * t

        value, _ = integrate.quad(integrand, math.log(t0), math.log(t1), epsabs=0.0, epsrel=1e-12, limit=200)
        return float(value)

    def formulas(self) -> list[tuple[str, str]]:
        """(name, LaTeX) pairs for the report, each one line that renders inside ``$...$`` on GitHub.

        In order: ``mean_square``, ``scaled``, ``limit`` and the log growth of the integral
        (``log_coefficient`` log(1/delta) + O(1)), each as an equation whose right-hand side is the
        SymPy result rendered by :func:`~theory.symbolic.inline_latex`.
        """
        score2 = r"\mathbb{E} \vert \nabla \log p_t(X_t) \vert^{2}"
        integral = rf"\int_{{\delta}}^{{T}} {score2} \thinspace dt"
        return [
            ("mean square of the exact score (mu = N(0, c2 I) on a k-dim subspace)",
             f"{score2} = {inline_latex(self.mean_square)}"),
            ("scaled by sigma(t)^2", rf"\sigma(t)^{{2}} {score2} = {inline_latex(self.scaled)}"),
            ("limit as t -> 0", rf"\lim_{{t \to 0}} \sigma(t)^{{2}} {score2} = {inline_latex(self.limit)}"),
            ("growth of the time integral",
             rf"{integral} = {inline_latex(self.log_coefficient)} \log(1/\delta) + O(1)"),
        ]


@functools.lru_cache(maxsize=None)
def score_explosion(process: ForwardProcess = OU()) -> ScoreExplosion:
    """Exact E_fwd |grad log p_t|^2 for a Gaussian on a k-dim subspace and its rate as t -> 0 (CLAIMS.md C5).

    With mu = N(0, c2 U U^T) (U orthonormal d x k), p_t = N(0, S), S = alpha^2 c2 U U^T + sigma^2 I,
    and grad log p_t(x) = -S^{-1} x, so E|S^{-1} X_t|^2 = tr(S^{-1}): k eigenvalues alpha^2 c2 +
    sigma^2 and d - k eigenvalues sigma^2 give

        E_fwd |grad log p_t|^2 = (d - k)/sigma^2 + k/(alpha^2 c2 + sigma^2).

    sigma^2 E|score|^2 -> d - k (exactly (d - k) + k sigma^2 for OU with c2 = 1, since alpha^2 +
    sigma^2 = 1), and as sigma^2 ~ g2(0) t, int_delta^T E|score|^2 dt = ((d - k)/g2(0))
    log(1/delta) + O(1) (OU: (d - k)/2). The coefficient is lim t E|score|^2, the remainder
    E|score|^2 - coefficient/t being O(1) (sigma^2/t is analytic and nonzero at 0). Source: CLAIMS.md C5;
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
    weighted = ex.g2 / 2 * mean_square
    return ScoreExplosion(process=process, mean_square=mean_square, scaled=scaled, limit=lim,
                          log_coefficient=log_coefficient, weighted=weighted,
                          mean_square_numpy=numpy_twin(mean_square, t, d, k, c2),
                          scaled_numpy=numpy_twin(scaled, t, d, k, c2),
                          weighted_numpy=numpy_twin(weighted, t, d, k, c2))
