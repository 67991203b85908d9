"""Foundation performance (issue 2): exact scores against the cost of their unavoidable kernels."""

from __future__ import annotations

import numpy as np
import pytest

from checks import perf


@pytest.mark.parametrize("t", perf.POINTCLOUD_SCORE_TIMES)
def test_pointcloud_score_vs_one_matmul(benchmark, report_ratio, t):
    """2000 queries against the 1797 digits in d = 64: PointCloud.score <= 3 x one x @ points.T.

    The kernel's path depends on t (theory/measures/pointcloud.py): at 1e-3 and 5e-3 the sparse one
    (0.06% and 0.3% of the weights within e^-57.5 of their row's largest), at 0.05 and 1 the fast one
    (at 0.05, 42% of the weights are below e^-50 of the largest, at 1 none)."""
    pytest.importorskip("sklearn")
    from theory.datasets import digits

    cloud = digits()
    measured = perf.pointcloud_score_ratio(cloud, t=t)
    report_ratio(f"PointCloud.score / (x @ points.T), t = {t:g}", measured, perf.POINTCLOUD_SCORE_BOUND,
                 "2000 x 1797, d = 64")
    benchmark(cloud.score, t, cloud.points)
    assert measured <= perf.POINTCLOUD_SCORE_BOUND


def test_sphere_score_vs_elementwise_pass(benchmark, report_ratio):
    """10^5 points near the unit 2-sphere in R^5: Sphere.score <= 20 x one elementwise pass."""
    from theory.measures.sphere import Sphere

    sphere = Sphere(k=2, d=5)
    measured = perf.sphere_score_ratio(sphere)
    report_ratio("Sphere.score / (x * 2.0)", measured, perf.SPHERE_SCORE_BOUND, "10^5 points, d = 5")
    x = sphere.sample(100_000, np.random.default_rng(0))
    benchmark(sphere.score, 1e-3, x)
    assert measured <= perf.SPHERE_SCORE_BOUND
