"""Performance measurements of the exact scores and the simulator, as ratios measured in one run.

Used by ``benchmarks/`` (pytest-benchmark, with asserted bounds) and by ``python -m checks
--benchmarks`` (a report section). Absolute times on a shared 2-core machine are noise, so every
number here is a ratio of two timings taken interleaved in the same process (:func:`ratio`).

Reference workloads (issue: simulator):
W1 Sphere(k=2, d=5), n = 10^5, 500 steps; W2 PointCloud of the 1797 digits in d = 64, n = 2000,
200 steps; W3 PointCloud of 1000 points in d = 3072, n = 256, 100 steps. Per-step costs are timed
on a few steps of the full-width workload (the cost per step does not depend on the step count).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory import OU, PointCloud
from theory.measures.base import Measure
from theory.perturbations import ExactScore
from theory.schemes import EulerMaruyama, Exponential, Posterior, Scheme
from theory.simulator import Grid, reverse_sde, time_grid

# Bounds of the issues (foundation, simulator).
POINTCLOUD_SCORE_BOUND = 3.0  # PointCloud.score <= 3 x one x @ points.T
# Times at which it is measured: the digits' kernel takes its sparse path at the first two and its
# fast path at the last two (see pointcloud_score_ratio).
POINTCLOUD_SCORE_TIMES = (1e-3, 5e-3, 0.05, 1.0)
SPHERE_SCORE_BOUND = 20.0  # Sphere.score <= 20 x one elementwise pass over x
STEP_BOUND = 2.0  # W2, W3: per-step cost <= 2 x the step's matrix products alone
LOOP_SPEEDUP_MIN = 50.0  # vectorized >= 50 x faster than a per-particle Python loop
W3_MEMORY_BOUND = 2**30  # bytes: W3 with chunk_size = 64 below 1 GiB
ACCURACY_TARGET = 0.02  # |RMS distance / (sigma(delta) sqrt(d - k)) - 1| within 2 %
ACCURACY_MAX_STEPS = 4096  # the doubling search of the accuracy table stops here
# The schemes of the accuracy table: those with a discretization error to trade against cost (the
# ancestral scheme has none in law).
ACCURACY_SCHEMES = (EulerMaruyama(), Exponential(), Posterior())


def ratio(workload: Callable[[], object], reference: Callable[[], object], *, repeats: int = 7) -> float:
    """min time of ``workload`` / min time of ``reference``, the two interleaved ``repeats`` times.

    Interleaving exposes both to the same background load; the minimum is the least-disturbed run.
    """
    workload()
    reference()
    best_w = best_r = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        workload()
        best_w = min(best_w, time.perf_counter() - start)
        start = time.perf_counter()
        reference()
        best_r = min(best_r, time.perf_counter() - start)
    return best_w / best_r


@dataclass(frozen=True)
class Workload:
    """A named simulator workload: measure, particles, steps, horizon."""

    name: str
    measure: Measure
    n: int
    steps: int
    T: float = 5.0
    delta: float = 1e-3


def workloads() -> dict[str, Workload]:
    """W1-W3 (W2 needs scikit-learn for the digits)."""
    from theory.datasets import digits
    from theory.measures.sphere import Sphere

    rng = np.random.default_rng(0)
    w3_points = rng.standard_normal((1000, 3072)) / np.sqrt(3072)
    return {"W1": Workload("W1", Sphere(k=2, d=5), 100_000, 500),
            "W2": Workload("W2", digits(), 2000, 200),
            "W3": Workload("W3", PointCloud(w3_points), 256, 100)}


def pointcloud_score_ratio(cloud: PointCloud, n: int = 2000, t: float = 0.05) -> float:
    """PointCloud.score(t, x) for n queries / one float64 x @ points.T of the same shapes.

    The queries are data points plus N(0, 0.2^2) noise. For the digits, t <= 5e-3 exercises the
    kernel's sparse path (almost every weight negligible: the last steps of a reverse SDE) and
    t >= 0.01 its fast path.
    """
    rng = np.random.default_rng(0)
    x = cloud.points[rng.integers(0, cloud.size, n)] + 0.2 * rng.standard_normal((n, cloud.d))
    return ratio(lambda: cloud.score(t, x), lambda: x @ cloud.points.T, repeats=15)


def sphere_score_ratio(sphere: Measure, n: int = 100_000) -> float:
    """Sphere.score(1e-3, x) for n points near M / one elementwise pass (x * 2.0)."""
    rng = np.random.default_rng(0)
    x = sphere.sample(n, rng) + 0.05 * rng.standard_normal((n, sphere.d))
    return ratio(lambda: sphere.score(1e-3, x), lambda: x * 2.0, repeats=15)


def _run(w: Workload, steps: int, **kwargs):
    return reverse_sde(ExactScore(w.measure), d=w.measure.d, n=w.n, T=w.T, delta=w.delta, steps=steps,
                       rng=np.random.default_rng(1), **kwargs)


def _products(w: Workload) -> Callable[[], object]:
    """The step's two matrix products alone, laid out as the PointCloud kernel does them: the logits
    x @ P.T, then the weighted sum P.T @ W.T (the faster layout for N >> d)."""
    points = w.measure.points
    points_t = np.ascontiguousarray(points.T)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((w.n, w.measure.d))
    weights = rng.random((w.n, points.shape[0]))

    def products():
        x @ points.T
        points_t @ weights.T

    return products


def step_ratio(w: Workload, steps: int = 5) -> float:
    """Per-step simulator cost / the step's two matrix products alone (:func:`_products`)."""
    products = _products(w)

    def all_products():
        for _ in range(steps):
            products()

    return ratio(lambda: _run(w, steps), all_products, repeats=5)


def _loop_time(w: Workload, particles: int, steps: int) -> float:
    """Seconds per particle-step of a straightforward per-particle Python loop over the first steps."""
    score = ExactScore(w.measure)
    times = time_grid(w.T, w.delta, w.steps)
    c_y, c_s, c_z = Posterior().coefficients(times, OU())
    rng = np.random.default_rng(3)
    y = rng.standard_normal((particles, w.measure.d))
    start = time.perf_counter()
    for i in range(steps):
        for j in range(particles):
            s = score(float(times[i]), y[j:j + 1])[0]
            y[j] = c_y[i] * y[j] + c_s[i] * s + c_z[i] * rng.standard_normal(w.measure.d)
    return (time.perf_counter() - start) / (particles * steps)


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    """The least-disturbed of ``repeats`` runs, as in :func:`ratio`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def loop_speedup(w: Workload, *, particles: int = 40, steps: int = 3) -> float:
    """(per particle-step time of a per-particle Python loop) / (same for the vectorized simulator)."""
    vector_steps = 3
    vector_time = _best_time(lambda: _run(w, vector_steps), 3) / (w.n * vector_steps)
    return _loop_time(w, particles, steps) / vector_time


def loop_speedup_ceiling(w: Workload, *, particles: int = 40, steps: int = 3) -> float:
    """Largest loop speedup any vectorized step that still does the two matrix products can reach.

    (per particle-step time of the per-particle loop, as in :func:`loop_speedup`) / (per
    particle-step time of the step's two products alone, :func:`_products`). The per-particle loop
    already calls a vectorized O(N d) kernel for each particle, so batching can only win the ratio
    of matrix-vector to matrix-matrix throughput plus the loop's Python overhead.
    """
    return _loop_time(w, particles, steps) / (_best_time(_products(w), 5) / w.n)


def w3_peak_memory(w: Workload, chunk_size: int = 64) -> int:
    """Peak traced bytes (tracemalloc) of W3 for a few steps with ``chunk_size``."""
    tracemalloc.start()
    try:
        _run(w, 3, chunk_size=chunk_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rms_ratio(w: Workload, steps: int, scheme: Scheme | str, grid: Grid, *, n: int = 20_000, seed: int = 0) -> float:
    """RMS distance to M / (sigma(delta) sqrt(d - k)) at delta for the exact score (1 in the limit)."""
    res = reverse_sde(ExactScore(w.measure), d=w.measure.d, n=n, T=w.T, delta=w.delta, steps=steps,
                      scheme=scheme, grid=grid, rng=np.random.default_rng(seed))
    rms = np.sqrt(np.mean(w.measure.distance(res.samples) ** 2))
    return float(rms / np.sqrt(float(OU().sigma2(w.delta)) * (w.measure.d - w.measure.k)))


def accuracy_table(w: Workload, *, max_steps: int = ACCURACY_MAX_STEPS, n: int = 20_000) -> dict[tuple[str, str], int | None]:
    """Fewest steps (doubling from 4) reaching ACCURACY_TARGET on W1 at delta, per (scheme name, grid
    value), for the ACCURACY_SCHEMES.

    None means not reached by ``max_steps``. n = 20000: the ratio's Monte-Carlo s.e. is 0.3 %, so
    the 2 % target is 7 s.e. away from a false pass.
    """
    table = {}
    for scheme in ACCURACY_SCHEMES:
        for grid in Grid:
            steps, found = 4, None
            while steps <= max_steps:
                if abs(rms_ratio(w, steps, scheme, grid, n=n) - 1) < ACCURACY_TARGET:
                    found = steps
                    break
                steps *= 2
            table[(scheme.name, grid.value)] = found
    return table


def simulator_ratios(*, include_accuracy: bool = False) -> list[tuple[str, float, float]]:
    """(name, measured, bound) rows for the report's benchmark section; speedups as inverse ratios."""
    w = workloads()
    rows = [(f"PointCloud.score / x @ points.T (2000 x 1797, d = 64, t = {t:g})",
             pointcloud_score_ratio(w["W2"].measure, t=t), POINTCLOUD_SCORE_BOUND) for t in POINTCLOUD_SCORE_TIMES]
    rows += [("Sphere.score / elementwise pass (10^5, d = 5)", sphere_score_ratio(w["W1"].measure),
              SPHERE_SCORE_BOUND),
             ("W2 step / its matrix products", step_ratio(w["W2"]), STEP_BOUND),
             ("W3 step / its matrix products", step_ratio(w["W3"]), STEP_BOUND)]
    for name in ("W1", "W2", "W3"):
        rows.append((f"{name} vectorized / per-particle loop (per particle-step)", 1.0 / loop_speedup(w[name]),
                     1.0 / LOOP_SPEEDUP_MIN))
        if name != "W1":
            rows.append((f"{name} its two products alone / per-particle loop (the ceiling)",
                         1.0 / loop_speedup_ceiling(w[name]), 1.0 / LOOP_SPEEDUP_MIN))
    rows.append(("W3 peak memory, chunk_size = 64 (GiB)", w3_peak_memory(w["W3"]) / 2**30, W3_MEMORY_BOUND / 2**30))
    if include_accuracy:
        table = accuracy_table(w["W1"])
        default = table[(Posterior.name, Grid.GEOMETRIC.value)]
        baseline = table[(EulerMaruyama.name, Grid.UNIFORM.value)]
        for (scheme, grid), steps in table.items():
            rows.append((f"W1 steps to 2 %: {scheme}, {grid}", float(steps) if steps else float("inf"), float("inf")))
        if default and baseline:
            rows.append(("W1 steps: default / Euler-Maruyama uniform", default / baseline, 0.25))
        elif default:  # EM-uniform did not reach 2 % within max_steps: its count exceeds it
            rows.append(("W1 steps: default / Euler-Maruyama uniform (upper bound)", default / ACCURACY_MAX_STEPS,
                         0.25))
    return rows


def benchmark_page(rows, run_info) -> str:
    """BENCHMARKS.md: the performance rows of this run (name, measured, bound), with provenance."""
    lines = ["# Simulator benchmarks", "", "Ratios of two timings taken interleaved in one run on this machine "
             "(absolute times on a shared machine are noise). Written by `python -m checks --benchmarks`.", "",
             "| workload | measured | bound | within bound |", "|---|---|---|---|"]
    lines += [f"| {name} | {measured:.3g} | {bound:.3g} | {'yes' if measured <= bound else '**no**'} |"
              for name, measured, bound in rows]
    lines += ["", "## Provenance", ""] + [f"- {k}: {v}" for k, v in run_info.items()] + [""]
    return "\n".join(lines)
