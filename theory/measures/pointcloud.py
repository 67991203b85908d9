"""Weighted finite point sets: the empirical measure of a training set (CLAIMS.md §2, C3, C7).

mu = sum_i w_i delta_{x_i}. For the kernel N(alpha x0, var I),

    log p_t(x) = logsumexp_i [log w_i - |x - alpha x_i|^2 / (2 var)] - (d/2) log(2 pi var),
    E[X_0 | X_t = x] = sum_i pi_i(x) x_i,  pi(x) = softmax_i(log w_i - |x - alpha x_i|^2 / (2 var)).

The logits, relative to those of one reference atom, are formed through one matrix product with
the points (|x|^2 is constant in i and drops out), and the weighted sums through a second one.
Raw exponentials underflow to 0/0 as t -> 0 and overflow far from the data, so each row is scaled
before the exp by one of three paths (see ``PointCloud._weight_sums``):

- fast: a shift that provably keeps every weight between e^-700 and overflow, from a bound on the
  logits' spread (the triangle inequality around the points' centre). No pass over the logits
  besides the exp. This covers most rows unless t is small (for the digits: t >= 0.01).
- sparse, near t = 0: the posterior sits on a few atoms; only the weights within
  e^-(SPARSE_TAIL + log N) of a row's largest are formed and summed, with scipy.sparse.
- dense otherwise: log-sum-exp, shifting each row by its maximum.
- extreme: rows whose logits could exceed LOGIT_LIMIT (far from the data or at sigma^2 near the
  smallest normal float64, where alpha x / sigma^2 overflows). The logits are formed in units of
  sigma^2 (var (logit_i - logit_ref), which stays finite), shifted by their maximum and only then
  divided by sigma^2 (the differences may round to -inf: weight 0), and the log-scale is the
  logit of the top atom itself, log w_top - (|x - alpha x_top| / sqrt(2 sigma^2))^2, with an
  overflow-free norm. Far from the data the posterior is thus one-hot on the nearest atom and log p
  the large negative number it is; where that number is below -1.8e308 it is -inf (see base.py).

float32: :meth:`PointCloud.score` of a float32 array runs the logit product, the softmax and the
dense moment product in float32 (tables rounded once, on first use), with a clamp at EXP_FLOOR_32 =
-30 and the fast window's upper end at e^80 instead of e^-700 and e^700; everything else (log_density,
denoise, posterior) converts float32 input to float64, as every other measure does.

:meth:`PointCloud.local_score` (late steps, where the posterior sits on a few atoms) sums only the
atoms within a certified radius of x / alpha, found with scipy's cKDTree: O(log N) per query for data
of low intrinsic dimension instead of the O(N d) of the products, with a bound on what it leaves out.

:meth:`PointCloud.posterior` and :meth:`PointCloud.posterior_sample` use the dense path (the
extreme one where it applies). Queries are processed in row blocks so that the (n, N) logit matrix
never exceeds ``BLOCK_ELEMENTS`` entries.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse, spatial

from theory import _validate
from theory.measures.base import (_DEFAULT_PROCESS, Measure, Partition, _checked, _nonfinite_rows, log_normalization,
                                  row_norms)
from theory.processes import ForwardProcess

# Largest (rows x points) logit block held in memory at once: 2^22 - 2^16 float64 = 31.5 MiB. Each
# block costs two multithreaded OpenBLAS calls, and each call waits for OpenBLAS's second thread; on the
# shared 2-core machine that wait alternates between phases where it is negligible and phases where
# it dominates. Measured on W2 (2000 x 1797, ratio of PointCloud.score to one x @ points.T at t =
# 0.05, alternating the block sizes for 2.5 minutes): 2^20 (4 blocks) 2.93 in the good phase and
# 3.5 in the bad one; 2^22 (one block) 2.85 and 2.95. It stays just below 32 MiB because glibc
# serves larger allocations by mmap on every call (its adaptive threshold stops at 32 MiB): a
# 2^22-entry block of 4668 digits queries took 600-1800 page faults per call, 31.5 MiB 50-150.
# The bound still keeps 10^5 queries against 10^5 points from allocating 80 GB.
BLOCK_ELEMENTS = (1 << 22) - (1 << 16)
# The softmax passes (max, shift, exp) run over sub-blocks of about 2^16 entries (512 KiB) so the
# exp reads what the shift just wrote from the 2 MiB L2 cache instead of from memory.
SOFTMAX_ELEMENTS = 1 << 16
# Shifted logits are clamped from below at EXP_FLOOR before the exp (dense path), and the fast path
# keeps every logit above it. NumPy's SIMD exp takes a slow path for results that underflow:
# measured 5.6 ns per entry for results that round to 0 and 40 ns for subnormal results, against
# 1.0 ns for normal ones. Near t = 0 almost every logit underflows (98% for the digits at t = 1e-3),
# where the clamp took the dense path from 6.9 x one matrix product to 3.6 x. exp(-700) = 9.9e-305
# is a normal number; it adds at most N * 1e-304 of the largest weight to any sum, far below float64
# rounding for any N that fits in memory.
EXP_FLOOR = -700.0
_EXP_FLOOR_VALUE = float(np.exp(EXP_FLOOR))
_EPS = float(np.finfo(np.float64).eps)
# Sparse path of the normalizer and first moment (rows where the fast path is not safe, mostly
# near t = 0): weights below exp(-SPARSE_TAIL) / N of their row's largest are left out, so the
# omitted mass is at most exp(-50) = 2e-22 of the normalizer, a million times below float64
# rounding. The path is taken for a block when at most SPARSE_DENSITY of its weights are kept:
# scipy's CSR product costs about 25 ns per kept weight for d = 64 against about 3 ns per weight
# for the dense shift, exp and second product (measured on the 2-core machine), so 1/32 keeps the
# sparse path the cheaper one with a margin.
SPARSE_TAIL = 50.0
SPARSE_DENSITY = 1.0 / 32.0
# Rows whose logits relative to the reference atom may exceed this in magnitude (a bound from |x|,
# the points' spread and the weights) take the extreme path: beyond it alpha x / sigma^2, the
# logits or their products could overflow. 1e300 leaves the (d + 3)-term sums a factor 1e8 of room.
LOGIT_LIMIT = 1e300
# Row paths of _weight_sums.
_FAST, _NORMAL, _EXTREME = 0, 1, 2

# -- the float32 kernel (PointCloud.score of float32 queries) --------------------------------------
# Clamp of the shifted float32 logits (dense path) and lower end of the fast path's window. A
# clamped weight stands for one below e^-30 = 9.4e-14 of its row's largest, so the clamp adds at most
# N e^-30 of the largest weight (hence of the normalizer) to the normalizer and moves the denoiser by
# at most N e^-30 max_i |x_i - E[X_0 | x]|: below float32's unit roundoff u = 2^-24 = 6.0e-8 for N up
# to u e^30 = 6.4e5 points. e^-30 is a normal float32 (the smallest is e^-87.3), so the exp never
# takes NumPy's slow subnormal path, and neither do its products with points of size above e^-57.
EXP_FLOOR_32 = -30.0
# Sparse path in float32: weights below e^-(SPARSE_TAIL_32 + log N) of the row's largest are left
# out, e^-20 = 2.1e-9 of the normalizer in all, 30 times below u.
SPARSE_TAIL_32 = 20.0
# Upper end of the fast path's window in float32: N max(1, |x|_inf) e^z <= e^80 leaves the weighted
# sums 8.7 nats below float32's overflow at e^88.7.
_HEADROOM_LOG_32 = 80.0
# Rows whose logit bound (see _extreme_rows) exceeds this are computed by the float64 kernel: beyond
# it a float32 logit or product could overflow (float32 max 3.4e38; 1e30 leaves a factor 3e8).
LOGIT_LIMIT_32 = 1e30
_EPS_32 = float(np.finfo(np.float32).eps)


@dataclass(frozen=True, eq=False)
class _Precision:
    """The dtype-specific constants and product tables of the logit and moment kernels.

    atoms : (N, d + 3) in ``dtype`` (see PointCloud._atoms); moment : the right factor of the moment
    product, [points, 1] (N, d + 1) if ``moment_by_rows`` (u @ moment), else [points^T; 1] (d + 1, N)
    (moment @ u^T); exp_floor, sparse_tail, headroom: the clamp, the sparse cut and the fast window's
    upper end in nats; eps : the machine epsilon of ``dtype`` (rounding of the logit product in the
    fast-path slack).
    """

    dtype: np.dtype
    atoms: np.ndarray
    moment: np.ndarray
    moment_by_rows: bool
    exp_floor: float
    sparse_tail: float
    headroom: float
    eps: float


# local_score: the default neglected posterior mass, at most e^-LOCAL_TAIL of the normalizer (as the
# sparse path's e^-SPARSE_TAIL: a million times below float64 rounding).
LOCAL_TAIL = 50.0
# cKDTree's ball test compares rounded squared distances; an atom just outside the radius r might be
# reported inside (harmless) and one inside might be missed only within this relative margin of r^2,
# so the certified bound uses (1 - LOCAL_RADIUS_SLACK) r^2 for the excluded atoms' distance.
LOCAL_RADIUS_SLACK = 1e-9


@dataclass(frozen=True)
class LocalScore:
    """The result of :meth:`PointCloud.local_score` for n queries.

    score : (n, d), the score of the posterior restricted to the atoms within the radius.
    tail : (n,), a certified upper bound on the neglected posterior mass Z_out / (Z_in + Z_out).
    error : (n,), a certified upper bound on |score - exact score| (Euclidean) from the neglected
    atoms: alpha / sigma^2 * tail / (1 - tail) * (|m - c| + R) (m the restricted denoiser, c the
    points' centre, R their radius about it), beyond the rounding of the evaluated terms.
    atoms : (n,), the number of atoms each row summed.
    """

    score: np.ndarray
    tail: np.ndarray
    error: np.ndarray
    atoms: np.ndarray


@dataclass(frozen=True, eq=False)
class PointCloud(Measure):
    """The weighted empirical measure sum_i w_i delta_{x_i} on R^d (k = 0).

    points : array_like, shape (N, d), finite. weights : array_like, shape (N,), >= 0 with a
    positive sum (normalized here); default uniform. Zero-weight points are not in the support.
    """

    points: np.ndarray
    weights: np.ndarray | None = None
    _half_sq_norms: np.ndarray = field(init=False, repr=False)
    _points_t1: np.ndarray = field(init=False, repr=False)  # [points^T; 1], shape (d + 1, N), C order
    _points_1: np.ndarray = field(init=False, repr=False)  # [points, 1], shape (N, d + 1), C order
    # [x_i - x_ref, log w_i - log w_ref, (|x_i|^2 - |x_ref|^2) / 2, 1], shape (N, d + 3): see _logits
    _atoms: np.ndarray = field(init=False, repr=False)
    # max_i of |x_i - x_ref|, |(|x_i|^2 - |x_ref|^2)| / 2 and |log w_i - log w_ref|: rounding bounds
    _ref_reach: float = field(init=False, repr=False)
    _half_sq_reach: float = field(init=False, repr=False)
    _log_w_reach: float = field(init=False, repr=False)
    _ref_point: np.ndarray = field(init=False, repr=False)  # x_ref, the atom nearest the centre
    _log_w_ref: float = field(init=False, repr=False)
    _center_from_ref: np.ndarray = field(init=False, repr=False)  # mean of the points - x_ref
    _center_from_ref_sq: float = field(init=False, repr=False)
    _ref_norm: float = field(init=False, repr=False)  # |x_ref|
    _radius: float = field(init=False, repr=False)  # max_i |x_i - centre|
    _log_w_max: float = field(init=False, repr=False)
    _log_w_min: float = field(init=False, repr=False)
    # Largest logit_i - logit_ref for which N max(1, |x|_inf) exp(logit_i - logit_ref) <= e^700.
    _headroom: float = field(init=False, repr=False)
    _max_norm: float = field(init=False, repr=False)  # max_i |x_i|
    _f64: _Precision = field(init=False, repr=False)  # the float64 kernel's tables (the arrays above)

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
        log_w = np.log(w)
        half_sq_norms = 0.5 * np.einsum("ij,ij->i", pts, pts)
        center = pts.mean(axis=0)
        from_center = np.linalg.norm(pts - center, axis=1)
        ref = int(np.argmin(from_center))
        shifted = pts - pts[ref]
        # (|x_i|^2 - |x_ref|^2) / 2 as (x_i - x_ref).(x_i + x_ref) / 2: no cancellation of large norms
        half_sq_diff = 0.5 * np.einsum("ij,ij->i", shifted, pts + pts[ref])
        points_t1 = np.ones((pts.shape[1] + 1, pts.shape[0]))
        points_t1[:-1] = pts.T
        derived = {
            "_half_sq_norms": half_sq_norms,
            "_points_t1": points_t1,
            "_points_1": np.ascontiguousarray(points_t1.T),
            "_atoms": np.column_stack([shifted, log_w - log_w[ref], half_sq_diff, np.ones(len(pts))]),
            "_ref_reach": float(np.linalg.norm(shifted, axis=1).max()),
            "_half_sq_reach": float(np.abs(half_sq_diff).max()),
            "_log_w_reach": float(np.abs(log_w - log_w[ref]).max()),
            "_ref_point": pts[ref].copy(),
            "_log_w_ref": float(log_w[ref]),
            "_center_from_ref": center - pts[ref],
            "_center_from_ref_sq": float(np.sum((center - pts[ref]) ** 2)),
            "_ref_norm": float(np.linalg.norm(pts[ref])),
            "_radius": float(from_center.max()),
            "_log_w_max": float(log_w.max()),
            "_log_w_min": float(log_w.min()),
            "_headroom": 700.0 - float(np.log(pts.shape[0])) - float(np.log(max(1.0, np.abs(pts).max()))),
            "_max_norm": float(row_norms(pts).max()),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_f64", _Precision(np.dtype(np.float64), self._atoms, self._points_t1, False,
                                                    EXP_FLOOR, SPARSE_TAIL, self._headroom, _EPS))

    @functools.cached_property
    def _tree(self) -> spatial.cKDTree:
        """A k-d tree of the points (built on first use of :meth:`local_score`)."""
        return spatial.cKDTree(self.points)

    @functools.cached_property
    def _f32(self) -> _Precision:
        """The float32 kernel's tables, the float64 ones rounded (built on first use)."""
        headroom = (_HEADROOM_LOG_32 - float(np.log(self.size))
                    - float(np.log(max(1.0, np.abs(self.points).max()))))
        return _Precision(np.dtype(np.float32), self._atoms.astype(np.float32), self._points_1.astype(np.float32),
                          True, EXP_FLOOR_32, SPARSE_TAIL_32, headroom, _EPS_32)

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

    @property
    def _extent(self) -> float:
        return self._max_norm

    def _rows_per_block(self, n: int) -> int:
        """Rows per block for n queries: at most BLOCK_ELEMENTS / N, and equal blocks (a short last
        block runs the products less efficiently: about 4% of W2's score)."""
        largest = max(1, BLOCK_ELEMENTS // self.size)
        blocks = max(1, -(-n // largest))
        return max(1, -(-n // blocks))

    # -- support geometry ---------------------------------------------------------------
    def nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the nearest support point and the distance to it, for each row of x.

        x : ndarray, shape (n, d) -> (index (n,), distance (n,)). Candidates come from the matrix
        product expansion |x|^2 - 2 x.x_i + |x_i|^2; the reported distance is recomputed
        directly as |x - x_i| so it has no cancellation error.
        """
        x = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore"):
            index, dist = self._nearest(x)
        return index, _checked(dist, "the distance to the nearest point", x, None)

    def _nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = x.shape[0]
        index = np.empty(n, dtype=np.intp)
        step = self._rows_per_block(n)
        for start in range(0, n, step):
            block = x[start:start + step]
            # argmin_i |x - x_i|^2 = argmin_i (|x_i|^2 / 2 - x.x_i)
            gram = block @ self.points.T
            np.subtract(self._half_sq_norms, gram, out=gram)
            index[start:start + step] = np.argmin(gram, axis=1)
        dist = row_norms(x - self.points[index])
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

    def _partition(self, cells: int) -> Partition:
        """One cell per support point (its Voronoi cell), mass its weight; cell of x = the index of
        its nearest point (:meth:`nearest`)."""
        return Partition(self.weights, lambda x: self._nearest(x)[0], self.d)

    def _support_probes(self, directions: np.ndarray) -> np.ndarray:
        return self.points

    def moments(self):
        mean = self.weights @ self.points
        centered = self.points - mean
        return mean, (centered * self.weights[:, None]).T @ centered

    # -- diffused quantities --------------------------------------------------------------
    def _queries(self, x: np.ndarray, alpha: float, var: float, shift: np.ndarray | None = None,
                 dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray:
        """[alpha/var x, 1, -alpha^2/var, -shift], shape (n, d + 3): the query side of the logit
        product (see :meth:`_logits`); ``shift`` defaults to 0. Each entry is formed in float64 and
        rounded once to ``dtype``."""
        n, d = x.shape
        query = np.empty((n, d + 3), dtype=dtype)
        np.multiply(x, alpha / var, out=query[:, :d])
        query[:, d] = 1.0
        query[:, d + 1] = -alpha * alpha / var
        if shift is None:
            query[:, d + 2] = 0.0
        else:
            np.negative(shift, out=query[:, d + 2])
        return query

    def _posterior_blocks(self, x: np.ndarray, alpha: float, var: float, *, exact_zeros: bool = False):
        """Yield (rows, weights) over row blocks of x: unnormalized posterior weights, shape (m, N).

        weights[j, i] = exp(max(z_ji - max_i z_ji, EXP_FLOOR)) with z_ji = logit_i(x_j) - logit_ref(x_j)
        (see :meth:`_logits`; rows of the extreme path form the same differences in units of var,
        see :meth:`_extreme_weights`). The max, shift and exp run over sub-blocks small enough to stay
        in cache. ``weights`` is a reused buffer; ``rows`` a slice or an index array into x.
        ``exact_zeros``: report the weights clamped at EXP_FLOOR (they stand for weights that
        underflow) as 0, for callers that expose probabilities or draw from them.
        """
        n = x.shape[0]
        step = self._rows_per_block(n)
        sub = max(1, SOFTMAX_ELEMENTS // self.size)
        buffer = np.empty((min(step, n), self.size))
        path = np.where(self._extreme_rows(x, alpha, var), _EXTREME, _NORMAL)
        for group, group_path in _row_groups(path):
            xg = x[group]
            for start in range(0, xg.shape[0], step):
                block = slice(start, min(start + step, xg.shape[0]))
                out = buffer[:block.stop - block.start]
                if group_path == _EXTREME:
                    weights = self._extreme_weights(xg[block], alpha, var, out=out)[1]
                else:
                    weights = self._logits(xg[block], alpha, var, out=out)
                    self._dense_softmax(weights, sub)
                if exact_zeros:
                    weights[weights <= _EXP_FLOOR_VALUE] = 0.0
                yield _compose(group, block), weights

    def _logits(self, x: np.ndarray, alpha: float, var: float, *, out: np.ndarray,
                shift: np.ndarray | None = None, prec: _Precision | None = None) -> np.ndarray:
        """z[j, i] = logit_i(x_j) - logit_ref(x_j) - shift_j, shape (m, N), written to ``out``.

        logit_i(x) = log w_i - |x - alpha x_i|^2 / (2 var); ref is the atom nearest the centre. The
        difference is linear in the atom: one matrix product [alpha/var x, 1, -alpha^2/var, -shift] @
        [x_i - x_ref, log w_i - log w_ref, (|x_i|^2 - |x_ref|^2) / 2, 1]^T, whose right factor is fixed
        at construction, so a call does no O(N d) work besides the products. Centring on x_ref also
        keeps the terms of the products small. Without a shift, z[j, ref] = 0 exactly. ``prec``
        (default float64) gives the product's dtype and its table of atoms.
        """
        prec = self._f64 if prec is None else prec
        return np.matmul(self._queries(x, alpha, var, shift, prec.dtype), prec.atoms.T, out=out)

    def _extreme_rows(self, x: np.ndarray, alpha: float, var: float, limit: float = LOGIT_LIMIT) -> np.ndarray:
        """Rows that take the extreme path, shape (n,) bool: those where the bound
        alpha/var |x| max|x_i - x_ref| + alpha^2/var max|(|x_i|^2 - |x_ref|^2)| / 2 + max|log w_i - log w_ref|
        on |logit_i - logit_ref| exceeds ``limit`` (LOGIT_LIMIT; or overflows)."""
        bound = (alpha / var) * row_norms(x) * self._ref_reach
        bound += (alpha * alpha / var) * self._half_sq_reach + self._log_w_reach
        return ~(bound <= limit)

    def _extreme_weights(self, x: np.ndarray, alpha: float, var: float, *, out: np.ndarray):
        """The extreme path's weights: (top (m,), weights (m, N) written to ``out``).

        q_i = var (logit_i - logit_ref) = alpha x . (x_i - x_ref) + var (log w_i - log w_ref)
        - alpha^2 (|x_i|^2 - |x_ref|^2) / 2 by the product of :meth:`_logits` with the query scaled
        by var (finite where the logits are not); weights_i = exp(max((q_i - q_top) / var, EXP_FLOOR)),
        top = argmax_i q_i the index of the atom with the largest logit (its weight is 1).
        """
        m, d = x.shape
        query = np.empty((m, d + 3))
        np.multiply(x, alpha, out=query[:, :d])
        query[:, d] = var
        query[:, d + 1] = -alpha * alpha
        query[:, d + 2] = 0.0
        q = np.matmul(query, self._atoms.T, out=out)
        top = np.argmax(q, axis=1)
        q -= q[np.arange(m), top][:, None]
        q *= 1.0 / var  # <= 0; rounds to -inf where the weight is 0 anyway
        np.maximum(q, EXP_FLOOR, out=q)
        np.exp(q, out=q)
        return top, q

    def _top_logit_scaled(self, x: np.ndarray, top: np.ndarray, alpha: float, var: float,
                          k: np.ndarray | int = 0) -> np.ndarray:
        """4^-k logit_top = 4^-k log w_top - (2^-k |x - alpha x_top| / sqrt(2 var))^2, shape (m,), with an
        overflow-free norm (-inf where even the scaled square overflows)."""
        k = np.asarray(k)
        gap = row_norms(x - alpha * self.points[top])
        gap = np.ldexp(gap, -k) * np.sqrt(0.5 / var)
        return np.ldexp(np.log(self.weights[top]), -2 * k) - gap * gap

    @staticmethod
    def _dense_softmax(z: np.ndarray, sub: int, top: np.ndarray | None = None, floor: float = EXP_FLOOR) -> None:
        """In place: z[j] <- exp(max(z[j] - top_j, floor)) with top_j = max z[j] (computed here
        unless given), over sub-blocks of ``sub`` rows so each pass reads from cache. ``floor`` is
        EXP_FLOOR in float64, EXP_FLOOR_32 in float32."""
        for lo in range(0, z.shape[0], sub):
            part = z[lo:lo + sub]
            if top is None:
                part -= part.max(axis=1, keepdims=True)
            else:
                part -= top[lo:lo + sub, None]
            # A read-only min is cheaper than an unconditional clamp where nothing underflows.
            if part.min() < floor:
                np.maximum(part, floor, out=part)
            np.exp(part, out=part)

    def _fast_shift(self, x: np.ndarray, alpha: float, var: float, prec: _Precision | None = None):
        """Which rows may take the fast path, and their shift: (log_scale (n,), shift (n,), fast (n,)).

        With c the centre and R = max_i |x_i - c|, the triangle inequality gives D - alpha R <=
        |x - alpha x_i| <= D + alpha R (D = |x - alpha c|), hence lo <= logit_i(x) <= hi for every atom.
        A row is fast when some shift s puts every z_i = logit_i - logit_ref - s in [prec.exp_floor,
        prec.headroom]: then no exp(z) is subnormal (NumPy's slow path) or lost, and no exp(z) or
        weighted sum overflows, so no max pass is needed. Both ends keep a slack for the rounding of
        these bounds (float64) and of the logit product (in prec.dtype). log_scale = logit_ref + s.
        """
        prec = self._f64 if prec is None else prec
        diff = x - alpha * self._ref_point
        ref_sq = np.einsum("ij,ij->i", diff, diff)
        ref_logit = self._log_w_ref - ref_sq / (2.0 * var)
        # D^2 = |diff - alpha v|^2 with v = centre - x_ref, expanded: one product with v instead of a
        # second (n, d) pass; its rounding, <= 4 eps (|diff| + alpha |v|)^2, is in the slack below.
        ref_dist = np.sqrt(ref_sq)
        dist = np.sqrt(np.maximum(ref_sq - 2.0 * alpha * (diff @ self._center_from_ref)
                                  + alpha * alpha * self._center_from_ref_sq, 0.0))
        reach = alpha * self._radius
        hi = self._log_w_max - np.maximum(dist - reach, 0.0) ** 2 / (2.0 * var)
        lo = self._log_w_min - (dist + reach) ** 2 / (2.0 * var)
        low_shift = hi - ref_logit - prec.headroom  # smallest shift without overflow
        high_shift = lo - ref_logit - prec.exp_floor  # largest shift without subnormal weights
        # Rounding: the bounds are sums of terms of size |hi|, |lo|, |ref_logit| and D^2 / var; the
        # logit product's (d + 3)-term dot products have terms of size at most alpha/var |x| |x_i -
        # x_ref| (|x| <= |diff| + alpha |x_ref|), alpha^2/var max |(|x_i|^2 - |x_ref|^2)| / 2 and
        # max |log w_i - log w_ref|, plus the shift, each rounded to prec.dtype first (2 (d + 3) eps
        # covers the d + 5 roundings). The final 1.0 is a margin of one nat on top.
        center_reach = alpha * np.sqrt(self._center_from_ref_sq)
        xnorm = ref_dist + alpha * self._ref_norm
        slack = (8.0 * _EPS * (np.abs(hi) + np.abs(lo) + 2.0 * np.abs(ref_logit)
                               + (ref_dist + center_reach + reach) ** 2 / var)
                 + 2.0 * (self.d + 3) * prec.eps * (alpha / var * xnorm * self._ref_reach
                                                + alpha * alpha / var * self._half_sq_reach
                                                + self._log_w_reach + np.abs(low_shift) + np.abs(high_shift))
                 + 1.0)
        low_shift += slack
        high_shift -= slack
        with np.errstate(invalid="ignore"):  # inf - inf for queries too far out: not fast
            fast = low_shift <= high_shift
        shift = np.where(fast, np.minimum(np.maximum(0.0, low_shift), high_shift), 0.0)
        return ref_logit + shift, shift, fast

    def _weight_sums(self, x: np.ndarray, alpha: float, var: float, *, first_moment: bool,
                     prec: _Precision | None = None):
        """Posterior normalizer and (optionally) first moment, up to a known per-row scale.

        Returns (log_scale (n,), sums): sums[j, :d] = sum_i u_ji x_i and sums[j, d] = sum_i u_ji
        (shape (n, d + 1)) if ``first_moment``, else only the normalizer (shape (n,)), where
        u_ji = exp(logit_i(x_j) - log_scale_j). Each row takes one of three paths:

        - fast (the bounds of :meth:`_fast_shift` hold): u = exp(z) with a shift known before the
          product, so no max pass. Costs the two products and one exp.
        - sparse (the others, per block, when at most SPARSE_DENSITY of the weights lie within
          SPARSE_TAIL + log N of their row's largest): only those weights are formed and summed
          (scipy.sparse); the dropped ones add up to at most exp(-SPARSE_TAIL) of the largest.
        - dense: the shifted, clamped softmax of :meth:`_dense_softmax`.
        - extreme (rows of :meth:`_extreme_rows`): :meth:`_extreme_weights`, with log_scale the top
          atom's own logit (-inf where it is below -1.8e308).

        ``prec`` (default float64) is the dtype of the logits, the weights and the dense moment
        product, with its clamp and sparse cut; ``sums`` and ``log_scale`` are float64 either way,
        and the sparse path's moment multiplies by the float64 points. float32 takes no extreme
        rows (the caller sends rows beyond LOGIT_LIMIT_32 to float64).
        """
        n, d = x.shape
        prec = self._f64 if prec is None else prec
        log_scale, shift, fast = self._fast_shift(x, alpha, var, prec)
        path = np.where(fast, _FAST, _NORMAL)
        # float32 callers have sent the rows beyond LOGIT_LIMIT_32 (< LOGIT_LIMIT) to float64 already.
        if prec is self._f64:
            extreme = self._extreme_rows(x, alpha, var)
            if extreme.any():
                path[extreme] = _EXTREME
        sums = np.empty((n, d + 1)) if first_moment else np.empty(n)
        step = self._rows_per_block(n)
        buffer = np.empty((min(step, n), self.size), dtype=prec.dtype)
        if first_moment:
            moment = np.empty((min(step, n), d + 1) if prec.moment_by_rows else (d + 1, min(step, n)),
                              dtype=prec.dtype)
        for group, group_path in _row_groups(path):
            xg = x[group]
            for start in range(0, xg.shape[0], step):
                block = slice(start, min(start + step, xg.shape[0]))
                m = block.stop - block.start
                out_rows = _compose(group, block)
                if group_path == _FAST:
                    z = self._logits(xg[block], alpha, var, out=buffer[:m], shift=shift[out_rows], prec=prec)
                    np.exp(z, out=z)
                elif group_path == _EXTREME:
                    top, z = self._extreme_weights(xg[block], alpha, var, out=buffer[:m])
                    log_scale[out_rows] = self._top_logit_scaled(xg[block], top, alpha, var)
                else:
                    z = self._logits(xg[block], alpha, var, out=buffer[:m], prec=prec)
                    top = z.max(axis=1)
                    log_scale[out_rows] += top
                    if self._sparse_sums(z, top, sums, out_rows, first_moment, prec.sparse_tail):
                        continue
                    self._dense_softmax(z, max(1, SOFTMAX_ELEMENTS // self.size), top, prec.exp_floor)
                if first_moment:
                    # The weighted sums and, in the last column, the normalizer. Layout by dtype, each
                    # the faster one including the copy into the float64 (n, d + 1) sums (OpenBLAS 0.3.31
                    # on a 2-core Zen 5, ratios of u @ [points, 1] to [points^T; 1] @ u^T plus the
                    # transposing copy, for (m, N, d) from (256, 1000, 3072) to (2000, 10^4, 16)):
                    # float32 0.83-0.97 (Haswell kernel), 0.56-0.81 (SkylakeX); float64 0.84-1.02
                    # (Haswell) but 0.76-1.47 (SkylakeX), where the transposed layout wins for small d.
                    if prec.moment_by_rows:
                        sums[out_rows] = np.matmul(z, prec.moment, out=moment[:m])
                    else:
                        np.matmul(prec.moment, z.T, out=moment[:, :m])
                        sums[out_rows] = moment[:, :m].T
                else:
                    sums[out_rows] = z.sum(axis=1)
        return log_scale, sums

    def _sparse_sums(self, z, top, sums, out_rows, first_moment: bool, tail: float = SPARSE_TAIL) -> bool:
        """The sparse path of :meth:`_weight_sums` for one block: z are the block's logits as
        :meth:`_logits` returns them, ``top`` their row maxima; the weights are exp(z - top), kept
        within e^-(tail + log N) of the largest (``tail``: SPARSE_TAIL, SPARSE_TAIL_32 in float32).
        Writes the block's rows of ``sums`` and returns True, or returns False without writing
        anything if more than SPARSE_DENSITY of the weights would be kept. The moment is the CSR
        product with the float64 points whatever the dtype of z: near t = 0 the denoiser must
        resolve the points themselves, not their float32 roundings (see :meth:`score`)."""
        m, size = z.shape
        # Where |top| > 2^53 (tail + log N) the subtraction rounds to top itself; the largest
        # weight must be kept all the same.
        cut = np.minimum(top - (tail + float(np.log(size))), np.nextafter(top, -np.inf))
        kept = z > cut[:, None]
        # Counting first spares a dense block the index scan (W2 float32: 0.09 ms against 0.8 ms).
        if np.count_nonzero(kept) > SPARSE_DENSITY * z.size:
            return False
        keep = np.flatnonzero(kept)
        row, col = np.divmod(keep, size)
        u = np.exp(z.ravel()[keep] - top[row])
        if first_moment:
            indptr = np.zeros(m + 1, dtype=np.intp)
            np.cumsum(np.bincount(row, minlength=m), out=indptr[1:])
            sums[out_rows] = sparse.csr_array((u, col, indptr), shape=(m, size)) @ self._points_1
        else:
            sums[out_rows] = np.bincount(row, weights=u, minlength=m)
        return True

    def _log_density(self, x, alpha, var):
        log_scale, total = self._weight_sums(x, alpha, var, first_moment=False)
        out = log_scale + np.log(total) - log_normalization(self.d, var)
        bad = ~np.isfinite(out)
        if bad.any():  # |x - alpha x_ref|^2 overflowed in log_scale: the careful evaluation
            rows = np.flatnonzero(bad)
            out[rows] = self._log_density_scaled(x[rows], alpha, var, np.zeros(rows.size, dtype=np.int64))
        return out

    def _log_density_scaled(self, x, alpha, var, k):
        """4^-k [logit_top + log sum_i exp(logit_i - logit_top) - (d/2) log(2 pi var)] by the extreme path."""
        log_p = np.empty(x.shape[0])
        step = self._rows_per_block(x.shape[0])
        buffer = np.empty((min(step, x.shape[0]), self.size))
        for start in range(0, x.shape[0], step):
            rows = slice(start, min(start + step, x.shape[0]))
            top, weights = self._extreme_weights(x[rows], alpha, var, out=buffer[:rows.stop - rows.start])
            rest = np.log(weights.sum(axis=1)) - log_normalization(self.d, var)
            log_p[rows] = self._top_logit_scaled(x[rows], top, alpha, var, k[rows]) + np.ldexp(rest, -2 * k[rows])
        return log_p

    def _denoise(self, x, alpha, var):
        d = self.d
        _, sums = self._weight_sums(x, alpha, var, first_moment=True)
        return sums[:, :d] / sums[:, d:]

    def score(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """grad_x log p_t(x) = (alpha(t) E[X_0 | X_t = x] - x) / sigma(t)^2. x : (n, d) -> (n, d).

        Other dtypes of x are converted to float64 and computed as in :meth:`Measure.score`. For a
        float32 ndarray x the result is float32, and the kernel runs in float32: the logit product,
        the shift, clamp (at EXP_FLOOR_32) and exp of the softmax, and the dense moment product. Kept
        in float64, at O(n d) cost: the per-row bounds and shifts of the fast path, the sums once
        formed (their (n, d + 1) result), the ratio E[X_0 | x] = sums / normalizer and Tweedie's
        (alpha E[X_0 | x] - x) / sigma^2, which cancels as x approaches alpha x_i; and the sparse
        path's moment (near t = 0), which multiplies by the float64 points: there the score resolves
        E[X_0 | x] to about sigma / sqrt(d), finer than the float32 rounding of the points (u |x_i|)
        once sigma < ~1e-6 |x_i|. Rows whose logits could exceed LOGIT_LIMIT_32 use the float64
        kernel. Each row of the result is the float64 formula's value to within eps_32 times a
        condition number (the bound is derived in tests/measures/test_pointcloud.py); it is a
        different rounding of the same formula, so float32 and float64 scores of the same x differ.

        Raises ValueError where the score is beyond float32's range (3.4e38) or float64's.
        """
        if not (isinstance(x, np.ndarray) and x.dtype == np.float32):
            return super().score(t, x, process=process)
        alpha, var = self._kernel(t, process)
        x64 = _validate.points(x, self.d)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            score = self._score_single(x64, alpha, var)
        with np.errstate(over="ignore"):
            out = score.astype(np.float32)
        # One finiteness pass (over the float32 result, which is non-finite wherever the float64 one
        # is); the float64 check runs only to name the failure.
        bad = _nonfinite_rows(out)
        if bad.size:
            _checked(score, "the score", x64, (t, process, var))
            raise ValueError(f"the score overflows float32 at t={t!r} for {process!r} (sigma(t)^2 = {var:.3g}): it "
                             f"is beyond +-{float(np.finfo(np.float32).max):.3g} in {bad.size} of {x.shape[0]} "
                             f"rows (first: row {int(bad[0])}); pass float64 input")
        return out

    def _score_single(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """The score of :meth:`score` for float32 queries (given as float64 x, exact), float64 (n, d)."""
        d = self.d
        extreme = self._extreme_rows(x, alpha, var, LOGIT_LIMIT_32)
        if extreme.any():
            out = np.empty(x.shape)
            rows = np.flatnonzero(extreme)
            out[rows] = self._score(x[rows], alpha, var)
            rest = np.flatnonzero(~extreme)
            if rest.size:
                out[rest] = self._score_single(x[rest], alpha, var)
            return out
        _, sums = self._weight_sums(x, alpha, var, first_moment=True, prec=self._f32)
        # (alpha sums / normalizer - x) / var in three passes over (n, d); alpha / normalizer <= e^30
        # alpha (the largest weight is at least e^EXP_FLOOR_32), so the factor cannot overflow.
        out = sums[:, :d]
        out *= alpha / sums[:, d:]
        out -= x
        out /= var
        return out

    def local_score(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS,
                    tail: float = LOCAL_TAIL) -> LocalScore:
        """The score from the atoms near each query only, with a certified bound on what is left out
        (for the late steps of a reverse SDE, where the posterior sits on a few atoms).

        With y = x / alpha, logit_i = log w_i - alpha^2 |y - x_i|^2 / (2 sigma^2). Let x_0 be the atom
        nearest y, at distance r_0 (a k-d tree query, O(log N) for data of low intrinsic dimension), so
        Z >= w_0 exp(-alpha^2 r_0^2 / (2 sigma^2)). Every atom beyond r with r^2 = r_0^2 + 2 sigma^2
        (tail + log(1 / w_0)) / alpha^2 has a weight below exp(-alpha^2 r^2 / (2 sigma^2)) times its w_i;
        these add up to Z_out <= W_out exp(-alpha^2 r^2 / (2 sigma^2)) with W_out = 1 - sum_in w_i, at
        most e^-tail of Z. The atoms within r (a ball query) are summed exactly (log-sum-exp on
        directly formed differences); ``LocalScore.tail`` is the bound W_out exp(-alpha^2 r^2 /
        (2 sigma^2)) / Z_in evaluated with the atoms found, and ``LocalScore.error`` what it implies for
        the score. Rows whose ball holds most of the atoms (t not small) cost O(N d) each: use
        :meth:`score` there.

        x : (n, d) -> :class:`LocalScore` with score (n, d). tail > 0 (nats). float64 throughout.
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        tail = _validate.positive_real(tail, "tail")
        n, d = x.shape
        y = x / alpha
        r0, nearest = self._tree.query(y, k=1)
        log_w = np.log(self.weights)
        radius_sq = r0 * r0 + 2.0 * var * (tail - log_w[nearest]) / (alpha * alpha)
        balls = self._tree.query_ball_point(y, np.sqrt(radius_sq), return_sorted=False)
        counts = np.fromiter((len(b) for b in balls), dtype=np.intp, count=n)
        index = np.fromiter((i for b in balls for i in b), dtype=np.intp, count=int(counts.sum()))
        row = np.repeat(np.arange(n), counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        gap = x[row] - alpha * self.points[index]
        logits = log_w[index] - np.einsum("ij,ij->i", gap, gap) / (2.0 * var)
        top = np.maximum.reduceat(logits, starts)
        u = np.exp(logits - top[row])
        total = np.add.reduceat(u, starts)
        denoised = np.add.reduceat(u[:, None] * self.points[index], starts) / total[:, None]
        score = (alpha * denoised - x) / var
        log_z_in = top + np.log(total)
        w_out = np.maximum(1.0 - np.add.reduceat(self.weights[index], starts), 0.0)
        with np.errstate(divide="ignore"):
            log_tail = (np.log(w_out) - alpha * alpha * (1.0 - LOCAL_RADIUS_SLACK) * radius_sq / (2.0 * var)
                        - log_z_in)
        tail_mass = np.exp(np.minimum(log_tail, 0.0))
        spread = row_norms(denoised - (self._center_from_ref + self._ref_point)) + self._radius
        with np.errstate(divide="ignore"):
            error = alpha / var * tail_mass / (1.0 - tail_mass) * spread
        return LocalScore(_checked(score, "the local score", x, (t, process, var)), tail_mass, error, counts)

    @property
    def _posterior_draws(self) -> int:
        return 1

    def _posterior_from_uniforms(self, x, alpha, var, u):
        """points[I], I ~ P(X_0 = x_i | X_t = x) drawn by :meth:`_posterior_index` from u[:, 0]. (n, d) -> (n, d)."""
        return self.points[self._posterior_index(x, alpha, var, u[:, 0])]

    def _posterior_index(self, x: np.ndarray, alpha: float, var: float, uniforms: np.ndarray) -> np.ndarray:
        """I_j ~ P(X_0 = x_i | X_t = x_j), the first i whose cumulative posterior weight exceeds
        uniforms_j times the total (inverse CDF on the log-sum-exp weights). x : (n, d), uniforms :
        (n,) in [0, 1) -> (n,) indices. Weights that underflow in float64 (below 1e-304 of the
        largest) are never drawn."""
        index = np.empty(x.shape[0], dtype=np.intp)
        for rows, weights in self._posterior_blocks(x, alpha, var, exact_zeros=True):
            cdf = np.cumsum(weights, axis=1, out=weights)
            level = uniforms[rows] * cdf[:, -1]
            # first i with cdf_i > level; level < cdf[-1] unless it rounds up to it, hence the cap.
            index[rows] = np.minimum(np.count_nonzero(cdf <= level[:, None], axis=1), self.size - 1)
        return index

    def posterior(self, t: float, x: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """Posterior probabilities P(X_0 = x_i | X_t = x), shape (n, N) (CLAIMS.md C1, C3).

        pi_i(x) = w_i N(x; alpha x_i, var I) / p_t(x). Evaluated by log-sum-exp.
        """
        alpha, var = self._kernel(t, process)
        x = _validate.points(x, self.d)
        out = np.empty((x.shape[0], self.size))
        with np.errstate(over="ignore", invalid="ignore"):
            for rows, weights in self._posterior_blocks(x, alpha, var, exact_zeros=True):
                out[rows] = weights / weights.sum(axis=1, keepdims=True)
        return _checked(out, "the posterior", x, (t, process, var))

    def posterior_sample(self, t: float, x: np.ndarray, rng: np.random.Generator, *,
                         process: ForwardProcess = _DEFAULT_PROCESS) -> np.ndarray:
        """One draw X_0 ~ law(X_0 | X_t = x) per row of x: the drawn points, shape (n, d) (CLAIMS.md §2).

        points[I] with I from :meth:`posterior_index` (one uniform per row from ``rng``, in row order).
        """
        return self.points[self.posterior_index(t, x, rng, process=process)]

    def posterior_index(self, t: float, x: np.ndarray, rng: np.random.Generator, *,
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
        uniforms = rng.random(x.shape[0])  # one per row, in row order, whatever the blocks
        with np.errstate(over="ignore", invalid="ignore"):
            for rows, weights in self._posterior_blocks(x, alpha, var, exact_zeros=True):
                cdf = np.cumsum(weights, axis=1, out=weights)
                u = uniforms[rows] * cdf[:, -1]
                # first i with cdf_i > u; u < cdf[-1] unless u rounds up to it, hence the cap.
                index[rows] = np.minimum(np.count_nonzero(cdf <= u[:, None], axis=1), self.size - 1)
        return index


def _row_groups(path: np.ndarray):
    """Yield (rows, path) for each path value present in ``path`` (shape (n,)): slice(None) when all
    rows agree (no gather), else index arrays."""
    first = path[0] if path.size else _NORMAL
    if path.size == 0 or (path == first).all():
        yield slice(None), int(first)
        return
    for value in (_FAST, _NORMAL, _EXTREME):
        rows = np.flatnonzero(path == value)
        if rows.size:
            yield rows, value


def _compose(group, block: slice):
    """Rows of the full query array addressed by ``block`` within ``group`` (see _row_groups)."""
    return block if isinstance(group, slice) else group[block]
