"""The C5 claim check (checks/c5_dimension.py): the explosion rate encodes the dimension.

The fast test runs the check at the CI seed ``DEFAULT_SEED`` = 20220601 and asserts every case
CONFIRMED and every near-miss control REFUTED, each control on the decision it is built to move.
The rules, their family-wise alpha = 0.01 (Bonferroni over the table's statistical decisions) and
sample sizes are in the module docstring.

False failures: seeds 0..19 of the fast budget gave 0 runs with a wrong verdict out of 20 (36 cases
and 4 controls each; the closest decision, a level test, stayed 0.27 standard normal quantiles
inside its threshold). The full budget (n = 40000 per node, plus the digits) is the slow test,
confirmed at the CI seed.
"""

from __future__ import annotations

import json

import pytest
from scipy import stats

from checks import c5_dimension as c5
from checks import judges
from checks.harness import Budget, Role, Verdict


@pytest.fixture(scope="module")
def fast():
    return c5.run(seed=c5.DEFAULT_SEED, budget="fast")


def test_fast_budget_confirms_every_case_and_refutes_every_control(fast):
    table = [(c.name, c.role.value, c.verdict.value) for c in fast.cases]
    assert fast.claim == "C5" and len(fast.main_cases) == 36 and len(fast.controls) == 4, table
    for case in fast.main_cases:
        assert case.verdict is Verdict.CONFIRMED, (case.name, case.decisions)
    for case in fast.controls:
        assert case.role is Role.CONTROL_RUN and case.verdict is Verdict.REFUTED, (case.name, case.decisions)
    assert fast.verdict is Verdict.CONFIRMED
    json.dumps(fast.to_dict(), allow_nan=False)


@pytest.mark.parametrize("variant, tests", [
    (c5.Variant.SHRUNK, {"limit", "integral"}),
    (c5.Variant.SIGMA2_OFF, {"level"}),
    (c5.Variant.BLIND, {"limit", "rank"}),
    (c5.Variant.SMOOTHED, {"limit"}),
])
def test_each_control_is_refuted_on_what_it_is_built_to_move(fast, variant, tests):
    case = next(c for c in fast.controls if c.name.endswith(variant.value))
    refuted = {d.test for d in case.decisions if d.verdict is Verdict.REFUTED}
    assert tests <= refuted, (case.name, case.decisions)


def test_levels_and_integrals_are_judged_where_predicted(fast):
    """The exact finite-t level on the Subspace and the point clouds, the weighted integral everywhere."""
    for case in fast.main_cases:
        tests = {d.test for d in case.decisions}
        assert {"limit", "integral", "rank"} <= tests, case.name
        exact = case.name.startswith(("Subspace", "PointCloud"))
        assert ("level" in tests) is exact, case.name


def test_the_table_and_plans():
    for budget in Budget:
        specs = c5.CHECK.cases(budget)
        plan = c5.PLANS[budget]
        assert plan.family == sum(t in c5._STATISTICAL for s in specs for t in s.tests())
        assert plan.z == pytest.approx(stats.norm.isf(plan.alpha / (2 * plan.family)), rel=1e-12)
    assert any(s.shape is c5.Shape.DIGITS for s in c5.CHECK.cases(Budget.FULL))
    assert not any(s.shape is c5.Shape.DIGITS for s in c5.CHECK.cases(Budget.FAST))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    (dict(shape="Sphere(2,5)", proc=c5.Proc.OU), TypeError, "shape must be a Shape"),
    (dict(shape=c5.Shape.SPHERE25, proc="OU"), TypeError, "proc must be a Proc"),
    (dict(shape=c5.Shape.CIRCLE2, proc=c5.Proc.OU, variant=c5.Variant.SHRUNK), ValueError,
     "the controls run on Sphere"),
])
def test_case_specs_are_validated(kwargs, error, match):
    with pytest.raises(error, match=match):
        c5.ExplosionCase(**kwargs)


def test_budget_is_validated():
    with pytest.raises(ValueError, match="budget must be one of"):
        c5.run(seed=0, budget="medium")


def test_equal_rule():
    assert judges.equal("rank", "r", 3, 3, source="s").verdict is Verdict.CONFIRMED
    d = judges.equal("rank", "r", 2, 3, source="s")
    assert d.verdict is Verdict.REFUTED and d.measured.value == 2.0 and d.expected.value == 3 and d.margin is None


@pytest.mark.slow
def test_full_budget():
    """n = 40000 per node, the digits added (needs scikit-learn); minutes."""
    pytest.importorskip("sklearn")
    result = c5.run(seed=c5.DEFAULT_SEED, budget="full")
    assert result.verdict is Verdict.CONFIRMED, [(c.name, c.verdict.value) for c in result.cases]
