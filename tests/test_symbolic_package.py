"""Tests of theory/symbolic/__init__.py: the package re-exports its modules' public names unchanged."""

from __future__ import annotations

import importlib

import theory.symbolic as symbolic

MODULES = ["bridge", "small_time", "l2", "explosion", "moments", "asymptotics", "boundary"]

# The public API that code outside the package imports (``from theory.symbolic import X``).
PUBLIC = {
    "SYMBOLS", "Symbols", "numpy_twin", "SmallTimeExpansion", "small_time_expansion", "offset_error_squared",
    "scaled_normal_error_squared", "normal_score_squared", "l2_condition", "l2_region", "l2_integral",
    "ScoreExplosion", "score_explosion", "girsanov_weight", "ErrorFamily", "MomentODEs", "moment_odes",
    "exact_score_variance_residual", "BoundaryCase", "BoundaryPrediction", "boundary_prediction",
    "li_concentration_region",
}


def test_package_reexports_every_public_name_of_its_modules():
    assert PUBLIC <= set(symbolic.__all__)
    assert len(symbolic.__all__) == len(set(symbolic.__all__))
    exported = set()
    for name in MODULES:
        module = importlib.import_module(f"theory.symbolic.{name}")
        for attr in module.__all__:
            assert getattr(symbolic, attr) is getattr(module, attr), (name, attr)
        exported |= set(module.__all__)
    assert exported == set(symbolic.__all__)
