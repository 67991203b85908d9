"""Tests of the von Mises-Fisher kernels (theory/measures/vmf.py): the Bessel ratio A_p and the
log-normalizer against mpmath at 50 digits."""

from __future__ import annotations


import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import strategies as sts
from error_model import EPS, KERNEL_RTOL, MP_DIGITS
from theory.measures import vmf


@mpmath.workdps(MP_DIGITS)
def mp_reference_kernels(p: int, z: float) -> tuple[mpmath.mpf, mpmath.mpf, mpmath.mpf]:
    """(A_p(z)/z, 1 - A_p(z), ell(z)) at 50 digits; ell(z) = v log z - (p/2) log(2 pi) - log I_v(z) + z."""
    v = mpmath.mpf(p) / 2 - 1
    zm = mpmath.mpf(z)
    if zm == 0:
        half = mpmath.mpf(p) / 2
        return 1 / mpmath.mpf(p), mpmath.mpf(1), -mpmath.log(2 * mpmath.pi**half / mpmath.gamma(half))
    i_v, i_v1 = mpmath.besseli(v, zm), mpmath.besseli(v + 1, zm)
    a = i_v1 / i_v
    return a / zm, 1 - a, v * mpmath.log(zm) - (mpmath.mpf(p) / 2) * mpmath.log(2 * mpmath.pi) - mpmath.log(i_v) + zm


def kernel_grid(p: int) -> np.ndarray:
    """z from 0 to 1e20: decades, the region boundaries of this p and the float just below each."""
    z = [0.0, 1e-300, 1e-10, 1e-3, 0.1, 0.7, 1.0, 3.0, 7.0, 12.0, 20.0, 30.0, 50.0, 100.0, 500.0, 1e3, 1e4,
         1e6, 1e8, 5e11, 1e15, 1e20]
    closed = vmf._closed_form_limit(p)
    edges = [vmf._asymptotic_limit(p), vmf._SMALL_Z_MAX, vmf._EXP_NEGLIGIBLE_Z]
    edges += [closed] if closed is not None else []
    edges += list(vmf._cf_table(p)[0][::4])
    for e in edges:
        z += [e, np.nextafter(e, 0.0)]
    return np.unique(np.array(z))


@pytest.mark.parametrize("p", [2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 14, 15, 16, 20, 21, 33, 64, 65])
def test_bessel_kernels_match_mpmath(p):
    """A_p(z)/z and 1 - A_p(z) to relative 1e-13 and ell(z) to 1e-13 max(1, |ell|), z in [0, 1e20].

    Reference: mpmath.besseli at 50 digits (exact to > 30 digits even where 1 - A_p ~ 1e-20). The
    grid hits every region of :func:`vmf.bessel_ratio` and both sides of every boundary, each point
    evaluated alone (so the truncation chosen for its own z is tested) and all together.
    """
    z = kernel_grid(p)
    together = vmf.bessel_ratio(p, z)
    ell = vmf.log_normalizer(p, z)
    for i, zi in enumerate(z):
        alone = vmf.bessel_ratio(p, z[i : i + 1])
        ref_a_over_z, ref_one_minus_a, ref_ell = mp_reference_kernels(p, zi)
        for got, ref in ((alone[0][0], ref_a_over_z), (together[0][i], ref_a_over_z),
                         (alone[1][0], ref_one_minus_a), (together[1][i], ref_one_minus_a)):
            assert abs(mpmath.mpf(float(got)) - ref) <= KERNEL_RTOL * abs(ref), (p, zi, got, ref)
        assert abs(mpmath.mpf(float(ell[i])) - ref_ell) <= KERNEL_RTOL * max(1, abs(ref_ell)), (p, zi, ell[i], ref_ell)


@given(st.integers(min_value=2, max_value=40), sts.log_uniform(1e-6, 1e14))
def test_bessel_kernels_match_mpmath_at_random_points(p, z):
    """The same accuracy (relative 1e-13) at random orders p in [2, 40] and z log-uniform in
    [1e-6, 1e14], alone and inside an array that spans every region (so each branch is also
    evaluated with the truncation chosen for a wider subset)."""
    ref_a_over_z, ref_one_minus_a, ref_ell = mp_reference_kernels(p, z)
    zs = np.array([z, 1e-3, 3.0, 30.0, 1e3, 1e9])
    for a_over_z, one_minus_a in (vmf.bessel_ratio(p, zs[:1]), vmf.bessel_ratio(p, zs)):
        assert abs(mpmath.mpf(float(a_over_z[0])) - ref_a_over_z) <= KERNEL_RTOL * abs(ref_a_over_z)
        assert abs(mpmath.mpf(float(one_minus_a[0])) - ref_one_minus_a) <= KERNEL_RTOL * abs(ref_one_minus_a)
    for ell in (vmf.log_normalizer(p, zs[:1]), vmf.log_normalizer(p, zs)):
        assert abs(mpmath.mpf(float(ell[0])) - ref_ell) <= KERNEL_RTOL * max(1, abs(ref_ell))


def test_mpmath_reference_is_exact_where_a_closed_form_exists():
    """The reference itself: A_3(z) = coth z - 1/z (DLMF sec. 10.49) to 40 digits, even at z = 5e11."""
    with mpmath.workdps(MP_DIGITS):
        for z in [1e-3, 0.5, 7.0, 1e3, 5e11]:
            zm = mpmath.mpf(z)
            closed = 1 - (mpmath.coth(zm) - 1 / zm)
            assert abs(mp_reference_kernels(3, z)[1] - closed) <= mpmath.mpf(10) ** -40 * abs(closed)


def test_bessel_kernel_limits():
    """A_p(z)/z -> 1/p at z = 0 (exact) and 1 - A_p(z) z -> (p - 1)/2 as z -> infinity."""
    for p in (2, 3, 4, 7):
        a_over_z, one_minus_a = vmf.bessel_ratio(p, np.array([0.0, 1e300]))
        assert a_over_z[0] == 1.0 / p and one_minus_a[0] == 1.0
        # At z = 1e300 the expansion is (p - 1)/2 w / 1 with w = 1/z (e^{-2z} = 0 exactly, w^2
        # underflows to 0): a division and two products, no BLAS product, so a few ulps.
        assert one_minus_a[1] * 1e300 == pytest.approx((p - 1) / 2, rel=4 * EPS)
