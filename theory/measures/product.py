"""Products of measures on orthogonal subspaces (CLAIMS.md §2), e.g. the flat torus S^1 x S^1 in R^4.

mu = mu_1 x ... x mu_m on R^{d_1} x ... x R^{d_m} = R^d, optionally rotated by an orthogonal Q:
X = Q (X^(1), ..., X^(m)). The Gaussian kernel factorizes over orthogonal blocks, so for z = Q^T x

    log p_t(x) = sum_j log p_t^(j)(z^(j)),   grad log p_t(x) = Q (grad log p_t^(j)(z^(j)))_j,
    E[X_0 | X_t = x] = Q (E[X_0^(j) | z^(j)])_j,   dist(x, M) = sqrt(sum_j dist(z^(j), M_j)^2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import block_diag

from theory import _validate
from theory.measures.base import Measure, Partition, check_measures, row_norms


@dataclass(frozen=True, eq=False)
class Product(Measure):
    """Product measure of ``factors`` placed on orthogonal coordinate blocks, then rotated.

    factors : sequence of Measure (at least one). rotation : (d, d) orthogonal matrix or None
    (identity). k = sum of the factors' k, d = sum of their d.
    """

    factors: tuple[Measure, ...]
    rotation: np.ndarray | None = field(default=None, kw_only=True)
    _slices: tuple[slice, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        factors = check_measures(self.factors, "factors")
        bounds = np.cumsum([0] + [f.d for f in factors])
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "_slices", tuple(slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])))
        if self.rotation is not None:
            rotation = _validate.orthonormal_frame(self.rotation, self.d, self.d, "rotation")
            rotation.setflags(write=False)
            object.__setattr__(self, "rotation", rotation)

    @property
    def k(self) -> int:
        return sum(f.k for f in self.factors)

    @property
    def d(self) -> int:
        return sum(f.d for f in self.factors)

    def _to_blocks(self, x: np.ndarray) -> np.ndarray:
        return x if self.rotation is None else x @ self.rotation

    def _from_blocks(self, z: np.ndarray) -> np.ndarray:
        return z if self.rotation is None else z @ self.rotation.T

    def _blockwise(self, method: str, x: np.ndarray, *args) -> np.ndarray:
        z = self._to_blocks(x)
        out = np.empty_like(z)
        for factor, part in zip(self.factors, self._slices):
            out[:, part] = getattr(factor, method)(z[:, part], *args)
        return self._from_blocks(out)

    def _sample(self, n, rng):
        return self._from_blocks(np.concatenate([f._sample(n, rng) for f in self.factors], axis=1))

    def _distance(self, x):
        z = self._to_blocks(x)
        return row_norms(np.stack([f._distance(z[:, part]) for f, part in zip(self.factors, self._slices)], axis=1))

    def _project(self, x):
        return self._blockwise("_project", x)

    def _tangent(self, x, v):
        z, w = self._to_blocks(x), self._to_blocks(v)
        out = np.empty_like(w)
        for factor, part in zip(self.factors, self._slices):
            out[:, part] = factor._tangent(z[:, part], w[:, part])
        return self._from_blocks(out)

    def _partition(self, cells: int) -> Partition:
        """The products of the factors' cells (each factor's partition with the same ``cells``):
        cell sum_j c_j prod_{i > j} m_i for factor cells c_j (mixed radix), mass the product of the
        factors' masses (the factors are independent)."""
        parts = [f._partition(cells) for f in self.factors]
        masses = functools.reduce(lambda a, b: np.outer(a, b).ravel(), [part.masses for part in parts])

        def cell_of(x: np.ndarray) -> np.ndarray:
            z = self._to_blocks(x)
            out = np.zeros(x.shape[0], dtype=np.intp)
            for part, block in zip(parts, self._slices):
                out = out * part.size + part.cell_of(z[:, block])
            return out

        return Partition(masses, cell_of, self.d)

    def moments(self):
        means, covs = zip(*(f.moments() for f in self.factors))
        mean, cov = np.concatenate(means), block_diag(*covs)
        if self.rotation is None:
            return mean, cov
        return self.rotation @ mean, self.rotation @ cov @ self.rotation.T

    @property
    def _extent(self) -> float:
        return float(np.sqrt(sum(f._extent ** 2 for f in self.factors)))

    def _log_density(self, x, alpha, var):
        z = self._to_blocks(x)
        return np.sum([f._log_density(z[:, part], alpha, var) for f, part in zip(self.factors, self._slices)],
                      axis=0)

    def _log_density_scaled(self, x, alpha, var, k):
        z = self._to_blocks(x)
        return np.sum([f._log_density_scaled(z[:, part], alpha, var, k) for f, part in zip(self.factors, self._slices)],
                      axis=0)

    @property
    def _posterior_draws(self) -> int:
        return sum(f._posterior_draws for f in self.factors)

    def _posterior_from_uniforms(self, x, alpha, var, u):
        """Factor by factor (the posterior factorizes over the orthogonal blocks, CLAIMS.md §2): factor
        j draws from its block z^(j) of z = Q^T x with the next of the row's uniforms. (n, d) -> (n, d)."""
        z = self._to_blocks(x)
        out = np.empty_like(z)
        start = 0
        for factor, part in zip(self.factors, self._slices):
            width = factor._posterior_draws
            out[:, part] = factor._posterior_from_uniforms(z[:, part], alpha, var, u[:, start:start + width])
            start += width
        return self._from_blocks(out)

    def _score(self, x, alpha, var):
        return self._blockwise("_score", x, alpha, var)

    def _denoise(self, x, alpha, var):
        return self._blockwise("_denoise", x, alpha, var)
