"""Excess test error of least squares refit on its own labels (Gerstgrasser et al. 2024, theorems 1-2;
derived and checked in proofs_check/regression.py).

Notation: d features, n design rows, noise sd sigma, inputs N(0, I_d), u_t = w_t - w*, test error
E ||u_t||^2 (the excess test mean squared error for x ~ N(0, I)), A = (X^T X)^-1 X^T.

Fixed design, replace. y_t = X w_{t-1} + sigma e_t gives u_t = u_{t-1} + A e_t, so u_t = A (e_1 + ... + e_t)
and E[||u_t||^2 | X] = sigma^2 t tr (X^T X)^-1. With E tr W^-1 = d / (n - d - 1) for W ~ Wishart_d(n, I)
(the inverse-Wishart mean, n > d + 1):
    E ||u_t||^2 = sigma^2 d / (n - d - 1) * t                                             (eq. R1)
Fixed design, accumulate. w_t = (t X^T X)^-1 X^T (y_1 + ... + y_t) gives t u_t = sum_{j<t} u_j + A sum_{i<=t} e_i,
solved by u_t = sum_{i<=t} A e_i / i (induction), so
    E ||u_t||^2 = sigma^2 d / (n - d - 1) * sum_{i<=t} 1 / i^2  <  pi^2 / 6 * (eq. R1 at t = 1)   (eq. R2)
Fresh design (a new X_t each generation), replace: u_t = u_{t-1} + A_t e_t with A_t independent of the past,
so (R1) holds exactly as well. Fresh design, accumulate: the pooled fit weights the generations by their
Gram matrices, which have no closed form; (R2) is drawn as an approximation.
Mix (each row a fresh real pair with probability alpha): with a fresh design, the rows' residuals against
w* are b_i x_i^T u_{t-1} + sigma e_i (b_i = 1 for a synthetic row), so u_t = G^-1 X^T B X u_{t-1} + A e_t and,
by rotation invariance of the Gaussian design, E[M^T M] = c(alpha) I for M = G^-1 X^T B X:
    E ||u_t||^2 = c(alpha_t) E ||u_{t-1}||^2 + sigma^2 d / (n - d - 1),
    c(alpha) = E tr(X^T B X G^-2 X^T B X) / d                                               (eq. R3)
exact given c, which is computed by Monte Carlo on the host (drawn as an approximation; with a fixed
design u_{t-1} depends on X and (R3) is an approximation too).
Ridge (lambda > 0), fixed design, replace: in the eigenbasis of X^T X (eigenvalues s_j), with r_j = s_j / (s_j + lambda),
u_t = r u_{t-1} - (1 - r) w* + noise of variance sigma^2 r^2 / s_j, so
    E[||u_t||^2 | X] = sum_j (1 - r_j^t)^2 (v_j^T w*)^2 + sigma^2 r_j^2 / s_j (1 - r_j^2t) / (1 - r_j^2)   (eq. R4)
and E (v_j^T w*)^2 = ||w*||^2 / d independently of the spectrum (Haar eigenvectors); the average over the
Wishart spectrum is taken by Monte Carlo on the host (an approximation curve).
"""

from __future__ import annotations

import numpy as np


def excess_factor(dim: int, n: int, noise2: float = 1.0) -> float:
    """sigma^2 d / (n - d - 1) = sigma^2 E tr (X^T X)^-1: the first generation's test error (inf if n <= d + 1)."""
    return noise2 * dim / (n - dim - 1) if n > dim + 1 else float("inf")


def replace_test_error(generations: int, dim: int, n: int, noise2: float = 1.0) -> np.ndarray:
    """(R1) E ||w_t - w*||^2 under replace, shape (T + 1,)."""
    t = np.arange(generations + 1)
    return np.where(t == 0, 0.0, excess_factor(dim, n, noise2) * t)


def accumulate_test_error(generations: int, dim: int, n: int, noise2: float = 1.0) -> np.ndarray:
    """(R2) E ||w_t - w*||^2 under accumulate with a fixed design, shape (T + 1,)."""
    h2 = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, generations + 1) ** 2)])
    return np.where(h2 == 0, 0.0, excess_factor(dim, n, noise2) * h2)


def mix_contraction(alpha: float, dim: int, n: int, draws: int = 20000, seed: int = 0) -> float:
    """c(alpha) of (R3) by Monte Carlo over Gaussian designs and Bernoulli(1 - alpha) synthetic rows.

    Standard error about 1e-3 relative at the defaults (fixed seed: the same number every call).
    """
    rng = np.random.default_rng(seed)
    total, done = 0.0, 0
    while done < draws:
        b = min(2000, draws - done)
        x = rng.standard_normal((b, n, dim))
        keep = (rng.random((b, n)) >= alpha).astype(np.float64)
        g = np.einsum("bni,bnj->bij", x, x)
        gs = np.einsum("bni,bn,bnj->bij", x, keep, x)
        m = np.linalg.solve(g, gs)  # M = G^-1 G_s
        total += np.einsum("bij,bij->", m, m)
        done += b
    return total / draws / dim


def mix_test_error(alpha, dim: int, n: int, noise2: float = 1.0, draws: int = 20000) -> np.ndarray:
    """(R3) E ||w_t - w*||^2 under mix with schedule alpha (T,), shape (T + 1,)."""
    alpha = np.asarray(alpha, np.float64)
    cache = {}
    out = [0.0]
    for a in alpha:
        if a not in cache:
            cache[a] = mix_contraction(float(a), dim, n, draws)
        out.append(cache[a] * out[-1] + excess_factor(dim, n, noise2))
    return np.array(out)


def ridge_test_error_given_spectrum(generations: int, evals: np.ndarray, ridge: float, weight_norm2: float,
                                    noise2: float = 1.0) -> np.ndarray:
    """(R4) E[||u_t||^2 | spectrum], averaged over the rows of ``evals`` (draws, d), shape (T + 1,)."""
    s = np.asarray(evals, np.float64)
    d = s.shape[-1]
    r = s / (s + ridge)
    t = np.arange(generations + 1)[:, None, None]
    bias = (1 - r**t) ** 2 * weight_norm2 / d
    # sum_{k<t} r^2k, written so that r -> 1 (lambda = 0) gives t
    geo = np.where(r < 1, (1 - r ** (2 * t)) / np.where(r < 1, 1 - r**2, 1.0), t)
    var = noise2 * r**2 / s * geo
    return (bias + var).sum(-1).mean(-1)


def ridge_test_error(generations: int, dim: int, n: int, ridge: float, weight_norm2: float, noise2: float = 1.0,
                     draws: int = 4000, seed: int = 0) -> np.ndarray:
    """(R4) averaged over ``draws`` Wishart_d(n, I) spectra (host Monte Carlo, fixed seed)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((draws, n, dim))
    evals = np.linalg.eigvalsh(np.einsum("bni,bnj->bij", x, x))
    return ridge_test_error_given_spectrum(generations, evals, ridge, weight_norm2, noise2)
