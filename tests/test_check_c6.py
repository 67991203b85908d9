"""The C6 (sharp landing boundary) claim check: verdicts in both budgets.

Each fast test runs the check at its ``DEFAULT_SEED`` and asserts the overall verdict CONFIRMED,
every main case CONFIRMED and every negative control REFUTED. The statistical rules, their alpha
(family-wise 0.01, Bonferroni), sample sizes and tolerances are stated in the check modules'
docstrings.
"""

from __future__ import annotations

import pytest

from checks import c6_boundary
from check_assertions import assert_as_predicted


def test_c6_fast():
    """C6, budget fast, seed 20220601: measured phase diagrams agree with the sharp boundary; the
    'every offset lands', 'beta = 0 lands' and 'L2 region as landing predictor' controls are refuted.

    False-failure rate: seeds 0..49 gave 0 runs (of 50) with a wrong verdict (any case or
    control); the stated family-wise alpha is 0.01.
    """
    result = c6_boundary.run(seed=c6_boundary.DEFAULT_SEED, budget="fast")
    assert_as_predicted(result, "C6")
    l2_controls = [c for c in result.controls if "L2 region" in c.name]
    assert len(l2_controls) == 2
    for case in l2_controls:  # not L2, yet the samples land: the L2 condition is not necessary
        assert case.prediction["C6_prediction"]["l2"] is False
        assert case.measurement["lands_measured"] is True
    for case in result.main_cases:
        figure = case.figure
        assert figure["kind"] == "phase"
        assert figure["lands_measured"] == figure["lands_predicted"]
        for point in case.measurement["points"]:
            assert len(case.measurement["deltas"]) >= 4
            assert point["asymptotic_design_ok"]


def test_budget_is_validated():
    with pytest.raises(ValueError, match="budget must be one of"):
        c6_boundary.run(seed=0, budget="medium")


@pytest.mark.slow
def test_full_budget():
    """The full study (minutes): larger n; 7 values of a (0 .. 1.25)
    at two values of c per manifold, 6 of beta (0 .. 1.5), Sphere(2, 3), VP, and 4 decades of delta."""
    result = c6_boundary.run(seed=c6_boundary.DEFAULT_SEED, budget="full")
    assert_as_predicted(result, "C6")
    for case in result.main_cases:
        minimum = 6 if case.figure["family"] == "normal_offset" else 5
        assert len(case.figure["param"]) >= minimum
        assert case.measurement["points"] and len(case.measurement["deltas"]) >= 9
