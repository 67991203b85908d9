"""sgm-manifolds: exact forward processes, data measures and scores for score-based generative models.

Pure math and numerics: no printing, no files, no global random state (STYLE.md rule 1).
"""

from theory.processes import OU, VE, VP, ForwardProcess
from theory.measures.base import Measure

__all__ = [
    "OU",
    "VP",
    "VE",
    "ForwardProcess",
    "Measure",
]
