"""exp, expm1, log1p and erfc (Phi) written so that LLVM vectorises the loops
that call them.

libm's functions are calls LLVM makes one value at a time: in a loop over
a row of activations they cost several times the loop's arithmetic. Here
each is a range reduction, a polynomial or rational function and selects,
with no branch and no call, so a loop over a contiguous row compiles to
512-bit vector code. The approximations are Cephes' (S. L. Moshier, as in
scipy.special): the same coefficients, evaluated branch-free; float32's
Phi is a fit of this module's own (``_normal_cdf_pdf32``).

They are inlined by Numba into their callers (``jit_inline``), which must
be compiled without fastmath (``jit_exact``): the range reductions subtract
``k ln 2`` in two parts, and reassociation would fold them back into one.

Largest errors measured over ~800,000 points of each range, past overflow
and underflow (``tests/test_elementary.py``), in ulps of the result:
float32 against the exact value: exp 1.0, expm1 1.7, log1p 1.4, Phi 6.9
and phi 3.5 (in float32 arithmetic, down to Phi's underflow and through
the subnormals); float64 against numpy (glibc,
itself within 1 ulp): exp 2, expm1 4, log1p 2; Phi 13 and phi 10 against
a long-double reference down to z = -37 (3 ulp for phi and 11 for Phi on
-5 < z < 5). Overflow gives inf, underflow 0 (through the subnormals),
NaN stays NaN.
"""

import numpy as np

from ._config import jit_inline

_LOG2E = 1.4426950408889634
# ln 2 = hi + lo, hi with few enough bits that k * hi is exact.
_LN2_HI_64, _LN2_LO_64 = 6.93145751953125e-1, 1.42860682030941723212e-6
_LN2_HI_32, _LN2_LO_32 = 0.693359375, -2.12194440e-4
# ln 2 split as Cephes' log adds it back.
_LOG_LN2_HI, _LOG_LN2_LO = 0.693359375, -2.121944400546905827679e-4
_SQRT2_M1 = 0.41421356237309504880  # sqrt(2) - 1


@jit_inline
def _exp_pade(r):
    """(e^r - 1) for |r| <= 1/2, float64: Cephes' Pade form
    2 r P(r^2) / (Q(r^2) - r P(r^2))."""
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2)
             * rr + 9.99999999999999999910e-1)
    q = (((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
          + 2.27265548208155028766e-1) * rr + 2.00000000000000000009e0)
    return 2.0 * (p / (q - p))


@jit_inline
def _exp64_parts(x):
    """e^x - 1 = (s - 1) + s m, float64: the scale factors s = s1 s2 = 2^k
    (each a normal number) and m = e^r - 1, |r| <= ln(2) / 2."""
    # Clamp (NaN to 0) so that k fits the exponent; the result of a
    # clamped x is inf or 0 as it should be.
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    xc = xc if x == x else 0.0
    k = np.floor(_LOG2E * xc + 0.5)
    r = xc - k * _LN2_HI_64
    r = r - k * _LN2_LO_64
    ki = np.int64(k)
    k1 = ki >> 1
    s1 = np.int64((k1 + 1023) << 52).view(np.float64)
    s2 = np.int64((ki - k1 + 1023) << 52).view(np.float64)
    return s1, s2, _exp_pade(r)


@jit_inline
def _exp64(x):
    """e^x, float64."""
    s1, s2, m = _exp64_parts(x)
    # (1 + m) 2^k1 2^k2: subnormal results are rounded once.
    y = (1.0 + m) * s1 * s2
    return y if x == x else x


@jit_inline
def _exp32_parts(x):
    """As ``_exp64_parts`` for float32, with Cephes' expf polynomial."""
    xc = x if x > np.float32(-104.0) else np.float32(-104.0)
    xc = xc if xc < np.float32(89.0) else np.float32(89.0)
    xc = xc if x == x else np.float32(0)
    k = np.floor(np.float32(_LOG2E) * xc + np.float32(0.5))
    r = xc - k * np.float32(_LN2_HI_32)
    r = r - k * np.float32(_LN2_LO_32)
    m = (((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3))
            * r + np.float32(8.3334519073e-3)) * r
           + np.float32(4.1665795894e-2)) * r
          + np.float32(1.6666665459e-1)) * r
         + np.float32(5.0000001201e-1)) * (r * r) + r
    ki = np.int32(k)
    k1 = ki >> 1
    s1 = np.int32((k1 + 127) << 23).view(np.float32)
    s2 = np.int32((ki - k1 + 127) << 23).view(np.float32)
    return s1, s2, m


@jit_inline
def _exp32(x):
    """e^x, float32."""
    s1, s2, m = _exp32_parts(x)
    y = (np.float32(1) + m) * s1 * s2
    return y if x == x else x


@jit_inline
def exp(x):
    """e^x for a float32 or float64 ``x``, of its type."""
    if isinstance(x, np.float32):
        return _exp32(x)
    return _exp64(x)


@jit_inline
def expm1(x):
    """e^x - 1 for a float32 or float64 ``x``, accurate also near 0.

    |x| <= 1/2: a series in x itself (float32: Taylor's to x^8, whose next
    term is below half an ulp; float64: exp's Pade form); x < -1/2:
    (2^k - 1) + 2^k (e^r - 1) from the reduction of exp, in which 2^k - 1
    is exact; x > 1/2: e^x - 1, which has no cancellation there.
    """
    if isinstance(x, np.float32):
        p = ((((((x * np.float32(1 / 40320) + np.float32(1 / 5040)) * x
                 + np.float32(1 / 720)) * x + np.float32(1 / 120)) * x
               + np.float32(1 / 24)) * x + np.float32(1 / 6)) * x
             + np.float32(0.5))
        small = x + x * (x * p)
        small = small if x != 0 else x  # keeps the sign of zero
        s1, s2, m = _exp32_parts(x)
        one = np.float32(1)
    else:
        small = _exp_pade(x)
        s1, s2, m = _exp64_parts(x)
        one = 1.0
    s = s1 * s2
    negative = (s - one) + s * m
    positive = (one + m) * s1 * s2 - one
    large = negative if x < 0 else positive
    large = large if x == x else x
    return small if abs(x) <= 0.5 else large


@jit_inline
def _log1p_near0(t):
    """log(1 + t) for sqrt(1/2) - 1 <= t <= sqrt(2) - 1: Cephes' log
    around 1 (t - t^2/2 + t^3 P(t)/Q(t), or logf's polynomial)."""
    tt = t * t
    if isinstance(t, np.float32):
        p = ((((((((np.float32(7.0376836292e-2) * t
                    - np.float32(1.1514610310e-1)) * t
                   + np.float32(1.1676998740e-1)) * t
                  - np.float32(1.2420140846e-1)) * t
                 + np.float32(1.4249322787e-1)) * t
                - np.float32(1.6668057665e-1)) * t
               + np.float32(2.0000714765e-1)) * t
              - np.float32(2.4999993993e-1)) * t + np.float32(3.3333331174e-1))
        return t + (t * tt * p - np.float32(0.5) * tt)
    p = (((((1.01875663804580931796e-4 * t + 4.97494994976747001425e-1) * t
            + 4.70579119878881725854e0) * t + 1.44989225341610930846e1) * t
          + 1.79368678507819816313e1) * t + 7.70838733755885391666e0)
    q = (((((t + 1.12873587189167450590e1) * t + 4.52279145837532221105e1)
           * t + 8.29875266912776603211e1) * t + 7.11544750618563894466e1)
         * t + 2.31251620126765340583e1)
    return t + (t * tt * p / q - 0.5 * tt)


@jit_inline
def log1p_unit(u):
    """log(1 + u) for 0 <= u <= 1 (NaN stays NaN), of u's type.

    For u > sqrt(2) - 1, log(1 + u) = ln 2 + log(1 + (u - 1) / 2), whose
    argument (u - 1) / 2 is exact and lies in [sqrt(1/2) - 1, 0].
    """
    one = type(u)(1)
    half = type(u)(0.5)
    big = u > type(u)(_SQRT2_M1)
    t = (u - one) * half if big else u
    k = one if big else type(u)(0)
    return (_log1p_near0(t) + k * type(u)(_LOG_LN2_LO)) + k * type(u)(_LOG_LN2_HI)


@jit_inline
def _erfc64(x, e):
    """erfc(x) for float64 x, given e = exp(-x^2): Cephes' ndtr.c, its
    three rational functions evaluated and one chosen, so a single
    division."""
    # |x| clamped (NaN to 40): erfc(40) is 0 through e, and inf would give
    # inf / inf in the rational functions.
    a = abs(x)
    a = a if a < 40.0 else 40.0
    z = x * x
    # |x| < 1: erf(x) = x T(x^2) / U(x^2)
    t = x * ((((9.60497373987051638749e0 * z + 9.00260197203842689217e1) * z
               + 2.23200534594684319226e3) * z + 7.00332514112805075473e3)
             * z + 5.55923013010394962768e4)
    u = (((((z + 3.35617141647503099647e1) * z + 5.21357949780152679795e2) * z
           + 4.59432382970980127987e3) * z + 2.26290000613890934246e4) * z
         + 4.92673942608635921086e4)
    # 1 <= |x| < 8: erfc(|x|) = e P(|x|) / Q(|x|)
    p = ((((((((2.46196981473530512524e-10 * a + 5.64189564831068821977e-1)
               * a + 7.46321056442269912687e0) * a
              + 4.86371970985681366614e1) * a + 1.96520832956077098242e2)
            * a + 5.26445194995477358631e2) * a + 9.34528527171957607540e2)
          * a + 1.02755188689515710272e3) * a + 5.57535335369399327526e2)
    q = ((((((((a + 1.32281951154744992508e1) * a + 8.67072140885989742329e1)
              * a + 3.54937778887819891062e2) * a
             + 9.75708501743205489753e2) * a + 1.82390916687909736289e3)
           * a + 2.24633760818710981792e3) * a + 1.65666309194161350182e3)
         * a + 5.57535340817727675546e2)
    # |x| >= 8: erfc(|x|) = e R(|x|) / S(|x|)
    r = (((((5.64189583547755073984e-1 * a + 1.27536670759978104416e0) * a
            + 5.01905042251180477414e0) * a + 6.16021097993053585195e0) * a
          + 7.40974269950448939160e0) * a + 2.97886665372100240670e0)
    s = ((((((a + 2.26052863220117276590e0) * a + 9.39603524938001434673e0)
            * a + 1.20489539808096656605e1) * a + 1.70814450747565897222e1)
          * a + 9.60896809063285878198e0) * a + 3.36907645100081516050e0)
    small = a < 1.0
    mid = a < 8.0
    num = t if small else (p if mid else r)
    den = u if small else (q if mid else s)
    ratio = num / den
    tail = e * ratio  # erfc(|x|) for |x| >= 1
    tail = tail if x >= 0.0 else 2.0 - tail
    return 1.0 - ratio if small else tail


@jit_inline
def _normal_cdf_pdf32(z):
    """Phi(z) and phi(z) for float32 z, in float32 arithmetic (16 values
    per 512-bit vector rather than float64's 8).

    exp(-z^2 / 2) from z^2 = p + ep, p = z * z rounded and ep its exact
    error (Dekker's product through Veltkamp's split of z into 12-bit
    halves): e = exp(-p / 2) (1 - ep / 2). With x = -z / sqrt 2:
    |x| < 0.75: Phi = 1/2 - x T(x^2) / 2, T a degree-5 polynomial fitted
    to erf(x) / x (relative error 7.0e-8 over the interval with the
    coefficients rounded to float32); otherwise erfc(|x|) = e P(|x|) /
    Q(|x|), P / Q of degrees 4 and 5 fitted to erfcx (relative error
    6.4e-9 on 0.75 <= |x| <= 10, past float32's underflow of Phi). Both
    fitted by iterated weighted least squares to the relative error
    (Lawson's weights).
    """
    f = np.float32
    half = f(0.5)
    one = f(1)
    za = abs(z)
    za = za if za < f(30) else f(30)  # NaN and inf too: e is then 0
    c = f(4097) * za  # 2^12 + 1
    hi = c - (c - za)
    lo = za - hi
    p = za * za
    ep = ((hi * hi - p) + f(2) * hi * lo) + lo * lo
    e = _exp32(-(p * half)) * (one - half * ep)
    x = z * f(-0.70710678118654752440)
    a = za * f(0.70710678118654752440)
    s = x * x
    erf_x = x * (((((f(-6.749512394890189e-4) * s + f(5.114345345646143e-3))
                    * s + f(-2.6834623888134956e-2)) * s
                   + f(0.11283376812934875)) * s + f(-0.3761261999607086))
                 * s + f(1.1283791065216064))
    num = ((((f(4.981844127178192e-2) * a + f(0.29559510946273804)) * a
             + f(0.8599390387535095)) * a + f(1.3486014604568481)) * a
           + f(1.000038504600525))
    den = (((((f(8.830070495605469e-2) * a + f(0.5239368081092834)) * a
              + f(1.568195104598999)) * a + f(2.654083251953125)) * a
            + f(2.477292060852051)) * a + one)
    tail = half * (e * (num / den))  # erfc(|x|) / 2
    large = tail if z <= 0 else one - tail
    cdf = half - half * erf_x if a < f(0.75) else large
    pdf = f(0.3989422804014327) * e
    cdf = cdf if z == z else z
    pdf = pdf if z == z else z
    return cdf, pdf


@jit_inline
def normal_cdf_pdf(z):
    """Phi(z) and phi(z), the standard normal's distribution function and
    density, of z's type (float32: ``_normal_cdf_pdf32``).

    float64: both from one exp(-z^2 / 2) (erfc's rational functions are
    Cephes' double-precision ones): Phi(z) = erfc(-z / sqrt 2) / 2,
    phi(z) = exp(-z^2 / 2) / sqrt(2 pi).
    """
    if isinstance(z, np.float32):
        return _normal_cdf_pdf32(z)
    zd = np.float64(z)
    # z^2 = hi^2 + lo (z + hi) with hi^2 exact (Veltkamp's split: hi has
    # 26 bits): exp(-z^2/2) = exp(-hi^2/2) exp(b), b = -lo (z + hi) / 2
    # small, e^b to its second-order term. Rounding z^2 instead would
    # cost z^2/2 ulps.
    c = 134217729.0 * zd  # 2^27 + 1
    hi = c - (c - zd)
    b = -0.5 * ((zd - hi) * (zd + hi))
    finite = abs(zd) < 1e300  # else c overflows (and e is 0 or NaN)
    hi = hi if finite else zd
    b = b if finite else 0.0
    e = _exp64(-0.5 * (hi * hi)) * (1.0 + b * (1.0 + 0.5 * b))
    cdf = 0.5 * _erfc64(-zd * 0.70710678118654752440, e)
    pdf = 0.39894228040143267794 * e
    return cdf, pdf
