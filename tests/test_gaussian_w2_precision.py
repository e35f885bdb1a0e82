"""E W2^2 (eq. G5) against a 50-digit mpmath evaluation of the same closed form, up to n = 1e9.

The float64 form s0^2 - 2 s0 E s + E s^2 cancelled: 6% off at n = 1e7, 33% at 1e8, negative at 1e9.
"""

import mpmath as mp
import numpy as np
import pytest

from collapsim.theory.gaussian import _log_gamma_half_ratio, expected_w2sq


def _reference(T, n, ddof, sigma2, dim, covariance):
    with mp.workdps(50):
        n = mp.mpf(n)
        iso = dim == 1 or covariance == "isotropic"
        k, D = (dim * (n - 1), dim * (n - ddof)) if iso else (n - 1, n - ddof)
        q = (n - 1) / (n - ddof)
        c = mp.sqrt(2 / D) * mp.exp(mp.loggamma((k + 1) / 2) - mp.loggamma(k / 2))
        out, drift = [], mp.mpf(0)
        for t in range(T + 1):
            out.append(drift + dim * sigma2 * (q ** t - 2 * c ** t + 1))
            drift += dim * mp.mpf(sigma2) / n * q ** t
        return np.array([float(x) for x in out])


@pytest.mark.parametrize("n", [10, 1000, 10**7, 10**9])
@pytest.mark.parametrize("ddof,dim,covariance", [(1, 1, "full"), (0, 1, "full"), (1, 3, "isotropic"),
                                                 (0, 5, "isotropic")])
def test_matches_high_precision_reference(n, ddof, dim, covariance):
    T, sigma2 = 40, 2.5
    got = expected_w2sq(T, n, ddof, sigma2, dim, covariance)
    ref = _reference(T, n, ddof, sigma2, dim, covariance)
    assert got[0] == 0.0
    np.testing.assert_allclose(got[1:], ref[1:], rtol=1e-12)
    assert np.all(got[1:] > 0)


@pytest.mark.parametrize("a", [0.5, 1.0, 7.25, 49.5, 50.0, 123.0, 5e8])
def test_log_gamma_half_ratio(a):
    with mp.workdps(50):
        am = mp.mpf(a)
        ref = float(mp.loggamma(am + mp.mpf(1) / 2) - mp.loggamma(am) - mp.log(am) / 2)
    assert _log_gamma_half_ratio(a) == pytest.approx(ref, rel=1e-14)
