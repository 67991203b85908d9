"""Tests of mixtures of measures (theory/measures/mixture.py, CLAIMS.md §2)."""

from __future__ import annotations


import numpy as np
import pytest

from error_model import EPS
from theory import OU, Mixture, PointCloud, Subspace


def test_mixture_score_far_from_the_data_where_log_p_overflows():
    """A line N(0, 1) on the first axis and a point (0, 3), at t = 1 (OU: alpha^2 + sigma^2 = 1):
    at x = (1e160, 1e150) both components' log-densities are below -1.8e308, yet the line dominates
    by ~1e320 nats and the score is the line's, (-x_1 / (alpha^2 + sigma^2), -x_2 / sigma^2), finite.
    log_density raises a ValueError naming the overflow."""
    mixture = Mixture((Subspace(1, 2), PointCloud([[0.0, 3.0]])))
    t = 1.0
    var = float(OU().sigma2(t))
    x = np.array([[1e160, 1e150], [-1e200, 3e199]])
    expected = np.column_stack([-x[:, 0] / (float(OU().alpha(t)) ** 2 + var), -x[:, 1] / var])
    np.testing.assert_allclose(mixture.score(t, x), expected, rtol=8 * EPS)
    np.testing.assert_allclose(mixture.denoise(t, x), np.column_stack([float(OU().alpha(t)) * x[:, 0], 0 * x[:, 0]]),
                               rtol=8 * EPS)
    with pytest.raises(ValueError, match=r"log p_t\(x\) overflows float64 at t=1.0 for OU\(\)"):
        mixture.log_density(t, x)


# -- bad input ------------------------------------------------------------------------------------
CLOUD = PointCloud(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
LINE = Subspace(1, 2)


BAD_MEASURE_INPUT = [
    (lambda: Mixture((CLOUD, Subspace(1, 3))), ValueError,
     r"components must share the ambient dimension d, got d = \[2, 3\]"),
    (lambda: Mixture(()), ValueError, r"components must be a non-empty sequence of Measure, got \(\)"),
    (lambda: Mixture((CLOUD, "line")), TypeError, r"components\[1\] must be a Measure, got str"),
    (lambda: Mixture((CLOUD, LINE), weights=[1.0]), ValueError, r"weights must have shape \(2,\), got \(1,\)"),
    (lambda: Mixture((CLOUD, LINE), weights=[1.0, -0.5]), ValueError, r"weights must be finite and >= 0, got"),
    (lambda: Mixture((CLOUD, LINE), weights=[0.0, 0.0]), ValueError,
     r"weights must have a positive sum, got all zeros"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()
