"""Check C8 (learned scores): its table, its decision rules, its exact-score part, a network case.

The exact-score part (two cases, two controls) runs in about 2 s and is asserted at seed 0; its
false-failure rate was measured over seeds 0..99 (see the test). The trained networks of the fast
budget cost about a minute and run in the slow test, whose docstring states the seeds tried.
"""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest

from checks import c8_learned as c8
from checks import judges
from checks.harness import Budget, CaseResult, Role, Verdict, run_claim
from checks.records import json_data
from theory import Sphere
from theory.claims import CLAIMS, ErrorSpec, Setting
from theory.learned import Behaviour, diagnose
from theory.perturbations import ExactScore, Smoothed


def _exact_names(budget: Budget) -> list[str]:
    return [s.name for s in c8.table(budget) if isinstance(s, c8.ExactCase)]


# -- the table ----------------------------------------------------------------------------------

def test_fast_table_has_networks_on_both_sides_exact_cases_and_controls():
    specs = c8.CHECK.cases(Budget.FAST)
    networks = [s for s in specs if isinstance(s, c8.NetworkCase)]
    assert {(s.population, s.n_train) for s in networks} == {
        (p, n) for p in (c8.Population.SPHERE_R3, c8.Population.TORUS) for n in (4, 256)}
    assert all(s.network == c8.STANDARD and s.role is Role.CASE and s.must_decide for s in networks)
    exact = [s for s in specs if isinstance(s, c8.ExactCase)]
    assert {s.kind for s in exact if s.role is Role.CASE} == {c8.ScoreKind.EMPIRICAL, c8.ScoreKind.POPULATION}
    assert {s.kind for s in exact if s.role is Role.CONTROL_RUN} == {c8.ScoreKind.RESCALED, c8.ScoreKind.INTERPOLATED}


def test_full_table_covers_the_grid_two_lengths_a_wider_network_and_digits():
    specs = [s for s in c8.CHECK.cases(Budget.FULL) if isinstance(s, c8.NetworkCase)]
    standard = {(s.population, s.n_train) for s in specs if s.network == c8.STANDARD}
    assert set(c8.CALIBRATED) <= set(specs) and sum(s.must_decide for s in specs) == len(c8.CALIBRATED)
    closed = [p for p in c8.Population if p is not c8.Population.DIGITS]
    assert {(p, n) for p in closed for n in (4, 16, 64, 256, 1024)} <= standard
    assert {s.network.steps for s in specs} == {c8.STANDARD.steps, c8.LONG.steps}
    assert any(s.network.width > c8.STANDARD.width for s in specs)
    assert {s.n_train for s in specs if s.population is c8.Population.DIGITS} == {64, 512}
    assert max(s.n_train for s in specs if s.network == c8.LONG) >= 1024
    assert all(s.role is Role.CONTROL_RUN for s in c8.CHECK.cases(Budget.FULL)
               if isinstance(s, c8.ExactCase) and s.kind in (c8.ScoreKind.RESCALED, c8.ScoreKind.INTERPOLATED))


@pytest.mark.parametrize("make, error, match", [
    (lambda: c8.Network(0, 4, 10), ValueError, "Network.width must be an integer >= 1, got 0"),
    (lambda: c8.Network(16, 1, 10.0), ValueError, "Network.steps must be an integer >= 1"),
    (lambda: c8.Network(16, True, 10), ValueError, "Network.depth must be an integer >= 1"),
    (lambda: c8.NetworkCase("circle", 4), TypeError, "population must be a Population"),
    (lambda: c8.NetworkCase(c8.Population.CIRCLE, 1), ValueError, "n_train must be an integer >= 2, got 1"),
    (lambda: c8.NetworkCase(c8.Population.CIRCLE, 4, (4, 256)), TypeError, "network must be a Network"),
    (lambda: c8.NetworkCase(c8.Population.CIRCLE, 4, must_decide=1), TypeError, "must_decide must be a bool"),
    (lambda: c8.ExactCase(c8.Population.DIGITS, 16, c8.ScoreKind.EMPIRICAL), ValueError,
     "population must be a Population with a closed form"),
    (lambda: c8.ExactCase(c8.Population.CIRCLE, 16, "empirical"), TypeError, "kind must be a ScoreKind"),
    (lambda: c8.ExactCase(c8.Population.CIRCLE, 16.0, c8.ScoreKind.EMPIRICAL), ValueError,
     "n_train must be an integer >= 2"),
])
def test_case_specs_reject_bad_fields(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_claim_and_registry_know_c8():
    from checks.registry import MODULES, check_of

    assert MODULES["C8"] == "checks.c8_learned" and check_of("C8") is c8.CHECK
    network = Setting(Sphere(2, 3), ErrorSpec.of(lambda t, x: -x))
    assert CLAIMS["C8"].predict(network).covered
    assert not CLAIMS["C8"].predict(Setting(Sphere(2, 3))).covered  # the exact score is C1-C7's business


# -- the decision rules -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def empirical_diagnosis():
    """The exact empirical score of 16 points on the circle in R^2 (memorizes on both sides, CLAIMS.md C3)."""
    circle = Sphere(1, 2)
    train = circle.sample(16, np.random.default_rng(0))
    from theory import PointCloud

    dg = diagnose(ExactScore(PointCloud(train)), train, population=circle, rng=np.random.default_rng(0))
    assert dg.predicted is Behaviour.MEMORIZES and dg.measured is Behaviour.MEMORIZES
    return dg


@pytest.mark.parametrize("predicted, measured, verdict, test", [
    (Behaviour.MEMORIZES, Behaviour.MEMORIZES, Verdict.CONFIRMED, "landing set"),
    (Behaviour.MEMORIZES, Behaviour.GENERALIZES, Verdict.REFUTED, "landing set"),
    (Behaviour.MEMORIZES, Behaviour.INCONCLUSIVE, Verdict.INCONCLUSIVE, "landing set"),
    (Behaviour.INCONCLUSIVE, Behaviour.MEMORIZES, Verdict.CONFIRMED, "no prediction"),
    (Behaviour.INCONCLUSIVE, Behaviour.INCONCLUSIVE, Verdict.CONFIRMED, "no prediction"),
])
def test_judge_maps_the_two_verdicts(empirical_diagnosis, predicted, measured, verdict, test):
    """C8 is an implication from a decisive prediction: equal verdicts confirm, different decisive ones
    refute, an undecided measurement is inconclusive, and an abstaining predictor makes no prediction
    (vacuously confirmed, without a margin, so it moves neither the verdict nor the overview)."""
    decision = c8.judge(dataclasses.replace(empirical_diagnosis, predicted=predicted, measured=measured))
    assert decision.verdict is verdict and decision.test == test
    assert (decision.margin is None) == (test == "no prediction") == decision.vacuous
    calibrated = c8.judge(dataclasses.replace(empirical_diagnosis, predicted=predicted, measured=measured),
                          must_decide=True)  # a setting calibrated to decide may not abstain
    assert calibrated.verdict is (Verdict.INCONCLUSIVE if test == "no prediction" else verdict)
    assert not calibrated.vacuous
    if test == "landing set":  # the binding band of "memorizes": the nearest-training slopes
        assert "nearest-training" in decision.statistic and decision.expected.value == predicted.value


def test_known_behaviour_refuses_an_abstention(empirical_diagnosis):
    """For an exact score the answer is known: an abstaining predictor is INCONCLUSIVE, not vacuous;
    a codimension away from d (here d + 0.05, a sigma^2 read 2.5 % high) is refuted."""
    source = "test"
    decisions = c8.judge_known(empirical_diagnosis, Behaviour.MEMORIZES, source)
    assert [d.test for d in decisions] == ["prediction", "codimension", "landing set"]
    assert all(d.verdict is Verdict.CONFIRMED for d in decisions)
    abstains = dataclasses.replace(empirical_diagnosis, predicted=Behaviour.INCONCLUSIVE)
    assert c8.judge_known(abstains, Behaviour.MEMORIZES, source)[0].verdict is Verdict.INCONCLUSIVE
    wrong = c8.judge_known(empirical_diagnosis, Behaviour.GENERALIZES, source)
    assert wrong[0].verdict is Verdict.REFUTED and wrong[-1].verdict is Verdict.REFUTED
    shifted = dataclasses.replace(empirical_diagnosis, codimension=empirical_diagnosis.codimension + 0.05)
    assert c8.judge_known(shifted, Behaviour.MEMORIZES, source)[1].verdict is Verdict.REFUTED


def test_smoothed_score_gets_no_prediction():
    """A smoothed empirical score (CLAIMS.md C7) loses resolution below t ~ h: the predictor abstains
    (theory.learned's own test measured 100 of 100 seeds), which C8 keeps out of the decisions."""
    circle = Sphere(1, 2)
    train = circle.sample(16, np.random.default_rng(0))
    from theory import PointCloud

    dg = diagnose(Smoothed(PointCloud(train), 1e-3), train, population=circle, rng=np.random.default_rng(0))
    decision = c8.judge(dg)
    assert decision.test == "no prediction" and decision.verdict is Verdict.CONFIRMED and decision.margin is None


# -- the exact-score part of the check ------------------------------------------------------------

def test_exact_part_confirms_its_cases_and_refutes_its_controls():
    """Seed 0 of the fast budget's exact-score rows: the exact empirical score (memorizes) and the
    exact population score (generalizes) of 16 points on the 2-sphere in R^3 are confirmed on all
    their decisions; the rescaled explosion (predicted "memorizes", generalizes) and the interpolated
    score w = 0.25 (predicted "generalizes", memorizes) are refuted, and the library's default
    predictor (alignment checked) abstains on both. Measured over seeds 0..99 (a study outside the suite): the
    same outcome in 100 of 100 (no false failure; fewest margins: see the report)."""
    result = run_claim(c8.CHECK, seed=0, budget=Budget.FAST, only=_exact_names(Budget.FAST))
    assert len(result.cases) == 4 and result.verdict is Verdict.CONFIRMED
    for case in result.cases:
        assert case.as_expected, (case.name, [(d.test, d.verdict) for d in case.decisions])
        if case.role.is_control:
            assert case.record["default_prediction"] == "inconclusive"
            assert case.decisions[0].margin < 0
        else:
            assert all(d.verdict is Verdict.CONFIRMED for d in case.decisions)
        assert case.figure.kind == "curves" and len(case.figure.data["x"]) >= 2
    json.dumps(json_data(result.to_dict()), allow_nan=False)  # the record is strict JSON


# -- trained networks -----------------------------------------------------------------------------

def test_network_case_is_deterministic_for_its_seed():
    """A 16-wide, 1-layer network trained 60 steps on 8 points of the circle: the same stream gives the
    same training set, weights and diagnosis (records equal but for the timings). Such a network
    does not resolve the explosion: no prediction, which the decision says. A few seconds each."""
    pytest.importorskip("jax")
    pytest.importorskip("equinox")
    pytest.importorskip("optax")
    case = c8.NetworkCase(c8.Population.CIRCLE, 8, c8.Network(16, 1, 60, 32))
    plan = c8.PLANS[Budget.FAST]
    records = []
    for _ in range(2):
        outcome = case.run(plan, np.random.SeedSequence(5))
        record = json_data(dict(outcome.record))
        for key in ("training_seconds", "diagnosis_seconds"):
            assert record.pop(key) >= 0
        records.append(record)
    assert records[0] == records[1]
    assert outcome.decisions[0].test == "no prediction" and outcome.decisions[0].verdict is Verdict.CONFIRMED
    assert records[0]["N"] == 8 and records[0]["diagnosis"]["predicted"] == "inconclusive"
    assert outcome.figure.kind == "curves"


def _network_result(series: tuple[str, int, int, int], n: int, predicted: str, measured: str,
                    lam: float) -> CaseResult:
    population, depth, width, steps = series
    record = {"population": population, "N": n, "depth": depth, "width": width, "steps": steps,
              "diagnosis": {"predicted": predicted, "measured": measured, "codimension": 3 - 2 * lam,
                            "codimension_se": 0.01, "lambda": lam,
                            "measurement": {"copy_fraction": [0.5, 1.0 - lam]}}}
    return CaseResult(name=f"{population} {n}", role=Role.CASE, setting="", decisions=(), verdict=Verdict.CONFIRMED,
                      why="", effect="", record=record, figure=None, elapsed=0.0)


def test_transition_collects_each_series_in_n_order():
    s1, s2 = ("2-sphere in R^3", 4, 256, 8000), ("2-sphere in R^3", 4, 256, 32000)
    cases = [_network_result(s1, 256, "generalizes", "generalizes", 1.0),
             _network_result(s1, 4, "memorizes", "memorizes", 0.0),
             _network_result(s2, 64, "inconclusive", "inconclusive", float("nan")),
             _network_result(s2, 16, "memorizes", "memorizes", 0.02)]
    rows = c8.transition(cases)
    assert [(r["series"].endswith("8000 steps"), r["N"]) for r in rows] == [(False, 16), (False, 64), (True, 4),
                                                                          (True, 256)]
    figures = c8.transition_figures(cases)
    assert len(figures) == 2 and all(f.kind == "curves" for f in figures)
    data = figures[1].data
    assert data["x"] == [4, 256]
    assert data["series"]["measured (0.5: inconclusive)"] == [1.0, 0.0]
    assert figures[0].data["series"][r"predicted: $1-\lambda$"] == [pytest.approx(0.98), None]


@pytest.mark.slow
def test_fast_check_confirms():
    """The whole fast budget at seed 0: four trained networks (2-sphere in R^3 and torus, N = 4 and
    256) predicted and measured alike, the exact cases confirmed, the controls refuted. About 60-90 s
    on 2 cores. Seeds 0..19 (``python -m checks.false_failures``, stated in REPORT.md): confirmed in 19
    of 20. At seed 5 the 2-sphere's N = 256 network abstained: its decisive window spanned 0.99
    decades, under the one decade a decision needs, so the calibrated case came out inconclusive
    (not refuted): a false failure rate of about 1 in 20 for the fast check's verdict."""
    pytest.importorskip("jax")
    result = c8.run(seed=0, budget="fast")
    assert result.verdict is Verdict.CONFIRMED, [(c.name, c.verdict) for c in result.cases]


def test_the_transition_reaches_the_report(tmp_path):
    """finish_claim asks the check for its claim-level figures; the result carries them into its
    JSON record, and the writer draws them as C8_summary_curves.png, linked from the claim page."""
    from checks.harness import finish_claim
    from checks.writer import write_report

    s1 = ("2-sphere in R^3", 4, 256, 8000)
    verdict = judges.equal("landing set", "verdict", 1, 1, source="test")  # the page needs a decision per case
    cases = [dataclasses.replace(_network_result(s1, 4, "memorizes", "memorizes", 0.0), decisions=(verdict,)),
             dataclasses.replace(_network_result(s1, 256, "generalizes", "generalizes", 1.0), decisions=(verdict,))]
    specs = [types.SimpleNamespace(name=c.name, reuses=None) for c in cases]  # finish_claim reads only these
    result = finish_claim(c8.CHECK, seed=0, budget=Budget.FAST, specs=specs, ran={c.name: c for c in cases},
                          elapsed=0.0)
    assert [f.title for f in result.figures] == [f.title for f in c8.transition_figures(cases)]
    assert result.figures and result.to_dict()["figures"][0]["data"]["x"] == [4, 256], result.to_dict()["figures"]
    write_report([result], tmp_path, provenance={"C8": {}}, run_info={})
    assert (tmp_path / "C8_summary_curves.png").is_file()
    assert "(C8_summary_curves.png)" in (tmp_path / "C8.md").read_text()
