"""The one assertion every claim-check test makes (imported by tests/test_check_*.py)."""

from __future__ import annotations

import json

from checks.common import CheckResult, Verdict


def assert_as_predicted(result: CheckResult, claim: str) -> None:
    """Every main case CONFIRMED, every negative control REFUTED, several cases, plain-data record."""
    table = [(case.name, case.control, case.verdict.value) for case in result.cases]
    assert result.claim == claim
    assert result.controls, "a check needs at least one negative control"
    assert len(result.main_cases) >= 3, "a check needs several cases"
    for case in result.main_cases:
        assert case.verdict is Verdict.CONFIRMED, (case.name, case.measurement, table)
    for case in result.controls:
        assert case.verdict is Verdict.REFUTED, (case.name, case.measurement, table)
    assert result.verdict is Verdict.CONFIRMED, table
    json.dumps(result.to_dict())  # the record is plain data
