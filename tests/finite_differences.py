"""The central-difference check of score == grad log p_t shared by test_measures and test_sphere.

Each caller derives its own local length scale ``ell`` and rounding size ``size`` (their bounds are
explained in the callers' docstrings); the difference quotient and the error bound are the same.
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(np.float64).eps


def assert_score_is_gradient(m, process, t: float, x: np.ndarray, score: np.ndarray, *, ell, size, c: float,
                             context: object = None) -> None:
    """|D_j - s_j| <= 1.74 h^2 / ell^3 + c eps S / h + 3 eps (|x| + h) / ell^2 for every coordinate j.

    D_j = (log p(x + h e_j) - log p(x - h e_j)) / (2h), h = eta ell with eta = (c eps S / 4)^(1/3)
    clipped to [1e-6, 1e-2] (balancing truncation against rounding), and h taken exactly as half the
    difference of the rounded abscissae.
    """
    eta = np.clip((c * EPS * size / 4.0) ** (1.0 / 3.0), 1e-6, 1e-2)
    h = eta * ell
    for j in range(m.d):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        h_exact = (xp[:, j] - xm[:, j]) / 2.0
        fd = (m.log_density(t, xp, process=process) - m.log_density(t, xm, process=process)) / (2.0 * h_exact)
        bound = (1.74 * h_exact**2 / ell**3 + c * EPS * size / h_exact
                 + 3.0 * EPS * (np.linalg.norm(x, axis=1) + h_exact) / ell**2)
        err = np.abs(fd - score[:, j])
        assert np.all(err <= bound), (j, context, err / bound)
