"""What a score's sampler lands on, measured by sampling (CLAIMS.md C3, C7, C8; CLAIMS.md §4).

For each early-stopping time delta, :func:`theory.reverse_sde` (default scheme and grid, default
prior) runs the reverse SDE with the score from T down to delta, and the samples are measured as
they are (no final denoising step, which would project onto the data's convex hull and fake
memorization):

- the distance to the nearest training point: its RMS and its median against delta, each with the
  log-log slope and bootstrap band of :func:`theory.statistics.loglog_slope`. Slope ~ 1/2 (band above
  FLAT_SLOPE): the samples land on the training points, at the rate sigma(delta) of the exact
  empirical score (CLAIMS.md C3). Slope ~ 0 at a positive level: they do not (CLAIMS.md C7);
- the copy fraction of Gu et al. 2023 (arXiv:2310.02664, their memorization ratio): the fraction
  of samples whose nearest training point is closer than COPY_RATIO times the second nearest;
- with a population measure, the RMS distance to its support M and its slope (landing on M).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from theory.measures.base import Measure
from theory.measures.pointcloud import PointCloud
from theory.processes import ForwardProcess
from theory.simulator import reverse_sde
from theory.statistics import SlopeFit, Statistic, loglog_slope

ScoreFn = Callable[[float, np.ndarray], np.ndarray]

# Gu et al. 2023 (arXiv:2310.02664): a generated sample is a copy when its nearest training point
# is closer than 1/3 of the distance to the second nearest.
COPY_RATIO = 1.0 / 3.0
# Sampler steps per decade of [delta, T] (geometric grid, POSTERIOR scheme). The exact empirical
# score lands at slope 0.5 within the band with 20 (the POSTERIOR step is exact for a point mass
# and first order in the step otherwise; check C7 uses 20 for its plateau studies).
STEPS_PER_DECADE = 20


@dataclass(frozen=True)
class SamplingMeasurement:
    """The samples' distances against delta (module docstring).

    deltas : (m,) decreasing. nearest_rms, nearest_median : slope fits of the RMS and the median of
    the nearest-training-point distance. copy_fraction : (m,) Gu et al.'s copy fraction at each
    delta. manifold : slope fit of the RMS distance to the population's M, or None.
    n : samples per delta. steps_per_decade, T : the sampler's grid.
    """

    deltas: np.ndarray
    nearest_rms: SlopeFit
    nearest_median: SlopeFit
    copy_fraction: np.ndarray
    manifold: SlopeFit | None
    n: int
    steps_per_decade: int
    T: float


def copy_fraction(samples: np.ndarray, train: np.ndarray) -> float:
    """Fraction of rows of ``samples`` (n, d) whose nearest point of ``train`` (N, d), N >= 2 distinct
    points, is closer than COPY_RATIO times the second nearest (Gu et al. 2023)."""
    points = np.unique(train, axis=0)
    sq = (np.einsum("ij,ij->i", samples, samples)[:, None] - 2.0 * samples @ points.T
          + np.einsum("ij,ij->i", points, points)[None, :])
    two = np.sqrt(np.maximum(np.partition(sq, 1, axis=1)[:, :2], 0.0))
    return float(np.mean(two[:, 0] < COPY_RATIO * two[:, 1]))


def measure_sampling(score: ScoreFn, train: np.ndarray, *, deltas: Sequence[float], n: int, T: float,
                     rng: np.random.Generator, process: ForwardProcess, population: Measure | None = None,
                     steps_per_decade: int = STEPS_PER_DECADE, alpha: float = 0.01) -> SamplingMeasurement:
    """Sample with ``score`` at each delta (independent streams from ``rng.spawn``) and fit the slopes.

    score : (t, x (n, d)) -> (n, d). train : (N, d). deltas : >= 3 distinct values in (0, T).
    n : samples per delta. alpha : level of the bootstrap bands (1 - alpha).
    """
    deltas = np.sort(np.asarray(deltas, dtype=np.float64))[::-1]
    cloud = PointCloud(train)
    streams = rng.spawn(deltas.size + 1)
    nearest, on_m, copies = [], [], []
    for delta, stream in zip(deltas, streams[:-1]):
        steps = max(1, int(np.ceil(steps_per_decade * np.log10(T / delta))))
        res = reverse_sde(score, d=train.shape[1], n=n, T=T, delta=float(delta), steps=steps, rng=stream,
                          process=process)
        nearest.append(cloud.nearest(res.samples)[1])
        copies.append(copy_fraction(res.samples, train))
        if population is not None:
            on_m.append(population.distance(res.samples))
    fit_rng = streams[-1]
    rms = loglog_slope(deltas, nearest, rng=fit_rng, statistic=Statistic.RMS, alpha=alpha)
    median = loglog_slope(deltas, nearest, rng=fit_rng, statistic=Statistic.MEDIAN, alpha=alpha)
    manifold = loglog_slope(deltas, on_m, rng=fit_rng, statistic=Statistic.RMS, alpha=alpha) if on_m else None
    return SamplingMeasurement(deltas=deltas, nearest_rms=rms, nearest_median=median,
                               copy_fraction=np.array(copies), manifold=manifold, n=n,
                               steps_per_decade=steps_per_decade, T=T)
