"""Bounded Hypothesis strategies for the property tests (STYLE.md rule 10).

Every strategy here is bounded so that one example costs well under 50 ms:

- processes: ``OU()``, ``VP(beta_min, beta_max)`` with 0.05 <= beta_min <= 2 and
  beta_max - beta_min <= 25, ``VE(sigma_min, sigma_max)`` with 1e-3 <= sigma_min <= 0.1 and
  1 <= sigma_max <= 50 (the ranges used in practice: Song et al. 2021 use VP(0.1, 20) and
  VE(0.01, 50)), parameters on decimal grids;
- times: log-uniform on [1e-4, 10];
- measures in ambient dimension d <= 4 (d <= 3 where a test asks for it): ``PointCloud`` with 1-20
  points in [-2, 2]^d and optional weights, ``Subspace`` with 1 <= k <= d, a random orthonormal basis
  (QR of a Gaussian matrix drawn from a Hypothesis-drawn seed), a mean in [-2, 2]^d and an SPD
  covariance with eigenvalues in [0.05, 2], ``Sphere`` (1 <= k <= d - 1, radius in [0.5, 2], random
  frame and center, uniform or von Mises-Fisher with kappa log-uniform in [0.1, 100]), ``Product``
  of two such measures (optionally rotated), the flat torus Product((Sphere(1, 2), Sphere(1, 2))) in
  R^4, ``Mixture`` of components with different k (a Subspace and a PointCloud, e.g. a line and a
  point, maybe a sphere);
- spheres for the sphere's own tests (``sphere_designs``, ``sphere_cases``): S^1 to S^3 in R^d, d <= 5,
  radius log-uniform in [0.3, 3], optional center and frame, uniform or vMF with kappa in [0.1, 50];
- query points on, near and far from M: on = ``M.project`` of a Gaussian vector, near = on + a
  normal offset of 0.1 to 5 sigma(t), far = a random direction times a radius log-uniform in
  [10, 1e3];
- extreme inputs (``extreme_cases``): t log-uniform on [1e-300, 1e3] (sigma(t)^2 from ~1e-303, still
  a normal float64, to VE's overflow) and queries on M, off M by 1e-300 to 1e300, or at radius
  1e-300 to 1e300.

Random matrices are drawn by NumPy from a Hypothesis-drawn seed, so examples stay reproducible
(and derandomized under the ``ci`` profile) while staying cheap to generate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory import OU, VE, VP, ForwardProcess, Measure, Mixture, PointCloud, Product, Sphere, Subspace

# Time range of the deterministic laws: from well inside the small-noise regime to a time
# where every process is close to its stationary or exploded law.
T_MIN, T_MAX = 1e-4, 10.0
# Largest ambient dimension drawn: keeps closed-form evaluations and finite-difference stencils
# (2 d + 1 evaluations) cheap.
D_MAX = 4
# Coordinates of points, means and far-from-M queries are bounded (|x| <= R_FAR for far points).
COORD_MAX = 2.0
R_FAR = 1e3
# Eigenvalue range of Subspace covariances: condition number <= 40, scale comparable to the data.
COV_EIG_MIN, COV_EIG_MAX = 0.05, 2.0

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


# -- processes and times -------------------------------------------------------------------------
def ou() -> st.SearchStrategy[OU]:
    return st.just(OU())


# Process parameters are drawn on decimal grids (as users type them: 0.1, 20.0, 0.01, 50.0):
# ``symbolic()`` converts them with sympy.nsimplify, which is exact for short decimals but snaps
# other floats to nearby simple numbers (see test_processes.test_symbolic_parameters_are_exact).
@st.composite
def vp(draw) -> VP:
    """VP(beta_min, beta_max), beta_min in [0.05, 2], beta_max - beta_min in [0, 25], step 1e-3."""
    k_min = draw(st.integers(min_value=50, max_value=2000))
    k_max = k_min + draw(st.integers(min_value=0, max_value=25_000))
    return VP(k_min / 1000, k_max / 1000)


@st.composite
def ve(draw) -> VE:
    """VE(sigma_min, sigma_max), sigma_min in [1e-3, 0.1] (step 1e-5), sigma_max in [1, 50] (step 0.01)."""
    return VE(draw(st.integers(min_value=100, max_value=10_000)) / 100_000,
              draw(st.integers(min_value=100, max_value=5000)) / 100)


def processes() -> st.SearchStrategy[ForwardProcess]:
    """OU, VP or VE with bounded parameters."""
    return st.one_of(ou(), vp(), ve())


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A float whose logarithm is uniform on [log lo, log hi] (clipped against exp rounding)."""
    return _finite(math.log(lo), math.log(hi)).map(lambda u: min(max(math.exp(u), lo), hi))


def times(lo: float = T_MIN, hi: float = T_MAX) -> st.SearchStrategy[float]:
    """t log-uniform on [lo, hi], default [1e-4, 10]."""
    return log_uniform(lo, hi)


# -- measures ------------------------------------------------------------------------------------
def random_orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    """A Haar-random d x d orthogonal matrix: QR of a Gaussian matrix with the signs of R fixed."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def dimensions(max_d: int = D_MAX, min_d: int = 1) -> st.SearchStrategy[int]:
    return st.integers(min_value=min_d, max_value=max_d)


@st.composite
def point_clouds(draw, d: int | None = None, *, max_points: int = 20) -> PointCloud:
    """PointCloud of 1..max_points points in [-2, 2]^d, uniform or with drawn weights."""
    d = draw(dimensions()) if d is None else d
    n = draw(st.integers(min_value=1, max_value=max_points))
    pts = draw(hnp.arrays(np.float64, (n, d), elements=_finite(-COORD_MAX, COORD_MAX)))
    weights = None
    if draw(st.booleans()):
        # Weights in [0.05, 1] (ratio <= 20), sometimes 0: zero-weight points leave the support.
        weights = draw(hnp.arrays(np.float64, (n,), elements=st.one_of(st.just(0.0), _finite(0.05, 1.0))))
        if not weights.sum() > 0:
            weights[0] = 1.0
    return PointCloud(pts, weights)


@st.composite
def subspaces(draw, d: int | None = None, *, k: int | None = None) -> Subspace:
    """N(mean, U C U^T) with 1 <= k <= d, U a random orthonormal basis, C SPD with bounded spectrum."""
    d = draw(dimensions()) if d is None else d
    k = draw(st.integers(min_value=1, max_value=d)) if k is None else k
    rng = np.random.default_rng(draw(seeds))
    basis = random_orthogonal(rng, d)[:, :k]
    q = random_orthogonal(rng, k)
    lam = np.array(draw(st.lists(_finite(COV_EIG_MIN, COV_EIG_MAX), min_size=k, max_size=k)))
    cov = (q * lam) @ q.T
    cov = 0.5 * (cov + cov.T)  # exactly symmetric
    mean = draw(hnp.arrays(np.float64, (d,), elements=_finite(-COORD_MAX, COORD_MAX)))
    return Subspace(k, d, basis=basis, mean=mean, cov=cov)


# Sphere radii and von Mises-Fisher concentrations: radius comparable to the data scale; kappa = 0
# (uniform) or log-uniform in [0.1, 100] (from nearly uniform to a cap of angular radius ~0.1).
RADIUS_MIN, RADIUS_MAX = 0.5, 2.0
KAPPA_MIN, KAPPA_MAX = 0.1, 100.0


@st.composite
def spheres(draw, d: int | None = None, *, k: int | None = None) -> Sphere:
    """A k-sphere (1 <= k <= d - 1) of radius in [0.5, 2], center in [-2, 2]^d, random frame, uniform or vMF."""
    d = draw(dimensions(min_d=2)) if d is None else d
    k = draw(st.integers(min_value=1, max_value=d - 1)) if k is None else k
    rng = np.random.default_rng(draw(seeds))
    frame = random_orthogonal(rng, d)[:, : k + 1]
    direction = rng.standard_normal(k + 1)
    direction /= np.linalg.norm(direction)
    kappa = draw(st.one_of(st.just(0.0), log_uniform(KAPPA_MIN, KAPPA_MAX)))
    center = draw(hnp.arrays(np.float64, (d,), elements=_finite(-COORD_MAX, COORD_MAX)))
    return Sphere(k, d, radius=draw(_finite(RADIUS_MIN, RADIUS_MAX)), center=center, frame=frame, kappa=kappa,
                  direction=direction if kappa > 0 else None)


@st.composite
def flat_tori(draw) -> Product:
    """The flat torus S^1 x S^1 in R^4: Product((Sphere(1, 2), Sphere(1, 2))), radii in [0.5, 2],
    optionally rotated (uniform circles: the product of the two area measures is the torus area)."""
    factors = tuple(Sphere(1, 2, radius=draw(_finite(RADIUS_MIN, RADIUS_MAX))) for _ in range(2))
    rotation = random_orthogonal(np.random.default_rng(draw(seeds)), 4) if draw(st.booleans()) else None
    return Product(factors, rotation=rotation)


def basic_measures(d: int) -> st.SearchStrategy[Measure]:
    """A PointCloud, a Subspace or (d >= 2) a Sphere in R^d."""
    options = [point_clouds(d), subspaces(d)] + ([spheres(d)] if d >= 2 else [])
    return st.one_of(*options)


@st.composite
def products(draw, d: int | None = None) -> Product:
    """Product of two basic measures on complementary blocks of R^d (d >= 2), optionally rotated."""
    d = draw(dimensions(min_d=2)) if d is None else d
    d1 = draw(st.integers(min_value=1, max_value=d - 1))
    factors = (draw(basic_measures(d1)), draw(basic_measures(d - d1)))
    rotation = random_orthogonal(np.random.default_rng(draw(seeds)), d) if draw(st.booleans()) else None
    return Product(factors, rotation=rotation)


@st.composite
def mixtures(draw, d: int | None = None) -> Mixture:
    """A Subspace (k >= 1) and a PointCloud (k = 0) in R^d, e.g. a line and a point, maybe a third part."""
    d = draw(dimensions()) if d is None else d
    components = [draw(subspaces(d)), draw(point_clouds(d, max_points=5))]
    if draw(st.booleans()):
        components.append(draw(basic_measures(d)))
    weights = None
    if draw(st.booleans()):
        weights = draw(hnp.arrays(np.float64, (len(components),), elements=_finite(0.1, 1.0)))
    return Mixture(components, weights=weights)


FAMILIES = ("pointcloud", "subspace", "sphere", "product", "torus", "mixture")
# Smallest ambient dimension of each family (a sphere needs d >= k + 1 >= 2; the torus lives in R^4).
MIN_D = {"pointcloud": 1, "subspace": 1, "sphere": 2, "product": 2, "torus": 4, "mixture": 1}


def measures(d: int | None = None, *, max_d: int = D_MAX,
             families: tuple[str, ...] = FAMILIES) -> st.SearchStrategy[Measure]:
    """Any measure family in ambient dimension d (drawn in [MIN_D[family], max_d] when d is None).

    Families that cannot live in R^d (a sphere in R^1, the torus outside R^4) are left out.
    """
    if d is None:
        allowed = tuple(f for f in families if MIN_D[f] <= max_d)
    else:
        allowed = tuple(f for f in families if MIN_D[f] <= d and (f != "torus" or d == 4))

    @st.composite
    def _draw(draw) -> Measure:
        family = draw(st.sampled_from(allowed))
        if family == "torus":
            return draw(flat_tori())
        dim = draw(dimensions(max_d=max_d, min_d=MIN_D[family])) if d is None else d
        build = {"pointcloud": point_clouds, "subspace": subspaces, "sphere": spheres, "product": products,
                 "mixture": mixtures}
        return draw(build[family](dim))

    return _draw()


# -- query points ---------------------------------------------------------------------------------
KINDS = ("on", "near", "far")


@st.composite
def query_points(draw, measure: Measure, sigma: float, *, far_max: float = R_FAR,
                 kinds: tuple[str, ...] = KINDS) -> tuple[np.ndarray, tuple[str, ...]]:
    """Rows on, near and far from M: returns (x of shape (n, d), the kind of each row).

    on: M.project of a Gaussian vector (scale 2); near: on + c sigma n, n a unit normal direction
    (M.normal_part of a Gaussian vector, the vector itself if it has no normal part), c in [0.1, 5]
    (the offset capped at far_max);
    far: a uniform direction times a radius log-uniform in [10, far_max].
    """
    rng = np.random.default_rng(draw(seeds))
    d = measure.d
    rows, labels = [], []
    for kind in kinds:
        on = measure.project(COORD_MAX * rng.standard_normal((1, d)))
        if kind == "on":
            rows.append(on)
        elif kind == "near":
            v = rng.standard_normal((1, d))
            n = measure.normal_part(on, v)
            if not np.linalg.norm(n) > 1e-3 * np.linalg.norm(v):  # full-dimensional support
                n = v
            # The offset is capped at far_max: under VE at t ~ 10, sigma(t) is astronomically large.
            offset = min(draw(_finite(0.1, 5.0)) * sigma, far_max)
            rows.append(on + offset * n / np.linalg.norm(n))
        else:
            u = rng.standard_normal((1, d))
            radius = draw(log_uniform(10.0, far_max))
            rows.append(radius * u / np.linalg.norm(u))
        labels.append(kind)
    return np.concatenate(rows), tuple(labels)


# Extreme inputs: the time range where sigma(t)^2 goes from about 1e-303 (OU, VP, VE at
# t = 1e-300; still a normal float64) to beyond float64 (VE near t = 1e3), and offsets and radii of
# queries across the whole exponent range that leaves room for the measures' own O(1) scales.
T_EXTREME_MIN, T_EXTREME_MAX = 1e-300, 1e3
R_EXTREME_MIN, R_EXTREME_MAX = 1e-300, 1e300


@st.composite
def extreme_points(draw, measure: Measure) -> tuple[np.ndarray, tuple[str, ...]]:
    """Rows on M, off M and far: (x of shape (3, d), their kinds).

    on: M.project of a Gaussian vector (scale 2); off: on + c n, n a unit normal direction (as in
    ``query_points``), c log-uniform in [1e-300, 1e300]; far: a uniform direction times a radius
    log-uniform in [1e-300, 1e300] (tiny radii put it next to the origin).
    """
    rng = np.random.default_rng(draw(seeds))
    d = measure.d
    on = measure.project(COORD_MAX * rng.standard_normal((1, d)))
    v = rng.standard_normal((1, d))
    n = measure.normal_part(on, v)
    if not np.linalg.norm(n) > 1e-3 * np.linalg.norm(v):
        n = v
    off = on + draw(log_uniform(R_EXTREME_MIN, R_EXTREME_MAX)) * n / np.linalg.norm(n)
    u = rng.standard_normal((1, d))
    far = draw(log_uniform(R_EXTREME_MIN, R_EXTREME_MAX)) * u / np.linalg.norm(u)
    return np.concatenate([on, off, far]), ("on", "off", "far")


# -- bundles ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One example of a deterministic law: a measure, a process, a time and query points."""

    measure: Measure
    process: ForwardProcess
    t: float
    x: np.ndarray
    kinds: tuple[str, ...]

    @property
    def alpha(self) -> float:
        return float(self.process.alpha(self.t))

    @property
    def var(self) -> float:
        return float(self.process.sigma2(self.t))


@st.composite
def cases(draw, *, d: int | None = None, max_d: int = D_MAX, t_min: float = T_MIN, t_max: float = T_MAX,
          far_max: float = R_FAR, families: tuple[str, ...] = FAMILIES) -> Case:
    """A measure (every family), a process, t log-uniform in [t_min, t_max] and on/near/far points."""
    measure = draw(measures(d, max_d=max_d, families=families))
    process = draw(processes())
    t = draw(times(t_min, t_max))
    x, kinds = draw(query_points(measure, float(process.sigma(t)), far_max=far_max))
    return Case(measure, process, t, x, kinds)


@st.composite
def extreme_cases(draw, *, max_d: int = D_MAX, families: tuple[str, ...] = FAMILIES) -> Case:
    """A measure (every family), a process, t log-uniform in [1e-300, 1e3] and ``extreme_points``."""
    measure = draw(measures(max_d=max_d, families=families))
    process = draw(processes())
    t = draw(times(T_EXTREME_MIN, T_EXTREME_MAX))
    x, kinds = draw(extreme_points(measure))
    return Case(measure, process, t, x, kinds)


# -- spheres for the sphere's own tests (tests/measures/test_sphere.py) -----------------------------
# Intrinsic and ambient dimensions drawn: S^1, S^2, S^3 in R^d with d <= 5.
SPHERE_K_MAX, SPHERE_D_MAX = 3, 5
# Radius range and center box: the sphere stays within |x| <= 4 + 3, like the other measures' data.
SPHERE_RADIUS_MIN, SPHERE_RADIUS_MAX = 0.3, 3.0
SPHERE_CENTER_MAX = 2.0
# vMF concentrations drawn (besides 0): from nearly uniform to a cap of angular radius ~ 0.14.
SPHERE_KAPPA_MIN, SPHERE_KAPPA_MAX = 0.1, 50.0


def unit_vector(rng: np.random.Generator, p: int) -> np.ndarray:
    u = rng.standard_normal(p)
    return u / np.linalg.norm(u)


@st.composite
def sphere_designs(draw, *, k: int | None = None, d: int | None = None, vmf: bool | None = None) -> Sphere:
    """Sphere(k, d) with 1 <= k <= 3, k < d <= 5, radius in [0.3, 3] (log-uniform), center in
    [-2, 2]^d or 0, a Haar-random frame or the default one, and kappa = 0 or log-uniform in [0.1, 50]
    with a uniform random direction (wider than :func:`spheres`, which serves every family's
    properties). Arrays come from NumPy with a Hypothesis-drawn seed."""
    k = draw(st.integers(min_value=1, max_value=SPHERE_K_MAX)) if k is None else k
    d = draw(st.integers(min_value=k + 1, max_value=SPHERE_D_MAX)) if d is None else d
    rng = np.random.default_rng(draw(seeds))
    radius = draw(log_uniform(SPHERE_RADIUS_MIN, SPHERE_RADIUS_MAX))
    center = rng.uniform(-SPHERE_CENTER_MAX, SPHERE_CENTER_MAX, d) if draw(st.booleans()) else None
    frame = random_orthogonal(rng, d)[:, : k + 1] if draw(st.booleans()) else None
    vmf = draw(st.booleans()) if vmf is None else vmf
    if not vmf:
        return Sphere(k, d, radius=radius, center=center, frame=frame)
    kappa = draw(log_uniform(SPHERE_KAPPA_MIN, SPHERE_KAPPA_MAX))
    return Sphere(k, d, radius=radius, center=center, frame=frame, kappa=kappa, direction=unit_vector(rng, k + 1))


@st.composite
def sphere_cases(draw, *, t_min: float = T_MIN, t_max: float = T_MAX, far_max: float = R_FAR):
    """A sphere, a process (OU, VP, VE), t log-uniform in [t_min, t_max] and on/near/far points
    (:func:`query_points`: near = distance 0.1 to 5 sigma(t), far = |x| in [10, far_max])."""
    sphere = draw(sphere_designs())
    process = draw(processes())
    t = draw(times(t_min, t_max))
    x, kinds = draw(query_points(sphere, float(process.sigma(t)), far_max=far_max))
    return Case(sphere, process, t, x, kinds)
