"""What every claim check shares: budgets, the frozen result records, verdict logic, the landing study.

A check runs several *cases* (settings the claim covers: its prediction must hold) and several
*negative controls* (settings built to violate the claim's hypotheses, judged against the claim's
prediction as if they held: each must come out refuted, which shows the check can fail).

Verdict of a case: ``CONFIRMED`` when the measurement agrees with the prediction at the stated
level, ``REFUTED`` when it contradicts it, ``INCONCLUSIVE`` when the measurement cannot decide
(e.g. a confidence band straddling the boundary). A check is CONFIRMED when every case is
confirmed and every control refuted; REFUTED when any case is refuted; INCONCLUSIVE otherwise.
"""

from __future__ import annotations

import enum
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import numpy as np

from theory.measures.base import Measure
from theory.processes import OU, ForwardProcess
from theory.simulator import reverse_sde
from theory.statistics import HitTest, SlopeFit, Statistic, loglog_slope

# Allowance on the slope of the RMS distance around a predicted rate, for the checks that judge rates
# on exact-kernel ranges (C1, C3, C7); its budget (finite-range bias of sigma, discretization,
# Monte-Carlo band) is itemized in the docstring of :mod:`checks.c1_prior`.
RATE_TOLERANCE = 0.02
# A chi-square test is trusted only when every expected count is at least this (Cochran's rule).
MIN_EXPECTED = 5.0

Budget = Literal["fast", "full"]
BUDGETS: tuple[str, ...] = ("fast", "full")


class Verdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Case:
    """One setting of a check: what was predicted, what was measured, and the verdict.

    setting : short human-readable description of measure, process, prior, score error.
    prediction, measurement : dicts of named values (measurement values may be (value, uncertainty)).
    control : True for a negative control (its verdict must be REFUTED).
    figure : optional plot data for the report (plain lists/arrays, never files).
    """

    name: str
    setting: str
    prediction: dict[str, Any]
    measurement: dict[str, Any]
    verdict: Verdict
    control: bool = False
    figure: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CheckResult:
    """The frozen outcome of one claim check (STYLE.md rule 13)."""

    claim: str
    statement: str
    source: str
    budget: str
    seed: int
    cases: tuple[Case, ...]
    verdict: Verdict
    versions: dict[str, str]
    elapsed: float

    @property
    def controls(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.control)

    @property
    def main_cases(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if not c.control)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (numpy scalars and arrays become Python numbers and lists)."""
        from checks.records import json_data

        return json_data({
            "claim": self.claim, "statement": self.statement, "source": self.source, "budget": self.budget,
            "seed": self.seed, "verdict": self.verdict.value, "versions": self.versions,
            "elapsed_seconds": round(self.elapsed, 3),
            "cases": [{"name": c.name, "setting": c.setting, "control": c.control, "verdict": c.verdict.value,
                       "prediction": c.prediction, "measurement": c.measurement} for c in self.cases],
        })


def overall(cases: Sequence[Case]) -> Verdict:
    """CONFIRMED iff every case is confirmed and every control refuted; REFUTED if a case is refuted."""
    main = [c for c in cases if not c.control]
    controls = [c for c in cases if c.control]
    if any(c.verdict is Verdict.REFUTED for c in main):
        return Verdict.REFUTED
    if all(c.verdict is Verdict.CONFIRMED for c in main) and all(c.verdict is Verdict.REFUTED for c in controls):
        return Verdict.CONFIRMED
    return Verdict.INCONCLUSIVE


def versions() -> dict[str, str]:
    """Versions of Python, the package and its scientific dependencies (provenance)."""
    out = {"python": platform.python_version()}
    for dist in ("sgm-manifolds", "numpy", "scipy", "sympy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            out[dist] = "not installed"
    return out


def check_budget(budget: object) -> str:
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    return str(budget)


def finish(claim, *, budget: str, seed: int, cases: Sequence[Case], started: float) -> CheckResult:
    """Assemble the CheckResult of ``claim`` (a theory.claims.Claim) from its cases."""
    return CheckResult(claim=claim.id, statement=claim.statement, source=claim.source, budget=budget, seed=seed,
                       cases=tuple(cases), verdict=overall(cases), versions=versions(),
                       elapsed=time.perf_counter() - started)


# -- verdict rules shared by the checks ------------------------------------------------------------

def judge_rate(fit: SlopeFit, rate: float, tolerance: float = RATE_TOLERANCE) -> Verdict:
    """Lands at ``rate``: CONFIRMED if the band clears FLAT_SLOPE and contains rate within tolerance;
    REFUTED if it excludes rate (within tolerance); INCONCLUSIVE otherwise."""
    if not fit.contains(rate, tolerance=tolerance):
        return Verdict.REFUTED
    return Verdict.CONFIRMED if fit.lands() else Verdict.INCONCLUSIVE


def combine_verdicts(verdicts: list[Verdict]) -> Verdict:
    """REFUTED if any test refutes, else INCONCLUSIVE if any cannot decide, else CONFIRMED."""
    if Verdict.REFUTED in verdicts:
        return Verdict.REFUTED
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED


def judge_hits(test: HitTest, probabilities: np.ndarray, alpha: float) -> Verdict:
    """Chi-square verdict: a hit on a zero-probability atom refutes; expected counts < MIN_EXPECTED
    make the p-value untrustworthy (INCONCLUSIVE); otherwise p < alpha refutes."""
    if np.any(test.counts[np.asarray(probabilities) == 0] > 0):
        return Verdict.REFUTED
    if test.min_expected < MIN_EXPECTED:
        return Verdict.INCONCLUSIVE
    return Verdict.REFUTED if test.pvalue < alpha else Verdict.CONFIRMED


def fit_summary(fit: SlopeFit) -> dict[str, Any]:
    """The measurement record of a slope fit: slope, bootstrap band and its level, decades, levels."""
    return {"slope": fit.slope, "band": [fit.low, fit.high], "band_level": 1 - fit.alpha, "decades": fit.decades,
            "levels": fit.levels.tolist(), "statistic": fit.statistic.value}


def finite_range_rate(process: ForwardProcess, deltas) -> float:
    """Least-squares slope of log sigma(delta) on log delta over the deltas (the exact kernel's own)."""
    deltas = np.asarray(deltas, dtype=np.float64)
    return float(np.polyfit(np.log(deltas), 0.5 * np.log(process.sigma2(deltas)), 1)[0])


from theory.estimators import LandingStudy as _LandingStudy
from theory.estimators import landing_study as _landing_study


class LandingStudy(_LandingStudy):
    """theory.estimators.LandingStudy with the figure record of the old checks."""

    def figure(self, label: str, predicted_slope: float | None) -> dict[str, Any]:
        return {"kind": "loglog", "label": label, "deltas": self.deltas.tolist(),
                "levels": self.fit.levels.tolist(), "predicted_slope": predicted_slope,
                "fit": [self.fit.slope, self.fit.intercept]}


def landing_study(*args, **kwargs) -> LandingStudy:
    """theory.estimators.landing_study, returning the subclass with ``figure`` (old checks)."""
    study = _landing_study(*args, **kwargs)
    return LandingStudy(**study.__dict__)


def to_harness(old: CheckResult):
    """A result of a check not yet ported to the harness, in the harness's typed form.

    Each old case becomes one decision "verdict" whose measured value is the old record's slope
    when it has one; everything else stays in the case's record. Transitional: it lets the one
    report writer render old and ported checks side by side.
    """
    from checks import harness

    def figure(f):
        if not f:
            return None
        data = {k: v for k, v in f.items() if k not in ("kind", "label")}
        return harness.Figure(kind=f["kind"], title=str(f.get("label", "")), data=data)

    cases = []
    for c in old.cases:
        slope = c.measurement.get("slope", c.measurement.get("landing", {}).get("slope", float("nan")))
        decision = harness.Decision(
            test="verdict", statistic="the check's combined tests (see the record)",
            expected=harness.Expected("as claimed", "see the record"),
            measured=harness.Estimate(float(slope) if isinstance(slope, (int, float)) else float("nan")),
            rule="the check's own rules", verdict=harness.Verdict(c.verdict.value))
        cases.append(harness.CaseResult(
            name=c.name, role=harness.Role.CONTROL_RUN if c.control else harness.Role.CASE, setting=c.setting,
            decisions=(decision,), verdict=harness.Verdict(c.verdict.value), why=str(c.prediction.get("wrong_because", "")),
            effect="", record={"prediction": c.prediction, "measurement": c.measurement}, figure=figure(c.figure),
            elapsed=0.0))
    return harness.CheckResult(claim=old.claim, budget=harness.Budget.parse(old.budget), seed=old.seed,
                               plan=harness.Plan(n=1, steps_per_decade=1, alpha=0.01), cases=tuple(cases),
                               verdict=harness.Verdict(old.verdict.value), versions=old.versions, elapsed=old.elapsed)
