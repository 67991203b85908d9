"""The false-failure measurement (checks.false_failures): one run's record, the summary, the command
line's bad input, the stored measurement the report states, and its section of REPORT.md."""

from __future__ import annotations

import json

import pytest

from checks import false_failures, registry
from checks.harness import CaseResult, CheckResult, Role, Verdict
from stored_results import decision, stored_result


def run(claim="C1", budget="fast", seed=0, wrong=(), margin=1.0, refutation=2.0, commit="abc1234"):
    return {"claim": claim, "budget": budget, "seed": seed, "verdict": "refuted" if wrong else "confirmed",
            "wrong": list(wrong), "min_case_margin": margin, "min_control_refutation": refutation,
            "seconds": 1.0, "commit": commit}


def test_summary_counts_wrong_runs_and_keeps_the_closest_margins():
    runs = [run("C2", "full", 0), run("C2", seed=1, margin=0.3), run("C2", seed=0, refutation=0.9),
            run("C10", seed=0), run("C2", seed=2, wrong=["a case"], margin=-0.1, commit="def5678"),
            run("C2", seed=3, margin=None, refutation=None)]
    rows = false_failures.summarize(runs)
    assert [(r["claim"], r["budget"]) for r in rows] == [("C2", "fast"), ("C2", "full"), ("C10", "fast")]
    fast = rows[0]
    assert (fast["runs"], fast["wrong"], fast["seeds"]) == (4, 1, [0, 1, 2, 3])
    assert (fast["min_case_margin"], fast["min_control_refutation"]) == (-0.1, 0.9)
    assert fast["commits"] == ["abc1234", "def5678"]


def _with_main(verdict: Verdict) -> CheckResult:
    base = stored_result("C1")
    main = CaseResult(**{**base.cases[0].__dict__, "verdict": verdict,
                         "decisions": (decision(0.3, (0.28, 0.32), 0.5, verdict),)})
    return CheckResult(**{**base.__dict__, "cases": (main, base.cases[1])})


@pytest.mark.parametrize("verdict, wrong", [(Verdict.CONFIRMED, []), (Verdict.REFUTED, ["main"])])
def test_one_run_names_what_did_not_come_out_as_it_must(monkeypatch, verdict, wrong):
    monkeypatch.setattr(registry, "run_check", lambda claim, seed, budget: _with_main(verdict))
    record = false_failures.run_one("C1", 3, "fast")
    assert record["wrong"] == wrong and record["seed"] == 3 and record["budget"] == "fast"
    assert record["min_case_margin"] == (1.0 if verdict is Verdict.CONFIRMED else -1.0)
    assert record["min_control_refutation"] == 1.0  # the stored control is refuted with margin -1
    assert stored_result("C1").cases[1].role is Role.CONTROL_RUN


@pytest.mark.parametrize("argv", [["--claims", "C9"], ["--workers", "0"], ["--seeds", "5:2"], ["--seeds", "x"],
                                  ["--budget", "huge"], ["--claims", ","]])
def test_bad_options_exit_2_before_any_run(monkeypatch, capsys, argv):
    monkeypatch.setattr(false_failures, "run_one", lambda *a: pytest.fail("a run started"))
    assert false_failures.main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_the_stored_measurement_covers_every_claim_at_both_budgets():
    """The report states this measurement: at least 20 fast seeds and 3 full seeds per claim."""
    rows = {(r["claim"], r["budget"]): r for r in false_failures.measured()}
    for claim in registry.MODULES:
        assert rows[(claim, "fast")]["runs"] >= 20, claim
        assert rows[(claim, "full")]["runs"] >= 3, claim
    raw = json.loads(false_failures.MEASURED.read_text())["runs"]
    assert len({(r["claim"], r["budget"], r["seed"]) for r in raw}) == len(raw)  # no run counted twice


def test_the_report_states_the_rates(tmp_path):
    from checks.writer import write_report

    rows = false_failures.summarize([run("C1", seed=s) for s in range(20)] + [run("C1", "full", s) for s in range(3)]
                                    + [run("C5", seed=0)])
    write_report([stored_result("C1")], tmp_path, provenance={"C1": {"seed": 0}}, run_info={}, false_failures=rows)
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Measured false-failure rates" in report
    assert "| C1 | fast | 0 of 20 | 0..19 | 1 | 2 | abc1234 |" in report
    assert "| C1 | full | 0 of 3 | 0..2 | 1 | 2 | abc1234 |" in report
    assert "| C5 |" not in report  # only the claims of the report
