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


@pytest.mark.parametrize("d, k", [(5, 2), (3, 0), (2.5, 0)])
def test_weighted_integral_for_ou_matches_its_antiderivative(d, k):
    """OU, c2 = 1: (g^2/2) E|score|^2 = (d - k)/(1 - e^(-2t)) + k, whose antiderivative is
    ((d - k)/2) log(e^(2t) - 1) + k t (by hand). quad's relative accuracy is 1e-12; the
    antiderivative evaluated with expm1 and log loses a few ulps: 1e-10 covers both."""
    res = score_explosion(OU())
    antiderivative = lambda t: (d - k) / 2 * math.log(math.expm1(2 * t)) + k * t
    for t0, t1 in [(1e-6, 1e-3), (1e-3, 0.5), (0.2, 3.0)]:
        expected = antiderivative(t1) - antiderivative(t0)
        assert res.weighted_integral(t0, t1, d=d, k=k) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("process", PROCESSES, ids=IDS)
def test_weighted_integral_grows_by_half_the_codimension_per_unit_log(process):
    """g^2/(2 sigma^2) ~ 1/(2t) for every process: a decade at t ~ 1e-9 adds (d - k) log(10)/2 up
    to a relative O(t g0) (g0 <= 2 here): 1e-6 covers it."""
    res = score_explosion(process)
    assert res.weighted_integral(1e-10, 1e-9, d=4, k=1, c2=0.5) == pytest.approx(3 * math.log(10) / 2, rel=1e-6)


def test_weighted_twin_is_half_g2_times_the_mean_square():
    res = score_explosion(OU())
    t = np.array([1e-6, 0.1, 2.0])
    # Tolerance: the two lambdified expressions differ by the factor g^2/2 = 1 (exact) and a few roundings of
    # condition <= 1: 1e-14 = 45 eps.
    assert np.allclose(res.weighted_numpy(t, 5, 2, 0.7), res.mean_square_numpy(t, 5, 2, 0.7), rtol=1e-14)  # g^2/2 = 1


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(t0=0.0, t1=1.0, d=3, k=1), "t0 must be a finite number > 0"),
    (dict(t0=1e-3, t1=1e-4, d=3, k=1), "t0 must be < t1"),
    (dict(t0=1e-3, t1=1.0, d=3, k=4), r"k must be a number in \[0, d\]"),
    (dict(t0=1e-3, t1=1.0, d=True, k=0), "d must be a finite number > 0"),
    (dict(t0=1e-3, t1=1.0, d=3, k=1, c2=-1.0), "c2 must be a finite number > 0"),
])
def test_weighted_integral_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        score_explosion(OU()).weighted_integral(**kwargs)
