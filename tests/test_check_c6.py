"""The C6 claim check (checks/c6_boundary.py): the L2 condition is sufficient, not necessary.

The fast test runs the check at the CI seed ``DEFAULT_SEED`` = 20220601 and asserts every case
CONFIRMED and every control REFUTED, each control on the decision it is built to move. The rules,
their family-wise alpha = 0.01 (Bonferroni over the cases' 36 statistical decisions), sample sizes
and tolerances are in the module docstring.

False failures: seeds 0..19 of the fast budget gave 0 runs with a wrong verdict out of 20 (8 cases,
6 controls each); closest case margin 0.20 band half-widths, weakest control refuted by 1.75. The full budget
is the slow test.
"""

from __future__ import annotations

import json

import pytest

from checks import c6_boundary as c6
from checks.harness import Budget, Role, Verdict


@pytest.fixture(scope="module")
def fast():
    return c6.run(seed=c6.DEFAULT_SEED, budget="fast")


def test_fast_budget_confirms_every_case_and_refutes_every_control(fast):
    table = [(c.name, c.role.value, c.verdict.value) for c in fast.cases]
    assert fast.claim == "C6" and len(fast.main_cases) == 8 and len(fast.controls) == 6, table
    for case in fast.main_cases:
        assert case.verdict is Verdict.CONFIRMED, (case.name, case.decisions)
    for case in fast.controls:
        assert case.verdict is Verdict.REFUTED, (case.name, case.decisions)
    assert fast.verdict is Verdict.CONFIRMED
    json.dumps(fast.to_dict(), allow_nan=False)


def test_rates_and_levels_are_judged_at_every_point(fast):
    for case in fast.main_cases:
        params = [p["param"] for p in case.record["points"]]
        tests = [d.test for d in case.decisions]
        symbol = "a" if case.name.startswith("normal offset") else "beta"
        assert tests == [f"{kind} at {symbol} = {p:g}" for p in params for kind in ("rate", "level")]
        assert case.figure.kind == "phase" and case.figure.data["lands_measured"] == case.figure.data["lands_predicted"]


@pytest.mark.parametrize("start, role, test", [
    ("boundary moved to a = ", Role.CONTROL_RUN, "rate"),
    ("boundary moved to beta = -", Role.CONTROL_RUN, "rate"),
    ("boundary moved to beta = 0.", Role.CONTROL_RUN, "rate"),
    ("amplitude c x", Role.CONTROL_RUN, "level"),
    ("L2 region as landing predictor at a", Role.CONTROL_REJUDGED, "trend"),
    ("L2 region as landing predictor at beta", Role.CONTROL_REJUDGED, "trend"),
])
def test_each_control_is_refuted_on_what_it_is_built_to_move(fast, start, role, test):
    case = next(c for c in fast.controls if c.name.startswith(start))
    assert case.role is role
    assert [d.test.split(" at ")[0] for d in case.decisions if d.verdict is Verdict.REFUTED] == [test], case.decisions


@pytest.mark.parametrize("budget", list(Budget))
def test_plan_counts_the_tables_statistical_decisions(budget):
    cases = [s for s in c6.CHECK.cases(budget) if s.role is Role.CASE]
    assert c6.PLANS[budget].tests == sum(s.tests for s in cases)


def _points(budget):
    for spec in c6.CHECK.cases(budget):
        if isinstance(spec, c6.PhaseCase):
            yield from spec.points()
        elif isinstance(spec, c6.NearMiss):
            yield spec.simulated()


@pytest.mark.parametrize("budget", [Budget.FAST, pytest.param(Budget.FULL, marks=pytest.mark.slow)])
def test_closed_form_rate_matches_the_moment_odes_deep_down(budget):
    """The a-priori tolerance ASYMPTOTIC_TOL bounds |s_deep - r_claim| on every point of the table
    (the largest is 2.5e-3, beta = 1/2 under VE, full budget; 8e-6 on the fast table)."""
    plan = c6.PLANS[budget]
    for point in _points(budget):
        predicted = c6.predict(point, plan)
        assert abs(predicted.s_deep - predicted.r_form_deep) <= c6.ASYMPTOTIC_TOL, point


@pytest.mark.parametrize("make, error, match", [
    (lambda: c6.Point(c6.Shape.CIRCLE, c6.Proc.OU, c6.Family.OFFSET, 0.5, 1.0), ValueError, "constant normal"),
    (lambda: c6.Point(c6.Shape.LINE, c6.Proc.OU, c6.Family.OFFSET, 0.5), ValueError, "amplitude c > 0"),
    (lambda: c6.Point(c6.Shape.LINE, c6.Proc.OU, c6.Family.SCALED, 0.5, 1.0), ValueError, "no amplitude"),
    (lambda: c6.Point("line", c6.Proc.OU, c6.Family.SCALED, 0.5), TypeError, "Shape"),
    (lambda: c6.Point(c6.Shape.LINE, c6.Proc.OU, c6.Family.SCALED, float("nan")), ValueError, "finite"),
    (lambda: c6.PhaseCase(c6.Shape.LINE, c6.Proc.OU, c6.Family.SCALED, (0.5, 0.5)), ValueError, "distinct"),
    (lambda: c6.PhaseCase(c6.Shape.CIRCLE, c6.Proc.OU, c6.Family.SCALED, (0.0,)), ValueError, "does not land"),
    (lambda: c6.NearMiss(c6.Point(c6.Shape.LINE, c6.Proc.OU, c6.Family.SCALED, 0.5), c6.Miss.AMPLITUDE),
     ValueError, "offset family"),
])
def test_bad_cases_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_budget_is_validated():
    with pytest.raises(ValueError, match="budget must be one of"):
        c6.run(seed=0, budget="medium")


@pytest.mark.slow
def test_full_budget():
    """The full study: a in {0, ..., 1.25} and beta in {0, ..., 1.5} on the subspace under OU, VP and VE
    (including the non-landing points a >= 1 and beta = 0), the curved M under every process,
    Sphere(2, 3), 9 deltas over 4 decades, n = 8000."""
    result = c6.run(seed=c6.DEFAULT_SEED, budget="full")
    table = [(c.name, c.verdict.value) for c in result.cases]
    assert result.verdict is Verdict.CONFIRMED, table
