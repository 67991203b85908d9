"""The k-sphere with the uniform (area) law or a von Mises-Fisher law (CLAIMS.md §2).

Geometry. With p = k + 1, a center c in R^d, a radius r > 0 and a frame F (d x p, orthonormal
columns), the support is M = {c + r F u : u in S^{p-1}} (S^{p-1} the unit sphere of R^p, which is
the k-sphere S^k). The law of u is uniform on S^{p-1} (kappa = 0) or von Mises-Fisher,

    f(u) = C_p(kappa) exp(kappa nu . u)  w.r.t. surface area,
    C_p(z) = z^{p/2-1} / ((2 pi)^{p/2} I_{p/2-1}(z)),   C_p(0) = 1 / area(S^{p-1}),

with mean direction nu (a unit vector in frame coordinates) and concentration kappa >= 0.

Diffused law (CLAIMS.md §2; the formulas are our derivation). For the kernel N(alpha x0, var I)
put y = x - alpha c, z = F^T y (shape (p,)), y_perp = y - F z, b = alpha r |z| / var and
m = kappa nu + alpha r z / var. Because |F u| = 1,

    |x - alpha (c + r F u)|^2 = |y|^2 + alpha^2 r^2 - 2 alpha r z . u,

so the posterior of u given X_t = x is vMF(m / |m|, |m|) and, with A_p(z) = I_{p/2}(z) / I_{p/2-1}(z),

    E[X_0 | X_t = x] = c + r A_p(|m|) F m / |m|,
    log p_t(x) = -(d/2) log(2 pi var) - (|y|^2 + alpha^2 r^2) / (2 var) + log C_p(kappa) - log C_p(|m|).

Numerics. Near the sphere at small t both -(|y|^2 + alpha^2 r^2)/(2 var) and |m| are huge and
nearly cancel, and the score (alpha D - x)/var divides a nearly cancelling difference by var. The
code never forms those differences: with ell(z) = log C_p(z) + z (which grows only like log z),

    log p_t(x) = -(d/2) log(2 pi var) - ((|z| - alpha r)^2 + |y_perp|^2) / (2 var)
                 + (|m| - b - kappa) + ell(kappa) - ell(|m|),
    |m| - b - kappa = -2 kappa b (1 - cos) / (|m| + b + kappa),   1 - cos = |z/|z| - nu|^2 / 2,

and the score is assembled from its off-span part -y_perp / var, its tangential part and its radial
part, in which 1 - A_p(|m|) is evaluated directly (never as 1 minus a number close to 1).

The kernels A_p and ell are those of :mod:`theory.measures.vmf` (accurate to 1e-13 relative for
every z >= 0).

Evaluation is vectorized over rows, column by column on (n,) arrays, in row blocks of 8192 (small
temporaries: no page faults, cache-resident); Sphere(2, 5).score on 10^5 points near M costs about
10-15 elementwise passes over x (benchmarks/test_bench_measures.py bounds it by 20).

Extreme inputs (our derivation). Rows where the fast path would overflow or lose its meaning are
evaluated again by :meth:`Sphere._careful`: rows with b >= _HUGE_CONCENTRATION (there |m| may
overflow, and 1 - A_p = (p - 1)/(2|m|) to far below rounding), and rows whose fast result is not
finite (a square of |x| ~ 1e154 or more, or alpha r A_p / sigma^2 times 1/|z| near the center at
tiny sigma^2). It uses overflow-free norms and, for those b, the ratios zeta = b/|m| and kappa/b and
log b = log(alpha r) + log|z| - log sigma^2 instead of |m|:

    alpha r (1 - A_p) / sigma^2 = ((p - 1)/2) zeta / |z|,   alpha r A_p kappa / (|m| sigma^2) = kappa zeta / |z|,
    ell(|m|) = (v + 1/2) log(|m| / (2 pi)),   |m| - b - kappa = -2 kappa (1 - cos) / (1/zeta + 1 + kappa/b).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import KW_ONLY, dataclass

import numpy as np

from theory import _validate
from theory.measures import vmf
from theory.measures.base import _SQUARE_MAX, _SQUARE_MIN, Measure, Partition, log_normalization, row_norms

# Row blocks of the diffused-law evaluations: at most 8192 rows and 2^16 entries of (rows, d)
# arrays (at least 256 rows): temporaries of <= 64 KiB stay below glibc's mmap threshold (128 KiB)
# and in L2. Unblocked, 10^5 points made ~2000 page faults per call (20 ms instead of 1 ms).
_BLOCK_ROWS = 8192
_BLOCK_ELEMENTS = 2**16
_BLOCK_ROWS_MIN = 256
# Below this magnitude a number can be squared (and summed with a few others) without overflow.
_SQUARE_SAFE = 1e150
# Bound on |z|, 1/|z|, kappa, 1/sigma^2 and alpha r / sigma^2 under which a block of the fast path
# provably neither overflows nor reaches _HUGE_CONCENTRATION, so it needs no checks (see Sphere._tame).
_TAME = 1e100
_NO_ROWS = np.empty(0, dtype=np.intp)
# Posterior concentrations b = alpha r |z| / sigma^2 from which the careful path takes over: below,
# |m|, 1/|m| and the kernels are finite and normal; above, the expansion's terms beyond
# (p - 1)/(2|m|) are below 1e-290 relative.
_HUGE_CONCENTRATION = 1e300







































def _flagged_rows(b: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Indices of the rows the careful path must redo: b >= _HUGE_CONCENTRATION (or NaN), or a
    non-finite ``value`` (shape (n,); only its sum is taken when all is well)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if not b.size or (b.max() < _HUGE_CONCENTRATION and np.isfinite(value.sum())):
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero(~(b < _HUGE_CONCENTRATION) | ~np.isfinite(value))


# -- the measure ----------------------------------------------------------------------------------
# Tolerance on | |direction| - 1 | for a user-supplied vMF mean direction (the same value as
# _validate.ORTHONORMAL_TOL for frames); the stored direction is then renormalized exactly.
UNIT_NORM_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class Sphere(Measure):
    """The k-sphere {c + r F u : |u| = 1} in R^d, uniform or von Mises-Fisher (CLAIMS.md §2).

    Parameters
    ----------
    k : int
        Intrinsic dimension, 1 <= k <= d - 1 (k = 1 a circle, k = 2 the usual sphere); p = k + 1.
    d : int
        Ambient dimension.
    radius : float, keyword-only
        r > 0.
    center : array_like, shape (d,), keyword-only
        c; default the origin.
    frame : array_like, shape (d, k + 1), keyword-only
        F with orthonormal columns (max |F^T F - I| <= 1e-8); default the first k + 1 standard
        basis vectors, so ``Sphere(k=2, d=5)`` is the uniform unit 2-sphere in the first three
        coordinates of R^5. The stored frame is re-orthonormalized (QR with a positive diagonal,
        a change of about the tolerance at most) so that the closed forms, which use F^T F = I,
        hold to rounding.
    kappa : float, keyword-only
        Concentration >= 0; 0 is the uniform (area) law.
    direction : array_like, shape (k + 1,), keyword-only
        Mean direction nu of the vMF law in frame coordinates (the mode is c + r F nu); required
        when kappa > 0. It must have unit norm within 1e-8: it is not normalized for you, but the
        stored copy is renormalized exactly.

    Stored arrays are read-only copies. Instances compare and hash by identity (``eq=False``).
    """

    k: int
    d: int
    _: KW_ONLY
    radius: float = 1.0
    center: np.ndarray | None = None
    frame: np.ndarray | None = None
    kappa: float = 0.0
    direction: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("k", "d"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        k, d = int(self.k), int(self.d)
        if not 1 <= k <= d - 1:
            raise ValueError(f"k must satisfy 1 <= k <= d - 1, got k={k}, d={d}")
        p = k + 1
        radius = _validate.positive_real(self.radius, "radius")
        center = np.zeros(d) if self.center is None else _validate.vector(self.center, d, "center").copy()
        if self.frame is None:
            basis = np.eye(d)
        else:
            basis, triangle = np.linalg.qr(_validate.orthonormal_frame(self.frame, d, p), mode="complete")
            basis[:, :p] *= np.where(np.diag(triangle) < 0.0, -1.0, 1.0)
        frame = basis[:, :p].copy()
        kappa = self.kappa
        if isinstance(kappa, (bool, np.bool_)) or not isinstance(kappa, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"kappa must be a real number, got {type(kappa).__name__}")
        kappa = float(kappa)
        if not (np.isfinite(kappa) and kappa >= 0.0):
            raise ValueError(f"kappa must be a finite number >= 0, got {kappa!r}")
        direction = None
        if self.direction is not None:
            direction = _validate.vector(self.direction, p, "direction")
            norm = float(np.linalg.norm(direction))
            if not abs(norm - 1.0) <= UNIT_NORM_TOL:
                raise ValueError(
                    f"direction must have unit norm (| |direction| - 1 | <= {UNIT_NORM_TOL}), got norm {norm!r}"
                )
            direction = direction / norm
        elif kappa > 0.0:
            raise ValueError(
                f"direction is required when kappa > 0 (a unit vector of shape ({p},) in frame coordinates), "
                "got None"
            )
        for array in (center, frame, basis) + ((direction,) if direction is not None else ()):
            array.setflags(write=False)
        for name, value in (("k", k), ("d", d), ("radius", radius), ("center", center), ("frame", frame),
                            ("kappa", kappa), ("direction", direction)):
            object.__setattr__(self, name, value)
        # Derived constants: Q = [F, G] completes F to an orthonormal basis of R^d.
        object.__setattr__(self, "_p", p)
        object.__setattr__(self, "_basis", basis)
        object.__setattr__(self, "_standard_frame", bool(np.array_equal(basis, np.eye(d))))
        object.__setattr__(self, "_zero_center", not np.any(center))
        object.__setattr__(self, "_ell_kappa", float(vmf.log_normalizer(p, np.array([kappa]))[0]))

    # -- coordinates ------------------------------------------------------------------------------
    def _coordinates(self, x: np.ndarray, shift: float) -> np.ndarray:
        """u = Q^T (x - shift c), shape (n, d): columns :p are z = F^T y, columns p: the off-span part
        y_perp in the basis G (so |y_perp| is exact, not |y| - |z|). A view of x when possible."""
        y = x if self._zero_center else x - shift * self.center
        return y if self._standard_frame else y @ self._basis

    def _span_norm(self, u: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(|z|, lo, hi): |z| = sqrt(sum_{j < p} u_j^2), shape (n,), accumulated column by column
        (rows whose sum of squares over- or underflows are recomputed by the scaled norm), and the
        smallest and largest sum of squares (1 and 1 for no rows)."""
        total = u[:, 0] * u[:, 0]
        for j in range(1, self._p):
            total += u[:, j] * u[:, j]
        if not total.size:
            return total, 1.0, 1.0
        lo, hi = float(total.min()), float(total.max())
        np.sqrt(total, out=total)
        if not (lo >= _SQUARE_MIN and hi <= _SQUARE_MAX):
            rows = np.flatnonzero(~((total >= math.sqrt(_SQUARE_MIN)) & (total <= math.sqrt(_SQUARE_MAX))))
            total[rows] = row_norms(u[rows, : self._p])
        return total, lo, hi

    def _tame(self, lo: float, hi: float, alpha: float, var: float) -> bool:
        """True when no row of a block can overflow in the fast path nor reach _HUGE_CONCENTRATION:
        |z|^2 in [_TAME^-2, _TAME^2] (``lo``, ``hi``), kappa, 1/sigma^2 and alpha r / sigma^2 at most
        _TAME (then b <= _TAME^2 and every coefficient of the score <= _TAME^3 < 1.8e308), so the
        blocks skip their checks."""
        return (lo >= _TAME**-2 and hi <= _TAME**2 and var >= 1.0 / _TAME and alpha * self.radius <= _TAME * var
                and self.kappa <= _TAME)

    def _perp_square(self, u: np.ndarray) -> np.ndarray:
        """|y_perp|^2 = sum_{j >= p} u_j^2, shape (n,)."""
        total = np.zeros(u.shape[0])
        for j in range(self._p, self.d):
            total += u[:, j] * u[:, j]
        return total

    def _radial(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(|z|, z / |z|) with z = u[:, :p]; rows with z = 0 get e_1 (the first frame direction)."""
        zn = self._span_norm(u)[0]
        positive = zn > 0.0
        zhat = u[:, : self._p] / np.where(positive, zn, 1.0)[:, None]
        if not positive.all():
            zhat[~positive, 0] = 1.0
        return zn, zhat

    def _distance(self, x: np.ndarray) -> np.ndarray:
        """sqrt((|F^T (x - c)| - r)^2 + |off-span part of x - c|^2) (CLAIMS.md §4). (n, d) -> (n,)."""
        u = self._coordinates(x, 1.0)
        radial = self._span_norm(u)[0] - self.radius
        return row_norms(np.column_stack([radial, u[:, self._p:]]))

    def _project(self, x: np.ndarray) -> np.ndarray:
        """c + r F z/|z|, z = F^T (x - c); the axis z = 0 maps to c + r F e_1. (n, d) -> (n, d)."""
        _, zhat = self._radial(self._coordinates(x, 1.0))
        out = self.radius * (zhat @ self.frame.T)
        out += self.center
        return out

    def _tangent(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """F (w - (w . e) e), w = F^T v, e = z/|z| the radial direction at project(x). (n, d) -> (n, d).

        The tangent space of M at c + r F e is F (e^perp in R^p): the frame span minus the radial
        direction (our derivation).
        """
        _, zhat = self._radial(self._coordinates(x, 1.0))
        w = v @ self.frame
        w -= np.einsum("ij,ij->i", w, zhat)[:, None] * zhat
        return w @ self.frame.T

    # -- sampling and moments ---------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """c + r F u, u ~ vMF(nu, kappa) on S^{p-1} (the area-uniform law for kappa = 0) drawn by
        :func:`theory.measures.vmf.sample`. Returns shape (n, d)."""
        nu = self.direction if self.kappa > 0.0 else np.eye(self._p)[0]
        u = vmf.sample(np.broadcast_to(nu, (n, self._p)), np.full(n, self.kappa), rng)
        out = self.radius * (u @ self.frame.T)
        out += self.center
        return out

    @property
    def _posterior_draws(self) -> int:
        return vmf.draws_per_row(self._p)

    def _posterior_from_uniforms(self, x: np.ndarray, alpha: float, var: float, u: np.ndarray) -> np.ndarray:
        """X_0 = c + r F v with v ~ vMF(m/|m|, |m|), m = kappa nu + alpha r z / sigma^2, z = F^T (x - alpha c)
        (CLAIMS.md §2; our derivation), drawn by :func:`theory.measures.vmf.from_uniforms`. (n, d) -> (n, d).

        m is formed as s (kappa / s nu + z) with s = max(kappa, alpha r / sigma^2) (a scale that keeps
        its parts finite); |m| may overflow to inf, where the draw is the mode m/|m|. At m = 0 (the
        center, kappa = 0) the law is uniform.
        """
        p = self._p
        z = self._coordinates(x, alpha)[:, :p]
        gain = alpha * self.radius / var
        if not math.isfinite(gain):  # alpha r / sigma^2 beyond float64: the posterior is the mode z/|z|
            scaled, scale = z.copy(), math.inf
        else:
            scale = max(self.kappa, gain)
            scaled = z * (gain / scale) if scale > 0.0 else z.copy()
            if self.kappa > 0.0:
                scaled += (self.kappa / scale) * self.direction
        norm = row_norms(scaled)
        positive = norm > 0.0
        # m = 0 only where z = 0 and kappa = 0 (uniform law); with gain = inf, z = 0 leaves m = kappa nu
        mean = np.empty_like(scaled)
        mean[:] = self.direction if self.kappa > 0.0 else np.eye(p)[0]
        mean[positive] = scaled[positive] / norm[positive, None]
        concentration = np.full(norm.shape, self.kappa)
        concentration[positive] = scale * norm[positive]
        out = self.radius * (vmf.from_uniforms(mean, concentration, u) @ self.frame.T)
        out += self.center
        return out

    def _partition(self, cells: int) -> Partition:
        """Cells of the frame coordinates v = (project(x) - c) / r, v in S^{p-1}.

        Circle (k = 1): ``cells`` equal arcs [2 pi j / cells, 2 pi (j + 1) / cells) of the angle
        atan2(v_2, v_1); masses 1 / cells (uniform) or the von Mises integrals of
        :func:`theory.measures.vmf.arc_masses`. k >= 2: the 2^p orthants, cell sum_j [v_j > 0] 2^j;
        masses 2^-p (uniform, by symmetry) or, for the vMF law on S^2, the quadratures of
        :func:`theory.measures.vmf.orthant_masses_s2` (error <= 1e-11 each). vMF orthant masses for
        p >= 4 are not available (NotImplementedError).
        """
        p = self._p
        if p == 2:
            edges = np.linspace(0.0, 2.0 * math.pi, cells + 1)
            if self.kappa == 0.0:
                masses = np.full(cells, 1.0 / cells)
            else:
                masses = vmf.arc_masses(math.atan2(self.direction[1], self.direction[0]), self.kappa, edges)

            def cell_of(x: np.ndarray) -> np.ndarray:
                v = self._radial(self._coordinates(x, 1.0))[1]
                angle = np.mod(np.arctan2(v[:, 1], v[:, 0]), 2.0 * math.pi)
                return np.minimum((angle * (cells / (2.0 * math.pi))).astype(np.intp), cells - 1)
        else:
            if self.kappa == 0.0:
                masses = np.full(2**p, 2.0**-p)
            elif p == 3:
                masses = vmf.orthant_masses_s2(self.direction, self.kappa)
            else:
                raise NotImplementedError(f"the orthant masses of a von Mises-Fisher law on S^{p - 1} (k = {self.k} >= 3, "
                                          "kappa > 0) have no exact evaluation here; a uniform sphere or k <= 2 has them")
            powers = 1 << np.arange(p)

            def cell_of(x: np.ndarray) -> np.ndarray:
                v = self._radial(self._coordinates(x, 1.0))[1]
                return (v > 0.0) @ powers

        return Partition(masses, cell_of, self.d)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(E X, Cov X), shapes (d,) and (d, d), for X = c + r F u (our derivation; CLAIMS.md C1).

        Uniform: E X = c, Cov X = r^2 / p F F^T. vMF on S^{p-1}: E u = A_p(kappa) nu and
        E[u u^T] = (A_p/kappa) I + (1 - p A_p/kappa) nu nu^T (its trace is 1, and
        E[(nu . u)^2] = 1 - (p - 1) A_p/kappa from the second derivative of log C_p), so
        E X = c + r A_p F nu and Cov X = r^2 F Cov(u) F^T with
        Cov(u) = (A_p/kappa) I + (Var(nu . u) - A_p/kappa) nu nu^T,
        Var(nu . u) = (1 - A_p)(1 + A_p) - (p - 1) A_p/kappa (A_p = kappa (A_p/kappa) keeps its
        relative precision for small kappa, 1 - A_p for large kappa).
        """
        p, r, frame = self._p, self.radius, self.frame
        if self.kappa == 0.0:
            return self.center.copy(), (r * r / p) * (frame @ frame.T)
        a_over_kappa, one_minus_a = (float(value[0]) for value in vmf.bessel_ratio(p, np.array([self.kappa])))
        a = self.kappa * a_over_kappa
        var_nu = one_minus_a * (1.0 + a) - (p - 1) * a_over_kappa
        nu = self.direction
        cov_u = a_over_kappa * np.eye(p) + (var_nu - a_over_kappa) * np.outer(nu, nu)
        return self.center + r * a * (frame @ nu), r * r * (frame @ cov_u @ frame.T)

    # -- diffused law -----------------------------------------------------------------------------
    def _posterior(self, u: np.ndarray, alpha: float, var: float):
        """Posterior vMF(m/|m|, |m|) of the sphere coordinate given X_t (module docstring).

        u : coordinates, shape (n, d). Returns (zn, inv_zn, b, cos, m_norm), all shape (n,): |z|,
        1/|z| (0 where z = 0, so that zhat = z * inv_zn is 0 there), b = alpha r |z| / var,
        cos = nu . zhat and |m| = sqrt((kappa cos + b)^2 + kappa^2 (1 - cos^2)), the norm of
        m = (kappa cos + b) zhat + kappa (nu - cos zhat); with zhat = 0 (z = 0) this is still
        m = kappa nu. For kappa = 0, cos is None and |m| = b. Last, ``tame`` (see :meth:`_tame`).
        """
        zn, lo, hi = self._span_norm(u)
        tame = self._tame(lo, hi, alpha, var)
        if lo == 0.0:
            with np.errstate(divide="ignore"):
                inv_zn = np.where(zn > 0.0, 1.0 / zn, 0.0)
        else:
            inv_zn = 1.0 / zn
        b = (alpha * self.radius / var) * zn
        if self.kappa == 0.0:
            return zn, inv_zn, b, None, b, tame
        cos = u[:, 0] * self.direction[0]
        for j in range(1, self._p):
            cos += u[:, j] * self.direction[j]
        cos *= inv_zn
        kc = self.kappa * cos + b
        sin2 = (1.0 - cos) * (1.0 + cos)
        np.maximum(sin2, 0.0, out=sin2)
        if b.size and self.kappa + b.max() < _SQUARE_SAFE:
            m_norm = kc * kc
            m_norm += (self.kappa * self.kappa) * sin2
            np.sqrt(m_norm, out=m_norm)
        else:  # squares could overflow; hypot does not
            m_norm = np.hypot(kc, self.kappa * np.sqrt(sin2))
        return zn, inv_zn, b, cos, m_norm, tame

    def _row_blocks(self, n: int) -> list[slice]:
        """Row blocks of at most _BLOCK_ROWS (fewer for large d) covering range(n).

        Blocking keeps every temporary small (<= 64 KiB per (n,) array): they are recycled by the
        allocator instead of being mapped and faulted in on every call, and they stay in cache.
        """
        rows = max(_BLOCK_ROWS_MIN, min(_BLOCK_ROWS, _BLOCK_ELEMENTS // self.d))
        return [slice(start, min(start + rows, n)) for start in range(0, n, rows)]

    def _log_density(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """log p_t(x), x : (n, d) -> (n,) (module docstring; CLAIMS.md §2, our derivation).

        log p_t = -(d/2) log(2 pi var) - ((|z| - alpha r)^2 + |y_perp|^2) / (2 var)
                  + (|m| - b - kappa) + ell(kappa) - ell(|m|),
        |m| - b - kappa = -2 kappa b (1 - cos) / (|m| + b + kappa), 1 - cos = |zhat - nu|^2 / 2,
        ell(z) = log C_p(z) + z; no term is a difference of large numbers.
        """
        out = np.empty(x.shape[0])
        flagged = [self._log_density_block(x[rows], alpha, var, out[rows]) + rows.start
                   for rows in self._row_blocks(x.shape[0])]
        self._redo_carefully(out, flagged, x, alpha, var, "log_density")
        return out

    def _log_density_scaled(self, x, alpha, var, k):
        return self._careful(x, alpha, var, "log_density", k)

    def _redo_carefully(self, out: np.ndarray, flagged: list[np.ndarray], x: np.ndarray, alpha: float,
                        var: float, want: str) -> None:
        """Overwrite the rows of ``out`` that the blocks flagged (see :func:`_flagged_rows`) with
        :meth:`_careful`."""
        rows = np.concatenate(flagged) if len(flagged) > 1 else flagged[0] if flagged else None
        if rows is not None and rows.size:
            out[rows] = self._careful(x[rows], alpha, var, want)

    def _log_density_block(self, x: np.ndarray, alpha: float, var: float, out: np.ndarray) -> np.ndarray:
        u = self._coordinates(x, alpha)
        zn, inv_zn, b, _, m_norm, _ = self._posterior(u, alpha, var)
        np.subtract(zn, alpha * self.radius, out=out)
        out *= out
        out += self._perp_square(u)
        out *= -0.5 / var
        out += self._ell_kappa - log_normalization(self.d, var)
        out -= vmf.log_normalizer(self._p, m_norm)
        if self.kappa > 0.0:
            one_minus_cos = np.zeros(x.shape[0])  # |zhat - nu|^2 / 2
            for j in range(self._p):
                gap = u[:, j] * inv_zn
                gap -= self.direction[j]
                gap *= gap
                one_minus_cos += gap
            one_minus_cos *= 0.5
            out -= (2.0 * self.kappa) * b * one_minus_cos / (m_norm + b + self.kappa)
        return _flagged_rows(b, out)

    def _denoise(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """E[X_0 | X_t = x] = c + r F (A_p(|m|)/|m|) m, m = kappa nu + (alpha r / var) z. (n, d) -> (n, d).

        CLAIMS.md §2 (our derivation); A_p(|m|)/|m| -> 1/p as m -> 0, where the result is c.
        """
        out = np.empty(x.shape)
        flagged = [self._denoise_block(x[rows], alpha, var, out[rows]) + rows.start
                   for rows in self._row_blocks(x.shape[0])]
        self._redo_carefully(out, flagged, x, alpha, var, "denoise")
        return out

    def _denoise_block(self, x: np.ndarray, alpha: float, var: float, out: np.ndarray) -> np.ndarray:
        u = self._coordinates(x, alpha)
        p, r = self._p, self.radius
        _, _, b, _, m_norm, tame = self._posterior(u, alpha, var)
        a_over_m, _ = vmf.bessel_ratio(p, m_norm)
        along_z = a_over_m * (alpha * r / var)  # coefficient of z in A_p m / |m|
        along_nu = a_over_m * self.kappa if self.kappa > 0.0 else None
        # the denoiser is bounded: any overflow is the fast path's
        flagged = _NO_ROWS if tame else _flagged_rows(b, along_z)
        mean = out[:, :p] if self._standard_frame else np.empty((x.shape[0], p))
        for j in range(p):
            np.multiply(u[:, j], along_z, out=mean[:, j])
            if along_nu is not None:
                mean[:, j] += along_nu * self.direction[j]
        if self._standard_frame:
            for j in range(p):  # column by column, as in _score_block
                out[:, j] *= r
                out[:, j] += self.center[j]
            for j in range(p, self.d):
                out[:, j] = self.center[j]
        else:
            np.matmul(mean, self.frame.T, out=out)
            out *= r
            out += self.center
        return flagged

    def _score(self, x: np.ndarray, alpha: float, var: float) -> np.ndarray:
        """grad log p_t(x) = (F w - y_perp) / var, w = alpha r A_p(|m|) m/|m| - z. (n, d) -> (n, d).

        Tweedie (CLAIMS.md §1) with the denoiser above, split so that nothing cancels (our
        derivation): w = w_rad zhat + w_tan with
            w_tan = alpha r (A_p/|m|) kappa (nu - cos zhat),
            w_rad = (alpha r - |z|) - alpha r [(1 - A_p) + A_p (1 - gamma)],
            A_p (1 - gamma) = (A_p/|m|) kappa^2 (1 - cos^2) / (|m| + kappa cos + b)  if kappa cos + b >= 0,
                            = (A_p/|m|) (|m| - kappa cos - b)                         otherwise,
        gamma = (kappa cos + b)/|m| the cosine between m and z. Near M at small var the radial part
        is (alpha r - |z|)/var - alpha r (1 - A_p)/var with 1 - A_p ~ (p - 1)/(2|m|) evaluated
        directly, so no digits are lost beyond the conditioning eps |x| / var of the score. Where
        z = 0, zhat = 0 and cos = 0 give w = kappa alpha r (A_p/|m|) nu = alpha r A_p(kappa) nu,
        the exact value. Work is column by column on (n,) arrays, in row blocks.
        """
        out = np.empty(x.shape)
        flagged = [self._score_block(x[rows], alpha, var, out[rows]) + rows.start
                   for rows in self._row_blocks(x.shape[0])]
        self._redo_carefully(out, flagged, x, alpha, var, "score")
        return out

    def _score_block(self, x: np.ndarray, alpha: float, var: float, out: np.ndarray) -> np.ndarray:
        u = self._coordinates(x, alpha)
        p, kappa = self._p, self.kappa
        ar = alpha * self.radius
        zn, inv_zn, b, cos, m_norm, tame = self._posterior(u, alpha, var)
        a_over_m, loss = vmf.bessel_ratio(p, m_norm, want_a_over_z=kappa > 0.0)  # loss = 1 - A_p, then the bracket
        # Where A_p < 1/2 (|m| small: far inside the sphere or large t) alpha r - |z| and
        # alpha r (1 - A_p) nearly cancel; there the radial coefficient alpha r A_p gamma - |z| is
        # formed directly instead (both terms are then small and of different origin).
        inner = np.flatnonzero(loss > 0.5)
        if inner.size:
            a_inner = vmf.bessel_ratio(p, m_norm[inner])[0] * m_norm[inner]  # A_p with full relative precision
            gamma = 1.0 if kappa == 0.0 else (kappa * cos[inner] + b[inner]) / m_norm[inner]
            direct = ar * a_inner * gamma - zn[inner]
        if kappa > 0.0:
            kc = kappa * cos
            kc += b
            denominator = m_norm + kc
            bend = np.where(kc >= 0.0, (kappa * kappa) * np.maximum((1.0 - cos) * (1.0 + cos), 0.0)
                            / np.where(denominator > 0.0, denominator, 1.0), m_norm - kc)
            bend *= a_over_m
            loss += bend
        loss *= ar
        w_rad = np.subtract(ar, zn, out=zn)  # zn is not needed any more
        w_rad -= loss
        if inner.size:
            w_rad[inner] = direct
        w_rad *= 1.0 / var
        if kappa > 0.0:
            tangential = a_over_m
            tangential *= ar * kappa / var
            w_rad -= tangential * cos
        w_rad *= inv_zn  # now the coefficient of z: w_rad zhat = (w_rad / |z|) z
        # Rows with a huge concentration, or whose coefficients overflowed (near the center at tiny
        # sigma^2 the product with 1/|z| may overflow although the score does not), are redone.
        flagged = _NO_ROWS if tame else _flagged_rows(b, w_rad if kappa == 0.0 else w_rad + tangential)
        target = out if self._standard_frame else np.empty(u.shape)
        for j in range(p):
            np.multiply(u[:, j], w_rad, out=target[:, j])
            if kappa > 0.0:
                target[:, j] += tangential * self.direction[j]
        for j in range(p, self.d):  # column by column: a (rows, d - p) ufunc call is ~5x slower
            np.multiply(u[:, j], -1.0 / var, out=target[:, j])
        if not self._standard_frame:
            np.matmul(target, self._basis.T, out=out)
        return flagged

    def _careful(self, x: np.ndarray, alpha: float, var: float, want: str,
                 k: np.ndarray | None = None) -> np.ndarray:
        """log p_t (4^-k log p_t if k is given), the score or the denoiser of a few rows, evaluated
        without overflow (module docstring, "Extreme inputs"). x : (n, d) -> (n,) or (n, d).

        Norms are scaled (:func:`row_norms`); where b >= _HUGE_CONCENTRATION the terms that involve
        |m| are formed from zeta = b/|m|, kappa/b and log b; elsewhere as in the fast path. The
        score is assembled as rad zhat + tan (nu - cos zhat) - y_perp / sigma^2 with zhat = z/|z|
        (bounded), so no 1/|z| multiplies a large number.
        """
        p, d, r, kappa = self._p, self.d, self.radius, self.kappa
        n = x.shape[0]
        u = self._coordinates(x, alpha)
        span = u[:, :p]
        zn = row_norms(span)
        zhat = np.zeros_like(span)
        np.divide(span, zn[:, None], out=zhat, where=zn[:, None] > 0.0)
        ar = alpha * r
        with np.errstate(divide="ignore"):  # log 0 = -inf: b = 0
            log_b = (math.log(ar) if ar > 0.0 else -math.inf) + np.log(zn) - math.log(var)
        huge = log_b >= math.log(_HUGE_CONCENTRATION)
        b = np.exp(np.minimum(log_b, math.log(_HUGE_CONCENTRATION)))  # exact where not huge
        nu = self.direction if kappa > 0.0 else np.zeros(p)
        cos = zhat @ nu
        sin2 = np.maximum((1.0 - cos) * (1.0 + cos), 0.0)
        # Per row: A_p, the ratios zeta = b/|m| and eta = kappa/|m|, ell(|m|), |m| - b - kappa, and
        # the score's radial loss alpha r ((1 - A_p) + A_p (1 - gamma)) / sigma^2 (as ``loss``).
        a = np.ones(n)
        zeta = np.ones(n)
        eta = np.zeros(n)
        ell_m = np.empty(n)
        gap = np.zeros(n)
        loss = np.empty(n)
        inner = np.zeros(n, dtype=bool)
        normal = ~huge
        if normal.any():
            bn, cn = b[normal], cos[normal]
            kc = kappa * cn + bn
            m_norm = np.hypot(kc, kappa * np.sqrt(sin2[normal]))
            a_over_m, one_minus_a = vmf.bessel_ratio(p, m_norm)
            a_n = a_over_m * m_norm
            a[normal] = a_n
            positive = m_norm > 0.0  # m = 0 only for kappa = 0 at the center, where A_p = 0
            zeta[normal] = np.where(positive, bn / np.where(positive, m_norm, 1.0), 1.0)
            eta[normal] = np.where(positive, kappa / np.where(positive, m_norm, 1.0), 0.0)
            ell_m[normal] = vmf.log_normalizer(p, m_norm)
            bend = np.zeros_like(bn)
            if kappa > 0.0:
                gap[normal] = -2.0 * kappa * bn * (1.0 - cn) / (m_norm + bn + kappa)
                denominator = m_norm + kc
                bend = a_over_m * np.where(kc >= 0.0, kappa * kappa * sin2[normal]
                                           / np.where(denominator > 0.0, denominator, 1.0), m_norm - kc)
            loss[normal] = ar * (one_minus_a + bend) / var
            inner[normal] = one_minus_a > 0.5
        if huge.any():
            ratio = kappa * np.exp(-log_b[huge])  # kappa / b
            ch, sh = cos[huge], sin2[huge]
            zeta_h = 1.0 / np.hypot(1.0 + ratio * ch, ratio * np.sqrt(sh))
            zeta[huge] = zeta_h
            eta[huge] = ratio * zeta_h
            ell_m[huge] = (p / 2 - 0.5) * (log_b[huge] - np.log(zeta_h) - math.log(2.0 * math.pi))
            gap[huge] = -2.0 * kappa * (1.0 - ch) / (1.0 / zeta_h + 1.0 + ratio)
            loss[huge] = zeta_h / zn[huge] * (0.5 * (p - 1) + kappa * sh * ratio / (1.0 / zeta_h + ratio * ch + 1.0))
        if want == "log_density":
            k = np.zeros(n, dtype=np.int64) if k is None else k
            length = row_norms(np.column_stack([zn - ar, u[:, p:]]))
            length = np.ldexp(length, -k) * math.sqrt(0.5 / var)
            rest = gap + self._ell_kappa - ell_m - log_normalization(d, var)
            return np.ldexp(rest, -2 * k) - length * length
        if want == "denoise":
            mean = (a * zeta)[:, None] * zhat + (a * eta)[:, None] * nu
            return self.center + r * (mean @ self.frame.T)
        # score: the coefficient of zhat is (alpha r A gamma - |z|) / sigma^2 = (alpha r - |z|) / sigma^2 - loss,
        # formed directly where 1 - A_p > 1/2 (A gamma = A zeta + A eta cos)
        rad = (ar - zn) / var - loss
        if inner.any():
            rad[inner] = (ar * a[inner] * (zeta[inner] + eta[inner] * cos[inner]) - zn[inner]) / var
        tan = np.where(huge, kappa * zeta / np.where(zn > 0.0, zn, 1.0), ar * a * eta / var) if kappa > 0.0 else 0.0
        target = np.empty((n, d))
        target[:, :p] = rad[:, None] * zhat
        if kappa > 0.0:
            target[:, :p] += tan[:, None] * (nu - cos[:, None] * zhat)
        target[:, p:] = u[:, p:] * (-1.0 / var)
        return target if self._standard_frame else target @ self._basis.T
