"""Symbolic predicates of the claims: L2 regions, score explosion, Girsanov weight, sharp boundary.

Idea: J. Pidstrigach, *Score-Based Generative Models Detect Manifolds*, NeurIPS 2022,
arXiv:2206.01018. The thresholds and rates are our formalization (CLAIMS.md §3: C2, C5, C6),
derived with SymPy from the expressions of :meth:`theory.processes.ForwardProcess.symbolic`; no
process formula is typed twice. Every public function is pure and returns SymPy expressions,
relationals or sets, or a frozen dataclass holding them; the NumPy twins are built by
:func:`numpy_twin` (STYLE.md rule 9).

One module per idea:

- :mod:`~theory.symbolic.bridge`: the shared :data:`SYMBOLS`, :func:`numpy_twin` and
  :func:`inline_latex` (one-line LaTeX for the report).
- :mod:`~theory.symbolic.small_time`: :func:`small_time_expansion`, sigma(t)^2 ~ g(0)^2 t (CLAIMS.md §1).
- :mod:`~theory.symbolic.l2`: :func:`l2_condition`, :func:`l2_region`, :func:`l2_integral`, the
  error rates (:func:`offset_error_squared`, :func:`scaled_normal_error_squared`,
  :func:`normal_score_squared`) and :func:`girsanov_weight` (CLAIMS.md C2).
- :mod:`~theory.symbolic.explosion`: :func:`score_explosion` (CLAIMS.md C5).
- :mod:`~theory.symbolic.moments`: :class:`ErrorFamily`, :func:`moment_odes`,
  :func:`exact_score_variance_residual` (CLAIMS.md C6).
- :mod:`~theory.symbolic.asymptotics`: the leading-term engine (terms t^p log(t)^q, pieces of the
  parameter line, Piecewise assembly) behind the boundary.
- :mod:`~theory.symbolic.boundary`: :func:`boundary_prediction`, :func:`li_concentration_region`
  (CLAIMS.md C6).

The names below are the package's public API; import them from ``theory.symbolic``.
"""

from theory.symbolic.boundary import BoundaryCase, BoundaryPrediction, boundary_prediction, li_concentration_region
from theory.symbolic.bridge import SYMBOLS, Symbols, inline_latex, numpy_twin
from theory.symbolic.explosion import ScoreExplosion, score_explosion
from theory.symbolic.l2 import (
    girsanov_weight,
    l2_condition,
    l2_integral,
    l2_region,
    normal_score_squared,
    offset_error_squared,
    scaled_normal_error_squared,
)
from theory.symbolic.moments import ErrorFamily, MomentODEs, exact_score_variance_residual, moment_odes
from theory.symbolic.small_time import SmallTimeExpansion, small_time_expansion

__all__ = [
    "SYMBOLS",
    "Symbols",
    "numpy_twin",
    "inline_latex",
    "SmallTimeExpansion",
    "small_time_expansion",
    "offset_error_squared",
    "scaled_normal_error_squared",
    "normal_score_squared",
    "l2_condition",
    "l2_region",
    "l2_integral",
    "ScoreExplosion",
    "score_explosion",
    "girsanov_weight",
    "ErrorFamily",
    "MomentODEs",
    "moment_odes",
    "exact_score_variance_residual",
    "BoundaryCase",
    "BoundaryPrediction",
    "boundary_prediction",
    "li_concentration_region",
]
