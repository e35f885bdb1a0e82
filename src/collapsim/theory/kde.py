"""Exact moments of a kernel density estimate refit on its own samples (checked in proofs_check/kde.py).

Notation: n support points, d dimensions, bandwidth h, truth with mean mu_0 and tr Cov = tr0 (any law); the
model at generation t has support mean m_t and support scatter S_t (sum of (x_i - m_t)(x_i - m_t)^T / n), so it
is a law with mean m_t and covariance S_t + h^2 I. Write D_t = E ||m_t - mu_0||^2 and P_t = E tr S_t.

One step draws n i.i.d. points from the mixture alpha truth + (1 - alpha) model (alpha = 0: replace), whose
mean is mu_0 + (1 - alpha)(m - mu_0) and whose covariance trace is
    C = alpha tr0 + (1 - alpha)(tr S + d h^2) + alpha (1 - alpha) ||m - mu_0||^2.
For n i.i.d. draws of any law with mean M and covariance trace C, the sample mean has E||xbar - M||^2 = C / n
and the 1/n scatter has E tr = (n - 1) C / n. Hence, exactly,
    D_{t+1} = (1 - alpha)^2 D_t + E C_t / n,   P_{t+1} = (n - 1)/n E C_t,                    (eq. K1)
    E C_t = alpha tr0 + (1 - alpha)(P_t + d h^2) + alpha (1 - alpha) D_t,
from D_0 = tr0 / n, P_0 = (n - 1) tr0 / n (generation 0 is the KDE of n real points). Replace (alpha = 0):
    E variance_{t+1} = q E variance_t + h^2,   q = (n - 1)/n,                                   (eq. K2)
for variance_t = tr S_t / d + h^2: it grows by about h^2 per generation while t << n and tends to n h^2
(diffusion), where the refit Gaussian's variance shrinks by q per generation; and
    D_t = D_0 + sum_{s<t} (P_s + d h^2) / n.                                                  (eq. K3)
"""

from __future__ import annotations

import numpy as np


def moments(alpha, n: int, dim: int, bandwidth: float, tr0: float) -> tuple[np.ndarray, np.ndarray]:
    """(K1): (E ||m_t - mu_0||^2, E variance_t = P_t / d + h^2), each (T + 1,), for alpha (T,) (zeros: replace)."""
    alpha = np.asarray(alpha, np.float64)
    h2 = bandwidth**2
    q = (n - 1) / n
    D, P = [tr0 / n], [q * tr0]
    for a in alpha:
        c = a * tr0 + (1 - a) * (P[-1] + dim * h2) + a * (1 - a) * D[-1]
        D.append((1 - a) ** 2 * D[-1] + c / n)
        P.append(q * c)
    return np.array(D), np.array(P) / dim + h2


def replace_variance(generations: int, n: int, bandwidth: float, sigma2: float) -> np.ndarray:
    """(K2) in closed form: V_t = n h^2 + q^t (V_0 - n h^2), V_0 = q sigma0^2 + h^2 (sigma0^2 = tr0 / d)."""
    q = (n - 1) / n
    v0 = q * sigma2 + bandwidth**2
    star = n * bandwidth**2
    return star + q ** np.arange(generations + 1) * (v0 - star)
