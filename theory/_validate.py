"""Input validation shared by the public boundary of :mod:`theory`.

Every public function validates its arguments once, here, and raises ``ValueError`` or
``TypeError`` with a message that names what was expected and what arrived (STYLE.md rule 7).
Internal helpers trust their inputs.
"""

from __future__ import annotations

import numbers

import numpy as np


def positive_time(t: object, name: str = "t") -> float:
    """Return ``t`` as a float after checking it is a finite real number > 0."""
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (numbers.Real, np.floating, np.integer)):
        arr = np.asarray(t)
        if arr.ndim == 0 and np.issubdtype(arr.dtype, np.number) and not np.issubdtype(
            arr.dtype, np.complexfloating
        ):
            t = arr.item()
        else:
            raise TypeError(f"{name} must be a real number, got {type(t).__name__}")
    t = float(t)
    if not np.isfinite(t) or t <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {t!r}")
    return t


def time_array(t: object, name: str = "t") -> np.ndarray:
    """Return ``t`` as a float64 array (any shape) of finite values >= 0."""
    arr = np.asarray(t, dtype=np.float64) if not isinstance(t, np.ndarray) else t.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise ValueError(f"{name} must be finite and >= 0, got {np.asarray(t)!r}")
    return arr


def points(x: object, d: int, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n, d) with finite entries.

    Accepts any real dtype (float32 included); the computation is done in float64.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of shape (n, {d}), got {type(x).__name__}") from exc
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array of shape (n, {d}), got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {x.shape}")
    # Checked before the conversion: the same entries are non-finite, and a float32 x is half the bytes.
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(x)))} NaN/inf entries")
    return x.astype(np.float64, copy=False)


def integer(value: object, name: str, *, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def positive_real(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it is finite and > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def generator(rng: object) -> np.random.Generator:
    """Check that ``rng`` is a ``numpy.random.Generator`` (never a seed or the global state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def orthonormal_frame(frame: object, d: int, m: int, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a (d, m) float64 array with orthonormal columns (tolerance 1e-8)."""
    arr = np.asarray(frame, dtype=np.float64)
    if arr.shape != (d, m):
        raise ValueError(f"{name} must have shape ({d}, {m}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(arr)))} NaN/inf entries")
    gram_error = float(np.max(np.abs(arr.T @ arr - np.eye(m)))) if m else 0.0
    if gram_error > ORTHONORMAL_TOL:
        raise ValueError(
            f"{name} must have orthonormal columns (max |F^T F - I| <= {ORTHONORMAL_TOL}), got {gram_error:.3g}"
        )
    return arr


def vector(value: object, n: int, name: str) -> np.ndarray:
    """Return ``value`` as a finite float64 vector of shape (n,)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr!r}")
    return arr


def probability_weights(weights: object, n: int, name: str = "weights") -> np.ndarray:
    """Return weights as a float64 vector of shape (n,) normalized to sum 1; None means uniform.

    They must be finite and >= 0 with a positive sum.
    """
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and >= 0, got min {float(np.min(w))!r}")
    if not w.sum() > 0:
        raise ValueError(f"{name} must have a positive sum, got all zeros")
    return w / w.sum()


# Orthonormality tolerance for user-supplied frames: loose enough for frames produced by a QR
# decomposition in float64 and then stored as text, tight enough that a frame which is merely
# "nearly" orthonormal (an error that would bias the distance to M) is refused.
ORTHONORMAL_TOL = 1e-8


def point_set(atoms: object, weights: object) -> tuple[np.ndarray, np.ndarray]:
    """A weighted point set: atoms (N, d) with N, d >= 1, finite; weights (N,) probabilities or None
    (uniform). Returns float64 arrays; the messages call the atoms "points"."""
    arr = np.asarray(atoms)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"points must have shape (N, d) with N, d >= 1, got {arr.shape}")
    arr = points(arr, arr.shape[1], name="points")
    return arr, probability_weights(weights, arr.shape[0])
