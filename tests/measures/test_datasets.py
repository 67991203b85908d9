"""Tests of the real-data point sets (theory/datasets.py)."""

from __future__ import annotations


import numpy as np
import pytest

from theory import PointCloud


# -- digits ---------------------------------------------------------------------------------------
def test_digits_loader():
    """digits(): the 1797 x 64 scikit-learn digits as a uniform PointCloud scaled into [0, 1]."""
    pytest.importorskip("sklearn")
    from theory import digits

    cloud = digits()
    assert isinstance(cloud, PointCloud)
    assert cloud.points.shape == (1797, 64) and (cloud.k, cloud.d, cloud.size) == (0, 64, 1797)
    assert cloud.points.min() == 0.0 and cloud.points.max() == 1.0
    np.testing.assert_array_equal(cloud.weights, np.full(1797, 1 / 1797))
    assert len(np.unique(cloud.points, axis=0)) == 1797


# -- bad input ------------------------------------------------------------------------------------
BAD_MEASURE_INPUT = [
    (lambda: __import__("theory").digits(scale=0.0), ValueError, r"scale must be a finite number > 0, got 0\.0"),
]


@pytest.mark.parametrize(("call", "exception", "match"), BAD_MEASURE_INPUT)
def test_bad_measure_input_is_rejected(call, exception, match):
    """Each bad input raises the stated exception; the message names what was expected and what arrived."""
    with pytest.raises(exception, match=match):
        call()
