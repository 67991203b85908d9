"""The claims registry: one frozen record per claim of CLAIMS.md §3 (C1-C8), with predictions.

A :class:`Setting` describes one experiment (measure, process, prior, score error, horizon T).
``claim.predict(setting)`` checks the claim's hypotheses (named predicates) and either returns the
claim's :class:`Prediction` (lands on M or not, the rate exponent of the RMS distance in delta,
whether all of M keeps mass, whether the training set is memorized, ...) or a Prediction with
``covered = False`` naming the hypothesis that fails: settings outside a claim are reported as
"not covered by this claim", never guessed.

Sources: Pidstrigach, *Score-Based Generative Models Detect Manifolds*, NeurIPS 2022
(arXiv:2206.01018) for C1-C5 and C7's premise; the sharp boundary of C6 is derived in
:mod:`theory.symbolic` and compared with Li, Shen, Hsieh, He 2025 (arXiv:2509.24912).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from theory.measures.base import Measure
from theory.measures.pointcloud import PointCloud
from theory.priors import ExactMarginal, PointMass, Prior
from theory.processes import DEFAULT_PROCESS, ForwardProcess

PAPER = "Pidstrigach 2022, arXiv:2206.01018"
# Exponent of sigma(delta) in delta: sigma(t)^2 ~ g(0)^2 t for OU, VP and VE (theory.symbolic).
EXACT_RATE = 0.5


class ErrorKind(enum.Enum):
    """The score-error families of :mod:`theory.perturbations`, plus the exact score and 'other'."""

    EXACT = "exact"
    BOUNDED_CONSTANT = "bounded_constant"
    NORMAL_OFFSET = "normal_offset"
    NORMAL_SCALING = "normal_scaling"
    TANGENTIAL = "tangential"
    CLIPPED = "clipped"
    SMOOTHED = "smoothed"
    RANDOM_FIELD = "random_field"
    SIGN_FLIP = "sign_flip"
    DROPPED_COMPONENT = "dropped_component"
    RESCALED = "rescaled"
    OTHER = "other"


@dataclass(frozen=True)
class ErrorSpec:
    """A score error: its family and parameters (e.g. NORMAL_OFFSET with a = 0.25, c = 1)."""

    kind: ErrorKind
    params: tuple[tuple[str, float], ...] = ()

    def __getitem__(self, name: str) -> float:
        return dict(self.params)[name]

    @classmethod
    def of(cls, score: Callable) -> ErrorSpec:
        """Read the family off a score callable: the ``kind`` and ``parameters`` every family of
        :mod:`theory.perturbations` declares; any other callable is OTHER."""
        try:
            kind = ErrorKind(getattr(type(score), "kind", ErrorKind.OTHER.value))
        except ValueError:
            kind = ErrorKind.OTHER
        names = getattr(type(score), "parameters", ()) if kind is not ErrorKind.OTHER else ()
        return cls(kind, tuple((name, float(getattr(score, name))) for name in names))

    def describe(self) -> str:
        if not self.params:
            return self.kind.value
        return self.kind.value + "(" + ", ".join(f"{k}={v:g}" for k, v in self.params) + ")"


@dataclass(frozen=True)
class Setting:
    """One experiment: measure, process, prior at T, score error."""

    measure: Measure
    error: ErrorSpec = ErrorSpec(ErrorKind.EXACT)
    prior: Prior | None = None  # None: the simulator's default Gaussian
    T: float = 5.0
    process: ForwardProcess = field(default=DEFAULT_PROCESS)

    def describe(self) -> str:
        prior = "reference Gaussian" if self.prior is None else type(self.prior).__name__
        return (f"{type(self.measure).__name__}(k={self.measure.k}, d={self.measure.d}), {self.process!r}, "
                f"T={self.T:g}, prior={prior}, error={self.error.describe()}")


@dataclass(frozen=True)
class Prediction:
    """What a claim predicts for a setting; ``covered = False`` means the claim says nothing.

    lands : RMS distance to M -> 0 as delta -> 0. rate, log_power : RMS ~ delta^rate log(1/delta)^log_power.
    covers_all : every part of M keeps positive mass. memorizes : outputs are training points.
    codimension : predicted lim sigma^2 E|score|^2 (d - k; weight-averaged for mixtures).
    hit_probabilities : (N,) predicted frequencies of the training points (PointCloud settings).
    l2 : whether the score error satisfies the L2 condition of CLAIMS.md C2.
    """

    claim: str
    covered: bool
    reason: str
    lands: bool | None = None
    rate: float | None = None
    log_power: float = 0.0
    covers_all: bool | None = None
    memorizes: bool | None = None
    codimension: float | None = None
    hit_probabilities: np.ndarray | None = field(default=None, compare=False)
    l2: bool | None = None


@dataclass(frozen=True)
class Hypothesis:
    """A named predicate on settings."""

    name: str
    holds: Callable[[Setting], bool]


# -- hypotheses -------------------------------------------------------------------------------

def _prior_equivalent(s: Setting) -> bool:
    """pi ~ p_T: pi has an everywhere-positive Lebesgue density (p_T does, for t > 0)."""
    return s.prior is None or s.prior.positive_density is True


def error_is_l2(s: Setting) -> bool | None:
    """The L2 condition of CLAIMS.md C2 for the setting's error family (None: unknown family)."""
    from theory.symbolic import ErrorFamily, boundary_prediction

    kind, codim = s.error.kind, s.measure.d - s.measure.k
    if kind in (ErrorKind.EXACT, ErrorKind.BOUNDED_CONSTANT, ErrorKind.TANGENTIAL, ErrorKind.RANDOM_FIELD):
        return True
    if kind is ErrorKind.NORMAL_OFFSET:
        return bool(boundary_prediction(ErrorFamily.NORMAL_OFFSET, s.process).is_l2(s.error["a"]))
    if kind is ErrorKind.NORMAL_SCALING:
        return codim == 0 or bool(boundary_prediction(ErrorFamily.SCALED_NORMAL, s.process).is_l2(s.error["beta"]))
    if kind in (ErrorKind.CLIPPED, ErrorKind.SMOOTHED, ErrorKind.SIGN_FLIP, ErrorKind.DROPPED_COMPONENT):
        # Each differs from the exact score by ~ |normal score| ~ 1/sigma near (part of) M:
        # int dt/t diverges (CLAIMS.md C5).
        return False if codim > 0 else None
    if kind is ErrorKind.RESCALED:
        identity = s.error["factor"] == 1.0 and s.error["sigma_power"] == 0.0
        return True if identity else (False if codim > 0 else None)
    return None


EXACT = Hypothesis("exact score (e = 0)", lambda s: s.error.kind is ErrorKind.EXACT)
PRIOR_EQUIV = Hypothesis("prior equivalent to p_T (positive density)", _prior_equivalent)
L2 = Hypothesis("score error satisfies the L2 condition", lambda s: error_is_l2(s) is True)
FINITE = Hypothesis("mu is a finite point set (k = 0)", lambda s: s.measure.k == 0)
LOWER_DIM = Hypothesis("M is lower-dimensional (k < d)", lambda s: s.measure.k < s.measure.d)
BOUNDED_DRIFT = Hypothesis("drift of linear growth (|s| <= C)", lambda s: s.error.kind is ErrorKind.CLIPPED)
NORMAL_FAMILY = Hypothesis("error is a normal offset c t^-a n or a normal scaling beta",
                           lambda s: s.error.kind in (ErrorKind.NORMAL_OFFSET, ErrorKind.NORMAL_SCALING))
C7_FAMILY = Hypothesis("error is a smoothed score or a scaled exact score",
                       lambda s: s.error.kind in (ErrorKind.SMOOTHED, ErrorKind.NORMAL_SCALING))
LEARNED = Hypothesis("a score of no known error family (e.g. a trained network)",
                     lambda s: s.error.kind is ErrorKind.OTHER)


# -- predictions ------------------------------------------------------------------------------

def _codimension(measure: Measure) -> float:
    return measure.codimension


def _hit_probabilities(s: Setting) -> np.ndarray | None:
    """Predicted frequencies of the training points for a PointCloud with the exact score (C1)."""
    if not isinstance(s.measure, PointCloud):
        return None
    if isinstance(s.prior, PointMass):
        return s.measure.posterior(s.T, s.prior.y[None, :], process=s.process)[0]
    if isinstance(s.prior, ExactMarginal):
        return s.measure.weights.copy()
    return None


def _predict_c1(s: Setting) -> Prediction:
    lower = s.measure.k < s.measure.d
    return Prediction("C1", True, "exact score: the output is the mixture over pi of posteriors law(X_0 | X_T = y)",
                      lands=True, rate=EXACT_RATE if lower else None, covers_all=True,
                      memorizes=s.measure.k == 0, hit_probabilities=_hit_probabilities(s), l2=True)


def _predict_c2(s: Setting) -> Prediction:
    return Prediction("C2", True, "pi ~ p_T and L2 error: output equivalent to mu (Girsanov)", lands=True,
                      rate=EXACT_RATE, covers_all=True, memorizes=s.measure.k == 0, l2=True)


def _predict_c3(s: Setting) -> Prediction:
    probs = _hit_probabilities(s) if s.error.kind is ErrorKind.EXACT else None
    return Prediction("C3", True, "empirical mu, L2 error: outputs are training points, each hit", lands=True,
                      rate=EXACT_RATE, covers_all=True, memorizes=True, hit_probabilities=probs, l2=True)


def _predict_c4(s: Setting) -> Prediction:
    return Prediction("C4", True, "drift of linear growth: the output has a Lebesgue density", lands=False,
                      rate=0.0, covers_all=None, memorizes=False, l2=False)


def _predict_c5(s: Setting) -> Prediction:
    return Prediction("C5", True, "sigma^2 E|score|^2 -> d - k", codimension=_codimension(s.measure),
                      lands=True, l2=True)


def _predict_c6(s: Setting) -> Prediction:
    from theory.symbolic import ErrorFamily, boundary_prediction

    if s.error.kind is ErrorKind.NORMAL_OFFSET:
        family, value = ErrorFamily.NORMAL_OFFSET, s.error["a"]
    else:
        family, value = ErrorFamily.SCALED_NORMAL, s.error["beta"]
    pred = boundary_prediction(family, s.process)
    lands = bool(pred.lands(value))
    return Prediction("C6", True, f"linearized normal dynamics, {family.value}", lands=lands,
                      rate=float(pred.rate_numpy(value)), log_power=float(pred.log_power_numpy(value)),
                      covers_all=None, memorizes=lands and s.measure.k == 0,
                      l2=bool(pred.is_l2(value)))


def _predict_c7(s: Setting) -> Prediction:
    if s.error.kind is ErrorKind.SMOOTHED:
        return Prediction("C7", True, "smoothed score: the nearest-training distance plateaus above 0",
                          lands=False, rate=0.0, memorizes=False, l2=False)
    from theory.symbolic import ErrorFamily, boundary_prediction

    beta = s.error["beta"]
    pred = boundary_prediction(ErrorFamily.SCALED_NORMAL, s.process)
    lands = bool(pred.lands(beta))
    return Prediction("C7", True, "scaled exact empirical score: memorizes iff beta > 0, at rate min(beta, 1/2)",
                      lands=lands, rate=float(pred.rate_numpy(beta)), log_power=float(pred.log_power_numpy(beta)),
                      memorizes=lands, l2=beta == 1.0)


def _predict_c8(s: Setting) -> Prediction:
    # A Setting names the error family, not the score: C8 reads its prediction off the score itself.
    return Prediction("C8", True, "the score's own explosion predicts what its sampler lands on: "
                      "theory.learned.diagnose(score, train)")


@dataclass(frozen=True)
class Claim:
    """One claim: id, statement, source, hypotheses (all must hold) and its prediction rule."""

    id: str
    title: str
    statement: str
    source: str
    hypotheses: tuple[Hypothesis, ...]
    rule: Callable[[Setting], Prediction] = field(repr=False)

    def predict(self, setting: Setting) -> Prediction:
        """The claim's prediction, or ``covered = False`` naming the first failing hypothesis."""
        if not isinstance(setting, Setting):
            raise TypeError(f"setting must be a theory.claims.Setting, got {type(setting).__name__}")
        for hyp in self.hypotheses:
            if not hyp.holds(setting):
                return Prediction(self.id, False, f"not covered by this claim: needs {hyp.name}")
        return self.rule(setting)


CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("C1", "Any prior",
          "With the exact score the output is equivalent to mu (on M, covering M) for every prior pi, even a point "
          "mass; for a PointCloud and pi = delta_y point i is hit with probability proportional to "
          "w_i N(y; alpha(T) x_i, sigma(T)^2 I).", PAPER, (EXACT,), _predict_c1),
    Claim("C2", "Detecting the manifold",
          "If pi ~ p_T and the score error is L2 along the forward process, the output is equivalent to mu. Our "
          "formalization: samples land on M at the exact-score rate sigma(delta) and every part of M keeps mass.",
          PAPER, (PRIOR_EQUIV, L2, LOWER_DIM), _predict_c2),
    Claim("C3", "Memorization",
          "With mu the empirical measure of N training points, the exact score and every L2-error score output "
          "training points only: nearest-training distance -> 0 like sigma(delta), every point hit.",
          PAPER, (FINITE, PRIOR_EQUIV, L2), _predict_c3),
    Claim("C4", "Unbounded drift is necessary",
          "If |s(t, x)| <= C(1 + |x|), the output has a Lebesgue density: the distance to a lower-dimensional M "
          "plateaus as delta -> 0.", PAPER, (BOUNDED_DRIFT, LOWER_DIM), _predict_c4),
    Claim("C5", "Explosion rate encodes the dimension",
          "sigma(t)^2 E|grad log p_t(X_t)|^2 -> d - k as t -> 0, and near M the score spans the (d - k)-dim normal "
          "space.", PAPER + "; Stanczuk et al. 2022, arXiv:2212.12611", (EXACT,), _predict_c5),
    Claim("C6", "L2 is sufficient, not necessary",
          "For e = c t^-a n samples land on M iff a < 1 (L2 iff a < 1/2), at rate delta^min(1/2, 1 - a); for the "
          "normal score scaled by beta iff beta > 0 (L2 iff beta = 1), at rate delta^min(beta, 1/2).",
          "derived here (theory.symbolic); Li, Shen, Hsieh, He 2025, arXiv:2509.24912",
          (NORMAL_FAMILY, PRIOR_EQUIV, LOWER_DIM), _predict_c6),
    Claim("C7", "Generalization needs a non-L2 error, which is not enough",
          "A smoothed score (score of p_{t+h}) gives novel samples (nearest-training distance plateaus above 0); "
          "the exact empirical score scaled by 1/2 (non-L2) still memorizes, only more slowly.",
          PAPER + " (premise); the rates are C6's", (FINITE, C7_FAMILY, PRIOR_EQUIV), _predict_c7),
    Claim("C8", "Learned scores: the explosion predicts the landing set",
          "The explosion codimension of a learned score, lim sigma(t)^2 E|s(t, X_t)|^2 over the range of t it "
          "resolves, predicts what its sampler lands on: d for the training points (memorization), d - k for "
          "the population's M (generalization); where it lies between or is unresolved the answer is inconclusive.",
          PAPER + " through C5 and C2/C3; Gu et al. 2023, arXiv:2310.02664 (copy criterion)",
          (LEARNED,), _predict_c8),
)}


def predict(setting: Setting) -> dict[str, Prediction]:
    """Every claim's prediction for ``setting`` (uncovered claims say so)."""
    return {cid: claim.predict(setting) for cid, claim in CLAIMS.items()}
