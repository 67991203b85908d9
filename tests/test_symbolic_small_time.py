"""Tests of theory/symbolic/small_time.py: g0, f0, alpha0 and the Taylor polynomial of sigma(t)^2."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from symbolic_cases import EPS, G0, NAMED, IDS, is_zero, sample_times, t_sym
from theory.symbolic import numpy_twin, small_time_expansion


@pytest.mark.parametrize("process, name", NAMED, ids=IDS)
def test_small_time_expansion(process, name):
    ex = small_time_expansion(process)
    assert is_zero(ex.g0 - G0[name])
    assert ex.alpha0 == 1
    assert is_zero(ex.f0 - process.symbolic().f.subs(t_sym, 0))
    g0 = float(ex.g0)
    # sigma^2(t)/t -> g0 with a relative O(t) error; at t = 1e-10 that is below 1e-7 for all three.
    assert process.sigma2(1e-10) / 1e-10 == pytest.approx(g0, rel=1e-7)
    # f(0) is -1, -beta_min/2 or 0. NumPy computes -0.5 * (0.1 + 0 * 19.9) for VP: halving a double
    # is exact, so both sides are the correctly rounded -1/20 and agree exactly.
    assert float(ex.f0) == float(process.drift(0.0))
    # The twin of the leading term g0 t. OU: 2 t, exact on both sides. VP: (1/10) t on both sides.
    # VE: (1/5000) t log(5000), two roundings, one np.log (at most 1 ulp: NumPy's validation set
    # bounds float64 log at 1 ULP) and one more product, against float(g0) t (two roundings);
    # unit roundoff eps/2 per rounding and eps per ulp: 1.5 eps + eps + 1 eps < 4 eps.
    t = sample_times()
    np.testing.assert_allclose(ex.sigma2_leading_numpy(t), g0 * t, rtol=4 * EPS)
    # The Taylor polynomial to order t^2 against the NumPy sigma^2: the remainder is c3 t^3 + O(t^4),
    # a relative error c3 t^2 / g0 (VE: (rate t)^2/6, 5e-5 at t = 1e-3); allow twice that. Rounding:
    # the polynomial's twin is 2 log evaluations (1 ulp each) and 6 roundings (4 eps); NumPy's
    # sigma^2 is sigma_min^2 (2 roundings of an inexact 0.01), the rate (math.log, 1 ulp, and a
    # product), the product rate t, expm1 (1 ulp; its condition x expm1'(x)/expm1(x) is about 1
    # at small x) and a last product: about 5 eps. 16 eps covers both with margin.
    c3 = float(sympy.series(process.symbolic().sigma2, t_sym, 0, 4).removeO().coeff(t_sym, 3))
    small = t[t <= 1e-3]
    series = numpy_twin(ex.sigma2_series, t_sym)
    np.testing.assert_allclose(series(small), process.sigma2(small), rtol=2 * abs(c3) * 1e-6 / g0 + 16 * EPS)


def test_small_time_expansion_rejects_a_non_process():
    with pytest.raises(TypeError, match="process must be a ForwardProcess"):
        small_time_expansion("OU")
