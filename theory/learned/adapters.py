"""Adapters from the common parametrizations of diffusion networks to a score s(t, x) (CLAIMS.md C8).

A network trained for the linear forward process X_t = alpha(t) X_0 + sigma(t) Z (``process``) is
turned into the score callable s(t, x) -> (n, d) that :func:`theory.learned.diagnose` and
:func:`theory.reverse_sde` take. By Tweedie's formula, with D(t, x) = E[X_0 | X_t = x] and
eps(t, x) = E[Z | X_t = x],

    s(t, x) = (alpha(t) D(t, x) - x) / sigma(t)^2 = -eps(t, x) / sigma(t),

so a noise predictor (Ho et al. 2020) and a denoiser or x0-predictor (Karras et al. 2022) give the
score exactly when they are exact, and a learned one gives the score the sampler integrates.

Models conditioned on the noise level instead of t (NCSN, Song and Ermon 2019; EDM, Karras et al.
2022) see the variance-exploding version of the process: X_t / alpha(t) = X_0 + (sigma(t) /
alpha(t)) Z. Such a model is called as model(sigma~, x~) with sigma~ = sigma(t) / alpha(t) and
x~ = x / alpha(t) (alpha = 1 for VE, where this is sigma(t) and x), and :class:`Parametrization`
says what it returns.

Every adapter checks, on every call, that the wrapped model returned a finite array of the shape
of x, and raises ValueError naming the adapter and the time otherwise.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from theory import _validate
from theory.processes import DEFAULT_PROCESS, ForwardProcess, check_process

Model = Callable[[float, np.ndarray], np.ndarray]


class Parametrization(enum.Enum):
    """What a noise-level-conditioned model returns for (sigma~, x~) (see the module docstring).

    SCORE: grad log of the law of x~ = X_t / alpha, i.e. alpha(t) s(t, x).
    NOISE: eps, the noise with x~ = X_0 + sigma~ Z (the same Z as in X_t).
    DENOISER: D, the estimate of X_0.
    """

    SCORE = "score"
    NOISE = "noise"
    DENOISER = "denoiser"


def _check_callable(model: object, name: str) -> Model:
    if not callable(model):
        raise TypeError(f"{name} must be callable (t, x) -> ndarray of x's shape (n, d), got {type(model).__name__}")
    return model


def checked_output(value: object, x: np.ndarray, *, name: str, t: float) -> np.ndarray:
    """``value`` as a float64 array after checking it has x's shape (n, d) and finite entries.

    Raises ValueError naming ``name`` (the model or score) and t otherwise.
    """
    if not isinstance(value, np.ndarray):
        shape = getattr(value, "shape", None)
        if shape is None:
            raise ValueError(f"{name} must return an ndarray of shape {x.shape}, got {type(value).__name__} "
                             f"at t={t:.6g}")
        value = np.asarray(value)
    if value.shape != x.shape:
        raise ValueError(f"{name} must return an array of shape {x.shape} (the shape of x), got {value.shape} "
                         f"at t={t:.6g}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise ValueError(f"{name} must return a real array, got dtype {value.dtype} at t={t:.6g}")
    value = value.astype(np.float64, copy=False)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} returned {int(np.sum(~np.isfinite(value)))} NaN/inf entries at t={t:.6g}")
    return value


def _points(x: object) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"x must have shape (n, d), got {arr.shape}")
    return _validate.points(arr, arr.shape[1])


@dataclass(frozen=True)
class NoisePredictionScore:
    """s(t, x) = -eps(t, x) / sigma(t) for a noise predictor eps(t, x) ~ E[Z | X_t = x]."""

    eps: Model
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        _check_callable(self.eps, "eps")
        check_process(self.process)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        t = _validate.positive_time(t)
        x = _points(x)
        eps = checked_output(self.eps(t, x), x, name="eps", t=t)
        return eps / -math.sqrt(float(self.process.sigma2(t)))


@dataclass(frozen=True)
class DenoiserScore:
    """s(t, x) = (alpha(t) D(t, x) - x) / sigma(t)^2 for a denoiser D(t, x) ~ E[X_0 | X_t = x]."""

    denoiser: Model
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        _check_callable(self.denoiser, "denoiser")
        check_process(self.process)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        t = _validate.positive_time(t)
        x = _points(x)
        denoised = checked_output(self.denoiser(t, x), x, name="denoiser", t=t)
        return (float(self.process.alpha(t)) * denoised - x) / float(self.process.sigma2(t))


@dataclass(frozen=True)
class SigmaModelScore:
    """The score of a model called with the noise level: out = model(sigma~, x~) (module docstring).

    sigma~ = sigma(t) / alpha(t), x~ = x / alpha(t); then, by ``parametrization``,
    SCORE: s = out / alpha;  NOISE: s = -out / sigma;  DENOISER: s = (alpha out - x) / sigma^2.
    """

    model: Model
    parametrization: Parametrization
    process: ForwardProcess = field(default=DEFAULT_PROCESS, kw_only=True)

    def __post_init__(self) -> None:
        _check_callable(self.model, "model")
        if not isinstance(self.parametrization, Parametrization):
            try:
                object.__setattr__(self, "parametrization", Parametrization(self.parametrization))
            except ValueError:
                choices = ", ".join(repr(p.value) for p in Parametrization)
                raise ValueError(f"parametrization must be a Parametrization or one of {choices}, "
                                 f"got {self.parametrization!r}") from None
        check_process(self.process)

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        t = _validate.positive_time(t)
        x = _points(x)
        alpha = float(self.process.alpha(t))
        sigma2 = float(self.process.sigma2(t))
        noise_level = math.sqrt(sigma2) / alpha
        out = checked_output(self.model(noise_level, x / alpha), x, name="model", t=t)
        if self.parametrization is Parametrization.SCORE:
            return out / alpha
        if self.parametrization is Parametrization.NOISE:
            return out / -math.sqrt(sigma2)
        return (alpha * out - x) / sigma2


def from_noise_prediction(eps: Model, *, process: ForwardProcess = DEFAULT_PROCESS) -> NoisePredictionScore:
    """The score s(t, x) = -eps(t, x) / sigma(t) of a noise predictor eps(t, x) (Ho et al. 2020).

    eps : callable (t: float, x: ndarray (n, d)) -> ndarray (n, d), trained to predict Z in
    X_t = alpha(t) X_0 + sigma(t) Z. process : the forward process it was trained for.
    """
    return NoisePredictionScore(eps, process=process)


def from_denoiser(denoiser: Model, *, process: ForwardProcess = DEFAULT_PROCESS) -> DenoiserScore:
    """The score s(t, x) = (alpha(t) D(t, x) - x) / sigma(t)^2 of a denoiser (x0-prediction) D.

    denoiser : callable (t: float, x: ndarray (n, d)) -> ndarray (n, d), trained to predict X_0
    from X_t = x. Tweedie's formula (CLAIMS.md §1).
    """
    return DenoiserScore(denoiser, process=process)


def from_sigma_model(model: Model, *, parametrization: Parametrization | str,
                     process: ForwardProcess = DEFAULT_PROCESS) -> SigmaModelScore:
    """The score of a model conditioned on the noise level (NCSN, EDM) instead of t.

    model : callable (sigma~: float, x~: ndarray (n, d)) -> ndarray (n, d), called with
    sigma~ = sigma(t) / alpha(t) and x~ = x / alpha(t) (for VE: sigma(t) and x).
    parametrization : what it returns (:class:`Parametrization`): "score" (grad log of the law of
    x~; s = out / alpha), "noise" (s = -out / sigma) or "denoiser" (s = (alpha out - x) / sigma^2).
    """
    return SigmaModelScore(model, parametrization, process=process)
