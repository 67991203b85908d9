"""The claim harness (checks.harness) and its decision rules (checks.judges), on a toy claim whose
measurements are fixed numbers: the runner, seeds, roles, verdict logic, re-judged controls and
the validation of tables and plans."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from checks import judges
from checks.harness import (Budget, CaseSpec, ClaimCheck, Decision, Estimate, Expected, Outcome, Plan, Rejudged,
                            Role, Verdict, case_seed, combine, run_claim)
from theory.statistics import SlopeFit, Statistic, Trend


def fit(slope: float, half: float = 0.01) -> SlopeFit:
    deltas = np.array([1e-2, 1e-3, 1e-4])
    return SlopeFit(deltas=deltas, levels=deltas**slope, slope=slope, intercept=0.0, low=slope - half,
                    high=slope + half, alpha=0.01, n_boot=400, statistic=Statistic.RMS, se=half / 2.6)


@dataclass(frozen=True)
class Toy(CaseSpec):
    """A case whose 'measurement' is a fixed slope; it records the first draw of its stream."""

    name: str
    slope: float
    expected: Trend = Trend.SHRINKS
    role: Role = Role.CASE

    def setting(self) -> str:
        return f"toy slope {self.slope}"

    def run(self, plan: Plan, seed: np.random.SeedSequence) -> Outcome:
        draw = float(np.random.default_rng(seed).random())
        return Outcome((judges.trend(fit(self.slope), self.expected, source="toy"),), {"draw": draw})


TOY_PLANS = {b: Plan(n=10, steps_per_decade=5, alpha=0.01) for b in Budget}


def toy_check(rows) -> ClaimCheck:
    return ClaimCheck("C4", TOY_PLANS, lambda budget: rows)


def flat_instead(outcome: Outcome) -> list[Decision]:
    d = outcome.decisions[0]
    return [Decision(**{**d.__dict__, "expected": Expected("flat", "wrong"),
                        "verdict": Verdict.REFUTED if d.measured.value > 0.1 else Verdict.CONFIRMED})]


def test_a_check_is_confirmed_when_cases_hold_and_controls_are_refuted():
    rows = (Toy("lands", 0.5), Toy("plateau", 0.0, Trend.FLAT),
            Toy("control: lands judged flat", 0.5, Trend.FLAT, Role.CONTROL_RUN),
            Rejudged("control: re-judged", of="lands", judge=flat_instead, why_wrong="w", size="s"))
    result = run_claim(toy_check(rows), seed=3, budget="fast")
    assert [c.verdict for c in result.cases] == [Verdict.CONFIRMED, Verdict.CONFIRMED, Verdict.REFUTED,
                                                Verdict.REFUTED]
    assert result.verdict is Verdict.CONFIRMED
    assert result.cases[3].record == {"rejudged_case": "lands"}
    assert [c.as_expected for c in result.cases] == [True] * 4


@pytest.mark.parametrize(("rows", "verdict"), [
    ((Toy("a", 0.5), Toy("b", 0.0)), Verdict.REFUTED),  # a case contradicts its prediction
    ((Toy("a", 0.5), Toy("b", 0.1)), Verdict.INCONCLUSIVE),  # a band straddling the threshold
    ((Toy("a", 0.5), Toy("c", 0.5, Trend.SHRINKS, Role.CONTROL_RUN)), Verdict.INCONCLUSIVE),  # control not refuted
])
def test_overall_verdict_table(rows, verdict):
    assert run_claim(toy_check(rows), seed=0).verdict is verdict


def test_each_case_has_its_own_stream_that_does_not_depend_on_the_table():
    alone = run_claim(toy_check((Toy("x", 0.5),)), seed=7).cases[0].record["draw"]
    among = run_claim(toy_check((Toy("w", 0.5), Toy("x", 0.5), Toy("y", 0.5))), seed=7)
    assert among.cases[1].record["draw"] == alone
    assert len({c.record["draw"] for c in among.cases}) == 3
    assert run_claim(toy_check((Toy("x", 0.5),)), seed=8).cases[0].record["draw"] != alone
    assert case_seed(7, "C4", "x").entropy == case_seed(7, "C4", "x").entropy


def test_only_runs_the_named_cases_and_what_they_rejudge():
    rows = (Toy("a", 0.5), Toy("b", 0.5), Rejudged("r", of="a", judge=flat_instead, why_wrong="w", size="s"))
    result = run_claim(toy_check(rows), seed=0, only=["r"])
    assert [c.name for c in result.cases] == ["a", "r"]


BAD = [
    (lambda: run_claim(toy_check((Toy("a", 0.5),)), seed=-1), ValueError, "seed must be an integer >= 0"),
    (lambda: run_claim(toy_check((Toy("a", 0.5),)), seed=0, budget="huge"), ValueError, "budget must be one of"),
    (lambda: toy_check((Toy("a", 0.5), Toy("a", 0.1))).cases("fast"), ValueError, "case names must be unique"),
    (lambda: toy_check((Rejudged("r", of="zz", judge=flat_instead, why_wrong="", size=""),)).cases("fast"),
     ValueError, "re-judges unknown case 'zz'"),
    (lambda: toy_check(("not a case",)).cases("fast"), TypeError, "table rows must be CaseSpec"),
    (lambda: ClaimCheck("C99", TOY_PLANS, lambda b: ()), ValueError, "claim must be one of"),
    (lambda: ClaimCheck("C4", {Budget.FAST: TOY_PLANS[Budget.FAST]}, lambda b: ()), ValueError, "missing"),
    (lambda: Plan(n=0, steps_per_decade=5, alpha=0.01), ValueError, "Plan.n must be an integer >= 1"),
    (lambda: Plan(n=5, steps_per_decade=5, alpha=1.5), ValueError, "alpha must be in"),
    (lambda: Outcome(()), ValueError, "at least one Decision"),
    (lambda: Decision("t", "s", Expected(1.0, "toy"), Estimate(1.0), "r", Verdict.REFUTED, vacuous=True),
     ValueError, "a vacuous decision is CONFIRMED without a margin"),
    (lambda: Decision("t", "s", Expected(1.0, "toy"), Estimate(1.0), "r", Verdict.CONFIRMED, 0.5, vacuous=True),
     ValueError, "a vacuous decision is CONFIRMED without a margin"),
    (lambda: Rejudged("r", of="a", judge=None, why_wrong="", size=""), TypeError, "judge must be callable"),
]


@pytest.mark.parametrize(("make", "error", "match"), BAD)
def test_bad_input_table(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(("slope", "expected", "verdict", "positive"), [
    (0.5, Trend.SHRINKS, Verdict.CONFIRMED, True),
    (0.0, Trend.SHRINKS, Verdict.REFUTED, False),
    (0.1, Trend.SHRINKS, Verdict.INCONCLUSIVE, False),
    (0.0, Trend.FLAT, Verdict.CONFIRMED, True),
    (-0.5, Trend.GROWS, Verdict.CONFIRMED, True),
    (0.3, Trend.FLAT, Verdict.REFUTED, False),
])
def test_trend_judge_and_its_margin(slope, expected, verdict, positive):
    decision = judges.trend(fit(slope), expected, source="toy")
    assert decision.verdict is verdict
    assert (decision.margin > 0) is positive


@pytest.mark.parametrize(("band", "expected", "tol", "verdict"), [
    ((0.48, 0.52), 0.5, 0.0, Verdict.CONFIRMED),
    ((0.48, 0.52), 0.53, 0.02, Verdict.CONFIRMED),
    ((0.48, 0.52), 0.55, 0.02, Verdict.REFUTED),
    ((0.48, 0.52), 0.45, 0.02, Verdict.REFUTED),
])
def test_value_in_band_table(band, expected, tol, verdict):
    d = judges.value_in_band("level", "x", Estimate(0.5, band, 0.99), expected, tolerance=tol, source="s")
    assert d.verdict is verdict and (d.margin >= 0) == (verdict is Verdict.CONFIRMED)


def test_rate_needs_the_band_to_clear_the_flat_threshold():
    wide = SlopeFit(**{**fit(0.2).__dict__, "low": 0.05, "high": 0.35})
    assert judges.rate(wide, 0.25, tolerance=0.0, source="s").verdict is Verdict.INCONCLUSIVE
    assert judges.rate(fit(0.25), 0.25, tolerance=0.0, source="s").verdict is Verdict.CONFIRMED
    assert judges.rate(fit(0.25), 0.5, tolerance=0.02, source="s").verdict is Verdict.REFUTED


def test_p_value_judge():
    assert judges.p_value("law", "p-value", 0.2, alpha=0.01, source="s").verdict is Verdict.CONFIRMED
    assert judges.p_value("law", "p-value", 1e-4, alpha=0.01, source="s").verdict is Verdict.REFUTED
    assert judges.p_value("law", "p-value", 1e-4, alpha=0.01, source="s", valid=False).verdict is \
        Verdict.INCONCLUSIVE
    assert judges.p_value("law", "p-value", 0.2, alpha=0.01, source="s").margin > 0


def test_combine():
    assert combine([Verdict.CONFIRMED, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert combine([Verdict.INCONCLUSIVE, Verdict.REFUTED]) is Verdict.REFUTED
    assert combine([Verdict.CONFIRMED]) is Verdict.CONFIRMED


@pytest.mark.parametrize(("band", "below", "verdict"), [
    ((0.40, 0.45), True, Verdict.CONFIRMED),
    ((0.48, 0.52), True, Verdict.INCONCLUSIVE),
    ((0.51, 0.55), True, Verdict.REFUTED),
    ((0.51, 0.55), False, Verdict.CONFIRMED),
    ((0.40, 0.45), False, Verdict.REFUTED),
])
def test_ordering_table(band, below, verdict):
    d = judges.ordering("more slowly", "slope", Estimate(sum(band) / 2, band, 0.99), 0.5, below=below, source="s")
    assert d.verdict is verdict
    assert (d.margin > 0) == (verdict is Verdict.CONFIRMED)
