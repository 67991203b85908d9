"""Tests of theory/symbolic/moments.py: the moment ODEs of a normal coordinate (CLAIMS.md C6).

The twins are checked against the same equations typed with the processes' NumPy methods, and the
exact-score case against the forward variance sigma(t)^2 by finite differences and by solve_ivp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from scipy.integrate import solve_ivp

from symbolic_cases import IDS, PROCESSES, is_zero, sample_times, t_sym
from theory.processes import OU
from theory.symbolic import SYMBOLS, ErrorFamily, exact_score_variance_residual, moment_odes, numpy_twin, \
    small_time_expansion


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_exact_score_variance_solves_v_equation(process):
    assert exact_score_variance_residual(process) == 0
    # Numerically: the twin of dv/dt at v = sigma^2, beta = 1 equals d sigma^2/dt by central
    # differences of the NumPy sigma^2 (step h = 1e-5 t: truncation O(h^2) ~ 1e-10 relative).
    odes = moment_odes(ErrorFamily.SCALED_NORMAL, process)
    t = sample_times()
    h = 1e-5 * t
    fd = (process.sigma2(t + h) - process.sigma2(t - h)) / (2 * h)
    np.testing.assert_allclose(odes.dv_dt_numpy(t, process.sigma2(t), 1.0), fd, rtol=1e-8)
    # And by integration: from v(t1) = sigma^2(t1) down to t = 1e-8, v stays sigma^2.
    t1 = 0.5
    sol = solve_ivp(lambda s, y: [math.exp(s) * float(odes.dv_dt_numpy(math.exp(s), math.exp(y[0]), 1.0))
                                  / math.exp(y[0])],
                    (math.log(t1), math.log(1e-8)), [math.log(process.sigma2(t1))], method="LSODA",
                    rtol=1e-11, atol=1e-12, t_eval=[math.log(1e-4), math.log(1e-8)])
    assert sol.success
    np.testing.assert_allclose(np.exp(sol.y[0]), process.sigma2(np.array([1e-4, 1e-8])), rtol=1e-8)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
@pytest.mark.parametrize("family", list(ErrorFamily))
def test_moment_odes_match_the_stated_equations(process, family):
    s, ex = SYMBOLS, process.symbolic()
    odes = moment_odes(family, process)
    beta = 1 if family is ErrorFamily.NORMAL_OFFSET else s.beta
    c = s.c if family is ErrorFamily.NORMAL_OFFSET else 0
    stated_m = ex.f * s.m + beta * ex.g2 * s.m / ex.sigma2 - ex.g2 * c * t_sym ** (-s.a)
    stated_v = 2 * ex.f * s.v + 2 * beta * ex.g2 * s.v / ex.sigma2 - ex.g2
    assert is_zero(odes.dm_dt - stated_m)
    assert is_zero(odes.dv_dt - stated_v)
    g0 = small_time_expansion(process).g0
    assert is_zero(odes.dm_dt_leading - (beta * s.m / t_sym - g0 * c * t_sym ** (-s.a)))
    assert is_zero(odes.dv_dt_leading - (2 * beta * s.v / t_sym - g0))
    # The exact homogeneous solution h = sigma^(2 beta) alpha^(1 - 2 beta): h'/h = f + beta g^2/sigma^2.
    h = odes.homogeneous
    log_h = sympy.expand_log(sympy.log(h), force=True)
    assert is_zero(sympy.diff(log_h, t_sym) - (ex.f + beta * ex.g2 / ex.sigma2))
    t = sample_times()
    h_num = numpy_twin(h.subs(s.beta, 0.7), t_sym)
    hh = 1e-6 * t
    dlog_h = (np.log(h_num(t + hh)) - np.log(h_num(t - hh))) / (2 * hh)
    b_h = 1.0 if family is ErrorFamily.NORMAL_OFFSET else 0.7
    np.testing.assert_allclose(dlog_h, process.drift(t) + b_h * process.g2(t) / process.sigma2(t), rtol=1e-6)
    # Twins against the same equations typed with the NumPy process methods.
    x, m, v, cv = 0.7, 0.3, 0.02, 1.3
    f, g2, s2 = process.drift(t), process.g2(t), process.sigma2(t)
    bb = 1.0 if family is ErrorFamily.NORMAL_OFFSET else x
    cc = cv if family is ErrorFamily.NORMAL_OFFSET else 0.0
    aa = x if family is ErrorFamily.NORMAL_OFFSET else 0.0
    np.testing.assert_allclose(odes.dm_dt_numpy(t, m, x, cv), f * m + bb * g2 * m / s2 - g2 * cc * t ** (-aa),
                               rtol=1e-10)
    np.testing.assert_allclose(odes.dv_dt_numpy(t, v, x), 2 * f * v + 2 * bb * g2 * v / s2 - g2, rtol=1e-10)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: moment_odes("normal_offset", OU()), TypeError, "family must be an ErrorFamily"),
        (lambda: moment_odes(ErrorFamily.NORMAL_OFFSET, "OU"), TypeError, "process must be a ForwardProcess"),
        (lambda: exact_score_variance_residual("OU"), TypeError, "process must be a ForwardProcess"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
