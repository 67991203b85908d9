"""The assertion every claim check's fast test makes about its result (tests/test_check_c*.py)."""

from __future__ import annotations

import json

from checks.harness import CheckResult, Role, Verdict


def assert_as_predicted(result: CheckResult, claim: str, *, controls_run: bool = True) -> None:
    """``result`` is claim ``claim``'s: at least three cases, every one CONFIRMED; controls present,
    every one REFUTED (and, with ``controls_run``, each a run of its own, not a re-judged measurement);
    the claim CONFIRMED; its record strict JSON."""
    table = [(c.name, c.role.value, c.verdict.value) for c in result.cases]
    assert result.claim == claim
    assert result.controls and len(result.main_cases) >= 3, table
    for case in result.main_cases:
        assert case.verdict is Verdict.CONFIRMED, (case.name, [d.__dict__ for d in case.decisions], table)
    for case in result.controls:
        assert not controls_run or case.role is Role.CONTROL_RUN, case.name
        assert case.verdict is Verdict.REFUTED, (case.name, [d.__dict__ for d in case.decisions], table)
    assert result.verdict is Verdict.CONFIRMED, table
    json.dumps(result.to_dict(), allow_nan=False)


def assert_bonferroni_count(check, plans, budget) -> None:
    """The plan's Bonferroni count ``tests`` is the number of the table's case decisions at
    ``budget`` (the family the claim's alpha is split over), and the controls are runs of their own."""
    rows = check.cases(budget)
    assert sum(r.tests for r in rows if not r.role.is_control) == plans[budget].tests
    assert {r.role for r in rows} == {Role.CASE, Role.CONTROL_RUN}
