"""Weighted mixtures (unions) of measures, supports of different dimensions allowed (CLAIMS.md §2).

mu = sum_j w_j mu_j. With responsibilities r_j(x) = softmax_j(log w_j + log p_t^(j)(x)):

    log p_t(x) = logsumexp_j (log w_j + log p_t^(j)(x)),
    grad log p_t(x) = sum_j r_j(x) grad log p_t^(j)(x),   E[X_0 | x] = sum_j r_j(x) E_j[X_0 | x].

The support is the union of the components' supports: its dimension k is the largest of theirs,
the distance to it the smallest of the distances, and a projection is the nearest component's.

Far from the data every log p_t^(j)(x) may be below -1.8e308 (-inf in float64) while their
differences, and so the responsibilities and the score, are not. There the responsibilities come
from 4^-k log p_t^(j) (``_log_density_scaled``, k from |x| / sigma): r = softmax_j(4^k (log w_j 4^-k +
4^-k log p_t^(j))), which is one-hot unless the components tie to rounding. A component's score and
denoiser are evaluated only on the rows where its responsibility is positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats
from scipy.special import logsumexp, softmax

from theory import _validate
from theory.measures.base import Measure, Partition, check_measures, scaling_exponents

# Probe points per component in Mixture._check_supports_apart, and the distance (relative to
# 1 + the supports' extent) within which a probe counts as lying on another support: far above the
# rounding of a projection and a distance (~1e-15 relative), far below any designed separation.
OVERLAP_PROBES = 64
OVERLAP_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Mixture(Measure):
    """sum_j w_j mu_j on R^d. components : sequence of Measure, all with the same d.

    weights : (m,) >= 0 with positive sum (normalized), default uniform. Zero-weight components
    are dropped (they are not in the support).
    """

    components: tuple[Measure, ...]
    weights: np.ndarray | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        comps = check_measures(self.components, "components")
        dims = [c.d for c in comps]
        if len(set(dims)) != 1:
            raise ValueError(f"components must share the ambient dimension d, got d = {dims}")
        w = _validate.probability_weights(self.weights, len(comps))
        comps = tuple(c for c, wj in zip(comps, w) if wj > 0)
        w = w[w > 0]
        w.setflags(write=False)
        object.__setattr__(self, "components", comps)
        object.__setattr__(self, "weights", w)

    @property
    def k(self) -> int:
        return max(c.k for c in self.components)

    @property
    def d(self) -> int:
        return self.components[0].d

    def _sample(self, n, rng):
        labels = rng.choice(len(self.components), size=n, p=self.weights)
        out = np.empty((n, self.d))
        for j, comp in enumerate(self.components):
            rows = labels == j
            out[rows] = comp._sample(int(rows.sum()), rng)
        return out

    def _nearest_component(self, x: np.ndarray) -> np.ndarray:
        return np.argmin(np.stack([c._distance(x) for c in self.components]), axis=0)

    def _distance(self, x):
        return np.min(np.stack([c._distance(x) for c in self.components]), axis=0)

    def _by_nearest(self, method: str, x: np.ndarray, *args) -> np.ndarray:
        nearest = self._nearest_component(x)
        out = np.empty_like(x)
        for j, comp in enumerate(self.components):
            rows = nearest == j
            out[rows] = getattr(comp, method)(x[rows], *(a[rows] for a in args))
        return out

    def _project(self, x):
        return self._by_nearest("_project", x)

    def _tangent(self, x, v):
        return self._by_nearest("_tangent", x, v)

    @property
    def codimension(self) -> float:
        """sum_j w_j (d - k_j): the limit of sigma^2 E|grad log p_t|^2 as t -> 0 (CLAIMS.md C5), to
        which component j contributes its own codimension with its weight."""
        return float(sum(w * c.codimension for w, c in zip(self.weights, self.components)))

    def _partition(self, cells: int) -> Partition:
        """Cells (j, c): the points whose nearest component is j (ties to the lowest j, as in
        :meth:`project`), refined by component j's own partition; mass w_j mu_j(cell c).

        The masses are exact when every component gives zero mass to the points of its support that
        another component's support also holds (supports that meet in a null set, as distinct
        spheres, subspaces and points do). Where a component's support lies partly on another's (a
        circle inside a plane, two laws on one sphere, an atom on a line) the nearest-component rule
        cannot split the mass and a ValueError says so; the check probes the atoms of point clouds
        and OVERLAP_PROBES fixed points of every other component's support.
        """
        parts = [c._partition(cells) for c in self.components]
        self._check_supports_apart()
        offsets = np.cumsum([0] + [part.size for part in parts])
        masses = np.concatenate([w * part.masses for w, part in zip(self.weights, parts)])

        def cell_of(x: np.ndarray) -> np.ndarray:
            nearest = self._nearest_component(x)
            out = np.empty(x.shape[0], dtype=np.intp)
            for j, part in enumerate(parts):
                rows = np.flatnonzero(nearest == j)
                if rows.size:
                    out[rows] = offsets[j] + part.cell_of(x[rows])
            return out

        return Partition(masses, cell_of, self.d)

    def _check_supports_apart(self) -> None:
        """Raise a ValueError if a probe point of one component's support lies on another's (within
        OVERLAP_TOL times 1 + the larger extent). Probes: ``_support_probes`` of the OVERLAP_PROBES first
        points of the unscrambled Halton sequence in R^d mapped to N(0, I) (fixed, in general position)."""
        halton = stats.qmc.Halton(self.d, scramble=False).random(OVERLAP_PROBES + 1)[1:]
        directions = special.ndtri(halton)
        for i, comp in enumerate(self.components):
            probes = comp._support_probes(directions)
            for j, other in enumerate(self.components):
                if j == i:
                    continue
                scale = 1.0 + max(comp._extent, other._extent)
                near = other._distance(probes) <= OVERLAP_TOL * scale
                if near.any():
                    raise ValueError(
                        f"components {i} ({type(comp).__name__}) and {j} ({type(other).__name__}) share part of "
                        f"their supports (e.g. the point {probes[int(np.argmax(near))].tolist()}), so cells "
                        "by nearest component have no exact masses")

    def moments(self):
        means, covs = zip(*(c.moments() for c in self.components))
        means, covs = np.array(means), np.array(covs)
        mean = self.weights @ means
        second = np.einsum("j,jab->ab", self.weights, covs + np.einsum("ja,jb->jab", means, means))
        return mean, second - np.outer(mean, mean)

    @property
    def _extent(self) -> float:
        return max(c._extent for c in self.components)

    def _log_joint(self, x, alpha, var) -> np.ndarray:
        """log w_j + log p_t^(j)(x), shape (m, n) (-inf where log p_t^(j) is below -1.8e308)."""
        return np.log(self.weights)[:, None] + np.stack([c._log_density(x, alpha, var) for c in self.components])

    def _log_joint_scaled(self, x, alpha, var, k) -> np.ndarray:
        """4^-k (log w_j + log p_t^(j)(x)), shape (m, n)."""
        return np.stack([np.ldexp(np.log(wj), -2 * k) + c._log_density_scaled(x, alpha, var, k)
                         for wj, c in zip(self.weights, self.components)])

    def _far_rows_joint(self, x, alpha, var, rows) -> tuple[np.ndarray, np.ndarray]:
        """(k, 4^-k log joint) for the given rows, with k raised (by 64 at a time) until every scaled
        log joint is finite: the exponents of ``scaling_exponents`` suffice unless a component's
        support reaches far beyond its ``_extent``."""
        xr = x[rows]
        k = scaling_exponents(xr, self._extent, var)
        joint = self._log_joint_scaled(xr, alpha, var, k)
        while not np.isfinite(joint).all():
            k = k + np.where(np.isfinite(joint).all(axis=0), 0, 64)
            joint = self._log_joint_scaled(xr, alpha, var, k)
        return k, joint

    def _responsibilities(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """Posterior component probabilities r_j(x), shape (m, n), by a log-sum-exp softmax (of the
        scaled log joints, see the module docstring, where every log joint is -inf)."""
        joint = self._log_joint(x, alpha, var)
        far = ~np.isfinite(joint.max(axis=0))
        if far.any():
            rows = np.flatnonzero(far)
            k, scaled = self._far_rows_joint(x, alpha, var, rows)
            joint[:, rows] = np.ldexp(scaled - scaled.max(axis=0), 2 * k)  # <= 0, -inf where negligible
        return softmax(joint, axis=0)

    def _log_density(self, x, alpha, var):
        return logsumexp(self._log_joint(x, alpha, var), axis=0)

    def _log_density_scaled(self, x, alpha, var, k):
        """4^-k log p_t = max_j J_j + 4^-k log sum_j exp(4^k (J_j - max_j J_j)), J_j = 4^-k log(w_j p_t^(j))."""
        joint = self._log_joint_scaled(x, alpha, var, k)
        top = joint.max(axis=0)
        rest = np.log(np.exp(np.ldexp(joint - top, 2 * k)).sum(axis=0))
        return top + np.ldexp(rest, -2 * k)

    def _weighted(self, method: str, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """sum_j r_j(x) (component j's ``method``), each component evaluated where r_j > 0 only."""
        r = self._responsibilities(x, alpha, var)
        out = np.zeros_like(x)
        for rj, c in zip(r, self.components):
            rows = np.flatnonzero(rj > 0.0)
            if rows.size == x.shape[0]:
                out += rj[:, None] * getattr(c, method)(x, alpha, var)
            elif rows.size:
                out[rows] += rj[rows, None] * getattr(c, method)(x[rows], alpha, var)
        return out

    @property
    def _posterior_draws(self) -> int:
        return 1 + max(c._posterior_draws for c in self.components)

    def _posterior_from_uniforms(self, x, alpha, var, u):
        """A component J ~ r(x) (inverse CDF of the responsibilities on u[:, 0]), then X_0 from
        component J's posterior with the row's next uniforms (CLAIMS.md §2). (n, d) -> (n, d)."""
        cdf = np.cumsum(self._responsibilities(x, alpha, var), axis=0)
        level = u[:, 0] * cdf[-1]
        # first j with cdf_j > level (capped: level may round up to cdf[-1])
        chosen = np.minimum(np.count_nonzero(cdf <= level, axis=0), len(self.components) - 1)
        out = np.empty_like(x)
        for j, comp in enumerate(self.components):
            rows = np.flatnonzero(chosen == j)
            if rows.size:
                out[rows] = comp._posterior_from_uniforms(x[rows], alpha, var, u[rows, 1:1 + comp._posterior_draws])
        return out

    def _score(self, x, alpha, var):
        return self._weighted("_score", x, alpha, var)

    def _denoise(self, x, alpha, var):
        return self._weighted("_denoise", x, alpha, var)
