"""Real data as point sets (CLAIMS.md §2): scikit-learn's bundled digits.

scikit-learn is an optional dependency (the ``report`` and ``test`` extras); it ships the digits
data inside the package, so nothing is downloaded.
"""

from __future__ import annotations

from theory import _validate
from theory.measures.pointcloud import PointCloud

# The digits images store intensities as integers 0..16; dividing by 16 maps them to [0, 1], so the
# 64-dim points have norms of order 3-6, comparable to the unit scale of the OU prior N(0, I).
DIGITS_INTENSITY_MAX = 16.0


def digits(*, scale: float = 1.0 / DIGITS_INTENSITY_MAX) -> PointCloud:
    """The 1797 8x8 handwritten digits of scikit-learn as a uniform PointCloud in R^64.

    Returns PointCloud(points = scale * images), points of shape (1797, 64). All 1797 images are
    distinct, so the empirical measure has 1797 atoms. Raises ImportError with an install hint
    when scikit-learn is absent.
    """
    scale = _validate.positive_real(scale, "scale")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("digits() needs scikit-learn: pip install 'sgm-manifolds[report]'") from exc
    return PointCloud(scale * load_digits().data)
