"""Decision rules shared by the claim checks: each turns a measurement and a prediction into a
:class:`checks.harness.Decision` with the rule written out.

Rules
-----
- :func:`trend`: the one slope classifier (:meth:`theory.statistics.SlopeFit.trend`) against a
  predicted :class:`theory.statistics.Trend`. CONFIRMED when equal; INCONCLUSIVE when the band is
  UNDECIDED; REFUTED otherwise.
- :func:`value_in_band`: a predicted number (a rate, a level) against a measured band. CONFIRMED
  when [low - tol, high + tol] contains the prediction; REFUTED otherwise. ``tol`` is a stated
  a-priori allowance for known biases (finite range, discretization), never a fudge.
- :func:`rate`: :func:`value_in_band` for a log-log slope plus the trend: a rate > 0 also needs
  the band to clear FLAT_SLOPE (else INCONCLUSIVE: it contains the rate but cannot tell landing
  from a plateau).
- :func:`p_value`: a goodness-of-fit test at level alpha: REFUTED when p < alpha; INCONCLUSIVE
  when the test's approximation is not trustworthy (``valid`` False, e.g. expected counts < 5).
- :func:`equal`: a discrete prediction (a rank, a count) against a discrete measurement:
  CONFIRMED when equal, REFUTED otherwise.


- :func:`ordering`: a predicted inequality (the measured value lies below, or above, a bound).
  CONFIRMED when the whole band is on the predicted side; REFUTED when it is on the other side;
  INCONCLUSIVE when it contains the bound.
- :func:`within`: a predicted interval (a bound on both sides, e.g. the masses an inequality allows).
  CONFIRMED when the measured band meets the interval; REFUTED when the whole band lies outside.
"""

from __future__ import annotations

import math

from scipy import stats

from theory.statistics import FLAT_SLOPE, SlopeFit, Trend

from checks.harness import Decision, Estimate, Expected, Verdict

SLOPE_STATISTIC = "log-log slope of the RMS distance to M against delta"


def slope_estimate(fit: SlopeFit) -> Estimate:
    """The slope with its bootstrap band."""
    return Estimate(value=fit.slope, band=(fit.low, fit.high), level=1.0 - fit.alpha)


def _half(band: tuple[float, float]) -> float:
    return max(0.5 * (band[1] - band[0]), 1e-12)


def trend_margin(fit: SlopeFit, expected: Trend, flat: float = FLAT_SLOPE) -> float:
    """Distance of the band from the edge of the region where ``expected`` holds, in band half-widths
    (> 0: inside, the trend is as predicted)."""
    half = _half((fit.low, fit.high))
    if expected is Trend.SHRINKS:
        return (fit.low - flat) / half
    if expected is Trend.GROWS:
        return (-flat - fit.high) / half
    return min(flat - fit.high, fit.low + flat) / half


def trend(fit: SlopeFit, expected: Trend, *, source: str, statistic: str = SLOPE_STATISTIC,
          flat: float = FLAT_SLOPE) -> Decision:
    """The measured trend of ``fit`` (threshold ``flat``) against the predicted one."""
    measured = fit.trend(flat)
    if measured is expected:
        verdict = Verdict.CONFIRMED
    elif measured is Trend.UNDECIDED:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.REFUTED
    rule = {Trend.SHRINKS: f"band above {flat:g}", Trend.FLAT: f"band inside (-{flat:g}, {flat:g}), levels > 0",
            Trend.GROWS: f"band below -{flat:g}", Trend.UNDECIDED: "band straddles a threshold"}[expected]
    return Decision(test="trend", statistic=statistic, expected=Expected(expected.value, source),
                    measured=slope_estimate(fit), rule=f"{expected.value}: {rule}", verdict=verdict,
                    margin=trend_margin(fit, expected, flat))


def value_in_band(test: str, statistic: str, measured: Estimate, expected: float, *, tolerance: float,
                  source: str) -> Decision:
    """CONFIRMED iff [low - tolerance, high + tolerance] contains ``expected``, else REFUTED."""
    if measured.band is None:
        raise ValueError(f"{test}: the measured estimate needs a band, got {measured!r}")
    low, high = measured.band
    inside = low - tolerance <= expected <= high + tolerance
    half = _half(measured.band)
    margin = (half + tolerance - abs(expected - 0.5 * (low + high))) / half
    return Decision(test=test, statistic=statistic, expected=Expected(float(expected), source, tolerance),
                    measured=measured, rule=f"band +- {tolerance:g} contains the prediction",
                    verdict=Verdict.CONFIRMED if inside else Verdict.REFUTED, margin=margin)


def rate(fit: SlopeFit, expected: float, *, tolerance: float, source: str,
         statistic: str = SLOPE_STATISTIC) -> Decision:
    """A predicted landing rate: :func:`value_in_band`, and for a rate > FLAT_SLOPE the band must
    also clear FLAT_SLOPE (INCONCLUSIVE otherwise)."""
    decision = value_in_band("rate", statistic, slope_estimate(fit), expected, tolerance=tolerance, source=source)
    if decision.verdict is Verdict.CONFIRMED and expected > FLAT_SLOPE and fit.trend() is not Trend.SHRINKS:
        return Decision(**{**decision.__dict__, "verdict": Verdict.INCONCLUSIVE,
                           "rule": decision.rule + f", and band above {FLAT_SLOPE:g}"})
    return decision


def p_value(test: str, statistic: str, p: float, *, alpha: float, source: str, n: int | None = None,
            valid: bool = True, expected: object = "consistent") -> Decision:
    """A goodness-of-fit test: REFUTED when p < alpha, INCONCLUSIVE when not ``valid``."""
    if not valid:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.REFUTED if p < alpha else Verdict.CONFIRMED
    margin = None
    if valid and 0.0 < p < 1.0:  # in standard normal quantiles: z_alpha - z_p
        margin = float(stats.norm.isf(alpha) - stats.norm.isf(p))
    elif valid:
        margin = math.inf if p >= 1.0 else -math.inf
    return Decision(test=test, statistic=statistic, expected=Expected(expected, source),
                    measured=Estimate(value=float(p), n=n), rule=f"p >= {alpha:g}" + ("" if valid else
                                                                                    " (test not valid here)"),
                    verdict=verdict, margin=margin)


def equal(test: str, statistic: str, measured: int, expected: int, *, source: str) -> Decision:
    """A discrete prediction (e.g. a rank): CONFIRMED iff ``measured == expected``, else REFUTED.

    The margin is None: a discrete statistic has no band; how decisively it was read is the
    estimator's business (e.g. the singular-value gap behind a rank, kept in the case's record).
    """
    return Decision(test=test, statistic=statistic, expected=Expected(int(expected), source),
                    measured=Estimate(value=float(measured)), rule="equal to the prediction",
                    verdict=Verdict.CONFIRMED if measured == expected else Verdict.REFUTED)


def ordering(test: str, statistic: str, measured: Estimate, bound: float, *, below: bool, source: str) -> Decision:
    """The measured value lies below ``bound`` (``below=True``) or above it: CONFIRMED when the whole
    band is on that side, REFUTED when the whole band is on the other side, INCONCLUSIVE otherwise."""
    if measured.band is None:
        raise ValueError(f"{test}: the measured estimate needs a band, got {measured!r}")
    low, high = measured.band
    inside, outside = (high < bound, low > bound) if below else (low > bound, high < bound)
    verdict = Verdict.CONFIRMED if inside else (Verdict.REFUTED if outside else Verdict.INCONCLUSIVE)
    margin = ((bound - high) if below else (low - bound)) / _half(measured.band)
    word = "below" if below else "above"
    return Decision(test=test, statistic=statistic, expected=Expected(f"{word} {bound:.4g}", source),
                    measured=measured, rule=f"band {word} {bound:.4g}", verdict=verdict, margin=margin)


def within(test: str, statistic: str, measured: Estimate, low: float, high: float, *, source: str) -> Decision:
    """The measured band meets the predicted interval [low, high]: CONFIRMED when it does, REFUTED when the
    whole band lies outside. The margin is min(high - band low, band high - low) in band half-widths
    (> 0: the band meets the interval)."""
    if measured.band is None:
        raise ValueError(f"{test}: the measured estimate needs a band, got {measured!r}")
    if not low <= high:
        raise ValueError(f"{test}: need low <= high, got [{low!r}, {high!r}]")
    b_low, b_high = measured.band
    margin = min(high - b_low, b_high - low) / _half(measured.band)
    return Decision(test=test, statistic=statistic, expected=Expected(f"in [{low:.4g}, {high:.4g}]", source),
                    measured=measured, rule="band meets the interval",
                    verdict=Verdict.CONFIRMED if margin >= 0 else Verdict.REFUTED, margin=margin)
