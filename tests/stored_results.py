"""Stored CheckResults with a figure of every kind: the checks' output without running them.

The report writer and the command line are tested on these (seconds instead of minutes).
"""

from __future__ import annotations

from checks.common import Case, CheckResult, Verdict, overall, versions
from theory.claims import CLAIMS

FIGURES = {
    "loglog": {"kind": "loglog", "label": "sphere", "deltas": [1e-1, 1e-2, 1e-3, 1e-4],
               "levels": [0.4, 0.13, 0.04, 0.013], "predicted_slope": 0.5, "fit": [0.5, 0.22]},
    "phase": {"kind": "phase", "family": "a", "param": [0.25, 0.75, 1.25], "lands_measured": [True, True, False],
              "lands_predicted": [True, True, False], "l2": [True, False, False], "rate_measured": [0.5, 0.26, -0.2],
              "rate_band": [[0.45, 0.55], [0.2, 0.3], [-0.3, -0.1]], "rate_predicted": [0.5, 0.25, -0.25],
              "boundary": 1.0, "l2_region": [-1e9, 0.5]},
    "scatter": {"kind": "scatter", "label": "2-D set", "train": [[0, 0], [1, 1]], "samples": [[0.01, 0], [1, 0.99]]},
    "codim": {"kind": "codim", "label": "torus", "t": [1e-4, 1e-3, 1e-2], "value": [2.0, 2.01, 2.05],
              "sem": [0.01, 0.01, 0.01], "predicted": 2},
}


def stored_result(claim_id: str, *, seed: int = 0, budget: str = "fast") -> CheckResult:
    kinds = list(FIGURES)
    kind = kinds[int(claim_id[1:]) % len(kinds)]
    cases = (
        Case("main", "Sphere(k=2, d=5), OU()", {"slope": 0.5}, {"slope": 0.49, "band": [0.46, 0.52]},
             Verdict.CONFIRMED, figure=FIGURES[kind]),
        Case("control", "sign error", {"slope": 0.5}, {"slope": -0.1, "band": [-0.2, 0.0]}, Verdict.REFUTED,
             control=True, figure=FIGURES["loglog"]),
    )
    claim = CLAIMS[claim_id]
    return CheckResult(claim=claim.id, statement=claim.statement, source=claim.source, budget=budget, seed=seed,
                       cases=cases, verdict=overall(cases), versions=versions(), elapsed=1.0)
