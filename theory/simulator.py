"""The vectorized reverse-SDE sampler (CLAIMS.md §1).

Reverse SDE, u = T - t running forward: dY = [-f(t) Y + g(t)^2 s(t, Y)] du + g(t) dB, Y ~ pi at
t = T, integrated down to the early-stopping time t = delta on a decreasing grid
T = t_0 > t_1 > ... > t_N = delta. On the step from t1 = t_i to t0 = t_{i+1} the scheme's drift
input s is evaluated once, at (t1, Y), and every scheme is an affine update

    Y <- c_y Y + c_s s + c_z Z,   Z ~ N(0, I),

with per-step coefficients computed once before the loop by :func:`step_coefficients`, so the hot
loop is three fused array operations plus one call. The schemes, their coefficients, orders and
what each is exact for are in :mod:`theory.schemes` (``EulerMaruyama``, ``Exponential``,
``Posterior``, the default, and ``Ancestral``, exact in law on any grid); ``reverse_sde`` takes an
instance, an alias (``Scheme.POSTERIOR``) or a name (``"posterior"``). A grid on which a coefficient
would overflow float64 is refused with ValueError before anything is integrated.

Time grids (:class:`Grid`): ``UNIFORM`` in t; ``GEOMETRIC``, t_i = T (delta/T)^(i/N), which puts
a fixed fraction of the steps in every decade down to delta, matching a drift that explodes like
1/t; ``POWER`` (EDM-like, Karras et al. 2022), t_i = (T^(1/rho) + i/N (delta^(1/rho) - T^(1/rho)))^rho.
The default is ``GEOMETRIC``; the accuracy-per-cost table in ``benchmarks/`` is what chose it.

Randomness, memory and determinism: ``rng`` is the only source of randomness of a run. Each step
first evaluates the drift input on consecutive row chunks of at most ``chunk_size`` rows (which
bounds the memory a score may allocate: n x N for a PointCloud), then draws the Gaussian
increments for all n particles at once. The ancestral scheme's posterior draws take one stream
per row in row order from ``rng`` inside the drift input, and the increments come after all of
them, so neither depends on ``chunk_size``. A score whose rows do not depend on the chunking gives
bit-identical results for any chunk size; BLAS matrix products (PointCloud) may round differently
for different row counts (observed: a few ulps in OpenBLAS 0.3.30 and 0.3.31, even for blocks of
one fixed row count padded with zeros), so there the results agree to rounding, not bit for bit.
The same seed and chunk size always give bit-identical results.

Bands (``bands`` > 1): the particles never interact, so a run may split them into ``bands`` row
bands of near-equal size, each advanced with its own random stream and, where the machine has the
cores, on its own thread. The prior is drawn from ``rng`` as for one band; then one draw of 4 words
from ``rng`` seeds a SeedSequence whose ``spawn(bands)`` children drive the bands (their increments
and, for ``Ancestral``, their posterior draws). The samples therefore depend on the seed and on
``bands``, never on how many threads ran them: a run with ``bands = 2`` gives the same bits on one
core as on 64. They differ from the one-band run of the same seed (other random numbers, same law).
While a banded run is in progress the process's BLAS libraries are held to one thread each
(threadpoolctl), so that the bands' matrix products do not compete for one BLAS thread pool; the
score is called concurrently on disjoint row bands and must be thread-safe (every score in
:mod:`theory` is).

Observers (:mod:`theory.observers`) see the drift input as the score: for ``Ancestral`` that is
the one-draw score (alpha X_0 - y)/sigma^2, whose mean over the draw is the exact score.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from theory import _validate
from theory.observers import Observer
from theory.priors import Gaussian, Prior
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process
from theory.schemes import (SCHEMES, Ancestral, EulerMaruyama, Exactness, Exponential, Posterior, Scheme,
                            StepCoefficients, resolve)
from theory.types import ScoreFn

__all__ = ["Grid", "NonFiniteError", "SDEResult", "reverse_sde", "step_coefficients", "steps_for", "time_grid",
           # re-exported from theory.schemes
           "SCHEMES", "Ancestral", "EulerMaruyama", "Exactness", "Exponential", "Posterior", "Scheme",
           "StepCoefficients"]


class Grid(enum.Enum):
    """Time grids from T down to delta (see the module docstring)."""

    UNIFORM = "uniform"
    GEOMETRIC = "geometric"
    POWER = "power"


# Exponent of the POWER grid. EDM uses rho = 7 in sigma; since sigma^2 ~ t near 0 this is about
# rho = 7 in t as well for the spacing of the last steps, and it is the value we tested.
POWER_RHO = 7.0


class NonFiniteError(FloatingPointError):
    """NaN or inf appeared during integration; ``step`` and ``t`` say where."""

    def __init__(self, message: str, *, step: int, t: float) -> None:
        super().__init__(message)
        self.step = step
        self.t = t


@dataclass(frozen=True)
class SDEResult:
    """Output of :func:`reverse_sde`.

    samples : (n, d), the particles at forward time delta (no final denoising step, CLAIMS.md §4).
    times : (steps + 1,), the grid, decreasing from T to delta.
    records : the observers' results, by the names given in ``record``.
    scheme : the :class:`theory.schemes.Scheme` instance used.
    """

    samples: np.ndarray
    times: np.ndarray
    records: Mapping[str, object]
    scheme: Scheme
    grid: Grid
    process: ForwardProcess


def _enum(value: object, kind: type[enum.Enum], name: str) -> enum.Enum:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"{name} must be a {kind.__name__} or one of {choices}, got {value!r}") from None


def time_grid(T: float, delta: float, steps: int, grid: Grid | str = Grid.GEOMETRIC) -> np.ndarray:
    """The decreasing grid T = t_0 > ... > t_steps = delta (shape (steps + 1,)) of :class:`Grid`."""
    T = _validate.positive_time(T, "T")
    delta = _validate.positive_time(delta, "delta")
    if not T > delta:
        raise ValueError(f"T must be > delta, got T={T!r}, delta={delta!r}")
    steps = _validate.integer(steps, "steps", minimum=1)
    grid = _enum(grid, Grid, "grid")
    frac = np.arange(steps + 1) / steps
    if grid is Grid.UNIFORM:
        times = T + frac * (delta - T)
    elif grid is Grid.GEOMETRIC:
        times = T * (delta / T) ** frac
    else:
        times = (T ** (1 / POWER_RHO) + frac * (delta ** (1 / POWER_RHO) - T ** (1 / POWER_RHO))) ** POWER_RHO
    times[0], times[-1] = T, delta
    return times


def steps_for(T: float, delta: float, steps_per_decade: int) -> int:
    """Steps of a geometric grid from T down to delta at ``steps_per_decade`` steps per decade:
    ceil(steps_per_decade log10(T / delta)), at least 1."""
    T = _validate.positive_time(T, "T")
    delta = _validate.positive_time(delta, "delta")
    if not T > delta:
        raise ValueError(f"T must be > delta, got T={T!r}, delta={delta!r}")
    steps_per_decade = _validate.integer(steps_per_decade, "steps_per_decade", minimum=1)
    return max(1, int(np.ceil(steps_per_decade * np.log10(T / delta))))


def step_coefficients(times: np.ndarray, scheme: Scheme | str, process: ForwardProcess) -> StepCoefficients:
    """(c_y, c_s, c_z), each of shape (steps,), of the affine update on every step of ``times``.

    times : (steps + 1,), decreasing; scheme : a :class:`theory.schemes.Scheme`, alias or name.
    The scheme's own :meth:`Scheme.coefficients` (formulas in :mod:`theory.schemes`); ``reverse_sde``
    obtains its coefficients through this function, so replacing it here changes every run.
    Raises ValueError, naming the step, where a coefficient would overflow float64.
    """
    return resolve(scheme).coefficients(times, process)


def _increments(rng: np.random.Generator, shape: tuple[int, ...],
                dtype: np.dtype) -> Callable[[int, np.ndarray], None]:
    """The Gaussian increments of a run, as ``noise(i, out)``: fills ``out`` (``shape``, ``dtype``)
    with standard normals drawn from ``rng`` in float64 and rounded to ``dtype``, so that float32 and
    float64 runs of one seed consume the same random numbers."""
    if np.dtype(dtype) == np.float64:
        def noise(i: int, out: np.ndarray) -> None:
            rng.standard_normal(out=out)
    else:
        draws = np.empty(shape)

        def noise(i: int, out: np.ndarray) -> None:
            rng.standard_normal(out=draws)
            out[...] = draws
    return noise


def _initial(prior: object, n: int, d: int, T: float, process: ForwardProcess, rng: np.random.Generator) -> np.ndarray:
    if prior is None:
        prior = Gaussian.reference(d, T, process=process)
    if not isinstance(prior, Prior):
        raise TypeError(
            f"prior must be a theory.priors.Prior (wrap a callable (n, rng) -> (n, d) in priors.Sampler), "
            f"got {type(prior).__name__}"
        )
    if prior.d != d:
        raise ValueError(f"prior must live in R^{d}, got a prior on R^{prior.d}")
    return prior.sample(n, rng)


def reverse_sde(
    score: ScoreFn,
    *,
    d: int,
    n: int,
    T: float,
    delta: float,
    steps: int,
    rng: np.random.Generator,
    process: ForwardProcess = DEFAULT_PROCESS,
    prior: Prior | None = None,
    scheme: Scheme | str = Scheme.POSTERIOR,
    grid: Grid | str = Grid.GEOMETRIC,
    record: Mapping[str, Observer] | None = None,
    chunk_size: int | None = None,
    dtype: type = np.float64,
    bands: int = 1,
) -> SDEResult:
    """Integrate the reverse SDE with score ``score`` from pi at t = T down to t = delta.

    score : callable (t: float, x: ndarray (m, d)) -> ndarray (m, d) (:data:`theory.types.ScoreFn`);
    any score, exact or not (``Ancestral`` needs a :class:`theory.perturbations.ExactScore`).
    d, n : ambient dimension and number of particles. T > delta > 0, steps >= 1.
    rng : numpy Generator (the only source of randomness). prior : a :class:`theory.priors.Prior`,
    default N(0, (alpha(T)^2 + sigma(T)^2) I) (= N(0, I) for OU and VP). scheme : a
    :class:`theory.schemes.Scheme` instance, alias or name. record : {name: Observer}.
    chunk_size : at most this many rows per score call (None: all n). dtype : float64 or float32,
    the particles' storage type; the score is called on rows of that dtype (a PointCloud's score then
    runs its kernel in float32). The prior draws and the Gaussian increments are drawn in float64 and
    rounded, so a float32 run consumes the same random numbers as the float64 run of the same seed and
    follows its path up to rounding. bands : 1 <= bands <= n, the number of row bands, each with its
    own random stream, advanced concurrently (see the module docstring): the result depends on
    ``bands`` but not on the machine's cores; ``score`` must then be thread-safe.

    Returns :class:`SDEResult` with ``samples`` of shape (n, d) at forward time delta.
    Raises ValueError for a grid whose coefficients overflow (naming the step) and NonFiniteError
    (with step and t) if the score or the particles become NaN/inf.
    """
    d = _validate.integer(d, "d", minimum=1)
    n = _validate.integer(n, "n", minimum=1)
    rng = _validate.generator(rng)
    process = check_process(process)
    scheme = resolve(scheme)
    scheme.check_score(score, process)
    times = time_grid(T, delta, steps, grid)
    grid = _enum(grid, Grid, "grid")
    chunk = n if chunk_size is None else _validate.integer(chunk_size, "chunk_size", minimum=1)
    bands = _validate.integer(bands, "bands", minimum=1)
    if bands > n:
        raise ValueError(f"bands must be at most n = {n} (each band holds at least one particle), got {bands}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    record = {} if record is None else dict(record)
    for name, observer in record.items():
        if not isinstance(observer, Observer):
            raise TypeError(f"record[{name!r}] must be a theory.observers.Observer, got {type(observer).__name__}")

    c_y, c_s, c_z = step_coefficients(times, scheme, process)
    y = _initial(prior, n, d, times[0], process, rng).astype(dtype)
    recorders = {name: obs.recorder(times, n, d) for name, obs in record.items()}

    if bands == 1:
        _integrate(scheme, score, y, times, (c_y, c_s, c_z), _increments(rng, y.shape, dtype), rng, chunk,
                   recorders.values())
    else:
        _integrate_bands(scheme, score, y, times, (c_y, c_s, c_z), _band_streams(rng, bands), dtype, chunk,
                         list(recorders.values()))
    return SDEResult(samples=y, times=times, records={k: r.result() for k, r in recorders.items()},
                     scheme=scheme, grid=grid, process=process)


def _integrate(scheme: Scheme, score: ScoreFn, y: np.ndarray, times: np.ndarray,
               coefficients: tuple[np.ndarray, ...], noise: Callable[[int, np.ndarray], None],
               rng: np.random.Generator, chunk: int, recorders) -> None:
    """The hot loop, in place on y: y <- c_y y + c_s s_i + c_z z_i for i = 0 .. steps - 1, with s_i the
    scheme's drift input at (t_i, y).

    ``noise(i, out)`` fills ``out`` with the standard normals of step i (the tests inject a
    shared Brownian path here to measure strong order); ``rng`` feeds the drift input's draws.
    """
    c_y, c_s, c_z = coefficients
    s = np.empty_like(y)
    z = np.empty_like(y)
    for i in range(len(times) - 1):
        t = float(times[i])
        _evaluate(scheme, score, t, y, chunk, rng, out=s, step=i)
        for rec in recorders:
            rec.update(i, t, y, s)
        noise(i, z)
        if not _advance(y, s, z, c_y[i], c_s[i], c_z[i]):
            raise _diverged(times, i)
    for rec in recorders:
        rec.update(len(times) - 1, float(times[-1]), y, None)


def _advance(y: np.ndarray, s: np.ndarray, z: np.ndarray, c_y: float, c_s: float, c_z: float) -> bool:
    """The affine update y <- c_y y + c_s s + c_z z in place (s and z are overwritten); whether every
    entry of y is finite afterwards."""
    with np.errstate(over="ignore", invalid="ignore"):
        y *= c_y
        s *= c_s
        y += s
        z *= c_z
        y += z
    return bool(np.isfinite(y).all())


def _diverged(times: np.ndarray, i: int) -> NonFiniteError:
    return NonFiniteError(f"particles became NaN/inf at step {i} (t = {times[i + 1]:.6g}); the score may be too "
                          f"large for this grid: use more steps or scheme='posterior'", step=i, t=float(times[i + 1]))


def _band_streams(rng: np.random.Generator, bands: int) -> list[np.random.Generator]:
    """``bands`` independent generators of rng's bit-generator type, children of one SeedSequence
    seeded by 4 words drawn from ``rng`` (so they follow rng's state, whatever made rng)."""
    words = rng.integers(0, 2**32, size=4, dtype=np.uint64)
    kind = type(rng.bit_generator)
    return [np.random.Generator(kind(child)) for child in np.random.SeedSequence(words).spawn(bands)]


def _available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _integrate_bands(scheme: Scheme, score: ScoreFn, y: np.ndarray, times: np.ndarray,
                     coefficients: tuple[np.ndarray, ...], rngs: list[np.random.Generator], dtype: np.dtype,
                     chunk: int, recorders) -> None:
    """:func:`_integrate` on the row bands of y, one per generator of ``rngs``, in lock step: every
    band evaluates its drift input at step i (on a thread pool of at most one thread per core), the
    recorders see the whole (y, s), then every band draws its increments and updates its rows.
    Band b holds rows edges[b] .. edges[b + 1] - 1 of near-equal counts."""
    c_y, c_s, c_z = coefficients
    n = y.shape[0]
    edges = [n * b // len(rngs) for b in range(len(rngs) + 1)]
    rows = [slice(edges[b], edges[b + 1]) for b in range(len(rngs))]
    noises = [_increments(rng, y[band].shape, dtype) for rng, band in zip(rngs, rows)]
    s = np.empty_like(y)
    z = np.empty_like(y)

    def evaluate(b: int, i: int, t: float) -> None:
        _evaluate(scheme, score, t, y[rows[b]], chunk, rngs[b], out=s[rows[b]], step=i)

    def update(b: int, i: int) -> bool:
        """Advance band b over step i; whether its rows are all finite."""
        noises[b](i, z[rows[b]])
        return _advance(y[rows[b]], s[rows[b]], z[rows[b]], c_y[i], c_s[i], c_z[i])

    def step(b: int, i: int, t: float) -> bool:
        evaluate(b, i, t)
        return update(b, i)

    band_ids = range(len(rngs))
    with threadpool_limits(limits=1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=min(len(rngs), _available_cores())) as pool:
        for i in range(len(times) - 1):
            t = float(times[i])
            if recorders:
                list(pool.map(evaluate, band_ids, [i] * len(rngs), [t] * len(rngs)))
                for rec in recorders:
                    rec.update(i, t, y, s)
                finite = list(pool.map(update, band_ids, [i] * len(rngs)))
            else:
                finite = list(pool.map(step, band_ids, [i] * len(rngs), [t] * len(rngs)))
            if not all(finite):
                raise _diverged(times, i)
    for rec in recorders:
        rec.update(len(times) - 1, float(times[-1]), y, None)


def _evaluate(scheme: Scheme, score: ScoreFn, t: float, y: np.ndarray, chunk: int, rng: np.random.Generator, *,
              out: np.ndarray, step: int) -> None:
    """out[rows] = scheme.drift_input(score, t, y[rows], rng) over consecutive row chunks, with shape and
    finiteness checks."""
    n = y.shape[0]
    for start in range(0, n, chunk):
        block = y[start:start + chunk]
        value = scheme.drift_input(score, t, block, rng)
        if not isinstance(value, np.ndarray) or value.shape != block.shape:
            shape = getattr(value, "shape", type(value).__name__)
            raise ValueError(f"score must return an array of shape {block.shape} (the shape of x), got {shape} "
                             f"at step {step} (t = {t:.6g})")
        out[start:start + chunk] = value
    if not np.isfinite(out).all():
        raise NonFiniteError(f"score returned NaN/inf at step {step} (t = {t:.6g})", step=step, t=t)
