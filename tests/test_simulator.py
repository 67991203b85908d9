"""Tests of the reverse-SDE simulator (theory.simulator): orders, landing rate, failures, determinism.

Reference values come from closed forms: for Gaussian data the exact score is linear, so the
discrete chain's mean and covariance follow an exact affine recursion (no Monte Carlo), and the
target law p_delta is Gaussian in closed form.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy import stats

from theory import OU, VE, VP, PointCloud, Subspace
from theory.observers import Distance, ErrorIntegral, ScoreNorm, Trajectory
from theory.perturbations import AncestralScore, ExactScore, NormalScaling
from theory.priors import ExactMarginal, Gaussian, PointMass, Sampler, StudentT
from theory.simulator import Grid, NonFiniteError, Scheme, _integrate, reverse_sde, step_coefficients, time_grid

PROCESSES = {"OU": (OU(), 2.0), "VP": (VP(), 1.0), "VE": (VE(sigma_min=0.01, sigma_max=5.0), 1.0)}


def _gaussian_data(process, T):
    """A full-dimensional Gaussian N(m, C) in R^2 with its exact p_T (a Gaussian prior)."""
    measure = Subspace(2, 2, mean=[0.5, -1.0], cov=[[1.5, 0.4], [0.4, 0.6]])
    return measure, Gaussian.moment_matched(measure, T, process=process)


def _chain_moments(measure, prior, times, scheme, process):
    """Exact mean and covariance of the discrete chain for a linear score s = A_t y + b_t.

    y <- c_y y + c_s (A y + b) + c_z z  gives  m <- B m + c_s b,  P <- B P B^T + c_z^2 I, B = c_y I + c_s A.
    A_t and b_t are read off the measure's exact score at d + 1 points (it is affine in y).
    """
    d = measure.d
    c_y, c_s, c_z = step_coefficients(times, scheme, process)
    mean, cov = prior.mean.copy(), prior.cov.copy()
    probe = np.vstack([np.zeros(d), np.eye(d)])
    for i in range(len(times) - 1):
        s = measure.score(times[i], probe, process=process)
        b, a_mat = s[0], (s[1:] - s[0]).T
        step = c_y[i] * np.eye(d) + c_s[i] * a_mat
        mean = step @ mean + c_s[i] * b
        cov = step @ cov @ step.T + c_z[i] ** 2 * np.eye(d)
    return mean, cov


@pytest.mark.parametrize("scheme", list(Scheme))
@pytest.mark.parametrize("name", list(PROCESSES))
def test_weak_order_one_on_gaussian_data(scheme, name):
    """Bias of mean and covariance at delta shrinks like 1/steps (weak order 1).

    Exact recursion, no sampling noise. Five doublings of the step count on the geometric grid;
    the fitted log-log slope must lie in [-1.15, -0.85]: the leading error term is O(h) and the
    next O(h^2), so once h is in the asymptotic range the local slope is -1 up to a few percent.
    OU and VP reach that range by 64 steps. VE's g(t)^2 grows by a factor e^12.4 over [0, 1], so
    Euler-Maruyama is pre-asymptotic (measured local slopes -1.7 .. -1.4) until about 2048 steps:
    VE uses 1024..16384 steps.
    """
    process, T = PROCESSES[name]
    delta = 1e-2
    measure, prior = _gaussian_data(process, T)
    alpha, var = float(process.alpha(delta)), float(process.sigma2(delta))
    true_mean, true_cov = measure.moments()
    target_mean, target_cov = alpha * true_mean, alpha**2 * true_cov + var * np.eye(2)
    steps = [1024 * 2**j for j in range(5)] if name == "VE" else [64 * 2**j for j in range(5)]
    bias = []
    for n_steps in steps:
        mean, cov = _chain_moments(measure, prior, time_grid(T, delta, n_steps), scheme, process)
        bias.append(np.linalg.norm(mean - target_mean) + np.linalg.norm(cov - target_cov))
    slope = np.polyfit(np.log(steps), np.log(bias), 1)[0]
    assert -1.15 <= slope <= -0.85, (slope, bias)


def test_simulator_matches_chain_moments():
    """reverse_sde's samples have the recursion's mean and covariance (the loop does what the
    coefficients say). Seed 11, n = 200000, 40 steps; tolerance 5 standard errors per entry of
    the mean and covariance (false-failure rate < 1e-5 per entry by the normal approximation)."""
    process, T = OU(), 2.0
    measure, prior = _gaussian_data(process, T)
    times = time_grid(T, 1e-2, 40)
    mean, cov = _chain_moments(measure, prior, times, Scheme.POSTERIOR, process)
    n = 200_000
    res = reverse_sde(ExactScore(measure), d=2, n=n, T=T, delta=1e-2, steps=40, prior=prior,
                      rng=np.random.default_rng(11))
    sample_mean = res.samples.mean(axis=0)
    sample_cov = np.cov(res.samples.T)
    se_mean = np.sqrt(np.diag(cov) / n)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(sample_mean - mean) < 5 * se_mean)
    assert np.all(np.abs(sample_cov - cov) < 5 * se_cov)


def _kernel(scheme, process, t0, r, t1):
    """Integrand K(r) of the scheme's noise term int_{t0}^{t1} K(r) dW(r) (module docstring)."""
    if scheme is Scheme.EULER_MARUYAMA:
        return np.sqrt(process.g2(t1)) * np.ones_like(r)
    if scheme is Scheme.EXPONENTIAL:
        return np.exp(process.log_alpha(t0) - process.log_alpha(r)) * np.sqrt(process.g2(r))
    # POSTERIOR: fundamental solution of the semilinear part, (alpha(r)/alpha(t0)) sigma(t0)^2/sigma(r)^2.
    return (np.exp(process.log_alpha(r) - process.log_alpha(t0)) * process.sigma2(t0) / process.sigma2(r)
            * np.sqrt(process.g2(r)))


@pytest.mark.parametrize("scheme", list(Scheme))
def test_strong_order_one_with_shared_brownian_path(scheme):
    """Pathwise error vs a fine reference shrinks like h (strong order 1, additive noise).

    One Brownian path per particle on a uniform grid of 2^12 steps from T = 1 to delta = 0.1
    (smooth coefficients), summed onto grids of 2^5..2^9 steps through each scheme's noise kernel.
    Seed 5, 2000 paths. Slope of log RMS error vs log h in [0.8, 1.2]; the Monte Carlo error of an
    RMS over 2000 paths is about 2 %, i.e. 0.02 in log.
    """
    process, T, delta = OU(), 1.0, 0.1
    measure, prior = _gaussian_data(process, T)
    score = ExactScore(measure, process=process)
    fine = 2 ** 12
    rng = np.random.default_rng(5)
    n = 2000
    y0 = prior.sample(n, rng)
    fine_times = time_grid(T, delta, fine, Grid.UNIFORM)
    dw = rng.standard_normal((fine, n, 2)) * np.sqrt(fine_times[0] - fine_times[1])

    def run(steps):
        times = time_grid(T, delta, steps, Grid.UNIFORM)
        coeff = step_coefficients(times, scheme, process)
        ratio = fine // steps

        def noise(i, out):
            sub = fine_times[i * ratio:(i + 1) * ratio]
            k = _kernel(scheme, process, times[i + 1], sub, times[i])
            out[:] = np.einsum("j,jnd->nd", k, dw[i * ratio:(i + 1) * ratio]) / coeff[2][i]

        y = y0.copy()
        _integrate(score, y, times, coeff, noise, n, [])
        return y

    reference = run(fine)
    steps = [2 ** 5, 2 ** 6, 2 ** 7, 2 ** 8, 2 ** 9]
    errors = [np.sqrt(np.mean(np.sum((run(s) - reference) ** 2, axis=1))) for s in steps]
    slope = np.polyfit(np.log(1.0 / np.array(steps)), np.log(errors), 1)[0]
    assert 0.8 <= slope <= 1.2, (slope, errors)


# -- landing on M at the exact rate (SPEC C5 consequence) ---------------------------------------

def rms_ratio_to_codim(measure, score, process, T, delta, *, n, steps, seed):
    """RMS distance to M at delta divided by sigma(delta) sqrt(d - k): tends to 1 for the exact score."""
    res = reverse_sde(score, d=measure.d, n=n, T=T, delta=delta, steps=steps, process=process,
                      rng=np.random.default_rng(seed))
    rms = np.sqrt(np.mean(measure.distance(res.samples) ** 2))
    return rms / np.sqrt(float(process.sigma2(delta)) * (measure.d - measure.k))


SPHERE_PROCESSES = {"OU": (OU(), 5.0), "VP": (VP(), 1.0), "VE": (VE(sigma_min=0.01, sigma_max=20.0), 1.0)}


@pytest.mark.parametrize("name", list(SPHERE_PROCESSES))
def test_exact_score_on_sphere_lands_at_sigma_rate(name):
    """Sphere(k=2, d=5), exact score: RMS dist / sigma(delta) -> sqrt(d - k) = sqrt(3).

    At delta = 1e-2, 1e-3, 1e-4 (seed 3, n = 20000, 400 geometric steps), the ratio to sqrt(3) must
    be within 3 % at every delta and within 1.5 % at 1e-4. Sources of deviation: Monte Carlo (the
    RMS of a chi_3 variable over n = 20000 has relative s.e. 0.29 %, so 1.5 % is 5 s.e.: false-failure
    rate < 1e-6), curvature O(sigma(delta)) (10 % of sigma at 1e-2 -> the looser 3 %), discretization.
    The same function with a sign error in the score is the negative control below.
    """
    from theory.measures.sphere import Sphere

    process, T = SPHERE_PROCESSES[name]
    sphere = Sphere(k=2, d=5)
    ratios = [rms_ratio_to_codim(sphere, ExactScore(sphere, process=process), process, T, delta,
                                 n=20_000, steps=400, seed=3) for delta in (1e-2, 1e-3, 1e-4)]
    assert all(abs(r - 1) < 0.03 for r in ratios), ratios
    assert abs(ratios[-1] - 1) < 0.015, ratios


def test_sign_error_in_drift_is_caught():
    """Negative control: the score with its sign flipped (drift -f Y - g^2 s) fails the same test."""
    from theory.measures.sphere import Sphere

    process, T = SPHERE_PROCESSES["OU"]
    sphere = Sphere(k=2, d=5)
    exact = ExactScore(sphere, process=process)
    ratio = rms_ratio_to_codim(sphere, lambda t, x: -exact(t, x), process, T, 1e-3, n=2000, steps=400, seed=3)
    assert not abs(ratio - 1) < 0.03, ratio


# -- failures: clear errors, never silent NaN ----------------------------------------------------

def _ok_score(t, x):
    return -x


BASE = dict(d=2, n=4, T=1.0, delta=0.01, steps=5)

BAD_CALLS = [
    (dict(score="not callable"), TypeError, "score must be callable"),
    (dict(delta=0.0), ValueError, "delta must be a finite number > 0, got 0.0"),
    (dict(delta=-1e-3), ValueError, "delta must be a finite number > 0"),
    (dict(T=0.01), ValueError, r"T must be > delta, got T=0.01, delta=0.01"),
    (dict(steps=0), ValueError, "steps must be >= 1, got 0"),
    (dict(steps=2.5), TypeError, "steps must be an integer, got float"),
    (dict(n=0), ValueError, "n must be >= 1, got 0"),
    (dict(scheme="rk4"), ValueError, "scheme must be a Scheme or one of 'euler_maruyama', 'exponential', 'posterior', got 'rk4'"),
    (dict(grid="log"), ValueError, "grid must be a Grid or one of"),
    (dict(rng=0), TypeError, "rng must be a numpy.random.Generator"),
    (dict(process="OU"), TypeError, "process must be a ForwardProcess"),
    (dict(prior=lambda n, rng: np.zeros((n, 2))), TypeError, "prior must be a theory.priors.Prior"),
    (dict(prior=PointMass([0.0, 0.0, 0.0])), ValueError, r"prior must live in R\^2, got a prior on R\^3"),
    (dict(chunk_size=0), ValueError, "chunk_size must be >= 1, got 0"),
    (dict(dtype=np.int64), ValueError, "dtype must be float64 or float32, got int64"),
    (dict(record={"x": 3}), TypeError, r"record\['x'\] must be a theory.observers.Observer"),
    (dict(score=lambda t, x: x[:, :1]), ValueError, r"score must return an array of shape \(4, 2\) .* got \(4, 1\) at step 0"),
    (dict(score=lambda t, x: [0.0]), ValueError, r"score must return an array of shape \(4, 2\) .* got list"),
    (dict(prior=Sampler(lambda n, rng: np.zeros((n, 3)), 2)), ValueError, r"prior sampler must return shape \(4, 2\), got \(4, 3\)"),
]


@pytest.mark.parametrize(("override", "error", "match"), BAD_CALLS)
def test_bad_input_raises_clear_error(override, error, match):
    kwargs = dict(BASE, score=_ok_score, rng=np.random.default_rng(0))
    kwargs.update(override)
    score = kwargs.pop("score")
    with pytest.raises(error, match=match):
        reverse_sde(score, **kwargs)


def test_nan_from_score_reports_step_and_time():
    def score(t, x):
        return np.full_like(x, np.nan) if t < 0.1 else -x

    with pytest.raises(NonFiniteError, match=r"score returned NaN/inf at step \d+ \(t = 0\.0\d+\)") as info:
        reverse_sde(score, **BASE, rng=np.random.default_rng(0))
    assert info.value.t < 0.1 and 0 < info.value.step < 5


def test_divergence_reports_step_and_time():
    """A score that pushes particles to overflow is stopped with the step, not returned as inf."""
    with pytest.raises(NonFiniteError, match=r"particles became NaN/inf at step \d+"):
        reverse_sde(lambda t, x: 1e308 * np.ones_like(x), d=2, n=4, T=1.0, delta=0.01, steps=5,
                    scheme="euler_maruyama", rng=np.random.default_rng(0))


# -- determinism, chunking, memory ----------------------------------------------------------------

def _cloud(seed=0, size=300, d=8):
    return PointCloud(np.random.default_rng(seed).standard_normal((size, d)))


def test_same_seed_same_output_bit_for_bit():
    """Two runs with the same seed make the same BLAS calls on the same shapes and thread count,
    which OpenBLAS evaluates deterministically, so the samples are bit-identical on any machine."""
    cloud = _cloud()
    runs = [reverse_sde(ExactScore(cloud), d=8, n=257, T=2.0, delta=1e-3, steps=30,
                        rng=np.random.default_rng(42)).samples for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 256, 1000])
def test_chunk_size_does_not_change_rowwise_scores(chunk_size):
    """A score computed row by row without BLAS gives bit-identical samples for any chunk size."""
    def rowwise(t, x):  # exact score of N(0, I) under OU is -x
        return -x

    kwargs = dict(d=3, n=300, T=2.0, delta=1e-3, steps=20)
    full = reverse_sde(rowwise, **kwargs, rng=np.random.default_rng(1)).samples
    chunked = reverse_sde(rowwise, **kwargs, chunk_size=chunk_size, rng=np.random.default_rng(1)).samples
    assert np.array_equal(full, chunked)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 256])
def test_chunk_size_changes_blas_scores_only_by_rounding(chunk_size):
    """PointCloud's score goes through BLAS, which may round a row differently depending on how
    many rows its block has; the samples then agree to the rounding of the logits, grown over 30
    steps, not bit for bit. That growth has no useful a-priori bound (each step multiplies a
    difference by up to 1 + h |Hessian of log p_t|, up to ~1 / sigma^2 = 500 at the last step), so
    the tolerance is a measured spread with a wide margin: the largest difference over chunk sizes
    1, 7, 64, 256 and the OpenBLAS kernels Haswell, SkylakeX, Nehalem and Prescott was 1.3e-14
    (samples of size ~1); allowed: 1e-9 of the samples' largest entry."""
    cloud = _cloud()
    kwargs = dict(d=8, n=300, T=2.0, delta=1e-3, steps=30)
    full = reverse_sde(ExactScore(cloud), **kwargs, rng=np.random.default_rng(1)).samples
    chunked = reverse_sde(ExactScore(cloud), **kwargs, chunk_size=chunk_size, rng=np.random.default_rng(1)).samples
    np.testing.assert_allclose(chunked, full, rtol=0, atol=1e-9 * np.abs(full).max())


def test_chunk_size_bounds_peak_memory():
    """n x N would take 400 MB (n = 2500 queries, N = 20000 points); with chunk_size = 100 the peak
    traced by tracemalloc stays below 40 MB (the 100 x 20000 logit block is 16 MB)."""
    cloud = PointCloud(np.random.default_rng(0).standard_normal((20_000, 4)))
    tracemalloc.start()
    try:
        reverse_sde(ExactScore(cloud), d=4, n=2500, T=1.0, delta=0.1, steps=2, chunk_size=100,
                    rng=np.random.default_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6, peak


def test_float32_storage():
    res = reverse_sde(_ok_score, d=3, n=100, T=2.0, delta=1e-3, steps=20, dtype=np.float32,
                      rng=np.random.default_rng(0))
    assert res.samples.dtype == np.float32 and np.all(np.isfinite(res.samples))


# -- grids, priors, observers ----------------------------------------------------------------------

@pytest.mark.parametrize("grid", list(Grid))
def test_time_grid_is_decreasing_from_T_to_delta(grid):
    times = time_grid(3.0, 1e-4, 50, grid)
    assert times.shape == (51,) and times[0] == 3.0 and times[-1] == 1e-4
    assert np.all(np.diff(times) < 0)


def test_geometric_grid_spends_equal_steps_per_decade():
    times = time_grid(1.0, 1e-4, 40, Grid.GEOMETRIC)
    per_decade = np.histogram(np.log10(times[1:]), bins=[-4, -3, -2, -1, 0])[0]
    assert np.all(per_decade == 10)


def test_point_mass_prior_on_a_single_point_is_exact_bridge():
    """mu = delta_{x0}: the posterior scheme is exact for any step size, so with pi = delta_y the
    output at delta is N(alpha(delta) x0 + ..., ...) = law(X_delta | X_T = y, X_0 = x0) exactly.
    Seed 2, n = 100000, 3 steps only; mean within 5 s.e. per coordinate."""
    process, T, delta = OU(), 1.0, 0.05
    x0, y = np.array([1.0, -2.0]), np.array([0.3, 0.4])
    point = PointCloud(x0[None, :])
    res = reverse_sde(ExactScore(point), d=2, n=100_000, T=T, delta=delta, steps=3, prior=PointMass(y),
                      rng=np.random.default_rng(2))
    a, v = process.transition(delta, T)
    s0, s1 = float(process.sigma2(delta)), float(process.sigma2(T))
    mean = (a * s0 / s1) * y + (v / s1) * float(process.alpha(delta)) * x0
    var = s0 * v / s1
    assert np.all(np.abs(res.samples.mean(axis=0) - mean) < 5 * np.sqrt(var / 100_000))
    assert abs(res.samples.var(axis=0).mean() / var - 1) < 5 * np.sqrt(2 / 200_000)


# -- exact ancestral sampling of a PointCloud ------------------------------------------------------
ANCESTRAL_CLOUD = PointCloud([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.5, 1.5]], [0.4, 0.3, 0.2, 0.1])
ANCESTRAL_N = 4000
ANCESTRAL_ALPHA = 0.01  # family-wise, Bonferroni over the five tests of ancestral_pvalue
ANCESTRAL_SETUPS = {"OU": (OU(), 1.0, 0.05), "VP": (VP(), 0.5, 0.02), "VE": (VE(sigma_min=0.01, sigma_max=5.0), 1.0, 0.05)}


def ancestral_pvalue(name: str, seed: int, *, ancestral: bool = True, steps: int = 3) -> float:
    """Bonferroni p-value of "the sampler's output at delta is distributed as p_delta".

    Sampler: the POSTERIOR scheme from the exact p_T on a 3-step geometric grid, with the
    AncestralScore (exact in law) or, as the control, the exact score (posterior mean frozen).
    Reference: ANCESTRAL_N direct draws alpha(delta) X_0 + sigma(delta) Z. Tests: two-sample KS on
    four projections and the chi-square of nearest-atom counts (2 x 4 contingency table).
    The atoms overlap at T (sigma(T) is comparable to their spacing), where the frozen mean is wrong.
    """
    process, T, delta = ANCESTRAL_SETUPS[name]
    cloud = ANCESTRAL_CLOUD
    score = AncestralScore(cloud, np.random.default_rng([seed, 1]), process=process) if ancestral \
        else ExactScore(cloud, process=process)
    out = reverse_sde(score, d=2, n=ANCESTRAL_N, T=T, delta=delta, steps=steps, process=process,
                      prior=ExactMarginal(cloud, T, process=process), rng=np.random.default_rng([seed, 0])).samples
    ref = ExactMarginal(cloud, delta, process=process).sample(ANCESTRAL_N, np.random.default_rng([seed, 2]))
    pvalues = [stats.ks_2samp(out @ e, ref @ e).pvalue
               for e in (np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, -1.0]))]
    counts = [np.bincount(cloud.nearest(y)[0], minlength=cloud.size) for y in (out, ref)]
    pvalues.append(stats.chi2_contingency(np.array(counts))[1])
    return min(1.0, len(pvalues) * min(pvalues))


@pytest.mark.parametrize("name", list(ANCESTRAL_SETUPS))
def test_ancestral_score_samples_p_delta_exactly_on_three_steps(name):
    """AncestralScore + POSTERIOR scheme from the exact p_T: the output is p_delta exactly, on a
    3-step grid. Seed 0, n = 4000 against 4000 direct draws, family-wise level 0.01. Rejections
    measured over seeds 0..199: OU 0, VP 3, VE 2 (2 expected at the nominal level; Bonferroni makes it an upper bound).
    """
    assert ancestral_pvalue(name, seed=0) > ANCESTRAL_ALPHA


@pytest.mark.parametrize("name", list(ANCESTRAL_SETUPS))
def test_frozen_posterior_mean_is_caught_by_the_same_test(name):
    """Negative control: the plain exact score with the same scheme, grid and prior (the posterior
    mean frozen over each step) is rejected. Seed 0; rejected at seeds 0..49 in 50/50 runs per process."""
    assert ancestral_pvalue(name, seed=0, ancestral=False) <= ANCESTRAL_ALPHA


def test_posterior_sample_matches_posterior_and_ignores_chunking():
    """PointCloud.posterior_index: draws at one query follow posterior() (chi-square, seed 5,
    n = 20000, level 1e-3; rejected at 4 of seeds 0..1999, 2 expected), and drawing the rows in two
    chunks from one generator gives the same indices as one call."""
    cloud = ANCESTRAL_CLOUD
    x = np.tile([[0.5, 0.4]], (20_000, 1))
    probs = cloud.posterior(0.3, x[:1])[0]
    draws = cloud.posterior_index(0.3, x, np.random.default_rng(5))
    counts = np.bincount(draws, minlength=cloud.size)
    assert stats.chisquare(counts, probs * len(x)).pvalue > 1e-3
    # Exact equality of the draws: the chunks' logits may differ by BLAS rounding (~1e-15 relative),
    # which changes a draw only if its uniform falls that close to a step of the CDF (probability
    # ~1e-13 for these 50 draws).
    y = np.random.default_rng(6).standard_normal((50, 2))
    whole = cloud.posterior_index(0.1, y, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    parts = np.concatenate([cloud.posterior_index(0.1, y[:17], rng), cloud.posterior_index(0.1, y[17:], rng)])
    np.testing.assert_array_equal(parts, whole)


def test_ancestral_score_draws_do_not_depend_on_chunk_size():
    """The posterior draws take one uniform per row in row order, so chunking the score's rows
    changes the run only by the rounding of the logit products (the atom drawn is the same)."""
    def run(chunk_size):
        score = AncestralScore(ANCESTRAL_CLOUD, np.random.default_rng(8))
        return reverse_sde(score, d=2, n=300, T=1.0, delta=0.05, steps=5, chunk_size=chunk_size,
                           prior=ExactMarginal(ANCESTRAL_CLOUD, 1.0), rng=np.random.default_rng(9)).samples

    whole = run(None)
    for chunk_size in (1, 7, 64):
        np.testing.assert_allclose(run(chunk_size), whole, rtol=0, atol=1e-9)


def test_ancestral_score_rejects_measures_without_posterior_draws():
    with pytest.raises(TypeError, match="PointCloud"):
        AncestralScore(Subspace(1, 2), np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        AncestralScore(ANCESTRAL_CLOUD, 0)


def test_student_t_prior_runs_and_lands():
    sub = Subspace(1, 3)
    res = reverse_sde(ExactScore(sub), d=3, n=2000, T=5.0, delta=1e-4, steps=100, prior=StudentT(3, df=3),
                      rng=np.random.default_rng(4))
    assert np.sqrt(np.mean(sub.distance(res.samples) ** 2)) < 5 * np.sqrt(2 * float(OU().sigma2(1e-4)))


def test_observers_record_without_storing_paths():
    sub = Subspace(1, 3)
    exact = ExactScore(sub)
    res = reverse_sde(NormalScaling(exact, sub, 0.5), d=3, n=500, T=2.0, delta=1e-3, steps=50,
                      record={"dist": Distance(sub, every=10), "norm": ScoreNorm(every=5),
                              "err": ErrorIntegral(exact), "paths": Trajectory(4, every=25)},
                      rng=np.random.default_rng(0))
    dist, norm, err, paths = (res.records[k] for k in ("dist", "norm", "err", "paths"))
    assert dist.t.tolist() == res.times[[0, 10, 20, 30, 40, 50]].tolist()
    assert np.isclose(dist["rms"][-1], np.sqrt(np.mean(sub.distance(res.samples) ** 2)))
    assert norm.t.size == 10 and np.all(norm["mean_sq"] > 0)
    assert err.t.size == 50 and np.all(np.diff(err["mean"]) >= 0) and err["final"].shape == (500,)
    assert paths["y"].shape == (3, 4, 3)
