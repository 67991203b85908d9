"""Statistics recorded along the reverse SDE without storing every path (issue: simulator).

An observer is a frozen spec; :meth:`Observer.recorder` makes a fresh accumulator for one run, so
the same spec can be reused across runs and seeds. The simulator calls
``recorder.update(i, t, y, s)`` at grid time t_i (forward time, decreasing) with the particles
``y`` (n, d) and the score ``s`` it just evaluated there (``None`` at the final time delta, where
no score is evaluated), then ``recorder.result()`` once at the end.

``every=m`` observes steps 0, m, 2m, ... and always the final time.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from theory import _validate
from theory.measures.base import Measure, check_measure
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process


@dataclass(frozen=True)
class Series:
    """A recorded time series: ``t`` (forward times, decreasing) and named value arrays."""

    t: np.ndarray
    values: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]


class Recorder(abc.ABC):
    """The mutable accumulator of one run."""

    @abc.abstractmethod
    def update(self, i: int, t: float, y: np.ndarray, s: np.ndarray | None) -> None:
        """Observe grid step i at forward time t."""

    @abc.abstractmethod
    def result(self) -> object:
        """The recorded data, once the run has ended."""


class Observer(abc.ABC):
    """A frozen spec of what to record."""

    every: int

    @abc.abstractmethod
    def recorder(self, times: np.ndarray, n: int, d: int) -> Recorder:
        """A fresh recorder for a run on the grid ``times`` (length steps + 1) with n particles in R^d."""

    def _observed(self, i: int, steps: int) -> bool:
        return i % self.every == 0 or i == steps


def _check_every(every: object) -> int:
    return _validate.integer(every, "every", minimum=1)


class _SeriesRecorder(Recorder):
    """Collects rows of named statistics at the observed steps."""

    def __init__(self, observer: Observer, steps: int, stats: Callable[[float, np.ndarray, np.ndarray | None], dict],
                 needs_score: bool) -> None:
        self._observer, self._steps, self._stats = observer, steps, stats
        self._needs_score = needs_score
        self._t: list[float] = []
        self._rows: list[dict] = []

    def update(self, i, t, y, s):
        if not self._observer._observed(i, self._steps) or (self._needs_score and s is None):
            return
        self._t.append(t)
        self._rows.append(self._stats(t, y, s))

    def result(self) -> Series:
        keys = self._rows[0].keys() if self._rows else ()
        return Series(np.array(self._t), {k: np.array([row[k] for row in self._rows]) for k in keys})


@dataclass(frozen=True)
class Distance(Observer):
    """Distance of the particles to the support M of ``measure`` (CLAIMS.md §4).

    Records ``rms`` = sqrt(mean dist^2), ``median`` and ``mean`` at each observed time.
    """

    measure: Measure
    every: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        check_measure(self.measure)
        object.__setattr__(self, "every", _check_every(self.every))

    def recorder(self, times, n, d):
        def stats(t, y, s):
            dist = self.measure._distance(np.asarray(y, dtype=np.float64))
            return {"rms": float(np.sqrt(np.mean(dist**2))), "median": float(np.median(dist)),
                    "mean": float(np.mean(dist))}

        return _SeriesRecorder(self, len(times) - 1, stats, needs_score=False)


@dataclass(frozen=True)
class ScoreNorm(Observer):
    """Mean squared norm of the score the sampler used, E|s(t, Y_t)|^2, at each observed time (C5)."""

    every: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", _check_every(self.every))

    def recorder(self, times, n, d):
        def stats(t, y, s):
            return {"mean_sq": float(np.mean(np.einsum("ij,ij->i", s, s)))}

        return _SeriesRecorder(self, len(times) - 1, stats, needs_score=True)


@dataclass(frozen=True)
class Trajectory(Observer):
    """Thinned paths of the first ``paths`` particles, for plots: ``y`` of shape (m, paths, d)."""

    paths: int = 16
    every: int = field(default=10, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", _validate.integer(self.paths, "paths", minimum=1))
        object.__setattr__(self, "every", _check_every(self.every))

    def recorder(self, times, n, d):
        def stats(t, y, s):
            return {"y": np.array(y[: self.paths], dtype=np.float64)}

        return _SeriesRecorder(self, len(times) - 1, stats, needs_score=False)


@dataclass(frozen=True)
class ErrorIntegral(Observer):
    """Running path integral of (g(t)^2 / 2) |s(t, Y_t) - s_ref(t, Y_t)|^2 dt along each particle.

    The left-point (Ito) rule on the sampler's grid, evaluated where the sampler evaluated its
    score. With s_ref the exact score this is the Girsanov integrand of CLAIMS.md C2 evaluated along the
    reverse paths. Result: :class:`Series` with ``mean`` and ``sem`` of the running integral at
    every grid time after the first, plus ``per_particle`` (n,) at the end in ``final``.
    """

    reference: Callable[[float, np.ndarray], np.ndarray]
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)
    every: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        if not callable(self.reference):
            raise TypeError(f"reference must be a callable score (t, x) -> (n, d), got {type(self.reference).__name__}")
        check_process(self.process)
        object.__setattr__(self, "every", _check_every(self.every))

    def recorder(self, times, n, d):
        return _ErrorIntegralRecorder(self, np.asarray(times), n)


class _ErrorIntegralRecorder(Recorder):
    def __init__(self, spec: ErrorIntegral, times: np.ndarray, n: int) -> None:
        self._spec, self._times = spec, times
        self._running = np.zeros(n)
        self._t: list[float] = []
        self._mean: list[float] = []
        self._sem: list[float] = []

    def update(self, i, t, y, s):
        if s is not None:
            h = self._times[i] - self._times[i + 1]
            err = s - self._spec.reference(t, np.asarray(y, dtype=np.float64))
            self._running += (0.5 * float(self._spec.process.g2(t)) * h) * np.einsum("ij,ij->i", err, err)
            if not (i + 1) % self._spec.every == 0 and i + 1 != len(self._times) - 1:
                return
            self._t.append(float(self._times[i + 1]))
            self._mean.append(float(self._running.mean()))
            self._sem.append(float(self._running.std(ddof=1) / np.sqrt(self._running.size)) if self._running.size > 1
                             else float("inf"))  # one particle: uncertainty unknown

    def result(self) -> Series:
        return Series(np.array(self._t), {"mean": np.array(self._mean), "sem": np.array(self._sem),
                                          "final": self._running.copy()})
