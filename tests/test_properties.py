"""Property tests of the claims: Hypothesis draws a setting, the registry predicts, the simulator decides.

Hypothesis draws the *setting* (measure family, k < d, radius, frame, center, process, error family
and parameter); the Monte Carlo inside each example is seeded from the drawn seed, so an example is
a deterministic function of what Hypothesis drew and shrinks cleanly.

Each example: ``CLAIMS[...].predict(setting)`` gives "lands on M" (or "memorizes") before anything is
simulated; then a landing study (n = 300 particles per delta, deltas 1e-2 .. 1e-5: three decades,
30 geometric steps per decade) fits the log-log slope of the RMS distance (the median for clipped
scores, see below) with a 99 % bootstrap band, and the measured verdict (band above FLAT_SLOPE = 0.1:
lands; otherwise not) must equal the prediction.

Why this is statistically sound: parameters are drawn from values whose predicted rate is at least
0.25 away from the FLAT_SLOPE threshold on either side (a in {0, 0.25, 0.75} lands with rate >= 0.25,
a = 1.5 diverges with rate -0.5; beta in {0.5, 1, 2} lands with rate 0.5; clipping plateaus with rate 0),
while the bootstrap band at n = 300 is about +-0.06. Offsets are scaled as c = c0 / sqrt(g(0)^2), so
that the offset is comparable to sigma(t) in the measured range for every process (otherwise, under VE,
whose g(0)^2 is 1.7e-3, the offset would stay below sigma and be invisible until t ~ 1e-8).

Clipped scores are judged on the median distance, as check C4 does: a clipped score cannot hold back
the particles that the reverse drift's expansion carries away (under VP, distances up to 270 among 300
particles whose median is 0.67), so the RMS follows a few escaped particles and its band is wide and
heavy-tailed. Measured on the worst clipped setting found (a circle in R^4 under VP), 2000 seeds: the
band's lower edge had mean -0.19, sd 0.09 with the RMS and crossed FLAT_SLOPE once (a false "lands",
5e-4 per example); with the median, mean -0.026, sd 0.011, maximum 0.009.

Measured false-failure rate (scratch runs outside the suite):
- per family, the lower band edge over 100 seeds for 4 random settings per process: for clipped
  scores (median) it stays below 0.014, its mean at least 7.3 sd under FLAT_SLOPE; for the slowest
  landing offset (a = 0.75) it stays above 0.24 with sd <= 0.004;
- whole runs: 0 wrong verdicts in 5 runs of the ``thorough`` profile (``--hypothesis-seed`` 101..105,
  1000 examples per property each: 10000 settings); the closest lower band edge to FLAT_SLOPE was
  0.079 away. That bounds the per-example rate below 3e-4 at 95 % confidence by count alone; the
  margins (>= 7.3 sd) put it far lower, so a thorough run (2000 examples) is not expected to fail
  falsely. CI's profile is derandomized: the same examples every run, so CI cannot flake.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from theory import OU, VE, VP, PointCloud, Sphere, Subspace
from theory.claims import CLAIMS, ErrorSpec, Setting
from theory.estimators import landing_study
from theory.perturbations import Clipped, ExactScore, NormalOffset, NormalScaling
from theory.statistics import Statistic
from theory.symbolic import small_time_expansion

DELTAS = (1e-2, 1e-3, 1e-4, 1e-5)
PROCESSES = {"OU": (OU(), 3.0), "VP": (VP(), 1.0), "VE": (VE(sigma_min=0.01, sigma_max=10.0), 1.0)}


def _frame(seed: int, d: int, m: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q[:, :m]


@st.composite
def manifolds(draw):
    """A sphere or a subspace with k < d <= 4, random frame, center and radius."""
    kind = draw(st.sampled_from(["sphere", "subspace"]))
    seed = draw(st.integers(0, 2**16))
    if kind == "sphere":
        k = draw(st.integers(1, 2))
        d = draw(st.integers(k + 1, 4))
        radius = draw(st.floats(0.5, 2.0))
        center = draw(st.lists(st.floats(-1.0, 1.0), min_size=d, max_size=d))
        return Sphere(k=k, d=d, radius=radius, center=center, frame=_frame(seed, d, k + 1))
    k = draw(st.integers(1, 2))
    d = draw(st.integers(k + 1, 4))
    mean = draw(st.lists(st.floats(-1.0, 1.0), min_size=d, max_size=d))
    return Subspace(k, d, basis=_frame(seed, d, k), mean=mean)


@st.composite
def error_families(draw, measure, process):
    """(score callable, description) for the exact score or an error family with a decisive parameter."""
    exact = ExactScore(measure, process=process)
    g0 = float(small_time_expansion(process).g0)
    family = draw(st.sampled_from(["exact", "offset", "scaling", "clipped"]))
    if family == "offset":
        a = draw(st.sampled_from([0.0, 0.25, 0.75, 1.5]))
        c0 = draw(st.floats(0.3, 1.0))
        normal = measure.normal_part(measure.sample(1, np.random.default_rng(0)) + 0.1,
                                     np.eye(measure.d)[[measure.d - 1]])[0]
        if np.linalg.norm(normal) < 1e-6:  # the drawn axis is tangent there: use another one
            normal = np.eye(measure.d)[0]
        return NormalOffset(exact, measure, v=normal, c=c0 / np.sqrt(g0), a=a)
    if family == "scaling":
        return NormalScaling(exact, measure, draw(st.sampled_from([0.5, 1.0, 2.0])))
    if family == "clipped":
        return Clipped(exact, draw(st.floats(2.0, 5.0)))
    return exact


def statistic(score) -> Statistic:
    """The median distance for a clipped score, the RMS otherwise (module docstring; as check C4 does)."""
    return Statistic.MEDIAN if isinstance(score, Clipped) else Statistic.RMS


def _claim_prediction(setting: Setting):
    """The prediction of the first claim that covers the setting (C1 exact, C6 normal families, C4 clip)."""
    for cid in ("C1", "C6", "C4", "C2"):
        pred = CLAIMS[cid].predict(setting)
        if pred.covered:
            return pred
    raise AssertionError(f"no claim covers {setting.describe()}")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), process_name=st.sampled_from(list(PROCESSES)), seed=st.integers(0, 2**32 - 1))
def test_predicted_landing_equals_observed(data, process_name, seed):
    process, T = PROCESSES[process_name]
    measure = data.draw(manifolds(), label="measure")
    score = data.draw(error_families(measure, process), label="score")
    setting = Setting(measure, ErrorSpec.of(score), T=T, process=process)
    prediction = _claim_prediction(setting)
    study = landing_study(score, measure, deltas=DELTAS, n=300, steps_per_decade=30, T=T,
                          seed_sequence=np.random.SeedSequence(seed), process=process, statistic=statistic(score))
    measured = study.fit.lands()
    assert measured == prediction.lands, (setting.describe(), prediction, study.fit)


# Smallest distance between the points of a drawn point set: 'nearest point' is unambiguous at small delta.
MIN_SEPARATION = 0.5


def separated_points(rng: np.random.Generator, d: int, n: int) -> np.ndarray:
    """n points in [-2, 2]^d at mutual distance >= MIN_SEPARATION, shape (n, d).

    d >= 2: rejection sampling, which cannot jam: n - 1 <= 5 points exclude at most 5 pi 0.5^2 = 3.9
    of the square's area 16 (5 (4/3) pi 0.5^3 = 2.6 of the cube's 64). d = 1: five points can block
    [-2, 2] (each excludes an interval of length 1), and rejection then loops forever, as it did for
    4 % of the seeds with n = 6 (a hang the ``thorough`` profile found); the points are
    placed by their gaps instead: n sorted uniform draws on [0, 4 - 0.5 (n - 1)] plus 0.5 i.
    """
    if d == 1:
        slack = 4.0 - MIN_SEPARATION * (n - 1)
        return (-2.0 + np.sort(rng.uniform(0.0, slack, n)) + MIN_SEPARATION * np.arange(n))[:, None]
    points = [rng.uniform(-2, 2, d)]
    while len(points) < n:
        p = rng.uniform(-2, 2, d)
        if min(np.linalg.norm(p - q) for q in points) >= MIN_SEPARATION:
            points.append(p)
    return np.array(points)


@st.composite
def point_sets(draw):
    """3-6 points in d <= 3 at mutual distance >= MIN_SEPARATION (``separated_points``)."""
    d = draw(st.integers(1, 3))
    n = draw(st.integers(3, 6))
    seed = draw(st.integers(0, 2**16))
    return PointCloud(separated_points(np.random.default_rng(seed), d, n))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cloud=point_sets(), family=st.sampled_from(["exact", "half", "clipped"]),
       process_name=st.sampled_from(list(PROCESSES)), seed=st.integers(0, 2**32 - 1))
def test_predicted_memorization_equals_observed(cloud, family, process_name, seed):
    """C3 / C7 / C4 on point sets: memorizes (nearest-training distance -> 0) exactly when predicted."""
    process, T = PROCESSES[process_name]
    exact = ExactScore(cloud, process=process)
    score = {"exact": exact, "half": NormalScaling(exact, cloud, 0.5), "clipped": Clipped(exact, 3.0)}[family]
    setting = Setting(cloud, ErrorSpec.of(score), T=T, process=process)
    covering = {"exact": "C1", "half": "C7", "clipped": "C4"}[family]
    prediction = CLAIMS[covering].predict(setting)
    if family == "clipped":  # C4 needs k < d: a point set has k = 0 < d
        assert prediction.covered and prediction.memorizes is False
    study = landing_study(score, cloud, deltas=DELTAS, n=300, steps_per_decade=30, T=T,
                          seed_sequence=np.random.SeedSequence(seed), process=process, statistic=statistic(score))
    assert study.fit.lands() == bool(prediction.memorizes), (setting.describe(), prediction, study.fit)


def test_separated_points_never_jam_in_one_dimension():
    """Seed 1280 with d = 1, n = 6 jammed the rejection sampler after 5 points (an endless loop).

    The gap construction places all 6 in [-2, 2] at distance >= MIN_SEPARATION; each coordinate is
    -2 + u + 0.5 i, two roundings of numbers <= 4 in magnitude (<= ulp(4) each), so a distance errs
    by <= 4 ulp(4).
    """
    points = separated_points(np.random.default_rng(1280), 1, 6)
    assert points.shape == (6, 1)
    assert np.all(np.abs(points) <= 2.0)
    assert np.min(np.diff(points[:, 0])) >= MIN_SEPARATION - 4 * np.spacing(4.0)
