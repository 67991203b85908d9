"""The range of t on which a score's explosion profile can be trusted, and the decisive window (CLAIMS.md C8).

Two facts about exact scores bound what a trusted profile c(t) = sigma^2 E|s(t, X_t)|^2 (on the
forward-noised training set, :mod:`theory.learned.profiles`) may do:

- Stam's inequality: c(t) <= d for the exact score of the training set's forward law, and every
  exact score of a measure the training points lie on has c(t) <= d near t = 0 as well (its limit
  is d - k). A profile above d is no exact behaviour.
- Tweedie's formula, sigma s = -E[Z | X_t] for the exact score of the training set's forward law,
  gives a(t) = c(t) for the alignment a = -E[sigma s . Z] (:mod:`theory.learned.profiles`); inside
  the decisive window the population score obeys it too, and so does any score that follows one of
  the two near each training point. A score whose output has the size of an exact score's but not
  its direction (a network extrapolating outside its training range) or whose explosion is scaled
  (c = f^2 (d - k) but a = f (d - k)) breaks it: |a - c| > ALIGNMENT_TOL k_ref is no exact behaviour.
- Inside the decisive window (below), an exact score's profile approaches its limit from below or
  stays flat as t decreases: the empirical score's rises to d as the posterior concentrates on one
  point, the population score's stays at d - k up to O(sigma^2) curvature terms. Measured with
  n = 4000 for the circles in R^2 and R^3, the 2-spheres in R^3..R^5 and the flat torus, N = 4..1024
  training points: inside the window neither exact profile falls below its running maximum by more
  than 0.068 k (0.136 at k = 2: the 2-sphere in R^4 with N = 4, whose window starts at t = 0.046,
  sigma^2 = 0.09, where the curvature terms show), and by at most 0.034 k elsewhere. A profile that
  falls while t decreases is losing resolution: a network whose output eps_theta cannot follow the
  1/sigma-steep noise any more predicts eps ~ 0 there, and c(t) drops towards 0, the profile of a
  bounded drift (CLAIMS.md C4).

The decisive window is where the two hypotheses differ: the exact empirical score's profile is
within BAND k_ref of d (the training points are separated at the scale sigma(t)), so a score that
lands on the points must show c ~ d there and one that lands on a k-dimensional set c ~ d - k.
Below t_sep (the largest such t) and inside the trusted range lies the window; the codimension is
read at its bottom, the smallest t the score resolves.

k_ref is the population's intrinsic dimension when it is known and 1 otherwise (the smallest
nonzero gap between the two hypotheses), so the thresholds are fractions of the gap d - (d - k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.learned.profiles import ExplosionProfile

# Decision band, as a fraction of the gap k_ref between the hypotheses (codimensions d and d - k):
# a profile is "at d" when within BAND k_ref of it, "at d - k" when within BAND k_ref of that.
# Read for a score that follows the empirical score near some training points and the population
# score near the others, c = d - (1 - f) k with f the memorized fraction, so BAND = 1/4 asks for at
# least three quarters of the training set on one side. (The trained networks of the calibration on
# spheres and the torus look like such mixtures: their alignment, equal to c for a mixture, stayed
# within 0.046 k of c wherever a verdict was given, and within 0.2 k everywhere.) Against the
# noise: the standard error of the codimension estimate at the default n = 4000 is at most 0.033
# (2-spheres and torus, k = 2) and 0.024 (circles, k = 1), so BAND k_ref is at least 7.6 of them;
# the exact scores' estimates lie within 0.061 of d - k and of d (the latter: the empirical score of
# 1024 points on the circle, still concentrating at the bottom of the grid), all in the study named
# in the module docstring.
BAND = 0.25
# Largest fall of the profile below its running maximum inside the window, as a fraction of k_ref,
# before the score counts as losing resolution: half the decision band, so the codimension read at
# the bottom of a trusted window is at most BAND / 2 below the profile's best; 1.8 times the largest
# fall of an exact score's profile (0.068 k, module docstring).
DROP = BAND / 2
# Largest |alignment - profile| inside the window, as a fraction of k_ref, of a trusted node: DROP.
# Measured: at most 0.014 for the exact scores of the study above; at most 0.046 k for the trained
# networks of the calibration that were given a verdict. A pointwise interpolation w s_emp +
# (1 - w) s_pop has a - c = w (1 - w) k (0.23 k at w = 0.35): it memorizes for every w > 0 while its
# c = d - k + w^2 k reads as generalization, so the check keeps such scores out of the window
# unless w (1 - w) <= ALIGNMENT_TOL, where the sampler's landing slope w is at most 0.15.
ALIGNMENT_TOL = DROP
# Excess of the profile over Stam's bound d, as a fraction of k_ref, beyond which a node is no exact
# behaviour: the decision band (a score exploding faster than any point set cannot be read as one).
STAM_EXCESS = BAND
# Shortest decisive window, in decades of t, on which a verdict is given: one decade, so that the
# measurement (theory.learned.sampling) fits a slope over at least three deltas spanning a factor 10
# in t (sqrt(10) = 3.2 in sigma between a slope-1/2 and a flat distance curve).
MIN_WINDOW_DECADES = 1.0
# Nodes at the bottom of the window whose mean is the codimension estimate: about half a decade
# at four nodes per decade, the t -> 0 end of what the score resolves.
ESTIMATE_NODES = 3


@dataclass(frozen=True)
class Resolution:
    """Where the profile is trusted, where the hypotheses differ, and why.

    trusted : (m,) bool, the nodes from the top of the grid down to the floor. t_top, t_floor :
    the trusted range [t_floor, t_top] (None when no node is trusted). t_separation : the largest t
    below which the empirical score's profile stays within BAND k_ref of d (None if it never gets
    there on the grid). window : (t_low, t_high), the trusted nodes at or below t_separation, or
    None. window_decades : log10(t_high / t_low) (0 without a window). estimate_nodes : (m,) bool,
    the nodes whose mean is the codimension estimate. k_ref : the gap unit. floor_reason : why the
    trusted range ends where it does.
    """

    trusted: np.ndarray
    t_top: float | None
    t_floor: float | None
    t_separation: float | None
    in_window: np.ndarray
    window: tuple[float, float] | None
    window_decades: float
    estimate_nodes: np.ndarray
    k_ref: int
    floor_reason: str

    @property
    def decisive(self) -> bool:
        """The window spans at least MIN_WINDOW_DECADES (up to the rounding of log10 of grid times that
        are exactly a decade apart, hence the 1e-9)."""
        return self.window is not None and self.window_decades >= MIN_WINDOW_DECADES - 1e-9


def resolve(profile: ExplosionProfile, *, k_ref: int, check_alignment: bool = True) -> Resolution:
    """The trusted range and the decisive window of ``profile`` (module docstring).

    Walking down the grid from its top, node j is trusted while c(t_j) <= d + STAM_EXCESS k_ref and,
    at or below t_separation, c(t_j) >= max(c over the window nodes above it) - DROP k_ref and (with
    ``check_alignment``) |a(t_j) - c(t_j)| <= ALIGNMENT_TOL k_ref. Without the alignment condition
    the range is that of the explosion profile alone, as CLAIMS.md C8 states the prediction.
    """
    times, c, d = profile.times, profile.value, profile.d
    m = times.size
    above = profile.empirical >= d - BAND * k_ref
    # the first node from which the empirical profile stays within the band down to the grid's end
    sep_index = None
    for j in range(m - 1, -1, -1):
        if not above[j]:
            break
        sep_index = j
    trusted = np.zeros(m, dtype=bool)
    reason = f"every node from t = {times[0]:.3g} down to t = {times[-1]:.3g} follows an exact behaviour"
    running_max = -np.inf
    for j in range(m):
        if c[j] > d + STAM_EXCESS * k_ref:
            reason = (f"at t = {times[j]:.3g} the explosion profile is {c[j]:.3f}, above Stam's bound d = {d} by more "
                      f"than {STAM_EXCESS * k_ref:.3g}: no exact score explodes faster than a point set")
            break
        if sep_index is not None and j >= sep_index:
            gap = profile.alignment[j] - c[j]
            if check_alignment and abs(gap) > ALIGNMENT_TOL * k_ref:
                reason = (f"at t = {times[j]:.3g} the alignment -E[sigma s . Z] = {profile.alignment[j]:.3f} is "
                          f"{gap:+.3f} from the explosion profile {c[j]:.3f} (more than {ALIGNMENT_TOL * k_ref:.3g}): "
                          f"the score breaks Tweedie's identity a = c of exact scores")
                break
            if c[j] < running_max - DROP * k_ref:
                reason = (f"at t = {times[j]:.3g} the explosion profile is {c[j]:.3f}, {running_max - c[j]:.3f} "
                          f"below its maximum {running_max:.3f} higher in the window (more than "
                          f"{DROP * k_ref:.3g}): the score loses resolution as t decreases")
                break
            running_max = max(running_max, c[j])
        trusted[j] = True
    t_top = float(times[0]) if trusted[0] else None
    t_floor = float(times[np.flatnonzero(trusted)[-1]]) if trusted.any() else None
    in_window = trusted.copy()
    if sep_index is None:
        in_window[:] = False
    else:
        in_window[:sep_index] = False
    estimate = np.zeros(m, dtype=bool)
    if in_window.any():
        idx = np.flatnonzero(in_window)
        window = (float(times[idx[-1]]), float(times[idx[0]]))
        decades = float(np.log10(window[1] / window[0]))
        estimate[idx[-ESTIMATE_NODES:]] = True
    else:
        window, decades = None, 0.0
    return Resolution(trusted=trusted, t_top=t_top, t_floor=t_floor,
                      t_separation=None if sep_index is None else float(times[sep_index]), in_window=in_window,
                      window=window,
                      window_decades=decades, estimate_nodes=estimate, k_ref=k_ref, floor_reason=reason)
