"""sgm-manifolds: exact forward processes, data measures and scores for score-based generative models.

Pure math and numerics: no printing, no files, no global random state (STYLE.md rule 1).
The names below are the public contract (independent checks import them); submodules hold the
rest: ``theory.priors``, ``theory.observers``, ``theory.perturbations``, ``theory.symbolic``,
``theory.estimators``, ``theory.statistics``, ``theory.claims``, and ``theory.learned`` (diagnosing
a learned score: memorization or generalization, claim C8; training needs the ``learned`` extra).
"""

from theory.claims import CLAIMS, Prediction, Setting, predict
from theory.datasets import digits
from theory.measures.base import Measure
from theory.measures.mixture import Mixture
from theory.measures.pointcloud import LocalScore, PointCloud
from theory.measures.product import Product
from theory.measures.sphere import Sphere
from theory.measures.subspace import Subspace
from theory.processes import DEFAULT_PROCESS, OU, VE, VP, ForwardProcess
from theory.schemes import SCHEMES, Ancestral, EulerMaruyama, Exponential, Posterior
from theory.simulator import Grid, NonFiniteError, Scheme, SDEResult, reverse_sde, time_grid
from theory.types import ScoreFn

__all__ = [
    "OU",
    "VP",
    "VE",
    "ForwardProcess",
    "DEFAULT_PROCESS",
    "Measure",
    "PointCloud",
    "LocalScore",
    "Subspace",
    "Sphere",
    "Product",
    "Mixture",
    "digits",
    "reverse_sde",
    "SDEResult",
    "Scheme",
    "SCHEMES",
    "EulerMaruyama",
    "Exponential",
    "Posterior",
    "Ancestral",
    "Grid",
    "time_grid",
    "NonFiniteError",
    "ScoreFn",
    "CLAIMS",
    "Setting",
    "Prediction",
    "predict",
]
