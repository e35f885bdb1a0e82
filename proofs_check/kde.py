"""Checks of the closed forms in ``collapsim.theory.kde`` (equations K1-K3).

From first principles: the KDE with support mean m, support scatter S (1/n) and bandwidth h is the law of
x_I + h z (I uniform on the support, z standard normal independent), whose mean and variance sympy computes
from the support; one refit's expected drift and scatter follow from the moments of n i.i.d. draws of the
mixture with the truth, exactly as for the Gaussian (per coordinate; the traces add over coordinates).

Run: ``python -m proofs_check.kde`` (the test suite runs it too).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from collapsim.theory import kde as th


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b)


def check_kde_law_moments():
    """A KDE on points x_1..x_k with bandwidth h has mean xbar and variance (1/k) sum (x_i - xbar)^2 + h^2."""
    k = 4
    xs = sp.symbols(f"x1:{k + 1}", real=True)
    h = sp.Symbol("h", positive=True)
    z = sp.Symbol("z", real=True)
    phi = sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)
    moment = lambda f: sum(sp.integrate(f(x) * phi, (z, -sp.oo, sp.oo)) for x in xs) / k  # noqa: E731
    mean = sp.simplify(moment(lambda x: x + h * z))
    var = sp.simplify(moment(lambda x: (x + h * z) ** 2) - mean**2)
    xbar = sum(xs) / k
    assert sp.simplify(mean - xbar) == 0
    assert sp.simplify(var - (sum((x - xbar) ** 2 for x in xs) / k + h**2)) == 0
    return "KDE law: mean = support mean, variance = support scatter / n + h^2"


def check_one_step():
    """(K1) per coordinate: n i.i.d. draws of alpha truth + (1 - alpha) KDE."""
    a, m, mu0, S, s0, h, Q = sp.symbols("a m mu0 S s0 h Q", real=True)
    n = sp.Symbol("n", positive=True)
    m1 = a * mu0 + (1 - a) * m  # mixture mean
    m2 = a * (s0 + mu0**2) + (1 - a) * (S + h**2 + m**2)  # mixture second moment (KDE variance S + h^2)
    e_xbar2 = (n * m2 + n * (n - 1) * m1**2) / n**2  # from E (sum x_i)^2
    e_drift = e_xbar2 - 2 * mu0 * m1 + mu0**2
    e_scatter = (n * m2 - n * e_xbar2) / n  # the 1/n scatter: the support of the next KDE
    C = a * s0 + (1 - a) * (S + h**2) + a * (1 - a) * Q
    assert sp.simplify(e_drift - ((1 - a) ** 2 * Q + C / n).subs(Q, (m - mu0) ** 2)) == 0
    assert sp.simplify(e_scatter - ((n - 1) / n * C).subs(Q, (m - mu0) ** 2)) == 0
    # affine in (Q, S): the expectations over generation t follow the same map; the module iterates it
    n_, h_, s0_ = 9, 0.4, 1.7
    fixed = {n: n_, h: h_, s0: s0_}
    step = sp.lambdify((a, Q, S), [((1 - a) ** 2 * Q + C / n).subs(fixed), ((n - 1) / n * C).subs(fixed)])
    rng = np.random.default_rng(0)
    alpha = rng.random(7) * (rng.random(7) < 0.6)
    D, P = [s0_ / n_], [(n_ - 1) / n_ * s0_]
    for a_ in alpha:
        d_, p_ = step(a_, D[-1], P[-1])
        D.append(d_)
        P.append(p_)
    drift, var = th.moments(alpha, n_, 1, h_, s0_)
    _close(drift, D)
    _close(var, np.array(P) + h_**2)
    return "one refit: D' = (1-a)^2 D + C/n, P' = (n-1)/n C"


def check_replace_closed_form():
    """(K2) V' = q V + h^2 from V_0 = q s0^2 + h^2 has solution n h^2 + q^t (V_0 - n h^2); (K3) drift sum."""
    q, V0, h2, t = sp.symbols("q V0 h2 t", positive=True)
    star = h2 / (1 - q)
    closed = star + q**t * (V0 - star)
    assert sp.simplify(closed.subs(t, 0) - V0) == 0
    assert sp.simplify(closed.subs(t, t + 1) - (q * closed + h2)) == 0
    for n_, h_, s2, d in [(20, 0.3, 1.0, 1), (50, 0.2, 2.0, 3)]:
        drift, var = th.moments(np.zeros(30), n_, d, h_, d * s2)
        _close(var, th.replace_variance(30, n_, h_, s2), 1e-10)
        P = (var - h_**2) * d
        _close(drift, d * s2 / n_ + np.concatenate([[0.0], np.cumsum((P[:-1] + d * h_**2) / n_)]), 1e-10)
    return "replace: E variance_t = n h^2 + q^t (q s0^2 + h^2 - n h^2); tends to n h^2"


def check_moons_and_blobs_moments():
    """The truths' exact moments (families.kde.truth_moments) against a 2,000,000-point float64 sample, 5 SE."""
    from collapsim.families.kde import truth_moments

    rng = np.random.default_rng(1)
    N = 2_000_000
    theta = np.pi * rng.random(N)
    lower = rng.random(N) < 0.5
    x = np.stack([np.where(lower, 1 - np.cos(theta), np.cos(theta)), np.where(lower, 0.5 - np.sin(theta), np.sin(theta))], 1)
    x = 1.5 * x + 0.1 * rng.standard_normal((N, 2))
    mean, tr = truth_moments("moons", 2, 1.5, 0.1)
    sq = ((x - mean) ** 2).sum(1)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * x.std(0) / np.sqrt(N))
    assert abs(sq.mean() - tr) < 5 * sq.std() / np.sqrt(N), (sq.mean(), tr)
    ang = 2 * np.pi * rng.integers(0, 3, N) / 3
    b = 2.0 * np.stack([np.cos(ang), np.sin(ang)], 1) + 0.3 * rng.standard_normal((N, 2))
    mean, tr = truth_moments("blobs", 2, 2.0, 0.3)
    sq = ((b - mean) ** 2).sum(1)
    assert abs(sq.mean() - tr) < 5 * sq.std() / np.sqrt(N), (sq.mean(), tr)
    return "moons and blobs: exact mean and tr Cov"


CHECKS = [check_kde_law_moments, check_one_step, check_replace_closed_form, check_moons_and_blobs_moments]

if __name__ == "__main__":
    for check in CHECKS:
        print(f"ok  {check.__name__}: {check()}")
