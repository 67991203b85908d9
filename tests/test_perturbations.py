"""theory.perturbations: every family is base + error with its error in closed form, and the new
families (sign flip, dropped mixture component, rescaled, growing clip) do what their formulas say."""

from __future__ import annotations

import numpy as np
import pytest

from theory import OU, VP, Mixture, PointCloud, Sphere, Subspace
from theory import perturbations as pert

RNG = np.random.default_rng(11)
X = RNG.standard_normal((40, 3))
SPHERE = Sphere(1, 3)
EXACT = pert.ExactScore(SPHERE)
MIX = Mixture((SPHERE, PointCloud([[0.0, 0.0, 2.0]])))

FAMILIES = {
    "bounded": pert.BoundedConstant(EXACT, np.array([0.3, -0.1, 0.2])),
    "offset": pert.NormalOffset(EXACT, SPHERE, np.array([0.0, 0.0, 1.0]), 0.5, 0.25),
    "scaling": pert.NormalScaling(EXACT, SPHERE, 0.5),
    "tangential": pert.Tangential(EXACT, SPHERE, np.array([1.0, 0.5, 0.5]), 0.7),
    "clipped": pert.Clipped(EXACT, 3.0),
    "growing clip": pert.Clipped(EXACT, 3.0, growth=0.5, process=OU()),
    "smoothed": pert.Smoothed(SPHERE, 0.1),
    "random field": pert.RandomField(EXACT, 3, np.random.default_rng(0), amplitude=0.5),
    "sign flip": pert.SignFlip(EXACT),
    "dropped component": pert.DroppedComponent(MIX, 0),
    "rescaled": pert.Rescaled(EXACT, process=VP(), factor=0.5, sigma_power=0.5),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("t", [1e-3, 0.3])
def test_score_is_base_plus_error(name, t):
    family = FAMILIES[name]
    base = family.score(t, X)
    # the value is a few scores' worth of additions: a few ulps of the largest term
    scale = np.abs(base).max() + np.abs(family.error(t, X)).max()
    np.testing.assert_allclose(family(t, X), base + family.error(t, X), rtol=0, atol=8 * np.finfo(float).eps * scale)


def test_sign_flip_and_rescaled_closed_forms():
    t = 0.01
    np.testing.assert_array_equal(pert.SignFlip(EXACT)(t, X), -EXACT(t, X))
    sigma2 = float(VP().sigma2(t))
    np.testing.assert_allclose(FAMILIES["rescaled"](t, X), 0.5 * sigma2**-0.25 * EXACT(t, X), rtol=4e-16)


def test_growing_clip_level_and_norms():
    clip = FAMILIES["growing clip"]
    for t in (1e-4, 1e-2):
        level = 3.0 * float(OU().sigma2(t)) ** -0.25
        # Tolerance: the same power and product on both sides (2 roundings of condition 1/4 and 1): 1e-15 = 4.5 eps.
        assert clip.level(t) == pytest.approx(level, rel=1e-15)
        norms = np.linalg.norm(clip(t, X), axis=1)
        assert norms.max() <= level * (1 + 1e-15)
    assert FAMILIES["clipped"].level(1e-4) == 3.0


def test_dropped_component_is_the_kept_components_score():
    np.testing.assert_array_equal(FAMILIES["dropped component"](0.1, X), SPHERE.score(0.1, X))
    near_point = np.array([[0.0, 0.0, 2.0 + 1e-3]])
    # near the dropped point the error is of order 1/sigma^2 * distance: the mixture pulls to the point
    assert np.linalg.norm(FAMILIES["dropped component"].error(1e-4, near_point)) > 1.0


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: pert.Clipped(EXACT, 3.0, growth=0.5), ValueError, "growth > 0 needs process"),
    (lambda: pert.Clipped(EXACT, 3.0, growth=-1.0, process=OU()), ValueError, "growth must be >= 0"),
    (lambda: pert.SignFlip("not a score"), TypeError, "score must be callable"),
    (lambda: pert.DroppedComponent(SPHERE, 0), TypeError, "mixture must be a Mixture"),
    (lambda: pert.DroppedComponent(MIX, 2), ValueError, r"keep must be a component index in \[0, 2\)"),
    (lambda: pert.Rescaled(EXACT, process=OU(), factor=float("nan")), ValueError, "factor must be finite"),
    (lambda: pert.Rescaled(EXACT, process="OU"), TypeError, "process must be a ForwardProcess"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_rescaled_subspace_estimator_identity():
    """sigma^2 |s / sigma|^2 = |s|^2: the 'estimator without sigma^2' control of C5 is exactly E|s|^2."""
    plane = Subspace(2, 5)
    s = pert.ExactScore(plane)
    r = pert.Rescaled(s, process=OU(), sigma_power=1.0)
    x = np.random.default_rng(2).standard_normal((10, 5))
    t = 0.05
    lhs = float(OU().sigma2(t)) * np.sum(r(t, x) ** 2, axis=1)
    # Tolerance: r = s sigma^-1 (a sqrt, a power, a product), 5 squares summed (positive terms, condition 1) and one
    # product with sigma^2: under 12 ulps, 1e-14 = 45 eps.
    np.testing.assert_allclose(lhs, np.sum(s(t, x) ** 2, axis=1), rtol=1e-14)
