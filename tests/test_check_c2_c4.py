"""The C2 (detecting the manifold) and C4 (bounded drift) claim checks: verdicts in both budgets.

Each fast test runs the check at the fixed seed ``DEFAULT_SEED`` and asserts the overall verdict
CONFIRMED, every main case CONFIRMED and every negative control REFUTED. The statistical rules,
their alpha and sample sizes are stated in the check modules' docstrings.
"""

from __future__ import annotations

import pytest

from checks import c2_manifold, c4_bounded
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


def test_c4_fast():
    """C4, budget fast, seed 20220601: every plateau and the onset confirmed, the unclipped controls refuted.

    False-failure rate: seeds 0..49 gave 0 of 50 runs with a wrong verdict (12 cases: 9 plateaus,
    the onset, 2 controls); over those seeds the plateau bands stayed inside [-0.020, +0.029], the
    landing bands above +0.485, against the thresholds -+0.1.
    """
    result = c4_bounded.run(seed=c4_bounded.DEFAULT_SEED, budget="fast")
    assert_as_predicted(result, "C4")


@pytest.mark.parametrize("module", [c2_manifold, c4_bounded])
def test_budget_is_validated(module):
    with pytest.raises(ValueError, match="budget must be one of"):
        module.run(seed=0, budget="medium")


@pytest.mark.slow
@pytest.mark.parametrize("module, claim", [(c2_manifold, "C2"), (c4_bounded, "C4")])
def test_full_budget(module, claim):
    """The full studies (minutes): larger n, more deltas and decades, the whole case grid."""
    result = module.run(seed=module.DEFAULT_SEED, budget="full")
    assert_as_predicted(result, claim)
