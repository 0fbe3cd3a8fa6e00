"""The standard normal distribution function in pure Python, bit for bit ``scipy.special.ndtr``.

The test of a change between waves (``uncertainty.difference_test``) needs Φ once per figure;
importing ``scipy.special`` for it costs 0.15–0.5 s in every process that reads stored results
(the report, the dashboard). :func:`normal_cdf` evaluates the same rational approximations of
erf and erfc as SciPy (the Cephes library of S. L. Moshier, as SciPy's ``xsf`` library carries
it: ``ndtr``, ``erf``, ``erfc``, ``polevl``, ``p1evl``), in the same order of operations and with
the C library's ``exp`` (``math.exp``), so that every result is the same double: checked on
145,000 arguments, tails, subnormal results and special values included
(``tests/ranking/test_normal.py``).
"""

from __future__ import annotations

import math

# Φ⁻¹(0.975), the two-sided 95 % normal quantile: ``scipy.special.ndtri(0.975)`` (Python's
# ``statistics.NormalDist().inv_cdf(0.975)`` differs from it in the last bit).
Z_975 = 1.959963984540054

_SQRT1_2 = 0.70710678118654752440  # C's M_SQRT1_2
_MAXLOG = 7.09782712893383996843e2  # log(DBL_MAX): erfc underflows beyond

# erfc(x) = exp(-x²) P(x)/Q(x) for 1 ≤ x < 8, exp(-x²) R(x)/S(x) for x ≥ 8; erf(x) = x T(x²)/U(x²)
# for |x| ≤ 1. Highest power first; Q, S and U have a leading coefficient of 1, left out.
_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_Q = (
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_S = (
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_U = (
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)


def _polynomial(x: float, coefficients: tuple[float, ...]) -> float:
    """Horner's rule, highest power first (Cephes ``polevl``)."""
    total = coefficients[0]
    for c in coefficients[1:]:
        total = total * x + c
    return total


def _monic(x: float, coefficients: tuple[float, ...]) -> float:
    """Horner's rule with a leading coefficient of 1 left out (Cephes ``p1evl``)."""
    total = x + coefficients[0]
    for c in coefficients[1:]:
        total = total * x + c
    return total


def _erf(x: float) -> float:
    if x < 0.0:
        return -_erf(-x)
    if abs(x) > 1.0:
        return 1.0 - _erfc(x)
    z = x * x
    return x * _polynomial(z, _T) / _monic(z, _U)


def _erfc(a: float) -> float:
    x = -a if a < 0.0 else a
    if x < 1.0:
        return 1.0 - _erf(a)
    z = -a * a
    if z < -_MAXLOG:
        return 2.0 if a < 0 else 0.0
    z = math.exp(z)
    if x < 8.0:
        y = (z * _polynomial(x, _P)) / _monic(x, _Q)
    else:
        y = (z * _polynomial(x, _R)) / _monic(x, _S)
    if a < 0:
        y = 2.0 - y
    if y != 0.0:
        return y
    return 2.0 if a < 0 else 0.0


def normal_cdf(a: float) -> float:
    """Φ(a), the standard normal distribution function: ``scipy.special.ndtr(a)`` to the bit
    (NaN for NaN). Always a Python float, also for a numpy scalar (a database driver takes
    Python numbers only)."""
    a = float(a)
    if math.isnan(a):
        return math.nan
    x = a * _SQRT1_2
    z = abs(x)
    if z < 1.0:
        return 0.5 + 0.5 * _erf(x)
    y = 0.5 * _erfc(z)
    return 1.0 - y if x > 0 else y
