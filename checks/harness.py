"""The claim harness: claims as tables of frozen cases, one runner, typed decisions.

A claim check is a :class:`ClaimCheck`: the claim id (its statement lives in
:data:`theory.claims.CLAIMS`), a :class:`Plan` per :class:`Budget`, and a table of cases. A case
is a frozen, validated :class:`CaseSpec` (one row of the table); running it returns an
:class:`Outcome`: one or more :class:`Decision` records, each comparing a measured
:class:`Estimate` (value and band) with an :class:`Expected` value (the prediction, with its
formula or source and any a-priori tolerance), plus the plain-data record of everything measured
and an optional figure. :func:`run_claim` runs the table with one independent random stream per
case and assembles the :class:`CheckResult`.

Roles (:class:`Role`):

- ``CASE``: a setting the claim covers; its prediction must be confirmed.
- ``CONTROL_RUN``: a *wrong hypothesis run as its own case*: a near miss just beyond the check's
  resolution (a noise scale off by 5 %, an exponent just past a boundary), simulated and judged
  against the claim's prediction as if the claim applied. It must be refuted.
- ``CONTROL_REJUDGED``: a *measurement re-judged by a wrong predictor*: another case's outcome
  judged against a wrong prediction (:class:`Rejudged`). It must be refuted too; it shows the
  decision rule can tell the wrong prediction from the right one on the same data, not that the
  simulation could go wrong.

A check is CONFIRMED when every case is confirmed and every control refuted, REFUTED when a case
is refuted, INCONCLUSIVE otherwise (a case that cannot decide, or a control that was not refuted:
then the check has not shown it can fail). The rules of decisions are in :mod:`checks.judges`.
"""

from __future__ import annotations

import abc
import enum
import platform
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from theory.claims import CLAIMS

if TYPE_CHECKING:
    from theory.statistics import SlopeFit


class Budget(str, enum.Enum):
    """How much a check may spend: ``FAST`` (the CI profile, minutes for all claims together) or
    ``FULL`` (the complete study)."""

    FAST = "fast"
    FULL = "full"

    @classmethod
    def parse(cls, value: object) -> Budget:
        """A Budget from itself or its value; ValueError naming the choices otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(repr(b.value) for b in cls)
            raise ValueError(f"budget must be one of {choices}, got {value!r}") from None


class Verdict(str, enum.Enum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


class Role(str, enum.Enum):
    """What a case is for (module docstring)."""

    CASE = "case"
    CONTROL_RUN = "control: wrong hypothesis, run"
    CONTROL_REJUDGED = "control: measurement re-judged"

    @property
    def is_control(self) -> bool:
        return self is not Role.CASE


@dataclass(frozen=True)
class Plan:
    """Sample sizes and resolution of one budget. Claims subclass it to add their own sizes.

    n : particles (or samples) per run. steps_per_decade : resolution of the geometric time grid.
    alpha : family-wise false-failure rate the check is designed for (its tests share it, with the
    correction stated in the claim module).
    """

    n: int
    steps_per_decade: int
    alpha: float

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{type(self).__name__}.{f.name} must be an integer >= 1, got {value!r}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"{type(self).__name__}.alpha must be in (0, 1), got {self.alpha!r}")

    def record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Expected:
    """A prediction: ``value`` (a number, a band (low, high), a bool or a short word), where it comes
    from (``source``: a formula or a reference, e.g. "slope of sigma(delta) over the deltas"), and
    the a-priori ``tolerance`` around it when the decision allows one (None: exact or not numeric)."""

    value: Any
    source: str
    tolerance: float | None = None


@dataclass(frozen=True)
class Estimate:
    """A measured number: ``value``, its ``band`` (low, high) at confidence ``level`` (None when the
    decision uses no band, e.g. a p-value), and the sample size ``n`` behind it."""

    value: float
    band: tuple[float, float] | None = None
    level: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Decision:
    """One test of a case: what was predicted, what was measured, the rule and the verdict.

    test : short name ("rate", "level", "law", "coverage", "trend"). statistic : what the measured
    number is ("log-log slope of the RMS distance to M"). rule : the decision rule in words.
    margin : how decisively the rule was met, in units of the measurement's resolution (band
    half-widths, or standard normal quantiles for a p-value): > 0 on the side where the prediction
    holds, < 0 where it fails, None when the rule has no such scale. The report's overview plots it.
    vacuous : True when the prediction abstained, so the rule tested nothing (C8's "no prediction":
    the claim is an implication from a decisive prediction). Such a decision is CONFIRMED vacuously,
    has no margin, and the report counts its case as "no prediction", not as confirmed.
    """

    test: str
    statistic: str
    expected: Expected
    measured: Estimate
    rule: str
    verdict: Verdict
    margin: float | None = None
    vacuous: bool = False

    def __post_init__(self) -> None:
        if self.vacuous and (self.verdict is not Verdict.CONFIRMED or self.margin is not None):
            raise ValueError(f"a vacuous decision is CONFIRMED without a margin, got {self.verdict!r}, "
                             f"margin {self.margin!r}")


@dataclass(frozen=True)
class Figure:
    """Plot data for the report writer: ``kind`` names the plotter, ``data`` holds plain lists."""

    kind: str
    title: str
    data: Mapping[str, Any]


def loglog_figure(title: str, fit: SlopeFit, *, ylabel: str, predicted_levels=None,
                  predicted_slope: float | None = None) -> Figure:
    """A "loglog" figure of a fitted landing study (theory.statistics.SlopeFit): the measured levels
    against delta, the fitted line, and the predicted levels or slope when given."""
    data: dict[str, Any] = {"deltas": fit.deltas.tolist(), "levels": fit.levels.tolist(),
                            "fit": [fit.slope, fit.intercept], "ylabel": ylabel}
    if predicted_levels is not None:
        data["predicted_levels"] = np.asarray(predicted_levels).tolist()
    if predicted_slope is not None:
        data["predicted_slope"] = predicted_slope
    return Figure("loglog", title, data)


@dataclass(frozen=True)
class Outcome:
    """What running one case returns: its decisions, every measured value (plain data, for the JSON
    record), and an optional figure."""

    decisions: tuple[Decision, ...]
    record: Mapping[str, Any] = field(default_factory=dict)
    figure: Figure | None = None

    def __post_init__(self) -> None:
        if not self.decisions:
            raise ValueError("an Outcome needs at least one Decision")
        object.__setattr__(self, "decisions", tuple(self.decisions))


class CaseSpec(abc.ABC):
    """One row of a claim's table: a frozen, validated dataclass with ``name`` and ``role``.

    Subclasses implement :meth:`setting` (a one-line description of measure, process, prior and
    score) and :meth:`run`; controls also give :meth:`why` (why the prediction they are judged
    against is wrong) and :meth:`effect` (the size of the effect the check must detect).
    """

    name: str
    role: Role

    @abc.abstractmethod
    def setting(self) -> str:
        """Measure, process, prior, score error: one line."""

    @abc.abstractmethod
    def run(self, plan: Plan, seed: np.random.SeedSequence) -> Outcome:
        """Simulate, measure and decide."""

    def why(self) -> str:
        """For controls: why the prediction the case is judged against is wrong."""
        return ""

    def effect(self) -> str:
        """For controls: the effect the check must detect, with its size."""
        return ""

    @property
    def reuses(self) -> str | None:
        """The name of the case whose outcome this one re-judges (None: it runs on its own)."""
        return None


@dataclass(frozen=True)
class Rejudged(CaseSpec):
    """A control that re-judges the outcome of case ``of`` with a wrong predictor ``judge``.

    judge : a function of the other case's :class:`Outcome` returning this control's decisions.
    why_wrong : why that predictor is wrong. size : the effect size separating it from the truth.
    """

    name: str
    of: str
    judge: Callable[[Outcome], Sequence[Decision]]
    why_wrong: str
    size: str
    role: Role = Role.CONTROL_REJUDGED

    def __post_init__(self) -> None:
        if self.role is not Role.CONTROL_REJUDGED:
            raise ValueError(f"Rejudged.role must be CONTROL_REJUDGED, got {self.role!r}")
        if not callable(self.judge):
            raise TypeError(f"judge must be callable (Outcome) -> decisions, got {type(self.judge).__name__}")

    def setting(self) -> str:
        return f"the measurement of '{self.of}'"

    def run(self, plan: Plan, seed: np.random.SeedSequence) -> Outcome:  # pragma: no cover - runner handles it
        raise TypeError("a Rejudged control has no run of its own; run_claim judges the outcome of its case")

    def rejudge(self, outcome: Outcome) -> Outcome:
        return Outcome(decisions=tuple(self.judge(outcome)), record={"rejudged_case": self.of},
                       figure=outcome.figure)

    def why(self) -> str:
        return self.why_wrong

    def effect(self) -> str:
        return self.size

    @property
    def reuses(self) -> str:
        return self.of


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """REFUTED if any test refutes, else INCONCLUSIVE if any cannot decide, else CONFIRMED."""
    if Verdict.REFUTED in verdicts:
        return Verdict.REFUTED
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED


@dataclass(frozen=True)
class CaseResult:
    """One case, run and judged. ``verdict`` combines its decisions (:func:`combine`)."""

    name: str
    role: Role
    setting: str
    decisions: tuple[Decision, ...]
    verdict: Verdict
    why: str
    effect: str
    record: Mapping[str, Any]
    figure: Figure | None
    elapsed: float

    @property
    def as_expected(self) -> bool:
        """A case confirmed, or a control refuted."""
        return self.verdict is (Verdict.REFUTED if self.role.is_control else Verdict.CONFIRMED)

    @property
    def vacuous(self) -> bool:
        """Every decision vacuous: the case was kept in the study but tested nothing (see Decision)."""
        return all(d.vacuous for d in self.decisions)

    @property
    def deciding(self) -> Decision:
        """The decision that settles the verdict: the first that disagrees with the case's verdict
        being as expected, else the first."""
        target = Verdict.REFUTED if self.role.is_control else Verdict.CONFIRMED
        if self.verdict is not target:
            for d in self.decisions:
                if d.verdict is self.verdict:
                    return d
        if self.role.is_control:
            for d in self.decisions:
                if d.verdict is Verdict.REFUTED:
                    return d
        return self.decisions[0]


def overall(cases: Sequence[CaseResult]) -> Verdict:
    """CONFIRMED iff every case is confirmed and every control refuted; REFUTED if a case is refuted."""
    main = [c for c in cases if not c.role.is_control]
    controls = [c for c in cases if c.role.is_control]
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


@dataclass(frozen=True)
class CheckResult:
    """The frozen outcome of one claim check."""

    claim: str
    budget: Budget
    seed: int
    plan: Plan
    cases: tuple[CaseResult, ...]
    verdict: Verdict
    versions: Mapping[str, str]
    elapsed: float
    formulas: tuple[tuple[str, str], ...] = ()
    figures: tuple[Figure, ...] = ()

    @property
    def statement(self) -> str:
        return CLAIMS[self.claim].statement

    @property
    def source(self) -> str:
        return CLAIMS[self.claim].source

    @property
    def controls(self) -> tuple[CaseResult, ...]:
        return tuple(c for c in self.cases if c.role.is_control)

    @property
    def main_cases(self) -> tuple[CaseResult, ...]:
        return tuple(c for c in self.cases if not c.role.is_control)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (see :func:`checks.records.json_data` for the strict JSON form)."""
        from checks.records import json_data

        return json_data({
            "claim": self.claim, "title": CLAIMS[self.claim].title, "statement": self.statement,
            "source": self.source, "budget": self.budget.value, "seed": self.seed, "plan": self.plan.record(),
            "verdict": self.verdict.value, "versions": dict(self.versions), "elapsed_seconds": round(self.elapsed, 3),
            "formulas": [list(f) for f in self.formulas], "cases": [_case_dict(c) for c in self.cases],
            "figures": [{"kind": f.kind, "title": f.title, "data": dict(f.data)} for f in self.figures]})


def _case_dict(c: CaseResult) -> dict[str, Any]:
    return {"name": c.name, "role": c.role.value, "control": c.role.is_control, "setting": c.setting,
            "verdict": c.verdict.value, "why": c.why, "effect": c.effect,
            "decisions": [{"test": d.test, "statistic": d.statistic, "rule": d.rule, "verdict": d.verdict.value,
                           "expected": {"value": d.expected.value, "source": d.expected.source,
                                        "tolerance": d.expected.tolerance},
                           "measured": {"value": d.measured.value, "band": d.measured.band,
                                        "level": d.measured.level, "n": d.measured.n}, "margin": d.margin,
                           "vacuous": d.vacuous}
                          for d in c.decisions],
            "record": dict(c.record), "elapsed_seconds": round(c.elapsed, 3)}


@dataclass(frozen=True)
class ClaimCheck:
    """A claim check: the claim id, a :class:`Plan` per budget, the table of cases per budget, and
    optionally ``formulas``: (name, LaTeX) pairs of the claim's closed-form predictions for its page."""

    claim: str
    plans: Mapping[Budget, Plan]
    table: Callable[[Budget], Sequence[CaseSpec]]
    formulas: Callable[[], Sequence[tuple[str, str]]] | None = None
    summary_figures: Callable[[Sequence[CaseResult]], Sequence[Figure]] | None = None

    def __post_init__(self) -> None:
        if self.claim not in CLAIMS:
            raise ValueError(f"claim must be one of {', '.join(CLAIMS)}, got {self.claim!r}")
        missing = [b.value for b in Budget if b not in self.plans]
        if missing:
            raise ValueError(f"plans must cover every budget, missing {missing}")

    def cases(self, budget: Budget | str) -> tuple[CaseSpec, ...]:
        """The validated table of ``budget``: unique names, known reused cases, controls present."""
        budget = Budget.parse(budget)
        specs = tuple(self.table(budget))
        for spec in specs:
            if not isinstance(spec, CaseSpec):
                raise TypeError(f"{self.claim}: table rows must be CaseSpec, got {type(spec).__name__}")
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{self.claim}: case names must be unique, repeated: {duplicates}")
        for spec in specs:
            if spec.reuses is not None and spec.reuses not in names:
                raise ValueError(f"{self.claim}: control '{spec.name}' re-judges unknown case '{spec.reuses}'")
        return specs


def case_seed(seed: int, claim: str, name: str) -> np.random.SeedSequence:
    """The random stream of one case: derived from the root seed and the case's own name, so it
    does not change when other rows are added, removed or reordered."""
    return np.random.SeedSequence([int(seed), zlib.crc32(f"{claim}/{name}".encode())])


def run_case(check: ClaimCheck, spec: CaseSpec, plan: Plan, seed: int) -> CaseResult:
    """Run one (non re-judged) case with its own stream."""
    started = time.perf_counter()
    outcome = spec.run(plan, case_seed(seed, check.claim, spec.name))
    return _result(spec, outcome, time.perf_counter() - started)


def _result(spec: CaseSpec, outcome: Outcome, elapsed: float) -> CaseResult:
    return CaseResult(name=spec.name, role=spec.role, setting=spec.setting(), decisions=outcome.decisions,
                      verdict=combine([d.verdict for d in outcome.decisions]), why=spec.why(), effect=spec.effect(),
                      record=dict(outcome.record), figure=outcome.figure, elapsed=elapsed)


def runnable(check: ClaimCheck, budget: Budget | str, only: Sequence[str] | None = None) -> tuple[CaseSpec, ...]:
    """The cases of ``budget`` to run (the named ones and the cases they re-judge, or all), in table order."""
    specs = check.cases(budget)
    if only is None:
        return specs
    wanted = set(only) | {s.reuses for s in specs if s.name in set(only) and s.reuses}
    return tuple(s for s in specs if s.name in wanted)


def finish_claim(check: ClaimCheck, *, seed: int, budget: Budget | str, specs: Sequence[CaseSpec],
                 ran: Mapping[str, CaseResult], elapsed: float) -> CheckResult:
    """Judge the re-judged controls on the outcomes in ``ran`` and assemble the CheckResult.

    ``ran`` holds the result of every spec that runs on its own (as :func:`run_case` returns it),
    possibly computed elsewhere (on Dask workers, one task per case).
    """
    budget = Budget.parse(budget)
    results = dict(ran)
    for spec in specs:
        if spec.reuses is not None:
            base = ran[spec.reuses]
            outcome = Outcome(decisions=base.decisions, record=base.record, figure=base.figure)
            results[spec.name] = _result(spec, spec.rejudge(outcome), 0.0)
    cases = tuple(results[s.name] for s in specs)
    formulas = tuple(tuple(f) for f in check.formulas()) if check.formulas is not None else ()
    figures = tuple(check.summary_figures(cases)) if check.summary_figures is not None else ()
    return CheckResult(claim=check.claim, budget=budget, seed=int(seed), plan=check.plans[budget], cases=cases,
                       verdict=overall(cases), versions=versions(), elapsed=elapsed, formulas=formulas,
                       figures=figures)


def run_claim(check: ClaimCheck, *, seed: int, budget: Budget | str = Budget.FAST,
              only: Sequence[str] | None = None) -> CheckResult:
    """Run every case of ``check`` (or the named ones, plus the cases they re-judge) and judge them."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    budget = Budget.parse(budget)
    started = time.perf_counter()
    plan = check.plans[budget]
    specs = runnable(check, budget, only)
    ran = {spec.name: run_case(check, spec, plan, seed) for spec in specs if spec.reuses is None}
    return finish_claim(check, seed=seed, budget=budget, specs=specs, ran=ran, elapsed=time.perf_counter() - started)
