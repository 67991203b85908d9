"""Moment equations of the linearized normal dynamics near M under the reverse SDE (CLAIMS.md C6).

Along one normal coordinate y of M the exact score is -y/sigma^2; the error families of
CLAIMS.md C6 replace it by s_n = -beta y/sigma^2 + c t^(-a). The mean m and the variance v of y
then obey linear ODEs (:func:`moment_odes`), of Euler type near t = 0, which
:func:`theory.symbolic.boundary_prediction` solves.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy

from theory.processes import OU, ForwardProcess, check_process
from theory.symbolic.bridge import SYMBOLS, _is_zero, numpy_twin
from theory.symbolic.small_time import small_time_expansion

__all__ = ["ErrorFamily", "MomentODEs", "moment_odes", "exact_score_variance_residual"]


class ErrorFamily(enum.Enum):
    """The explicit score-error families of CLAIMS.md C6, along one normal direction n of M.

    NORMAL_OFFSET: s_n = -y/sigma^2 + c t^(-a) (e = c t^(-a) n), parameter ``a``.
    SCALED_NORMAL: s_n = -beta y/sigma^2 (e = (beta - 1) x the true normal part), parameter ``beta``.
    """

    NORMAL_OFFSET = "normal_offset"
    SCALED_NORMAL = "scaled_normal"

    @property
    def parameter(self) -> sympy.Symbol:
        """The family's parameter symbol: ``a`` or ``beta``."""
        return SYMBOLS.a if self is ErrorFamily.NORMAL_OFFSET else SYMBOLS.beta

    def specialize(self, expr: sympy.Expr) -> sympy.Expr:
        """Restrict an expression of the two-parameter model (beta, c t^(-a)) to this family."""
        if self is ErrorFamily.NORMAL_OFFSET:
            return expr.subs(SYMBOLS.beta, 1)
        return expr.subs(SYMBOLS.c, 0)


@dataclass(frozen=True)
class MomentODEs:
    """Forward-time moment equations of one normal coordinate y under the approximate reverse SDE.

    Attributes: ``dm_dt``, ``dv_dt`` (full, in t, m, v and the family parameter); the Euler-type
    leading-order equations ``dm_dt_leading``, ``dv_dt_leading`` (sigma^2 -> g0 t, f, alpha -> their
    values at 0); ``homogeneous`` = sigma^(2 beta) alpha^(1 - 2 beta), an exact solution of the
    homogeneous m-equation (its square solves the homogeneous v-equation); and the numeric
    right-hand sides ``dm_dt_numpy(t, m, param, c)`` (c is unused by SCALED_NORMAL) and
    ``dv_dt_numpy(t, v, param)``.
    """

    process: ForwardProcess
    family: ErrorFamily
    parameter: sympy.Symbol
    dm_dt: sympy.Expr
    dv_dt: sympy.Expr
    dm_dt_leading: sympy.Expr
    dv_dt_leading: sympy.Expr
    homogeneous: sympy.Expr
    dm_dt_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    dv_dt_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)


def _general_moment_odes(process: ForwardProcess) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr, sympy.Expr]:
    """(dm/dt, dv/dt, P, Q) of the two-parameter model s_n = -beta y/sigma^2 + c t^(-a).

    In reverse time u = T - t: dY = b(t, Y) du + g dB with b = -f y + g^2 s_n = P y + Q (P, Q
    free of y). Ito: dm/du = P m + Q, dv/du = 2 P v + g^2; forward time d/dt = -d/du.
    """
    ex = process.symbolic()
    t, y = ex.t, sympy.Dummy("y", real=True)
    s = SYMBOLS
    score = -s.beta * y / ex.sigma2 + s.c * t ** (-s.a)
    drift = -ex.f * y + ex.g2 * score
    p_coef = sympy.diff(drift, y)  # not expanded: keeps sigma^2 whole, so the twins can use expm1
    q_coef = drift.subs(y, 0)
    return -(p_coef * s.m + q_coef), -(2 * p_coef * s.v + ex.g2), p_coef, q_coef


def _euler_rhs(family: ErrorFamily, rate0: sympy.Expr, g0: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """Leading-order (Euler) right-hand sides: rate0 m/t - g0 c t^(-a) and 2 rate0 v/t - g0."""
    s = SYMBOLS
    dm = rate0 * s.m / s.t + family.specialize(-g0 * s.c * s.t ** (-s.a))
    return dm, 2 * rate0 * s.v / s.t - g0


@functools.lru_cache(maxsize=None)
def _leading_rate(family: ErrorFamily, process: ForwardProcess) -> sympy.Expr:
    """rate0 = lim_{t->0} t (f + beta g^2/sigma^2), by SymPy limits (= beta, or 1 for NORMAL_OFFSET).

    f, g^2 and sigma^2/t are analytic at 0 with sigma^2/t -> g0 = g2(0) > 0
    (:func:`small_time_expansion`), so t (f + beta g^2/sigma^2) = rate0 + O(t).
    """
    ex = process.symbolic()
    t = ex.t
    return family.specialize(sympy.limit(t * ex.f, t, 0) + SYMBOLS.beta * sympy.limit(t * ex.g2 / ex.sigma2, t, 0))


@functools.lru_cache(maxsize=None)
def moment_odes(family: ErrorFamily, process: ForwardProcess = OU()) -> MomentODEs:
    """Moment ODEs of the linearized normal dynamics near M, derived from the reverse SDE (CLAIMS.md C6).

    Reverse SDE (CLAIMS.md §1), u = T - t: dY = [-f Y + g^2 s(T - u, Y)] du + g dB, along one
    normal coordinate y with s_n = -beta y/sigma^2 + c t^(-a) (the exact normal score is -y/sigma^2:
    exact for a linear subspace, leading order for curved M). For the mean m and variance v of y,
    in forward time t:

        dm/dt = f m + beta g^2 m / sigma^2 - g^2 c t^(-a),
        dv/dt = 2 f v + 2 beta g^2 v / sigma^2 - g^2,

    with beta = 1 for the NORMAL_OFFSET family and c = 0 for SCALED_NORMAL. Near t = 0,
    t (f + beta g^2/sigma^2) = beta + O(t) and g^2 = g0 + O(t) (the limits are computed here; the
    remainders are O(t) because f, g^2 and sigma^2/t are analytic at 0), so the
    leading-order equations are of Euler type: dm/dt = beta m/t - g0 c t^(-a), dv/dt = 2 beta v/t - g0;
    the O(t) remainders only multiply solutions by 1 + O(t). The exact homogeneous solution is
    h = sigma^(2 beta) alpha^(1 - 2 beta) (since d log sigma^2/dt = 2 f + g^2/sigma^2). Source:
    CLAIMS.md C6; formalized as here.
    """
    if not isinstance(family, ErrorFamily):
        raise TypeError(f"family must be an ErrorFamily, got {type(family).__name__}")
    process = check_process(process)
    ex = process.symbolic()
    t, s = ex.t, SYMBOLS
    g0 = small_time_expansion(process).g0
    dm_dt, dv_dt, _, _ = _general_moment_odes(process)
    dm_dt, dv_dt = family.specialize(dm_dt), family.specialize(dv_dt)
    # Leading order: t (f + beta g^2/sigma^2) = rate0 + O(t) and g^2 c t^(-a) = g0 c t^(-a) (1 + O(t)).
    dm_lead, dv_lead = _euler_rhs(family, _leading_rate(family, process), g0)
    beta = family.specialize(s.beta)
    homogeneous = ex.sigma2**beta * ex.alpha ** (1 - 2 * beta)
    param = family.parameter
    return MomentODEs(process=process, family=family, parameter=param, dm_dt=dm_dt, dv_dt=dv_dt,
                      dm_dt_leading=dm_lead, dv_dt_leading=dv_lead, homogeneous=homogeneous,
                      dm_dt_numpy=numpy_twin(dm_dt, t, s.m, param, s.c),
                      dv_dt_numpy=numpy_twin(dv_dt, t, s.v, param))


def exact_score_variance_residual(process: ForwardProcess = OU()) -> sympy.Expr:
    """d sigma^2/dt - (2 f sigma^2 + 2 g^2 sigma^2/sigma^2 - g^2), simplified: 0 for a consistent process.

    The sanity check of the signs of :func:`moment_odes`: with the exact score (beta = 1, c = 0)
    the forward marginal variance v = sigma(t)^2 must solve the v-equation. Source: CLAIMS.md C6.
    """
    process = check_process(process)
    ex = process.symbolic()
    _, dv_dt, _, _ = _general_moment_odes(process)
    rhs = dv_dt.subs({SYMBOLS.beta: 1, SYMBOLS.v: ex.sigma2})
    residual = sympy.diff(ex.sigma2, ex.t) - rhs
    return sympy.S.Zero if _is_zero(residual) else sympy.simplify(residual)
