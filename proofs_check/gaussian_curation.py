"""Independent checks of ``collapsim.theory.gaussian_curation`` (eqs. GC1-GC4).

The module computes the winner's moments through the Gumbel-max form on an FFT grid; every check here goes
back to the definition of K-wise Bradley-Terry selection, P(X_j wins | X_1..X_K) = softmax_j(r(X_j) / beta),
and integrates it by other means (mpmath adaptive quadrature, scipy's adaptive 2-D quadrature, a
Gauss-Hermite product rule), never calling the code under test to make the reference.

Reductions used (each a two-line Gaussian fact, stated here):
- K = 2: P(1 wins) = sigma(c (Z_1 - Z_2)) (sigma the logistic). With D = Z_1 - Z_2 ~ N(0, 2) and
  E = (Z_1 + Z_2) / 2 ~ N(0, 1/2) independent of D, Z_1 = D / 2 + E, so
  E Z_W = 2 E[Z_1 sigma(c D)] = E[D sigma(c D)] and E Z_W^2 = 2 E[(D^2 / 4 + 1/2) sigma(c D)],
  both one-dimensional integrals against the N(0, 2) density.
- K = 3: P(1 wins) = 1 / (1 + e^{c D_2} + e^{c D_3}) with D_j = Z_j - Z_1, (D_2, D_3) ~ N(0, [[2, 1], [1, 2]]);
  E[Z_1 | D] = -(D_2 + D_3) / 3 and Var(Z_1 | D) = 1/3, so E Z_W = -E[(D_2 + D_3) p(D)] and
  E Z_W^2 = 3 E[(1/3 + (D_2 + D_3)^2 / 9) p(D)], two-dimensional integrals.
- The largest of K standard normals has density K phi Phi^{K-1}; classical values (David and Nagaraja,
  Order Statistics, 3rd ed., section 4.2 / Table): K = 2 mean 1/sqrt(pi), second moment 1; K = 3 mean
  3 / (2 sqrt(pi)), second moment 1 + sqrt(3) / (2 pi).

Run: ``python -m proofs_check.gaussian_curation`` (the test suite runs it too).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
from scipy import integrate

from collapsim.theory import gaussian_curation as th


def _close(a, b, tol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b, tol)


def check_two_way_winner():
    """K = 2: E Z_W and E Z_W^2 by mpmath quadrature of the logistic selection (30 digits) vs eq. GC2."""
    mp.mp.dps = 30
    out = []
    for c in (0.3, 1.0, 3.0, -2.0):
        cm = mp.mpf(c)
        dens = lambda d: mp.exp(-d * d / 4) / (2 * mp.sqrt(mp.pi))  # noqa: E731  N(0, 2)
        sig = lambda d: 1 / (1 + mp.exp(-cm * d))  # noqa: E731
        m1 = mp.quad(lambda d: d * sig(d) * dens(d), [-mp.inf, 0, mp.inf])
        m2 = 2 * mp.quad(lambda d: (d * d / 4 + mp.mpf(1) / 2) * sig(d) * dens(d), [-mp.inf, 0, mp.inf])
        _close(th.winner_raw_moments(c, 2)[1:], [float(m1), float(m2)], 1e-12)
        out.append(float(m1))
    return out


def check_three_way_winner():
    """K = 3: the 2-D integrals over (D_2, D_3) by scipy's adaptive quadrature vs eq. GC2."""
    out = []
    for c in (0.5, 2.0):
        def dens_p(b, a):
            p = 1.0 / (1.0 + np.exp(c * a) + np.exp(c * b))
            return p * np.exp(-(2 * a * a - 2 * a * b + 2 * b * b) / 6) / (2 * np.pi * np.sqrt(3))
        m1 = integrate.dblquad(lambda b, a: -(a + b) * dens_p(b, a), -15, 15, -15, 15, epsabs=1e-13)[0]
        m2 = integrate.dblquad(lambda b, a: (1 + (a + b) ** 2 / 3) * dens_p(b, a), -15, 15, -15, 15,
                               epsabs=1e-13)[0]
        _close(th.winner_raw_moments(c, 3)[1:], [m1, m2], 1e-9)
        out.append(m1)
    return out


def check_max_of_normals():
    """beta -> 0 (eq. GC3): max_normal_moments against the classical K = 2, 3 values (and mpmath for K = 5),
    and winner_moments at c = 1000 within 2e-6 of the limit (the gap closes as 1/c^2: the theory takes the
    limit above c = 1000)."""
    mp.mp.dps = 30
    pi = np.pi
    known = {2: (1 / np.sqrt(pi), 1 - 1 / pi), 3: (1.5 / np.sqrt(pi), 1 + np.sqrt(3) / (2 * pi) - 2.25 / pi)}
    phi = lambda z: mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)  # noqa: E731
    big_phi = lambda z: mp.ncdf(z)  # noqa: E731
    m1 = mp.quad(lambda z: 5 * z * phi(z) * big_phi(z) ** 4, [-mp.inf, 0, mp.inf])
    m2 = mp.quad(lambda z: 5 * z * z * phi(z) * big_phi(z) ** 4, [-mp.inf, 0, mp.inf])
    known[5] = (float(m1), float(m2 - m1 * m1))
    for k, ref in known.items():
        _close(th.max_normal_moments(k), ref, 1e-10)
        _close(th.winner_moments(1000.0, k), ref, 2e-6)
    return known


def check_curated_law_anisotropic():
    """GC1 with a correlated Sigma (d = 2, K = 2, reward along neither eigenvector): E X_W and Cov X_W from
    the definition 2 E[X_1 sigma((r(X_1) - r(X_2)) / beta)] by a 4-D Gauss-Hermite product rule."""
    mean = np.array([0.3, -1.0])
    cov = np.array([[1.5, 0.6], [0.6, 0.8]])
    w, beta = np.array([0.8, 0.0]), 0.5
    root = np.linalg.cholesky(cov)
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, nodes, indexing="ij"), -1).reshape(-1, 4)
    wt = np.einsum("i,j,k,l->ijkl", weights, weights, weights, weights).reshape(-1)
    x1 = mean + grid[:, :2] @ root.T
    x2 = mean + grid[:, 2:] @ root.T
    win = 2.0 / (1.0 + np.exp(-((x1 - x2) @ w) / beta)) * wt
    m = win @ x1
    second = np.einsum("n,ni,nj->ij", win, x1, x1)
    ref_mean, ref_cov = th.curated_law(mean, cov, w, beta, 2)
    _close(m, ref_mean, 1e-8)
    _close(second - np.outer(m, m), ref_cov, 1e-8)
    # with a correlated Sigma the selection moves the other coordinate too (along b = Sigma u / s)
    assert abs(m[1] - mean[1]) > 0.05
    return m


CHECKS = [check_two_way_winner, check_three_way_winner, check_max_of_normals, check_curated_law_anisotropic]

if __name__ == "__main__":
    for check in CHECKS:
        print(f"ok  {check.__name__}: {check()}")
