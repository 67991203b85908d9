"""Shared type aliases of the public API."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: A score function s(t, x): forward time t > 0 (a float) and points x of shape (n, d) to an array
#: of shape (n, d). Exact scores (``theory.perturbations.ExactScore``), the error families of
#: :mod:`theory.perturbations`, learned scores and plain functions all have this type.
ScoreFn = Callable[[float, np.ndarray], np.ndarray]
