"""The law of a one-dimensional reverse SDE by its Fokker-Planck equation (CLAIMS.md §1, C4).

The reverse SDE dY = b(t, Y) du + g(t) dB, u = T - t, has a density p that solves

    dp/du = -d/dy (b p) + (g(t)^2 / 2) d^2 p / dy^2 .

This module solves it on a bounded interval by finite volumes: cells [e_i, e_(i+1)] holding cell
averages, Scharfetter-Gummel fluxes between neighbouring cells (exponentially fitted: the flux of
a constant drift and its exponential stationary profile are exact; Scharfetter and Gummel 1969),
zero flux at both ends (mass is conserved exactly), and the TR-BDF2 time integrator (trapezoid then
BDF2 within each step, second order and L-stable; Bank et al. 1985) on a uniform grid in
log(1/t), where coefficients that scale like 1/t change at a constant rate.

It gives a prediction of the sampler's law that shares no code with the particle simulator: a
deterministic discretization of the density, not of the paths. :func:`clipped_point_law` builds the
case of claim C4: mu the point mass at 0 in R (k = 0, d = 1), the exact score -y/sigma(t)^2
clipped to |s| <= C, with alpha, sigma^2, f and g^2 from the process's symbolic twin
(:meth:`ForwardProcess.symbolic`, lambdified), not from its NumPy kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

from theory import _validate
from theory.processes import ForwardProcess, check_process

__all__ = ["ReverseLaw", "bernoulli", "clipped_point_law", "reverse_law", "symmetric_edges"]


def bernoulli(z: np.ndarray) -> np.ndarray:
    """B(z) = z / (e^z - 1) (B(0) = 1), elementwise: the weight of the Scharfetter-Gummel flux.

    For |z| < 1e-6 the series 1 - z/2 + z^2/12 (error below 1e-25); else z / expm1(z), which keeps
    full relative precision (expm1) and tends to 0 (z -> inf) or -z (z -> -inf) without overflow
    warnings for |z| <= 700.
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    small = np.abs(z) < 1e-6
    out[small] = 1.0 - z[small] / 2.0 + z[small] ** 2 / 12.0
    big = ~small
    zb = np.clip(z[big], -700.0, 700.0)
    out[big] = zb / np.expm1(zb)
    return out


def symmetric_edges(half_width: float, cells: int, *, h0: float) -> np.ndarray:
    """Cell edges of [-half_width, half_width], symmetric about 0 with 0 an edge, shape (cells + 1,).

    ``cells`` is even; the cells next to 0 have width h0 and widths grow geometrically outwards at
    the rate that fills the half-width exactly with cells/2 cells per side (uniform if h0 =
    2 half_width / cells).
    """
    half_width = _validate.positive_real(half_width, "half_width")
    cells = _validate.integer(cells, "cells", minimum=2)
    if cells % 2:
        raise ValueError(f"cells must be even (0 is an edge), got {cells}")
    h0 = _validate.positive_real(h0, "h0")
    m = cells // 2
    if h0 * m > half_width * (1 + 1e-12):
        raise ValueError(f"h0 must be <= 2 half_width / cells = {2 * half_width / cells!r}, got {h0!r}")
    if math.isclose(h0 * m, half_width, rel_tol=1e-12):
        right = np.linspace(0.0, half_width, m + 1)
    else:
        # widths h0 q^j, j = 0..m-1, summing to half_width: solve h0 (q^m - 1)/(q - 1) = half_width for q > 1
        from scipy import optimize

        # the sum grows with q; at q = exp(700/m) it is ~ h0 e^700 / (q - 1), beyond any half_width here
        q = optimize.brentq(lambda q: h0 * np.expm1(m * np.log(q)) / (q - 1.0) - half_width, 1.0 + 1e-15,
                            math.exp(700.0 / m), xtol=1e-15)
        right = np.concatenate([[0.0], np.cumsum(h0 * q ** np.arange(m))])
        right[-1] = half_width
    return np.concatenate([-right[:0:-1], right])


@dataclass(frozen=True)
class ReverseLaw:
    """Cell densities of Y at forward times ``times`` (m,): ``densities`` (m, cells) on ``edges``
    (cells + 1,). ``mass`` (m,): total mass (1 up to rounding; zero-flux ends)."""

    edges: np.ndarray
    times: np.ndarray
    densities: np.ndarray

    @property
    def mass(self) -> np.ndarray:
        return self.densities @ np.diff(self.edges)

    def abs_quantile(self, q: float) -> tuple[np.ndarray, np.ndarray]:
        """The q-quantile of |Y| at each time and the density of |Y| there, each of shape (m,).

        Needs edges symmetric about 0 (:func:`symmetric_edges`): the density of |Y| on the cell
        [e_j, e_(j+1)] of the right half is p(y) + p(-y), piecewise constant, so its CDF is linear
        in each cell and the quantile is exact for the cell densities.
        """
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be in (0, 1), got {q!r}")
        e = self.edges
        if not np.allclose(e, -e[::-1], rtol=0.0, atol=1e-12 * e[-1]):
            raise ValueError("abs_quantile needs edges symmetric about 0 (theory.fokker_planck.symmetric_edges)")
        m = (e.size - 1) // 2
        right = e[m:]
        widths = np.diff(right)
        folded = self.densities[:, m:] + self.densities[:, m - 1::-1]  # (times, m): density of |Y|
        cdf = np.concatenate([np.zeros((folded.shape[0], 1)), np.cumsum(folded * widths, axis=1)], axis=1)
        cdf /= cdf[:, -1:]
        quantiles, at = np.empty(folded.shape[0]), np.empty(folded.shape[0])
        for i in range(folded.shape[0]):
            j = min(int(np.searchsorted(cdf[i], q, side="right")) - 1, m - 1)
            density = folded[i, j] / (cdf[i, -1] if cdf[i, -1] else 1.0)
            quantiles[i] = right[j] + (q - cdf[i, j]) / max(density, np.finfo(np.float64).tiny)
            at[i] = density
        return quantiles, at


def reverse_law(drift: Callable[[float, np.ndarray], np.ndarray], g2: Callable[[float], float], *,
                edges: np.ndarray, prior: stats.rv_continuous, T: float, times: Sequence[float],
                steps_per_unit: int = 200) -> ReverseLaw:
    """Solve dp/du = -d/dy(b p) + (g^2/2) p'' from p = prior at t = T down to the forward times ``times``.

    drift : b(t, y) for y an array of face positions; g2 : t -> g(t)^2 (> 0). edges : (cells + 1,)
    increasing. prior : a frozen scipy distribution on R (its ``cdf`` gives the initial cell masses;
    the mass outside the edges is dropped). times : forward times in (0, T). steps_per_unit :
    TR-BDF2 steps per unit of log(1/t) (200: relative time-step errors of order 1e-5 on smooth
    problems; the tests measure the convergence).

    Scharfetter-Gummel flux from cell i to i+1 (centres c, distance h = c_(i+1) - c_i, D = g^2/2,
    z = b h / D, b at the shared edge): F = (D/h) (B(-z) p_i - B(z) p_(i+1)) with B = :func:`bernoulli`;
    dp_i/du = (F_(i-1/2) - F_(i+1/2)) / w_i. In s = log(1/t), dp/ds = t A(t) p.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 3 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be a finite increasing array of >= 3 values, got shape {edges.shape}")
    T = _validate.positive_time(T, "T")
    times = np.asarray([_validate.positive_time(t, "times[i]") for t in times], dtype=np.float64)
    if times.size < 1 or np.any(times >= T):
        raise ValueError(f"times must hold >= 1 forward times in (0, T = {T!r}), got {times!r}")
    steps_per_unit = _validate.integer(steps_per_unit, "steps_per_unit", minimum=1)
    centers = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    dist = np.diff(centers)
    faces = edges[1:-1]
    cells = centers.size

    def bands(t: float) -> np.ndarray:
        """t A(t) in the banded form of scipy.linalg.solve_banded ((1, 1) bands)."""
        big_d = 0.5 * float(g2(t))
        if not big_d > 0.0:
            raise ValueError(f"g2 must be > 0, got g2({t!r}) = {2 * big_d!r}")
        z = np.asarray(drift(t, faces), dtype=np.float64) * dist / big_d
        a = big_d / dist * bernoulli(-z)  # flux weight of the left cell
        c = big_d / dist * bernoulli(z)  # flux weight of the right cell
        ab = np.zeros((3, cells))
        ab[0, 1:] = c / widths[:-1]  # row i, column i+1
        ab[1, :-1] -= a / widths[:-1]
        ab[1, 1:] -= c / widths[1:]
        ab[2, :-1] = a / widths[1:]  # row i+1, column i
        return t * ab

    def apply(ab: np.ndarray, p: np.ndarray) -> np.ndarray:
        out = ab[1] * p
        out[:-1] += ab[0, 1:] * p[1:]
        out[1:] += ab[2, :-1] * p[:-1]
        return out

    def solve(ab: np.ndarray, factor: float, rhs: np.ndarray) -> np.ndarray:
        """(I - factor M) x = rhs for M given by ab."""
        m = -factor * ab
        m[1] += 1.0
        return linalg.solve_banded((1, 1), m, rhs, check_finite=False)

    p = np.diff(prior.cdf(edges)) / widths
    gamma = 2.0 - math.sqrt(2.0)
    w_star, w_old = 1.0 / (gamma * (2.0 - gamma)), (1.0 - gamma) ** 2 / (gamma * (2.0 - gamma))
    w_bdf = (1.0 - gamma) / (2.0 - gamma)
    s, out = -math.log(T), {}
    ab_now = bands(T)
    for target in sorted(set(-np.log(times))):
        steps = max(1, math.ceil((target - s) * steps_per_unit))
        h = (target - s) / steps
        for _ in range(steps):
            ab_mid = bands(math.exp(-(s + gamma * h)))
            star = solve(ab_mid, 0.5 * gamma * h, p + 0.5 * gamma * h * apply(ab_now, p))
            ab_now = bands(math.exp(-(s + h)))
            p = solve(ab_now, w_bdf * h, w_star * star - w_old * p)
            s += h
        out[target] = p.copy()
    densities = np.array([out[-math.log(t)] for t in times])
    return ReverseLaw(edges=edges, times=times, densities=densities)


def clipped_point_law(process: ForwardProcess, *, C: float, T: float, times: Sequence[float],
                      prior_variance: float | None = None, half_width: float = 8.0, cells: int = 1000,
                      h0: float | None = None, steps_per_unit: int = 100) -> ReverseLaw:
    """The law of the reverse SDE at ``times`` for mu = the point mass at 0 in R, score clipped to |s| <= C.

    Drift b(t, y) = -f(t) y + g(t)^2 clip(-y / sigma(t)^2, -C, C) (CLAIMS.md C4), prior
    N(0, prior_variance), by default alpha(T)^2 + sigma(T)^2 (the simulator's reference prior for
    d = 1), every coefficient from the symbolic twin of ``process``. The defaults (1000 cells on
    [-8, 8], 100 steps per unit of log(1/t)) give the median of |Y| to a relative 2e-4 for C = 5
    (against 8000 cells and 200 steps: tests/test_fokker_planck.py). Grid: :func:`symmetric_edges` with ``cells`` cells on
    [-half_width, half_width] and central width h0 (default 1/(50 C): the plateau scale 1/(2C) spans
    25 cells). Solved by :func:`reverse_law`.
    """
    from theory.symbolic import numpy_twin

    process = check_process(process)
    C = _validate.positive_real(C, "C")
    T = _validate.positive_time(T, "T")
    ex = process.symbolic()
    f, g2, sigma2, alpha = (numpy_twin(e, ex.t) for e in (ex.f, ex.g2, ex.sigma2, ex.alpha))

    def drift(t: float, y: np.ndarray) -> np.ndarray:
        g2t = float(g2(t))
        return -float(f(t)) * y + g2t * np.clip(-y / float(sigma2(t)), -C, C)

    if prior_variance is None:
        prior_variance = float(alpha(T)) ** 2 + float(sigma2(T))
    prior = stats.norm(0.0, math.sqrt(_validate.positive_real(prior_variance, "prior_variance")))
    edges = symmetric_edges(half_width, cells, h0=1.0 / (50.0 * C) if h0 is None else h0)
    return reverse_law(drift, lambda t: float(g2(t)), edges=edges, prior=prior, T=T, times=times,
                       steps_per_unit=steps_per_unit)
