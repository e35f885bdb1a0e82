"""Checks of the closed forms in ``collapsim.theory.regression`` (equations R1-R4).

The recursions are linear in the noise vectors, so they are verified symbolically with each A e_i standing
for an independent mean-zero vector a_i with E a_i . a_j = [i = j] sigma^2 tr (X^T X)^-1; the
inverse-Wishart mean E tr W^-1 = d / (n - d - 1) is derived from the chi-square density for d = 1 and, for
d > 1, from the Bartlett decomposition (E 1 / chi^2_k = 1 / (k - 2)) by the standard argument
(W^-1)_11 = 1 / (W_11 - W_12 W_22^-1 W_21) ~ 1 / chi^2_{n-d+1}; that chi-square fact is checked by sympy and
the assembled mean by a fixed-seed Monte Carlo to 4 standard errors.

Run: ``python -m proofs_check.regression`` (the test suite runs it too).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from collapsim.theory import regression as th


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b)


def check_inverse_chi2_mean():
    """E 1/chi^2_k = 1/(k - 2), so (W^-1)_11 = 1/chi^2_{n-d+1} has mean 1/(n-d-1): E tr W^-1 = d/(n-d-1)."""
    x, k = sp.symbols("x k", positive=True)
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    mean_inv = sp.integrate(density / x, (x, 0, sp.oo), conds="none")
    assert sp.simplify(sp.gammasimp(mean_inv - 1 / (k - 2))) == 0
    n, d = sp.symbols("n d", positive=True)
    assert sp.simplify(d * (1 / (k - 2)).subs(k, n - d + 1) - d / (n - d - 1)) == 0
    # Monte Carlo of the assembled mean (d = 4, n = 12): 4 standard errors.
    rng = np.random.default_rng(0)
    x_ = rng.standard_normal((20000, 12, 4))
    tr = np.trace(np.linalg.inv(np.einsum("bni,bnj->bij", x_, x_)), axis1=1, axis2=2)
    assert abs(tr.mean() - 4 / 7) < 4 * tr.std() / np.sqrt(tr.size), tr.mean()
    _close(th.excess_factor(4, 12, 2.0), 2.0 * 4 / 7)
    return "E tr (X^T X)^-1 = d/(n-d-1); MC %.4f vs %.4f" % (tr.mean(), 4 / 7)


def _noise_symbols(T):
    return sp.symbols(f"a1:{T + 1}")  # a_i stands for A e_i (one coordinate: the recursions act coordinate-wise)


def check_replace_solution():
    """(R1) u_t = u_{t-1} + a_t from u_0 = 0 gives u_t = a_1 + ... + a_t, E u_t^2 = t E a^2."""
    T = 8
    a = _noise_symbols(T)
    u = [sp.Integer(0)]
    for t in range(1, T + 1):
        u.append(sp.expand(u[-1] + a[t - 1]))
    for t in range(T + 1):
        poly = sp.Poly(sp.expand(u[t] ** 2), *a)
        # expectation: keep the squares (E a_i a_j = 0 for i != j, E a_i^2 = 1 in units of sigma^2 tr G^-1)
        e = sum(poly.coeff_monomial(ai**2) for ai in a)
        assert e == t
    _close(th.replace_test_error(8, 3, 10, 1.0), np.arange(9) * 3 / 6)
    return "replace: E ||u_t||^2 = t sigma^2 d/(n-d-1)"


def check_accumulate_solution():
    """(R2) t u_t = sum_{j<t} u_j + (a_1 + ... + a_t) is solved by u_t = sum_{i<=t} a_i / i, so E u_t^2 =
    sum 1/i^2, bounded by pi^2 / 6."""
    T = 8
    a = _noise_symbols(T)
    u = [sp.Integer(0)]
    for t in range(1, T + 1):
        u.append(sp.expand((sum(u) + sum(a[:t])) / t))  # the pooled least-squares fit, coordinate-wise
    for t in range(1, T + 1):
        assert sp.expand(u[t] - sum(a[i - 1] / i for i in range(1, t + 1))) == 0
        poly = sp.Poly(sp.expand(u[t] ** 2), *a)
        e = sum(poly.coeff_monomial(ai**2) for ai in a)
        assert e == sum(sp.Rational(1, i * i) for i in range(1, t + 1))
    i = sp.Symbol("i", integer=True, positive=True)
    assert sp.summation(1 / i**2, (i, 1, sp.oo)) == sp.pi**2 / 6
    h2 = np.concatenate([[0.0], np.cumsum(1 / np.arange(1, 9) ** 2)])
    _close(th.accumulate_test_error(8, 3, 10, 1.0), h2 * 3 / 6)
    assert th.accumulate_test_error(10000, 3, 10)[-1] < np.pi**2 / 6 * th.excess_factor(3, 10)
    return "accumulate: E ||u_t||^2 = sigma^2 d/(n-d-1) sum 1/i^2 < pi^2/6 sigma^2 d/(n-d-1)"


def check_pooled_fit_matches_the_recursion():
    """The pooled least squares on t relabelled copies of one design equals (1/t)(sum_{j<t} w_j + A sum y-noise):
    checked numerically with exact float64 algebra on one random design."""
    rng = np.random.default_rng(1)
    n, d, T = 9, 3, 5
    x = rng.standard_normal((n, d))
    w_star = rng.standard_normal(d)
    A = np.linalg.solve(x.T @ x, x.T)
    ws, ys, us = [w_star], [], [np.zeros(d)]
    for t in range(1, T + 1):
        e = rng.standard_normal(n)
        ys.append(x @ ws[-1] + e)
        X = np.vstack([x] * t)
        Y = np.concatenate(ys)
        ws.append(np.linalg.lstsq(X, Y, rcond=None)[0])
        us.append(sum(A @ (yy - x @ wprev) / i for i, (yy, wprev) in enumerate(zip(ys, ws[:-1]), start=1)))
        _close(ws[-1] - w_star, us[-1], 1e-10)
    return "pooled lstsq == sum_i A e_i / i on a random design (float64)"


def check_mix_recursion():
    """(R3) with c = 1 (alpha = 0) the recursion is (R1); c(1) = 0 (all real rows) gives the constant first error;
    c(alpha) is E tr(M^T M)/d, between (1 - alpha)^2 (Jensen, E M = (1 - alpha) I) and 1."""
    d, n = 3, 12
    _close(th.mix_test_error(np.zeros(5), d, n, 1.0, draws=200), th.replace_test_error(5, d, n))
    _close(th.mix_test_error(np.ones(5), d, n, 1.0, draws=200), np.r_[0, np.full(5, th.excess_factor(d, n))])
    c = th.mix_contraction(0.3, d, n, 4000)
    assert 0.7**2 < c < 1, c
    return "mix: c(0.3) = %.4f for d=3, n=12 (in ((1-alpha)^2, 1))" % c


def check_ridge_limit():
    """(R4) at lambda -> 0 is (R1) given the spectrum: sum_j t / s_j = t tr G^-1."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 20, 3))
    s = np.linalg.eigvalsh(np.einsum("bni,bnj->bij", x, x))
    got = th.ridge_test_error_given_spectrum(6, s, 1e-12, 1.0)
    _close(got, np.arange(7) * (1 / s).sum(-1).mean(), 1e-8)
    # and with lambda > 0 the one-step value is the ridge estimator's bias^2 + variance, coordinate-wise
    lam, si, w2 = 2.0, 5.0, 0.7
    r = si / (si + lam)
    one = th.ridge_test_error_given_spectrum(1, np.array([[si]]), lam, w2)[1]
    _close(one, (1 - r) ** 2 * w2 + r**2 / si)
    return "ridge: lambda -> 0 limit and one-step bias/variance"


CHECKS = [
    check_inverse_chi2_mean,
    check_replace_solution,
    check_accumulate_solution,
    check_pooled_fit_matches_the_recursion,
    check_mix_recursion,
    check_ridge_limit,
]

if __name__ == "__main__":
    for check in CHECKS:
        print(f"ok  {check.__name__}: {check()}")
