"""Claim check C2 (detecting the manifold) on the harness.

The fast check at the CI seed: every case CONFIRMED, every negative control REFUTED. Its decisions
share a family-wise false-failure level of 0.01 (Bonferroni over the 33 case decisions, module
docstring of checks.c2_manifold). Measured over seeds 0..19 of the fast budget (the committed code):
0 wrong overall verdicts in 20 runs; closest case margin 0.25 band half-widths, weakest control
refuted by 1.94. The full budget (``slow``) was run for seed 0 (confirmed).
"""

from __future__ import annotations

import numpy as np
import pytest

from check_assertions import assert_as_predicted, assert_bonferroni_count
from checks import c2_manifold as c2
from checks import judges
from checks.harness import Budget, Estimate, Verdict


def test_c2_fast():
    """Exact rows at the levels, rates and cell masses of p_delta; L2 rows land at the exact rate with
    cell masses inside the Girsanov/KL bounds; the prior and L2-region near misses are refuted."""
    assert_as_predicted(c2.run(seed=c2.DEFAULT_SEED, budget="fast"), "C2")


@pytest.mark.slow
def test_c2_full():
    assert_as_predicted(c2.run(seed=c2.DEFAULT_SEED, budget="full"), "C2")


@pytest.mark.parametrize("budget", list(Budget))
def test_the_bonferroni_count_is_the_number_of_case_decisions(budget):
    assert_bonferroni_count(c2.CHECK, c2.PLANS, budget)


def test_every_kind_of_row_is_in_the_fast_table():
    kinds = {r.kind for r in c2.CHECK.cases(Budget.FAST)}
    assert kinds == set(c2.Kind)


def test_the_amplitudes_spend_the_stated_nats():
    """c = sqrt(nats / W(a)): the Girsanov cost of c t^(-a) with |n| = 1 is c^2 W(a) = nats."""
    from theory.estimators import girsanov_weight

    for row in c2.CHECK.cases(Budget.FAST):
        if row.kind is c2.Kind.L2:
            w = girsanov_weight(row.proc.process(), row.proc.T, row.a)
            assert row.amplitude() ** 2 * w == pytest.approx(row.nats, rel=1e-6), row.name


def test_within_judge():
    """The interval rule: a band meeting [low, high] confirms, a band beside it refutes, margins in half-widths."""
    inside = judges.within("t", "s", Estimate(0.5, band=(0.4, 0.6)), 0.55, 0.9, source="x")
    beside = judges.within("t", "s", Estimate(0.3, band=(0.2, 0.4)), 0.5, 0.9, source="x")
    assert inside.verdict is Verdict.CONFIRMED and inside.margin == pytest.approx(0.5)
    assert beside.verdict is Verdict.REFUTED and beside.margin == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="needs a band"):
        judges.within("t", "s", Estimate(0.3), 0.0, 1.0, source="x")
    with pytest.raises(ValueError, match="low <= high"):
        judges.within("t", "s", Estimate(0.3, band=(0.2, 0.4)), 1.0, 0.0, source="x")


def test_exact_output_levels_use_the_symbolic_twin():
    """The predicted RMS of p_delta on a linear subspace is sqrt((d - k) sigma(delta)^2) (closed form);
    the forward draws must match it within their Monte-Carlo error (4 standard errors)."""
    from theory import OU, Subspace

    measure, process = Subspace(k=1, d=6), OU()
    deltas = np.array([1e-2, 1e-4])
    levels, ses = c2.exact_output_levels(measure, process, deltas, 20000, np.random.default_rng(3))
    closed = np.sqrt(5 * -np.expm1(-2 * deltas))
    assert np.all(np.abs(np.log(levels / closed)) < 4 * ses)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: c2.C2Case("circle", c2.Proc.OU), TypeError, "shape must be a Shape"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, c2.Family.OFFSET, nats=1.0, kind=c2.Kind.EXACT), ValueError,
     "exact score goes with"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, start=c2.Start.REFERENCE), ValueError, "starts from p_T"),
    (lambda: c2.C2Case(c2.Shape.LINE, c2.Proc.OU, c2.Family.OFFSET, kind=c2.Kind.L2), ValueError, "an L2 amplitude"),
    (lambda: c2.C2Case(c2.Shape.LINE, c2.Proc.OU, c2.Family.OFFSET, a=0.55, c=0.3, kind=c2.Kind.L2), ValueError,
     "an L2 row needs a < 1/2"),
    (lambda: c2.C2Case(c2.Shape.LINE, c2.Proc.OU, c2.Family.OFFSET, nats=0.1, kind=c2.Kind.JUDGED_AS_L2), ValueError,
     "beyond the L2 region"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, c2.Family.TANGENTIAL, c2.Start.POINT_MASS, nats=0.1,
                       kind=c2.Kind.L2), ValueError, "point-mass prior"),
    (lambda: c2.C2Case(c2.Shape.LINE, c2.Proc.OU, c2.Family.TANGENTIAL, nats=0.1, kind=c2.Kind.L2), ValueError,
     "defined on the circle"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, c2.Family.OFFSET, nats=0.1, kind=c2.Kind.L2), ValueError,
     "linear subspace"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, kind=c2.Kind.LEVELS), ValueError, "need a linear subspace"),
    (lambda: c2.C2Case(c2.Shape.CIRCLE, c2.Proc.OU, kind=c2.Kind.MASSES), ValueError, "need a mixture"),
    (lambda: c2.C2Case(c2.Shape.PLANE, c2.Proc.OU, kind=c2.Kind.LEVELS, n_scale=0), ValueError, "n_scale"),
    (lambda: c2.C2Case(c2.Shape.PLANE, c2.Proc.OU, steps_per_decade=2.5), ValueError, "steps_per_decade"),
])
def test_bad_rows(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(("budget", "match"), [("medium", "budget must be one of"), (None, "budget must be one of")])
def test_bad_budget(budget, match):
    with pytest.raises(ValueError, match=match):
        c2.run(seed=0, budget=budget)
