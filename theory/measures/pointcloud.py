"""Weighted finite point sets: the empirical measure of a training set (SPEC section 2, C3, C7).

mu = sum_i w_i delta_{x_i}. For the kernel N(alpha x0, var I),

    log p_t(x) = logsumexp_i [log w_i - |x - alpha x_i|^2 / (2 var)] - (d/2) log(2 pi var),
    E[X_0 | X_t = x] = sum_i pi_i(x) x_i,  pi(x) = softmax_i(log w_i - |x - alpha x_i|^2 / (2 var)).

The logits are formed through one matrix product x @ points.T (|x|^2 is constant in i and drops
out of the softmax), and the softmax is a log-sum-exp: raw exponentials underflow to 0/0 as
t -> 0. Queries are processed in row blocks so that the (n, N) logit matrix never exceeds
``BLOCK_ELEMENTS`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theory import _validate
from theory.measures.base import _DEFAULT_PROCESS, Measure
from theory.processes import ForwardProcess

# Largest (rows x points) logit block held in memory at once: 2^20 float64 = 8 MiB, which stays in
# the 32 MiB L3 cache between the logit product, the softmax passes and the second product. Measured
# on a prototype of this kernel on W2 (2000 x 1797, quiet machine, ratio to one x @ points.T): one
# 2^22 block 3.1, 500-row blocks (2^19.8) 2.95; the bound also keeps 10^5 queries against 10^4
# points from allocating 8 GB.
BLOCK_ELEMENTS = 1 << 20
# The softmax passes (max, shift, exp) run over sub-blocks of about 2^16 entries (512 KiB) so the
# exp reads what the shift just wrote from the 2 MiB L2 cache instead of from memory.
SOFTMAX_ELEMENTS = 1 << 16
# Shifted logits are clamped from below at EXP_FLOOR before the exp. NumPy's SIMD exp takes a slow
# path for results that underflow: measured 5.6 ns per entry for results that round to 0 and 40 ns
# for subnormal results, against 1.0 ns for normal ones. Near t = 0 almost every logit underflows
# (98% for the digits at t = 1e-3), where the clamp took PointCloud.score from 6.9 x one matrix
# product to 3.6 x. exp(-700) = 9.9e-305 is a normal number; it adds at most N * 1e-304 of
# the largest weight to any sum, far below float64 rounding for any N that fits in memory.
EXP_FLOOR = -700.0
_EXP_FLOOR_VALUE = float(np.exp(EXP_FLOOR))


@dataclass(frozen=True, eq=False)
class PointCloud(Measure):
    """The weighted empirical measure sum_i w_i delta_{x_i} on R^d (k = 0).

    points : array_like, shape (N, d), finite. weights : array_like, shape (N,), >= 0 with a
    positive sum (normalized here); default uniform. Zero-weight points are not in the support.
    """

    points: np.ndarray
    weights: np.ndarray | None = None
    _log_w: np.ndarray = field(init=False, repr=False)
    _half_sq_norms: np.ndarray = field(init=False, repr=False)
    _points_t1: np.ndarray = field(init=False, repr=False)  # [points^T; 1], shape (d + 1, N), C order
    _atoms: np.ndarray = field(init=False, repr=False)  # [points, log w, |x_i|^2 / 2], shape (N, d + 2)

    def __post_init__(self) -> None:
        pts = np.asarray(self.points)
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] < 1:
            raise ValueError(f"points must have shape (N, d) with N >= 1, d >= 1, got {pts.shape}")
        pts = _validate.points(pts, pts.shape[1], name="points").copy()
        w = _validate.probability_weights(self.weights, pts.shape[0])
        keep = w > 0
        pts, w = pts[keep], w[keep]
        pts.setflags(write=False)
        w.setflags(write=False)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "_log_w", np.log(w))
        object.__setattr__(self, "_half_sq_norms", 0.5 * np.einsum("ij,ij->i", pts, pts))
        points_t1 = np.ones((pts.shape[1] + 1, pts.shape[0]))
        points_t1[:-1] = pts.T
        object.__setattr__(self, "_points_t1", points_t1)
        object.__setattr__(self, "_atoms", np.column_stack([pts, np.log(w), self._half_sq_norms]))

    @property
    def k(self) -> int:
        return 0

    @property
    def d(self) -> int:
        return int(self.points.shape[1])

    @property
    def size(self) -> int:
        """Number of support points N."""
        return int(self.points.shape[0])

    def _rows_per_block(self) -> int:
        return max(1, BLOCK_ELEMENTS // self.size)

    # -- support geometry ---------------------------------------------------------------
    def nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the nearest support point and the distance to it, for each row of x.

        x : ndarray, shape (n, d) -> (index (n,), distance (n,)). Candidates come from the matrix
        product expansion |x|^2 - 2 x.x_i + |x_i|^2; the reported distance is recomputed
        directly as |x - x_i| so it has no cancellation error.
        """
        x = _validate.points(x, self.d)
        return self._nearest(x)

    def _nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = x.shape[0]
        index = np.empty(n, dtype=np.intp)
        step = self._rows_per_block()
        for start in range(0, n, step):
            block = x[start:start + step]
            # argmin_i |x - x_i|^2 = argmin_i (|x_i|^2 / 2 - x.x_i)
            gram = block @ self.points.T
            np.subtract(self._half_sq_norms, gram, out=gram)
            index[start:start + step] = np.argmin(gram, axis=1)
        dist = np.linalg.norm(x - self.points[index], axis=1)
        return index, dist

    def _distance(self, x):
        return self._nearest(x)[1]

    def _project(self, x):
        return self.points[self._nearest(x)[0]]

    def _tangent(self, x, v):
        return np.zeros_like(v)

    def _sample(self, n, rng):
        index = rng.choice(self.size, size=n, p=self.weights)
        return self.points[index].copy()

    def moments(self):
        mean = self.weights @ self.points
        centered = self.points - mean
        return mean, (centered * self.weights[:, None]).T @ centered

    # -- diffused quantities --------------------------------------------------------------
    def _posterior_blocks(self, x: np.ndarray, alpha: float, var: float, *, exact_zeros: bool = False):
        """Yield (rows, weights, top) over row blocks of x: unnormalized posterior weights.

        weights[j, i] = exp(max(logit_i(x_j) - top_j, EXP_FLOOR)), logit_i(x) = log w_i + (alpha
        x.x_i - alpha^2 |x_i|^2 / 2) / var (the exact logit plus |x|^2 / (2 var), constant in i),
        top_j = max_i logit_i(x_j). The logits are one matrix product [alpha/var x, 1, -alpha^2/var]
        @ [x_i, log w_i, |x_i|^2 / 2]^T: the right factor is fixed at construction, so a call does no
        O(N d) work besides the products. The max, shift and exp then run over sub-blocks small
        enough to stay in cache. ``weights`` is a reused buffer. ``exact_zeros``: report the weights
        clamped at EXP_FLOOR (they stand for weights that underflow) as 0, for callers that expose
        probabilities or draw from them.
        """
        n, d = x.shape
        step = self._rows_per_block()
        sub = max(1, SOFTMAX_ELEMENTS // self.size)
        buffer = np.empty((min(step, n), self.size))
        augmented = np.empty((min(step, n), d + 2))
        augmented[:, d] = 1.0
        augmented[:, d + 1] = -alpha * alpha / var
        top = np.empty(n)
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            m = rows.stop - rows.start
            np.multiply(x[rows], alpha / var, out=augmented[:m, :d])
            weights = buffer[:m]
            np.matmul(augmented[:m], self._atoms.T, out=weights)
            for lo in range(0, m, sub):
                part = weights[lo:lo + sub]
                part_top = part.max(axis=1, keepdims=True)
                top[start + lo:start + lo + part.shape[0]] = part_top[:, 0]
                part -= part_top
                # A read-only min is cheaper than an unconditional clamp where nothing underflows.
                if part.min() < EXP_FLOOR:
                    np.maximum(part, EXP_FLOOR, out=part)
                np.exp(part, out=part)
            if exact_zeros:
                weights[weights <= _EXP_FLOOR_VALUE] = 0.0
            yield rows, weights, top[rows]

    def _log_density(self, x, alpha, var):
        result = np.empty(x.shape[0])
        for rows, weights, top in self._posterior_blocks(x, alpha, var):
            result[rows] = top + np.log(weights.sum(axis=1))
        sq_norm = np.einsum("ij,ij->i", x, x)
        return result - sq_norm / (2.0 * var) - 0.5 * self.d * np.log(2.0 * np.pi * var)

    def _denoise(self, x, alpha, var):
        d = self.d
        # [points^T; 1] @ weights^T gives the weighted sums and, in its last row, the normalizer:
        # one product instead of a product and a sum. This layout (a (d + 1) x n result) runs about
        # 1.5x faster in OpenBLAS than weights @ points for N >> d (measured on W2).
        sums = np.empty((d + 1, x.shape[0]))
        for rows, weights, _ in self._posterior_blocks(x, alpha, var):
            np.matmul(self._points_t1, weights.T, out=sums[:, rows])
        sums[:d] /= sums[d]
        return np.ascontiguousarray(sums[:d].T)

    def posterior(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """Posterior probabilities P(X_0 = x_i | X_t = x), shape (n, N) (SPEC C1, C3).

        pi_i(x) = w_i N(x; alpha x_i, var I) / p_t(x). Evaluated by log-sum-exp.
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        out = np.empty((x.shape[0], self.size))
        for rows, weights, _ in self._posterior_blocks(x, alpha, var, exact_zeros=True):
            out[rows] = weights / weights.sum(axis=1, keepdims=True)
        return out

    def posterior_sample(self, t: float, x: np.ndarray, rng: np.random.Generator, *,
                         process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """One draw I ~ P(X_0 = x_i | X_t = x) per row of x: indices into ``points``, shape (n,).

        Inverse-CDF sampling on the log-sum-exp posterior weights, with one uniform per row drawn
        from ``rng`` in row order (so splitting x into row chunks does not change the draws).
        Weights that underflow in float64 (below 1e-304 of the largest) are never drawn.
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        rng = _validate.generator(rng)
        index = np.empty(x.shape[0], dtype=np.intp)
        for rows, weights, _ in self._posterior_blocks(x, alpha, var, exact_zeros=True):
            cdf = np.cumsum(weights, axis=1, out=weights)
            u = rng.random(cdf.shape[0]) * cdf[:, -1]
            # first i with cdf_i > u; u < cdf[-1] unless u rounds up to it, hence the cap.
            index[rows] = np.minimum(np.count_nonzero(cdf <= u[:, None], axis=1), self.size - 1)
        return index

