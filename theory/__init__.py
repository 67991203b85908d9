"""sgm-manifolds: exact forward processes, data measures and scores for score-based generative models.

Pure math and numerics: no printing, no files, no global random state (STYLE.md rule 1).
"""

from theory.datasets import digits
from theory.measures.base import Measure
from theory.measures.mixture import Mixture
from theory.measures.pointcloud import PointCloud
from theory.measures.product import Product
from theory.measures.subspace import Subspace
from theory.processes import OU, VE, VP, ForwardProcess

__all__ = [
    "OU",
    "VP",
    "VE",
    "ForwardProcess",
    "Measure",
    "PointCloud",
    "Subspace",
    "Product",
    "Mixture",
    "digits",
]
