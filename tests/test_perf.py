"""The benchmark helpers behind ``benchmarks/`` and ``python -m checks --benchmarks`` run end to end.

Timings are noise in CI, so these tests check only that every helper runs on a small workload and
returns a finite positive number; the bounds themselves are asserted in ``benchmarks/``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from checks import perf
from theory import PointCloud, Sphere
from theory.simulator import Grid, Scheme


@pytest.fixture(scope="module")
def small_cloud_workload():
    points = np.random.default_rng(0).standard_normal((50, 8))
    return perf.Workload("small", PointCloud(points), n=64, steps=10)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_cloud_helpers_return_positive_ratios(small_cloud_workload):
    w = small_cloud_workload
    assert _positive(perf.pointcloud_score_ratio(w.measure, n=64))
    assert _positive(perf.pointcloud_score_ratio(w.measure, n=64, t=1e-3))
    assert _positive(perf.step_ratio(w, steps=2))
    assert _positive(perf.loop_speedup(w, particles=3, steps=1))
    assert _positive(perf.loop_speedup_ceiling(w, particles=3, steps=1))
    assert 0 < perf.w3_peak_memory(w, chunk_size=16) < 2**30


def test_sphere_helpers_return_positive_ratios():
    sphere = Sphere(k=2, d=5)
    assert _positive(perf.sphere_score_ratio(sphere, n=1000))
    w = perf.Workload("small sphere", sphere, n=200, steps=10)
    assert _positive(perf.loop_speedup(w, particles=3, steps=1))
    assert _positive(perf.rms_ratio(w, 8, Scheme.POSTERIOR, Grid.GEOMETRIC, n=200))
