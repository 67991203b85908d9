"""Statistics of laws on spheres shared by the measure tests (vMF sampler, sphere posteriors)."""

from __future__ import annotations

import numpy as np


def mean_direction(p: int) -> np.ndarray:
    """A fixed unit vector with no zero coordinate, (1, 2, ..., p) / |.|."""
    nu = np.arange(1.0, p + 1.0)
    return nu / np.linalg.norm(nu)


def law_statistics(x: np.ndarray, nu: np.ndarray) -> list[np.ndarray]:
    """The statistics compared between samples of vMF(nu, .), each shape (n,).

    The cosine w = nu . x, and the orthogonal direction through one coordinate: for p = 2 the signed
    angle atan2(e . x, w) with e = nu rotated by 90 degrees, for p >= 3 e . v with v = (x - w nu) /
    |x - w nu| and e a fixed unit vector orthogonal to nu. Under vMF w and v are independent, w has
    density ~ e^{kappa w} (1 - w^2)^{(p - 3)/2} and v is uniform on the sphere of nu^perp.
    """
    p = nu.size
    w = x @ nu
    if p == 2:
        return [w, np.arctan2(x @ np.array([-nu[1], nu[0]]), w)]
    e = np.zeros(p)
    e[-1] = 1.0
    e -= (e @ nu) * nu
    e /= np.linalg.norm(e)
    perp = x - w[:, None] * nu
    return [w, (perp @ e) / np.linalg.norm(perp, axis=1)]
