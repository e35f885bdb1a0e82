"""Curated Gaussian refits: the exact law of one K-wise Bradley-Terry curation step under a linear reward.

Checked in proofs_check/gaussian_curation.py. Notation: model N(mu, Sigma) in d dimensions, linear reward
r(x) = a u . x (u a unit vector, a != 0 the reward scale), reward temperature beta > 0. Curation draws K
points X_1..X_K from the model and keeps X_j with probability softmax_j(r(X_j) / beta).

One step (eq. GC1). Write X = mu + s Z b + R with s^2 = u' Sigma u, Z = u . (X - mu) / s ~ N(0, 1),
b = Sigma u / s and R = X - mu - s Z b; R is Gaussian and uncorrelated with Z, hence independent of it. The
softmax weights exp(a u . X_j / beta) are proportional to exp(c Z_j) with

    c = a s / beta                                                  (the scale: |c| grows with s |a| / beta)

so the selection reads Z only and the winner is X_W = mu + s Z_W b + R with R still independent:
    E X_W   = mu + m1(c, K) Sigma u / s,
    Cov X_W = Sigma + (v(c, K) - 1) Sigma u u' Sigma / s^2,
where m1, v are the mean and variance of the winner's Z. No isotropy is needed; when u is an eigenvector
of Sigma (Sigma isotropic, or diagonal with u = e_1) the directions orthogonal to u keep their law exactly.

The winner's Z (eq. GC2). Its density is q(z) = K phi(z) E[e^{cz} / (e^{cz} + sum_{j<K} e^{c Z_j})]
= K phi(z) int_0^inf e^{cz} exp(-t e^{cz}) M(t)^{K-1} dt with M(t) = E exp(-t e^{cZ}). Computed here through
the equivalent Gumbel-max form (softmax sampling is the argmax of c Z_j + G_j with G_j i.i.d. standard
Gumbel): with S = c Z + G, F its CDF and A_p(x) = E[Z^p g(x - c Z)] (g the Gumbel density), the winner's
S has density K F^{K-1} f_S and, given S = x, the winner's Z has the law of Z given S = x, so
    E Z_W^p = K int F(x)^{K-1} A_p(x) dx,    p = 0 (a check: 1), 1, 2.
Both A_p and F are convolutions of the normal (in units y = c z) with the Gumbel density or CDF, evaluated
on one uniform grid by FFT; the trapezoid rule on these entire, fast-decaying integrands converges faster
than any power of the step, and the step resolves both widths (1 for the Gumbel, |c| for the normal).
Deterministic limit (beta -> 0, c -> inf): the winner is the largest of K standard normals,
E Z_W^p = K int z^p phi(z) Phi(z)^{K-1} dz (eq. GC3; K = 2: mean 1/sqrt(pi), variance 1 - 1/pi).

One generation (eq. GC4). The fit sees n points, each a fresh truth draw with probability alpha (the
``mix`` policy; alpha = 0 is ``replace``) and otherwise a curation winner, i.i.d. from the mixture law
    m = alpha mu0 + (1 - alpha) E X_W,
    C = alpha Sigma0 + (1 - alpha) Cov X_W + alpha (1 - alpha) (E X_W - mu0)(E X_W - mu0)'.
The sample mean is unbiased and the scatter has mean (n - 1) C whatever the law (not Gaussian), so exactly
    E mu'                 = m,
    E sigma2'             = (n - 1) / (n - ddof) tr C / d          (full or isotropic fit),
    E ||mu' - mu0||^2     = ||m - mu0||^2 + tr C / n,
    E expected_reward'    = a u . m.
These are exact for the first generation (the model is then the truth, a fixed law); from generation 2 on
the model is random and m1, v are nonlinear in its s, so no exact curve is claimed.

Several generations: the ideal learner (n -> inf) follows the deterministic map model' = (m, C); drawn as a
labelled approximation of the finite-n chain (it ignores the sampling noise of each refit).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve
from scipy.special import ndtr

#: Half-width of the normal's grid in standard deviations (phi(10) ~ 8e-23) and the grid step per unit of
#: the narrower of the two widths (1 for the Gumbel density, |c| for the normal in units of c z). The
#: trapezoid error on an integrand analytic in a strip of half-width w is about exp(-2 pi w / h): the Gumbel
#: density's strip is pi / 2 wide (e^{-u} turns negative beyond), so h = 0.2 leaves ~e^{-49}, and the normal
#: (entire) far less; tests/test_gaussian_curation.py checks the result against a 4x finer grid.
_HALF_WIDTH = 10.0
_STEP = 0.2
#: The Gumbel density is below 1e-18 outside [-6, 42] (e^{6 - e^6} on the left, e^{-42} on the right).
_GUMBEL_LO, _GUMBEL_HI = -6.0, 42.0
#: Above this |c| the winner's moments are taken as those of the largest of K normals (eq. GC3): their gap
#: closes as 1/c^2 (8.5e-5 at c = 100, 8.5e-7 at c = 1000 for K = 4; checked in proofs_check), far below
#: any Monte Carlo error, and the grid (|c| wide) would otherwise grow without bound along a chain whose
#: spread grows.
C_DETERMINISTIC = 1e3


def _phi(z):
    return np.exp(-0.5 * np.square(z)) / math.sqrt(2.0 * math.pi)


def _gumbel_pdf(u):
    u = np.maximum(u, -30.0)  # exp(-e^30) is 0 in float64: clipped so e^{-u} cannot overflow
    return np.exp(-u - np.exp(-u))


def _gumbel_cdf(u):
    return np.exp(-np.exp(-np.maximum(u, -30.0)))


def winner_raw_moments(c: float, k: int, step: float = _STEP) -> np.ndarray:
    """(E Z_W^0, E Z_W^1, E Z_W^2) of the K-wise softmax winner with logits c Z_j, Z_j i.i.d. N(0, 1) (eq. GC2).

    c: any real (c < 0 mirrors c > 0); k >= 1 draws. Returns shape (3,); entry 0 is the normalisation (1 up to
    quadrature error), kept as a check on the grid.
    """
    if k < 1:
        raise ValueError(f"curation needs K >= 1 draws, got {k}")
    if k == 1 or c == 0.0:
        return np.array([1.0, 0.0, 1.0])  # no selection: the winner is a plain draw
    sign, c = (1.0, float(c)) if c > 0 else (-1.0, -float(c))
    if c > C_DETERMINISTIC:
        m1, v = max_normal_moments(k)
        return np.array([1.0, sign * m1, v + m1 * m1])
    h = step * min(1.0, c)
    ny = int(math.ceil(c * _HALF_WIDTH / h))
    y = h * np.arange(-ny, ny + 1)  # c z on the grid
    z = y / c
    wz = _phi(z) * (h / c)  # trapezoid weights for dz (the end points are ~1e-23)
    # u = x - y must cover every x where S has mass, for every y: x in [-c L + lo, c L + hi].
    nu_lo = int(math.floor((_GUMBEL_LO - 2 * c * _HALF_WIDTH) / h))
    nu_hi = int(math.ceil((_GUMBEL_HI + 2 * c * _HALF_WIDTH) / h))
    u = h * np.arange(nu_lo, nu_hi + 1)
    # out[k] = sum_i a[i] b[k - i] sits at x = y[0] + u[0] + k h.
    x = y[0] + u[0] + h * np.arange(len(y) + len(u) - 1)
    keep = (x >= -c * _HALF_WIDTH + _GUMBEL_LO) & (x <= c * _HALF_WIDTH + _GUMBEL_HI)
    g, cdf = _gumbel_pdf(u), _gumbel_cdf(u)
    big_f = np.clip(fftconvolve(wz, cdf)[keep], 0.0, 1.0)
    weight = k * big_f ** (k - 1) * h  # K F^{K-1} dx
    raw = np.array([weight @ fftconvolve(wz * z**p, g)[keep] for p in range(3)])
    raw[1] *= sign
    return raw


def winner_moments(c: float, k: int) -> tuple[float, float]:
    """(m1, v): mean and variance of the winner's standardised projection Z_W (eqs. GC1, GC2)."""
    m0, m1, m2 = winner_raw_moments(c, k)
    m1, m2 = m1 / m0, m2 / m0
    return float(m1), float(m2 - m1 * m1)


def max_normal_moments(k: int) -> tuple[float, float]:
    """(mean, variance) of the largest of K i.i.d. N(0, 1) (eq. GC3), the beta -> 0 limit of winner_moments."""
    h = 1e-3
    z = h * np.arange(-12_000, 12_001)
    density = k * _phi(z) * ndtr(z) ** (k - 1) * h
    m1 = float(density @ z)
    return m1, float(density @ (z * z) - m1 * m1)


def curated_law(mean, cov, direction, beta: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of the K-wise Bradley-Terry winner from N(mean, cov) (eq. GC1).

    direction: (d,) the reward's gradient a u (r(x) = direction . x); beta > 0 the reward temperature.
    """
    mean, cov, w = (np.asarray(a, np.float64) for a in (mean, cov, direction))
    norm = float(np.linalg.norm(w))
    if norm == 0.0 or k == 1:
        return mean.copy(), cov.copy()
    u = w / norm
    s = math.sqrt(float(u @ cov @ u))
    if s == 0.0:  # a model with no spread along u: every draw scores the same
        return mean.copy(), cov.copy()
    m1, v = winner_moments(norm * s / beta, k)
    b = cov @ u / s
    return mean + m1 * b, cov + (v - 1.0) * np.outer(b, b)


def mixture_law(alpha: float, mean0, cov0, mean, cov) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of alpha N(mean0, cov0) + (1 - alpha) law(mean, cov) (the points of ``mix``)."""
    gap = np.asarray(mean, np.float64) - np.asarray(mean0, np.float64)
    m = np.asarray(mean0, np.float64) + (1.0 - alpha) * gap
    c = alpha * np.asarray(cov0) + (1.0 - alpha) * np.asarray(cov) + alpha * (1.0 - alpha) * np.outer(gap, gap)
    return m, c


def one_generation(mean0, cov0, direction, beta: float, k: int, n: int, ddof: int, alpha: float = 0.0) -> dict:
    """Exact expected metrics after one curated generation from the truth N(mean0, cov0) (eq. GC4).

    Returns {"sigma2", "mean_sq_drift", "expected_reward"}: floats, the expectations over the n-point fit.
    """
    mean0, cov0 = np.asarray(mean0, np.float64), np.asarray(cov0, np.float64)
    m, c = mixture_law(alpha, mean0, cov0, *curated_law(mean0, cov0, direction, beta, k))
    d = mean0.shape[0]
    gap = m - mean0
    return {"sigma2": (n - 1) / (n - ddof) * float(np.trace(c)) / d,
            "mean_sq_drift": float(gap @ gap) + float(np.trace(c)) / n,
            "expected_reward": float(np.asarray(direction, np.float64) @ m)}


def _ideal_map(mean0, cov0, w, beta: float, k: int, a: float, isotropic: bool, mean, cov):
    """One ideal-learner generation: the model becomes the law its fit sees (an isotropic fit keeps tr / d)."""
    mean, cov = mixture_law(a, mean0, cov0, *curated_law(mean, cov, w, beta, k))
    if isotropic:
        cov = float(np.trace(cov)) / cov.shape[0] * np.eye(cov.shape[0])
    return mean, cov


def _law_metrics(mean0, w, mean, cov) -> tuple:
    gap = mean - mean0
    return float(np.trace(cov)) / mean0.shape[0], float(gap @ gap), float(w @ mean)


_METRICS = ("sigma2", "mean_sq_drift", "expected_reward")


def ideal_learner(mean0, cov0, direction, beta: float, k: int, alpha, isotropic: bool = False) -> dict:
    """The n -> inf chain (an approximation of the finite-n one): model_{t+1} = the law its fit sees.

    alpha: (T,) the mix weight of each generation (zeros: replace); isotropic: the fit is s^2 I. Returns
    metric -> (T + 1,) curves (sigma2, mean_sq_drift, expected_reward).
    """
    mean0, cov0 = np.asarray(mean0, np.float64), np.asarray(cov0, np.float64)
    w = np.asarray(direction, np.float64)
    mean, cov = mean0, cov0
    rows = [_law_metrics(mean0, w, mean, cov)]
    for a in np.asarray(alpha, np.float64):
        mean, cov = _ideal_map(mean0, cov0, w, beta, k, float(a), isotropic, mean, cov)
        rows.append(_law_metrics(mean0, w, mean, cov))
    rows = np.array(rows)
    return {name: rows[:, i] for i, name in enumerate(_METRICS)}


def stationary_point(mean0, cov0, direction, beta: float, k: int, alpha: float, isotropic: bool = False,
                     tol: float = 1e-12, max_steps: int = 5_000) -> dict:
    """The ideal learner's fixed point under a constant mix weight alpha in (0, 1]: metric -> float.

    Iterates the map until the mean and covariance move by less than ``tol``; raises ValueError if they have
    not settled after ``max_steps`` or run away (the covariance's trace past 1e4 times the truth's). A fixed point need not exist: the Gaussian fit of the mixture
    alpha truth + (1 - alpha) winners has a variance that grows with the gap between the two (the
    alpha (1 - alpha) gap^2 term), a wider model pushes its winners further, and for large K the gap grows
    each generation by a factor of about (1 - alpha)(1 + sqrt(alpha (1 - alpha)) m1) > 1 (beta -> 0).
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"a stationary point needs 0 < alpha <= 1, got {alpha}")
    mean0, cov0 = np.asarray(mean0, np.float64), np.asarray(cov0, np.float64)
    w = np.asarray(direction, np.float64)
    mean, cov = mean0, cov0
    for _ in range(max_steps):
        new_mean, new_cov = _ideal_map(mean0, cov0, w, beta, k, alpha, isotropic, mean, cov)
        moved = max(np.abs(new_mean - mean).max(), np.abs(new_cov - cov).max())
        mean, cov = new_mean, new_cov
        if not np.isfinite(moved) or float(np.trace(cov)) > 1e4 * float(np.trace(cov0)):
            raise ValueError(f"the ideal learner runs away under alpha = {alpha} (no stationary point)")
        if moved < tol:
            return dict(zip(_METRICS, _law_metrics(mean0, w, mean, cov)))
    raise ValueError(f"the ideal learner did not settle within {max_steps} generations (alpha = {alpha})")
