"""Tests of the Gaussian on an affine subspace (theory/measures/subspace.py, CLAIMS.md §2)."""

from __future__ import annotations


import mpmath
import numpy as np
import pytest

from error_model import EPS
from theory import OU, Subspace


@pytest.mark.parametrize("call", [lambda: Subspace(2, 2, cov=[[1.0, 0.5], [0.0, 1.0]]),
                                  lambda: Subspace(1, 2, basis=[[np.nan], [1.0]])], ids=["asymmetric_cov", "nan_basis"])
def test_messages_name_what_arrived(call):
    with pytest.raises(ValueError, match=r", got "):
        call()


def test_full_dimensional_subspace_at_tiny_time():
    """k = d: the normal part is exactly 0. Formed as y - V V^T y it was rounding noise ~eps |y|, which
    the score divides by sigma^2: |score| ~ 1e10 at t = 2.4e-26 instead of |C^-1 y| ~ 1 (found by the
    extreme-input property test). Reference: the closed form N(0, alpha^2 C + sigma^2 I) at 40 digits;
    the score to a few roundings of a 2 x 2 solve (16 eps of |C^-1| |y|, cond(C) < 2 here)."""
    measure = Subspace(2, 2, cov=[[1.8556165, 0.35147817], [0.35147817, 1.1443835]])
    t = 2.38e-26
    x = np.array([[0.25146044, -0.26420973], [1.23830955, -0.10256556]])
    alpha, var = float(OU().alpha(t)), float(OU().sigma2(t))
    with mpmath.workdps(40):
        cov_t = mpmath.matrix(measure.cov.tolist()) * mpmath.mpf(alpha) ** 2 + mpmath.eye(2) * mpmath.mpf(var)
        expected = np.array([[-float(e) for e in mpmath.lu_solve(cov_t, mpmath.matrix(row.tolist()))] for row in x])
    np.testing.assert_allclose(measure.score(t, x), expected, rtol=0, atol=16 * EPS * np.abs(expected).max())


# -- bad input ------------------------------------------------------------------------------------
BAD_MEASURE_INPUT = [
    (lambda: Subspace(3, 2), ValueError, r"k must satisfy 1 <= k <= d, got k=3, d=2"),
    (lambda: Subspace(0, 2), ValueError, r"k must be >= 1, got 0"),
    (lambda: Subspace(1.5, 2), TypeError, r"k must be an integer, got float"),
    (lambda: Subspace(1, 0), ValueError, r"d must be >= 1, got 0"),
    (lambda: Subspace(1, 2, basis=[[1.0], [1.0]]), ValueError,
     r"basis must have orthonormal columns \(max \|F\^T F - I\| <= 1e-08\), got 1"),
    (lambda: Subspace(2, 3, basis=np.eye(3)[:, :1]), ValueError, r"basis must have shape \(3, 2\), got \(3, 1\)"),
    (lambda: Subspace(1, 2, cov=[[-1.0]]), ValueError, r"cov must be positive definite, got smallest eigenvalue -1"),
    (lambda: Subspace(2, 2, cov=[[1.0, 2.0], [2.0, 1.0]]), ValueError,
     r"cov must be positive definite, got smallest eigenvalue -1"),
    (lambda: Subspace(2, 2, cov=np.zeros((2, 2))), ValueError,
     r"cov must be positive definite, got smallest eigenvalue 0"),
    (lambda: Subspace(2, 2, cov=np.eye(3)), ValueError, r"cov must have shape \(2, 2\), got \(3, 3\)"),
    (lambda: Subspace(1, 2, mean=[0.0, np.nan]), ValueError, r"mean must be finite, got"),
    (lambda: Subspace(1, 2, mean=[0.0]), ValueError, r"mean must have shape \(2,\), got \(1,\)"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()
