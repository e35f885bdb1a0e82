"""Exact moments of recursively refit Gaussians (REFERENCES.md section 1; checked in proofs_check/gaussian.py).

Notation: n samples per generation, ``ddof`` in the variance's denominator, d dimensions, truth
N(mu_0, Sigma_0) with s0^2 = tr(Sigma_0) / d. Every array returned has T + 1 entries, index t = generation.

Replacement. One refit maps the variance scale by chi^2_k / D, independent of the past, with
  k = n - 1, D = n - ddof            (d = 1, and for tr Sigma under a full-covariance fit),
  k = d (n - 1), D = d (n - ddof)    (isotropic fit s^2 I),
so with q = k / D = (n - 1) / (n - ddof) (REFERENCES.md table, generalised to d):
  E s_t^2                 = s0^2 q^t                                                     (eq. G1)
  E s_t                   = s0 c_k^t,  c_k = sqrt(2 / D) Gamma((k + 1) / 2) / Gamma(k / 2)  (eq. G2)
  E log s_t^2 - log s0^2  = t [psi(k / 2) + ln 2 - ln D]                                 (eq. G3)
  E ||mu_t - mu_0||^2     = (d s0^2 / n) sum_{j<t} q^j                                   (eq. G4)
  E W2^2                  = (G4) + d (E s_t^2 - 2 s0 E s_t + s0^2)  (d = 1 or isotropic)  (eq. G5)
  E det Sigma_t / det Sigma_0 = (prod_{i=1..d} (n - i) / (n - ddof)^d)^t   (full covariance) (eq. G6)
  E log det Sigma_t - log det Sigma_0
                          = t [sum_{i=1..d} (psi((n - i) / 2) + ln 2) - d ln(n - ddof)]  (n > d)  (eq. G8)
(G8: by Bartlett's decomposition det Wishart_d(n - 1, I) is a product of independent chi^2_{n-i},
i = 1..d, so the log det changes by a sum of log-chi-square variables each generation, each with mean
psi(k / 2) + ln 2 as in G3.) G6 and G8 describe one quantity; G6's mean is carried by chains no
simulation draws (``collapsim.runs.tails``), G8's is the one a Monte Carlo mean can check.

Mixing (policy ``mix``: each point is a fresh truth draw with probability alpha_t). With
x_t = (E ||mu_t - mu_0||^2, E tr Sigma_t), conditioning on generation t - 1 gives the exact affine map
  E ||mu'-mu_0||^2 = [(1-a)^2 + a(1-a)/n] E||mu-mu_0||^2 + (1-a)/n E tr Sigma + a tr Sigma_0 / n
  E tr Sigma'      = q [a(1-a) E||mu-mu_0||^2 + (1-a) E tr Sigma + a tr Sigma_0]               (eq. G7)
because the mixture has mean mu_0 + (1-a)(mu - mu_0) and covariance trace
a tr Sigma_0 + (1-a) tr Sigma + a(1-a) ||mu - mu_0||^2. With a = 0 it reduces to (G1) and (G4).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln


def _chi2_params(n: int, ddof: int, dim: int, covariance: str):
    if dim == 1 or covariance == "isotropic":
        return dim * (n - 1), dim * (n - ddof)
    return n - 1, n - ddof  # only q = k / D is used for full covariance


def expected_sigma2(generations: int, n: int, ddof: int, sigma2: float = 1.0) -> np.ndarray:
    """E s_t^2 (eq. G1), shape (T + 1,); s_t^2 = tr(Sigma_t) / d for any d and covariance type."""
    t = np.arange(generations + 1)
    return sigma2 * ((n - 1) / (n - ddof)) ** t


def expected_sigma(generations: int, n: int, ddof: int, sigma2: float = 1.0, dim: int = 1, covariance: str = "full") -> np.ndarray:
    """E s_t (eq. G2), shape (T + 1,); d = 1 or isotropic fit."""
    k, D = _chi2_params(n, ddof, dim, covariance)
    log_c = 0.5 * np.log(2.0 / D) + gammaln((k + 1) / 2) - gammaln(k / 2)
    return np.sqrt(sigma2) * np.exp(np.arange(generations + 1) * log_c)


def expected_log_sigma2_change(generations: int, n: int, ddof: int, dim: int = 1, covariance: str = "full") -> np.ndarray:
    """E log s_t^2 - log s_0^2 (eq. G3), shape (T + 1,); d = 1 or isotropic fit."""
    k, D = _chi2_params(n, ddof, dim, covariance)
    return np.arange(generations + 1) * (digamma(k / 2) + np.log(2.0) - np.log(D))


def expected_mean_sq_drift(generations: int, n: int, ddof: int, sigma2: float = 1.0, dim: int = 1) -> np.ndarray:
    """E ||mu_t - mu_0||^2 (eq. G4), shape (T + 1,). For d = 1 this is Var mu_t."""
    q = (n - 1) / (n - ddof)
    per_step = dim * sigma2 / n * q ** np.arange(generations)
    return np.concatenate([[0.0], np.cumsum(per_step)])


def _log_gamma_half_ratio(a: float) -> float:
    """log(Gamma(a + 1/2) / (Gamma(a) sqrt(a))) for a > 0, to about 1e-15 relative.

    Why: it is about -1/(8a), and computed as gammaln(a + 1/2) - gammaln(a) - ln(a) / 2 it is a difference of
    numbers of size a ln a: at a = 5e8 (n = 1e9) they are ~1e10, which leaves no correct digit of a 2.5e-10
    result. For a >= 50 the Stirling
    series -1/(8a) + 1/(192a^3) - 1/(640a^5) + 17/(14336a^7) (next term < 1e-16 relative there); below, the
    recurrence log R(a) = log R(a + 1) - [log1p(1/(2a)) - log1p(1/a) / 2] climbs to 50 with no cancellation.
    """
    shift = 0.0
    while a < 50.0:
        shift += np.log1p(0.5 / a) - 0.5 * np.log1p(1.0 / a)
        a += 1.0
    inv = 1.0 / a
    inv2 = inv * inv
    return inv * (-1.0 / 8 + inv2 * (1.0 / 192 + inv2 * (-1.0 / 640 + inv2 * 17.0 / 14336))) - shift


def expected_w2sq(generations: int, n: int, ddof: int, sigma2: float = 1.0, dim: int = 1, covariance: str = "full") -> np.ndarray:
    """Exact E W2^2(N(mu_t, s_t^2 I), N(mu_0, s0^2 I)) (eq. G5), shape (T + 1,); d = 1 or isotropic fit.

    The variance part d s0^2 (q^t - 2 c_k^t + 1) is computed as d s0^2 (expm1(t ln q) - 2 expm1(t ln c_k))
    with ln q = log1p((k - D) / D) and ln c_k = log1p((k - D) / D) / 2 + ln(Gamma(k/2 + 1/2) / (Gamma(k/2)
    sqrt(k/2))) from :func:`_log_gamma_half_ratio`: the direct form subtracts numbers near 1 and was 6% off
    at n = 1e7, 33% at 1e8 and negative at 1e9.
    """
    k, D = _chi2_params(n, ddof, dim, covariance)
    t = np.arange(generations + 1)
    drift = expected_mean_sq_drift(generations, n, ddof, sigma2, dim)
    if not (k > 0 and D > 0):  # degenerate sizes (n = 1, or n <= ddof): keep the direct form's inf/nan
        s0 = np.sqrt(sigma2)
        es2 = expected_sigma2(generations, n, ddof, sigma2)
        es = expected_sigma(generations, n, ddof, sigma2, dim, covariance)
        return drift + dim * (es2 - 2 * s0 * es + sigma2)
    log_q = np.log1p((k - D) / D)  # q = (n - 1) / (n - ddof) = k / D in both fits
    log_c = 0.5 * log_q + _log_gamma_half_ratio(k / 2.0)
    return drift + dim * sigma2 * (np.expm1(t * log_q) - 2.0 * np.expm1(t * log_c))


def expected_det_ratio(generations: int, n: int, ddof: int, dim: int) -> np.ndarray:
    """E det Sigma_t / det Sigma_0 for a full-covariance fit (eq. G6), shape (T + 1,)."""
    t = np.arange(generations + 1)
    if n <= dim:  # the scatter of n <= d points has rank n - 1 < d: det = 0 from generation 1 on
        return (t == 0).astype(np.float64)
    log_factor = np.sum(np.log(n - np.arange(1, dim + 1))) - dim * np.log(n - ddof)
    return np.exp(t * log_factor)


def expected_log_det_ratio(generations: int, n: int, ddof: int, dim: int) -> np.ndarray:
    """E log det Sigma_t - log det Sigma_0 for a full-covariance fit with n > d (eq. G8), shape (T + 1,)."""
    if n <= dim:
        raise ValueError(f"log det Sigma_t is -inf from generation 1 on at n = {n} <= d = {dim}")
    i = np.arange(1, dim + 1)
    step = np.sum(digamma((n - i) / 2.0) + np.log(2.0)) - dim * np.log(n - ddof)
    return np.arange(generations + 1) * step + 0.0  # + 0.0: generation 0 is 0, not -0


def mix_moments(alpha, n: int, ddof: int, sigma2: float = 1.0, dim: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Exact (E ||mu_t - mu_0||^2, E s_t^2) under ``mix`` with schedule alpha (eq. G7).

    Args:
      alpha: array (T,), alpha_t for t = 1..T (constant, scheduled, or zeros for pure replacement).
    Returns:
      two arrays of shape (T + 1,): mean squared drift and mean diagonal variance tr(Sigma_t) / d.
    """
    alpha = np.asarray(alpha, np.float64)
    q = (n - 1) / (n - ddof)
    tr0 = dim * sigma2
    drift, tr = [0.0], [tr0]
    for a in alpha:
        d_prev, tr_prev = drift[-1], tr[-1]
        drift.append(((1 - a) ** 2 + a * (1 - a) / n) * d_prev + (1 - a) / n * tr_prev + a * tr0 / n)
        tr.append(q * (a * (1 - a) * d_prev + (1 - a) * tr_prev + a * tr0))
    return np.array(drift), np.array(tr) / dim


def mix_stationary(alpha: float, n: int, ddof: int, sigma2: float = 1.0, dim: int = 1) -> tuple[float, float]:
    """Fixed point of (G7) for a constant alpha > 0: (E ||mu - mu_0||^2, E s^2) as t -> infinity."""
    q = (n - 1) / (n - ddof)
    a, tr0 = alpha, dim * sigma2
    A = np.array([[(1 - a) ** 2 + a * (1 - a) / n, (1 - a) / n], [q * a * (1 - a), q * (1 - a)]])
    b = np.array([a * tr0 / n, q * a * tr0])
    drift, tr = np.linalg.solve(np.eye(2) - A, b)
    return float(drift), float(tr / dim)


def predictions(policy: str, generations: int, n: int, ddof: int, dim: int, covariance: str, sigma2: float, alpha) -> dict:
    """Theory curves keyed by metric name for one run; a metric without an exact prediction is absent."""
    if policy == "replace":
        out = {
            "sigma2": expected_sigma2(generations, n, ddof, sigma2),
            "mean_sq_drift": expected_mean_sq_drift(generations, n, ddof, sigma2, dim),
        }
        if dim == 1 or covariance == "isotropic":
            out["w2sq"] = expected_w2sq(generations, n, ddof, sigma2, dim, covariance)
            out["log_sigma2"] = np.log(sigma2) + expected_log_sigma2_change(generations, n, ddof, dim, covariance)
        elif covariance == "full":
            out["det_ratio"] = expected_det_ratio(generations, n, ddof, dim)
            if n > dim:
                out["log_det_ratio"] = expected_log_det_ratio(generations, n, ddof, dim)
        return out
    if policy == "mix":
        drift, s2 = mix_moments(alpha, n, ddof, sigma2, dim)
        return {"sigma2": s2, "mean_sq_drift": drift}
    return {}
