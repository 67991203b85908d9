"""Learned scores: diagnose memorization against generalization, and train score networks (CLAIMS.md C8).

- :func:`diagnose` predicts from a score's explosion profile whether its sampler lands on the
  training points or on a k-dimensional set, and measures it by sampling (:class:`Diagnosis`);
- adapters turn noise predictors, denoisers and noise-level-conditioned models into scores
  (:func:`from_noise_prediction`, :func:`from_denoiser`, :func:`from_sigma_model`);
- :func:`train_score_model` trains an MLP by denoising score matching (needs JAX, equinox and
  optax, imported only when called; ``theory.learned`` itself imports without them).
"""

from theory.learned.adapters import (DenoiserScore, NoisePredictionScore, Parametrization, SigmaModelScore,
                                     from_denoiser, from_noise_prediction, from_sigma_model)
from theory.learned.diagnose import Behaviour, Diagnosis, diagnose
from theory.learned.profiles import ErrorProfile, ExplosionProfile
from theory.learned.resolution import Resolution
from theory.learned.sampling import SamplingMeasurement, copy_fraction
from theory.learned.training import ScoreModel, TrainingSettings, load_score_model, train_score_model

__all__ = [
    "diagnose",
    "Diagnosis",
    "Behaviour",
    "ExplosionProfile",
    "ErrorProfile",
    "Resolution",
    "SamplingMeasurement",
    "copy_fraction",
    "from_noise_prediction",
    "from_denoiser",
    "from_sigma_model",
    "Parametrization",
    "NoisePredictionScore",
    "DenoiserScore",
    "SigmaModelScore",
    "train_score_model",
    "ScoreModel",
    "TrainingSettings",
    "load_score_model",
]
