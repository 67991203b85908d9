"""The sharp landing boundary of the explicit error families (CLAIMS.md C6).

:func:`boundary_prediction` solves the Euler-type moment equations of
:func:`theory.symbolic.moment_odes` in closed form with ``sympy.dsolve`` and reads off, on each
piece of the parameter line (:mod:`theory.symbolic.asymptotics`), the leading terms of the mean m
and the variance v of a normal coordinate as t -> 0: hence the landing region, the rate of the
RMS distance to M, and, from :func:`theory.symbolic.l2_region`, where the error is L2.
:func:`li_concentration_region` is the cross-check against Li, Shen, Hsieh, He 2025.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy

from theory.processes import OU, ForwardProcess, check_process
from theory.symbolic.asymptotics import _leading, _piecewise, _Segment, _segments, _t_powers
from theory.symbolic.bridge import SYMBOLS, inline_latex, numpy_twin
from theory.symbolic.l2 import l2_region, offset_error_squared, scaled_normal_error_squared
from theory.symbolic.moments import ErrorFamily, MomentODEs, _euler_rhs, _leading_rate, moment_odes
from theory.symbolic.small_time import small_time_expansion

__all__ = ["BoundaryCase", "BoundaryPrediction", "boundary_prediction", "li_concentration_region"]


@dataclass(frozen=True)
class BoundaryCase:
    """The leading behaviour at one breakpoint of the parameter (treated explicitly).

    ``value`` of the parameter; ``rms2_leading`` the leading term of m^2 + v (L = log(1/t));
    ``rate`` exponent and ``log_power`` of the RMS distance sqrt(m^2 + v) ~ t^rate L^log_power;
    ``lands`` whether the RMS distance -> 0.
    """

    value: sympy.Expr
    rms2_leading: sympy.Expr
    rate: sympy.Expr
    log_power: sympy.Expr
    lands: bool


@dataclass(frozen=True)
class BoundaryPrediction:
    """The sharp landing boundary of one error family under one process (CLAIMS.md C6).

    Attributes
    ----------
    family, process, parameter : the error family, the process, its parameter symbol (a or beta).
    odes : the :class:`MomentODEs` it was derived from.
    m_solution, v_solution : general solutions of the leading-order (Euler) equations by dsolve,
        with the homogeneous amplitudes named A (mean) and B (variance).
    m_leading, v_leading, rms2_leading : leading terms as t -> 0 (Piecewise in the parameter,
        L = log(1/t)) of m, v and m^2 + v; e.g. NORMAL_OFFSET: m ~ (g0 c/a) t^(1-a) for a > 0.
    rate : exponent of the RMS distance sqrt(m^2 + v) ~ delta^rate (Piecewise).
    log_power : power of log(1/delta) multiplying it (nonzero only at resonant boundary cases).
    landing_region : the set of parameters for which the RMS distance -> 0 (lands on M).
    l2_region : the set of parameters for which the error is L2 in time (:func:`l2_region`).
    boundary_cases : the explicit breakpoints (:class:`BoundaryCase`).
    lands, is_l2, rate_numpy, log_power_numpy : vectorized NumPy twins in the parameter.
    """

    family: ErrorFamily
    process: ForwardProcess
    parameter: sympy.Symbol
    odes: MomentODEs
    m_solution: sympy.Expr
    v_solution: sympy.Expr
    m_leading: sympy.Expr
    v_leading: sympy.Expr
    rms2_leading: sympy.Expr
    rate: sympy.Expr
    log_power: sympy.Expr
    landing_region: sympy.Set
    l2_region: sympy.Set
    boundary_cases: tuple[BoundaryCase, ...]
    lands: Callable[..., np.ndarray] = field(repr=False, compare=False)
    is_l2: Callable[..., np.ndarray] = field(repr=False, compare=False)
    rate_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)
    log_power_numpy: Callable[..., np.ndarray] = field(repr=False, compare=False)

    def formulas(self) -> list[tuple[str, str]]:
        """(name, LaTeX) pairs for the report, each one line that renders inside ``$...$`` on GitHub.

        In order: the landing region and the L2 region (as sets of the parameter), the RMS distance
        sqrt(m^2 + v) ~ delta^r log(1/delta)^q that defines r and q, the rate r and the log power q
        (piecewise in the parameter), and the leading terms of m and v as t -> 0, with L = log(1/t)
        written out and A, B the amplitudes fixed by the data at the start of the run. Every
        SymPy object is rendered by :func:`~theory.symbolic.inline_latex` (Piecewise as a one-line
        ``cases`` environment).
        """
        p = inline_latex(self.parameter)
        log_names = {SYMBOLS.L: r"\log(1/t)"}

        def amplitudes(expr: sympy.Expr) -> str:
            names = [str(x) for x in (SYMBOLS.A, SYMBOLS.B) if expr.has(x)]
            return f" ({', '.join(names)}: set by the data at the start)" if names else ""

        return [
            ("landing region (the RMS distance to M tends to 0)", rf"{p} \in {inline_latex(self.landing_region)}"),
            ("L2 region (the error satisfies the L2 condition)", rf"{p} \in {inline_latex(self.l2_region)}"),
            ("RMS distance to M at the stopping time delta",
             rf"\sqrt{{m(\delta)^{{2}} + v(\delta)}} \sim \delta^{{r({p})}} \log(1/\delta)^{{q({p})}}"),
            ("rate", rf"r({p}) = {inline_latex(self.rate)}"),
            ("log power", rf"q({p}) = {inline_latex(self.log_power)}"),
            ("mean m of a normal coordinate" + amplitudes(self.m_leading),
             rf"m(t) \sim {inline_latex(self.m_leading, symbol_names=log_names)}"),
            ("variance v of a normal coordinate" + amplitudes(self.v_leading),
             rf"v(t) \sim {inline_latex(self.v_leading, symbol_names=log_names)}"),
        ]


_G0 = sympy.Symbol("g0", positive=True)  # g2(0) kept symbolic while solving, substituted after


@functools.lru_cache(maxsize=None)
def _dsolve_linear(rhs: sympy.Expr, unknown: sympy.Symbol, amplitude: sympy.Symbol) -> sympy.Expr:
    """General solution of d unknown/dt = rhs (first-order linear) by dsolve, C1 renamed ``amplitude``.

    Cached: with g0 symbolic the Euler equations are the same for every process.
    """
    t = SYMBOLS.t
    fn = sympy.Function("y")
    ode = sympy.Eq(fn(t).diff(t), rhs.subs(unknown, fn(t)))
    sol = sympy.dsolve(ode, fn(t), hint="1st_linear").rhs
    return sol.subs(sympy.Symbol("C1"), amplitude)


@functools.lru_cache(maxsize=None)
def boundary_prediction(family: ErrorFamily, process: ForwardProcess = OU()) -> BoundaryPrediction:
    """Landing region, L2 region and rate of the RMS distance to M for an error family (CLAIMS.md C6).

    Derivation (formalized as; Pidstrigach 2022 for the L2 criterion it sharpens): solve the
    leading-order Euler equations of :func:`moment_odes` with ``sympy.dsolve`` for generic data at
    some t1 > 0 (homogeneous amplitudes A, B != 0), read off the leading term of m, v and of the
    mean-square distance m^2 + v as t = delta -> 0 on each piece of the parameter line, and set

        RMS distance ~ delta^rate log(1/delta)^log_power,   lands  <=>  rate > 0.

    Results (g0 = g2(0); OU: g0 = 2):

    - NORMAL_OFFSET, e = c t^(-a) n: m ~ (g0 c/a) t^(1-a) for a > 0 (m ~ g0 c t log(1/t) at a = 0,
      m ~ A t for a < 0; m -> g0 c != 0 at a = 1), v ~ g0 t; rate = min(1/2, 1 - a): lands iff
      a < 1, L2 iff a < 1/2, exact-score rate 1/2 for a <= 1/2.
    - SCALED_NORMAL, s_n = beta x the true normal part: m = A t^beta, v ~ g0 t/(2 beta - 1) for
      beta > 1/2, g0 t log(1/t) at beta = 1/2, B t^(2 beta) for beta < 1/2; rate = min(beta, 1/2)
      with log_power 1/2 at beta = 1/2; lands iff beta > 0 (at beta = 0, v -> v(0) > 0), L2 iff
      beta = 1.

    Consistent with Li, Shen, Hsieh, He 2025 (arXiv:2509.24912): a score error o(sigma^-2) keeps
    samples concentrated on M; with sigma^-2 ~ 1/(g0 t) this is a < 1 for the offset family.
    """
    odes = moment_odes(family, process)
    process = odes.process
    t, s, param = SYMBOLS.t, SYMBOLS, family.parameter
    g0 = small_time_expansion(process).g0
    # The Euler equations of odes.dm_dt_leading, odes.dv_dt_leading with g0 kept symbolic.
    dm_generic, dv_generic = _euler_rhs(family, _leading_rate(family, process), _G0)
    m_sol = _t_powers(_dsolve_linear(dm_generic, s.m, s.A).subs(_G0, g0), t)
    v_sol = _t_powers(_dsolve_linear(dv_generic, s.v, s.B).subs(_G0, g0), t)
    rms2 = sympy.expand(m_sol**2 + v_sol)
    seg_m = _segments(m_sol, t, param)
    seg_v = _segments(v_sol, t, param)
    seg_r = _segments(rms2, t, param)

    def lands_on(seg: _Segment) -> sympy.Set:
        # RMS ~ t^(p/2) L^(q/2): -> 0 iff p > 0 (a log factor cannot rescue p = 0).
        if seg.exponent.has(param):
            return sympy.solveset(seg.exponent > 0, param, seg.domain)
        return seg.domain if seg.exponent > 0 else sympy.S.EmptySet

    landing = sympy.Union(*(lands_on(seg) for seg in seg_r))
    if family is ErrorFamily.NORMAL_OFFSET:
        error_squared = offset_error_squared()
    else:
        error_squared = scaled_normal_error_squared(process, d=1, k=0)  # one normal direction
    l2 = l2_region(error_squared, process, param)
    rate_segments = [_Segment(seg.domain, seg.leading, seg.exponent / 2, seg.log_power / 2) for seg in seg_r]
    rate = _piecewise(rate_segments, "exponent", param)
    log_power = _piecewise(rate_segments, "log_power", param)
    cases = tuple(
        BoundaryCase(value=next(iter(seg.domain)), rms2_leading=seg.leading, rate=seg.exponent,
                     log_power=seg.log_power, lands=bool(seg.exponent > 0))
        for seg in rate_segments if isinstance(seg.domain, sympy.FiniteSet))
    return BoundaryPrediction(
        family=family, process=process, parameter=param, odes=odes, m_solution=m_sol, v_solution=v_sol,
        m_leading=_piecewise(seg_m, "leading", param), v_leading=_piecewise(seg_v, "leading", param),
        rms2_leading=_piecewise(seg_r, "leading", param), rate=rate, log_power=log_power,
        landing_region=landing, l2_region=l2, boundary_cases=cases,
        lands=numpy_twin(landing.as_relational(param), param),
        is_l2=numpy_twin(l2.as_relational(param), param),
        rate_numpy=numpy_twin(rate, param), log_power_numpy=numpy_twin(log_power, param))


def li_concentration_region(process: ForwardProcess = OU()) -> sympy.Set:
    """The set of offset exponents a with c t^(-a) = o(sigma(t)^-2) as t -> 0.

    Li, Shen, Hsieh, He 2025 (arXiv:2509.24912): a score error of size o(sigma^-2) keeps the
    samples concentrated on M. For the normal offset e = c t^(-a) n this is the condition that
    c t^(-a) sigma(t)^2, whose leading exponent is 1 - a (sigma^2 ~ g2(0) t), tends to 0: a < 1,
    the landing region of :func:`boundary_prediction` (NORMAL_OFFSET) -- the cross-check of CLAIMS.md C6.
    """
    ex = check_process(process).symbolic()
    _, exponent = _leading(SYMBOLS.c * ex.t ** (-SYMBOLS.a) * ex.sigma2, ex.t)
    return sympy.solveset(exponent > 0, SYMBOLS.a, sympy.S.Reals)
