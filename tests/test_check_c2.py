"""The C2 (detecting the manifold) claim check: verdicts in both budgets.

Each fast test runs the check at the fixed seed ``DEFAULT_SEED`` and asserts the overall verdict
CONFIRMED, every main case CONFIRMED and every negative control REFUTED. The statistical rules,
their alpha and sample sizes are stated in the check modules' docstrings.
"""

from __future__ import annotations

import pytest

from checks import c2_manifold
from check_assertions import assert_as_predicted


def test_c2_fast():
    """C2, budget fast, seed 20220601: every case confirmed, every control refuted.

    False-failure rate: seeds 0..49 gave 0 of 50 runs with a wrong verdict (30 cases: 13 exact
    baselines, 13 error cases, 4 controls). Expected: the slope tests have margins of > 5 band
    half-widths, and the coverage test fails with probability ~1e-4 per run (module docstring).
    """
    result = c2_manifold.run(seed=c2_manifold.DEFAULT_SEED, budget="fast")
    assert_as_predicted(result, "C2")
    names = {c.name for c in result.controls}
    assert any("a=1.25" in n for n in names) and any("sign_flip" in n for n in names)


def test_budget_is_validated():
    with pytest.raises(ValueError, match="budget must be one of"):
        c2_manifold.run(seed=0, budget="medium")


@pytest.mark.slow
def test_full_budget():
    """The full studies (minutes): larger n, more deltas and decades, the whole case grid."""
    result = c2_manifold.run(seed=c2_manifold.DEFAULT_SEED, budget="full")
    assert_as_predicted(result, "C2")
