"""The vectorisable exp, expm1, log1p and normal distribution of
``fastbp._kernels.elementary``, and the activations built on them, against
numpy and scipy over wide ranges, with overflow, underflow and NaN.

Errors are counted in units in the last place of the dtype: for float32
against the float64 value (exact at float32's precision), for float64
against numpy's (glibc) or scipy's.
"""

import numba
import numpy as np
import pytest
import scipy.special as special
from numpy.testing import assert_allclose, assert_array_equal

from fastbp._kernels._config import HIDDEN_CODES
from fastbp._kernels.activations import (_activate_keep_rows,
                                         _activate_new_rows)
from fastbp._kernels.elementary import (exp, expm1, log1p_unit,
                                        normal_cdf_pdf)

from . import reference


def _elementwise(function):
    @numba.njit
    def call(x, out):
        for i in range(x.shape[0]):
            out[i] = function(x[i])
    return call


_EXP, _EXPM1, _LOG1P = (_elementwise(f) for f in (exp, expm1, log1p_unit))


@numba.njit
def _cdf_pdf(z, cdf, pdf):
    for i in range(z.shape[0]):
        cdf[i], pdf[i] = normal_cdf_pdf(z[i])


def _ulps(got, want, dtype):
    """|got - want| in ulps of ``dtype`` at ``want`` (finite, nonzero
    ``want`` only)."""
    with np.errstate(over="ignore"):
        rounded = want.astype(dtype)
    keep = np.isfinite(rounded) & (want != 0)
    spacing = np.spacing(np.abs(rounded[keep])).astype(np.float64)
    return np.abs(got[keep].astype(np.float64) - want[keep]) / spacing


def _points(rng, lo, hi, dtype, n=1 << 18):
    """Uniform points, an even grid and points near 0 within [lo, hi]."""
    near0 = rng.uniform(-1e-3, 1e-3, n) * (hi - lo) / 2 + (lo + hi) / 2
    x = np.concatenate([rng.uniform(lo, hi, n), np.linspace(lo, hi, n),
                        np.clip(near0, lo, hi)])
    return x.astype(dtype)


def _run(kernel, x):
    out = np.empty_like(x)
    kernel(x, out)
    return out


# (kernel, numpy reference, range, max ulps for float32, float64). The
# ranges run past overflow and underflow; log1p_unit takes [0, 1].
CASES = {
    "exp": (_EXP, np.exp, (-760.0, 720.0), 1.0, 2.0),
    "expm1": (_EXPM1, np.expm1, (-120.0, 100.0), 2.0, 4.0),
    "log1p_unit": (_LOG1P, np.log1p, (0.0, 1.0), 1.5, 2.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_within_ulps_of_numpy(rng, name, dtype):
    kernel, ref, (lo, hi), ulp32, ulp64 = CASES[name]
    x = _points(np.random.default_rng(0), lo, hi, dtype)
    got = _run(kernel, x)
    with np.errstate(over="ignore", under="ignore"):
        want = ref(x.astype(np.float64))
    ulps = _ulps(got, want, dtype)
    assert ulps.max() <= (ulp32 if dtype == np.float32 else ulp64)
    # Where the result overflows or rounds to 0, it is inf or 0 exactly.
    with np.errstate(over="ignore"):
        rounded = want.astype(dtype)
    extreme = ~np.isfinite(rounded) | (rounded == 0)
    assert_array_equal(got[extreme], rounded[extreme])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_as_numpy(name, dtype):
    kernel, ref = CASES[name][:2]
    if name == "log1p_unit":
        x = np.array([np.nan, 0.0, -0.0, 1.0, 1e-30,
                      np.finfo(dtype).smallest_subnormal], dtype)
    else:
        x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30,
                      1000.0, -1000.0], dtype)
    with np.errstate(over="ignore"):
        assert_array_equal(_run(kernel, x), ref(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_subnormal_results(dtype):
    # Results below the smallest normal number are rounded once.
    tiny = np.finfo(dtype).tiny
    x = np.log(np.geomspace(np.finfo(dtype).smallest_subnormal * 2, tiny,
                            1000)).astype(dtype)
    got = _run(_EXP, x)
    want = np.exp(x.astype(np.float64))
    if dtype == np.float32:
        assert np.abs(got - want).max() <= np.finfo(dtype).smallest_subnormal
    else:
        assert_allclose(got, np.exp(x), rtol=0, atol=2 * 5e-324)


def _accurate_cdf_pdf(z):
    """Phi(z) and phi(z) to a few float64 ulps: exp(-z^2/2) in long double
    (x86's 64-bit significand holds z^2 to 2^-64), and, for z < 0,
    Phi(z) = erfcx(-z / sqrt 2) exp(-z^2/2) / 2 (scipy's ndtr rounds z^2
    itself and is up to ~z^2 ulps off)."""
    zl = z.astype(np.longdouble)
    gauss = np.exp(-zl * zl / 2)
    cdf_negative = 0.5 * special.erfcx(-z / np.sqrt(2)) * gauss
    cdf = np.where(z < 0, cdf_negative.astype(np.float64), special.ndtr(z))
    pdf = (gauss / np.sqrt(np.longdouble(2) * np.pi)).astype(np.float64)
    return cdf, pdf


# (dtype, lowest z, seed, largest ulps of Phi, of phi), measured:
# float32, computed in float32 arithmetic down to Phi's underflow (z ~
# -14.1) and through the subnormals: at most 6.9 ulps for Phi (its tail's
# rational function, P / Q of degrees 4 and 5, rounds in both) and 3.2 for
# phi. float64 down to the subnormals (Phi(-37) ~ 6e-300): rounding z^2
# instead of splitting it would cost up to z^2/2 ulps (~680 at z = -37).
NORMAL_CASES = [(np.float32, -16.0, 1, 7.5, 3.5),
                (np.float64, -37.0, 2, 16, 12)]


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                    reason="the reference needs x86's long double")
@pytest.mark.parametrize("dtype, lo, seed, cdf_ulps, pdf_ulps",
                         NORMAL_CASES)
def test_normal_distribution(dtype, lo, seed, cdf_ulps, pdf_ulps):
    z = _points(np.random.default_rng(seed), lo, 9.0, dtype)
    cdf, pdf = np.empty_like(z), np.empty_like(z)
    _cdf_pdf(z, cdf, pdf)
    assert cdf.dtype == pdf.dtype == dtype
    want_cdf, want_pdf = _accurate_cdf_pdf(z.astype(np.float64))
    assert _ulps(cdf, want_cdf, dtype).max() <= cdf_ulps
    assert _ulps(pdf, want_pdf, dtype).max() <= pdf_ulps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_distribution_special_values(dtype):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, 40.0, -40.0], dtype)
    cdf, pdf = np.empty_like(z), np.empty_like(z)
    _cdf_pdf(z, cdf, pdf)
    assert_array_equal(cdf, np.array([np.nan, 1, 0, 0.5, 1, 0], dtype))
    assert_array_equal(
        pdf, np.array([np.nan, 0, 0, 1 / np.sqrt(2 * np.pi), 0, 0], dtype))


@numba.njit
def _activate(kind, Z):
    _activate_new_rows(kind, Z, 0, Z.shape[0])


@numba.njit
def _activate_keep(kind, Z, P):
    _activate_keep_rows(kind, Z, P, 0, Z.shape[0])


NEW = ["leaky_relu", "elu", "softplus", "gelu", "silu"]
# f(z) is a few roundings of exact functions: the largest errors allowed,
# in ulps of the result (measured: float32 at most 2.9, silu's, but gelu's
# float32 Phi is computed in float32: 7.4 where the result is a normal
# number and 11.0 near z = -13.9, where Phi(z) and gelu(z) are subnormal;
# float64 at most 11, gelu's).
ACTIVATION_ULPS = {np.float32: 3, np.float64: 16}
GELU32_ULPS = 11.5


def _gelu_derivative(z):
    cdf, pdf = _accurate_cdf_pdf(z)
    return cdf + z * pdf


def _silu_derivative(z):
    return special.expit(z) * (1 + z * special.expit(-z))


# f and f' in float64 forms accurate also in the tails (tests/reference.py's
# gelu, 1 + erf, loses the relative accuracy of its negative tail).
ACCURATE = {
    "leaky_relu": reference.HIDDEN["leaky_relu"],
    "elu": reference.HIDDEN["elu"],
    "softplus": lambda z: np.logaddexp(0, z),
    "gelu": lambda z: z * _accurate_cdf_pdf(z)[0],
    "silu": lambda z: z * special.expit(z),
}
ACCURATE_DERIVATIVE = {"softplus": special.expit, "gelu": _gelu_derivative,
                       "silu": _silu_derivative}


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_rows_match_reference(name, dtype):
    if name == "gelu" and np.finfo(np.longdouble).nmant < 63:
        pytest.skip("the reference needs x86's long double")
    # One 2-D block whose rows are not a multiple of the vector width.
    z = np.concatenate([np.linspace(-30, 30, 30011),
                        np.random.default_rng(3).standard_normal(30000) * 3])
    Z = z[:60000].reshape(600, 100).astype(dtype)
    zd = Z.astype(np.float64)
    got = Z.copy()
    _activate(HIDDEN_CODES[name], got)
    want = ACCURATE[name](zd)
    bound = (GELU32_ULPS if (name, dtype) == ("gelu", np.float32)
             else ACTIVATION_ULPS[dtype])
    assert _ulps(got, want, dtype).max() <= bound
    if name in ACCURATE_DERIVATIVE:
        # The forward pass of training: the same f(z), and f'(z) kept;
        # f' crosses zero (gelu, silu), so its error is bounded in ulps of
        # 1 rather than of f'.
        kept, derivative = Z.copy(), np.empty_like(Z)
        _activate_keep(HIDDEN_CODES[name], kept, derivative)
        assert_array_equal(kept, got)
        eps = np.finfo(dtype).eps
        assert_allclose(derivative, ACCURATE_DERIVATIVE[name](zd),
                        rtol=4 * eps, atol=4 * eps)


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_rows_keep_nan_and_infinities(name, dtype):
    Z = np.array([[np.nan, np.inf, -np.inf, 0.0, 1e4, -1e4]], dtype)
    got = Z.copy()
    _activate(HIDDEN_CODES[name], got)
    with np.errstate(all="ignore"):
        want = reference.HIDDEN[name](Z.astype(np.float64)).astype(dtype)
    assert_array_equal(got, want)
