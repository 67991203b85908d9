"""The vectorized reverse-SDE sampler (SPEC section 1).

Reverse SDE, u = T - t running forward: dY = [-f(t) Y + g(t)^2 s(t, Y)] du + g(t) dB, Y ~ pi at
t = T, integrated down to the early-stopping time t = delta on a decreasing grid
T = t_0 > t_1 > ... > t_N = delta. On the step from t1 = t_i to t0 = t_{i+1} the score is evaluated
once, at (t1, Y), and every scheme is an affine update

    Y <- c_y Y + c_s s(t1, Y) + c_z Z,   Z ~ N(0, I),

with per-step coefficients computed once before the loop (so the hot loop is three fused
array operations plus the score). With a = alpha(t0)/alpha(t1) ... in the notation of
:meth:`ForwardProcess.transition`, (a, v) = transition(t0, t1): X_{t1} = a X_{t0} + N(0, v I).

``Scheme.EULER_MARUYAMA``: c_y = 1 - h f(t1), c_s = h g(t1)^2, c_z = sqrt(h g(t1)^2), h = t1 - t0.
    Weak order 1, strong order 1 (additive noise), for coefficients smooth on the step.

``Scheme.EXPONENTIAL``: integrates the linear drift -f Y exactly with s frozen:
    c_y = 1/a, c_s = int_{t0}^{t1} alpha(t0)/alpha(r) g(r)^2 dr, c_z = sqrt(v)/a.
    Weak order 1, strong order 1; exact for f alone (s = 0).

``Scheme.POSTERIOR``: writes s = (alpha D - y)/sigma^2 (Tweedie) and integrates the semilinear
    drift -f Y - g^2 Y/sigma^2 exactly with the denoiser D frozen at its value at (t1, Y): the
    step samples the Gaussian bridge law(X_{t0} | X_{t1} = Y, X_0 = D). Algebra reduces it to
    c_y = 1/a, c_s = v/a, c_z = sigma(t0) sqrt(v)/sigma(t1).
    (This is the ancestral DDPM step with x0-prediction.) Exact, for any step size, when mu is a
    point mass (D constant); weak/strong order 1 otherwise. It has no step-size restriction from
    the 1/sigma^2 explosion of the score near M, which is why it is the default.
    Caveat for frequency studies: while the posterior is spread over several atoms, replacing the
    law of X_0 | Y by its mean under-disperses every step, which biases how often each atom of a
    PointCloud is hit at first order in the step. Measured from a point-mass prior (cloud, T = 1,
    n = 1e5), the chi-square noncentrality this adds at n = 2000 is 16 at 20 steps per decade and
    0.9 at 100 (EXPONENTIAL: 4.9 and 0.2). For hit frequencies use EXPONENTIAL with >= 100 steps
    per decade, as checks C1 and C3 do.

Time grids (:class:`Grid`): ``UNIFORM`` in t; ``GEOMETRIC``, t_i = T (delta/T)^(i/N), which puts
a fixed fraction of the steps in every decade down to delta, matching a drift that explodes like
1/t; ``POWER`` (EDM-like, Karras et al. 2022), t_i = (T^(1/rho) + i/N (delta^(1/rho) - T^(1/rho)))^rho.
The default is ``GEOMETRIC``; the accuracy-per-cost table in ``benchmarks/`` is what chose it.

Memory and determinism: the Gaussian increments of a step are drawn for all n particles at once
from ``rng``, so they do not depend on ``chunk_size``; the score is evaluated on consecutive row
chunks of at most ``chunk_size`` rows, which bounds the memory a score may allocate (n x N for a
PointCloud). A score whose rows do not depend on the chunking gives bit-identical results for any
chunk size; BLAS matrix products (PointCloud) may round differently for different row counts
(observed: a few ulps in OpenBLAS 0.3.30 and 0.3.31, even for blocks of one fixed row count
padded with zeros), so there the results agree to rounding, not bit for bit.
The same seed and chunk size always give bit-identical results.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from theory import _validate
from theory.observers import Observer
from theory.priors import Gaussian, Prior
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process

Score = Callable[[float, np.ndarray], np.ndarray]


class Scheme(enum.Enum):
    """One-step integrators of the reverse SDE (see the module docstring for formulas and orders)."""

    EULER_MARUYAMA = "euler_maruyama"
    EXPONENTIAL = "exponential"
    POSTERIOR = "posterior"


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

    samples : (n, d), the particles at forward time delta (no final denoising step, SPEC section 4).
    times : (steps + 1,), the grid, decreasing from T to delta.
    records : the observers' results, by the names given in ``record``.
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


def step_coefficients(times: np.ndarray, scheme: Scheme, process: ForwardProcess) -> tuple[np.ndarray, ...]:
    """(c_y, c_s, c_z), each of shape (steps,), for the affine update of every step (module docstring)."""
    t1, t0 = times[:-1], times[1:]
    if scheme is Scheme.EULER_MARUYAMA:
        h = t1 - t0
        g2 = process.g2(t1)
        return 1.0 - h * process.drift(t1), h * g2, np.sqrt(h * g2)
    a, v = process.transition(t0, t1)
    if scheme is Scheme.EXPONENTIAL:
        return 1.0 / a, process.drift_integral(t0, t1), np.sqrt(v) / a
    return 1.0 / a, v / a, np.sqrt(process.sigma2(t0) * v / process.sigma2(t1))


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
    score: Score,
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
) -> SDEResult:
    """Integrate the reverse SDE with score ``score`` from pi at t = T down to t = delta.

    score : callable (t: float, x: ndarray (m, d)) -> ndarray (m, d); any score, exact or not.
    d, n : ambient dimension and number of particles. T > delta > 0, steps >= 1.
    rng : numpy Generator (the only source of randomness). prior : a :class:`theory.priors.Prior`,
    default N(0, (alpha(T)^2 + sigma(T)^2) I) (= N(0, I) for OU and VP). record : {name: Observer}.
    chunk_size : at most this many rows per score call (None: all n). dtype : float64 or float32,
    the particles' storage type.

    Returns :class:`SDEResult` with ``samples`` of shape (n, d) at forward time delta.
    Raises NonFiniteError (with step and t) if the score or the particles become NaN/inf.
    """
    if not callable(score):
        raise TypeError(f"score must be callable (t, x) -> array of x's shape, got {type(score).__name__}")
    d = _validate.integer(d, "d", minimum=1)
    n = _validate.integer(n, "n", minimum=1)
    rng = _validate.generator(rng)
    process = check_process(process)
    scheme = _enum(scheme, Scheme, "scheme")
    times = time_grid(T, delta, steps, grid)
    grid = _enum(grid, Grid, "grid")
    chunk = n if chunk_size is None else _validate.integer(chunk_size, "chunk_size", minimum=1)
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

    def noise(i: int, out: np.ndarray) -> None:
        rng.standard_normal(out=out, dtype=dtype)

    _integrate(score, y, times, (c_y, c_s, c_z), noise, chunk, recorders.values())
    return SDEResult(samples=y, times=times, records={k: r.result() for k, r in recorders.items()},
                     scheme=scheme, grid=grid, process=process)


def _integrate(score: Score, y: np.ndarray, times: np.ndarray, coefficients: tuple[np.ndarray, ...],
               noise: Callable[[int, np.ndarray], None], chunk: int, recorders) -> None:
    """The hot loop, in place on y: y <- c_y y + c_s s(t_i, y) + c_z z_i for i = 0 .. steps - 1.

    ``noise(i, out)`` fills ``out`` with the standard normals of step i (the tests inject a
    shared Brownian path here to measure strong order).
    """
    c_y, c_s, c_z = coefficients
    s = np.empty_like(y)
    z = np.empty_like(y)
    for i in range(len(times) - 1):
        t = float(times[i])
        _evaluate(score, t, y, chunk, out=s, step=i)
        for rec in recorders:
            rec.update(i, t, y, s)
        noise(i, z)
        with np.errstate(over="ignore", invalid="ignore"):
            y *= c_y[i]
            s *= c_s[i]
            y += s
            z *= c_z[i]
            y += z
        if not np.isfinite(y).all():
            raise NonFiniteError(
                f"particles became NaN/inf at step {i} (t = {times[i + 1]:.6g}); the score may be too large "
                f"for this grid: use more steps or scheme='posterior'", step=i, t=float(times[i + 1]))
    for rec in recorders:
        rec.update(len(times) - 1, float(times[-1]), y, None)


def _evaluate(score: Score, t: float, y: np.ndarray, chunk: int, *, out: np.ndarray, step: int) -> None:
    """out[rows] = score(t, y[rows]) over row chunks, with shape and finiteness checks."""
    n = y.shape[0]
    for start in range(0, n, chunk):
        block = y[start:start + chunk]
        value = score(t, block)
        if not isinstance(value, np.ndarray) or value.shape != block.shape:
            shape = getattr(value, "shape", type(value).__name__)
            raise ValueError(f"score must return an array of shape {block.shape} (the shape of x), got {shape} "
                             f"at step {step} (t = {t:.6g})")
        out[start:start + chunk] = value
    if not np.isfinite(out).all():
        raise NonFiniteError(f"score returned NaN/inf at step {step} (t = {t:.6g})", step=step, t=t)
