"""Symbolic checks of every closed form in ``collapsim.theory.gaussian`` (equations G1-G8).

Each ``check_*`` function derives a statement with sympy from first principles (chi-square densities,
moments of i.i.d. sums, the quantile coupling) and then compares the theory module's numeric function
with the derived expression at concrete values to 1e-12. A failure raises AssertionError.

Structural facts used (standard, stated not re-derived): for n i.i.d. N(mu, Sigma) draws the sample mean
~ N(mu, Sigma / n) and the scatter matrix ~ Wishart(n - 1, Sigma) are independent (Cochran), so one refit
multiplies the variance scale by chi^2_k / D independently of the past, and expectations of products
over generations factor into products of one-step expectations.

Run: ``python -m proofs_check.gaussian`` (the test suite runs it too).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from collapsim.theory import gaussian as th

k, D, x, s = sp.symbols("k D x s", positive=True)
n = sp.Symbol("n", positive=True, integer=True)


def _chi2_moment(power):
    """E[X^power] for X ~ chi^2_k, integrated from the density."""
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    return sp.simplify(sp.integrate(x**power * density, (x, 0, sp.oo), conds="none"))


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b)


def check_variance_factor():
    """(G1) E[chi^2_k / D] = k / D, so E s_t^2 = s0^2 (k / D)^t."""
    assert sp.simplify(_chi2_moment(1) / D - k / D) == 0
    for n_, ddof in [(20, 1), (20, 0), (7, 0)]:
        q = (n_ - 1) / (n_ - ddof)
        _close(th.expected_sigma2(5, n_, ddof, 2.0), 2.0 * q ** np.arange(6))
    return "E s_t^2 = s0^2 ((n-1)/(n-ddof))^t"


def check_sd_factor():
    """(G2) E sqrt(chi^2_k / D) = sqrt(2/D) Gamma((k+1)/2) / Gamma(k/2); equals REFERENCES' c sqrt(r) at ddof 0."""
    derived = sp.simplify(_chi2_moment(sp.Rational(1, 2)) / sp.sqrt(D))
    claimed = sp.sqrt(2 / D) * sp.gamma((k + 1) / 2) / sp.gamma(k / 2)
    assert sp.simplify(sp.gammasimp(derived / claimed)) == 1
    M = sp.Symbol("m", positive=True) + 1  # M > 1 samples
    c = sp.sqrt(2 / (M - 1)) * sp.gamma(M / 2) / sp.gamma((M - 1) / 2)
    ours_ddof0 = claimed.subs({k: M - 1, D: M})
    assert sp.simplify(ours_ddof0 / (c * sp.sqrt((M - 1) / M))) == 1
    for n_, ddof, dim, cov in [(20, 1, 1, "full"), (10, 0, 1, "full"), (12, 1, 3, "isotropic")]:
        kk, DD = dim * (n_ - 1), dim * (n_ - ddof)
        step = float(claimed.subs({k: kk, D: DD}).evalf(30))
        _close(th.expected_sigma(4, n_, ddof, 1.0, dim, cov), step ** np.arange(5))
    return "E s_t = s0 (sqrt(2/D) Gamma((k+1)/2)/Gamma(k/2))^t"


def check_log_variance_drift():
    """(G3) E log chi^2_k = psi(k/2) + ln 2, the derivative of E X^p at p = 0."""
    p = sp.Symbol("p")
    mgf = 2**p * sp.gamma(k / 2 + p) / sp.gamma(k / 2)  # E X^p, from the density as in _chi2_moment
    assert sp.simplify(_chi2_moment(sp.Rational(3, 2)) - mgf.subs(p, sp.Rational(3, 2))) == 0
    derived = sp.simplify(sp.diff(mgf, p).subs(p, 0))
    assert sp.simplify(derived - (sp.polygamma(0, k / 2) + sp.log(2))) == 0
    for n_, ddof in [(20, 1), (20, 0)]:
        step = float((sp.polygamma(0, sp.Rational(n_ - 1, 2)) + sp.log(2) - sp.log(n_ - ddof)).evalf(30))
        _close(th.expected_log_sigma2_change(6, n_, ddof), step * np.arange(7))
    return "E log s_t^2 - log s0^2 = t (psi(k/2) + ln 2 - ln D)"


def check_mean_drift_sum():
    """(G4) E D_{t+1}^2 = E D_t^2 + q^t d s0^2 / n  sums to (d s0^2 / n) (1 - q^t) / (1 - q)."""
    q, t = sp.symbols("q t", positive=True)
    closed = (1 - q**t) / (1 - q)  # by induction: S(0) = 0 and S(t + 1) - S(t) = q^t
    assert closed.subs(t, 0) == 0
    assert sp.simplify(closed.subs(t, t + 1) - closed - q**t) == 0
    # ddof 0: (s0^2/n)(1 - r^t)/(1 - r) with r = (n-1)/n equals s0^2 (1 - r^t), REFERENCES' Var mu_t.
    r = (n - 1) / n
    assert sp.simplify((1 / n) * (1 - r**t) / (1 - r) - (1 - r**t)) == 0
    _close(th.expected_mean_sq_drift(5, 20, 1, 1.0, 1), np.arange(6) / 20)
    _close(th.expected_mean_sq_drift(5, 20, 0, 1.5, 2), 2 * 1.5 * (1 - (19 / 20) ** np.arange(6)))
    return "E ||mu_t - mu_0||^2 = (d s0^2 / n) sum_{j<t} q^j"


def check_w2_gaussians():
    """(G5) W2^2(N(m, s^2), N(m0, s0^2)) = (m - m0)^2 + (s - s0)^2 through the quantile coupling."""
    z, dm, ds = sp.symbols("z dm ds", real=True)
    phi = sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)
    w2 = sp.integrate((dm + ds * z) ** 2 * phi, (z, -sp.oo, sp.oo))
    assert sp.simplify(w2 - (dm**2 + ds**2)) == 0
    # E W2^2 = E drift + d (E s^2 - 2 s0 E s + s0^2): check the module assembles exactly that.
    n_, ddof, T = 20, 1, 30
    expect = th.expected_mean_sq_drift(T, n_, ddof) + th.expected_sigma2(T, n_, ddof) - 2 * th.expected_sigma(T, n_, ddof) + 1
    _close(th.expected_w2sq(T, n_, ddof), expect)
    # REFERENCES: M = 100, t = 200, ddof 1: exact 2.793.
    assert abs(th.expected_w2sq(200, 100, 1)[-1] - 2.793) < 5e-4
    return "E W2^2 exact; M=100, t=200: %.4f" % th.expected_w2sq(200, 100, 1)[-1]


def check_wishart_determinant():
    """(G6) E det Wishart_d(k, I) = prod_{i<d} (k - i): derived for d = 2 from Gaussian moments."""
    # W = Z^T Z, Z with k rows of N(0, I_2): det W = a b - c^2, a = sum z1^2, b = sum z2^2, c = sum z1 z2.
    # E[a b] = E a E b = k^2 (independent columns), E c^2 = sum_i E z1i^2 z2i^2 = k.
    e_ab, e_c2 = k * k, k
    assert sp.expand(e_ab - e_c2 - k * (k - 1)) == 0
    # The module: prod_{i=1..d} (n - i) / (n - ddof)^d per generation.
    n_, ddof, dim = 12, 0, 3
    factor = np.prod([n_ - i for i in range(1, dim + 1)]) / n_**dim
    _close(th.expected_det_ratio(4, n_, ddof, dim), factor ** np.arange(5))
    return "E det Sigma_t / det Sigma_0 = (prod (n-i) / (n-ddof)^d)^t"


def check_log_wishart_determinant():
    """(G8) E log det Wishart_d(k, I) = sum_{j=1..d} psi((k - j + 1) / 2) + d ln 2.

    From the moments E det W^p = 2^{d p} Gamma_d(k/2 + p) / Gamma_d(k/2), Gamma_d the multivariate gamma
    function (Muirhead, Aspects of Multivariate Statistical Theory, theorem 3.2.15): its value at p = 1 must
    be G6's mean (derived above for d = 2 from Gaussian moments), and its derivative at p = 0 is the mean of
    the log.
    """
    p = sp.Symbol("p")

    def gamma_d(arg, d):
        return sp.pi ** sp.Rational(d * (d - 1), 4) * sp.prod([sp.gamma(arg - sp.Rational(j - 1, 2)) for j in range(1, d + 1)])

    for d in (2, 3):
        moment = 2 ** (d * p) * gamma_d(k / 2 + p, d) / gamma_d(k / 2, d)
        at_one = sp.expand_func(moment.subs(p, 1))
        assert sp.simplify(at_one - sp.prod([k - j + 1 for j in range(1, d + 1)])) == 0  # G6 at k = n - 1
        derived = sp.simplify(sp.diff(moment, p).subs(p, 0))
        claimed = sum(sp.polygamma(0, (k - j + 1) / 2) for j in range(1, d + 1)) + d * sp.log(2)
        assert sp.simplify(sp.expand_func(derived - claimed)) == 0
    # The module: k = n - 1 and Sigma_t = W / (n - ddof), so each generation adds the mean above - d ln(n - ddof).
    for n_, ddof, dim in [(10, 0, 3), (12, 1, 2), (40, 1, 5)]:
        step = sum(sp.polygamma(0, sp.Rational(n_ - 1 - j + 1, 2)) for j in range(1, dim + 1)) + dim * sp.log(2) - dim * sp.log(n_ - ddof)
        _close(th.expected_log_det_ratio(7, n_, ddof, dim), float(step.evalf(30)) * np.arange(8))
    return "E log det Sigma_t - log det Sigma_0 = t (sum_i psi((n-i)/2) + d ln 2 - d ln(n-ddof))"


def check_mix_recursion():
    """(G7) one step of ``mix`` from the moments of n i.i.d. draws of the mixture, per coordinate."""
    a, mu, mu0, s2, s02, ddof, Q = sp.symbols("a mu mu0 s2 s02 ddof Q", real=True)
    m1 = a * mu0 + (1 - a) * mu  # mixture mean
    m2 = a * (s02 + mu0**2) + (1 - a) * (s2 + mu**2)  # mixture second moment
    # E (sum x_i)^2 = n m2 + n (n - 1) m1^2, hence E xbar^2 and E SS = E sum x^2 - n E xbar^2.
    e_xbar2 = (n * m2 + n * (n - 1) * m1**2) / n**2
    e_drift = e_xbar2 - 2 * mu0 * m1 + mu0**2
    e_var = (n * m2 - n * e_xbar2) / (n - ddof)
    # Claimed map, with Q standing for the squared drift (mu - mu0)^2 of the previous generation.
    claimed_drift = ((1 - a) ** 2 + a * (1 - a) / n) * Q + (1 - a) / n * s2 + a * s02 / n
    claimed_var = (n - 1) / (n - ddof) * (a * (1 - a) * Q + (1 - a) * s2 + a * s02)
    assert sp.simplify(e_drift - claimed_drift.subs(Q, (mu - mu0) ** 2)) == 0
    assert sp.simplify(e_var - claimed_var.subs(Q, (mu - mu0) ** 2)) == 0
    # Both are affine in (Q, s2), so their expectations over generation t - 1 follow the same map.
    # The module iterates exactly this map: compare with the sympy expressions evaluated step by step.
    step_drift = sp.lambdify((a, Q, s2), claimed_drift.subs({n: 15, ddof: 0, s02: 1}))
    step_var = sp.lambdify((a, Q, s2), claimed_var.subs({n: 15, ddof: 0, s02: 1}))
    alpha = np.array([1.0, 0.5, 0.3, 0.2, 0.0, 0.7])
    d_ref, v_ref = [0.0], [1.0]
    for a_ in alpha:
        d_ref.append(step_drift(a_, d_ref[-1], v_ref[-1]))
        v_ref.append(step_var(a_, d_ref[-2], v_ref[-1]))
    d_mod, v_mod = th.mix_moments(alpha, 15, 0, 1.0, 1)
    _close(d_mod, d_ref)
    _close(v_mod, v_ref)
    # At alpha = 0 it is the replacement closed forms (G1, G4).
    drift, var = th.mix_moments(np.zeros(7), 20, 1, 1.0, 1)
    _close(drift, th.expected_mean_sq_drift(7, 20, 1))
    _close(var, th.expected_sigma2(7, 20, 1))
    return "mix: exact affine 2x2 recursion for (E drift, E s^2)"


def check_mix_stationary():
    """The fixed point returned by ``mix_stationary`` is where the recursion converges."""
    drift, var = th.mix_moments(np.full(4000, 0.2), 30, 1, 1.0, 2)
    d_star, v_star = th.mix_stationary(0.2, 30, 1, 1.0, 2)
    _close([drift[-1], var[-1]], [d_star, v_star])
    return "mix stationary point: drift %.5f, s^2 %.5f (alpha 0.2, n 30, d 2)" % (d_star, v_star)


CHECKS = [
    check_variance_factor,
    check_sd_factor,
    check_log_variance_drift,
    check_mean_drift_sum,
    check_w2_gaussians,
    check_wishart_determinant,
    check_log_wishart_determinant,
    check_mix_recursion,
    check_mix_stationary,
]

if __name__ == "__main__":
    for check in CHECKS:
        print(f"ok  {check.__name__}: {check()}")
