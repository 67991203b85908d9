"""Tests of theory/symbolic/explosion.py: E|grad log p_t|^2 for a Gaussian on a subspace (CLAIMS.md C5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from symbolic_cases import G0, IDS, NAMED, PROCESSES, assert_github_inline_math, is_zero, sample_times
from theory.processes import OU
from theory.symbolic import SYMBOLS, score_explosion


@pytest.mark.parametrize("process, name", NAMED, ids=IDS)
def test_score_explosion_closed_form_limit_and_log_coefficient(process, name):
    d, k, c2 = SYMBOLS.d, SYMBOLS.k, SYMBOLS.c2
    ex = process.symbolic()
    res = score_explosion(process)
    assert is_zero(res.scaled - ex.sigma2 * res.mean_square)
    assert is_zero(res.limit - (d - k))
    assert is_zero(res.log_coefficient - (d - k) / G0[name])
    if name == "OU":
        assert is_zero(res.log_coefficient - (d - k) / 2)
        assert is_zero(res.scaled.subs(c2, 1) - ((d - k) + k * ex.sigma2))


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_score_explosion_twin_against_linear_algebra(process):
    """E|grad log p_t|^2 = tr(S^-1) for p_t = N(0, S), S = alpha^2 c2 U U^T + sigma^2 I, by NumPy."""
    rng = np.random.default_rng(20240601)  # fixed seed: a deterministic random frame
    d, k, c2 = 5, 2, 0.7
    u, _ = np.linalg.qr(rng.standard_normal((d, k)))
    res = score_explosion(process)
    # t >= 1e-3 only: S has condition number ~ c2/sigma^2, and the reference inv(S) loses about
    # eps * cond relative digits (5e-8 at t = 1e-9), more than the twin (which uses expm1).
    for t in sample_times()[2:]:
        cov = process.alpha(t) ** 2 * c2 * u @ u.T + process.sigma2(t) * np.eye(d)
        expected = np.trace(np.linalg.inv(cov))
        assert res.mean_square_numpy(t, d, k, c2) == pytest.approx(expected, rel=1e-9)
        assert res.scaled_numpy(t, d, k, c2) == pytest.approx(process.sigma2(t) * expected, rel=1e-9)
    # sigma^2 E|score|^2 -> d - k: at t = 1e-9 the remainder k sigma^2/(alpha^2 c2 + sigma^2) is O(t).
    assert res.scaled_numpy(1e-9, d, k, c2) == pytest.approx(d - k, abs=1e-6)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_score_explosion_integral_grows_like_log(process):
    """int_delta^T E|score|^2 dt = coefficient log(1/delta) + O(1): the increment over two decades."""
    d, k, c2 = 4, 1, 1.0
    res = score_explosion(process)
    f = lambda s: float(res.mean_square_numpy(math.exp(s), d, k, c2)) * math.exp(s)  # dt = t ds
    # int_{1e-9}^{1e-7}: the O(1) part changes by O(1e-7) over this range, far below the rtol.
    inc = quad(f, math.log(1e-9), math.log(1e-7), epsabs=0, epsrel=1e-12)[0]
    assert inc / math.log(100.0) == pytest.approx(float(res.log_coefficient.subs({SYMBOLS.d: d, SYMBOLS.k: k})),
                                                  rel=1e-5)


def test_formulas_for_ou_match_the_hand_written_latex():
    """OU: sigma^2 = 1 - e^(-2t), alpha^2 = e^(-2t), g0 = 2 (CLAIMS.md C5)."""
    score2 = r"\mathbb{E} \vert \nabla \log p_t(X_t) \vert^{2}"
    assert score_explosion(OU()).formulas() == [
        ("mean square of the exact score (mu = N(0, c2 I) on a k-dim subspace)",
         score2 + r" = \frac{k}{c_{2} e^{- 2 t} + 1 - e^{- 2 t}} + \frac{d - k}{1 - e^{- 2 t}}"),
        ("scaled by sigma(t)^2",
         r"\sigma(t)^{2} " + score2
         + r" = d + \frac{k \left(1 - e^{- 2 t}\right)}{c_{2} e^{- 2 t} + 1 - e^{- 2 t}} - k"),
        ("limit as t -> 0", r"\lim_{t \to 0} \sigma(t)^{2} " + score2 + " = d - k"),
        ("growth of the time integral",
         r"\int_{\delta}^{T} " + score2 + r" \thinspace dt = \frac{d - k}{2} \log(1/\delta) + O(1)"),
    ]


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_formulas_render_on_github(process):
    formulas = score_explosion(process).formulas()
    assert len(formulas) == 4
    for _, latex in formulas:
        assert_github_inline_math(latex)


def test_score_explosion_rejects_a_non_process():
    with pytest.raises(TypeError, match="process must be a ForwardProcess"):
        score_explosion("OU")
