"""Stored claim results with a figure of every kind: the checks' output without running them.

The report writer and the command line are tested on these (seconds instead of minutes).
"""

from __future__ import annotations

from checks.harness import (Budget, CaseResult, CheckResult, Decision, Estimate, Expected, Figure, Plan, Role,
                            Verdict, overall, versions)

FIGURES = {
    "loglog": {"deltas": [1e-1, 1e-2, 1e-3, 1e-4], "levels": [0.4, 0.13, 0.04, 0.013], "predicted_slope": 0.5,
               "fit": [0.5, 0.22]},
    "phase": {"param": [0.25, 0.75, 1.25], "rate_measured": [0.5, 0.26, -0.2],
              "rate_band": [[0.45, 0.55], [0.2, 0.3], [-0.3, -0.1]], "rate_predicted": [0.5, 0.25, -0.25],
              "boundary": 1.0, "l2_region": [-1e9, 0.5], "symbol": "a"},
    "scatter": {"train": [[0, 0], [1, 1]], "samples": [[0.01, 0], [1, 0.99]]},
    "codim": {"t": [1e-4, 1e-3, 1e-2], "value": [2.0, 2.01, 2.05], "sem": [0.01, 0.01, 0.01], "predicted": 2},
    "bars": {"observed": [0.3, 0.7], "predicted": [0.31, 0.69], "wrong": [0.5, 0.5]},
    "curves": {"x": [4, 16, 64], "series": {"predicted": [3, 3, 1], "measured": [3, 3, 1]}, "xscale": "log",
               "xlabel": "N", "ylabel": "codimension"},
}


def decision(value: float, band: tuple[float, float], expected: float, verdict: Verdict) -> Decision:
    return Decision(test="rate", statistic="log-log slope", expected=Expected(expected, "toy", 0.02),
                    measured=Estimate(value, band, 0.99), rule="band +- 0.02 contains the prediction", verdict=verdict,
                    margin=1.0 if verdict is Verdict.CONFIRMED else -1.0)


def stored_result(claim_id: str, *, seed: int = 0, budget: str = "fast") -> CheckResult:
    kinds = list(FIGURES)
    kind = kinds[int(claim_id[1:]) % len(kinds)]
    cases = (
        CaseResult("main", Role.CASE, "Sphere(k=2, d=5), OU()", (decision(0.49, (0.46, 0.52), 0.5, Verdict.CONFIRMED),),
                   Verdict.CONFIRMED, "", "", {"slope": 0.49}, Figure(kind, "a main case", FIGURES[kind]), 0.1),
        CaseResult("control", Role.CONTROL_RUN, "sign error", (decision(-0.1, (-0.2, 0.0), 0.5, Verdict.REFUTED),),
                   Verdict.REFUTED, "the sign is wrong", "slope -1 against 1/2", {"slope": -0.1},
                   Figure("loglog", "a control", FIGURES["loglog"]), 0.1),
    )
    return CheckResult(claim=claim_id, budget=Budget.parse(budget), seed=seed,
                       plan=Plan(n=10, steps_per_decade=5, alpha=0.01), cases=cases, verdict=overall(cases),
                       versions=versions(), elapsed=1.0)
