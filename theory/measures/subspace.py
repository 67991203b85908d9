"""Gaussian measures on affine subspaces (CLAIMS.md §2): mu = N(m, U C U^T), U orthonormal (d, k).

Under the kernel N(alpha x0, var I) the marginal is Gaussian, exactly:
p_t = N(alpha m, alpha^2 U C U^T + var I). Diagonalizing C = Q diag(lam) Q^T and writing V = U Q,
y = x - alpha m, w = V^T y and r = y - V w (the normal part):

    log p_t(x) = -1/2 [sum_j w_j^2 / (alpha^2 lam_j + var) + |r|^2 / var
                       + sum_j log(alpha^2 lam_j + var) + (d - k) log var + d log(2 pi)],
    grad log p_t(x) = -V (w / (alpha^2 lam + var)) - r / var,
    E[X_0 | X_t = x] = m + V (alpha lam w / (alpha^2 lam + var)).

Where the squares of the quadratic form overflow (|x| beyond ~1e154) log p_t is evaluated as
-(|[w / sqrt(2 (alpha^2 lam + var)), r / sqrt(2 var)]|)^2 - ... with an overflow-free norm; it is
-inf only where log p_t is below -1.8e308. The score and the denoiser are single products and
quotients of x: they overflow only where the true values do.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, stats

from theory import _validate
from theory.measures.base import Measure, Partition, log_normalization, normal_quantiles, row_norms


@dataclass(frozen=True, eq=False)
class Subspace(Measure):
    """N(mean, basis cov basis^T): a Gaussian on the k-dim affine subspace mean + span(basis) of R^d.

    k : 1 <= k <= d (k = d is a full-dimensional Gaussian). basis : (d, k) orthonormal columns,
    default the first k coordinate axes. mean : (d,), default 0. cov : (k, k) symmetric positive
    definite, default I_k. ``Subspace(k=1, d=3)`` is N(0, 1) on the first axis of R^3.
    """

    k: int
    d: int
    _: dataclasses.KW_ONLY
    basis: np.ndarray | None = None
    mean: np.ndarray | None = None
    cov: np.ndarray | None = None
    _frame: np.ndarray = field(init=False, repr=False)  # V = basis Q, the eigenframe of cov
    _lam: np.ndarray = field(init=False, repr=False)  # eigenvalues of cov, ascending

    def __post_init__(self) -> None:
        d = _validate.integer(self.d, "d", minimum=1)
        k = _validate.integer(self.k, "k", minimum=1)
        if k > d:
            raise ValueError(f"k must satisfy 1 <= k <= d, got k={k}, d={d}")
        basis = np.eye(d)[:, :k] if self.basis is None else _validate.orthonormal_frame(self.basis, d, k, "basis")
        mean = np.zeros(d) if self.mean is None else _validate.vector(self.mean, d, "mean")
        if self.cov is None:
            cov = np.eye(k)
        else:
            cov = np.asarray(self.cov, dtype=np.float64)
            if cov.shape != (k, k):
                raise ValueError(f"cov must have shape ({k}, {k}), got {cov.shape}")
            if not np.all(np.isfinite(cov)):
                raise ValueError(f"cov must be finite, got {int(np.sum(~np.isfinite(cov)))} NaN/inf entries")
            if not np.allclose(cov, cov.T, rtol=1e-12, atol=0):
                raise ValueError(f"cov must be symmetric, got max |C - C^T| = {float(np.abs(cov - cov.T).max()):.3g}")
        lam, q = np.linalg.eigh(cov)
        if not lam.min() > 0:
            raise ValueError(f"cov must be positive definite, got smallest eigenvalue {lam.min():.3g}")
        for name, value in (("k", k), ("d", d), ("basis", basis), ("mean", mean), ("cov", cov),
                            ("_frame", basis @ q), ("_lam", lam)):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tangent coordinates w = V^T y, shape (n, k), and normal part r = y - V w, shape (n, d).

        For k = d the normal part is exactly 0 (formed as y - V w it would be rounding noise
        ~eps |y|, which the score divides by sigma^2: 1e10 at t = 1e-26 instead of 0).
        """
        w = y @ self._frame
        if self.k == self.d:
            return w, np.zeros_like(y)
        return w, y - w @ self._frame.T

    def _sample(self, n, rng):
        z = rng.standard_normal((n, self.k)) * np.sqrt(self._lam)
        return self.mean + z @ self._frame.T

    def _distance(self, x):
        return row_norms(self._split(x - self.mean)[1])

    def _project(self, x):
        return x - self._split(x - self.mean)[1]

    def _tangent(self, x, v):
        return (v @ self._frame) @ self._frame.T

    def moments(self):
        cov = (self._frame * self._lam) @ self._frame.T
        return self.mean.copy(), 0.5 * (cov + cov.T)

    @property
    def _extent(self) -> float:
        return float(np.linalg.norm(self.mean) + math.sqrt(float(self._lam.sum())))

    def _log_det(self, alpha: float, var: float) -> tuple[np.ndarray, float]:
        """(alpha^2 lam + var, shape (k,); sum log(alpha^2 lam + var) + (d - k) log var)."""
        tangent_var = alpha * alpha * self._lam + var
        return tangent_var, float(np.sum(np.log(tangent_var)) + (self.d - self.k) * math.log(var))

    def _log_density(self, x, alpha, var):
        w, r = self._split(x - alpha * self.mean)
        tangent_var, log_det = self._log_det(alpha, var)
        quad = np.sum(w * w / tangent_var, axis=1) + np.einsum("ij,ij->i", r, r) / var
        out = -0.5 * quad - (0.5 * log_det + log_normalization(self.d, 1.0))
        bad = ~np.isfinite(out)
        if bad.any():  # a square overflowed: the careful evaluation
            rows = np.flatnonzero(bad)
            out[rows] = self._log_density_scaled(x[rows], alpha, var, np.zeros(rows.size, dtype=np.int64))
        return out

    def _log_density_scaled(self, x, alpha, var, k):
        """4^-k log p_t = -(2^-k |[w / sqrt(2 tv), r / sqrt(2 var)]|)^2 - 4^-k (log det + d log 2 pi) / 2."""
        w, r = self._split(x - alpha * self.mean)
        tangent_var, log_det = self._log_det(alpha, var)
        scaled = np.concatenate([np.ldexp(w, -k[:, None]) / (np.sqrt(tangent_var) * math.sqrt(2.0)),
                                 np.ldexp(r, -k[:, None]) * math.sqrt(0.5 / var)], axis=1)
        half_quad = row_norms(scaled)
        return -half_quad * half_quad - np.ldexp(0.5 * log_det + log_normalization(self.d, 1.0), -2 * k)

    def _score(self, x, alpha, var):
        w, r = self._split(x - alpha * self.mean)
        return -(w / (alpha * alpha * self._lam + var)) @ self._frame.T - r / var

    def _partition(self, cells: int) -> Partition:
        """Cells of the whitened tangent coordinates w = L^-1 basis^T (x - m), cov = L L^T (Cholesky,
        unique, so the cells do not depend on an eigenvector's sign); w ~ N(0, I_k) under mu.

        k = 1: ``cells`` equiprobable bins of w between the N(0, 1) quantiles j / cells, masses
        1 / cells. k >= 2: the orthant of w times the side of the chi^2_k median of |w|^2, cell
        2 sum_j [w_j > 0] 2^j + [|w|^2 > median]; by the symmetry and the independence of w / |w| and
        |w| under N(0, I), masses 2^-(k + 1).
        """
        chol = np.linalg.cholesky(self.cov)

        def whiten(x: np.ndarray) -> np.ndarray:
            return linalg.solve_triangular(chol, ((x - self.mean) @ self.basis).T, lower=True).T

        if self.k == 1:
            edges = stats.norm.ppf(np.arange(1, cells) / cells)
            masses = np.full(cells, 1.0 / cells)

            def cell_of(x: np.ndarray) -> np.ndarray:
                return np.searchsorted(edges, whiten(x)[:, 0])
        else:
            median = float(stats.chi2.median(self.k))
            powers = 2 << np.arange(self.k)  # 2 * 2^j
            masses = np.full(2 ** (self.k + 1), 2.0 ** -(self.k + 1))

            def cell_of(x: np.ndarray) -> np.ndarray:
                w = whiten(x)
                return (w > 0.0) @ powers + (np.einsum("ij,ij->i", w, w) > median)

        return Partition(masses, cell_of, self.d)

    @property
    def _posterior_draws(self) -> int:
        return self.k

    def _posterior_from_uniforms(self, x, alpha, var, u):
        """X_0 = m + V (g w + s xi), w = V^T (x - alpha m), g = alpha lam / (alpha^2 lam + var),
        s^2 = lam var / (alpha^2 lam + var), xi ~ N(0, I_k) from the normal quantiles of u (k per row).

        Gaussian conjugacy in the eigenframe V of the covariance (CLAIMS.md §2): the tangent
        coordinates are independent N(0, lam_j) a priori and are observed as alpha w_j + sigma noise.
        """
        w, _ = self._split(x - alpha * self.mean)
        tangent_var = alpha * alpha * self._lam + var
        coordinates = w * (alpha * self._lam / tangent_var)
        coordinates += np.sqrt(self._lam * var / tangent_var) * normal_quantiles(u)
        return self.mean + coordinates @ self._frame.T

    def _denoise(self, x, alpha, var):
        w, _ = self._split(x - alpha * self.mean)
        gain = alpha * self._lam / (alpha * alpha * self._lam + var)
        return self.mean + (w * gain) @ self._frame.T
